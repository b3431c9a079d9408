import { RedisClient } from './redis-connection';
import { firstExisting } from './shard-probe';

/**
 * The ledger's key layout, for Redis Cluster as well as a single Redis (docs/ARCHITECTURE.md, "Key layout").
 *
 * The ledger is split into SHARD_COUNT shards. Every key of shard n starts with `<prefix>{s:<n>}:`; the
 * part in braces is the key's hash tag, so Redis Cluster puts every key of a shard in one slot, and a Lua
 * script or a multi-key command over one shard's keys is legal there. On a single Redis the braces are
 * just characters.
 *
 * An operation lives in the shard of its payment's anchor: the order id, else the gateway key (the same
 * thing that groups its events into one payment, see `paymentKeyOf`). So an order's authorization, its
 * captures, refunds and cancels, their state and outbox indexes, their events and the payment's sequence
 * counters share a slot, and the scripts that cross operations of one order (an outcome closing its
 * authorization, a capture reading it, retention checking the order) stay single-slot.
 *
 * Per shard S = `<prefix>{s:<n>}:`:
 *   S op:<id>                 hash: the record (plus `:interactions` list, `:dependents` set, `:adjustments` zset,
 *                             `:waiters` set: the dependents waiting for it to move, expiring)
 *   S ops:state:<STATE>       zset of ids in the state; S ops:created, S ops:settling
 *   S auths:expiry, S auths:open   authorization lifecycle indexes
 *   S order:<order>           zset: the order's operation ids
 *   S ref:<gateway>:<ref>     string: PSP reference → operation id (as long as its record; deleted with it by retention)
 *   S event:<event id>        hash: an outbox event (plus `:sending` lease); S events:unsent
 *   S payment:<key>:seq|sent  the payment's event sequence counters
 *   S adj:<id>, S adjustments adjustments and their index
 *   S recaptures:held         zset: captures holding a re-capture that arrived before the failure it follows, not
 *                             surfaced yet; S recaptures:surfaced: those surfaced past their wait, still waiting
 *   S retention:hold          zset: operations kept from retention
 *   S claim:<id>              string: which shard holds operation <id> (90 days), in the shard of the id itself
 *                             (not of its payment), so one id under two payments is refused as a conflict; or
 *                             which split tender record holds <id> as a split's or split refund's own reference
 *   S events:rejected         zset: events the bus refused for their content, set aside
 *   S events:dismissed        zset: set-aside events an operator dismissed for good (out of events:rejected)
 *   S events:operationless_done  zset: events of no operation delivered or set aside, by when (retention's clock)
 *   S parked:<gateway>:<ref>  hash: webhook outcomes of a modification no operation held the PSP reference of yet, by
 *                             event id (expiring), in the shard of `<gateway>:<ref>` itself (webhooks/parked-outcomes.ts)
 *   S replica-probe           string (expiring): a write made before a WAIT on the shard's node (`redis.replica_acks`)
 *   S issued-token:<hmac>     string (expiring): a card-like stored token the bridge handed the OMS → its gateway, by the
 *                             token's keyed digest, in the shard of the digest itself (ledger/issued-tokens.ts)
 *   S extra-hold-checks       zset: authorizes whose own SUCCESS came after an unproven attempt, by when their follow-up
 *                             search is due (delivery/extra-hold-check.ts)
 * Sweeps (recovery, poller, retention, export, reconciliation, console counts) read every shard.
 *
 * The shard count is part of the data's layout: changing it moves every operation to another key, so it
 * is a constant, not configuration; data moves between layouts by `payment-bridge export` then `import`
 * (docs/DATA.md).
 */
export const SHARD_COUNT = 16;

/** Every shard number, 0 … SHARD_COUNT-1. */
export const ALL_SHARDS: readonly number[] = Array.from({ length: SHARD_COUNT }, (_, i) => i);

/** The shard of an anchor string: FNV-1a (32 bit) of its UTF-8 bytes, modulo SHARD_COUNT. Stable across releases. */
export function shardOfAnchor(anchor: string): number {
  // The UTF-8 bytes are produced here, as Buffer.from(anchor, 'utf8') would (a lone surrogate as U+FFFD),
  // without allocating a Buffer and its iterator on every command.
  let h = 0x811c9dc5;
  for (let i = 0; i < anchor.length; i += 1) {
    let c = anchor.charCodeAt(i);
    if (c < 0x80) {
      h = fnv(h, c);
      continue;
    }
    if (c < 0x800) {
      h = fnv(fnv(h, 0xc0 | (c >> 6)), 0x80 | (c & 0x3f));
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < anchor.length ? anchor.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const point = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i += 1;
        h = fnv(fnv(fnv(fnv(h, 0xf0 | (point >> 18)), 0x80 | ((point >> 12) & 0x3f)), 0x80 | ((point >> 6) & 0x3f)), 0x80 | (point & 0x3f));
        continue;
      }
      c = 0xfffd;
    }
    h = fnv(fnv(fnv(h, 0xe0 | (c >> 12)), 0x80 | ((c >> 6) & 0x3f)), 0x80 | (c & 0x3f));
  }
  return h % SHARD_COUNT;
}

