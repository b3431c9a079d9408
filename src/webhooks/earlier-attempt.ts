import { Counter } from 'prom-client';
import { GatewayConfig } from '../config/config';
import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { sameAccountGateways } from '../gateways/gateway-vaults';
import { ConfirmedMoney, OrphanReversal } from '../poller/orphan-reversal';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

/**
 * Whether `gateway` is one the operation was routed to before it failed over to where it is now (its
 * routing record's failovers). Its webhooks are about that earlier attempt: real PSP facts, accepted for
 * the operation, never applied as its outcome (see `applyEarlierAttemptOutcome`). Pure.
 */
export function isEarlierAttemptGateway(op: Pick<OperationRecord, 'payment' | 'routing'>, gateway: string): boolean {
  if (gatewayOf(op) === gateway) return false;
  return (op.routing?.failovers ?? []).some((f) => f.from === gateway);
}

/**
 * The entry whose attempt a success heard at `gateway` (the entry the operation ended at, FAILED there) is about, when
 * that is an entry the operation failed over from that shares `gateway`'s PSP account (`sameAccountGateways`): both
 * endpoints hear the account's events, and the success names another PSP object (`gatewayReference`) than the attempt
 * at `gateway` holds (`op.gatewayReference`, `op.newGatewayKey`), the rule the scope check applies the other way round
 * (outcome-scope.ts). That success is the earlier attempt's, to be read as a single-entry setup reads it there: a
 * `duplicate_after_failover` of that entry (voided there), never a `succeeded_after_failure` of the operation. Null
 * when it cannot tell: no reference on either side, the same one, or more than one such entry failed over from. Pure.
 */
export function earlierSameAccountAttempt(
  op: Pick<OperationRecord, 'payment' | 'routing' | 'state' | 'gatewayReference' | 'newGatewayKey'>,
  gateway: string,
  outcome: Pick<GatewayOutcomeJobData['outcome'], 'status' | 'gatewayReference'>,
  gateways: Readonly<Record<string, GatewayConfig>>,
): string | null {
  if (op.state !== 'FAILED' || outcome.status !== 'SUCCESS' || gatewayOf(op) !== gateway) return null;
  const reference = outcome.gatewayReference;
  if (reference === undefined || op.gatewayReference === undefined) return null;
  if (reference === op.gatewayReference || reference === op.newGatewayKey) return null;
  const account = new Set(sameAccountGateways(gateways, gateway));
  const earlier = new Set((op.routing?.failovers ?? []).map((f) => f.from).filter((from) => from !== gateway && account.has(from)));
  return earlier.size === 1 ? [...earlier][0] : null;
}

/**
 * What became of a success reported by a gateway the operation failed over from (a bounded set, the label
 * `outcome` of `pb_failover_late_successes_total`): `voided` (a cancel of it is queued), `would_void`
 * (orphan reversal in dry run), `reported` (not voidable by us: a sale, no PSP reference, or reversal off).
 */
export type EarlierSuccessOutcome = 'voided' | 'would_void' | 'reported';

/** `pb_failover_late_successes_total`, by the gateway failed over from and what was done (`EarlierSuccessOutcome`). */
export function lateSuccesses(): Counter<'gateway' | 'outcome'> {
  return counter(
    'pb_failover_late_successes_total',
    'Successes reported by a gateway an operation had failed over from (a second live authorization or charge), by that gateway and what was done',
    ['gateway', 'outcome'],
  );
}

/** Commands that fail over (authorize, sale): the only ones an earlier gateway can hold an attempt of. */
const VOIDABLE = 'authorize';

/**
 * Asks orphan reversal to void the authorization `reference` at `gateway`, one the operation failed over from, for
 * `confirmed` (what that gateway confirmed, in its currency), and says what became of it. On a `repeat` too (a retried
 * job, a re-run: the process died, or the request threw, after the adjustment was written): the void is found by its
 * deterministic id and queued again if it never left; else the second authorization would stay held, unreported.
 * Only an authorization with a PSP reference, with orphan reversal wired: anything else is `reported`.
 */
export async function voidAtEarlierGateway(
  op: OperationRecord,
  gateway: string,
  reference: string | undefined,
  confirmed: ConfirmedMoney,
  repeat: boolean,
  orphans: OrphanReversal | undefined,
): Promise<{ done: EarlierSuccessOutcome; voidId?: string }> {
  if (op.command !== VOIDABLE || reference === undefined || !orphans) return { done: 'reported' };
  const decision = await orphans.requestAtEarlierGateway(op, gateway, reference, confirmed, { repeat });
  const done: EarlierSuccessOutcome =
    decision.outcome === 'voided' || decision.outcome === 'already_requested' ? 'voided' : decision.outcome === 'would_void' ? 'would_void' : 'reported';
  return { done, voidId: decision.voidId };
}

/**
 * Counts (`pb_failover_late_successes_total`) and warns of a success of an attempt at `gateway`, one the operation
 * failed over from, when its `duplicate_after_failover` is first recorded (a repeat says nothing more). `source`: the
 * fields saying where the PSP said it (its status, and the webhook's event id or the report's line).
 */
