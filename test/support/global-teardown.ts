import Redis from 'ioredis';

/**
 * Jest globalTeardown: unlinks every Redis key of this run's namespaces (`t<run>*`, see global-setup.ts).
 * Suites that stop their own stacks purge as they go; this catches the rest (ledgers, BullMQ queues and
 * outboxes of integration tests), which otherwise piled up by the thousand on a developer's Redis.
 */
export default async function globalTeardown(): Promise<void> {
  const run = process.env.PB_TEST_RUN;
  if (!run) return;
  const redis = new Redis(process.env.PB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `t${run}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch {
    // Leftover keys are untidy, not wrong: never fail a green run over them.
  } finally {
    redis.disconnect();
  }
}
