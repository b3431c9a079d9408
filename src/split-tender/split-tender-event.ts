import { Config } from '../config/config';
import { PaymentCommand } from '../contracts/payment-command';
import { PaymentEvent } from '../events/payment-event';
import { OperationRecord } from '../ledger/ledger';
import { SplitTenderState } from './split-tender-decision';
import { SplitTenderPlan, TenderPart, cardAmount, refundReferences, stepReferences } from './split-tender-plan';
import { StoredRefund } from './split-tender-store';
import { withoutMethodToken } from '../contracts/payment-method';

/**
 * The events of a split tender order as a whole (each tender's own operation reports itself with the
 * ordinary `authorized` / `sold` / `cancelled` / `refunded` events, carrying `custom_attributes.split_tender_id`).
 * Every figure is what the ledger holds from the PSP: the state, the PSP's reference and the confirmed amount
 * of each tender's operation. Pure.
 */

/** One tender's operation, as an event reports it. */
export interface TenderReport {
  tender: TenderPart;
  /** `redeem`, `charge`, `reverse` (the redemption's void or refund), `refund`. */
  role: 'redeem' | 'charge' | 'reverse' | 'refund';
  operation_reference: string;
  gateway: string;
  gateway_account: string;
  /** What the PSP confirmed where it said so, else what was asked; minor units. */
  amount: number;
  currency: string;
  /** SUCCESS, FAIL, PENDING, … as the ledger says; NOT_SENT when the step was never needed or sent. */
  status: string;
  gateway_reference: string | null;
  reason?: string;
}

const STATUS: Record<string, string> = { SUCCEEDED: 'SUCCESS', FAILED: 'FAIL' };

function report(
  tender: TenderPart,
  role: TenderReport['role'],
  reference: string,
  asked: number,
  plan: SplitTenderPlan,
  op: OperationRecord | null,
): TenderReport {
  const p = tender === 'gift_card' ? plan.gift_card : plan.card;
  return {
    tender,
    role,
    operation_reference: reference,
    gateway: p.gateway,
    gateway_account: p.gateway_account,
    amount: op?.confirmedAmount ?? asked,
    currency: op?.confirmedCurrency ?? plan.currency,
    status: op ? (STATUS[op.state] ?? op.state) : 'NOT_SENT',
    gateway_reference: op?.gatewayReference ?? null,
    ...(op?.reason ? { reason: op.reason } : {}),
  };
}

/** The outcome reason of a final split state (absent on DONE). */
export function splitReason(state: SplitTenderState): string | undefined {
  switch (state) {
    case 'ROLLED_BACK':
      return 'card_part_failed_gift_card_reversed';
    case 'FAILED':
      return 'gift_card_redemption_failed';
    case 'REVERSAL_FAILED':
      return 'gift_card_reversal_failed';
    default:
      return undefined;
  }
}

/**
 * `split_tender_settled`: the order's overall result. `status` SUCCESS when both tenders are paid (DONE),
 * else FAIL with the reason; `split_tender.tenders[]` lists every step's operation with what the PSP
 * confirmed. Event id `<split id>.split-tender.<STATE>`: recorded once however often it is built.
 * @param ops the steps' ledger records by operation id (missing: never sent).
 */
export function splitSettledEvent(plan: SplitTenderPlan, state: SplitTenderState, ops: ReadonlyMap<string, OperationRecord>, config: Config): PaymentEvent {
  const refs = stepReferences(plan);
  const eventId = `${plan.id}.split-tender.${state}`;
  const reverse = plan.capture === true ? refs.giftCardRefund : refs.giftCardVoid;
  const tenders = [
    report('gift_card', 'redeem', refs.giftCard, plan.gift_card.amount, plan, ops.get(refs.giftCard) ?? null),
    report('card', 'charge', refs.card, cardAmount(plan), plan, ops.get(refs.card) ?? null),
  ];
  const reversal = ops.get(reverse);
  if (reversal) tenders.push(report('gift_card', 'reverse', reverse, plan.gift_card.amount, plan, reversal));
  const reason = splitReason(state);
  return {
    eventId,
    paymentKey: `${plan.card.gateway}:${plan.card.gateway_account}:${plan.order_id}`,
    method: config.serviceBus.methods.notifications.split_tender_settled,
    params: {
      payment: {
        gateway: plan.card.gateway,
        gateway_account: plan.card.gateway_account,
        gateway_key: plan.card.gateway_key,
        amount: plan.total,
        currency: plan.currency,
        order_id: plan.order_id,
        operation_reference: plan.id,
        status: state === 'DONE' ? 'SUCCESS' : 'FAIL',
        ...(reason ? { reason } : {}),
        gateway_command: plan.capture === true ? 'sale' : 'authorize',
        split_tender: {
          state,
          gift_card_amount: plan.gift_card.amount,
          card_amount: cardAmount(plan),
          tenders,
        },
        ...(plan.custom_attributes ? { custom_attributes: plan.custom_attributes } : {}),
        event_id: eventId,
      },
    },
  };
}

