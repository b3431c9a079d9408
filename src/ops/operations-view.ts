import { AdjustmentStore } from '../adjustments/adjustment-store';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { OPERATION_STATES, OperationState, TERMINAL_STATES } from '../ledger/operation-state';
import { CloserSummary, MARK_HASH_FIELDS, MarkHashField, OperationDetail, OperationView, operationDetail, operationView } from './operation-detail';

export { operationView } from './operation-detail';
export type { OperationView } from './operation-detail';

/**
 * Read-only queries over the ledger for the CLI and the console (never on the hot path), through `Ledger`'s and
 * the adjustment store's reads.
 */
export class OperationsView {
  constructor(
    private readonly ledger: Ledger,
    private readonly adjustments: AdjustmentStore,
  ) {}

  /**
   * One operation as the on-call operator reads it (`ops show`, the console's lookup: {@link operationDetail}), or
   * null when there is none.
   */
  async show(id: string, now = Date.now()): Promise<OperationDetail | null> {
    if (!/^[A-Za-z0-9#][A-Za-z0-9._#-]{0,128}$/.test(id)) return null;
    const record = await this.ledger.get(id);
    return record ? this.detail(record, now) : null;
  }

  /** Every operation of an order (the order index), oldest first, each as {@link show} gives it. */
  async showOrder(orderId: string, now = Date.now()): Promise<OperationDetail[]> {
    return Promise.all((await this.ledger.operationsOfOrder(orderId)).map((r) => this.detail(r, now)));
  }

  /** What the stores hold about `record` beside it (adjustments, history, the marks kept as raw fields, its closer), with it. */
  private async detail(record: OperationRecord, now: number): Promise<OperationDetail> {
    const closedBy = record.closedBy;
    const [adjustments, history, [stored], closer] = await Promise.all([
      this.adjustments.forOperation(record.id),
      this.ledger.interactions(record.id),
      this.ledger.fieldsOf([record.id], MARK_HASH_FIELDS),
      closedBy ? this.ledger.get(closedBy) : Promise.resolve(null),
    ]);
    const hashMarks: Partial<Record<MarkHashField, string>> = {};
    MARK_HASH_FIELDS.forEach((field, i) => {
      const v = stored?.[i];
      if (v !== null && v !== undefined) hashMarks[field] = v;
    });
    const closerSummary: CloserSummary | null = closer && { id: closer.id, command: closer.command, state: closer.state, updatedAt: closer.updatedAt };
    return operationDetail({ record, adjustments, history, hashMarks, closer: closerSummary }, now);
  }

  /**
   * Operations in `states` (default: every state that is not terminal) created at least `olderThanMs` ago,
   * oldest first, at most `limit`. Reads at most `scan` ids per state.
   */
  async list(
    options: { states?: readonly OperationState[]; olderThanMs?: number; limit?: number; scan?: number } = {},
    now = Date.now(),
  ): Promise<OperationView[]> {
    const states = options.states ?? OPERATION_STATES.filter((s) => !TERMINAL_STATES.has(s));
    const limit = options.limit ?? 50;
    const scan = options.scan ?? 2000;
    const ids = (await Promise.all(states.map((s) => this.ledger.idsInState(s, Number.POSITIVE_INFINITY, scan)))).flat();
    const views = await this.views(ids, now);
    return views
      .filter((v) => v.ageMs >= (options.olderThanMs ?? 0))
      .sort((a, b) => a.createdAt - b.createdAt)
      .slice(0, limit);
  }

  /**
   * Counts for the last `windowMs`: operations created, and those that reached SUCCEEDED or FAILED in it
   * (their index score is the time of the move); plus how many are in each state now.
   */
  async counts(
    windowMs: number,
    now = Date.now(),
  ): Promise<{ windowMs: number; received: number; succeeded: number; failed: number; successRate: number | null; byState: Record<OperationState, number> }> {
    const since = now - windowMs;
    const [received, succeeded, failed] = await Promise.all([
      this.ledger.countCreatedSince(since),
      this.ledger.countInStateSince('SUCCEEDED', since),
      this.ledger.countInStateSince('FAILED', since),
    ]);
    const settled = succeeded + failed;
    return { windowMs, received, succeeded, failed, successRate: settled === 0 ? null : succeeded / settled, byState: await this.ledger.countByState() };
  }

  /**
   * Intake → terminal latency over the latest `sample` operations that settled (SUCCEEDED or FAILED), ms:
   * p50, p95, p99 (null when none settled).
   */
  async latency(sample = 200): Promise<{ count: number; p50: number; p95: number; p99: number } | null> {
    const ids = [...(await this.ledger.newestInState('SUCCEEDED', sample)), ...(await this.ledger.newestInState('FAILED', Math.ceil(sample / 4)))];
    if (ids.length === 0) return null;
    const durations: number[] = [];
    for (const [received, updated] of await this.ledger.fieldsOf(ids, ['received_at', 'updated_at'])) {
      if (received && updated) durations.push(Math.max(0, Number(updated) - Number(received)));
    }
    if (durations.length === 0) return null;
    durations.sort((a, b) => a - b);
    const at = (q: number) => durations[Math.min(durations.length - 1, Math.floor(q * durations.length))];
    return { count: durations.length, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
  }

  /** Gateway and state of the latest `sample` operations that settled (SUCCEEDED, FAILED), newest first. */
  async recentSettled(sample = 200): Promise<{ id: string; gateway: string; state: OperationState }[]> {
    const ids = [...(await this.ledger.newestInState('SUCCEEDED', sample)), ...(await this.ledger.newestInState('FAILED', sample))];
    if (ids.length === 0) return [];
    const out: { id: string; gateway: string; state: OperationState }[] = [];
    (await this.ledger.fieldsOf(ids, ['state', 'payment'])).forEach(([state, payment], i) => {
      if (!state || !payment) return;
      try {
        out.push({ id: ids[i], gateway: String((JSON.parse(payment) as { gateway: unknown }).gateway), state: state as OperationState });
      } catch {
        // unreadable record: skipped
      }
    });
    return out;
  }

  private async views(ids: readonly string[], now: number): Promise<OperationView[]> {
    const records = await Promise.all(ids.map((id) => this.ledger.get(id)));
    return records.filter((r): r is OperationRecord => r !== null).map((r) => operationView(r, now));
  }
}
