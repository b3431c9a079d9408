/**
 * A webhook's operation id comes from the PSP's merchant reference: one that only looks like ours, or names an
 * operation retention removed, names no operation the ledger holds. The outcome worker then looks the item's PSP
 * reference up, as for a webhook naming no operation id, rather than retrying the id until the job fails.
 */
import { Queue, Worker } from 'bullmq';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { Config } from '../../../src/config/config';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { GatewayOutcomeJobData, createGatewayOutcomesQueue } from '../../../src/webhooks/gateway-outcomes-queue';
import { startOutcomeWorker } from '../../../src/webhooks/outcome-worker';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(30_000);

let config: Config;
let redis: RedisClient;
let blocking: RedisClient;
let ledger: Ledger;
let outcomes: Queue<GatewayOutcomeJobData>;
let eventsQueue: Queue<OmsEventJobData>;
let worker: Worker<GatewayOutcomeJobData>;
const logs = captureLogger('info');

beforeAll(() => {
  config = testConfig({
    'delivery.backoff_base_ms': 10,
    'delivery.backoff_max_ms': 20,
    gateways: { simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'sim-key-unused-0123456789' } },
  });
  redis = createRedis(config.redis, 'commands');
  blocking = createRedis(config.redis, 'blocking');
  ledger = new Ledger(redis, config.redis.keyPrefix);
  outcomes = createGatewayOutcomesQueue(redis, config.redis.keyPrefix);
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: logs.logger });
  const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
  worker = startOutcomeWorker(config, blocking, { ledger, recorder, adjustments, logger: logs.logger });
});

afterAll(async () => {
  await worker.close();
  await outcomes.close();
  await eventsQueue.close();
  blocking.disconnect();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** An authorization of 1999 EUR the simulator holds under `pspReference`, PENDING (the reference indexed). */
async function pendingUnder(pspReference: string): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 1999, currency: 'EUR' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await ledger.transitionAndGet(
    id,
    'PENDING',
    { event: 'outcome', source: 'response' },
    { gatewayReference: pspReference, nextCheckAt: Date.now() + 600_000, pollStep: 0 },
    { reference: { gateway: 'simulator', reference: pspReference } },
  );
  return id;
}

const counted = (outcome: string): Promise<number> => metricValue('pb_webhook_unknown_operation_id_total', { gateway: 'simulator', outcome });

describe('a webhook outcome naming an operation id the ledger does not hold', () => {
  it('is applied to the operation its PSP reference is indexed to, counted and logged', async () => {
    const pspReference = `sim_ref_${process.pid}_${Date.now()}`;
    const id = await pendingUnder(pspReference);
    const before = await counted('matched_by_reference');

    await outcomes.add('outcome', {
      gateway: 'simulator',
      eventId: `evt_unknown_${id}`,
      operationId: 'op_removed_by_retention',
      gatewayReference: pspReference,
      outcome: { status: 'SUCCESS', gatewayStatus: 'authorized', amount: 1999, currency: 'EUR', gatewayReference: pspReference },
    });

    await eventually(async () => (await ledger.get(id))?.state === 'SUCCEEDED');
    expect(await counted('matched_by_reference')).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('matched by its PSP reference') && l.includes(id) && l.includes('op_removed_by_retention'))).toBe(true);
  });

  it('still refuses an outcome for another amount on the operation found by reference (scope checks unchanged)', async () => {
    const pspReference = `sim_ref_scope_${process.pid}_${Date.now()}`;
    const id = await pendingUnder(pspReference);
    const jobId = `unknown-scope-${id}`;

    await outcomes.add(
      'outcome',
      {
        gateway: 'simulator',
        eventId: `evt_scope_${id}`,
        operationId: 'op_not_ours',
        gatewayReference: pspReference,
        outcome: { status: 'SUCCESS', gatewayStatus: 'authorized', amount: 2999, currency: 'EUR', gatewayReference: pspReference },
      },
      { jobId },
    );

    await eventually(async () => (await (await outcomes.getJob(jobId))?.getState()) === 'failed');
    expect((await outcomes.getJob(jobId))?.attemptsMade).toBe(1);
    expect((await ledger.get(id))?.state).toBe('PENDING');
  });
});
