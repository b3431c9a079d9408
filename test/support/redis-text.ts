import { keysMatching } from '../../src/redis/key-scan';
import { RedisClient } from '../../src/redis/redis-connection';

/**
 * Every key and value under `prefix`, whatever its type (strings, hashes, lists, sets, sorted sets, streams),
 * as one text: for asserting that something (a card number) was never written to Redis, in keys or values.
 */
export async function redisText(redis: RedisClient, prefix: string): Promise<string> {
  const parts: string[] = [];
  for (const key of await keysMatching(redis, `${prefix}*`)) {
    parts.push(key);
    const type = await redis.type(key);
    if (type === 'string') parts.push((await redis.get(key)) ?? '');
    else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
    else if (type === 'list') parts.push(...(await redis.lrange(key, 0, -1)));
    else if (type === 'set') parts.push(...(await redis.smembers(key)));
    else if (type === 'zset') parts.push(...(await redis.zrange(key, 0, -1)));
    else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
  }
  return parts.join('\n');
}
