import { RedisClient } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { GatewayRouter } from '../../../src/routing/gateway-router';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-refusal-test-key-0123456789';

let sim: PspSimulator;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
const configs: Config[] = [];

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
});

afterAll(async () => {
  await eventsQueue?.close();
  redis?.disconnect();
  await sim.stop();
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

/** The real simulator route, with its transformer's buildRequest replaced when `refuse` is given. */
function setup(refuse?: () => never): { service: DeliveryService; ledger: Ledger; events: EventStore } {
  const config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-refusal-test-0123456789', timeout_ms: 1000 } },
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  eventsQueue ??= createOmsEventsQueue(redis, config.redis.keyPrefix);
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const logger = silentLogger();
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  const real = new ConfiguredGatewayRouter(createGatewayClients(config));
  const router: GatewayRouter = {
    route: (op) => {
      const route = real.route(op);
      if ('refused' in route || !refuse) return route;
      return { ...route, transformer: Object.assign(Object.create(route.transformer) as typeof route.transformer, { buildRequest: refuse }) };
    },
  };
  const service = new DeliveryService({ config, ledger, router, recorder, logger });
  return { service, ledger, events };
}

async function record(ledger: Ledger, command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

describe('a transformer that refuses a command', () => {
  it('FAILs the operation with reason COMMAND_REFUSED (a CommandValidationError from the transformer), and the OMS is told', async () => {
    const { service, ledger, events } = setup(() => {
      throw new CommandValidationError('payment.custom_attributes.stripe_payment_method', 'revalidate needs the PaymentMethod id to re-authorize');
    });
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    const op = await ledger.get(id);
    expect(op?.state).toBe('FAILED');
    const event = await events.load(`${id}.FAILED`);
    expect(JSON.stringify(event?.params)).toContain('COMMAND_REFUSED');
    // The field the refusal names reaches the OMS, as our other refusals' do.
    expect(event?.params.payment).toMatchObject({ reason: 'COMMAND_REFUSED', field: 'payment.custom_attributes.stripe_payment_method' });
    expect(sim.counters().effects[id]).toBeUndefined();
  });

  it('FAILs the operation on any other error thrown while building the request (a RangeError), instead of retrying forever', async () => {
    const { service, ledger, events } = setup(() => {
      throw new RangeError('form field amount must be an integer');
    });
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    // No field is named where the refusal names none.
    expect(await events.load(`${id}.FAILED`)).toBeDefined();
    expect((await events.load(`${id}.FAILED`))?.params.payment).not.toHaveProperty('field');
  });

  it('FAILs a simulator capture whose gateway_key is ".." (it would rewrite the path) without calling the PSP', async () => {
    const { service, ledger, events } = setup();
    const requests = sim.counters().requests;
    const id = await record(ledger, channelCommand('capture', {}, { gateway_key: '..' }));
    const step = await service.deliver(id);
    expect(step).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sim.counters().requests).toBe(requests);
    expect(JSON.stringify((await events.load(`${id}.FAILED`))?.params)).toContain('INVALID_PATH_SEGMENT');
  });
});
