/**
 * The workers' in-process poller (`poller.in_process_interval_ms` > 0) runs the same periodic jobs as the
 * poller role: besides the status inquiries and the authorization lifecycle, the customer-action expiry,
 * the recurring cycles and the risk-review expiry. A worker alone (no poller process) must settle all three.
 */
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { ACTION_EXPIRED } from '../../../src/poller/action-expiry';
import { PERIODIC_JOB_NAMES } from '../../../src/processes/periodic-jobs';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { RecurringStore } from '../../../src/recurring/recurring-store';
import { createRedis } from '../../../src/redis/redis-connection';
import { ReviewStore } from '../../../src/risk/review-store';
import { RISK_REVIEW_EXPIRED } from '../../../src/risk/risk-reasons';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(90_000);

const API_KEY = 'sim-in-process-poller-key-0123456789';
let sim: PspSimulator;
let redis: RedisClient;
let config: Config;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    'poller.in_process_interval_ms': 200,
    'authentication.action_timeout_ms': 1,
    'risk.rules': [{ name: 'big-chf', when: ['high_amount'], action: 'hold' }],
    'risk.amount_thresholds': { CHF: 100000 },
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-in-process-0123456789', timeout_ms: 2000 } },
  });
  redis = createRedis(config.redis, 'commands');
});

afterAll(async () => {
  await worker?.stop().catch(() => undefined);
  redis?.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

test('the periodic job list names every job the poller role runs', () => {
  expect([...PERIODIC_JOB_NAMES]).toEqual([
    'authorization_lifecycle',
    'retention',
    'event_index_trim',
    'risk_review_expiry',
    'action_expiry',
    'recurring',
    'recapture_wait',
  ]);
});

test('a worker with the in-process poller alone expires customer actions and review holds and starts due recurring cycles', async () => {
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: silentLogger() });
  const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;

  // A customer action nobody completes (its timeout is 1 ms): no PSP reference, so nothing to void.
  const actionId = `act-${tag}`;
  await ledger.create(actionId, channelCommand('authorize', {}, { operation_reference: actionId, order_id: `ACT-${tag}` }));
  await ledger.transition(actionId, 'SENT', { event: 'attempt' });
  const sent = await ledger.get(actionId);
  await recorder.apply(
    sent!,
    { status: 'ACTION_REQUIRED', gatewayStatus: 'requires_action', action: { kind: 'three_ds', url: 'https://psp.example/3ds' } },
    'response',
  );
  expect((await ledger.get(actionId))?.state).toBe('ACTION_REQUIRED');

  // A review hold whose deadline passed.
  const heldId = `held-${tag}`;
  await ledger.create(heldId, channelCommand('authorize', {}, { operation_reference: heldId, order_id: `HELD-${tag}`, amount: 200000, currency: 'CHF' }));
  await new ReviewStore(redis, config.redis.keyPrefix).hold(heldId, Date.now() - 1000, 'big-chf', 'high_amount');

  // A recurring schedule whose first cycle is due.
  const scheduleId = `sub-${tag}`;
  await new RecurringStore(redis, config.redis.keyPrefix).add({
    id: scheduleId,
    gateway: 'simulator',
    gateway_account: 'acme-eu',
    gateway_key: 'pm_card_visa',
    amount: 1500,
    currency: 'EUR',
    order_id: `SUB-${tag}`,
    start_at: new Date(Date.now() - 1000).toISOString(),
    interval: { unit: 'month', count: 1 },
  });

  worker = await startWorkerProcess(config, silentLogger(), {
    routes: createGatewayClients(config),
    notifier: { notify: async () => undefined },
    monitoringPort: 0,
  });

  await eventually(async () => {
    const [action, held, cycle] = await Promise.all([ledger.get(actionId), ledger.get(heldId), ledger.get(`_${scheduleId}.c1`)]);
    return action?.state === 'FAILED' && held?.state === 'FAILED' && cycle?.state === 'SUCCEEDED';
  }, 60_000);
  expect(await ledger.get(actionId)).toMatchObject({ state: 'FAILED', reason: ACTION_EXPIRED });
  expect(await ledger.get(heldId)).toMatchObject({ state: 'FAILED', reason: RISK_REVIEW_EXPIRED });
  expect(await ledger.get(`_${scheduleId}.c1`)).toMatchObject({ state: 'SUCCEEDED', channel: 'bridge' });
  await eventsQueue.close();
});
