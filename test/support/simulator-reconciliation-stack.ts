import { Queue } from 'bullmq';
import { Config } from '../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../src/delivery/outcome-recorder';
import { EventStore } from '../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../src/events/oms-events-queue';
import { createGatewayClients } from '../../src/gateways/gateway-registry';
import { GatewayRoute } from '../../src/gateways/gateway-route';
import { Ledger, OperationRecord } from '../../src/ledger/ledger';
import { Logger } from '../../src/logging/logger';
import { RedisClient, createRedis } from '../../src/redis/redis-connection';
import { purgeNamespace } from '../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../harness/twins/psp-simulator/psp-simulator';
import { channelCommand } from './fixtures';
import { testConfig } from './test-config';

/** What a reconciliation suite on the PSP simulator's report works on; filled in before the file's tests run. */
export interface SimulatorReconciliationStack {
  sim: PspSimulator;
  config: Config;
  redis: RedisClient;
  ledger: Ledger;
  route: GatewayRoute;
  events: EventStore;
  recorder: OutcomeRecorder;
  eventsQueue: Queue<OmsEventJobData>;
  deliveryQueue: Queue<DeliveryJobData>;
}

/**
 * Registers the file's `beforeAll`/`afterAll`: a PSP simulator (`apiKey`), a configuration of the file's own namespace
 * with its `simulator` gateway (`webhookSecret`, 5 s timeout), one Redis connection, the ledger, event store, OMS events
 * and delivery queues, and an outcome recorder logging to `logger`; all closed, stopped and the namespace purged after
 * the file.
 */
export function useSimulatorReconciliationStack(apiKey: string, webhookSecret: string, logger: Logger): SimulatorReconciliationStack {
  const stack = {} as SimulatorReconciliationStack;
  beforeAll(async () => {
    stack.sim = await startPspSimulator({ apiKey });
    stack.config = testConfig({
      gateways: { simulator: { type: 'simulator', base_url: stack.sim.url, api_key: apiKey, webhook_secret: webhookSecret, timeout_ms: 5000 } },
    });
    const prefix = stack.config.redis.keyPrefix;
    stack.redis = createRedis(stack.config.redis, 'commands');
    stack.ledger = new Ledger(stack.redis, prefix);
    stack.events = new EventStore(stack.redis, prefix);
    stack.eventsQueue = createOmsEventsQueue(stack.redis, prefix);
    stack.deliveryQueue = createDeliveryQueue(stack.redis, prefix);
    stack.recorder = new OutcomeRecorder({ config: stack.config, ledger: stack.ledger, events: stack.events, eventsQueue: stack.eventsQueue, logger });
    stack.route = createGatewayClients(stack.config).get('simulator')!;
  });
  afterAll(async () => {
    await stack.eventsQueue.close();
    await stack.deliveryQueue.close();
    stack.redis.disconnect();
    await stack.sim.stop();
    await purgeNamespace(stack.config).catch(() => undefined);
  });
  return stack;
}

/** An authorize or sale of 25.00 the simulator declined (`pm_card_declined`), recorded FAILED as the bridge records it. */
export async function declinedAtSimulator(stack: SimulatorReconciliationStack, command: 'authorize' | 'sale'): Promise<OperationRecord> {
  const { ledger, route, recorder } = stack;
  const declined = channelCommand(command, {}, { amount: 2500, gateway_key: 'pm_card_declined' });
  const id = declined.payment.operation_reference!;
  await ledger.create(id, declined);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  const op = (await ledger.get(id))!;
  const ctx = { operationId: id, command: declined.command, payment: declined.payment };
  const response = await route.client.send(route.transformer.buildRequest(ctx, route.gateway));
  return recorder.apply(op, route.transformer.parseResponse(ctx, response, route.gateway), 'response');
}
