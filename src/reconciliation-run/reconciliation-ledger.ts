import { ChainableCommander } from 'ioredis';
import { RedisClient } from '../redis/redis-connection';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { isAdjustmentKind } from '../adjustments/adjustment';
import { RECONCILED_LINE_FIELD } from '../adjustments/adjustment-store';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { orderIndexKey, orderKeyPart } from '../ledger/order-index';
import { ShardKeys, shardKeysOf, shardOfOrder } from '../redis/key-layout';
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

/**
 * The same fields of many records of one shard in one command (they share its hash tag, so its slot): a
 * page's candidates cost one EVALSHA per shard instead of one HMGET each (the client's per-command work
 * was most of a run's CPU). Extra keys: the records; rest arguments: the field names.
 */
const READ_RECORDS = new LuaScript(
  luaInputs([], []),
  `
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HMGET', XK(i), unpack(ARGV, A_REST))
end
return out
`,
  true,
);

/** The adjustment fields a late-fact line is compared with (`knownAdjustment` reads them in this order). */
const ADJUSTMENT_FIELDS = ['kind', 'direction', 'amount', 'psp_reference', 'source', 'psp_event_id', RECONCILED_LINE_FIELD, 'occurred_at'] as const;

/** The prefix of a reconciliation adjustment's PSP event id before its line id. */
const LINE_EVENT_PREFIX = 'reconciliation:';

/**
 * The PSP event id of an adjustment reconciliation records from PSP line `lineId`: what makes it idempotent,
 * in a namespace of its own (a webhook's event id of the same gateway can never collide with a line id).
 */
