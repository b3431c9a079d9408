import type { AuditLog } from '../audit/audit-log';
import type { Config } from '../config/config';
import { ReplayWithheldReason, replayWithheldReason } from '../delivery/resend-window';
import { inquirySupport } from '../gateways/gateway-adapter';
import { transformerFor } from '../gateways/gateway-registry';
import type { Ledger, OperationRecord } from '../ledger/ledger';
import type { OperationState } from '../ledger/operation-state';
import { gatewayOf } from '../ledger/routing-record';
import { counter } from '../metrics/metrics-registry';

/** The states whose operations the poller asks the PSP about when they are due. */
const RECHECKED: ReadonlySet<OperationState> = new Set(['PENDING', 'UNKNOWN', 'UNRESOLVED']);

/** What an operator's recheck did with one operation. */
export interface RecheckResult {
  operation_id: string;
  /**
   * `due_now`: the poller's next pass asks the PSP; `withheld`: the poller would not ask, as its status inquiry
   * replays the request (Adyen) past its key's validity or `delivery.max_age_ms` (`reason`), so it is left as it is;
   * `not_polled`: its state is not one the poller asks about; `not_found`.
   */
  result: 'due_now' | 'withheld' | 'not_polled' | 'not_found';
  /** `withheld`: why (`replayWithheldReason`). */
  reason?: ReplayWithheldReason;
  state: OperationState | null;
}

const rechecks = counter(
  'pb_operation_rechecks_total',
  'Operations an operator made due at once for the poller (PENDING, UNKNOWN, UNRESOLVED), by tool (ops, console)',
  ['by'],
);

/**
 * Makes each PENDING, UNKNOWN or UNRESOLVED operation due at once: the poller's next pass asks the PSP about
 * it, instead of at the next step of its schedule (an UNRESOLVED one: `poller.unresolved_interval_ms`, 1 h), e.g.
 * once a PSP outage is over. Nothing is sent: an inquiry only. A same-state move of the ledger (history entry
 * `recheck_requested` with `actor`), so a poller that took a step meanwhile is not undone, and a state that
 * moved on is left alone. Each is audit-logged (`operation.recheck`) and counted
 * (`pb_operation_rechecks_total{by}`). The `ops` CLI and the console recheck through here. One whose status
 * inquiry the poller withholds (`replayWithheldReason`: it would replay the request) is left alone and said to be
 * `withheld`, never `due_now`: the poller would not ask the PSP about it.
 */
export async function recheckOperations(
  deps: { ledger: Ledger; audit: AuditLog; config: Pick<Config, 'gateways' | 'delivery'> },
  ids: readonly string[],
  actor: string,
  by: 'ops' | 'console',
  now = Date.now(),
): Promise<RecheckResult[]> {
  const results: RecheckResult[] = [];
  for (const id of ids) {
    const op = await deps.ledger.get(id);
    let result: RecheckResult['result'] = op === null ? 'not_found' : 'not_polled';
    const reason = op !== null && RECHECKED.has(op.state) ? withheldReason(deps.config, op, now) : null;
    if (reason !== null) {
      result = 'withheld';
    } else if (op !== null && RECHECKED.has(op.state)) {
      const moved = await deps.ledger.transition(id, op.state, { event: 'recheck_requested', actor }, { nextCheckAt: now }, now);
      if (moved.applied) {
        result = 'due_now';
        rechecks.inc({ by });
      }
    }
    results.push({ operation_id: id, result, ...(reason !== null ? { reason } : {}), state: op?.state ?? null });
    await deps.audit.record({
      action: 'operation.recheck',
      actor,
      outcome: result === 'due_now' ? 'ok' : 'refused',
      target: id,
      detail: reason !== null ? { result, reason } : { result },
    });
  }
  return results;
}

/** Why the poller would not ask about `op` at `now` (its inquiry replays the request: `replayWithheldReason`), or null. */
function withheldReason(config: Pick<Config, 'gateways' | 'delivery'>, op: OperationRecord, now: number): ReplayWithheldReason | null {
  const gateway = config.gateways[gatewayOf(op)];
  if (gateway === undefined) return null;
  const transformer = transformerFor(gateway.type);
  if (inquirySupport(transformer, op.command) !== 'supported') return null;
  return replayWithheldReason(transformer, op, now, config.delivery.maxAgeMs);
}
