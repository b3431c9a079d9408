import { randomBytes } from 'node:crypto';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { RedisClient } from '../redis/redis-connection';

const takeovers = counter(
  'pb_send_lease_takeovers_total',
  'Event send leases taken over from a holder process whose heartbeat had lapsed (a worker killed while it held them)',
);
const lapses = counter(
  'pb_lease_holder_heartbeat_lapses_total',
  'Times this process found its own holder heartbeat expired, by cause: stall (its event loop did not run for leases.holder_ttl_ms), redis_unreachable (its refreshes failed that long); leases it held may have been taken over',
  ['cause'],
);

/** Why a live holder's heartbeat lapsed. */
export type LapseCause = 'stall' | 'redis_unreachable';

/** A holder id: `h-` and 24 hex digits. Anything else in a lease (an older build's '1') is never taken over. */
const HOLDER_ID = /^h-[0-9a-f]{24}$/;

/** Whether a lease's value names a holder this build can check the liveness of. */
export function isHolderId(value: string | null | undefined): value is string {
  return typeof value === 'string' && HOLDER_ID.test(value);
}

/**
 * The holder a lease's value names: the value itself (an event send lease) or its part before the first ':'
 * (a lock token, `<holder id>:<owner>:…`), when that is a holder id; else null.
 */
export function holderNamedBy(value: string | null | undefined): string | null {
  const first = value?.split(':', 1)[0];
  return isHolderId(first) ? first : null;
}

// Sets a lease to its new value only if it still holds what the caller read (and found its holder dead).
const TAKE_OVER_SCRIPT = new LuaScript(
  luaInputs(['lease'], ['found', 'value', 'lease_ms']),
  `
if redis.call('GET', K.lease) ~= A.found then return 0 end
redis.call('SET', K.lease, A.value, 'PX', A.lease_ms)
return 1
`,
);

/** The heartbeat key of holder `id`: one key of its own (any slot), read alone. */
export function holderHeartbeatKey(prefix: string, id: string): string {
  return `${prefix}holder:${id}`;
}

/**
 * The holders seen lately (sorted set: holder id → its last heartbeat, epoch ms): where the live processes are
 * found without a SCAN of the keyspace (`runningProcesses`), which prunes it.
 */
export function holderRegistryKey(prefix: string): string {
  return `${prefix}holders`;
}

/**
 * The identity a process writes into the leases it takes (the event send leases; the periodic pass and recovery
 * sweep locks name it first in their tokens), and the liveness
 * signal that lets another process take over a lease whose holder died instead of waiting for the lease to
 * expire (the bus timeout plus 5 s, ~15 s): a heartbeat key `<prefix>holder:<id>` with a TTL of `ttlMs`,
 * refreshed every quarter of it. A process killed with SIGKILL stops refreshing and its key expires within
 * `ttlMs`; a holder that is merely slow (a long bus call) keeps refreshing, so its leases are never
 * bypassed. Only an event loop blocked for longer than `ttlMs` could let a live holder's lease be taken
 * (the sender then sends a repeat with the same event_id); the process notices it on its next refresh
 * (warn log, `pb_lease_holder_heartbeat_lapses_total{cause="stall"}`); one whose refreshes failed that long (Redis
 * out of reach) says so too (`cause="redis_unreachable"`).
 *
 * The liveness check is for the rare path only (a lease found held): the hot path writes the id instead of
 * a constant, nothing more.
 */
export class LeaseHolder {
  /** This process's holder id (`h-` + 24 hex digits), new on every start. */
  readonly id = `h-${randomBytes(12).toString('hex')}`;
  private timer: NodeJS.Timeout | null = null;
  private readonly key: string;
  /** The heartbeat's value: the process's presence as JSON, or `1` without one. */
  private readonly value: string;
  /** The last refresh failed (Redis out of reach): a lapse found next is the outage's, not a stall's. */
  private refreshFailed = false;
  /** A refresh is waiting for Redis: the next ticks skip, so an outage's queued refreshes do not all report one lapse. */
  private refreshing = false;

