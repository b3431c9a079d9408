import { GatewayConfig } from '../config/config';
import { CommandType } from '../contracts/payment-command';
import { gatewayOf, routedPayment } from '../ledger/routing-record';
import { gatewayDefinition } from '../gateways/gateway-registry';
import { GatewayOutcome } from '../gateways/gateway-adapter';
import { OperationRecord } from '../ledger/ledger';
import { isTerminal } from '../ledger/operation-state';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { isEarlierAttemptGateway } from './earlier-attempt';

/**
 * Commands whose request to the PSP does not carry the command's amount, so the figure their outcome states
 * is not compared with it. A cancel releases what the authorization holds: Adyen, Stripe, the simulator and
 * Adyen's Stored Value void send no amount (`PaymentCancelRequest` has none) and Adyen's CANCELLATION states
 * the payment's amount; a Cybersource reversal is sent for no more than the authorization holds. A validate
 * checks the hold: a read at Stripe and Cybersource; at Adyen an amount update restating what is held, which
 * its AUTHORISATION_ADJUSTMENT states. Their gateway, account and currency are still checked.
 */
const AMOUNT_NOT_ASKED: ReadonlySet<CommandType> = new Set(['cancel', 'validate']);

/** Which rule a webhook outcome broke: the label of `pb_webhook_outcomes_refused_total{check}`. */
export type ScopeCheck = 'gateway' | 'account' | 'amount' | 'currency';

/** A webhook outcome as it arrived: the endpoint's gateway name, the account it names (if any). */
export interface ArrivedOutcome {
  gateway: string;
  account?: string;
  outcome: GatewayOutcome;
}

/**
 * The PSP account a gateway's webhooks must name: its definition's `webhookAccount` (Adyen
 * `merchant_account` = `merchantAccountCode`, Cybersource `merchant_id` = `organizationId`, Stripe
 * `merchant_account` = a Connect event's `account`, empty for the platform's own account whose events
 * name none; simulator `merchant_account`).
 */
export function configuredAccount(gateway: GatewayConfig): string {
  return gatewayDefinition(gateway.type).webhookAccount(gateway);
}

/**
 * The first rule `arrived` breaks for `op`, or null when it may be applied. An outcome may only touch an
 * operation routed to the gateway whose endpoint it arrived on (`payment.gateway`, or its routing record's
 * gateway; a gateway it failed over from is allowed too, for that earlier attempt, unless it names the PSP
 * object the current attempt holds), and only when the
 * account it names (if it names one) is that gateway's configured account: the gateway's one PSP account,
 * which every operation routed to it (whatever its OMS `gateway_account`) was sent with.
 *
 * The amount and currency it states (if it states them) must be the operation's own (a partial capture's
 * or refund's amount, not its authorization's) when the outcome would settle it, the amount only for a
 * command whose request carries it (not a cancel or a validate: `AMOUNT_NOT_ASKED`). A terminal operation
 * does not move any more (forward-only), so a fact about another amount there (a partial capture seen on
 * the authorization's PaymentIntent, a chargeback) settles nothing and is not refused for it; nor is an
 * outcome of another command (`settles` false, see outcome-for-command.ts), which only goes in the history.
 */
export function scopeMismatch(op: OperationRecord, arrived: ArrivedOutcome, gateway: GatewayConfig | undefined, settles = true): ScopeCheck | null {
  const earlier = isEarlierAttemptGateway(op, arrived.gateway);
  if (!gateway || gateway.name !== arrived.gateway || (gatewayOf(op) !== arrived.gateway && !earlier)) return 'gateway';
  if (arrived.account !== undefined && arrived.account !== configuredAccount(gateway)) return 'account';
  // Two gateway entries on one PSP account both receive its webhooks: one about the object the current attempt
  // holds is that attempt's (its own endpoint applies it), never a second live payment of the earlier attempt.
  const reference = arrived.outcome.gatewayReference;
  if (earlier && reference !== undefined && (reference === op.gatewayReference || reference === op.newGatewayKey)) return 'gateway';
  // An earlier attempt's outcome never settles the operation (it is recorded and reported, see earlier-attempt.ts).
  if (earlier || !settles || isTerminal(op.state)) return null;
  const { amount, currency } = arrived.outcome;
  // What the gateway was asked for (a converted amount where one was), not what the OMS sent.
  const asked = routedPayment(op);
  // A partial approval holds less than was asked: that lower amount is the fact, not a mismatch.
  const partial = arrived.outcome.partialApproval === true && amount !== undefined && amount > 0 && amount < asked.amount;
  if (amount !== undefined && amount !== asked.amount && !partial && !AMOUNT_NOT_ASKED.has(op.command)) return 'amount';
  if (currency !== undefined && currency.toUpperCase() !== asked.currency.toUpperCase()) return 'currency';
  return null;
}

const refused = counter(
  'pb_webhook_outcomes_refused_total',
  'Webhook outcomes refused because they do not belong to the operation they name, by gateway endpoint and failed check',
  ['gateway', 'check'],
);

/**
 * The security line and metric of a refused outcome: which gateway endpoint, which operation, which check,
 * the PSP's event id; never the body, card data or a secret.
 */
export function reportScopeMismatch(
  logger: Logger,
  details: { gateway: string; check: ScopeCheck; op: OperationRecord; eventId: string; arrived: ArrivedOutcome },
): void {
  const { gateway, check, op, eventId, arrived } = details;
  refused.inc({ gateway, check });
  // The figures the check compared with: what the gateway was asked (a converted amount), not the command's.
  const asked = routedPayment(op);
  logger.warn('security: webhook_scope_mismatch', {
    security: 'webhook_scope_mismatch',
    gateway,
    check,
    operation_id: op.id,
    operation_gateway: gatewayOf(op),
    event_id: eventId,
    webhook_status: arrived.outcome.status,
    ...(check === 'amount' ? { webhook_amount: arrived.outcome.amount, operation_amount: asked.amount, operation_currency: asked.currency } : {}),
    ...(check === 'currency' ? { webhook_currency: arrived.outcome.currency, operation_currency: asked.currency } : {}),
  });
}
