import { Queue } from 'bullmq';
import { PassThrough } from 'node:stream';
import { Config } from '../../../src/config/config';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { Ledger } from '../../../src/ledger/ledger';
import { createLogger } from '../../../src/logging/logger';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * A bus configured with `service_bus.amount_units: major` sends its commands in major units (intake converts
 * them to minor units for the ledger and the PSPs): the events it is told come back in major units, on a
 * real Redis through the outcome recorder, the one place every event is recorded.
 */
let config: Config;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let ledger: Ledger;
let events: EventStore;
let recorder: OutcomeRecorder;

beforeAll(() => {
  config = testConfig({ 'service_bus.amount_units': 'major' });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: createLogger({ stream: new PassThrough(), level: 'error' }) });
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

async function captured(id: string, confirmed: number): Promise<Record<string, unknown>> {
  // USD 25 as the bus sent it, 2500 minor units in the ledger.
  await ledger.create(id, channelCommand('capture', { channel: 'bus' }, { operation_reference: id, order_id: `o-${id}`, amount: 2500, currency: 'USD' }));
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await recorder.apply((await ledger.get(id))!, { status: 'SUCCESS', gatewayStatus: 'captured', amount: confirmed, currency: 'USD' }, 'response');
  return (await events.load(`${id}.SUCCEEDED`))!.params.payment as Record<string, unknown>;
}

describe('events to a bus that counts in major units', () => {
  it('carry the amounts in whole major units, and say so', async () => {
    expect(await captured('units-1', 2500)).toMatchObject({ amount: 25, requested_amount: 25, currency: 'USD', amount_units: 'major' });
  });

  it('keep a PSP figure that is no whole major unit exact, in minor units, saying so (never rounded)', async () => {
    expect(await captured('units-2', 2499)).toMatchObject({ amount: 2499, requested_amount: 2500, discrepancy: 'amount_mismatch', amount_units: 'minor' });
  });
});
