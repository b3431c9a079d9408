import { createHash } from 'node:crypto';
import { RedisClient } from '../redis/redis-connection';
import { Config, RateLimit } from '../config/config';
import { Channel } from '../contracts/payment-command';
import { isDependencyOutage } from '../errors/dependency-outage';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { LogThrottle } from '../logging/log-throttle';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { Bucket, TakeResult, TokenBuckets } from './token-buckets';
import { takeDeadlineMs } from '../config/take-deadline';

/** `pb_rate_limit_takes_total{where}`: Redis takes (one round trip each); per command, the cost of the limits. */
function limiterTakes() {
  return counter('pb_rate_limit_takes_total', 'Rate-limit takes sent to Redis (one round trip each; a worker leases several tokens per take)', [
    'where',
  ] as const);
}

/** Where a limit was applied: the HTTP intake (429) or the AMQP consumer (the message is held). */
export type LimitedWhere = 'intake' | 'consumer';

/** `pb_rate_limited_total{channel,scope,where}`: commands over a limit (scope `channel` or `account`). */
function rateLimited() {
  return counter(
    'pb_rate_limited_total',
    'Commands over a rate limit, by channel, the bucket that was short (channel or account) and where (intake: 429; consumer: held)',
    ['channel', 'scope', 'where'] as const,
  );
}

/** `pb_rate_limit_unavailable_total{where,reason}`: takes that failed (Redis down, or no answer within the deadline); the command went on unlimited. */
function limiterUnavailable() {
  return counter(
    'pb_rate_limit_unavailable_total',
    'Rate-limit checks that could not reach Redis; the command was let through, by where and reason (outage: Redis could not be reached, deadline: no answer within the take deadline)',
    ['where', 'reason'] as const,
  );
}

/** What a command (or a channel message) names for its limits. */
export interface LimitSubject {
  channel: Channel;
  gateway: string;
  account: string;
}

/**
 * Which take Redis answered with an error: a held queue's wake (`held`, {@link RateLimiter.waitForToken}), a
 * worker's lease take that commands wait for in {@link RateLimiter.take} (`lease`), or a take of one token for
 * one command without a lease: the intake's (`intake`, an HTTP request waits for it) or a worker's at
 * `rate_limits.lease_tokens: 1` (`single`).
 */
type TakePath = 'held' | 'lease' | 'intake' | 'single';

/**
 * `pb_rate_limit_take_errors_total{where,path}`: takes that Redis answered with an error (not an outage); their
 * commands stay queued in order and the take is retried, {@link TAKE_ERROR_TRIES} times. `where` is the
 * limiter's (as in `pb_rate_limit_takes_total`), `path` the take's ({@link TakePath}).
 */
function limiterTakeErrors() {
  return counter(
    'pb_rate_limit_take_errors_total',
    'Rate-limit takes that Redis answered with an error (not an outage), by where and path (held: a wake of held commands, lease: a worker lease take, intake: the intake take of one command, single: a worker take of one command at lease_tokens 1); the commands stay queued in order and the take is retried',
    ['where', 'path'] as const,
  );
}

/** The warn line of a take's first error reply in a row, by {@link TakePath}. */
const TAKE_ERROR_LINES: Readonly<Record<TakePath, string>> = {
  held: 'rate limit take failed: Redis answered with an error; held commands kept in order, take retried (rate-limited log line)',
  lease: 'rate limit take failed: Redis answered with an error; commands waiting for the lease kept in order, take retried (rate-limited log line)',
  intake:
    'rate limit take failed: Redis answered with an error; the request waits, those of its channel and account queued behind it, take retried within the take deadline (rate-limited log line)',
  single:
    'rate limit take failed: Redis answered with an error; the command waits, those of its channel and account queued behind it, take retried (rate-limited log line)',
};

/** The warn line of a take's first error reply when the take deadline leaves no room to try it again. */
const TAKE_ERROR_NO_ROOM_LINE =
  'rate limit take failed: Redis answered with an error; the take deadline leaves no room to try again (rate_limits.take_deadline_ms), the commands waiting for it are rejected (rate-limited log line)';

export { takeDeadlineMs };

/** The error of a take that was not answered within its deadline (`withinDeadline`): counted `reason="deadline"`. */
class TakeDeadlinePassed extends DependencyUnavailableError {}

