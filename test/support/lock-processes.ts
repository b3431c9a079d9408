import { Config } from '../../src/config/config';
import { LeaseHolder } from '../../src/leases/lease-holder';
import { RedisClient, createRedis } from '../../src/redis/redis-connection';
import { testConfig } from './test-config';

/** Processes racing for one fleet lock, as `useLockProcesses` sets them up. Fields are set in its `beforeAll`. */
export interface LockProcesses {
  config: Config;
  /** The test's own connection (the lock's reader). */
  redis: RedisClient;
  /** The lock's key: `<prefix><suffix>`. */
  lock: string;
  /** Another process: its own connection and its own live lease holder (heartbeat 2 s), stopped after the test. */
  aProcess(): Promise<{ redis: RedisClient; holder: LeaseHolder }>;
}

/**
 * One test config (its own key prefix) and connection for a file whose processes race for the lock `<prefix><suffix>`:
 * after each test every process's lease holder is stopped and the lock deleted; after all, every connection closed.
 */
export function useLockProcesses(suffix: string): LockProcesses {
  const holders: LeaseHolder[] = [];
  const opened: RedisClient[] = [];
  const race = {
    aProcess: async () => {
      const connection = createRedis(race.config.redis, 'commands');
      opened.push(connection);
      const holder = new LeaseHolder(connection, race.config.redis.keyPrefix, 2000);
      holders.push(holder);
      await holder.start();
      return { redis: connection, holder };
    },
  } as LockProcesses;
  beforeAll(() => {
    race.config = testConfig();
    race.redis = createRedis(race.config.redis, 'commands');
    race.lock = `${race.config.redis.keyPrefix}${suffix}`;
  });
  afterEach(async () => {
    await Promise.all(holders.splice(0).map((h) => h.stop().catch(() => undefined)));
    await race.redis.del(race.lock);
  });
  afterAll(() => {
    for (const c of opened) c.disconnect();
    race.redis.disconnect();
  });
  return race;
}
