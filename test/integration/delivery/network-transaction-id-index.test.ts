/**
 * A network transaction id the bridge reports (the simulator's: 15 digits passing the Luhn check, a card number to every
 * scan) is noted in the issued-token index before the SUCCESS event tells the OMS, so the OMS quoting it back in a
 * merchant-initiated command's `payment.recurring.network_transaction_id` is accepted; the same digits never reported
 * are still refused as card data. Real Redis and the real simulator, the recorder of the delivery path.
 */
import { RedisClient } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { validateCommandReport } from '../../../src/contracts/command-validator';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { IssuedTokens, issuedTokenOf } from '../../../src/ledger/issued-tokens';
import { Ledger } from '../../../src/ledger/ledger';
import { createLogger } from '../../../src/logging/logger';
import { luhnValid } from '../../../src/logging/redact';
import { CARD_LIKE_NTI_PAYMENT_METHOD } from '../../../harness/twins/psp-simulator/simulator-state';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { thrownBy } from '../../support/thrown';
import { PassThrough } from 'node:stream';

const API_KEY = 'sim-nti-index-test-key-0123456789';

let sim: PspSimulator;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let config: Config;

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-nti-index-test-0123456789', timeout_ms: 1000 } },
  });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await eventsQueue?.close();
  redis?.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

/** A merchant-initiated sale of a stored card quoting `id` as the first payment's network transaction id. */
const mit = (id: string) =>
  channelCommand(
    'sale',
    {},
    {
      gateway: 'simulator',
      gateway_key: 'tok_stored',
      payment_method: { type: 'stored_card' },
      recurring: { model: 'unscheduled', network_transaction_id: id },
    },
  );

it('notes a card-like id it reports, so the OMS quoting it back is accepted; the same shape never reported is refused', async () => {
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const logger = createLogger({ stream: new PassThrough(), level: 'info' });
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  const service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger });
  // The simulator answers this card's authorizations with a card-like id (15 digits, Luhn-valid), as Visa's may be.
  const command = channelCommand('authorize', {}, { gateway_key: CARD_LIKE_NTI_PAYMENT_METHOD });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  const found = await metricValue('pb_network_transaction_ids_total', { gateway: 'simulator', found: 'yes' });
  expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  expect(await metricValue('pb_network_transaction_ids_total', { gateway: 'simulator', found: 'yes' })).toBe(found + 1);
  const reported = (await events.load(`${id}.SUCCEEDED`))?.params as { payment: { network_transaction_id?: string } };
  const nti = reported.payment.network_transaction_id!;
  expect(luhnValid(nti)).toBe(true);

  const tokens = new IssuedTokens(ledger, config.serviceBus);
  expect(await tokens.networkIdGatewayOf(nti)).toBe('simulator');
  const back = await issuedTokenOf(tokens, mit(nti), config.gateways);
  const { command: accepted, issued } = validateCommandReport(mit(nti), undefined, back.values);
  expect(accepted.payment.recurring?.network_transaction_id).toBe(nti);
  expect(issued).toEqual(['payment.recurring.network_transaction_id']);

  // The same digits with another check digit's neighbour: Luhn-valid, never reported.
  const never = `${nti.slice(0, 13)}${(Number(nti[13]) + 1) % 10}`;
  const other = [...Array(10).keys()].map((d) => `${never}${d}`).find((s) => luhnValid(s))!;
  expect(await tokens.networkIdGatewayOf(other)).toBeNull();
  const refused = await issuedTokenOf(tokens, mit(other), config.gateways);
  expect(thrownBy(() => validateCommandReport(mit(other), undefined, refused.values), CommandValidationError)).toMatchObject({
    code: 'CARD_DATA_REJECTED',
    field: 'payment.recurring.network_transaction_id',
  });
});
