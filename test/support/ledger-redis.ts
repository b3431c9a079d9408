import Redis from 'ioredis';
import { Ledger } from '../../src/ledger/ledger';
import { testNamespace } from './test-config';

/** What a ledger test file works on: its own key prefix, a plain Redis connection and a `Ledger` on both. */
export interface LedgerRedis {
  /** The file's key namespace (`<testNamespace()>:`), set at once. */
  readonly prefix: string;
  /** Set in the file's `beforeAll`. */
  redis: Redis;
  /** Set in the file's `beforeAll`. */
  ledger: Ledger;
}

/**
 * Registers the file's `beforeAll`/`afterAll`: a plain Redis connection (`PB_TEST_REDIS_URL`, default the local
 * 6379; not the cluster client, so a test may MONITOR it) and a `Ledger` under a namespace of the file's own; after
 * the file, every key of that namespace deleted and the connection closed. Fields are filled in before the tests run.
 */
export function useLedgerRedis(): LedgerRedis {
  const bed = { prefix: `${testNamespace()}:` } as LedgerRedis;
  beforeAll(() => {
    bed.redis = new Redis(process.env.PB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    bed.ledger = new Ledger(bed.redis, bed.prefix);
  });
  afterAll(async () => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await bed.redis.scan(cursor, 'MATCH', `${bed.prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length > 0) await bed.redis.del(...keys);
    await bed.redis.quit();
  });
  return bed;
}
