import { AdjustmentFact, commandsUndoneBy, heldDoneAtPsp, isAdjustmentKind } from '../adjustments/adjustment';
import { OUTSIDE_REFUND_FIELDS, leftToRefund, refundedOutsideBridge } from '../delivery/operation-context';
import { OperationNotFoundError } from '../errors/operation-not-found-error';
import { DependentSummary, Ledger, OperationRecord, RecordedAdjustmentFields, doneAtPsp } from '../ledger/ledger';
import { OperationState } from '../ledger/operation-state';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

const outsideRefundFailures = counter(
  'pb_webhook_outside_refund_failures_total',
  'Webhook failures or reversals (refund_failed, refund_reversed) of a refund the PSP made outside the bridge, by gateway and what was done: reported (an adjustment of the payment, linked to its refund_outside_bridge by the refund reference), waiting (that refund not reported yet: retried), left (still not reported at the last attempt: history only)',
  ['gateway', 'outcome'],
);

const paymentAmountRefunds = counter(
  'pb_webhook_outside_refund_payment_amounts_total',
  "Webhook cancel-or-refunds of a captured authorization (Adyen CANCEL_OR_REFUND, whose amount is the payment's, not the refund's) reported as refund_outside_bridge, by gateway and amount reported: stated (the PSP's amount, no more than the ledger leaves to refund), left (what the ledger leaves to refund: captured less the refunds of ours and outside the bridge standing, below the PSP's amount), unknown (the ledger leaves nothing to refund: no amount), unbounded (the ledger cannot tell what was captured, or another currency: the PSP's amount)",
  ['gateway', 'amount'],
);

const outsideRefunds = counter(
  'pb_webhook_outside_refunds_total',
  'Webhook refunds of a payment of ours that no refund operation of the bridge holds (made in the PSP back office, or by the PSP itself), by gateway and what was done: reported (a refund_outside_bridge adjustment of the payment), waiting (a refund of ours on the payment is still open and may be it: retried), left (still open at the last attempt: history only), not_ours (the payment it names is no operation of ours: acknowledged, nothing done)',
  ['gateway', 'outcome'],
);

/** The commands whose operation is a payment a refund gives money back from. */
const PAYMENTS: ReadonlySet<string> = new Set(['authorize', 'revalidate', 'sale']);

/** States of a refund of ours whose request may have reached the PSP without its answer (and reference) being recorded. */
const OPEN: ReadonlySet<OperationState> = new Set(['SENT', 'PENDING', 'ACTION_REQUIRED', 'UNKNOWN', 'UNRESOLVED']);

/**
 * What a webhook outcome that settles nothing of `op` (the payment it names) says, read as a refund: the
 * `refund_outside_bridge` fact (`needsCapture`: only if a capture of ours of that authorization was done at the PSP),
 * or null when it is no refund of the payment. A refund is an outcome SUCCESS that settles `refund`, naming its own
 * reference (`referenceIsModification`): an Adyen REFUND, a CANCEL_OR_REFUND whose `modification.action` is `refund`,
 * or one without the action (`pspReversal: cancel_or_refund`: a refund only of a payment that was captured), a Stripe
 * Refund without our metadata. Of an authorization or sale the PSP holds (`heldDoneAtPsp`: SUCCEEDED, or a sale held FAILED
 * with a `succeeded_after_failure` mark), routed to the webhook's gateway (one it failed
 * over from refunded its own attempt, not the payment the OMS was told about). A sale cancelled-or-refunded by Adyen
 * is read elsewhere (`reversalAsFailure`: the sale's `capture_failed`), and so is a cancel.
 */
export function outsideRefundReading(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
): { fact: AdjustmentFact; needsCapture: boolean; amountIsPayment?: true } | null {
  const { outcome } = job;
  if (job.adjustment !== undefined || outcome.status !== 'SUCCESS' || outcome.referenceIsModification !== true) return null;
  if (outcome.gatewayReference === undefined || !(outcome.settles ?? []).includes('refund')) return null;
  // A payment the PSP holds: SUCCEEDED, or held FAILED that the PSP did after all (a sale's `succeeded_after_failure`):
  // its refund gives money back all the same, as reconciliation reads it (`classifyRefundOfPayment`).
  if (!heldDoneAtPsp(op) || !PAYMENTS.has(op.command) || gatewayOf(op) !== job.gateway) return null;
  const reversal = outcome.pspReversal;
  if (reversal === 'cancel' || (op.command === 'sale' && reversal !== undefined)) return null;
  const fact: AdjustmentFact = { kind: 'refund_outside_bridge', direction: 'debit', failsOpenOperation: false, pspReference: outcome.gatewayReference };
  if (outcome.amount !== undefined) fact.amount = outcome.amount;
  if (outcome.currency !== undefined) fact.currency = outcome.currency;
  if (outcome.occurredAt !== undefined) fact.occurredAt = outcome.occurredAt;
  // A cancel-or-refund (Adyen's `/reversals`, `/cancelOrRefund`, or its Customer Area) reverses the whole payment: its
  // notification states the payment's amount, not what the refund gave back (`amountIsPayment`, `refundedAmount`).
  return { fact, needsCapture: reversal === 'cancel_or_refund', ...(reversal !== undefined ? { amountIsPayment: true as const } : {}) };
}

