import { Queue, Worker } from 'bullmq';
import { AdjustmentStore } from '../../src/adjustments/adjustment-store';
import { Config } from '../../src/config/config';
import { AdjustmentRecorder } from '../../src/delivery/adjustment-recorder';
import { OutcomeRecorder } from '../../src/delivery/outcome-recorder';
import { EventStore } from '../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../src/events/oms-events-queue';
import { Ledger } from '../../src/ledger/ledger';
import { RedisClient, createRedis } from '../../src/redis/redis-connection';
import { GatewayOutcomeJobData, createGatewayOutcomesQueue } from '../../src/webhooks/gateway-outcomes-queue';
import { startOutcomeWorker } from '../../src/webhooks/outcome-worker';
import { purgeNamespace } from '../../harness/twins/local-stack/local-stack';
import { captureLogger } from './capture-logger';
import { testConfig } from './test-config';

/** The webhook outcomes worker on its own namespace, with what a test drives and reads it through. */
export interface OutcomeWorkerStack {
  config: Config;
  redis: RedisClient;
  ledger: Ledger;
  /** The queue the web process puts verified webhook outcomes on; the worker consumes it. */
  outcomes: Queue<GatewayOutcomeJobData>;
  /** The worker's log lines, from `info`. */
  readonly logs: ReturnType<typeof captureLogger>;
}

/**
 * Registers (at a test file's top level) the webhook outcomes worker with its outcome and adjustment recorders,
 * on a fresh namespace with a `simulator` gateway and 10-20 ms retry backoffs; closed and purged after the file.
 * The returned object's fields are set once `beforeAll` has run.
 */
export function useOutcomeWorkerStack(): OutcomeWorkerStack {
  const stack = { logs: captureLogger('info') } as OutcomeWorkerStack;
  let blocking: RedisClient;
  let eventsQueue: Queue<OmsEventJobData>;
  let worker: Worker<GatewayOutcomeJobData>;

  beforeAll(() => {
    const config = testConfig({
      'delivery.backoff_base_ms': 10,
      'delivery.backoff_max_ms': 20,
      gateways: { simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'sim-key-unused-0123456789' } },
    });
    const redis = createRedis(config.redis, 'commands');
    blocking = createRedis(config.redis, 'blocking');
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    const logger = stack.logs.logger;
    const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger });
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger });
    worker = startOutcomeWorker(config, blocking, { ledger, recorder, adjustments, logger });
    Object.assign(stack, { config, redis, ledger, outcomes: createGatewayOutcomesQueue(redis, config.redis.keyPrefix) });
  });

  afterAll(async () => {
    await worker.close();
    await stack.outcomes.close();
    await eventsQueue.close();
    blocking.disconnect();
    stack.redis.disconnect();
    await purgeNamespace(stack.config).catch(() => undefined);
  });

  return stack;
}