/**
 * Takes that Redis may answer with an error in a row, for one queue of held commands, one lease take of a
 * pair or one command's take, before each command waiting for it is rejected with the error (their callers
 * retry or dead-letter): until then they stay queued in order, and the take is tried again after
 * {@link TAKE_ERROR_BACKOFF_MS}, doubled each time. A command's take (lease or single) retries only within its
 * take deadline: a retry whose backoff would leave less of it than the failed try took is not started.
 */
export const TAKE_ERROR_TRIES = 3;

/** First wait before a take is tried again after an error reply, ms (100; then 200, …). */
const TAKE_ERROR_BACKOFF_MS = 100;

/**
 * `work`, or a {@link DependencyUnavailableError} once `ms` have passed. The timer's expiry waits one more
 * turn of the event loop (`setImmediate`, after the I/O phase): an answer already on the socket when a busy
 * loop runs the timer late still wins. A late settlement of `work` is ignored (and never unhandled).
 */
function withinDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      setImmediate(() => reject(new TakeDeadlinePassed('redis', `rate-limit take not answered within ${ms} ms`)));
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Allowed, or refused with how long to wait and which limit is short. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number; scope: 'channel' | 'account' };

const ALLOWED: RateDecision = Object.freeze({ allowed: true });

/** Longest a held queue sleeps between looks at its bucket, ms: a stopping consumer lets go within it. */
const MAX_HOLD_WAKE_MS = 1000;

/** Shortest sleep of a held queue, ms: a bucket one token short is looked at again no sooner. */
const MIN_HOLD_WAKE_MS = 1;

/** One command held until its bucket has a token. */
interface HoldWaiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  isRunning: () => boolean;
}

/**
 * The commands held for one channel and account pair, first held first, one timer waking them. Captures,
 * cancels and refunds (`urgent`) go before the rest: a backlog of held authorizations never delays them.
 */
interface HoldQueue {
  urgent: HoldWaiter[];
  waiters: HoldWaiter[];
  timer: NodeJS.Timeout | null;
  /** A wake is letting commands go (its takes are out): new holds join it rather than set a timer. */
  draining: boolean;
  /** The bucket that was short last: what a command refused for queueing behind the held ones is told. */
  scope: 'channel' | 'account';
  /** Takes in a row that Redis answered with an error (at most {@link TAKE_ERROR_TRIES}): the held commands wait in order meanwhile. */
  faults: number;
}

/** A command refused without a look at the bucket: it queues behind the pair's held commands. */
type HeldAhead = { granted: 0; retryAfterMs: number; scope: 'channel' | 'account' };

/** The key of a channel and account pair in the limiter's maps. */
function pairOf(subject: LimitSubject): string {
  return `${subject.channel}\u0000${subject.gateway}\u0000${subject.account}`;
}

/** Rejects the held commands of a stopping consumer ({@link StoppedWhileHeld}): their messages go back to the queue. */
function letGoStopped(q: HoldQueue): void {
  for (const list of [q.urgent, q.waiters]) {
    if (list.every((w) => w.isRunning())) continue;
    const stopped = list.filter((w) => !w.isRunning());
    const kept = list.filter((w) => w.isRunning());
    list.splice(0, list.length, ...kept);
    for (const w of stopped) w.reject(new StoppedWhileHeld());
  }
}

/** A command held by a rate limit was let go because its consumer is stopping (the message goes back to the queue). */
export class StoppedWhileHeld extends Error {
  constructor() {
    super('stopping while held by a rate limit');
    this.name = 'StoppedWhileHeld';
  }
}

/** Most tokens one take asks for, however many commands waited: a lease never holds a large share of a bucket. */
const MAX_LEASE_TOKENS = 256;

/**
 * How long tokens leased from Redis may be spent locally, ms: short, so an idle lease is not hoarded. Tokens
 * left when it ends may still be spent for as long again while the pair's renewal is out (never after it
 * returns, and never more than were granted).
 */
const LEASE_MS = 200;

/**
 * Share of a lease's size left when its renewal is taken, ahead of running out: a busy pair's commands then
 * find tokens instead of waiting for a Redis round trip at the end of every lease.
 */
const REFILL_AT_SHARE = 0.25;

/**
 * The tokens a worker holds for one channel and account pair: spent locally until `until`; `taking` is the
 * one Redis take in flight for the pair, which every command arriving meanwhile waits for instead of
 * sending its own.
 */
