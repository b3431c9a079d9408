/**
 * The webhook outcomes worker retries an outcome whose operation is not matched yet (the webhook overtook the
 * gateway's answer) for the queue's 20 attempts. A fault of the bridge (a TypeError, a record that does not
 * decode) meets the same fault at every attempt: its job ends after OUTCOME_FAULT_TRIES tries, kept in the
 * failed set, with an error line naming the error's class and a metric.
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
import { ShardKeys } from '../../../src/redis/key-layout';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { GatewayOutcomeJobData, createGatewayOutcomesQueue } from '../../../src/webhooks/gateway-outcomes-queue';
import { OUTCOME_FAULT_TRIES, startOutcomeWorker } from '../../../src/webhooks/outcome-worker';
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

function outcomeFor(operationId: string): GatewayOutcomeJobData {
  return {
    gateway: 'simulator',
    eventId: `evt_${operationId}`,
    operationId,
    outcome: { status: 'SUCCESS', gatewayStatus: 'authorized', amount: 1999, currency: 'EUR' },
  };
}

async function failed(jobId: string): Promise<{ attemptsMade: number }> {
  await eventually(async () => (await (await outcomes.getJob(jobId))?.getState()) === 'failed', 20_000);
  return (await outcomes.getJob(jobId))!;
}

describe('the webhook outcomes worker meeting a fault of the bridge', () => {
  it(`ends the job after ${OUTCOME_FAULT_TRIES} tries, kept in the failed set, with an error line naming error_class and pb_webhook_outcome_faults_total`, async () => {
    const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 1999, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    // The record no longer decodes: every read of it throws a SyntaxError.
    await redis.hset(new ShardKeys(config.redis.keyPrefix, (await ledger.shardOf(id)) ?? 0).op(id), 'payment', '{"amount":');
    const retried = await metricValue('pb_webhook_outcome_faults_total', { gateway: 'simulator', outcome: 'retried' });
    const setAside = await metricValue('pb_webhook_outcome_faults_total', { gateway: 'simulator', outcome: 'set_aside' });

    await outcomes.add('outcome', outcomeFor(id), { jobId: `fault-${id}` });

    const job = await failed(`fault-${id}`);
    expect(job.attemptsMade).toBe(OUTCOME_FAULT_TRIES);
    expect(await metricValue('pb_webhook_outcome_faults_total', { gateway: 'simulator', outcome: 'retried' })).toBe(retried + OUTCOME_FAULT_TRIES - 1);
    expect(await metricValue('pb_webhook_outcome_faults_total', { gateway: 'simulator', outcome: 'set_aside' })).toBe(setAside + 1);
    const line = logs.lines.find((l) => l.includes('"level":"error"') && l.includes(`evt_${id}`));
    expect(line).toContain('"error_class":"SyntaxError"');
    expect(line).not.toContain('could not be matched');
  });

  it('keeps retrying an outcome whose operation is not matched yet for all the queue’s attempts, then says it could not be matched', async () => {
    const id = 'op-never-recorded';
    const job = await outcomes.add('outcome', outcomeFor(id), { jobId: `unmatched-${id}` });
    expect(job.opts.attempts).toBe(20);

    expect((await failed(`unmatched-${id}`)).attemptsMade).toBe(20);
    await eventually(async () => logs.lines.some((l) => l.includes(`evt_${id}`) && l.includes('could not be matched to an operation')));
  });
});
