import { OperationNotFoundError } from '../errors/operation-not-found-error';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';
import { ParkedOutcomes } from './parked-outcomes';
import { settlesCommand } from './outcome-for-command';
import { ownClosing } from './own-closing';

const matchedByReference = counter(
  'pb_webhook_matched_by_reference_total',
  "Webhook outcomes of a modification (capture, cancel, refund, amount update) that named another operation (the payment's) and were applied to the operation holding the modification's PSP reference, by gateway",
  ['gateway'],
);

const unknownOperationId = counter(
  'pb_webhook_unknown_operation_id_total',
  "Webhook outcome attempts whose operation id (from the PSP's merchant reference) names no operation the ledger holds, by gateway and what was done: matched_by_reference (the operation its PSP reference is indexed to took it), unmatched (none either: retried as an operation not matched yet)",
  ['gateway', 'outcome'],
);

const earlyFailures = counter(
  'pb_webhook_early_modification_failures_total',
  "Attempts of a webhook failure of a modification (capture or refund failed), naming the payment, while no operation held the modification's PSP reference, by gateway and what was done: retried (the job waits for the modification's answer), unclaimed (its last attempt: an adjustment of the operation it names)",
  ['gateway', 'outcome'],
);

/**
 * The operation a webhook outcome is about: the one its `operationId` names, else the one the ledger indexed its
 * `gatewayReference` to, else (a refund's notification) the one it indexed the refunded payment's reference to
 * (`paymentReference`), followed back to its authorization when the index names a dependent of it (a Stripe capture's
 * answer indexes the PaymentIntent to the capture). The reference is also looked up when the id names no operation the ledger holds: a
 * merchant reference that only looks like one of ours, or an operation retention removed while its reference stayed
 * indexed; the id alone would leave the job retrying until it fails. Counted and logged when the id is unknown.
 * @returns that operation, or null (none yet: the caller retries).
 */
export async function operationOfOutcome(
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'findByReference' | 'get' | 'authorizationByReference'>; logger: Logger },
): Promise<OperationRecord | null> {
  const { gateway, operationId, gatewayReference } = job;
  if (operationId !== undefined) {
    const named = await deps.ledger.get(operationId);
    if (named) return named;
  }
  const id = gatewayReference ? await deps.ledger.findByReference(gateway, gatewayReference) : null;
  let op = id ? await deps.ledger.get(id) : null;
  // A refund nothing of ours names (made in the PSP's back office): the payment it refunds. Followed back to the
  // authorization: Stripe answers a capture with the PaymentIntent, so once captured the index names the capture.
  if (!op && job.paymentReference !== undefined) {
    op = (await deps.ledger.authorizationByReference(gateway, job.paymentReference))?.record ?? null;
  }
  if (operationId !== undefined) {
    unknownOperationId.inc({ gateway, outcome: op ? 'matched_by_reference' : 'unmatched' });
    if (op) {
      deps.logger.info('webhook outcome names an operation id the ledger does not hold: matched by its PSP reference', {
        operation_id: op.id,
        named_operation_id: operationId,
        gateway,
        gateway_reference: gatewayReference,
        event_id: job.eventId,
      });
    }
  }
  return op;
}

/**
 * Who holds a modification outcome's PSP reference (`outcome.gatewayReference`, the modification's own when
 * `referenceIsModification`): `taker`, another operation whose command the outcome settles; `held`, an operation the
 * outcome does not move (the one named, or one of another command); `unheld`, none yet (its answer, which indexes
 * the reference, is not recorded). `none`: the outcome names no modification reference.
 */
type ModificationHolder = { kind: 'taker'; op: OperationRecord } | { kind: 'held' | 'unheld' | 'none' };

async function modificationHolder(
  named: OperationRecord,
  job: GatewayOutcomeJobData,
  ledger: Pick<Ledger, 'findByReference' | 'get'>,
): Promise<ModificationHolder> {
  const { outcome, gateway } = job;
  const reference = outcome.gatewayReference;
  if (outcome.referenceIsModification !== true || reference === undefined) return { kind: 'none' };
  const id = await ledger.findByReference(gateway, reference);
  if (id === null) return { kind: 'unheld' };
  if (id === named.id) return { kind: 'held' };
  const holder = await ledger.get(id);
  return holder !== null && settlesCommand(outcome, holder.command) ? { kind: 'taker', op: holder } : { kind: 'held' };
}

