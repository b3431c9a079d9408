import { Queue } from 'bullmq';
import type { Channel } from 'amqplib';
import { RedisClient } from '../redis/redis-connection';
import { AmqpConnection } from '../amqp/amqp-connection';
import { closeChannelWithin } from '../amqp/channel-close';
import { Config } from '../config/config';
import { OPERATION_STATES, POLLED_STATES } from '../ledger/operation-state';
import { OVERDUE_GRACE_MS, ScrapeSnapshot } from '../metrics/scrape-gauges';
import { PSP_RETRY_WAIT_MS } from '../ops/held-for-psp-retry';
import { shardKeysOf } from '../redis/key-layout';
import { ABANDONABLE, abandonedCountsKey } from '../amqp/shutdown-budget';

/** BullMQ job states the queue-depth gauge reports. */
const JOB_STATES = ['waiting', 'delayed', 'failed', 'active'] as const;

/**
 * Builds a process' scrape-time snapshot: one Redis pipeline per ledger shard (state index sizes, the overdue polled
 * operations, the outbox's unsent index, the re-captures held past their wait for the failure they follow, the
 * captures and refunds held for their PSP's retry and their age), the fleet's work abandoned at a stop (one hash, written
 * by the stopping process before it exited), BullMQ's job counts per queue, and the two RabbitMQ queues by a passive
 * check on a short-lived channel (skipped while the broker is away).
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
    // Its own slot (`{shutdown}`), so beside the shard pipelines rather than in one of them.
    const abandonedRead = redis.hgetall(abandonedCountsKey(prefix));
    // Handled: a shard read failing first ends this snapshot before it is awaited (its own failure is the same Redis).
    abandonedRead.catch(() => undefined);
    // One pipeline per ledger shard (its keys share a slot: src/redis/key-layout.ts), sent together, summed.
    const perShard = await Promise.all(
      shardKeysOf(prefix).map(async (keys) => {
        const pipeline = redis.pipeline();
        for (const s of OPERATION_STATES) pipeline.zcard(keys.state(s));
        for (const s of POLLED_STATES) {
          pipeline.zcount(keys.state(s), '-inf', now - OVERDUE_GRACE_MS);
          pipeline.zrange(keys.state(s), 0, 0, 'WITHSCORES');
        }
        pipeline.zcard(keys.unsentEvents);
        pipeline.zrange(keys.unsentEvents, 0, 0, 'WITHSCORES');
        pipeline.zcard(keys.rejectedEvents);
        pipeline.zcount(keys.heldRecaptures, '-inf', now - config.delivery.recaptureFailureWaitMs);
        pipeline.zcount(keys.surfacedRecaptures, '-inf', now - config.delivery.recaptureFailureWaitMs);
        pipeline.zcard(keys.heldForPspRetry);
        pipeline.zcount(keys.heldForPspRetry, '-inf', now - PSP_RETRY_WAIT_MS);
        pipeline.zrange(keys.heldForPspRetry, 0, 0, 'WITHSCORES');
        return ((await pipeline.exec()) ?? []).map(([err, value]) => {
          if (err) throw err;
          return value;
        });
      }),
    );
    const operations: Record<string, number> = {};
    for (const s of OPERATION_STATES) operations[s] = 0;
    const overdue: ScrapeSnapshot['overdue'] = {};
    const dueAt: Record<string, number> = {};
    for (const s of POLLED_STATES) {
      overdue[s] = { count: 0, oldestSeconds: 0 };
      dueAt[s] = now;
    }
    let eventsUnsent = 0;
    let eventsSetAside = 0;
    let recapturesAwaitingFailure = 0;
    let oldestUnsentAt = now;
    const heldForPspRetry = { count: 0, overdue: 0, oldestSeconds: 0 };
    let heldSince = now;
    for (const results of perShard) {
      let i = 0;
      for (const s of OPERATION_STATES) operations[s] += Number(results[i++]);
      for (const s of POLLED_STATES) {
        const count = Number(results[i++]);
        const first = results[i++] as string[];
        overdue[s].count += count;
        if (count > 0 && first.length === 2) dueAt[s] = Math.min(dueAt[s], Number(first[1]));
      }
      eventsUnsent += Number(results[i++]);
      const oldest = results[i++] as string[];
      if (oldest.length === 2) oldestUnsentAt = Math.min(oldestUnsentAt, Number(oldest[1]));
      eventsSetAside += Number(results[i++]);
      // Held past the wait and not surfaced yet (surfaced at the next pass), and surfaced ones still waiting.
      recapturesAwaitingFailure += Number(results[i++]);
      recapturesAwaitingFailure += Number(results[i++]);
      heldForPspRetry.count += Number(results[i++]);
      heldForPspRetry.overdue += Number(results[i++]);
      const held = results[i] as string[];
      if (held.length === 2) heldSince = Math.min(heldSince, Number(held[1]));
    }
    for (const s of POLLED_STATES) overdue[s].oldestSeconds = overdue[s].count > 0 ? Math.max(0, now - dueAt[s]) / 1000 : 0;
    const eventLagSeconds = Math.max(0, now - oldestUnsentAt) / 1000;
    heldForPspRetry.oldestSeconds = heldForPspRetry.count > 0 ? Math.max(0, now - heldSince) / 1000 : 0;

    const abandoned = await abandonedRead;
    // Every pair a stop can abandon, at 0 before its first (and any other field a newer release wrote).
    const shutdownAbandoned: ScrapeSnapshot['shutdownAbandoned'] = ABANDONABLE.map(({ role, work }) => ({
      role,
      work,
      count: Number(abandoned[`${role}:${work}`] ?? 0),
    }));
    for (const [field, value] of Object.entries(abandoned)) {
      const [role, work] = field.split(':');
      if (work !== undefined && !shutdownAbandoned.some((a) => a.role === role && a.work === work))
        shutdownAbandoned.push({ role, work, count: Number(value) });
    }

    const queues: ScrapeSnapshot['queues'] = [];
    for (const [name, queue] of Object.entries(deps.queues)) {
      const counts = await queue.getJobCounts(...JOB_STATES);
      for (const state of JOB_STATES) queues.push({ queue: name, state, count: counts[state] ?? 0 });
    }
    if (deps.amqp?.connected) queues.push(...(await brokerDepths(deps.amqp, config.amqp)));
    return {
      operations,
      overdue,
      queues,
      eventsUnsent,
      eventLagSeconds,
      eventsSetAside,
      recapturesAwaitingFailure,
      heldForPspRetry,
      shutdownAbandoned,
    };
  };
}

/**
 * The two RabbitMQ queues' ready messages, read on a short-lived channel within `amqp.publish_timeout_ms` (the
 * channel's opening included): a broker that has gone silent leaves them out of this scrape (their gauges keep
 * their last values) rather than holding it, and every scrape after it, for ever. The channel's close is
 * bounded too (`closeChannelWithin`), also when it opens after the bound; past it the close is given up and the
 * connection kept: it is the process's, not the scrape's (a worker's consumer lanes hold unacked messages on it).
 */
