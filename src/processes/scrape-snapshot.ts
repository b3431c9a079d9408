import { Queue } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { AmqpConnection } from '../amqp/amqp-connection';
import { Config } from '../config/config';
import { OPERATION_STATES, POLLED_STATES } from '../ledger/operation-state';
import { OVERDUE_GRACE_MS, ScrapeSnapshot } from '../metrics/scrape-gauges';

/** BullMQ job states the queue-depth gauge reports. */
const JOB_STATES = ['waiting', 'delayed', 'failed', 'active'] as const;

/**
 * Builds a process' scrape-time snapshot: one Redis pipeline (state index sizes, the overdue polled
 * operations, the outbox's unsent index), BullMQ's job counts per queue, and the two RabbitMQ queues by a
 * passive check on a short-lived channel (skipped while the broker is away).
 */
export function scrapeSnapshot(deps: {
  config: Config;
  redis: RedisClient;
  queues: Record<string, Queue>;
  amqp?: AmqpConnection;
}): () => Promise<ScrapeSnapshot> {
  const { config, redis } = deps;
  const prefix = config.redis.keyPrefix;
  return async () => {
    const now = Date.now();
    const pipeline = redis.pipeline();
    for (const s of OPERATION_STATES) pipeline.zcard(`${prefix}ops:state:${s}`);
    for (const s of POLLED_STATES) {
      pipeline.zcount(`${prefix}ops:state:${s}`, '-inf', now - OVERDUE_GRACE_MS);
      pipeline.zrange(`${prefix}ops:state:${s}`, 0, 0, 'WITHSCORES');
    }
    pipeline.zcard(`${prefix}events:unsent`);
    pipeline.zrange(`${prefix}events:unsent`, 0, 0, 'WITHSCORES');
    const results = ((await pipeline.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    });
    let i = 0;
    const operations: Record<string, number> = {};
    for (const s of OPERATION_STATES) operations[s] = Number(results[i++]);
    const overdue: ScrapeSnapshot['overdue'] = {};
    for (const s of POLLED_STATES) {
      const count = Number(results[i++]);
      const first = results[i++] as string[];
      const dueAt = first.length === 2 ? Number(first[1]) : now;
      overdue[s] = { count, oldestSeconds: count > 0 ? Math.max(0, now - dueAt) / 1000 : 0 };
    }
    const eventsUnsent = Number(results[i++]);
    const oldestUnsent = results[i] as string[];
    const eventLagSeconds = oldestUnsent.length === 2 ? Math.max(0, now - Number(oldestUnsent[1])) / 1000 : 0;

    const queues: ScrapeSnapshot['queues'] = [];
    for (const [name, queue] of Object.entries(deps.queues)) {
      const counts = await queue.getJobCounts(...JOB_STATES);
      for (const state of JOB_STATES) queues.push({ queue: name, state, count: counts[state] ?? 0 });
    }
    if (deps.amqp?.connected) {
      const model = await deps.amqp.connect();
      const channel = await model.createChannel();
      channel.on('error', () => undefined);
      try {
        for (const [name, queue] of [
          ['commands', config.amqp.commandsQueue],
          ['dead_letter', config.amqp.deadLetterQueue],
        ] as const) {
          const { messageCount } = await channel.checkQueue(queue);
          queues.push({ queue: name, state: 'ready', count: messageCount });
        }
      } finally {
        await channel.close().catch(() => undefined);
      }
    }
    return { operations, overdue, queues, eventsUnsent, eventLagSeconds };
  };
}