/**
 * The payment a refund named by `op` gives money back from, to read it as a refund outside the bridge: `op` itself, or,
 * for a capture of ours, its authorization (`authorizationId`, else the one its `gateway_key` is indexed to). A
 * Cybersource follow-on credit carries the merchant reference of the capture it credits ("merchantReferenceCode value
 * used in corresponding capture"), so a Business Center credit of an authorization the bridge captured names our
 * capture, not the payment. Only for an outcome read as a refund (`referenceIsModification`, settling `refund`);
 * `op` when no authorization is found.
 */
export async function refundedPaymentOf(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'get' | 'authorizationByReference'> },
): Promise<OperationRecord> {
  const { outcome } = job;
  if (op.command !== 'capture' || outcome.referenceIsModification !== true || !(outcome.settles ?? []).includes('refund')) return op;
  const auth =
    op.authorizationId !== undefined
      ? await deps.ledger.get(op.authorizationId)
      : ((await deps.ledger.authorizationByReference(job.gateway, op.payment.gateway_key))?.record ?? null);
  return auth ?? op;
}

/** How {@link refundedAmount} read a cancel-or-refund's amount (`pb_webhook_outside_refund_payment_amounts_total`). */
export type PaymentAmountReading = 'stated' | 'left' | 'unknown' | 'unbounded';

/**
 * What a cancel-or-refund of authorization `op` (`amountIsPayment`) gave back, of `stated` (the notification's amount,
 * the payment's: "the reversed amount is always the full payment amount") in `currency`: what a refund of it could
 * still give back (`leftToRefund`: captured less the refunds of ours and outside the bridge standing, `recorded` the
 * payment's adjustments, this refund's own left out: reconciliation may have recorded it first), never more than
 * `stated`. An authorization partly captured, whose rest was released, reversed is refunded its capture only.
 * `left` below `stated` is reported (`amount` `left`); nothing left: no amount (`unknown`: the ledger and the PSP
 * disagree, the PSP's line will say); what was captured unknown to the ledger (no standing capture of ours: captured
 * outside the bridge; a capture never registered), or `currency` not the order's: the PSP's amount (`unbounded`). Pure.
 */
export function refundedAmount(
  op: OperationRecord,
  stated: number,
  currency: string | undefined,
  reference: string,
  dependents: readonly DependentSummary[],
  recorded: readonly RecordedAdjustmentFields[],
): { amount: number | undefined; reading: PaymentAmountReading } {
  if (currency === undefined || currency.toUpperCase() !== op.payment.currency.toUpperCase() || !captured(dependents)) {
    return { amount: stated, reading: 'unbounded' };
  }
  const others = recorded.filter(({ fields }) => fields[OUTSIDE_REFUND_FIELDS.indexOf('psp_reference')] !== reference);
  const left = leftToRefund(op, dependents, refundedOutsideBridge(op, others));
  if (left === null) return { amount: stated, reading: 'unbounded' };
  if (left <= 0) return { amount: undefined, reading: 'unknown' };
  return left < stated ? { amount: left, reading: 'left' } : { amount: stated, reading: 'stated' };
}

/**
 * The refunds of ours registered on a payment (`Ledger.dependentsOf`) that are still open (`OPEN`): any of them may
 * be a refund the PSP reports before its answer (and reference) was recorded, so no refund of that payment is called
 * one outside the bridge while there is one (the webhook path here, reconciliation's runner).
 */
export function openRefunds(dependents: readonly DependentSummary[]): string[] {
  return dependents.filter((d) => d.command === 'refund' && OPEN.has(d.state)).map((d) => d.id);
}

/**
 * Whether one of the payment's dependents shows a capture the PSP did (and did not undo after): SUCCEEDED, or held
 * FAILED with the PSP's word that it did it after all (`doneAtPsp`).
 */
