import type { AuditLog } from '../audit/audit-log';
import type { Ledger } from '../ledger/ledger';
import type { OperationState } from '../ledger/operation-state';
import { counter } from '../metrics/metrics-registry';

/** The states whose operations the poller asks the PSP about when they are due. */
const RECHECKED: ReadonlySet<OperationState> = new Set(['PENDING', 'UNKNOWN', 'UNRESOLVED']);

/** What an operator's recheck did with one operation. */
export interface RecheckResult {
  operation_id: string;
  /** `due_now`: the poller's next pass asks the PSP; `not_polled`: its state is not one the poller asks about; `not_found`. */
  result: 'due_now' | 'not_polled' | 'not_found';
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
 * (`pb_operation_rechecks_total{by}`). The `ops` CLI and the console recheck through here.
 */
export async function recheckOperations(
  deps: { ledger: Ledger; audit: AuditLog },
  ids: readonly string[],
  actor: string,
  by: 'ops' | 'console',
  now = Date.now(),
): Promise<RecheckResult[]> {
  const results: RecheckResult[] = [];
  for (const id of ids) {
    const op = await deps.ledger.get(id);
    let result: RecheckResult['result'] = op === null ? 'not_found' : 'not_polled';
    if (op !== null && RECHECKED.has(op.state)) {
      const moved = await deps.ledger.transition(id, op.state, { event: 'recheck_requested', actor }, { nextCheckAt: now }, now);
      if (moved.applied) {
        result = 'due_now';
        rechecks.inc({ by });
      }
    }
    results.push({ operation_id: id, result, state: op?.state ?? null });
    await deps.audit.record({ action: 'operation.recheck', actor, outcome: result === 'due_now' ? 'ok' : 'refused', target: id, detail: { result } });
  }
  return results;
}
