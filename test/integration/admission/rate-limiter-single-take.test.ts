/**
 * A take of one token per command on the real Redis: the intake's (`where: intake`, no lease) and a worker's
 * at `rate_limits.lease_tokens: 1`. A take Redis answers with an error reply (WRONGTYPE here: the account's
 * bucket made a string) is tried again after 100 ms, then 200 ms, as a lease take and a held queue's wake are,
 * the commands of its channel and account arriving meanwhile queued behind it in order; all of it within the
 * take deadline (`rate_limits.take_deadline_ms`), so the intake never holds an HTTP request for longer.
 */
import { RateLimiter, TAKE_ERROR_TRIES } from '../../../src/admission/rate-limiter';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis } from '../../../src/redis/redis-connection';
import { captureLogger } from '../../support/capture-logger';
import { eventually, startTcpProxy } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { accountBucket, scopedRedis } from '../../support/limiter-redis';

jest.setTimeout(60_000);

const subject = { channel: 'web' as const, gateway: 'simulator', account: 'acme-single' };

describe.each([
  ['the intake', 'intake', undefined, 'intake'],
  ['a worker at rate_limits.lease_tokens: 1', 'consumer', 1, 'single'],
] as const)('a take of one token that Redis answers with an error reply: %s', (_label, where, lease, path) => {
  const scope = scopedRedis();

  function erroringLimiter(overrides: Record<string, unknown> = {}): { rl: RateLimiter; bucket: string; lines: string[] } {
    const config = testConfig({ 'rate_limits.by_channel': { web: { per_s: 1, burst: 100_000 } }, 'rate_limits.lease_tokens': 1, ...overrides });
    scope.track(config);
    const { logger, lines } = captureLogger('warn');
    const rl = new RateLimiter({ config, redis: scope.redis, logger, where, ...(lease === undefined ? {} : { lease }) });
    return { rl, bucket: accountBucket(config, subject.account), lines };
  }

  const takeErrors = (): Promise<number> => metricValue('pb_rate_limit_take_errors_total', { where, path });
  const takes = (): Promise<number> => metricValue('pb_rate_limit_takes_total', { where });

  /** A take's outcome, in the order they settle. */
  function outcomeOf(rl: RateLimiter, i: number, order: number[]): Promise<string> {
    return rl.take(subject).then(
      (d) => {
        order.push(i);
        return d.allowed ? 'allowed' : 'refused';
      },
      (err: Error) => `rejected: ${err.message}`,
    );
  }

  it.each([1, 2])(
    'retries a take answered with an error %i time(s) (100 ms, then 200 ms) and lets its command through, those arriving meanwhile queued behind it in order; counted, one warn line',
    async (errors) => {
      // A take deadline with room to spare, as below: at the default 500 ms a machine stalled by other work can let a
      // try pass the deadline, and the command then goes on untaken (this test counts the takes).
      const { rl, bucket, lines } = erroringLimiter({ 'rate_limits.take_deadline_ms': 3_000 });
      await scope.redis.set(bucket, 'not a hash');
      const errorsBefore = await takeErrors();
      const takesBefore = await takes();
      const order: number[] = [];
      const first = outcomeOf(rl, 0, order);
      await eventually(async () => (await takeErrors()) - errorsBefore >= 1, 5_000, 2);
      // Arriving while the first one's take is being retried: queued behind it, no take of their own yet.
      const later = Array.from({ length: 9 }, (_, i) => outcomeOf(rl, i + 1, order));
      await eventually(async () => (await takeErrors()) - errorsBefore >= errors, 5_000, 2);
      // The next try comes after 100 ms (200 ms after the second error): Redis answers it.
      await scope.redis.del(bucket);
      expect(await Promise.all([first, ...later])).toEqual(Array.from({ length: 10 }, () => 'allowed'));
      expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect((await takeErrors()) - errorsBefore).toBe(errors);
      // The first command's tries, then one take each for the nine once it went through.
      expect((await takes()) - takesBefore).toBe(errors + 1 + 9);
      expect(lines.filter((l) => l.includes('rate limit take failed'))).toHaveLength(1);
      expect(lines.some((l) => l.includes('rate limit take failed') && l.includes(`"path":"${path}"`))).toBe(true);
    },
  );

  it('rejects the command with the error after TAKE_ERROR_TRIES errors in a row, and those queued behind it with it (one take a try, after backoffs of 100 then 200 ms)', async () => {
    // A take deadline with room to spare (the default 500 ms leaves a third try only if the second error comes
    // within about 300 ms, which a stalled CI machine can miss): this test is about the tries, the deadline's
    // own tests are below. On the Cluster run (PB_REDIS_CLUSTER) the deadline adds the retry delay: 1 ms.
    const { rl, bucket } = erroringLimiter({ 'rate_limits.take_deadline_ms': 3_000, 'redis.cluster.retry_delay_ms': 1 });
    await scope.redis.set(bucket, 'not a hash');
    const errorsBefore = await takeErrors();
    const takesBefore = await takes();
    const unavailableBefore = await metricValue('pb_rate_limit_unavailable_total', { where, reason: 'deadline' });
    const order: number[] = [];
    const started = Date.now();
    const first = outcomeOf(rl, 0, order);
    await eventually(async () => (await takeErrors()) - errorsBefore >= 1, 5_000, 2);
    const later = Array.from({ length: 4 }, (_, i) => outcomeOf(rl, i + 1, order));
    const outcomes = await Promise.all([first, ...later]);
    const elapsedMs = Date.now() - started;
    await scope.redis.del(bucket);
    for (const o of outcomes) expect(o).toMatch(/^rejected: WRONGTYPE/);
    expect((await takeErrors()) - errorsBefore).toBe(TAKE_ERROR_TRIES);
    expect((await takes()) - takesBefore).toBe(TAKE_ERROR_TRIES);
    // Rejected with the error, not let through at the deadline.
    expect((await metricValue('pb_rate_limit_unavailable_total', { where, reason: 'deadline' })) - unavailableBefore).toBe(0);
    // Tried again after 100 ms, then 200 ms (a lower bound: a loaded machine only makes it later).
    expect(elapsedMs).toBeGreaterThanOrEqual(290);
    // Not wedged: the pair's next take goes to Redis and is granted.
    expect((await rl.take(subject)).allowed).toBe(true);
  });

  // Single Redis only: the proxy stands in front of the single Redis (a Cluster client learns the nodes' own addresses).
  (process.env.PB_REDIS_CLUSTER ? it.skip : it)(
    'lets the command go on unlimited when a retry is not answered, at the take deadline counted from the first try (not a full deadline after the retry)',
    async () => {
      // A take deadline of 2 s: room for the three tries however late a loaded machine runs the backoffs.
      const deadlineMs = 2_000;
      const config = testConfig({
        'rate_limits.by_channel': { web: { per_s: 1, burst: 100_000 } },
        'rate_limits.lease_tokens': 1,
        'rate_limits.take_deadline_ms': deadlineMs,
      });
      scope.track(config);
      const target = new URL(config.redis.url);
      const proxy = await startTcpProxy(Number(target.port || 6379), target.hostname);
      const own = createRedis({ ...config.redis, url: proxy.url('redis') }, 'commands');
      own.on('error', () => undefined);
      try {
        await own.ping();
        const { logger, lines } = captureLogger('warn');
        const rl = new RateLimiter({ config, redis: own, logger, where, ...(lease === undefined ? {} : { lease }) });
        const bucket = accountBucket(config, subject.account);
        await scope.redis.set(bucket, 'not a hash');
        const errorsBefore = await takeErrors();
        const unavailableBefore = await metricValue('pb_rate_limit_unavailable_total', { where, reason: 'deadline' });
        const started = Date.now();
        const decision = rl.take(subject);
        // Two error replies (at 0 and 100 ms or later), then Redis goes silent before the third try (200 ms after
        // the second error: the poll's 2 ms timer comes first, however late the loop runs).
        await eventually(async () => (await takeErrors()) - errorsBefore >= 2, 5_000, 2);
        proxy.hold();
        expect((await decision).allowed).toBe(true);
        const elapsedMs = Date.now() - started;
        await scope.redis.del(bucket);
        // Not before the deadline counted from the first try (a lower bound: load only makes it later).
        expect(elapsedMs).toBeGreaterThanOrEqual(deadlineMs - 20);
        // The third try went out 300 ms or more after the first, so it was given what was left of the deadline:
        // at most 1 700 ms (a full deadline after the retry is 2 000). Read off the deadline the try was given,
        // not the wall clock, which a stalled machine stretches.
        const notChecked = lines.filter((l) => l.includes('rate limit not checked'));
        expect(notChecked).toHaveLength(1);
        const givenMs = Number(/not answered within (\d+) ms/.exec(notChecked[0])?.[1]);
        expect(givenMs).toBeGreaterThan(0);
        expect(givenMs).toBeLessThanOrEqual(deadlineMs - 290);
        expect((await metricValue('pb_rate_limit_unavailable_total', { where, reason: 'deadline' })) - unavailableBefore).toBe(1);
      } finally {
        own.disconnect();
        await proxy.close();
      }
    },
  );

  it('starts no retry that would end past the take deadline: at rate_limits.take_deadline_ms 150 the 200 ms backoff is not waited, the command is rejected after 2 tries, at the second error', async () => {
    // On the Cluster run (PB_REDIS_CLUSTER) the deadline adds the retry delay: 1 ms, not the default 400.
    const { rl, bucket } = erroringLimiter({ 'rate_limits.take_deadline_ms': 150, 'redis.cluster.retry_delay_ms': 1 });
    await scope.redis.set(bucket, 'not a hash');
    const errorsBefore = await takeErrors();
    const started = Date.now();
    const outcome = outcomeOf(rl, 0, []);
    await eventually(async () => (await takeErrors()) - errorsBefore >= 2, 5_000, 2);
    // Rejected in the same turn as the second error reply: a timer of half the backoff, started once that error
    // is counted, still finds it settled; waiting the 200 ms backoff first would lose to the timer. An order of
    // timers, not a wall-clock bound: a stalled machine delays both alike.
    const first = await Promise.race([outcome.then(() => 'settled'), new Promise((r) => setTimeout(() => r('backoff waited'), 100))]);
    expect(first).toBe('settled');
    const elapsedMs = Date.now() - started;
    await scope.redis.del(bucket);
    expect(await outcome).toMatch(/^rejected: WRONGTYPE/);
    expect((await takeErrors()) - errorsBefore).toBe(2);
    // The first backoff (100 ms) was waited (a lower bound: load only makes it later).
    expect(elapsedMs).toBeGreaterThanOrEqual(95);
  });

  it('writes the warn line for an error reply the take deadline leaves no room to retry: at rate_limits.take_deadline_ms 50 the command is rejected at the first error, and an operator is told why', async () => {
    // On the Cluster run (PB_REDIS_CLUSTER) the deadline adds the retry delay: 1 ms, not the default 400.
    const { rl, bucket, lines } = erroringLimiter({ 'rate_limits.take_deadline_ms': 50, 'redis.cluster.retry_delay_ms': 1 });
    await scope.redis.set(bucket, 'not a hash');
    const errorsBefore = await takeErrors();
    const outcome = await outcomeOf(rl, 0, []);
    await scope.redis.del(bucket);
    expect(outcome).toMatch(/^rejected: WRONGTYPE/);
    expect((await takeErrors()) - errorsBefore).toBe(1);
    const warned = lines.filter((l) => l.includes('rate limit take failed'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(`"path":"${path}"`);
    expect(warned[0]).toContain('no room');
  });
});

describe('a worker at rate_limits.lease_tokens: 1 whose take is retried after an error reply, and commands held meanwhile', () => {
  const scope = scopedRedis();

  it.each([
    ['an authorization', 'a capture', false, true, false],
    ['an authorization', 'an authorization', false, false, false],
    ['a capture', 'a capture', true, true, false],
    ['a capture', 'an authorization', true, false, true],
  ])(
    'lets %s that waited behind the retried take go only as take() would with %s held meanwhile (urgent ones queue behind urgent ones only)',
    async (_waitingLabel, _heldLabel, urgent, heldUrgent, allowed) => {
      const config = testConfig({ 'rate_limits.by_channel': { web: { per_s: 1, burst: 100_000 } }, 'rate_limits.lease_tokens': 1 });
      scope.track(config);
      const rl = new RateLimiter({ config, redis: scope.redis, logger: captureLogger('error').logger, where: 'consumer', lease: 1 });
      const bucket = accountBucket(config, subject.account);
      await scope.redis.set(bucket, 'not a hash');
      const errorsBefore = await metricValue('pb_rate_limit_take_errors_total', { where: 'consumer', path: 'single' });
      const first = rl.take(subject);
      await eventually(async () => (await metricValue('pb_rate_limit_take_errors_total', { where: 'consumer', path: 'single' })) > errorsBefore, 5_000, 2);
      // Queued behind the take being retried: no take of its own yet.
      const waiting = rl.take(subject, urgent);
      // A command refused meanwhile (its take was out before the first error reply) is held: one arriving now
      // with the waiting one's urgency is refused without a look at the bucket, or queues behind the retried take.
      let letGo = false;
      const held = rl.waitForToken(subject, { allowed: false, retryAfterMs: 1000, scope: 'account' }, () => letGo === false, heldUrgent);
      const arriving = rl.take(subject, urgent);
      // The retry (after 100 ms) is answered.
      await scope.redis.del(bucket);
      expect((await first).allowed).toBe(true);
      expect((await arriving).allowed).toBe(allowed);
      // The one that waited is decided as the one arriving after the hold.
      expect((await waiting).allowed).toBe(allowed);
      letGo = true;
      await expect(held).rejects.toThrow('stopping while held by a rate limit');
    },
  );
});
