import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';

/** Where a forbidden value was found. */
export interface Finding {
  where: string;
  needle: string;
}

const BATCH = 500;

/**
 * Looks for any of `needles` (test card numbers, secrets) in every value stored under a Redis key prefix:
 * strings, hashes, lists, sets, sorted sets and streams (BullMQ's event streams included).
 */
export async function scanRedis(redis: Redis, prefix: string, needles: readonly string[]): Promise<{ keys: number; findings: Finding[] }> {
  const findings: Finding[] = [];
  let keys = 0;
  let cursor = '0';
  const check = (where: string, text: string) => {
    for (const needle of needles) if (text.includes(needle)) findings.push({ where, needle: mask(needle) });
  };
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', BATCH);
    cursor = next;
    for (const key of batch) {
      keys += 1;
      check(`redis key ${key}`, key);
      const type = await redis.type(key);
      let text = '';
      switch (type) {
        case 'string':
          text = (await redis.get(key)) ?? '';
          break;
        case 'hash':
          text = JSON.stringify(await redis.hgetall(key));
          break;
        case 'list':
          text = JSON.stringify(await redis.lrange(key, 0, -1));
          break;
        case 'set':
          text = JSON.stringify(await redis.smembers(key));
          break;
        case 'zset':
          text = JSON.stringify(await redis.zrange(key, 0, -1));
          break;
        case 'stream':
          text = JSON.stringify(await redis.xrange(key, '-', '+'));
          break;
        default:
          break;
      }
      check(`redis key ${key}`, text);
    }
  } while (cursor !== '0');
  return { keys, findings };
}

/** Looks for any of `needles` in every file of a directory (the processes' logs). */
export function scanFiles(dir: string, needles: readonly string[]): { files: number; bytes: number; findings: Finding[] } {
  const findings: Finding[] = [];
  let bytes = 0;
  const names = readdirSync(dir).filter((n) => n.endsWith('.log'));
  for (const name of names) {
    const text = readFileSync(join(dir, name), 'utf8');
    bytes += text.length;
    for (const needle of needles) if (text.includes(needle)) findings.push({ where: `file ${name}`, needle: mask(needle) });
  }
  return { files: names.length, bytes, findings };
}

/** Reports name the needle without repeating it: its last four characters only. */
function mask(needle: string): string {
  return `…${needle.slice(-4)}`;
}
