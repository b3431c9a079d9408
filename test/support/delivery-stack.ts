import { Queue } from 'bullmq';
import { Config } from '../../src/config/config';
import { DeliveryService } from '../../src/delivery/delivery-service';
import { DeliveryJobData, createDeliveryQueue } from '../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../src/delivery/outcome-recorder';
import { EventStore } from '../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../src/events/oms-events-queue';
import { createGatewayClients } from '../../src/gateways/gateway-registry';
import { Ledger } from '../../src/ledger/ledger';
import { Logger, silentLogger } from '../../src/logging/logger';
import { OrchestrationPipeline } from '../../src/orchestration/orchestration-pipeline';
import { buildOrchestrationPipeline } from '../../src/orchestration/orchestration-stages';
import { buildOutcomeRecorder } from '../../src/poller/outcome-recorder-wiring';
import { RedisClient, createRedis } from '../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../src/routing/configured-gateway-router';
import { GatewayRouter } from '../../src/routing/gateway-router';
import { SplitStepLookup } from '../../src/split-tender/split-step-lookup';
import { SplitTenderStore } from '../../src/split-tender/split-tender-store';
import { purgeNamespace } from '../../harness/twins/local-stack/local-stack';

/** A delivery service on the real Redis, with what it is built from. */
export interface DeliveryStack {
  config: Config;
  /** The file's one connection to the real Redis. */
  redis: RedisClient;
  service: DeliveryService;
  recorder: OutcomeRecorder;
  ledger: Ledger;
  events: EventStore;
  /** The orchestration the service plans, reserves and fails over with (a test races two workers at its steps). */
  pipeline: OrchestrationPipeline;
}

/** Builds {@link DeliveryStack}s for one test file (see {@link useDeliveryStacks}). */
export interface DeliveryStacks {
  /**
   * A delivery service for `config` (its own namespace: `testConfig()`), on the file's one Redis connection
   * and events queue. `router`: the configured gateways' router unless given (built from the config's
   * clients); `logger`: silent unless given; `now`: the service's clock (epoch ms), the wall clock unless given.
   */
  build(config: Config, options?: { logger?: Logger; router?: (real: GatewayRouter) => GatewayRouter; now?: () => number }): DeliveryStack;
}

/**
 * The set-up the delivery integration tests share: one Redis connection, one OMS events queue and one
 * delivery queue for the file, and per configuration a DeliveryService wired as the worker wires it: one
 * orchestration (on Redis, so caps and risk counters work, and the gateways' clients for FX rates) that
 * delivery reserves with and the outcome recorder releases through, the recorder from the product's
 * `buildOutcomeRecorder` (a FAILED gives back cap reservations and, through orphan reversal, held funds).
 * After the file the queues are closed, the connection dropped and every namespace built purged.
 */
export function useDeliveryStacks(): DeliveryStacks {
  let redis: RedisClient | undefined;
  let eventsQueue: Queue<OmsEventJobData> | undefined;
  let deliveryQueue: Queue<DeliveryJobData> | undefined;
  const configs: Config[] = [];
  afterAll(async () => {
    await eventsQueue?.close();
    await deliveryQueue?.close();
    redis?.disconnect();
    for (const c of configs) await purgeNamespace(c).catch(() => undefined);
    // Purging several namespaces takes a while on a loaded machine.
  }, 60_000);
  return {
    build(config, options = {}) {
      configs.push(config);
      redis ??= createRedis(config.redis, 'commands');
      eventsQueue ??= createOmsEventsQueue(redis, config.redis.keyPrefix);
      deliveryQueue ??= createDeliveryQueue(redis, config.redis.keyPrefix);
      const ledger = new Ledger(redis, config.redis.keyPrefix);
      const events = new EventStore(redis, config.redis.keyPrefix);
      const logger = options.logger ?? silentLogger();
      const routes = createGatewayClients(config);
      const pipeline = buildOrchestrationPipeline({ config, logger, redis, routes, now: options.now });
      const { recorder } = buildOutcomeRecorder({ config, redis, ledger, events, eventsQueue, deliveryQueue, logger, pipeline });
      const real = new ConfiguredGatewayRouter(routes);
      const router = options.router ? options.router(real) : real;
      const splitTenders = new SplitStepLookup(new SplitTenderStore(redis, config.redis.keyPrefix));
      const service = new DeliveryService({ config, ledger, router, recorder, logger, now: options.now, redis, routes, pipeline, splitTenders });
      return { config, redis, service, recorder, ledger, events, pipeline };
    },
  };
}
