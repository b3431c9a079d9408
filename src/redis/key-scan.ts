import { Redis } from 'ioredis';
import { RedisClient, isCluster, primaries } from './redis-connection';

/**
 * Key walks that work on a single Redis and on a Redis Cluster alike. On a cluster each primary holds only
 * its own slots' keys, so a SCAN asks every primary, and a delete of many keys goes key by key (one UNLINK
 * of keys in different slots is refused with CROSSSLOT), pipelined on the node that holds them.
 */

/**
 * Resolves when the client can take commands; on a cluster, when it knows the primaries (slot map read).
 * Rejects after `timeoutMs` (default 10000 ms) or when the connection ends first.
 */
export async function whenReady(redis: RedisClient, timeoutMs = 10000): Promise<void> {
  if (redis.status === 'wait') await redis.connect();
  if ((redis.status as string) === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer);
      redis.off('ready', ready);
      redis.off('end', ended);
      if (err) reject(err);
      else resolve();
    };
    const ready = (): void => done();
    const ended = (): void => done(new Error('redis connection ended before it was ready'));
    const timer = setTimeout(() => done(new Error(`redis not ready after ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', ready);
    redis.once('end', ended);
  });
}

/** `text` as a literal in a SCAN MATCH pattern (a key prefix may hold `*`, `?`, `[`). */
export function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * Calls `batch` with the keys matching `pattern` (SCAN MATCH, `count` a hint per step), each batch with
 * the server holding them. A key may be reported twice (SCAN's contract); none that existed throughout is missed.
 */
export async function scanKeys(redis: RedisClient, pattern: string, batch: (keys: string[], node: Redis) => Promise<void>, count = 1000): Promise<void> {
  await whenReady(redis);
  for (const node of primaries(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) await batch(keys, node);
    } while (cursor !== '0');
  }
}

/** Every key matching `pattern`, on every primary. For tests and operator tools, not for the hot path. */
export async function keysMatching(redis: RedisClient, pattern: string): Promise<string[]> {
  const out = new Set<string>();
  await scanKeys(redis, pattern, async (keys) => {
    for (const k of keys) out.add(k);
  });
  return [...out];
}

/** Unlinks every key matching `pattern`; returns how many were removed. */
export async function unlinkMatching(redis: RedisClient, pattern: string): Promise<number> {
  let removed = 0;
  await scanKeys(redis, pattern, async (keys, node) => {
    if (!isCluster(redis)) {
      removed += await node.unlink(...keys);
      return;
    }
    const replies = (await node.pipeline(keys.map((k) => ['unlink', k])).exec()) ?? [];
    for (const [err, n] of replies) if (!err) removed += Number(n);
  });
  return removed;
}
