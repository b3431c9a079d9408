import { RedisClient } from '../redis/redis-connection';
import { isAdjustmentKind } from '../adjustments/adjustment';
import { RECONCILED_LINE_FIELD } from '../adjustments/adjustment-store';
import { LINE_EVENT_PREFIX, lineEventId } from '../adjustments/same-fact';
import { CreatedCursor, Ledger, OperationRecord } from '../ledger/ledger';
import { decodeFields, hashNamesOf } from '../ledger/record-fields';
import { gatewayOf } from '../ledger/routing-record';
import {
  Candidate,
  KnownAdjustment,
  Match,
  RECONCILED_FIELDS,
  ReconciledOperation,
  chooseMatch,
  hasTiedCandidates,
  needsKnownAdjustments,
} from '../reconciliation/classifier';
import type { PspRecord, ReconciliationWindow } from '../reconciliation/psp-record';

/** Operations of an order considered for a merchant-reference match (an order has a handful). */
const ORDER_CANDIDATES = 20;

/** The hash fields read of each candidate operation (`RECONCILED_FIELDS`). */
const FIELD_NAMES = hashNamesOf(RECONCILED_FIELDS);

/** The adjustment fields a late-fact line is compared with (`knownAdjustment` reads them in this order). */
const ADJUSTMENT_FIELDS = ['kind', 'direction', 'amount', 'psp_reference', 'source', 'psp_event_id', RECONCILED_LINE_FIELD, 'occurred_at'] as const;

export { lineEventId };

/**
 * An adjustment as the classifier compares it (`ADJUSTMENT_FIELDS`), or undefined for one unreadable. The
 * line it accounts for: the one reconciliation recorded it from (its PSP event id), else the one a run tied it to.
 */
function knownAdjustment(id: string, fields: readonly (string | null)[]): KnownAdjustment | undefined {
  const [kind, direction, amount, pspReference, source, pspEventId, tied, occurredAt] = fields;
  if (!isAdjustmentKind(kind) || (direction !== 'debit' && direction !== 'credit' && direction !== 'none')) return undefined;
  const line = source === 'reconciliation' && pspEventId?.startsWith(LINE_EVENT_PREFIX) ? pspEventId.slice(LINE_EVENT_PREFIX.length) : (tied ?? undefined);
  return {
    id,
    kind,
    direction,
    ...(amount !== null && amount !== undefined && amount !== '' ? { amount: Number(amount) } : {}),
    ...(pspReference ? { pspReference } : {}),
    ...(line ? { line } : {}),
    ...(occurredAt !== null && occurredAt !== undefined && occurredAt !== '' ? { occurredAt: Number(occurredAt) } : {}),
  };
}

/** A candidate operation a lookup found: the line it is for, how, and the shard holding it. */
interface Wanted {
  i: number;
  by: Candidate['by'];
  id: string;
  shard: number;
}

/**
 * The ledger as reconciliation reads it, a page at a time and never on the hot path, through `Ledger`'s reads
 * (which name the ledger's keys): the operations a page of PSP lines names (by operation id, PSP reference,
 * order), in a few rounds of one pipeline or script per ledger shard; and the operations created in a window
 * (each shard's creation index, a page after the last operation read: bounded pages, constant memory, no SCAN
 * of the keyspace). The run's own seen set is reconciliation's key (reconciliation-run-state.ts), read here
 * directly.
 */
export class ReconciliationLedger {
  private readonly ledger: Ledger;

  constructor(
    private readonly redis: RedisClient,
    /** The ledger's key prefix. */
    readonly prefix: string,
    /** The configured gateway the operations were sent to (`gatewayOf`: routed, else `payment.gateway`). */
    readonly gateway: string,
  ) {
    this.ledger = new Ledger(redis, prefix);
  }