async function brokerDepths(connection: AmqpConnection, amqp: Config['amqp']): Promise<ScrapeSnapshot['queues']> {
  const model = await connection.connect();
  const close = (ch: Channel) =>
    closeChannelWithin(ch, { timeoutMs: amqp.publishTimeoutMs, what: 'scrape_snapshot', logger: connection.logger, onTimeout: 'abandon' });
  let channel: Channel | undefined;
  const opening = model.createChannel().then((ch) => {
    ch.on('error', () => undefined);
    channel = ch;
    return ch;
  });
  const rows: ScrapeSnapshot['queues'] = [];
  const read = opening.then(async (ch) => {
    for (const [name, queue] of [
      ['commands', amqp.commandsQueue],
      ['dead_letter', amqp.deadLetterQueue],
    ] as const) {
      const { messageCount } = await ch.checkQueue(queue);
      rows.push({ queue: name, state: 'ready', count: messageCount });
    }
    return true;
  });
  // Past the bound nobody waits for it: its failure (the channel or the connection gone) is no one's to hear.
  read.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  let done: boolean;
  try {
    done = await Promise.race([read, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), amqp.publishTimeoutMs)))]);
  } finally {
    clearTimeout(timer);
    if (channel) await close(channel);
    // Not open yet: closed (bounded) once it is, if it ever is.
    else void opening.then(close).catch(() => undefined);
  }
  return done ? rows : [];
}