interface Lease {
  tokens: number;
  until: number;
  taking?: Promise<RateDecision>;
  /** Commands that waited for the take in flight: the next take asks for at least as many tokens. */
  joined: number;
  /** How many waited for the previous take (the demand one round trip sees). */
  demand: number;
  /** Tokens the last take asked for: doubled when a lease ran out before it expired, halved when it expired unspent. */
  size: number;
}

/**
 * A pair's take of one token (no lease) that Redis answered with an error and that is being tried again: the
 * commands of the pair arriving meanwhile wait for it to end, in order, instead of sending takes of their own
 * that would meet the same error and get ahead of it. `done` rejects with its error once it gave up.
 */
interface Faulting {
  done: Promise<void>;
  /** Commands waiting for it (the warn line's `queued`). */
  queued: number;
}

/** Milliseconds on a monotonic clock: a take's deadline is real time, whatever clock the leases are given. */
function monotonicMs(): number {
  return performance.now();
}

/**
 * Rate limits per channel and per account (`rate_limits.*`), shared by every process through Redis token
 * buckets. Keys: `<prefix>{ratelimit}:channel:<channel>` and `<prefix>{ratelimit}:account:<digest>`, where the
 * digest is a SHA-256 of `<gateway>:<gateway_account>` (base64url, 22 characters): no account text (which
 * could hold anything, card data included) is ever written to a key. One hash tag: both buckets of a take
 * are in one slot on Redis Cluster.
 *
 * With `lease` > 1 (the worker) one Redis call takes tokens for a channel+account pair and they are spent
 * locally within {@link LEASE_MS}. Only one take per pair is in flight at a time: the commands that arrive
 * while it is out wait for it and share what it granted, so a busy worker makes a few takes per lease, not one
 * per command. A take asks for `lease` tokens or more: as many as waited for the previous one, and twice the
 * last size while leases run out before they expire (see `nextSize`). The next take goes out ahead, when a
 * lease is down to its last quarter or has just expired with tokens left, so a busy pair's commands do not
 * wait for the round trip (its tokens add to what is left). Takes are counted in
 * `pb_rate_limit_takes_total{where}`. The intake takes one at a time.
 *
 * If Redis cannot answer, or does not within {@link takeDeadlineMs}, the command goes on (counted, logged at
 * most once a minute): a limit is a protection, not a reason to refuse payments while Redis restarts. A take
 * Redis answers with an error reply (a script error, WRONGTYPE; LOADING, BUSY, OOM and a failover's replies are
 * an outage, see {@link isDependencyOutage}) is tried again, its commands waiting in order, up to
 * {@link TAKE_ERROR_TRIES} times in a row; then each of them is rejected with the error. A take that commands
 * wait for (a lease's, or one command's at the intake or at `lease` 1) is retried only within its take
 * deadline, so the intake holds an HTTP request no longer than that.
 */
export class RateLimiter {
  private readonly buckets: TokenBuckets;
  private readonly leases = new Map<string, Lease>();
  private readonly holds = new Map<string, HoldQueue>();
  /** Takes of one token being tried again after an error reply, by pair (see {@link Faulting}). */
  private readonly faulting = new Map<string, Faulting>();
  private readonly throttle: LogThrottle;
  /** {@link takeDeadlineMs} of the configured Redis, ms. */
  private readonly takeDeadline: number;

  constructor(
    private readonly deps: {
      config: Config;
      redis: RedisClient;
      logger: Logger;
      where: LimitedWhere;
      /** Tokens taken per Redis call. Default 1. */
      lease?: number;
      /** The clock, ms (tests). */
      now?: () => number;
    },
  ) {
    this.buckets = new TokenBuckets(deps.redis);
    this.throttle = new LogThrottle(deps.logger);
    this.takeDeadline = takeDeadlineMs(deps.config);
  }

  get enabled(): boolean {
    return this.deps.config.rateLimits.enabled;
  }

