import { createHash } from 'node:crypto';
import { Result } from 'ioredis';
import { RedisClient } from '../redis/redis-connection';
import { OperationNotFoundError } from '../errors/operation-not-found-error';
import { redact } from '../logging/redact';
import { AdjustmentFact, AdjustmentRecord, AdjustmentSource, MoneyDirection, isAdjustmentKind } from './adjustment';

// KEYS: adjustment hash, the operation's adjustments (sorted set), the operation's history list, the
// adjustments index (sorted set), the operation's hash. ARGV: adjustment id, now (ms), history entry JSON,
// then the adjustment's fields as name, value, name, value…
// Creates the adjustment unless it exists (same gateway and PSP event: a repeat), links it to the
// operation and appends the history entry, all in one step. Returns {1} when created, {0, HGETALL} when
// it already existed, {-1} when the operation does not exist.
const RECORD_LUA = `
if redis.call('EXISTS', KEYS[5]) == 0 then return {-1} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('HGETALL', KEYS[1])} end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return {1}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    pbAdjustmentRecord(
      adjKey: string,
      opAdjKey: string,
      logKey: string,
      indexKey: string,
      opKey: string,
      id: string,
      now: number,
      history: string,
      ...fields: string[]
    ): Result<[number, string[]?], Context>;
  }
}

/** What `recordAdjustment` needs: the fact, whose it is, and where it came from. */
export interface AdjustmentInput extends Omit<AdjustmentFact, 'failsOpenOperation'> {
  /** The operation it is linked to (it must exist). */
  operationId: string;
  /** Configured gateway name the fact came from. */
  gateway: string;
  /** The PSP's id of the notification or reconciliation line: with `gateway`, what makes it unique. */
  pspEventId: string;
  source: AdjustmentSource;
}

/** `adj_<24 hex>`: the same gateway and PSP event id always give the same id (idempotent across crashes). */
export function adjustmentIdFor(gateway: string, pspEventId: string): string {
  return `adj_${createHash('sha256').update(`${gateway}\n${pspEventId}`).digest('hex').slice(0, 24)}`;
}

/**
 * Adjustments in Redis, next to the operation ledger (same prefix P):
 *   P adj:{id}                   hash: the adjustment
 *   P op:{opId}:adjustments      sorted set of the operation's adjustment ids, score = recorded at (ms)
 *   P op:{opId}:interactions     the operation's history, which gets one entry per new adjustment
 *   P adjustments                sorted set of every adjustment id, score = recorded at (ms)
 * Webhooks and reconciliation both record through `recordAdjustment`: one fact, one record, however many
 * times it is reported. The operation's own record and state are never touched.
 */
export class AdjustmentStore {
  constructor(
    private readonly redis: RedisClient,
    /** Key prefix, the ledger's (e.g. `pb:`). */
    private readonly prefix: string,
  ) {
    redis.defineCommand('pbAdjustmentRecord', { numberOfKeys: 5, lua: RECORD_LUA });
  }

  /**
   * Records the adjustment and links it to its operation (with an entry in the operation's history),
   * unless the same gateway already reported the same PSP event.
   * @returns whether it was new, and the adjustment as stored (the first recording's, for a repeat).
   * @throws OperationNotFoundError when the operation does not exist.
   */
  async recordAdjustment(input: AdjustmentInput, now = Date.now()): Promise<{ created: boolean; adjustment: AdjustmentRecord }> {
    const id = adjustmentIdFor(input.gateway, input.pspEventId);
    const adjustment: AdjustmentRecord = {
      id,
      operationId: input.operationId,
      gateway: input.gateway,
      kind: input.kind,
      direction: input.direction,
      pspEventId: input.pspEventId,
      source: input.source,
      recordedAt: now,
      ...(input.amount !== undefined ? { amount: input.amount } : {}),
      ...(input.currency !== undefined ? { currency: input.currency } : {}),
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
      ...(input.pspReference !== undefined ? { pspReference: input.pspReference } : {}),
      ...(input.occurredAt !== undefined ? { occurredAt: input.occurredAt } : {}),
    };
    const fields = toHash(adjustment);
    const history = JSON.stringify({
      ...redact({
        event: 'adjustment',
        adjustment_id: id,
        kind: adjustment.kind,
        direction: adjustment.direction,
        amount: adjustment.amount ?? null,
        currency: adjustment.currency ?? null,
        reason: adjustment.reason ?? null,
        source: adjustment.source,
        psp_event_id: adjustment.pspEventId,
      }),
      at: now,
    });
    const [status, existing] = await this.redis.pbAdjustmentRecord(
      this.adjKey(id),
      this.operationAdjustmentsKey(input.operationId),
      `${this.prefix}op:${input.operationId}:interactions`,
      `${this.prefix}adjustments`,
      `${this.prefix}op:${input.operationId}`,
      id,
      now,
      history,
      ...fields,
    );
    if (status === -1) throw new OperationNotFoundError(`no operation ${input.operationId} for adjustment ${id}`);
    if (status === 1) return { created: true, adjustment };
    return { created: false, adjustment: fromHash(hashFromPairs(existing ?? [])) };
  }

  async get(id: string): Promise<AdjustmentRecord | null> {
    const h = await this.redis.hgetall(this.adjKey(id));
    return h.id ? fromHash(h) : null;
  }

  /** The operation's adjustments, oldest first. */
  async forOperation(operationId: string): Promise<AdjustmentRecord[]> {
    const ids = await this.redis.zrange(this.operationAdjustmentsKey(operationId), 0, -1);
    const found = await Promise.all(ids.map((id) => this.get(id)));
    return found.filter((a): a is AdjustmentRecord => a !== null);
  }

  private adjKey(id: string): string {
    return `${this.prefix}adj:${id}`;
  }

  private operationAdjustmentsKey(operationId: string): string {
    return `${this.prefix}op:${operationId}:adjustments`;
  }
}

function toHash(a: AdjustmentRecord): string[] {
  const out: string[] = [];
  const put = (k: string, v: string | number | undefined) => {
    if (v !== undefined) out.push(k, String(v));
  };
  put('id', a.id);
  put('operation_id', a.operationId);
  put('gateway', a.gateway);
  put('kind', a.kind);
  put('direction', a.direction);
  put('amount', a.amount);
  put('currency', a.currency);
  put('reason', a.reason);
  put('psp_reference', a.pspReference);
  put('psp_event_id', a.pspEventId);
  put('occurred_at', a.occurredAt);
  put('source', a.source);
  put('recorded_at', a.recordedAt);
  return out;
}

function hashFromPairs(pairs: readonly string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) hash[pairs[i]] = pairs[i + 1];
  return hash;
}

function fromHash(h: Record<string, string>): AdjustmentRecord {
  if (!isAdjustmentKind(h.kind)) throw new Error(`adjustment ${h.id} has an unknown kind ${JSON.stringify(h.kind)}`);
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  return {
    id: h.id,
    operationId: h.operation_id,
    gateway: h.gateway,
    kind: h.kind,
    direction: h.direction as MoneyDirection,
    pspEventId: h.psp_event_id,
    source: h.source as AdjustmentSource,
    recordedAt: Number(h.recorded_at),
    ...(h.amount !== undefined ? { amount: num(h.amount) } : {}),
    ...(h.currency !== undefined ? { currency: h.currency } : {}),
    ...(h.reason !== undefined ? { reason: h.reason } : {}),
    ...(h.psp_reference !== undefined ? { pspReference: h.psp_reference } : {}),
    ...(h.occurred_at !== undefined ? { occurredAt: num(h.occurred_at) } : {}),
  };
}