/** One FNV-1a (32 bit) step: `h` with `byte` folded in. */
function fnv(h: number, byte: number): number {
  return Math.imul(h ^ byte, 0x01000193) >>> 0;
}

/** The shard of an operation (or event) of this payment: its order id, else its gateway key. */
export function shardOfPayment(payment: { order_id?: string; gateway_key: string }): number {
  return shardOfAnchor(payment.order_id !== undefined && payment.order_id !== '' ? payment.order_id : payment.gateway_key);
}

/** The shard of an order's index (`S order:<order>`): the same as its operations'. */
export function shardOfOrder(orderId: string): number {
  return shardOfAnchor(orderId);
}

/** `<prefix>{s:<n>}:`: what every key of shard `shard` starts with. */
export function shardBase(prefix: string, shard: number): string {
  if (!Number.isInteger(shard) || shard < 0 || shard >= SHARD_COUNT) throw new Error(`shard ${shard} is not in 0..${SHARD_COUNT - 1}`);
  return `${prefix}{s:${shard}}:`;
}

/**
 * The keys of one shard, by family (the list above). Every module that reads or writes the ledger's keys
 * names them through this class, so the layout is spelled in one place.
 */
export class ShardKeys {
  /** `<prefix>{s:<n>}:` */
  readonly base: string;

  constructor(
    readonly prefix: string,
    readonly shard: number,
  ) {
    this.base = shardBase(prefix, shard);
  }