  /**
   * Takes one token for `subject` from its channel's and its account's bucket, or says how long to wait. While
   * commands of the same channel and account are held ({@link waitForToken}), a new one is refused without a
   * look at the bucket: it queues behind them, so held commands go first, in the order they were held. An
   * `urgent` one (a capture, cancel or refund) queues only behind urgent ones. Default false.
   *
   * A take Redis answers with an error keeps the commands waiting for it (with a lease, those sharing it;
   * without, those of the pair arriving meanwhile) in order and is tried again after a backoff, within the take
   * deadline; after {@link TAKE_ERROR_TRIES} in a row, or when the deadline leaves no room for another try, each
   * of them is rejected with the error.
   */
  async take(subject: LimitSubject, urgent = false): Promise<RateDecision> {
    if (!this.enabled) return ALLOWED;
    // One key a take, for the queue of held commands and for the lease: this runs for every command.
    const pair = pairOf(subject);
    const behind = this.heldAhead(pair, urgent);
    if (behind !== null) return this.decide(subject, behind);
    const lease = Math.max(1, this.deps.lease ?? 1);
    if (lease === 1) return this.decide(subject, await this.takeOne(subject, pair, urgent));
    let held = this.leases.get(pair);
    if (!held) {
      if (this.leases.size > 10_000) this.leases.clear(); // bounded: pairs are channel × account
      held = { tokens: 0, until: 0, joined: 0, demand: 0, size: 0 };
      this.leases.set(pair, held);
    }
    for (;;) {
      const now = this.now();
      if (held.tokens > 0 && held.until > now) {
        held.tokens -= 1;
        // Down to its last quarter: the next take goes out now, so no command waits for it at the end.
        if (!held.taking && held.tokens <= held.size * REFILL_AT_SHARE) this.renew(subject, held, lease);
        return ALLOWED;
      }
      if (held.tokens > 0 && held.until + LEASE_MS > now) {
        // Just expired with tokens left (granted, not yet spent): they carry commands while the renewal is out.
        if (!held.taking) this.renew(subject, held, lease);
        held.tokens -= 1;
        return ALLOWED;
      }
      if (held.taking) {
        held.joined += 1;
        const shared = await held.taking;
        if (!shared.allowed) return this.decide(subject, { granted: 0, ...shared });
        continue; // a token of that take, if others did not spend them all first
      }
      held.taking = this.leaseFromRedis(subject, held, this.nextSize(held, lease));
      const own = await held.taking;
      if (!own.allowed) return this.decide(subject, { granted: 0, ...own });
    }
  }

  /**
   * The refusal of a command that must queue behind the pair's held commands ({@link waitForToken}): any held
   * urgent one, and for one not `urgent` any held at all; null when it may take.
   */
  private heldAhead(pair: string, urgent: boolean): HeldAhead | null {
    const queue = this.holds.get(pair);
    if (queue === undefined || queue.urgent.length + (urgent ? 0 : queue.waiters.length) === 0) return null;
    return { granted: 0, retryAfterMs: MIN_HOLD_WAKE_MS, scope: queue.scope };
  }

  /**
   * Waits until `subject` has a token, after a take of it was `refused`: resolves once a token is taken for
   * this caller. The commands held for one channel and account wait in one queue, first held first (`urgent`
   * ones, captures, cancels and refunds, before the rest), and one timer per queue wakes it when the bucket
   * said a lease's worth of tokens would be free: one Redis take a wake lets as many go as it granted, however
   * many are held, never a wake per held command. When Redis does not answer, the take's commands go on
   * unlimited, as a single command's would, and so when it does not answer within {@link takeDeadlineMs}.
   * Rejects with {@link StoppedWhileHeld} when `isRunning()` is false at a wake or between takes (wakes are at
   * most {@link MAX_HOLD_WAKE_MS} apart). A take Redis answers with an error keeps the commands held in their
   * order and is tried again after a backoff; after {@link TAKE_ERROR_TRIES} in a row every command then held
   * is rejected with the error (their callers retry or dead-letter).
   */
  waitForToken(subject: LimitSubject, refused: RateDecision, isRunning: () => boolean, urgent = false): Promise<void> {
    if (refused.allowed) return Promise.resolve();
    const pair = pairOf(subject);
    let queue = this.holds.get(pair);
    if (queue === undefined) {
      queue = { urgent: [], waiters: [], timer: null, draining: false, scope: refused.scope, faults: 0 };
      this.holds.set(pair, queue);
    }
    const q = queue;
    const held = new Promise<void>((resolve, reject) => (urgent ? q.urgent : q.waiters).push({ resolve, reject, isRunning }));
    if (q.timer === null && !q.draining) this.wakeAfter(subject, pair, q, refused.retryAfterMs);
    return held;
  }

  private wakeAfter(subject: LimitSubject, pair: string, q: HoldQueue, ms: number): void {
    const wait = Math.max(MIN_HOLD_WAKE_MS, Math.min(ms, MAX_HOLD_WAKE_MS));
    q.timer = setTimeout(() => {
      q.timer = null;
      void this.drain(subject, pair, q);
    }, wait);
  }

