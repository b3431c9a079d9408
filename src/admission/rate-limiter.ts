import { createHash } from 'node:crypto';
import { RedisClient } from '../redis/redis-connection';
import { Config, RateLimit } from '../config/config';
import { Channel } from '../contracts/payment-command';
import { isDependencyOutage } from '../errors/dependency-outage';
import { LogThrottle } from '../logging/log-throttle';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { Bucket, TokenBuckets } from './token-buckets';

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

/** `pb_rate_limit_unavailable_total{where}`: takes that failed (Redis down); the command went on unlimited. */
function limiterUnavailable() {
  return counter('pb_rate_limit_unavailable_total', 'Rate-limit checks that could not reach Redis; the command was let through', ['where'] as const);
}

/** What a command (or a channel message) names for its limits. */
export interface LimitSubject {
  channel: Channel;
  gateway: string;
  account: string;
}

/** Allowed, or refused with how long to wait and which limit is short. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number; scope: 'channel' | 'account' };

/** How long tokens leased from Redis may be spent locally, ms: short, so an idle lease is not hoarded. */
const LEASE_MS = 200;

/**
 * Rate limits per channel and per account (`rate_limits.*`), shared by every process through Redis token
 * buckets. Keys: `<prefix>{ratelimit}:channel:<channel>` and `<prefix>{ratelimit}:account:<digest>`, where the
 * digest is a SHA-256 of `<gateway>:<gateway_account>` (base64url, 22 characters): no account text (which
 * could hold anything, card data included) is ever written to a key. One hash tag: both buckets of a take
 * are in one slot on Redis Cluster.
 *
 * With `lease` > 1 (the worker) one Redis call takes up to `lease` tokens for a channel+account pair and
 * spends them locally within {@link LEASE_MS}; the intake takes one at a time.
 *
 * If Redis cannot answer, the command goes on (counted, logged at most once a minute): a limit is a
 * protection, not a reason to refuse payments while Redis restarts.
 */
export class RateLimiter {
  private readonly buckets: TokenBuckets;
  private readonly leases = new Map<string, { tokens: number; until: number }>();
  private readonly throttle: LogThrottle;

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
  }

  get enabled(): boolean {
    return this.deps.config.rateLimits.enabled;
  }

  /** Takes one token for `subject` from its channel's and its account's bucket, or says how long to wait. */
  async take(subject: LimitSubject): Promise<RateDecision> {
    if (!this.enabled) return { allowed: true };
    const lease = Math.max(1, this.deps.lease ?? 1);
    const pair = `${subject.channel}\u0000${subject.gateway}\u0000${subject.account}`;
    const now = (this.deps.now ?? Date.now)();
    if (lease > 1) {
      const held = this.leases.get(pair);
      if (held && held.tokens > 0 && held.until > now) {
        held.tokens -= 1;
        return { allowed: true };
      }
    }
    const buckets = this.bucketsOf(subject);
    let result;
    try {
      result = await this.buckets.take(buckets, lease);
    } catch (err) {
      if (!isDependencyOutage(err)) throw err;
      limiterUnavailable().inc({ where: this.deps.where });
      this.throttle.warn('unavailable', 'rate limit not checked: Redis did not answer; command let through (rate-limited log line)', {
        error: (err as Error).message,
        where: this.deps.where,
      });
      return { allowed: true };
    }
    if (result.granted > 0) {
      if (lease > 1) {
        if (this.leases.size > 10_000) this.leases.clear(); // bounded: pairs are channel × account
        this.leases.set(pair, { tokens: result.granted - 1, until: now + LEASE_MS });
      }
      return { allowed: true };
    }
    const scope = result.limitedBy === 0 ? 'channel' : 'account';
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
