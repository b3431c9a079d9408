import { Queue, Worker } from 'bullmq';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { bullPrefix } from '../../../src/queueing/bull-prefix';
import { JOB_LOCK } from '../../../src/queueing/job-lock';
import { WorkerWatchdog } from '../../../src/queueing/worker-watchdog';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';

/**
 * A BullMQ worker whose blocking connection is stuck (after a Redis restart) takes no job while `isRunning()`
 * says true. Here the stuck worker is one that never runs its loop (`autorun: false`): the same view from
 * outside, jobs waiting and none started. The watchdog must replace it with a worker from the same factory,
 * and the waiting jobs must then complete.
 */
const QUEUE = 'watchdog-test';

let config: Config;
let redis: RedisClient;
let blocking: RedisClient;
let queue: Queue;
let watchdog: WorkerWatchdog | null = null;

beforeAll(() => {
  config = testConfig();
  redis = createRedis(config.redis, 'commands');
  blocking = createRedis(config.redis, 'blocking');
  queue = new Queue(QUEUE, { connection: redis, prefix: bullPrefix(config.redis.keyPrefix, QUEUE) });
});

afterEach(async () => {
  if (watchdog) {
    await watchdog.stop();
    await Promise.all(watchdog.workers().map((w) => w.close()));
  }
  watchdog = null;
  await queue.obliterate({ force: true });
});

afterAll(async () => {
  await queue.close();
  redis.disconnect();
  blocking.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** A worker factory whose first worker is stuck (never takes a job) and whose later ones work. */
function factory(done: string[]): { start: () => Worker; started: Worker[] } {
  const started: Worker[] = [];
  const start = (): Worker => {
    const worker = new Worker(
      QUEUE,
      async (job) => {
        done.push(String(job.id));
      },
      { connection: blocking, prefix: bullPrefix(config.redis.keyPrefix, QUEUE), concurrency: 5, autorun: started.length > 0, ...JOB_LOCK },
    );
    worker.on('error', () => undefined);
    started.push(worker);
    return worker;
  };
  return { start, started };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('worker watchdog on Redis', () => {
  it('restarts a worker that takes no job while jobs wait, and the waiting jobs then complete', async () => {
    const done: string[] = [];
    const { start, started } = factory(done);
    const { logger, lines } = captureLogger('info');
    const before = await metricValue('pb_queue_worker_restarts_total', { queue: QUEUE });
    watchdog = new WorkerWatchdog([{ queue, start }], 0, logger);
    await queue.addBulk([1, 2, 3].map((n) => ({ name: 'job', data: { n }, opts: { jobId: `job-${n}` } })));

    await watchdog.checkOnce();
    expect(started).toHaveLength(1); // one stalled check is not enough
    await watchdog.checkOnce();

    expect(started).toHaveLength(2);
    expect(watchdog.workers()).toEqual([started[1]]);
    await until(() => done.length === 3);
    expect(done.sort()).toEqual(['job-1', 'job-2', 'job-3']);
    expect(await metricValue('pb_queue_worker_restarts_total', { queue: QUEUE })).toBe(before + 1);
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'queue worker stalled; restarting it');
    expect(warn).toMatchObject({ level: 'warn', queue: QUEUE, waiting: 3 });
    expect(typeof warn?.seconds_since_last_job).toBe('number');
  }, 60_000);

  it('leaves a worker alone once it has taken the waiting jobs', async () => {
    const done: string[] = [];
    const { start, started } = factory(done);
    // Skip the stuck first worker: the watched one works from the start.
    start();
    watchdog = new WorkerWatchdog([{ queue, start }], 0, captureLogger('info').logger);
    await queue.addBulk([1, 2].map((n) => ({ name: 'job', data: { n }, opts: { jobId: `ok-${n}` } })));
    await until(() => done.length === 2);

    await watchdog.checkOnce();
    await watchdog.checkOnce();
    await watchdog.checkOnce();

    expect(started).toHaveLength(2);
    expect(watchdog.workers()).toEqual([started[1]]);
    await started[0]?.close();
  }, 60_000);
});
