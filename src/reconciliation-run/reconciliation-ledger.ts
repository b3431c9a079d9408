import { RedisClient } from '../redis/redis-connection';
import { isAdjustmentKind } from '../adjustments/adjustment';
import { OperationRecord } from '../ledger/ledger';
import { orderIndexKey } from '../ledger/order-index';
import { decodeRecord } from '../ledger/record-fields';
import { Candidate, KnownAdjustment, Match, chooseMatch, isLateFact } from '../reconciliation/classifier';
import type { PspRecord, ReconciliationWindow } from '../reconciliation/psp-record';

/** Operations of an order considered for a merchant-reference match (an order has a handful). */
const ORDER_CANDIDATES = 20;

/**
 * The ledger as reconciliation reads it, a page at a time and never on the hot path: the operations a page
 * of PSP lines names (by operation id, the PSP reference index `P ref:<gateway>:<reference>`, the order
 * index `P order:<order_id>`), in two or three pipelined round trips per page; and the operations created
 * in a window (`P ops:created`, by rank: bounded pages, constant memory, no SCAN of the keyspace).
 */
export class ReconciliationLedger {
  constructor(
    private readonly redis: RedisClient,
    /** The ledger's key prefix. */
    readonly prefix: string,
    /** The configured gateway name operations must carry (`payment.gateway`). */
    readonly gateway: string,
  ) {}

  private opKey(id: string): string {
    return `${this.prefix}op:${id}`;
  }

  /** For each record, the ledger operation it is about and how it was tied (`null`: none of this gateway fits). */
  async matchPage(records: readonly PspRecord[]): Promise<(Match | null)[]> {
    const loaded = new Map<string, OperationRecord | null>();
    // Round trip 1: operations named by id, reference lookups, order indexes.
    const first = this.redis.pipeline();
    type Ask = { i: number; by: Candidate['by']; kind: 'op' | 'ref' | 'order'; value: string };
    const asks: Ask[] = [];
    records.forEach((r, i) => {
      if (r.kind === 'other') return;
      if (r.operationId) {
        asks.push({ i, by: 'operation_id', kind: 'op', value: r.operationId });
        first.hgetall(this.opKey(r.operationId));
      }
      if (r.modificationReference) {
        asks.push({ i, by: 'modification_reference', kind: 'ref', value: r.modificationReference });
        first.get(`${this.prefix}ref:${this.gateway}:${r.modificationReference}`);
      }
      if (r.pspReference) {
        asks.push({ i, by: 'psp_reference', kind: 'ref', value: r.pspReference });
        first.get(`${this.prefix}ref:${this.gateway}:${r.pspReference}`);
      }
      const orderKey = r.merchantReference ? orderIndexKey(this.prefix, r.merchantReference) : '';
      if (orderKey) {
        asks.push({ i, by: 'merchant_reference', kind: 'order', value: r.merchantReference as string });
        first.zrange(orderKey, 0, ORDER_CANDIDATES - 1);
      }
    });
    const replies = asks.length > 0 ? ((await first.exec()) ?? []) : [];
    const wanted: { i: number; by: Candidate['by']; id: string }[] = [];
    asks.forEach((ask, n) => {
      const [err, reply] = replies[n] ?? [null, null];
      if (err) throw err;
      if (ask.kind === 'op') {
        const hash = reply as Record<string, string>;
        loaded.set(ask.value, hash && hash.state ? decodeRecord(hash) : null);
        wanted.push({ i: ask.i, by: ask.by, id: ask.value });
      } else if (ask.kind === 'ref') {
        if (typeof reply === 'string') wanted.push({ i: ask.i, by: ask.by, id: reply });
      } else {
        for (const id of reply as string[]) wanted.push({ i: ask.i, by: ask.by, id });
      }
    });
    // Round trip 2: the operations the references and orders led to.
    await this.load(
      wanted.map((w) => w.id),
      loaded,
    );
    const candidates: Candidate[][] = records.map(() => []);
    for (const w of wanted) {
      const op = loaded.get(w.id);
      if (op) candidates[w.i].push({ op, by: w.by });
    }
    const matches: (Match | null)[] = records.map((r, i) => chooseMatch(r, candidates[i], this.gateway));
    // Round trip 3, only for late facts (chargebacks…): the adjustments their operations already have.
    const late = matches.map((m, i) => (m && isLateFact(records[i].kind) ? m : null)).filter((m): m is Match => m !== null);
    if (late.length > 0) {
      const known = await this.adjustmentsOf([...new Set(late.map((m) => m.op.id))]);
      for (const m of late) m.adjustments = known.get(m.op.id) ?? [];
    }
    return matches;
  }