  /**
   * For each record, the ledger operation it is about and how it was tied (`null`: none of this gateway
   * fits). Two rounds of one pipeline or script per shard, a few commands each whatever the page's size: where
   * each named id, PSP reference and order leads (`Ledger.locateMany`); then the fields the classifier reads of
   * every candidate (`Ledger.fieldsInShard`). A third round only for late facts (their adjustments). `seenKey`:
   * the run's set of operations earlier pages' lines were matched to (a tie between candidates prefers one not
   * in it).
   */
  async matchPage(records: readonly PspRecord[], seenKey?: string): Promise<(Match | null)[]> {
    type Ask = { i: number; by: Candidate['by']; value: string };
    const ops: Ask[] = [];
    const refs: Ask[] = [];
    const orders: Ask[] = [];
    for (let i = 0; i < records.length; i += 1) {
      const r = records[i];
      if (r.kind === 'other') continue;
      if (r.operationId) ops.push({ i, by: 'operation_id', value: r.operationId });
      if (r.modificationReference) refs.push({ i, by: 'modification_reference', value: r.modificationReference });
      if (r.pspReference) refs.push({ i, by: 'psp_reference', value: r.pspReference });
      if (r.merchantReference) orders.push({ i, by: 'merchant_reference', value: r.merchantReference });
    }
    const wanted: Wanted[] = [];
    if (ops.length + refs.length + orders.length > 0) {
      // Round trip 1.
      const found = await this.ledger.locateMany({
        ids: ops.map((a) => a.value),
        gateway: this.gateway,
        references: refs.map((a) => a.value),
        orders: orders.map((a) => a.value),
        perOrder: ORDER_CANDIDATES,
      });
      const unplaced: Ask[] = [];
      ops.forEach((a, n) => {
        const shard = found.ids[n];
        if (shard !== null) wanted.push({ i: a.i, by: a.by, id: a.value, shard });
        else unplaced.push(a);
      });
      // Not in any creation index (rare: a record written outside `create`): asked of every shard, one at a time.
      for (const a of unplaced) {
        const shard = await this.ledger.shardOf(a.value, true);
        if (shard !== null) wanted.push({ i: a.i, by: a.by, id: a.value, shard });
      }
      // Two shards may hold one reference (an operation of another anchor took it over): both are candidates.
      refs.forEach((a, n) => {
        for (const held of found.references[n]) wanted.push({ i: a.i, by: a.by, id: held.id, shard: held.shard });
      });
      orders.forEach((a, n) => {
        for (const op of found.orders[n]) wanted.push({ i: a.i, by: a.by, id: op.id, shard: op.shard });
      });
    }
    // Round trip 2: the operations the ids, references and orders led to.
    const loaded = await this.load(wanted);
    const candidates: Candidate[][] = records.map(() => []);
    for (const w of wanted) {
      const op = loaded.get(w.shard)?.get(w.id);
      if (op) candidates[w.i].push({ op, by: w.by });
    }
    // Candidates found the same way (a payment's partial captures): an operation an earlier line of the run
    // was matched to is the weaker one. Earlier pages' are in the run's seen set, asked only for such ties.
    const tied = seenKey === undefined ? [] : records.flatMap((r, i) => (hasTiedCandidates(r, candidates[i], this.gateway) ? candidates[i] : []));
    const taken = new Set<string>();
    if (tied.length > 0 && seenKey !== undefined) {
      const ids = [...new Set(tied.map((c) => c.op.id))];
      const seen = await this.redis.smismember(seenKey, ...ids);
      ids.forEach((id, n) => {
        if (seen[n] === 1) taken.add(id);
      });
    }
    const matches: (Match | null)[] = records.map((r, i) => {
      const m = chooseMatch(r, candidates[i], this.gateway, taken);
      if (m) taken.add(m.op.id);
      return m;
    });
    // The runner may act on a matched operation (a settlement, an adjustment): the ledger knows its shard then.
    for (const w of wanted) {
      const m = matches[w.i];
      if (m && m.op.id === w.id) this.ledger.remember(w.id, w.shard);
    }
    // Round trip 3, only for late facts (chargebacks…) and contradicted terminal states: the adjustments their
    // operations already have (a webhook may have reported the same fact first).
    const late = matches.map((m, i) => (m && needsKnownAdjustments(records[i], m.op) ? m : null)).filter((m): m is Match => m !== null);
    if (late.length > 0) {
      const { known, counts } = await this.adjustmentsOf([...new Set(late.map((m) => m.op.id))]);
      for (const m of late) {
        m.adjustments = known.get(m.op.id) ?? [];
        m.adjustmentsRead = counts.get(m.op.id) ?? 0;
      }
    }
    return matches;
  }

  /**
   * `match` with its operation's adjustments read again (its record step found them changed since the page read
   * them: a webhook may have recorded the line's fact in between), and its fields: the adjustment that changed
   * them may have set or cleared its undone mark (a re-capture's webhook).
   */
  async readAgain(match: Match): Promise<Match> {
    const { known, counts } = await this.adjustmentsOf([match.op.id]);
    const shard = await this.ledger.shardOf(match.op.id);
    const op = shard === null ? undefined : (await this.load([{ i: 0, by: match.by, id: match.op.id, shard }])).get(shard)?.get(match.op.id);
    return { ...match, ...(op ? { op } : {}), adjustments: known.get(match.op.id) ?? [], adjustmentsRead: counts.get(match.op.id) ?? 0 };
  }

