import { ChainableCommander } from 'ioredis';
import { RedisClient } from '../redis/redis-connection';
import { isAdjustmentKind } from '../adjustments/adjustment';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { orderIndexKey, orderKeyPart } from '../ledger/order-index';
import { ShardKeys, shardKeysOf, shardOfOrder } from '../redis/key-layout';
import { decodeRecord } from '../ledger/record-fields';
import { gatewayOf } from '../ledger/routing-record';
import { Candidate, KnownAdjustment, Match, chooseMatch, isLateFact } from '../reconciliation/classifier';
import type { PspRecord, ReconciliationWindow } from '../reconciliation/psp-record';

/** Operations of an order considered for a merchant-reference match (an order has a handful). */
const ORDER_CANDIDATES = 20;

/** One shard's part of a reconciliation window: its creation index ranks [start, end). */
interface ShardRange {
  shard: number;
  start: number;
  end: number;
}

/**
 * The ledger as reconciliation reads it, a page at a time and never on the hot path: the operations a page
 * of PSP lines names (by operation id, the PSP reference index `S ref:<gateway>:<reference>`, the order
 * index `S order:<order_id>`), in a few rounds of one pipeline per ledger shard (src/redis/key-layout.ts: a
 * pipeline's keys share a slot, as Redis Cluster wants); and the operations created in a window (each
 * shard's `S ops:created`, by rank: bounded pages, constant memory, no SCAN of the keyspace).
 */
export class ReconciliationLedger {
  private readonly shards: readonly ShardKeys[];
  private readonly ledger: Ledger;
  /** Each shard's ranks of the window `windowRanks` read last (the ledger phase pages through them). */
  private ranges: ShardRange[] = [];

  constructor(
    private readonly redis: RedisClient,
    /** The ledger's key prefix. */
    readonly prefix: string,
    /** The configured gateway the operations were sent to (`gatewayOf`: routed, else `payment.gateway`). */
    readonly gateway: string,
  ) {
    this.shards = shardKeysOf(prefix);
    this.ledger = new Ledger(redis, prefix);
  }

  /**
   * Runs `add` for each shard with that shard's pipeline (skipped when it queued nothing), all sent
   * together; returns each shard's replies (`[]` for a skipped one).
   */
  private async perShard(add: (keys: ShardKeys, pipeline: ChainableCommander) => number): Promise<unknown[][]> {
    return Promise.all(
      this.shards.map(async (keys) => {
        const pipeline = this.redis.pipeline();
        if (add(keys, pipeline) === 0) return [];
        return ((await pipeline.exec()) ?? []).map(([err, reply]) => {
          if (err) throw err;
          return reply;
        });
      }),
    );
  }