/** Counts a modification's outcome applied to the operation holding its reference, and says so (info line). */
export function noteMatchedByReference(logger: Logger, named: OperationRecord, holder: OperationRecord, job: GatewayOutcomeJobData): void {
  matchedByReference.inc({ gateway: job.gateway });
  logger.info("webhook outcome names the payment: applied to the operation holding its modification's PSP reference", {
    operation_id: holder.id,
    command: holder.command,
    named_operation_id: named.id,
    named_command: named.command,
    gateway: job.gateway,
    gateway_status: job.outcome.gatewayStatus,
    gateway_reference: job.outcome.gatewayReference,
    event_id: job.eventId,
  });
}

/**
 * The operation a modification's outcome belongs to when the operation it names (`named`) does not take it
 * (`settles` excludes its command): Adyen names a modification by the payment's reference unless the
 * modification's own `reference` was passed on, so the outcome of a capture the bridge sent may name its
 * authorization. Only for an outcome whose `gatewayReference` is the modification's own
 * (`referenceIsModification`): the operation that reference is indexed to (the modification's `received` answer
 * indexed it), when that is another operation and the outcome settles its command. The caller still checks the
 * operation's scope (gateway, account, amount) before applying anything.
 *
 * When no operation holds the reference at all (the answer is not recorded yet: a fast webhook, a worker killed
 * after the PSP took the request), the outcome is parked under it (`ParkedOutcomes`) for the operation whose answer
 * indexes it later; then the reference is looked up once more, so an answer recorded in between is not missed (it
 * indexed before it looked for parked outcomes, this parked before it looks again). A reference held by an
 * operation the outcome does not settle is never parked, so a release never loops.
 * A failure carrying a late fact is never parked: it throws `OperationNotFoundError` (the job retried) until
 * `finalAttempt` (the queue's last), then stays `named`'s history and adjustment.
 * Nor is the PSP's own cancel of `named` that the caller then handles as its reversal (`pspReversal`, see
 * `webhooks/psp-reversal.ts`: a cancel in Adyen's Customer Area) while no cancel of ours of `named` stands
 * (`ownClosing`): no answer will ever index its reference. With one standing, it is parked as before: that cancel's
 * answer may still index the reference, and the parked copy is then what settles it.
 * @param pspReversal the caller handles the outcome as the PSP's own reversal of `named` when nobody takes it.
 * @returns the operation that takes the outcome, or null: the outcome stays history of `named` (a capture made in
 *   the Customer Area; parked too when nobody held the reference).
 */
export async function operationOfModification(
  named: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'findByReference' | 'get' | 'operationsOfOrder'>; parked?: ParkedOutcomes; logger: Logger },
  finalAttempt: boolean,
  pspReversal = false,
): Promise<OperationRecord | null> {
  const found = await modificationHolder(named, job, deps.ledger);
  if (found.kind === 'taker') return found.op;
  if (found.kind !== 'unheld' || !deps.parked) return null;
  const { outcome, gateway } = job;
  const reference = outcome.gatewayReference!;
  /** What the log lines below say of the outcome not parked. */
  const about = { named_operation_id: named.id, gateway, gateway_reference: reference, gateway_status: outcome.gatewayStatus, event_id: job.eventId };
  // A failure carrying a late fact (CAPTURE_FAILED, REFUND_FAILED…) is not parked: as history of `named` it would
  // also be `named`'s adjustment, with its OMS event, and once released the failure of the capture too (the OMS
  // told the one fact twice). Its job is retried instead, as for an operation not matched yet: a retry after the
  // answer indexed the reference applies it to that operation only. Only at the queue's last attempt, no operation
  // having claimed it (a capture made in the Customer Area), is it `named`'s history and adjustment.
  if (job.adjustment !== undefined) {
    earlyFailures.inc({ gateway, outcome: finalAttempt ? 'unclaimed' : 'retried' });
    if (!finalAttempt) throw new OperationNotFoundError(`no operation holds the modification reference of webhook ${job.eventId} yet`);
    deps.logger.info("webhook failure of a modification no operation held through its job's attempts: an adjustment of the operation it names", about);
    return null;
  }
  // The PSP's own cancel of the payment, no cancel of ours standing to claim it: parking it would keep a copy nobody
  // releases for the parked outcomes' whole lifetime, logged as awaited.
  if (pspReversal && (await ownClosing(named, deps.ledger)) === null) {
    deps.logger.info(
      "webhook outcome of the PSP's own cancel of the payment, no cancel of ours standing: not parked, handled as the payment's reversal",
      about,
    );
    return null;
  }
  await deps.parked.park(job, named.id);
  const again = await modificationHolder(named, job, deps.ledger);
  if (again.kind !== 'taker') return null;
  await deps.parked.claimed(gateway, reference, job.eventId, again.op.id);
  return again.op;
}