export function reportEarlierSuccess(
  logger: Logger,
  op: OperationRecord,
  gateway: string,
  done: EarlierSuccessOutcome,
  voidId: string | undefined,
  source: Record<string, unknown>,
): void {
  lateSuccesses().inc({ gateway, outcome: done });
  logger.warn('PSP discrepancy: a gateway the operation failed over from reports success (a second live authorization)', {
    operation_id: op.id,
    command: op.command,
    gateway,
    current_gateway: gatewayOf(op),
    operation_state: op.state,
    ...source,
    action: done,
    ...(voidId !== undefined ? { void_operation_id: voidId } : {}),
  });
}

/**
 * A webhook outcome from a gateway the operation failed over FROM (the scope check allowed it: that gateway
 * and its account). The operation's own outcome is the gateway it moved to, so this never changes its state;
 * it is recorded in its history (`earlier_attempt_outcome`), and:
 * - a success (the earlier gateway authorised or charged after all: two live authorizations, or one the OMS
 *   was told failed) is a PSP discrepancy the operator and the OMS see: a `duplicate_after_failover`
 *   adjustment (its own OMS event, idempotent by the PSP's event id), `pb_failover_late_successes_total`, a
 *   warning; an authorization is voided at that gateway through orphan reversal (dry run: reported);
 *   a repeat of that adjustment (a job retried after a crash or an error past it) asks for the void again (found by its
 *   deterministic id, queued again if it never left), counted and warned of once; a second reading of that PSP
 *   transaction under the other kind (`duplicateOf`) asks for nothing, its first reading's reversal stands;
 * - a late fact (chargeback…) there is recorded as an adjustment of the operation;
 * - anything else (a decline, pending) is history only.
 * @returns the operation's state (unchanged).
 */
export async function applyEarlierAttemptOutcome(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Ledger; adjustments: AdjustmentRecorder; logger: Logger; orphans?: OrphanReversal },
): Promise<string> {
  const { outcome, gateway, eventId } = job;
  const reference = outcome.gatewayReference ?? job.gatewayReference;
  const entry = {
    event: 'earlier_attempt_outcome',
    source: 'webhook',
    gateway,
    current_gateway: gatewayOf(op),
    status: outcome.status,
    gateway_status: outcome.gatewayStatus,
    provider_event_id: eventId,
    ...(reference !== undefined ? { gateway_reference: reference } : {}),
  };
  if (job.adjustment) {
    const { failsOpenOperation: _ignored, ...fact } = job.adjustment;
    await deps.adjustments.recordAdjustment(op, { ...fact, gateway, pspEventId: eventId, source: 'webhook' });
    return op.state;
  }
  if (outcome.status !== 'SUCCESS') {
    await deps.ledger.appendInteraction(op.id, entry);
    deps.logger.info('outcome of an attempt at a gateway the operation failed over from: recorded, not applied', {
      operation_id: op.id,
      gateway,
      current_gateway: gatewayOf(op),
      webhook_status: outcome.status,
      event_id: eventId,
    });
    return op.state;
  }
  const recorded = await deps.adjustments.recordAdjustment(op, {
    kind: 'duplicate_after_failover',
    direction: op.command === 'sale' ? 'credit' : 'none',
    ...(outcome.amount !== undefined ? { amount: outcome.amount } : {}),
    ...(outcome.currency !== undefined ? { currency: outcome.currency } : {}),
    reason: `${outcome.gatewayStatus}_after_failover_to_${gatewayOf(op)}`,
    ...(reference !== undefined ? { pspReference: reference } : {}),
    gateway,
    pspEventId: eventId,
    source: 'webhook',
  });
  // A second reading under another kind (another entry of the PSP account recorded it first): that reading's own
  // reversal ran, or runs on its retry; asking here too could send a second void of one authorization.
  if (recorded.duplicateOf !== undefined || recorded.adjustment.kind !== 'duplicate_after_failover') return op.state;
  const { created } = recorded;
  if (created) await deps.ledger.appendInteraction(op.id, entry);
  // For what that gateway confirmed, in its currency: not the order's amount, nor what the gateway moved to holds.
  const confirmed = {
    ...(outcome.amount !== undefined ? { amount: outcome.amount } : {}),
    ...(outcome.currency !== undefined ? { currency: outcome.currency } : {}),
  };
  const { done, voidId } = await voidAtEarlierGateway(op, gateway, reference, confirmed, !created, deps.orphans);
  // The discrepancy was counted and logged when its adjustment was recorded: a repeat says only what it asked again.
  if (!created) {
    deps.logger.info('repeat of a failover late success already recorded: its reversal at that gateway asked for again (idempotent)', {
      operation_id: op.id,
      gateway,
      event_id: eventId,
      action: done,
      ...(voidId !== undefined ? { void_operation_id: voidId } : {}),
    });
    return op.state;
  }
  reportEarlierSuccess(deps.logger, op, gateway, done, voidId, { psp_status: outcome.gatewayStatus, event_id: eventId });
  return op.state;
}