  /**
   * Lets the queue's commands go in order while the buckets grant tokens, one take for as many as are held
   * (at most {@link MAX_LEASE_TOKENS}); sets the next wake when they grant none, or after a backoff when Redis
   * answers the take with an error (the commands stay queued in order, up to {@link TAKE_ERROR_TRIES} takes).
   */
  private async drain(subject: LimitSubject, pair: string, q: HoldQueue): Promise<void> {
    q.draining = true;
    try {
      for (;;) {
        letGoStopped(q);
        const held = q.urgent.length + q.waiters.length;
        if (held === 0) break;
        const want = Math.min(held, MAX_LEASE_TOKENS);
        let result: TakeResult | 'unavailable';
        try {
          result = await this.takeFromRedis(subject, want);
        } catch (err) {
          // An error reply (an outage is 'unavailable'). Rejected at once, their callers would back off while
          // newer commands, finding no queue, went ahead of them: they stay queued, in order, a few more tries.
          q.faults += 1;
          const backoff = this.afterTakeError(err, 'held', q.faults, { held });
          if (backoff === null) {
            q.faults = 0;
            for (const w of [...q.urgent.splice(0), ...q.waiters.splice(0)]) w.reject(err);
            break;
          }
          this.wakeAfter(subject, pair, q, backoff);
          return;
        }
        q.faults = 0;
        if (result === 'unavailable' || result.granted > 0) {
          const granted = result === 'unavailable' ? want : result.granted;
          for (let i = 0; i < granted; i += 1) (q.urgent.shift() ?? q.waiters.shift())?.resolve();
          continue;
        }
        q.scope = result.limitedBy === 0 ? 'channel' : 'account';
        // Wake when a lease's worth of tokens is free, not the first one: the same rate with fewer wakes
        // and takes (a held command waits at most a lease's worth of refill longer). Never more than the
        // bucket holds: tokens past its burst would be lost, and the rate with them.
        const limit = this.limitsOf(subject)[q.scope];
        const batch = Math.max(1, Math.min(want, this.deps.lease ?? 1, Math.floor(limit.burst)));
        this.wakeAfter(subject, pair, q, result.retryAfterMs + ((batch - 1) * 1000) / limit.perS);
        return;
      }
    } finally {
      q.draining = false;
      if (q.urgent.length + q.waiters.length === 0 && q.timer === null && this.holds.get(pair) === q) this.holds.delete(pair);
    }
  }

  /** Starts the pair's next take without anyone waiting for it; commands that find no token join it. */
  private renew(subject: LimitSubject, held: Lease, lease: number): void {
    const taking = this.leaseFromRedis(subject, held, this.nextSize(held, lease));
    held.taking = taking;
    // Whoever joins it sees its failure; nobody may have.
    taking.catch(() => undefined);
  }

  /**
   * How many tokens the next take of a pair asks for: at least `lease` and as many as waited for the previous
   * take; twice the last size when that lease ran out before it expired (the pair is busier than it), half
   * when it expired with tokens left; at most MAX_LEASE_TOKENS.
   */
  private nextSize(held: Lease, lease: number): number {
    let size = held.size;
    if (size > 0) {
      if (held.until > this.now()) size *= 2;
      else if (held.tokens > 0) size = Math.floor(size / 2);
    }
    held.size = Math.min(Math.max(lease, held.demand, size), MAX_LEASE_TOKENS);
    return held.size;
  }

  /**
   * One take for a pair's lease: fills `held` with what was granted; the decision every waiter shares. A take
   * Redis answers with an error is tried again ({@link takeRetrying}), its waiters (and any that join) still
   * waiting in order; when it gives up it rejects with the error, and so does every waiter.
   */
  private async leaseFromRedis(subject: LimitSubject, held: Lease, want: number): Promise<RateDecision> {
    try {
      // Rejected at the first error reply, the waiters would each retry on their own and lose their order to
      // newer commands: they wait for a few more tries, in order.
      const result = await this.takeRetrying(subject, want, 'lease', () => ({ joined: held.joined }));
      // Redis did not answer: the lease lets `want` commands through, as a take of one would have each.
      if (result === 'unavailable' || result.granted > 0) {
        const now = this.now();
        // A renewal taken ahead adds to what is left of a live lease; an expired lease's rest is dropped.
        held.tokens = (held.until > now ? held.tokens : 0) + (result === 'unavailable' ? want : result.granted);
        held.until = now + LEASE_MS;
        return ALLOWED;
      }
      return { allowed: false, retryAfterMs: result.retryAfterMs, scope: result.limitedBy === 0 ? 'channel' : 'account' };
    } finally {
      held.taking = undefined;
      held.demand = held.joined;
      held.joined = 0;
    }
  }

