import { RedisClient } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { GatewayError, GatewayErrorKind } from '../../../src/errors/gateway-error';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { GatewayResponse } from '../../../src/gateways/gateway-adapter';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { GatewaySender } from '../../../src/gateways/gateway-route';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * What delivery does with a gateway error is decided by `GatewayError.retryable` alone, and a gateway's
 * Retry-After is carried to the next attempt even above `delivery.backoff_max_ms`, up to
 * `delivery.retry_after_max_ms`. The gateway here is a client that answers what each test needs.
 */
let config: Config;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let ledger: Ledger;
const logs = captureLogger('warn');

beforeAll(() => {
  config = testConfig({
    'delivery.backoff_max_ms': 60_000,
    'delivery.retry_after_max_ms': 120_000,
    gateways: {
      simulator: {
        type: 'simulator',
        base_url: 'http://127.0.0.1:1',
        api_key: 'sim-retry-decision-key-0123456789',
        webhook_secret: 'whsec-retry-decision-0123456789',
      },
    },
  });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** A delivery service whose simulator gateway answers with `client`. */
function serviceWith(client: GatewaySender): DeliveryService {
  const routes = createGatewayClients(config);
  const route = routes.get('simulator')!;
  routes.set('simulator', { ...route, client });
  const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: logs.logger });
  return new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(routes), recorder, logger: logs.logger });
}

const throwing = (err: GatewayError): GatewaySender => ({
  send: async () => {
    throw err;
  },
});

const answering = (response: Omit<GatewayResponse, 'elapsedMs'>): GatewaySender => ({ send: async () => ({ ...response, elapsedMs: 1 }) });

/** A GatewayError whose `retryable` says the opposite of what its kind usually means. */
function overruled(kind: GatewayErrorKind, retryable: boolean): GatewayError {
  const err = new GatewayError(kind, 'simulator', `a ${kind} that is ${retryable ? '' : 'not '}retryable`);
  Object.defineProperty(err, 'retryable', { value: retryable });
  return err;
}

async function newOperation(): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

describe('the retry decision', () => {
  it('fails an operation for good when the error says it is not retryable, whatever its kind', async () => {
    const id = await newOperation();
    const step = await serviceWith(throwing(overruled('server_error', false))).deliver(id);
    expect(step).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(id))?.state).toBe('FAILED');
  });

  it('retries an operation when the error says it is retryable, whatever its kind', async () => {
    const id = await newOperation();
    const step = await serviceWith(throwing(overruled('invalid_request', true))).deliver(id);
    expect(step).toMatchObject({ kind: 'retry', reason: 'invalid_request' });
    expect((await ledger.get(id))?.state).toBe('SENT');
  });

  it("waits for a gateway's Retry-After above delivery.backoff_max_ms", async () => {
    const id = await newOperation();
    const step = await serviceWith(answering({ status: 429, headers: { 'retry-after': '90' }, body: '{"error":{"code":"rate_limited"}}' })).deliver(id);
    expect(step).toEqual({ kind: 'retry', reason: 'rate_limited', retryAfterMs: 90_000 });
  });

  it('waits no longer than delivery.retry_after_max_ms, counting and logging the capped Retry-After', async () => {
    const before = await metricValue('pb_gateway_retry_after_capped_total', { gateway: 'simulator' });
    const id = await newOperation();
    const step = await serviceWith(answering({ status: 429, headers: { 'retry-after': '86400' }, body: '{"error":{"code":"rate_limited"}}' })).deliver(id);
    expect(step).toEqual({ kind: 'retry', reason: 'rate_limited', retryAfterMs: 120_000 });
    expect(await metricValue('pb_gateway_retry_after_capped_total', { gateway: 'simulator' })).toBe(before + 1);
    const line = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.operation_id === id && String(l.message).includes('retry_after_max_ms'));
    expect(line).toMatchObject({ message: expect.stringContaining('delivery.retry_after_max_ms'), retry_after_ms: 86_400_000, retry_after_max_ms: 120_000 });
  });
});
