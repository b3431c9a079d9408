import { PassThrough } from 'node:stream';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { createLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-decline-test-key-0123456789';

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

/** Delivery on real Redis and the real simulator; the log lines are kept for assertions. */
function setup(): { service: DeliveryService; recorder: OutcomeRecorder; ledger: Ledger; events: EventStore; logs: () => Record<string, unknown>[] } {
  const config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-decline-test-0123456789', timeout_ms: 1000 } },
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  eventsQueue ??= createOmsEventsQueue(redis, config.redis.keyPrefix);
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) =>
    lines.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l.length > 0),
    ),
  );
  const logger = createLogger({ stream, level: 'info' });
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  const service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger });
  return { service, recorder, ledger, events, logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function record(ledger: Ledger, command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

async function failEventDecline(events: EventStore, id: string): Promise<unknown> {
  const stored = await events.load(`${id}.FAILED`);
  const payment = (stored?.params as { payment?: Record<string, unknown> } | undefined)?.payment;
  expect(payment?.status).toBe('FAIL');
  return payment?.decline;
}

describe('FAIL events carry the normalized decline', () => {
  it('a PSP decline (simulator insufficient_funds) is kept on the ledger record and sent on the FAIL event', async () => {
    const { service, ledger, events } = setup();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_insufficient_funds' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    const expected = {
      category: 'insufficient_funds',
      gateway_code: 'insufficient_funds',
      customer_message: expect.stringContaining('insufficient funds'),
      suggested_action: 'use_another_method',
    };
    expect((await ledger.get(id))?.decline).toEqual(expected);
    expect(await failEventDecline(events, id)).toEqual(expected);
  });

  it('a suspected fraud decline tells the customer nothing about the fraud check', async () => {
    const { service, ledger, events } = setup();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_fraudulent' }));
    await service.deliver(id);
    const decline = (await failEventDecline(events, id)) as Record<string, string>;
    expect(decline).toMatchObject({ category: 'suspected_fraud', gateway_code: 'fraudulent', suggested_action: 'use_another_method' });
    expect(decline.customer_message.toLowerCase()).not.toContain('fraud');
  });

  it('a terminal GatewayError (404 on an unknown authorization) gets its category in onError', async () => {
    const { service, ledger, events } = setup();
    const id = await record(ledger, channelCommand('validate', {}, { gateway_key: 'auth_does_not_exist' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await failEventDecline(events, id)).toMatchObject({ category: 'invalid_request', gateway_code: 'not_found', suggested_action: 'fix_request' });
  });

  it('a failure of ours (capture of a declined authorization) gets its category from the bridge table', async () => {
    const { service, ledger, events } = setup();
    const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_declined' });
    const authId = await record(ledger, auth);
    await service.deliver(authId);
    // Same order: a capture for another order would be refused for its scope, not its authorization's failure.
    const captureId = await record(ledger, channelCommand('capture', {}, { gateway_key: authId, order_id: auth.payment.order_id }));
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await failEventDecline(events, captureId)).toMatchObject({
      category: 'operation_not_permitted',
      gateway_code: 'AUTHORIZATION_FAILED',
      suggested_action: 'fix_request',
    });
  });

  it('an unmapped PSP code falls back to unknown, with a warn line naming the raw code and a metric', async () => {
    const { recorder, ledger, events, logs } = setup();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    const op = (await ledger.get(id))!;
    const before = await metricValue('pb_decline_unmapped_total', { gateway_type: 'simulator' });
    await recorder.apply(op, { status: 'FAIL', gatewayStatus: 'declined', reason: 'brand_new_decline_code' }, 'webhook');
    expect(await failEventDecline(events, id)).toMatchObject({
      category: 'unknown',
      gateway_code: 'brand_new_decline_code',
      suggested_action: 'contact_support',
    });
    expect(await metricValue('pb_decline_unmapped_total', { gateway_type: 'simulator' })).toBe(before + 1);
    const line = logs().find((l) => l.gateway_code === 'brand_new_decline_code');
    expect(line).toMatchObject({ level: 'warn', operation_id: id, gateway_type: 'simulator' });
  });

  it('a repeated FAIL for an operation already FAILED is neither counted nor logged again', async () => {
    const { recorder, ledger, logs } = setup();
    const id = await record(ledger, channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    const outcome = { status: 'FAIL' as const, gatewayStatus: 'declined', reason: 'another_new_decline_code' };
    const failed = await recorder.apply((await ledger.get(id))!, outcome, 'webhook');
    const before = await metricValue('pb_declines_total', { gateway_type: 'simulator', category: 'unknown' });
    await recorder.apply(failed, outcome, 'webhook');
    expect(await metricValue('pb_declines_total', { gateway_type: 'simulator', category: 'unknown' })).toBe(before);
    expect(logs().filter((l) => l.gateway_code === 'another_new_decline_code')).toHaveLength(1);
  });
});