  /**
   * @param ttlMs how long the heartbeat outlives its last refresh, ms (`leases.holder_ttl_ms`, default 2000).
   * @param presence what the heartbeat says of this process, as JSON (`presenceOf` in src/fleet/: role, release,
   *   pid, host); without it, `1`.
   */
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly ttlMs: number,
    private readonly logger?: Logger,
    presence?: object,
  ) {
    this.key = holderHeartbeatKey(prefix, this.id);
    this.value = presence ? JSON.stringify(presence) : '1';
  }

  /** Writes the heartbeat, then refreshes it every `ttlMs / 4` until `stop`. */
  async start(): Promise<void> {
    await this.redis.set(this.key, this.value, 'PX', this.ttlMs);
    await this.register();
    this.timer = setInterval(() => void this.refresh(), Math.max(50, Math.floor(this.ttlMs / 4)));
    this.timer.unref();
  }

  /** Notes this holder in the registry ({@link holderRegistryKey}) with the time of its heartbeat. */
  private async register(): Promise<void> {
    await this.redis.zadd(holderRegistryKey(this.prefix), Date.now(), this.id);
  }

  private async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      await this.register();
      // XX: a key that is gone expired while this process was alive; say so, then write it again.
      if ((await this.redis.set(this.key, this.value, 'PX', this.ttlMs, 'XX')) === null) {
        // Either this process did not run for its whole TTL (event loop stalled) or its refreshes failed that long
        // (an outage, a partition): both let another process take its leases over, and each has its own remedy.
        const cause: LapseCause = this.refreshFailed ? 'redis_unreachable' : 'stall';
        lapses.inc({ cause });
        this.logger?.warn(
          cause === 'stall'
            ? 'lease holder heartbeat had lapsed: the event loop stalled longer than its TTL; leases of this process may have been taken over'
            : 'lease holder heartbeat had lapsed while Redis was out of reach; leases of this process may have been taken over',
          { holder: this.id, ttl_ms: this.ttlMs, cause },
        );
        await this.redis.set(this.key, this.value, 'PX', this.ttlMs);
      }
      this.refreshFailed = false;
    } catch {
      // Redis away: the next refresh tries again; the leases wait for it like everything else.
      this.refreshFailed = true;
    } finally {
      this.refreshing = false;
    }
  }

  /**
   * Stops refreshing and removes the heartbeat (a clean stop: this process holds no lease any more). A second
   * call does nothing: by then the connection may be closed, and a Redis Cluster client queues a command
   * sent on a closed connection forever instead of refusing it.
   */
  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    if (this.redis.status !== 'ready') return; // the key expires by itself within ttlMs
    await this.redis.del(this.key).catch(() => undefined);
    await this.redis.zrem(holderRegistryKey(this.prefix), this.id).catch(() => undefined);
  }

  /** Whether holder `id` is alive (its heartbeat key exists). This process is always alive to itself. */
  async isAlive(id: string): Promise<boolean> {
    if (id === this.id) return true;
    return (await this.redis.exists(holderHeartbeatKey(this.prefix, id))) === 1;
  }

  /**
   * Takes over the lease at `key` (set to `value` for `leaseMs`) when the holder its value names is dead, in
   * one step that checks the lease still holds what was read, so of two processes trying, one wins. A live
   * holder (however slow), this process, no lease, or a value naming no holder (an older build's) is left
   * alone. The caller counts and logs what it took over.
   * @param read what the caller read the lease to hold just before (saves reading it again); else it is read here.
   * @returns the dead holder's id when the lease was taken, else null.
   */
  async takeOverFromDead(redis: RedisClient, key: string, value: string, leaseMs: number, read?: string | null): Promise<string | null> {
    const found = read === undefined ? await redis.get(key) : read;
    const dead = holderNamedBy(found);
    if (found === null || dead === null || dead === this.id || (await this.isAlive(dead))) return null;
    const taken = await TAKE_OVER_SCRIPT.run(redis, { keys: { lease: key }, args: { found, value, lease_ms: String(leaseMs) } });
    return Number(taken) === 1 ? dead : null;
  }

  /** Counts and logs a lease taken over from dead holder `from`. */
  noteTakeover(from: string, eventId: string): void {
    takeovers.inc();
    this.logger?.warn('event send lease taken over from a dead holder', { event_id: eventId, dead_holder: from, holder: this.id });
  }
}