function captured(dependents: readonly DependentSummary[]): boolean {
  return dependents.some((d) => d.command === 'capture' && doneAtPsp(d) && d.undone !== true);
}

/**
 * The job's data with the refund-outside-the-bridge adjustment of payment `op` it carries (`outsideRefundReading`), to
 * be recorded as any late fact (once per PSP refund: its adjustment id is the gateway's and the notification's, which
 * Adyen and Stripe key by the refund), or null when it is none. Never a refund of ours: none of our operations may
 * hold the refund's reference, and while a refund of ours registered on the payment is open (`OPEN`: its answer, which
 * indexes its reference, may be lost or on its way) it may be this one: the job is retried (`OperationNotFoundError`)
 * until that refund settles, and at the queue's last attempt (`finalAttempt`) the outcome stays history only. A
 * CANCEL_OR_REFUND without the action is a refund only when a capture of the authorization was done at the PSP.
 * Counted and logged (`pb_webhook_outside_refunds_total`).
 */
export async function withOutsideRefund(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'findByReference' | 'dependentsOf' | 'adjustmentsOfEach'>; logger: Logger },
  finalAttempt: boolean,
): Promise<GatewayOutcomeJobData | null> {
  const reading = outsideRefundReading(op, job);
  if (reading === null) return null;
  const reference = reading.fact.pspReference!;
  const holder = await deps.ledger.findByReference(job.gateway, reference);
  if (holder !== null && holder !== op.id) return null;
  const dependents = await deps.ledger.dependentsOf(op.id);
  if (reading.needsCapture && !captured(dependents)) return null;
  const meta = {
    operation_id: op.id,
    command: op.command,
    gateway: job.gateway,
    gateway_status: job.outcome.gatewayStatus,
    refund_reference: reference,
    event_id: job.eventId,
  };
  const open = openRefunds(dependents);
  if (open.length > 0) {
    outsideRefunds.inc({ gateway: job.gateway, outcome: finalAttempt ? 'left' : 'waiting' });
    if (!finalAttempt) throw new OperationNotFoundError(`a refund of ours on ${op.id} is open and may be refund ${reference} of webhook ${job.eventId}`);
    deps.logger.warn("webhook refund of a payment while a refund of ours on it is still open, through the job's attempts: history only, not reported", {
      ...meta,
      open_refunds: open,
    });
    return null;
  }
  const fact = reading.amountIsPayment ? await asRefunded(op, reading.fact, dependents, job, deps) : reading.fact;
  outsideRefunds.inc({ gateway: job.gateway, outcome: 'reported' });
  deps.logger.warn('webhook: the PSP refunded a payment and no refund of the bridge asked for it: reported as refund_outside_bridge', {
    ...meta,
    amount: fact.amount ?? null,
    currency: fact.currency ?? null,
  });
  return { ...job, adjustment: fact };
}

/**
 * `fact` (a cancel-or-refund's, its amount the payment's) with the amount it gave back ({@link refundedAmount}); when
 * that is not the PSP's, the PSP's amount is kept in `reason` (`payment_amount_<amount>_<currency>`) for the operator,
 * counted (`pb_webhook_outside_refund_payment_amounts_total`) and logged. One read of the payment's adjustments.
 */
async function asRefunded(
  op: OperationRecord,
  fact: AdjustmentFact,
  dependents: readonly DependentSummary[],
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'adjustmentsOfEach'>; logger: Logger },
): Promise<AdjustmentFact> {
  if (fact.amount === undefined) return fact;
  const stated = fact.amount;
  const recorded = (await deps.ledger.adjustmentsOfEach([op.id], OUTSIDE_REFUND_FIELDS)).get(op.id) ?? [];
  const { amount, reading } = refundedAmount(op, stated, fact.currency, fact.pspReference ?? '', dependents, recorded);
  paymentAmountRefunds.inc({ gateway: job.gateway, amount: reading });
  if (amount === stated) return fact;
  const { amount: _stated, ...rest } = fact;
  deps.logger.warn("webhook cancel-or-refund states the payment's amount, not the refund's: reported as what the ledger leaves to refund", {
    operation_id: op.id,
    gateway: job.gateway,
    refund_reference: fact.pspReference ?? null,
    psp_amount: stated,
    amount: amount ?? null,
    currency: fact.currency ?? null,
    event_id: job.eventId,
  });
  return { ...rest, ...(amount !== undefined ? { amount } : {}), reason: `payment_amount_${stated}_${(fact.currency ?? '').toUpperCase()}` };
}

