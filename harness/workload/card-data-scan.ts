import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RedisClient } from '../../src/redis/redis-connection';
import { scanKeys } from '../../src/redis/key-scan';

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
export async function scanRedis(redis: RedisClient, prefix: string, needles: readonly string[]): Promise<{ keys: number; findings: Finding[] }> {
  const findings: Finding[] = [];
  let keys = 0;
  const check = (where: string, text: string) => {
    for (const needle of needles) if (text.includes(needle)) findings.push({ where, needle: mask(needle) });
  };
  // Every primary's keys on a cluster; each read goes to the node holding the key.
  await scanKeys(
    redis,
    `${prefix}*`,
    async (batch, node) => {
      for (const key of batch) {
        keys += 1;
        check(`redis key ${key}`, key);
        const type = await node.type(key);
        let text = '';
        switch (type) {
          case 'string':
            text = (await node.get(key)) ?? '';
            break;
          case 'hash':
            text = JSON.stringify(await node.hgetall(key));
            break;
          case 'list':
            text = JSON.stringify(await node.lrange(key, 0, -1));
            break;
          case 'set':
            text = JSON.stringify(await node.smembers(key));
            break;
          case 'zset':
            text = JSON.stringify(await node.zrange(key, 0, -1));
            break;
          case 'stream':
            text = JSON.stringify(await node.xrange(key, '-', '+'));
            break;
          default:
            break;
        }
        check(`redis key ${key}`, text);
      }
    },
    BATCH,
  );
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