  /**
   * The take of one token for one command (no lease: the intake, a worker at `rate_limits.lease_tokens: 1`),
   * tried again after error replies ({@link takeRetrying}). While a take of the pair is being retried, the
   * pair's new commands wait for it to end, first come first, and then take in that order; they are rejected
   * with its error if it gives up. Waiting counts against a command's own take deadline: an HTTP request at the
   * intake is never held longer than it (past it the take counts as unanswered: the command goes on). After the
   * wait it is refused, as {@link take} would, when commands it must queue behind were held meanwhile.
   */
  private async takeOne(subject: LimitSubject, pair: string, urgent: boolean): Promise<TakeResult | 'unavailable' | HeldAhead> {
    const until = monotonicMs() + this.takeDeadline;
    const ahead = this.faulting.get(pair);
    if (ahead !== undefined) {
      ahead.queued += 1;
      await ahead.done;
      // Refused takes that were out when it queued may have held commands since (a capture ahead of it).
      const behind = this.heldAhead(pair, urgent);
      if (behind !== null) return behind;
    }
    let own: (Faulting & { settle: (err?: unknown) => void }) | undefined;
    try {
      const result = await this.takeRetrying(
        subject,
        1,
        this.deps.where === 'intake' ? 'intake' : 'single',
        () => {
          // The first error reply: the pair's commands queue behind this take from now on.
          own ??= this.faultingFor(pair);
          return { queued: own.queued };
        },
        until,
      );
      own?.settle();
      return result;
    } catch (err) {
      own?.settle(err);
      throw err;
    } finally {
      if (own !== undefined && this.faulting.get(pair) === own) this.faulting.delete(pair);
    }
  }

  /** A pair's {@link Faulting} from now on: `settle()` ends it, with the error that rejects its queue, if any. */
  private faultingFor(pair: string): Faulting & { settle: (err?: unknown) => void } {
    let settle: (err?: unknown) => void = () => undefined;
    const done = new Promise<void>((resolve, reject) => {
      settle = (err?: unknown) => (err === undefined ? resolve() : reject(err));
    });
    // Nobody may have queued behind it.
    done.catch(() => undefined);
    const entry = { done, queued: 0, settle };
    this.faulting.set(pair, entry);
    return entry;
  }

