import { RedisClient } from '../../../src/redis/redis-connection';
import { BreakerBoard, readBreakerBoard } from '../../../src/delivery/breaker-board';
import { CircuitBreaker } from '../../../src/delivery/circuit-breaker';
import { testNamespace } from '../../support/test-config';
import { eventually } from '../../support/tcp-proxy';
import { testRedis } from '../../support/test-redis';

describe('the breaker board (workers report breaker changes, the console reads them)', () => {
  let redis: RedisClient;
  beforeAll(() => {
    redis = testRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('a breaker that opens and closes again is reported with its latest state, per gateway and worker', async () => {
    const prefix = `${testNamespace()}:`;
    const board = new BreakerBoard(redis, prefix);
    let now = 1_000;
    const breaker = new CircuitBreaker(
      2,
      500,
      () => now,
      (_from, to) => board.report('stripe', to, now),
    );
    breaker.failure();
    breaker.failure();
    await eventually(async () => (await readBreakerBoard(redis, prefix, now)).some((r) => r.state === 'open'));
    expect(await readBreakerBoard(redis, prefix, now)).toEqual([{ gateway: 'stripe', worker: expect.stringMatching(/.+:\d+$/), state: 'open', since: 1_000 }]);
    now = 2_000;
    breaker.success();
    await eventually(async () => (await readBreakerBoard(redis, prefix, now))[0]?.state === 'closed');
    // A closed report a day old is dropped; an open one is kept, however old (a worker died with it open).
    expect(await readBreakerBoard(redis, prefix, now + 2 * 24 * 3600 * 1000)).toEqual([]);
  });
});
