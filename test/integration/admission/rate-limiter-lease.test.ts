/**
 * The worker's leased rate-limit tokens on the real Redis: commands arriving while a take is out wait for it
 * and share what it granted, so a busy worker makes a few takes per lease instead of one per command (each
 * take spends at least the lease's worth of tokens from the buckets, so the tokens gone from the channel's
 * bucket bound the number of takes), and sharing never lets more through than the buckets granted. A lease
 * take Redis answers with an error reply keeps its waiters in order and is tried again, as a held queue's is.
 */
import { TAKE_ERROR_TRIES, RateLimiter } from '../../../src/admission/rate-limiter';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { accountBucket, scopedRedis } from '../../support/limiter-redis';

jest.setTimeout(60_000);

const subject = { channel: 'web' as const, gateway: 'simulator', account: 'acme-eu' };

describe('RateLimiter with a lease (the worker)', () => {
  const scope = scopedRedis();

  /**
   * A limiter whose web channel allows `burst` at once and refills 1 a second (nothing refills during a test),
   * on a clock that stands still: on a loaded machine a test's takes can outlast a 200 ms lease, which by
   * design halves the next one and would make the counts below depend on the machine's speed.
   */
  function limiter(burst: number, lease: number): { limiter: RateLimiter; config: Config } {
    const config = testConfig({ 'rate_limits.by_channel': { web: { per_s: 1, burst } }, 'rate_limits.lease_tokens': lease });
    scope.track(config);
    const now = (): number => 1_000_000;
    return { limiter: new RateLimiter({ config, redis: scope.redis, logger: captureLogger('error').logger, where: 'consumer', lease, now }), config };
  }

  async function channelTokensLeft(config: Config): Promise<number> {
    return Number(await scope.redis.hget(`${config.redis.keyPrefix}{ratelimit}:channel:web`, 't'));
  }

  it('lets 200 concurrent commands through with a few takes: at most ~2 × 200 tokens and one renewal spent, not 8 per command', async () => {
    const { limiter: rl, config } = limiter(100_000, 8);
    const decisions = await Promise.all(Array.from({ length: 200 }, () => rl.take(subject)));
    expect(decisions.every((d) => d.allowed)).toBe(true);
    const spent = 100_000 - (await channelTokensLeft(config));
    // One take per command (the old behaviour under concurrency) spends 8 × 200 = 1 600 tokens.
    expect(spent).toBeGreaterThanOrEqual(200);
    // The renewal taken ahead when the shared lease fell to its last quarter (at most 256 tokens) may go unspent.
    expect(spent).toBeLessThanOrEqual(2 * 200 + 8 + 256);
  });

  it('never lets more through than the buckets granted: 10 concurrent commands on a burst of 3 give 3 allowed, 7 refused with a wait', async () => {
    const { limiter: rl } = limiter(3, 8);
    const decisions = await Promise.all(Array.from({ length: 10 }, () => rl.take(subject)));
    const allowed = decisions.filter((d) => d.allowed);
    const refused = decisions.filter((d) => !d.allowed);
    expect(allowed).toHaveLength(3);
    expect(refused).toHaveLength(7);
    for (const d of refused) if (!d.allowed) expect(d.retryAfterMs).toBeGreaterThan(0);
  });

  it('grows the lease of a busy pair: 100 commands one after another make at most 5 takes (8 tokens each would be 13), counted in pb_rate_limit_takes_total', async () => {
    const { limiter: rl } = limiter(100_000, 8);
    const before = await metricValue('pb_rate_limit_takes_total', { where: 'consumer' });
    for (let i = 0; i < 100; i += 1) expect((await rl.take(subject)).allowed).toBe(true);
    const takes = (await metricValue('pb_rate_limit_takes_total', { where: 'consumer' })) - before;
    expect(takes).toBeGreaterThanOrEqual(1);
    expect(takes).toBeLessThanOrEqual(5);
  });

  it('spends a lease locally: 5 commands one after another make one take of 8 tokens', async () => {
    const { limiter: rl, config } = limiter(1_000, 8);
    for (let i = 0; i < 5; i += 1) expect((await rl.take(subject)).allowed).toBe(true);
    expect(1_000 - (await channelTokensLeft(config))).toBe(8);
  });

  /**
   * A BLPOP on the limiter's own connection holds every command sent after it until it times out (Redis
   * answers a connection's commands in order): a take that resolves before it needed no Redis call sent
   * after it.
   */
  function holdConnection(): Promise<string> {
    return scope.redis.blpop(`rl-hold-${Math.random()}`, 1).then(() => 'redis held');
  }

  it('takes the next lease before the current one runs out: the command after the last leased token does not wait for Redis', async () => {
    const { limiter: rl, config } = limiter(100_000, 8);
    // Six of the eight leased tokens: the lease is down to its last quarter, so its renewal goes out now.
    for (let i = 0; i < 6; i += 1) expect((await rl.take(subject)).allowed).toBe(true);
    const held = holdConnection();
    // Tokens 7 and 8, then the 9th command: served by the renewal sent before the hold, not by a take behind it.
    for (let i = 0; i < 2; i += 1) expect((await rl.take(subject)).allowed).toBe(true);
    const ninth = rl.take(subject).then((d) => (d.allowed ? 'allowed' : 'refused'));
    expect(await Promise.race([ninth, held])).toBe('allowed');
    await held;
    // The renewal asked for twice the size (the lease ran out while live): 8 + 16 tokens, never more.
    expect(100_000 - (await channelTokensLeft(config))).toBeCloseTo(24, 0);
  });

  it('lets the tokens left in a just-expired lease carry commands while its renewal is out, then drops them', async () => {
    let now = 1_000_000;
    const config = testConfig({ 'rate_limits.by_channel': { web: { per_s: 1, burst: 100_000 } }, 'rate_limits.lease_tokens': 8 });
    scope.track(config);
    const rl = new RateLimiter({ config, redis: scope.redis, logger: captureLogger('error').logger, where: 'consumer', lease: 8, now: () => now });
    expect((await rl.take(subject)).allowed).toBe(true); // one take of 8, seven left
    now += 250; // the lease (200 ms) has expired, seven tokens unspent
    const held = holdConnection();
    const next = rl.take(subject).then((d) => (d.allowed ? 'allowed' : 'refused'));
    expect(await Promise.race([next, held])).toBe('allowed');
    await held;
    // The renewal is back: the old lease's rest is gone, the new one holds what it granted (8), no more.
    let allowed = 0;
    const before = await metricValue('pb_rate_limit_takes_total', { where: 'consumer' });
    while ((await metricValue('pb_rate_limit_takes_total', { where: 'consumer' })) === before) {
      expect((await rl.take(subject)).allowed).toBe(true);
      allowed += 1;
    }
    // 8 granted: the 6th spend brought it to its last quarter and sent the next take.
    expect(allowed).toBe(6);
  });

  describe('a lease take Redis answers with an error reply', () => {
    /** The account's bucket made a string: the take script's HMGET answers WRONGTYPE until it is deleted. */
    const bucketOf = (config: Config): string => accountBucket(config, subject.account);

    function erroringLimiter(): { rl: RateLimiter; config: Config; lines: string[] } {
      const config = testConfig({ 'rate_limits.by_channel': { web: { per_s: 1, burst: 100_000 } }, 'rate_limits.lease_tokens': 8 });
      scope.track(config);
      const { logger, lines } = captureLogger('warn');
      const rl = new RateLimiter({ config, redis: scope.redis, logger, where: 'consumer', lease: 8, now: () => 1_000_000 });
      return { rl, config, lines };
    }

    const leaseErrors = (): Promise<number> => metricValue('pb_rate_limit_take_errors_total', { where: 'consumer', path: 'lease' });

    it.each([1, 2])(
      'keeps the waiters of a take answered with an error %i time(s) in order and lets them all go once Redis answers (retried after 100 ms, 200 ms; counted, warn line)',
      async (errors) => {
        const { rl, config, lines } = erroringLimiter();
        const bucket = bucketOf(config);
        await scope.redis.set(bucket, 'not a hash');
        const errorsBefore = await leaseErrors();
        const order: number[] = [];
        const outcomes = Array.from({ length: 10 }, (_, i) =>
          rl.take(subject).then(
            (d) => {
              order.push(i);
              return d.allowed ? 'allowed' : 'refused';
            },
            (err: unknown) => `rejected: ${String(err)}`,
          ),
        );
        await eventually(async () => (await leaseErrors()) - errorsBefore >= errors, 5_000, 2);
        // The next try comes after 100 ms (200 ms after the second error): Redis answers it.
        await scope.redis.del(bucket);
        expect(await Promise.all(outcomes)).toEqual(Array.from({ length: 10 }, () => 'allowed'));
        expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect((await leaseErrors()) - errorsBefore).toBe(errors);
        // One warn line for the series, not one per error.
        expect(lines.filter((l) => l.includes('rate limit take failed'))).toHaveLength(1);
        expect(lines.some((l) => l.includes('rate limit take failed') && l.includes('"path":"lease"'))).toBe(true);
      },
    );

    it('rejects every waiter with the error after TAKE_ERROR_TRIES errors in a row, one take each try (not one per waiter)', async () => {
      const { rl, config } = erroringLimiter();
      const bucket = bucketOf(config);
      await scope.redis.set(bucket, 'not a hash');
      const errorsBefore = await leaseErrors();
      const takesBefore = await metricValue('pb_rate_limit_takes_total', { where: 'consumer' });
      const started = Date.now();
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, () =>
          rl.take(subject).then(
            (d) => (d.allowed ? 'allowed' : 'refused'),
            (err: Error) => err.message,
          ),
        ),
      );
      const elapsedMs = Date.now() - started;
      await scope.redis.del(bucket);
      for (const o of outcomes) expect(o).toContain('WRONGTYPE');
      expect((await leaseErrors()) - errorsBefore).toBe(TAKE_ERROR_TRIES);
      expect((await metricValue('pb_rate_limit_takes_total', { where: 'consumer' })) - takesBefore).toBe(TAKE_ERROR_TRIES);
      // Tried again after 100 ms, then 200 ms.
      expect(elapsedMs).toBeGreaterThanOrEqual(290);
      // Not wedged: the pair's next take goes to Redis and is granted.
      expect((await rl.take(subject)).allowed).toBe(true);
    });
  });
});
