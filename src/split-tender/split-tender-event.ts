import { Config } from '../config/config';
import { PaymentCommand } from '../contracts/payment-command';
import { PaymentEvent } from '../events/payment-event';
import { commandDigest } from '../ledger/command-digest';
import { OperationRecord } from '../ledger/ledger';
import { SplitStep, SplitTenderState, StepOutcome, confirmedOrPlanned, parseReversal, splitReason } from './split-tender-decision';
import { stepOutcomeOf } from './ledger-step-outcome';
import { SplitTenderPlan, TenderPart, cardAmount, refundReferences, stepReferences } from './split-tender-plan';
import { StoredRefund } from './split-tender-store';
import { withoutMethodToken } from '../contracts/payment-method';

/**
 * The events of a split tender order as a whole (each tender's own operation reports itself with the
 * ordinary `authorized` / `sold` / `cancelled` / `refunded` events, carrying `custom_attributes.split_tender_id`).
 * Every figure is what the ledger holds from the PSP: the state, the PSP's reference and the confirmed amount
 * of each tender's operation; an order's totals add up what the PSPs confirmed, never the plan. Pure.
 */

/** One tender's operation, as an event reports it. */
export interface TenderReport {
  tender: TenderPart;
  /** `redeem`, `charge`, `reverse` (the redemption's void or refund), `release` (a short card part's void or refund), `refund`. */
  role: 'redeem' | 'charge' | 'reverse' | 'release' | 'refund';
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

/**
 * What the PSPs confirmed of a set of steps, in the order's currency: each SUCCEEDED step's confirmed figure
 * (else what it asked), a step that did not succeed counting 0; and whether any PSP confirmed another figure
 * than its step asked (the event's `discrepancy`).
 */
function confirmedTotal(steps: ReadonlyArray<{ outcome: StepOutcome; asked: number }>): { total: number; mismatch: boolean } {
  let total = 0;
  let mismatch = false;
  for (const { outcome, asked } of steps) {
    if (outcome.state !== 'SUCCEEDED') continue;
    const confirmed = confirmedOrPlanned(outcome, asked);
    total += confirmed;
    if (confirmed !== asked) mismatch = true;
  }
  return { total, mismatch };
}

/**
 * `split_tender_settled`: the order's overall result. `status` SUCCESS when both tenders are paid in full
 * (DONE), else FAIL with the reason; `amount` what the PSPs confirmed of the two parts (each part that
 * succeeded, at its confirmed figure), `requested_amount` the order's total, `discrepancy` when a PSP
 * confirmed another figure than its part asked (a partial approval, then rolled back); `split_tender`
 * gives each part's confirmed figure and `tenders[]` every step's operation with what the PSP confirmed.
 * Event id `<split id>.split-tender.<STATE>`: recorded once however often it is built.
 * A tender of an `authorize` split that the OMS's own refunds had given back in full before the rollback (its stored
 * reversal `none:<refunded>`: nothing sent) is named in `split_tender.refunded_before_rollback` with what was refunded.
 * @param ops the steps' ledger records by operation id (missing: never sent).
 * @param reversals each tender's stored reversal decision (`SplitTenderStore.reversal`), where one was made.
 */
export function splitSettledEvent(
  plan: SplitTenderPlan,
  state: SplitTenderState,
  ops: ReadonlyMap<string, OperationRecord>,
  config: Config,
  reversals: Partial<Record<TenderPart, string | null>> = {},
): PaymentEvent {
  const refs = stepReferences(plan);
  const eventId = `${plan.id}.split-tender.${state}`;
  // An authorization's redemption captured before the rollback was refunded, not voided (`SplitTenderCoordinator.reversalOf`).
  const reverse = plan.capture === true || ops.has(refs.giftCardRefund) ? refs.giftCardRefund : refs.giftCardVoid;
  // So was a card part captured before the rollback (its stored `card_reversal`).
  const release = plan.capture === true || ops.has(refs.cardRefund) ? refs.cardRefund : refs.cardVoid;
  const refundedBefore: Partial<Record<TenderPart, number>> = {};
  for (const tender of ['gift_card', 'card'] as const) {
    const stored = reversals[tender];
    const reversal = stored ? parseReversal(stored) : undefined;
    if (reversal?.by === 'none') refundedBefore[tender] = reversal.refunded;
  }
  const references: Record<SplitStep, string> = { redeem: refs.giftCard, charge_card: refs.card, reverse, release_card: release };
  const outcomes: Partial<Record<SplitStep, StepOutcome>> = {};
  for (const [step, reference] of Object.entries(references) as Array<[SplitStep, string]>) outcomes[step] = stepOutcomeOf(ops.get(reference));
  const planned = { gift_card: plan.gift_card.amount, card: cardAmount(plan) };
  const tenders = [
    report('gift_card', 'redeem', refs.giftCard, planned.gift_card, plan, ops.get(refs.giftCard) ?? null),
    report('card', 'charge', refs.card, planned.card, plan, ops.get(refs.card) ?? null),
  ];
  const releasing = ops.get(release);
  if (releasing) tenders.push(report('card', 'release', release, confirmedOrPlanned(outcomes.charge_card, planned.card), plan, releasing));
  const reversal = ops.get(reverse);
  if (reversal) tenders.push(report('gift_card', 'reverse', reverse, confirmedOrPlanned(outcomes.redeem, planned.gift_card), plan, reversal));
  const giftCard = confirmedTotal([{ outcome: outcomes.redeem ?? { state: 'OPEN' }, asked: planned.gift_card }]);
  const card = confirmedTotal([{ outcome: outcomes.charge_card ?? { state: 'OPEN' }, asked: planned.card }]);
  const discrepancy = giftCard.mismatch || card.mismatch ? 'amount_mismatch' : undefined;
  const reason = splitReason(state, outcomes) ?? discrepancy;
  return {
    eventId,
    paymentKey: `${plan.card.gateway}:${plan.card.gateway_account}:${plan.order_id}`,
    method: config.serviceBus.methods.notifications.split_tender_settled,
    params: {
      payment: {
        gateway: plan.card.gateway,
        gateway_account: plan.card.gateway_account,
        gateway_key: plan.card.gateway_key,
        amount: giftCard.total + card.total,
        currency: plan.currency,
        requested_amount: plan.total,
        requested_currency: plan.currency,
        ...(discrepancy ? { discrepancy } : {}),
        order_id: plan.order_id,
        operation_reference: plan.id,
        status: state === 'DONE' ? 'SUCCESS' : 'FAIL',
        ...(reason ? { reason } : {}),
        gateway_command: plan.capture === true ? 'sale' : 'authorize',
        split_tender: {
          state,
          gift_card_amount: giftCard.total,
          card_amount: card.total,
          tenders,
          ...(Object.keys(refundedBefore).length > 0 ? { refunded_before_rollback: refundedBefore } : {}),
        },
        ...(plan.custom_attributes ? { custom_attributes: plan.custom_attributes } : {}),
        event_id: eventId,
      },
    },
  };
}

/**
 * The `refunded` event of a split tender order's refund: SUCCESS when every part succeeded, else FAIL
 * (`split_tender_refund_failed`). `amount` is what the PSPs confirmed refunded (each part that succeeded, at
 * its confirmed figure: a FAIL after the card part went back says so), `requested_amount` the refund asked;
 * `split_tender_refund` gives each tender's refunded figure and each part's operation with what the PSP
 * confirmed. Event id `<refund id>.split-refund.<STATE>`.
 */
export function splitRefundEvent(plan: SplitTenderPlan, refund: StoredRefund, ops: ReadonlyMap<string, OperationRecord>, config: Config): PaymentEvent {
  const refs = refundReferences(refund);
  const eventId = `${refund.refundId}.split-refund.${refund.state}`;
  const command = parseCommand(refund.command);
  const order: TenderPart[] = refund.order === 'card_first' ? ['card', 'gift_card'] : ['gift_card', 'card'];
  const parts = order.filter((t) => refund[t] > 0).map((t) => report(t, 'refund', refs[t], refund[t], plan, ops.get(refs[t]) ?? null));
  const refunded = (t: TenderPart) => confirmedTotal([{ outcome: stepOutcomeOf(ops.get(refs[t])), asked: refund[t] }]);
  const card = refunded('card');
  const giftCard = refunded('gift_card');
  const discrepancy = card.mismatch || giftCard.mismatch ? 'amount_mismatch' : undefined;
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
        amount: card.total + giftCard.total,
        currency: plan.currency,
        requested_amount: refund.card + refund.gift_card,
        requested_currency: plan.currency,
        ...(discrepancy ? { discrepancy } : {}),
        order_id: plan.order_id,
        operation_reference: refund.refundId,
        status: refund.state === 'REFUNDED' ? 'SUCCESS' : refund.state === 'REFUND_FAILED' ? 'FAIL' : 'PENDING',
        reason: refund.state === 'REFUND_FAILED' ? 'split_tender_refund_failed' : (discrepancy ?? null),
        gateway_command: 'refund',
        // Several PSP answers make this one: each is in `split_tender_refund.parts`.
        gateway_response: { status: refund.state, reference: null },
        gateway_response_time: 0,
        new_gateway_key: null,
        split_tender_refund: { order: refund.order, card_amount: card.total, gift_card_amount: giftCard.total, parts },
        event_id: eventId,
      },
    },
  };
}

/**
 * The FAIL `refunded` event of a split refund the bridge refused before sending anything (unknown split,
 * split not DONE, outside the split's scope, another currency, amount above what is left): the command echoed with
 * the reason and `field`, the command's field at fault. Event id `<refund id>.split-refund.refused.<reason>.<digest>`
 * (the command's `commandDigest`): a refused refund's id stays free for a corrected refund, and one refused again is
 * another fact, which the outbox (one event per id) would otherwise drop; a redelivered command's is the same event.
 */
export function splitRefundRefusedEvent(refundId: string, command: PaymentCommand, reason: string, field: string, config: Config): PaymentEvent {
  const eventId = `${refundId}.split-refund.refused.${reason}.${commandDigest(command).replace(/^v\d+:/, '')}`;
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
        field,
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