/**
 * Whether a refund's notification is one no operation of ours is named by at all: no operation id, and neither the
 * refund's reference nor the refunded payment's (`paymentReference`) is indexed (the caller found none). A refund
 * in the PSP's back office of a payment another integration of the same account made: counted (`not_ours`), an
 * info line, and the job ends, rather than retried as an operation not matched yet until it fails. A payment of ours
 * is indexed when its answer is recorded, long before anyone can refund it.
 */
export function isRefundOfAnotherPayment(job: GatewayOutcomeJobData, logger: Logger): boolean {
  if (job.paymentReference === undefined || job.operationId !== undefined) return false;
  outsideRefunds.inc({ gateway: job.gateway, outcome: 'not_ours' });
  logger.info('webhook refund of a payment that is no operation of ours: nothing to do', {
    gateway: job.gateway,
    gateway_status: job.outcome.gatewayStatus,
    payment_reference: job.paymentReference,
    refund_reference: job.outcome.gatewayReference,
    event_id: job.eventId,
  });
  return true;
}

/** The adjustment fields {@link outsideRefundFailure} reads of the payment's adjustments. */
const REPORTED_FIELDS = ['kind', 'psp_reference'] as const;

/**
 * What a webhook's refund failure or reversal (`refund_failed`, `refund_reversed`: Adyen `REFUND_FAILED`,
 * `REFUNDED_REVERSED`; a Stripe Refund `failed`) naming payment `op` is, when no operation of ours holds the refund's
 * reference (a refund of ours is the rest of the path's: its own adjustment, marked undone):
 * - `linked`: the payment's `refund_outside_bridge` adjustment of that refund (same PSP reference) is recorded: the
 *   money came back to the merchant, an adjustment of the payment (direction `credit`, the PSP's amount), recorded at
 *   once; the refund then no longer counts as given back (`refundedOutsideBridge`).
 * - `left`: that refund was never reported, through the job's attempts (`finalAttempt`): history only (the OMS never
 *   heard of the refund; its failure alone would be a credit of nothing it knows).
 * - null: anything else (not a refund failure, not a payment of the webhook's gateway, a refund of ours holds the
 *   reference, or named by its `merchantReference` while nothing reported it: the path a failure of a modification no
 *   operation holds takes).
 * A failure found by the refunded payment's reference alone (`paymentReference`) while its refund is not reported yet is
 * retried (`OperationNotFoundError`: a webhook may bring the refund after its failure, its reporting may wait for a
 * refund of ours to settle). Counted and logged (`pb_webhook_outside_refund_failures_total`).
 */
export async function outsideRefundFailure(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'findByReference' | 'adjustmentsOfEach'>; logger: Logger },
  finalAttempt: boolean,
): Promise<'linked' | 'left' | null> {
  const fact = job.adjustment;
  if (fact === undefined || !commandsUndoneBy(fact.kind).includes('refund')) return null;
  const reference = fact.pspReference ?? job.outcome.gatewayReference;
  if (reference === undefined || !PAYMENTS.has(op.command) || gatewayOf(op) !== job.gateway) return null;
  if ((await deps.ledger.findByReference(job.gateway, reference)) !== null) return null;
  const recorded = (await deps.ledger.adjustmentsOfEach([op.id], REPORTED_FIELDS)).get(op.id) ?? [];
  const outside = recorded.find(({ fields }) => isAdjustmentKind(fields[0]) && fields[0] === 'refund_outside_bridge' && fields[1] === reference);
  const meta = {
    operation_id: op.id,
    command: op.command,
    gateway: job.gateway,
    kind: fact.kind,
    refund_reference: reference,
    amount: fact.amount ?? null,
    currency: fact.currency ?? null,
    event_id: job.eventId,
  };
  if (outside) {
    outsideRefundFailures.inc({ gateway: job.gateway, outcome: 'reported' });
    deps.logger.warn(
      "webhook: a refund the PSP made outside the bridge failed or came back: reported as the payment's adjustment, the money the merchant's again",
      {
        ...meta,
        refund_outside_bridge_adjustment_id: outside.id,
      },
    );
    return 'linked';
  }
  if (job.operationId !== undefined) return null;
  outsideRefundFailures.inc({ gateway: job.gateway, outcome: finalAttempt ? 'left' : 'waiting' });
  if (!finalAttempt) throw new OperationNotFoundError(`refund ${reference} of ${op.id} that webhook ${job.eventId} says failed is not reported yet`);
  deps.logger.warn("webhook failure of a refund outside the bridge that was never reported, through the job's attempts: history only, not reported", meta);
  return 'left';
}