/**
 * The `refunded` event of a split tender order's refund: SUCCESS when every part succeeded, else FAIL
 * (`split_tender_refund_failed`); `split_tender_refund` says the order, and each part's operation with what
 * the PSP confirmed. Event id `<refund id>.split-refund.<STATE>`.
 */
export function splitRefundEvent(plan: SplitTenderPlan, refund: StoredRefund, ops: ReadonlyMap<string, OperationRecord>, config: Config): PaymentEvent {
  const refs = refundReferences(refund);
  const eventId = `${refund.refundId}.split-refund.${refund.state}`;
  const command = parseCommand(refund.command);
  const order: TenderPart[] = refund.order === 'card_first' ? ['card', 'gift_card'] : ['gift_card', 'card'];
  const parts = order.filter((t) => refund[t] > 0).map((t) => report(t, 'refund', refs[t], refund[t], plan, ops.get(refs[t]) ?? null));
  const payment = command?.payment;
  return {
    eventId,
    paymentKey: `${plan.card.gateway}:${plan.card.gateway_account}:${plan.order_id}`,
    method: config.serviceBus.methods.notifications.refunded,
    params: {
      payment: {
        ...(payment ? withoutMethodToken(payment) : {}),
        gateway: payment?.gateway ?? plan.card.gateway,
        gateway_account: payment?.gateway_account ?? plan.card.gateway_account,
        gateway_key: plan.id,
        amount: refund.card + refund.gift_card,
        currency: plan.currency,
        order_id: plan.order_id,
        operation_reference: refund.refundId,
        status: refund.state === 'REFUNDED' ? 'SUCCESS' : refund.state === 'REFUND_FAILED' ? 'FAIL' : 'PENDING',
        reason: refund.state === 'REFUND_FAILED' ? 'split_tender_refund_failed' : null,
        gateway_command: 'refund',
        // Several PSP answers make this one: each is in `split_tender_refund.parts`.
        gateway_response: { status: refund.state, reference: null },
        gateway_response_time: 0,
        new_gateway_key: null,
        split_tender_refund: { order: refund.order, card_amount: refund.card, gift_card_amount: refund.gift_card, parts },
        event_id: eventId,
      },
    },
  };
}

/**
 * The FAIL `refunded` event of a split refund the bridge refused before sending anything (unknown split,
 * split not DONE, amount above what is left): the command echoed with the reason and the field.
 */
export function splitRefundRefusedEvent(refundId: string, command: PaymentCommand, reason: string, config: Config): PaymentEvent {
  const eventId = `${refundId}.split-refund.refused`;
  return {
    eventId,
    paymentKey: `${command.payment.gateway}:${command.payment.gateway_account}:${command.payment.order_id ?? command.payment.gateway_key}`,
    method: config.serviceBus.methods.notifications.refunded,
    params: {
      payment: {
        ...withoutMethodToken(command.payment),
        operation_reference: refundId,
        status: 'FAIL',
        reason,
        field: reason === 'amount_exceeds_refundable' ? 'payment.amount' : 'payment.gateway_key',
        gateway_command: 'refund',
        gateway_response: { status: null, reference: null },
        gateway_response_time: 0,
        new_gateway_key: null,
        event_id: eventId,
      },
    },
  };
}

function parseCommand(json: string): PaymentCommand | null {
  try {
    const c = JSON.parse(json) as PaymentCommand;
    return c && typeof c === 'object' && c.payment ? c : null;
  } catch {
    return null;
  }
}
