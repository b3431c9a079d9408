import { accountDigest } from '../../src/admission/rate-limiter';
import { Config } from '../../src/config/config';
import { unlinkMatching } from '../../src/redis/key-scan';
import { RedisClient } from '../../src/redis/redis-connection';
import { testRedis } from './test-redis';

/** A describe block's Redis client (set in `beforeAll`) and the configurations its tests made, whose keys go after it. */
export interface ScopedRedis {
  /** The client: read it inside a test or hook, never at describe time (it is made in `beforeAll`). */
  readonly redis: RedisClient;
  /** Keeps `config` for the clean-up after the block, and returns it. */
  track(config: Config): Config;
  /** The configurations tracked so far, in order. */
  readonly tracked: readonly Config[];
}

/**
 * Registers, in the calling describe block, a Redis client opened before its tests and, after them, the removal of
 * every key under the prefixes of the configurations its tests {@link ScopedRedis.track}ed, then the client's close.
 */
export function scopedRedis(): ScopedRedis {
  let client: RedisClient | undefined;
  const configs: Config[] = [];
  beforeAll(() => {
    client = testRedis();
  });
  afterAll(async () => {
    if (!client) return;
    for (const config of configs) await unlinkMatching(client, `${config.redis.keyPrefix}*`);
    client.disconnect();
  });
  return {
    get redis(): RedisClient {
      if (!client) throw new Error('scopedRedis: the client is made in beforeAll; read it inside a test or hook');
      return client;
    },
    track(config: Config): Config {
      configs.push(config);
      return config;
    },
    tracked: configs,
  };
}

/** The key of an account's token bucket under `config`'s prefix (a gateway's account, by its digest). */
export function accountBucket(config: Config, account: string, gateway = 'simulator'): string {
  return `${config.redis.keyPrefix}{ratelimit}:account:${accountDigest(gateway, account)}`;
}