  /** Hash: the record. */
  op(id: string): string {
    return `${this.base}op:${id}`;
  }
  /**
   * String (expiring): which shard holds operation `id` (`Ledger.create`), in the shard of the id itself
   * (`shardOfAnchor(id)`), not of its payment: the one place two commands with one id and different payments meet.
   * A split tender's or split refund's id is claimed here too, by its split's record (`SplitTenderStore`).
   */
  idClaim(id: string): string {
    return `${this.base}claim:${id}`;
  }
  /**
   * String (expiring): the gateway of a stored token that reads as a card number and that the bridge handed the OMS,
   * by `digest`, the token's keyed digest (never the token), in the shard of the digest itself (`issuedTokenKeyOf`).
   */
  issuedToken(digest: string): string {
    return `${this.base}issued-token:${digest}`;
  }
  /** List: the redacted history. */
  history(id: string): string {
    return `${this.base}op:${id}:interactions`;
  }
  /** Set: the captures, refunds… acting on an authorization. */
  dependents(id: string): string {
    return `${this.base}op:${id}:dependents`;
  }
  /**
   * Set (expiring): the captures, cancels, refunds… waiting for this authorization to leave the state they saw
   * (`Ledger.waitFor`), woken when it moves (`Ledger.takeWaiters`).
   */
  waiters(id: string): string {
    return `${this.base}op:${id}:waiters`;
  }
  /** Sorted set: the operation's adjustment ids by recording time. */
  operationAdjustments(id: string): string {
    return `${this.base}op:${id}:adjustments`;
  }
  /** Sorted set: ids in `state`. */
  state(state: string): string {
    return `${this.base}ops:state:${state}`;
  }
  get created(): string {
    return `${this.base}ops:created`;
  }
  get settling(): string {
    return `${this.base}ops:settling`;
  }
  get authsExpiry(): string {
    return `${this.base}auths:expiry`;
  }
  get authsOpen(): string {
    return `${this.base}auths:open`;
  }
  /** Sorted set: the order's operation ids (`orderKeyPart` spells the order part). */
  order(orderPart: string): string {
    return `${this.base}order:${orderPart}`;
  }
  /** String: PSP reference → operation id (`<gateway>:<reference>`). */
  reference(gatewayAndReference: string): string {
    return `${this.base}ref:${gatewayAndReference}`;
  }
  /**
   * Hash (expiring): webhook outcomes about PSP reference `<gateway>:<reference>` that no operation held when they
   * came, by event id (`ParkedOutcomes`); in the shard of `<gateway>:<reference>` itself (`shardOfAnchor`), which the
   * webhook and the answer indexing the reference later both know.
   */
  parkedOutcomes(gatewayAndReference: string): string {
    return `${this.base}parked:${gatewayAndReference}`;
  }
  /** Hash: an adjustment. */
  adjustment(id: string): string {
    return `${this.base}adj:${id}`;
  }
  get adjustments(): string {
    return `${this.base}adjustments`;
  }
  /** Hash: an outbox event. */
  event(eventId: string): string {
    return `${this.base}event:${eventId}`;
  }
  /** String (expiring): an event's send lease. */
  eventLease(eventId: string): string {
    return `${this.base}event:${eventId}:sending`;
  }
  get unsentEvents(): string {
    return `${this.base}events:unsent`;
  }
  /** Sorted set: events the bus refused for their content, set aside (score = when, ms). */
  get rejectedEvents(): string {
    return `${this.base}events:rejected`;
  }
  /**
   * Sorted set: set-aside events an operator dismissed for good (`EventStore.dismiss`; score = when, ms): what
   * `ops events rejected --dismissed` lists. Who, when and why are on the event's hash.
   */
  get dismissedEvents(): string {
    return `${this.base}events:dismissed`;
  }
  /**
   * Sorted set: idempotency-conflict events delivered to the bus (`EventStore.markSent`; score = when, ms), which no
   * other index names once delivered: retention expires them with their operation, erasure scrubs them
   * (`EventStore.conflictEventsOf`).
   */
  get deliveredConflictEvents(): string {
    return `${this.base}events:conflicts_delivered`;
  }
  /**
   * Sorted set: outbox events that belong to no operation (src/events/operationless-events.ts) that left the unsent
   * index, delivered or set aside (`EventStore.markSent`, `setAside`; score = when, ms): retention's own clock for them,
   * as nothing else would ever delete them (`EventStore.operationlessEventsBefore`).
   */
  get operationlessEvents(): string {
    return `${this.base}events:operationless_done`;
  }
  paymentSequence(paymentKey: string): string {
    return `${this.base}payment:${paymentKey}:seq`;
  }
  paymentSent(paymentKey: string): string {
    return `${this.base}payment:${paymentKey}:sent`;
  }
  /**
   * Sorted set: captures and sales holding a PSP re-capture that arrived before the capture failure it follows
   * (`AdjustmentStore.holdRecapture`; score = when first held, ms), until that re-capture is reported, dismissed or
   * surfaced (then in `surfacedRecaptures`; one an earlier release surfaced here moves there at the wait's next read).
   */
  get heldRecaptures(): string {
    return `${this.base}recaptures:held`;
  }
  /**
   * Sorted set: the entries of `heldRecaptures` surfaced to operators past their wait (`AdjustmentStore.surfaceHeldRecapture`
   * moves them here, same score), still waiting for their failure: kept apart so the wait's due read never re-reads them.
   */
  get surfacedRecaptures(): string {
    return `${this.base}recaptures:surfaced`;
  }
  /**
   * Sorted set: authorizes whose own SUCCESS came after an unproven earlier attempt, by when their follow-up search is
   * due (ms; `ExtraHoldChecks`, delivery/extra-hold-check.ts), until that search ran.
   */
  get extraHoldChecks(): string {
    return `${this.base}extra-hold-checks`;
  }
  /**
   * Sorted set: captures and refunds recorded FAILED whose PSP retries them itself (`held_for_psp_retry`: Adyen's
   * technical CAPTURE_FAILED or REFUND_FAILED), their amount held (score = when first held, ms), until the PSP's retry
   * marks them done (`succeeded_after_failure`): what `pb_held_for_psp_retry_overdue` and `ops held-retries list` read.
   */
  get heldForPspRetry(): string {
    return `${this.base}held:psp-retry`;
  }
  /** Sorted set: operations kept out of retention's expiry (score = when held, ms). */
  get retentionHold(): string {
    return `${this.base}retention:hold`;
  }
  /**
   * String (expiring, a minute): written before a `WAIT` on this shard's node (`ReplicaProbe`, with
   * `redis.replica_acks`), so the wait covers what other connections wrote there too. Its value means nothing.
   */
  get replicaProbe(): string {
    return `${this.base}replica-probe`;
  }
}

/**
 * The claim on operation reference `id` under `prefix` (`ShardKeys.idClaim`, in the shard of the id itself): where
 * the ledger's operations, and the split tender's splits and refunds, which are no operations, claim their ids.
 */
export function idClaimKeyOf(prefix: string, id: string): string {
  return shardKeysOf(prefix)[shardOfAnchor(id)].idClaim(id);
}

/** The issued-token index entry of a token's keyed digest `digest` under `prefix` (`ShardKeys.issuedToken`, in the digest's own shard). */
export function issuedTokenKeyOf(prefix: string, digest: string): string {
  return shardKeysOf(prefix)[shardOfAnchor(digest)].issuedToken(digest);
}