  /** For each record, the ledger operation it is about and how it was tied (`null`: none of this gateway fits). */
  async matchPage(records: readonly PspRecord[]): Promise<(Match | null)[]> {
    const loaded = new Map<string, OperationRecord | null>();
    type Ask = { i: number; by: Candidate['by']; value: string };
    const ops: Ask[] = [];
    const refs: Ask[] = [];
    const orders: Ask[] = [];
    records.forEach((r, i) => {
      if (r.kind === 'other') return;
      if (r.operationId) ops.push({ i, by: 'operation_id', value: r.operationId });
      if (r.modificationReference) refs.push({ i, by: 'modification_reference', value: r.modificationReference });
      if (r.pspReference) refs.push({ i, by: 'psp_reference', value: r.pspReference });
      if (r.merchantReference && orderIndexKey(this.prefix, r.merchantReference) !== '')
        orders.push({ i, by: 'merchant_reference', value: r.merchantReference });
    });
    const wanted: { i: number; by: Candidate['by']; id: string }[] = [];
    if (ops.length + refs.length + orders.length > 0) {
      // Round trip 1: operations named by id (which shard holds them), reference entries (every shard may),
      // order indexes (in the order's shard).
      const replies = await this.perShard((keys, p) => {
        for (const a of ops) p.exists(keys.op(a.value));
        for (const a of refs) p.get(keys.reference(`${this.gateway}:${a.value}`));
        let n = ops.length + refs.length;
        for (const a of orders) {
          if (shardOfOrder(a.value) !== keys.shard) continue;
          p.zrange(keys.order(orderKeyPart(a.value)), 0, ORDER_CANDIDATES - 1);
          n += 1;
        }
        return n;
      });
      ops.forEach((a, n) => {
        const shard = replies.findIndex((r) => r[n] === 1);
        if (shard >= 0) this.ledger.remember(a.value, shard);
        else loaded.set(a.value, null);
        wanted.push({ i: a.i, by: a.by, id: a.value });
      });
      refs.forEach((a, n) => {
        const holders = replies.flatMap((r, shard) => (typeof r[ops.length + n] === 'string' ? [{ id: r[ops.length + n] as string, shard }] : []));
        // Two shards may hold one reference (an operation of another anchor took it over): both are candidates.
        for (const h of holders) {
          this.ledger.remember(h.id, h.shard);
          wanted.push({ i: a.i, by: a.by, id: h.id });
        }
      });
      const seenInShard = this.shards.map(() => ops.length + refs.length);
      for (const a of orders) {
        const shard = shardOfOrder(a.value);
        for (const id of replies[shard][seenInShard[shard]++] as string[]) {
          this.ledger.remember(id, shard);
          wanted.push({ i: a.i, by: a.by, id });
        }
      }
    }
    // Round trip 2: the operations the ids, references and orders led to.
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

  /** `ids` grouped by the shard the ledger knows them in (round trip 1 taught it); unknown ones are left out. */
  private async grouped(ids: readonly string[]): Promise<string[][]> {
    const groups: string[][] = this.shards.map(() => []);
    for (const id of ids) {
      const shard = await this.ledger.shardOf(id);
      if (shard !== null) groups[shard].push(id);
    }
    return groups;
  }

  /** Loads (HGETALL, one pipeline per shard) the ids not in `loaded` yet; missing ones are stored as `null`. */
  private async load(ids: readonly string[], loaded: Map<string, OperationRecord | null>): Promise<void> {
    const todo = [...new Set(ids)].filter((id) => !loaded.has(id));
    if (todo.length === 0) return;
    for (const id of todo) loaded.set(id, null);
    const groups = await this.grouped(todo);
    const replies = await this.perShard((keys, p) => {
      for (const id of groups[keys.shard]) p.hgetall(keys.op(id));
      return groups[keys.shard].length;
    });
    groups.forEach((group, shard) =>
      group.forEach((id, n) => {
        const h = replies[shard][n] as Record<string, string>;
        loaded.set(id, h && h.state ? decodeRecord(h) : null);
      }),
    );
  }

  /** The adjustments already recorded on each operation (kind and amount). Two rounds of per-shard pipelines. */
  private async adjustmentsOf(opIds: readonly string[]): Promise<Map<string, KnownAdjustment[]>> {
    const groups = await this.grouped(opIds);
    const lists = await this.perShard((keys, p) => {
      for (const id of groups[keys.shard]) p.zrange(keys.operationAdjustments(id), 0, -1);
      return groups[keys.shard].length;
    });
    const owners: { id: string; adj: string }[][] = this.shards.map(() => []);
    groups.forEach((group, shard) =>
      group.forEach((id, n) => {
        for (const adj of (lists[shard][n] as string[] | undefined) ?? []) owners[shard].push({ id, adj });
      }),
    );
    const out = new Map<string, KnownAdjustment[]>();
    if (owners.every((o) => o.length === 0)) return out;
    const rows = await this.perShard((keys, p) => {
      for (const o of owners[keys.shard]) p.hmget(keys.adjustment(o.adj), 'kind', 'amount');
      return owners[keys.shard].length;
    });
    owners.forEach((list, shard) =>
      list.forEach(({ id }, n) => {
        const [kind, amount] = (rows[shard][n] as (string | null)[] | undefined) ?? [];
        if (!isAdjustmentKind(kind)) return;
        const known = out.get(id) ?? [];
        known.push(amount === null || amount === undefined || amount === '' ? { kind } : { kind, amount: Number(amount) });
        out.set(id, known);
      }),
    );
    return out;
  }

  /**
   * How many operations (of every gateway) were created in the window, as ranks [start, end) of the
   * shards' creation indexes laid end to end (shard 0's part first): `createdAtRanks` pages through them.
   */
  async windowRanks(window: ReconciliationWindow): Promise<{ start: number; end: number }> {
    const counts = await Promise.all(
      this.shards.map(async (keys) => {
        const [start, end] = await Promise.all([
          this.redis.zcount(keys.created, '-inf', `(${window.from}`),
          this.redis.zcount(keys.created, '-inf', `(${window.to}`),
        ]);
        return { shard: keys.shard, start, end };
      }),
    );
    this.ranges = counts;
    return { start: 0, end: counts.reduce((sum, r) => sum + (r.end - r.start), 0) };
  }

  /**
   * The operations of this gateway among those at ranks [from, to) of the window `windowRanks` read that no
   * PSP line was matched to (not in the run's seen set): the only ones the ledger phase judges. Per shard
   * the page touches: the ids, their seen marks, then only the unseen operations, so a window the PSP
   * covered line for line loads (and decodes) nothing more.
   */
  async unseenAtRanks(from: number, to: number, seenKey: string): Promise<OperationRecord[]> {
    if (to <= from) return [];
    const out: OperationRecord[] = [];
    let offset = 0;
    for (const range of this.ranges) {
      const size = range.end - range.start;
      const lo = Math.max(from, offset);
      const hi = Math.min(to, offset + size);
      offset += size;
      if (hi <= lo) continue;
      const keys = this.shards[range.shard];
      const ids = await this.redis.zrange(keys.created, range.start + (lo - (offset - size)), range.start + (hi - (offset - size)) - 1);
      if (ids.length === 0) continue;
      const seen = await this.redis.smismember(seenKey, ...ids);
      const unseen = ids.filter((_id, n) => seen[n] !== 1);
      if (unseen.length === 0) continue;
      const pipeline = this.redis.pipeline();
      for (const id of unseen) pipeline.hgetall(keys.op(id));
      const replies = (await pipeline.exec()) ?? [];
      unseen.forEach((id, n) => {
        const h = replies[n]?.[1] as Record<string, string> | undefined;
        if (!h || !h.state || !h.payment) return;
        const op = decodeRecord(h);
        if (gatewayOf(op) !== this.gateway) return;
        this.ledger.remember(id, range.shard);
        out.push(op);
      });
    }
    return out;
  }
}