  /**
   * A take of `want` tokens for commands that wait for it (a lease take, a command's own take), within one take
   * deadline ending at `until`: each try waits for what is left of it ({@link takeFromRedis}: past it, Redis
   * counts as not answering and the commands go on). A try Redis answers with an error is counted and tried
   * again after a backoff ({@link afterTakeError}) while the deadline leaves room for the backoff and another
   * try as long as the failed one; otherwise, or after {@link TAKE_ERROR_TRIES} in a row, it throws the error.
   * `waiting` says, at each error, what waits for the take (the warn line's fields).
   */
  private async takeRetrying(
    subject: LimitSubject,
    want: number,
    path: TakePath,
    waiting: () => Record<string, number>,
    until = monotonicMs() + this.takeDeadline,
  ): Promise<TakeResult | 'unavailable'> {
    for (let faults = 1; ; faults += 1) {
      const sent = monotonicMs();
      try {
        return await this.takeFromRedis(subject, want, until - sent);
      } catch (err) {
        // An error reply (an outage is 'unavailable').
        const now = monotonicMs();
        const backoff = this.afterTakeError(err, path, faults, waiting(), until - now - Math.max(1, now - sent));
        if (backoff === null) throw err;
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  }

  /**
   * Counts a take's error reply, the `faults`-th in a row, and says what follows: the wait before the take is
   * tried again ({@link TAKE_ERROR_BACKOFF_MS}, doubled each time), or null once {@link TAKE_ERROR_TRIES} in a
   * row failed or the wait would be longer than `roomMs` (what the take deadline leaves for it): its commands are
   * then rejected with the error. The first of a series writes the warn line (saying so when it is not
   * retried), at most once a minute per path.
   */
  private afterTakeError(err: unknown, path: TakePath, faults: number, waiting: Record<string, number>, roomMs = Infinity): number | null {
    limiterTakeErrors().inc({ where: this.deps.where, path });
    const backoff = TAKE_ERROR_BACKOFF_MS * 2 ** (faults - 1);
    const retried = faults < TAKE_ERROR_TRIES && backoff <= roomMs;
    if (faults === 1) {
      // Not retried at the first error only when the take deadline leaves no room (a low take_deadline_ms):
      // its commands are rejected at once, and the operator still hears of it.
      this.throttle.warn(`take-error:${path}`, retried ? TAKE_ERROR_LINES[path] : TAKE_ERROR_NO_ROOM_LINE, {
        error: (err as Error).message,
        where: this.deps.where,
        path,
        ...waiting,
        tries: TAKE_ERROR_TRIES,
      });
    }
    return retried ? backoff : null;
  }

  /**
   * One Redis take, bounded by `deadlineMs` ({@link takeDeadlineMs}, or what a retried take has left of it; none
   * left: not sent); a Redis outage (or no answer in time) lets the command through (counted, logged at most once
   * a minute). An abandoned take's late answer goes nowhere: whatever waits on this (`leaseFromRedis`, which
   * clears `taking` once, or a wake) sees 'unavailable' only.
   */
  private async takeFromRedis(subject: LimitSubject, want: number, deadlineMs = this.takeDeadline): Promise<TakeResult | 'unavailable'> {
    const ms = Math.ceil(deadlineMs);
    try {
      if (ms <= 0) throw new TakeDeadlinePassed('redis', `rate-limit take deadline of ${this.takeDeadline} ms passed before the take was sent`);
      limiterTakes().inc({ where: this.deps.where });
      return await withinDeadline(this.buckets.take(this.bucketsOf(subject), want), ms);
    } catch (err) {
      if (!isDependencyOutage(err)) throw err;
      limiterUnavailable().inc({ where: this.deps.where, reason: err instanceof TakeDeadlinePassed ? 'deadline' : 'outage' });
      this.throttle.warn('unavailable', 'rate limit not checked: Redis did not answer; command let through (rate-limited log line)', {
        error: (err as Error).message,
        where: this.deps.where,
      });
      return 'unavailable';
    }
  }

  /** Allowed when a token was granted (or Redis was unavailable); otherwise refused, counted and logged. */
  private decide(subject: LimitSubject, result: TakeResult | 'unavailable' | HeldAhead): RateDecision {
    if (result === 'unavailable' || result.granted > 0) return ALLOWED;
    const scope = 'scope' in result ? result.scope : result.limitedBy === 0 ? 'channel' : 'account';
    rateLimited().inc({ channel: subject.channel, scope, where: this.deps.where });
    this.throttle.warn(`${subject.channel}:${scope}`, 'rate limit reached (rate-limited log line: one per minute per channel and scope)', {
      channel: subject.channel,
      scope,
      gateway: subject.gateway,
      where: this.deps.where,
      retry_after_ms: result.retryAfterMs,
    });
    return { allowed: false, retryAfterMs: result.retryAfterMs, scope };
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** The limit that applies to a channel or an account (`<gateway>:<gateway_account>`). */
  limitsOf(subject: Pick<LimitSubject, 'channel' | 'gateway' | 'account'>): { channel: RateLimit; account: RateLimit } {
    const limits = this.deps.config.rateLimits;
    return {
      channel: limits.byChannel[subject.channel] ?? limits.channel,
      account: limits.byAccount[`${subject.gateway}:${subject.account}`] ?? limits.account,
    };
  }

  private bucketsOf(subject: LimitSubject): Bucket[] {
    const prefix = `${this.deps.config.redis.keyPrefix}{ratelimit}:`;
    const limits = this.limitsOf(subject);
    return [
      { key: `${prefix}channel:${subject.channel}`, limit: limits.channel },
      { key: `${prefix}account:${accountDigest(subject.gateway, subject.account)}`, limit: limits.account },
    ];
  }
}

/** The key-safe name of an account: SHA-256 of `<gateway>:<account>`, base64url, 22 characters. */
export function accountDigest(gateway: string, account: string): string {
  return createHash('sha256').update(`${gateway}:${account}`).digest('base64url').slice(0, 22);
}