export function lineEventId(lineId: string): string {
  return `${LINE_EVENT_PREFIX}${lineId}`;
}

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

  /**
   * For each record, the ledger operation it is about and how it was tied (`null`: none of this gateway
   * fits). Two rounds of one pipeline per shard, a few commands each whatever the page's size: which shard
   * holds each named id (ZMSCORE on the creation index), the reference entries (MGET: every shard may hold
   * one) and the order indexes; then the fields the classifier reads of every candidate (HMGET of each, one script per shard). A third
   * round only for late facts (their adjustments). `seenKey`: the run's set of operations earlier pages' lines
   * were matched to (a tie between candidates prefers one not in it).
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
      if (r.merchantReference && orderIndexKey(this.prefix, r.merchantReference) !== '')
        orders.push({ i, by: 'merchant_reference', value: r.merchantReference });
    }
    const wanted: Wanted[] = [];
    if (ops.length + refs.length + orders.length > 0) {
      const ids = ops.map((a) => a.value);
      const refKeys = refs.map((a) => `${this.gateway}:${a.value}`);
      // Round trip 1. Reply slots per shard: [ZMSCORE]? [MGET]? then that shard's order ranges.
      const replies = await this.perShard((keys, p) => {
        let n = 0;
        if (ids.length > 0) {
          p.zmscore(keys.created, ...ids);
          n += 1;
        }
        if (refKeys.length > 0) {
          p.mget(...refKeys.map((k) => keys.reference(k)));
          n += 1;
        }
        for (const a of orders) {
          if (shardOfOrder(a.value) !== keys.shard) continue;
          p.zrange(keys.order(orderKeyPart(a.value)), 0, ORDER_CANDIDATES - 1);
          n += 1;
        }
        return n;
      });
      const refSlot = ids.length > 0 ? 1 : 0;
      const orderSlot = refSlot + (refKeys.length > 0 ? 1 : 0);
      const unplaced: Ask[] = [];
      for (let n = 0; n < ops.length; n += 1) {
        let shard = -1;
        for (let s = 0; s < replies.length && shard < 0; s += 1) {
          const scores = replies[s][0] as (string | null)[] | undefined;
          if (scores && scores[n] !== null && scores[n] !== undefined) shard = s;
        }
        if (shard >= 0) wanted.push({ i: ops[n].i, by: ops[n].by, id: ops[n].value, shard });
        else unplaced.push(ops[n]);
      }
      // Not in any creation index (rare: a record written outside `create`): asked of every shard, one at a time.
      for (const a of unplaced) {
        const shard = await this.ledger.shardOf(a.value, true);
        if (shard !== null) wanted.push({ i: a.i, by: a.by, id: a.value, shard });
      }
      for (let n = 0; n < refs.length; n += 1) {
        // Two shards may hold one reference (an operation of another anchor took it over): both are candidates.
        for (let s = 0; s < replies.length; s += 1) {
          const held = (replies[s][refSlot] as (string | null)[] | undefined)?.[n];
          if (typeof held === 'string') wanted.push({ i: refs[n].i, by: refs[n].by, id: held, shard: s });
        }
      }
      const nextOrder = this.shards.map(() => orderSlot);
      for (const a of orders) {
        const shard = shardOfOrder(a.value);
        for (const id of replies[shard][nextOrder[shard]++] as string[]) wanted.push({ i: a.i, by: a.by, id, shard });
      }
    }
    // Round trip 2: the operations the ids, references and orders led to.
    const loaded = await this.load(wanted);
    const candidates: Candidate[][] = records.map(() => []);
    for (const w of wanted) {
      const op = loaded[w.shard].get(w.id);
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
    const op = shard === null ? undefined : (await this.load([{ i: 0, by: match.by, id: match.op.id, shard }]))[shard].get(match.op.id);
    return { ...match, ...(op ? { op } : {}), adjustments: known.get(match.op.id) ?? [], adjustmentsRead: counts.get(match.op.id) ?? 0 };
  }

  /** The whole record of a matched operation (the runner's rare actions need more than the classifier's fields). */
  async record(id: string): Promise<OperationRecord | null> {
    return this.ledger.get(id);
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

  /** Reads the classifier's fields (HMGET, one pipeline per shard) of each wanted id, once; per shard, id → operation (absent ones left out). */
  private async load(wanted: readonly Wanted[]): Promise<Map<string, ReconciledOperation>[]> {
    const groups: string[][] = this.shards.map(() => []);
    const queued = this.shards.map(() => new Set<string>());
    for (const w of wanted) {
      if (queued[w.shard].has(w.id)) continue;
      queued[w.shard].add(w.id);
      groups[w.shard].push(w.id);
    }
    const out = this.shards.map(() => new Map<string, ReconciledOperation>());
    if (wanted.length === 0) return out;
    await Promise.all(
      groups.map(async (group, shard) => {
        if (group.length === 0) return;
        const keys = this.shards[shard];
        const rows = (await READ_RECORDS.run(
          this.redis,
          { keys: {}, args: {} },
          FIELD_NAMES,
          group.map((id) => keys.op(id)),
        )) as (string | null)[][];
        group.forEach((id, n) => {
          const op = decodeFields(RECONCILED_FIELDS, rows[n] ?? []);
          if (op && op.payment) out[shard].set(id, op);
        });
      }),
    );
    return out;
  }

  /**
   * The adjustments already recorded on each operation (`knownAdjustment`), and how many ids each operation's
   * set held (the unreadable included: what the record step compares with). Two rounds of per-shard pipelines.
   */
  private async adjustmentsOf(opIds: readonly string[]): Promise<{ known: Map<string, KnownAdjustment[]>; counts: Map<string, number> }> {
    const groups = await this.grouped(opIds);
    const lists = await this.perShard((keys, p) => {
      for (const id of groups[keys.shard]) p.zrange(keys.operationAdjustments(id), 0, -1);
      return groups[keys.shard].length;
    });
    const owners: { id: string; adj: string }[][] = this.shards.map(() => []);
    const counts = new Map<string, number>();
    groups.forEach((group, shard) =>
      group.forEach((id, n) => {
        const ids = (lists[shard][n] as string[] | undefined) ?? [];
        counts.set(id, ids.length);
        for (const adj of ids) owners[shard].push({ id, adj });
      }),
    );
    const out = new Map<string, KnownAdjustment[]>();
    if (owners.every((o) => o.length === 0)) return { known: out, counts };
    const rows = await this.perShard((keys, p) => {
      for (const o of owners[keys.shard]) p.hmget(keys.adjustment(o.adj), ...ADJUSTMENT_FIELDS);
      return owners[keys.shard].length;
    });
    owners.forEach((list, shard) =>
      list.forEach(({ id, adj }, n) => {
        const known = knownAdjustment(adj, (rows[shard][n] as (string | null)[] | undefined) ?? []);
        if (known) out.set(id, [...(out.get(id) ?? []), known]);
      }),
    );
    return { known: out, counts };
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
  async unseenAtRanks(from: number, to: number, seenKey: string): Promise<ReconciledOperation[]> {
    if (to <= from) return [];
    const out: ReconciledOperation[] = [];
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
      const rows = (await READ_RECORDS.run(
        this.redis,
        { keys: {}, args: {} },
        FIELD_NAMES,
        unseen.map((id) => keys.op(id)),
      )) as (string | null)[][];
      unseen.forEach((id, n) => {
        const op = decodeFields(RECONCILED_FIELDS, rows[n] ?? []);
        if (!op || !op.payment) return;
        if (gatewayOf(op) !== this.gateway) return;
        this.ledger.remember(id, range.shard);
        out.push(op);
      });
    }
    return out;
  }
}
