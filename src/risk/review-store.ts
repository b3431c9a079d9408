import { RedisClient } from '../redis/redis-connection';
import { LuaScript, luaInputs } from '../redis/lua-script';

/** Where a review hold stands. */
export type ReviewState = 'held' | 'released' | 'declined' | 'expired';

/** An authorization held for review by the risk rules (no card data: the rule, signal names, times). */
export interface ReviewHold {
  operationId: string;
  state: ReviewState;
  /** Epoch ms when the hold is voided if no operator released it. */
  deadline: number;
  rule: string;
  /** Signal names, space-separated. */
  signals: string;
  createdAt: number;
  /** Who released it (the ops CLI's or the console's actor), when released. */
  releasedBy?: string;
  /** Who declined it (the ops CLI's or the console's actor), when declined. */
  declinedBy?: string;
}

/** Creates the hold unless one exists (then returns it): HSETNX-like on the whole hash, and the deadline index. */
const HOLD = new LuaScript(
  luaInputs(['review', 'due'], ['id', 'deadline', 'rule', 'signals', 'now', 'ttl_ms']),
  `
if redis.call('EXISTS', K.review) == 0 then
  redis.call('HSET', K.review, 'state', 'held', 'deadline', A.deadline, 'rule', A.rule, 'signals', A.signals, 'created_at', A.now)
  redis.call('PEXPIRE', K.review, A.ttl_ms)
  redis.call('ZADD', K.due, A.deadline, A.id)
end
return redis.call('HGETALL', K.review)
`,
);

/**
 * Moves a held review to `to` (released, declined or expired), writing `actor` to `actor_field` when given;
 * anything not held is left alone. Returns the state it had.
 */
const SETTLE = new LuaScript(
  luaInputs(['review', 'due'], ['id', 'to', 'actor', 'actor_field']),
  `
local state = redis.call('HGET', K.review, 'state')
if state ~= 'held' then return state or '' end
redis.call('HSET', K.review, 'state', A.to)
if A.actor ~= '' then redis.call('HSET', K.review, A.actor_field, A.actor) end
redis.call('ZREM', K.due, A.id)
return 'held'
`,
);

/**
 * Review holds in Redis: one hash per held operation and an index of the held ones by deadline (for the
 * poller's automatic void). All keys share the hash tag `{risk:review}` (the scripts touch a hold and the
 * index at once). Kept 30 days past creation for the record; the operation's history has the decision.
 */
export class ReviewStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return `${this.prefix}{risk:review}:op:${id}`;
  }

  private get dueKey(): string {
    return `${this.prefix}{risk:review}:due`;
  }

  /** Holds `id` for review until `deadline` (once: an existing hold is returned as it is). */
  async hold(id: string, deadline: number, rule: string, signals: string, now = Date.now()): Promise<ReviewHold> {
    const flat = (await HOLD.run(this.redis, {
      keys: { review: this.key(id), due: this.dueKey },
      args: { id, deadline, rule, signals, now, ttl_ms: Math.max(deadline - now, 0) + 30 * 86400 * 1000 },
    })) as string[];
    return decode(id, flat)!;
  }

  async get(id: string): Promise<ReviewHold | null> {
    const hash = await this.redis.hgetall(this.key(id));
    return hash.state ? decode(id, Object.entries(hash).flat()) : null;
  }

  /** An operator's release. @returns the state before (`held` when this call released it; '' when no hold). */
  async release(id: string, actor: string): Promise<ReviewState | ''> {
    return (await SETTLE.run(this.redis, {
      keys: { review: this.key(id), due: this.dueKey },
      args: { id, to: 'released', actor, actor_field: 'released_by' },
    })) as ReviewState | '';
  }

  /** An operator's decline: the authorization is refused, never sent. @returns the state before (`held` when this call declined it; '' when no hold). */
  async decline(id: string, actor: string): Promise<ReviewState | ''> {
    return (await SETTLE.run(this.redis, {
      keys: { review: this.key(id), due: this.dueKey },
      args: { id, to: 'declined', actor, actor_field: 'declined_by' },
    })) as ReviewState | '';
  }

  /** The automatic void at the deadline. @returns the state before (`held` when this call expired it). */
  async expire(id: string): Promise<ReviewState | ''> {
    return (await SETTLE.run(this.redis, { keys: { review: this.key(id), due: this.dueKey }, args: { id, to: 'expired', actor: '', actor_field: '' } })) as
      ReviewState | '';
  }

  /** Held operations whose deadline is at or before `now`, oldest first. */
  async due(now: number, limit = 500): Promise<string[]> {
    return this.redis.zrangebyscore(this.dueKey, 0, now, 'LIMIT', 0, limit);
  }

  /** Moves a held operation's deadline entry to `at` (ms); one released or expired meanwhile is not put back. */
  async postpone(id: string, at: number): Promise<void> {
    await this.redis.zadd(this.dueKey, 'XX', at, id);
  }

  /** Takes an id off the deadline index (its hold is gone: expired with its TTL). */
  async dropDue(id: string): Promise<void> {
    await this.redis.zrem(this.dueKey, id);
  }

  /** Every held operation, by deadline (ops listing). */
  async held(limit = 500): Promise<string[]> {
    return this.redis.zrange(this.dueKey, 0, limit - 1);
  }
}

function decode(id: string, flat: string[]): ReviewHold | null {
  const h: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) h[flat[i]] = flat[i + 1];
  if (!h.state) return null;
  return {
    operationId: id,
    state: h.state as ReviewState,
    deadline: Number(h.deadline),
    rule: h.rule ?? '',
    signals: h.signals ?? '',
    createdAt: Number(h.created_at),
    ...(h.released_by ? { releasedBy: h.released_by } : {}),
    ...(h.declined_by ? { declinedBy: h.declined_by } : {}),
  };
}