  /**
   * When the PSP did `op`, recorded FAILED, after all: the `occurred_at` of the `succeeded_after_failure` adjustment
   * its mark names (`succeededAfterFailure.by`), epoch ms. Undefined: no mark, the adjustment is gone or unreadable,
   * or the PSP gave no time. One pipeline per shard, only for such an operation no line named.
   */
  async doneAfterFailureAt(op: ReconciledOperation): Promise<number | undefined> {
    const by = op.succeededAfterFailure?.by;
    if (by === undefined) return undefined;
    const { known } = await this.adjustmentsOf([op.id]);
    return known.get(op.id)?.find((a) => a.id === by)?.occurredAt;
  }

  /** The whole record of a matched operation (the runner's rare actions need more than the classifier's fields). */
  async record(id: string): Promise<OperationRecord | null> {
    return this.ledger.get(id);
  }

  /**
   * Reads the classifier's fields (one script per shard, `Ledger.fieldsInShard`) of each wanted id, once; per
   * shard, id → operation (absent ones left out).
   */
  private async load(wanted: readonly Wanted[]): Promise<Map<number, Map<string, ReconciledOperation>>> {
    const groups = new Map<number, string[]>();
    const queued = new Set<string>();
    for (const w of wanted) {
      const name = `${w.shard}\u0000${w.id}`;
      if (queued.has(name)) continue;
      queued.add(name);
      const group = groups.get(w.shard);
      if (group) group.push(w.id);
      else groups.set(w.shard, [w.id]);
    }
    const out = new Map<number, Map<string, ReconciledOperation>>();
    await Promise.all(
      [...groups].map(async ([shard, group]) => {
        const rows = await this.ledger.fieldsInShard(shard, group, FIELD_NAMES);
        const ops = new Map<string, ReconciledOperation>();
        group.forEach((id, n) => {
          const op = decodeFields(RECONCILED_FIELDS, rows[n] ?? []);
          if (op && op.payment) ops.set(id, op);
        });
        out.set(shard, ops);
      }),
    );
    return out;
  }

  /**
   * The adjustments already recorded on each operation (`knownAdjustment`), and how many ids each operation's
   * set held (the unreadable included: what the record step compares with). Two rounds of per-shard pipelines
   * (`Ledger.adjustmentsOfEach`).
   */
  private async adjustmentsOf(opIds: readonly string[]): Promise<{ known: Map<string, KnownAdjustment[]>; counts: Map<string, number> }> {
    const recorded = await this.ledger.adjustmentsOfEach(opIds, ADJUSTMENT_FIELDS);
    const known = new Map<string, KnownAdjustment[]>();
    const counts = new Map<string, number>();
    for (const [id, adjustments] of recorded) {
      counts.set(id, adjustments.length);
      for (const a of adjustments) {
        const read = knownAdjustment(a.id, a.fields);
        if (read) known.set(id, [...(known.get(id) ?? []), read]);
      }
    }
    return { known, counts };
  }

  /** How many operations (of every gateway) were created in the window: what the ledger phase reads (its progress). */
  async windowSize(window: ReconciliationWindow): Promise<number> {
    return this.ledger.countCreatedBetween(window.from, window.to);
  }

  /**
   * The next `count` operations (of every gateway) created in the window after `cursor` (none: from its start),
   * and, of those, the ones of this gateway that no PSP line was matched to (not in the run's seen set): the only
   * ones the ledger phase judges. The cursor is a place in each shard's creation index (`Ledger.createdPage`),
   * not a rank, so retention purging older operations during the run, or an operation written with an earlier
   * creation time, makes no page pass over one. Per shard the page touches: the ids, their seen marks, then
   * only the unseen operations, so a window the PSP covered line for line loads (and decodes) nothing more.
   * `read`: the operations of the window the page read; `done`: none is left after `next`.
   */
  async unseenPage(
    window: ReconciliationWindow,
    cursor: CreatedCursor | undefined,
    count: number,
    seenKey: string,
  ): Promise<{ ops: ReconciledOperation[]; read: number; next: CreatedCursor; done: boolean }> {
    const page = await this.ledger.createdPage(window.from, window.to, cursor, count);
    const out: ReconciledOperation[] = [];
    let read = 0;
    for (const { shard, ids } of page.shards) {
      read += ids.length;
      const seen = await this.redis.smismember(seenKey, ...ids);
      const unseen = ids.filter((_id, n) => seen[n] !== 1);
      if (unseen.length === 0) continue;
      const rows = await this.ledger.fieldsInShard(shard, unseen, FIELD_NAMES);
      unseen.forEach((id, n) => {
        const op = decodeFields(RECONCILED_FIELDS, rows[n] ?? []);
        if (!op || !op.payment) return;
        if (gatewayOf(op) !== this.gateway) return;
        this.ledger.remember(id, shard);
        out.push(op);
      });
    }
    return { ops: out, read, next: page.next, done: page.done };
  }
}
