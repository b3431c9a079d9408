import { Config } from '../../src/config/config';
import { createRedis, RedisClient } from '../../src/redis/redis-connection';
import { testConfig } from './test-config';

/**
 * A Redis client for a test: the configuration's Redis (single, or the local cluster with
 * `PB_REDIS_CLUSTER=1`), through the product's own `createRedis`. Default: `testConfig()`'s.
 * For key walks that work on both, see src/redis/key-scan.ts (`keysMatching`, `unlinkMatching`).
 */
export function testRedis(config: Config = testConfig(), use: 'commands' | 'blocking' = 'commands'): RedisClient {
  return createRedis(config.redis, use);
}
