/**
 * What a stop abandoned, written to Redis before the stop closes it (real Redis, own namespace): one HINCRBY a pair
 * on the deployment's `{shutdown}` hash, read back by a scrape (`pb_shutdown_inflight_abandoned`); a Redis gone
 * silent (a proxy that stops forwarding) holds the write at most for what is left of the shutdown budget, and the
 * counts it carried are logged instead.
 */
import Redis from 'ioredis';
import { ABANDONED_RECORD_MS, ShutdownBudget, abandonedCountsKey, countAbandoned, recordAbandoned } from '../../../src/amqp/shutdown-budget';
import { Config } from '../../../src/config/config';
import { silentLogger } from '../../../src/logging/logger';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { captureLogger } from '../../support/capture-logger';
import { TcpProxy, startTcpProxy } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(20_000);

describe('recordAbandoned (real Redis, own namespace)', () => {
  let config: Config;
  let redis: RedisClient;

  beforeAll(() => {
    config = testConfig();
    redis = createRedis(config.redis, 'commands', silentLogger());
  });

  afterAll(async () => {
    await redis.del(abandonedCountsKey(config.redis.keyPrefix));
    redis.disconnect();
  });

  it("adds this role's abandons to the deployment's hash, each pair once, and leaves the other role's for its own stop", async () => {
    const logs = captureLogger('info');
    countAbandoned('worker', 'command', 2);
    countAbandoned('worker', 'queue_job');
    countAbandoned('poller', 'reconciliation');
    const key = abandonedCountsKey(config.redis.keyPrefix);
    await redis.hincrby(key, 'worker:command', 3);
    await recordAbandoned({ redis, keyPrefix: config.redis.keyPrefix, role: 'worker', budget: ShutdownBudget.of(2000), logger: logs.logger });
    expect(await redis.hgetall(key)).toEqual({ 'worker:command': '5', 'worker:queue_job': '1' });
    // Written once: a second stop of the same process adds nothing more.
    await recordAbandoned({ redis, keyPrefix: config.redis.keyPrefix, role: 'worker', budget: ShutdownBudget.of(2000), logger: logs.logger });
    await recordAbandoned({ redis, keyPrefix: config.redis.keyPrefix, role: 'poller', budget: ShutdownBudget.of(2000), logger: logs.logger });
    expect(await redis.hgetall(key)).toEqual({ 'worker:command': '5', 'worker:queue_job': '1', 'poller:reconciliation': '1' });
    expect(logs.lines.filter((l) => l.includes('abandoned work not recorded'))).toEqual([]);
  });

  describe('with Redis gone silent', () => {
    let proxy: TcpProxy;
    let silent: Redis;

    beforeAll(async () => {
      proxy = await startTcpProxy(6379);
      silent = new Redis({ host: '127.0.0.1', port: proxy.port, lazyConnect: true, maxRetriesPerRequest: null });
      await silent.connect();
    });

    afterAll(async () => {
      silent.disconnect();
      await proxy.close();
    });

    it('gives the write up within what is left of the budget (its floor once spent), logs the counts it carried, and never holds the stop', async () => {
      const logs = captureLogger('info');
      countAbandoned('worker', 'poll_pass');
      proxy.hold();
      // The budget's clock is the test's: 600 ms of an 800 ms deadline (a quarter kept back), 200 of them gone when
      // the write starts. The bound the write is given is then exactly what is left (400 ms), less than its own
      // (ABANDONED_RECORD_MS), whatever the machine's load; a real-time bound would only show it by a narrow margin.
      let clock = 1_000_000;
      const budget = ShutdownBudget.of(800, () => clock);
      clock += 200;
      const started = Date.now();
      await recordAbandoned({ redis: silent, keyPrefix: config.redis.keyPrefix, role: 'worker', budget, logger: logs.logger });
      const tookMs = Date.now() - started;
      // Never holding the stop: the silent Redis answers nothing before release(), so a write waited for
      // unbounded never ends; the bound is wide, the exact bound is the warn line's below.
      expect(tookMs).toBeLessThan(5_000);
      expect(budget.cut).toContain('abandoned_record');
      const warn = logs.lines.find((l) => l.includes('shutdown: abandoned work not recorded in Redis'));
      expect(warn).toBeDefined();
      expect(JSON.parse(warn as string)).toMatchObject({
        level: 'warn',
        role: 'worker',
        counts: { 'worker:poll_pass': 1 },
        error: 'no answer within 400 ms',
      });
      // The budget's bound, not the write's own, decided it.
      expect(ABANDONED_RECORD_MS).toBeGreaterThan(400);
      proxy.release();
    });

    it('logs a write Redis refuses, with the counts it carried', async () => {
      const logs = captureLogger('info');
      countAbandoned('poller', 'poll_pass', 2);
      // A string where the hash should be: Redis answers WRONGTYPE.
      const prefix = `${config.redis.keyPrefix}wrongtype:`;
      await redis.set(abandonedCountsKey(prefix), 'not a hash');
      try {
        await recordAbandoned({ redis, keyPrefix: prefix, role: 'poller', budget: ShutdownBudget.of(2000), logger: logs.logger });
      } finally {
        await redis.del(abandonedCountsKey(prefix));
      }
      const warn = logs.lines.find((l) => l.includes('shutdown: abandoned work not recorded in Redis'));
      expect(JSON.parse(warn as string)).toMatchObject({
        level: 'warn',
        role: 'poller',
        counts: { 'poller:poll_pass': 2 },
        error: expect.stringContaining('WRONGTYPE'),
      });
    });
  });
});
