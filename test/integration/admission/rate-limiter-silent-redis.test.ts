/**
 * A Redis that accepts connections and never answers (a Redis Cluster whose nodes are restarting: the client
 * holds the command until `commandTimeout` ends it with "Command timed out"). The intake's rate limiter must
 * treat that as Redis being unavailable and let the command through, as it does for a refused connection:
 * before, the timeout escaped the limiter and the bus got HTTP 500 for valid commands (drill 3 on the local
 * Redis Cluster). The limiter does not wait for the client's timeout either: past its take deadline
 * (`rate_limits.take_deadline_ms`) it goes on.
 */
import { createServer, Server, Socket } from 'node:net';
import { AddressInfo } from 'node:net';
import { RateLimiter, takeDeadlineMs } from '../../../src/admission/rate-limiter';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { isDependencyOutage } from '../../../src/errors/dependency-outage';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';

jest.setTimeout(60_000);

describe('RateLimiter on a Redis that never answers', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let redis: RedisClient;

  beforeAll(async () => {
    // Accepts, reads and never replies: every command ends by the client's command timeout.
    server = createServer((socket) => {
      sockets.push(socket);
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    redis = createRedis({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'silent:', cluster: undefined }, 'commands', undefined, { timeoutMs: 300 });
    redis.on('error', () => undefined);
  });

  afterAll(async () => {
    redis.disconnect();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('the client reports the silence as "Command timed out", which counts as a dependency outage', async () => {
    const err = await redis.get('silent:any').then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toBe('Command timed out');
    expect(isDependencyOutage(err)).toBe(true);
  });

  it('lets the command through (allowed, counted as not checked) instead of throwing', async () => {
    const config = testConfig({ 'rate_limits.by_channel': { bus: { per_s: 1, burst: 1 } } });
    const { logger, lines } = captureLogger('warn');
    const limiter = new RateLimiter({ config, redis, logger, where: 'intake' });
    const decision = await limiter.take({ channel: 'bus', gateway: 'simulator', account: 'acme-eu' });
    expect(decision.allowed).toBe(true);
    expect(lines.some((l) => l.includes('rate limit not checked'))).toBe(true);
  });

  it('follows rate_limits.take_deadline_ms, and gives a Cluster’s take its client’s retry delay on top (one retry after a failover is a slow answer, not an outage)', () => {
    const single = { url: 'redis://x', keyPrefix: 'p:', cluster: undefined };
    const cluster = { nodes: ['127.0.0.1:7001'], retryDelayMs: 400, retryDelayOnMovedMs: 100, maxRedirections: 16, slotsRefreshIntervalMs: 5000 };
    const rateLimits = testConfig().rateLimits;
    expect(takeDeadlineMs({ redis: single, rateLimits })).toBe(500);
    expect(takeDeadlineMs({ redis: { ...single, cluster }, rateLimits })).toBe(900);
    const tuned = { ...rateLimits, takeDeadlineMs: 150 };
    expect(takeDeadlineMs({ redis: single, rateLimits: tuned })).toBe(150);
    expect(takeDeadlineMs({ redis: { ...single, cluster }, rateLimits: tuned })).toBe(550);
  });

  it.each([
    ['the default take deadline', {}, 500],
    ['rate_limits.take_deadline_ms: 150', { 'rate_limits.take_deadline_ms': 150 }, 150],
  ])(
    'lets the command through after %s on a client whose command timeout is the default 5 s (counted in pb_rate_limit_unavailable_total)',
    async (_label, overrides, setting) => {
      const { port } = server.address() as AddressInfo;
      const patient = createRedis({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'silent:', cluster: undefined }, 'commands');
      patient.on('error', () => undefined);
      try {
        const config = testConfig({ 'rate_limits.by_channel': { bus: { per_s: 1, burst: 1 } }, ...overrides });
        const { logger, lines } = captureLogger('warn');
        const limiter = new RateLimiter({ config, redis: patient, logger, where: 'intake' });
        const deadline = takeDeadlineMs(config);
        expect(config.rateLimits.takeDeadlineMs).toBe(setting);
        const before = await metricValue('pb_rate_limit_unavailable_total', { where: 'intake', reason: 'deadline' });
        const started = Date.now();
        const decision = await limiter.take({ channel: 'bus', gateway: 'simulator', account: 'acme-eu' });
        const elapsedMs = Date.now() - started;
        expect(decision.allowed).toBe(true);
        expect(elapsedMs).toBeGreaterThanOrEqual(deadline - 20);
        expect(elapsedMs).toBeLessThan(deadline + 700);
        expect(await metricValue('pb_rate_limit_unavailable_total', { where: 'intake', reason: 'deadline' })).toBe(before + 1);
        expect(lines.some((l) => l.includes('rate limit not checked') && l.includes(`not answered within ${deadline} ms`))).toBe(true);
      } finally {
        patient.disconnect();
      }
    },
  );
});