  /** Loads (HGETALL, one pipeline) the ids not in `loaded` yet; missing ones are stored as `null`. */
  private async load(ids: readonly string[], loaded: Map<string, OperationRecord | null>): Promise<void> {
    const todo = [...new Set(ids)].filter((id) => !loaded.has(id));
    if (todo.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const id of todo) pipeline.hgetall(this.opKey(id));
    const replies = (await pipeline.exec()) ?? [];
    todo.forEach((id, n) => {
      const [err, hash] = replies[n] ?? [null, null];
      if (err) throw err;
      const h = hash as Record<string, string>;
      loaded.set(id, h && h.state ? decodeRecord(h) : null);
    });
  }

  /** The adjustments already recorded on each operation (kind and amount). Two pipelined round trips. */
  private async adjustmentsOf(opIds: readonly string[]): Promise<Map<string, KnownAdjustment[]>> {
    const p1 = this.redis.pipeline();
    for (const id of opIds) p1.zrange(`${this.opKey(id)}:adjustments`, 0, -1);
    const lists = (await p1.exec()) ?? [];
    const p2 = this.redis.pipeline();
    const owners: string[] = [];
    opIds.forEach((id, n) => {
      for (const adj of (lists[n]?.[1] as string[] | undefined) ?? []) {
        owners.push(id);
        p2.hmget(`${this.prefix}adj:${adj}`, 'kind', 'amount');
      }
    });
    const out = new Map<string, KnownAdjustment[]>();
    if (owners.length === 0) return out;
    const rows = (await p2.exec()) ?? [];
    owners.forEach((id, n) => {
      const [kind, amount] = (rows[n]?.[1] as (string | null)[] | undefined) ?? [];
      if (!isAdjustmentKind(kind)) return;
      const list = out.get(id) ?? [];
      list.push(amount === null || amount === undefined || amount === '' ? { kind } : { kind, amount: Number(amount) });
      out.set(id, list);
    });
    return out;
  }

  /** How many operations (of every gateway) were created in the window: the end rank of `createdInWindow`, and its start. */
  async windowRanks(window: ReconciliationWindow): Promise<{ start: number; end: number }> {
    const key = `${this.prefix}ops:created`;
    const [start, end] = await Promise.all([this.redis.zcount(key, '-inf', `(${window.from}`), this.redis.zcount(key, '-inf', `(${window.to}`)]);
    return { start, end };
  }

  /**
   * The operations of this gateway among those at ranks [from, to) of the creation index (`windowRanks`)
   * that no PSP line was matched to (not in the run's seen set): the only ones the ledger phase judges.
   * Three round trips per page: the ids, their seen marks, then only the unseen operations, so a window the
   * PSP covered line for line loads (and decodes) nothing more.
   */
  async unseenAtRanks(from: number, to: number, seenKey: string): Promise<OperationRecord[]> {
    if (to <= from) return [];
    const ids = await this.redis.zrange(`${this.prefix}ops:created`, from, to - 1);
    if (ids.length === 0) return [];
    const seen = await this.redis.smismember(seenKey, ...ids);
    const unseen = ids.filter((_id, n) => seen[n] !== 1);
    if (unseen.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of unseen) pipeline.hgetall(this.opKey(id));
    const replies = (await pipeline.exec()) ?? [];
    const out: OperationRecord[] = [];
    unseen.forEach((_id, n) => {
      const h = replies[n]?.[1] as Record<string, string> | undefined;
      if (!h || !h.state || !h.payment) return;
      const op = decodeRecord(h);
      if (op.payment.gateway !== this.gateway) return;
      out.push(op);
    });
    return out;
  }
}