/**
 * The claim on split refund id `refundId` under `prefix` (`SplitTenderStore.claimRefundId`), in the refund id's own
 * slot: which split and amount it refunds.
 */
export function splitRefundClaimKey(prefix: string, refundId: string): string {
  return `${prefix}split-refund:{${refundId}}`;
}

/** The keys of every shard, built once per prefix (shard-keyed lookups on every command). */
const byPrefix = new Map<string, readonly ShardKeys[]>();

/** `ShardKeys` for each shard of `prefix`, index = shard number. */
export function shardKeysOf(prefix: string): readonly ShardKeys[] {
  let all = byPrefix.get(prefix);
  if (!all) {
    all = ALL_SHARDS.map((n) => new ShardKeys(prefix, n));
    if (byPrefix.size > 1000) byPrefix.clear();
    byPrefix.set(prefix, all);
  }
  return all;
}

/**
 * Remembers which shard an id (operation or event) lives in, for the callers that only know the id: a
 * bounded memo that keeps the most recent ids. Filled by whatever learns the shard (creation, a sweep, a
 * lookup). A forgotten id costs one round trip that asks every shard (`Ledger.shardOf`), nothing else.
 *
 * Two generations of half the capacity each, the older dropped whole when the newer fills: O(1) per call.
 * One Map evicting its oldest entry cost ~3 µs a call, because V8 leaves a deleted entry's slot in place until
 * the next rehash and `keys().next()` walks every one of them (profiled at ~1 % of a worker's CPU).
 */
export class ShardMemo {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private readonly generation: number;

  /**
   * @param capacity ids kept at most, default 4 096 (at least the newest half of it are always kept): four
   * times a worker's largest in-flight limit (`inflight.max` 512), so a command's own steps (create,
   * outcome, event, sent mark) find their shard here. Each process keeps three memos (operations, events,
   * payments) of ~100 bytes per id; at 20 000 ids each they held ~5 MiB of a long-lived worker's live heap,
   * which V8's growth factor turned into ~8 MiB of RSS.
   */
  constructor(capacity = 4_096) {
    this.generation = Math.max(1, Math.floor(capacity / 2));
  }

  /** Ids remembered now (at most the capacity). */
  get size(): number {
    let size = this.current.size;
    for (const id of this.previous.keys()) if (!this.current.has(id)) size++;
    return size;
  }

  get(id: string): number | undefined {
    const shard = this.current.get(id);
    return shard !== undefined ? shard : this.previous.get(id);
  }

  set(id: string, shard: number): void {
    if (this.current.get(id) === shard) return;
    this.current.set(id, shard);
    if (this.current.size >= this.generation) {
      this.previous = this.current;
      this.current = new Map();
    }
  }
}

/** Memos per key prefix and kind of id, shared by the ledgers and outboxes of one process. */
const memos = new Map<string, ShardMemo>();

/** The memo of `prefix`'s `kind` of ids (operations, events, payments). */
export function shardMemoOf(prefix: string, kind: 'operations' | 'events' | 'payments'): ShardMemo {
  const name = `${kind}\u0000${prefix}`;
  let memo = memos.get(name);
  if (!memo) {
    if (memos.size > 3000) memos.clear();
    memo = new ShardMemo();
    memos.set(name, memo);
  }
  return memo;
}

/**
 * The shard whose key for `id` (`keyOf`) exists, every shard asked at once (`firstExisting`), noted in `memo`
 * when found; -1 when no shard holds it. What every lookup of an id whose shard the memo does not know ends in.
 */
export async function probeShard(
  redis: RedisClient,
  shards: readonly ShardKeys[],
  keyOf: (keys: ShardKeys) => string,
  memo: ShardMemo,
  id: string,
): Promise<number> {
  const shard = await firstExisting(redis, shards.map(keyOf));
  if (shard >= 0) memo.set(id, shard);
  return shard;
}

/**
 * The shard operation `id` lives in under `prefix`: the process' memo, else every shard asked at once (one
 * round trip). `null`: no such operation. For the ledger's neighbours that name an operation by id alone
 * (the adjustment store); the ledger itself has `Ledger.shardOf`.
 */
export async function shardOfOperation(redis: RedisClient, prefix: string, id: string): Promise<number | null> {
  const memo = shardMemoOf(prefix, 'operations');
  const known = memo.get(id);
  const keys = shardKeysOf(prefix);
  if (known !== undefined && (await redis.exists(keys[known].op(id))) === 1) return known;
  const shard = await probeShard(redis, keys, (k) => k.op(id), memo, id);
  return shard < 0 ? null : shard;
}
