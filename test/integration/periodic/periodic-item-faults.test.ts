import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RecurringRunner } from '../../../src/recurring/recurring-runner';
import { RecurringStore, recurringKeys } from '../../../src/recurring/recurring-store';
import { RedisClient } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * The periodic jobs that run due items one by one (recurring schedules, authorization expiry warnings,
 * orphan reversal, customer action expiry, risk review expiry, retention): an item whose run throws a fault
 * of its own is counted (`pb_periodic_item_faults_total{job}`), logged as an error and put back after a
 * backoff, so once as many faulting items as the pass limit sit at the head of the index, the items behind
 * them still get their turn; a due entry whose record is gone is removed. Real Redis, own namespace.
 */

let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let recorder: OutcomeRecorder;
let deliveryQueue: Queue<DeliveryJobData>;
let eventsQueue: Queue<OmsEventJobData>;

beforeAll(() => {
  config = testConfig({
    'recurring.run_limit': 2,
    'authorizations.sweep_limit': 2,
    'authorizations.orphan_reversal': 'dry_run',
    'retention.archive_dir': mkdtempSync(join(tmpdir(), 'pb-periodic-faults-')),
    'retention.batch': 2,
    'risk.rules': [{ name: 'big-chf', when: ['high_amount'], action: 'hold' }],
    'risk.amount_thresholds': { CHF: 100000 },
  });
  redis = testRedis(config);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: captureLogger().logger });
});

afterAll(async () => {
  await deliveryQueue.close();
  await eventsQueue.close();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

interface LogLine {
  level: string;
  message: string;
  job?: string;
  error_class?: string;
  [field: string]: unknown;
}

function parsed(lines: string[]): LogLine[] {
  return lines.map((l) => JSON.parse(l) as LogLine);
}

/** The error lines of faulted items of `job`. */
function faultLines(lines: string[], job: string): LogLine[] {
  return parsed(lines).filter((l) => l.level === 'error' && l.job === job && l.message.startsWith('periodic job item faulted'));
}

describe('periodic job items that fault', () => {
  it('recurring: two schedules that do not decode at the head of the due index are put back, the schedule behind them is charged, a due entry without a schedule is removed', async () => {
    const store = new RecurringStore(redis, config.redis.keyPrefix);
    const keys = recurringKeys(config.redis.keyPrefix);
    for (const [i, id] of ['bad-sched-1', 'bad-sched-2'].entries()) {
      await redis.hset(keys.schedule(id), 'definition', '{not json', 'state', 'active');
      await redis.zadd(keys.due, i + 1, id);
    }
    await redis.zadd(keys.due, 3, 'gone-sched');
    const { schedule } = await store.add({
      id: 'good-sched',
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: 'pm_card_visa',
      amount: 1500,
      currency: 'EUR',
      order_id: 'SUB-GOOD',
      start_at: new Date(Date.now() - 1000).toISOString(),
      interval: { unit: 'month', count: 1 },
    });
    expect(schedule.nextAt).toBeGreaterThan(3);
    const { logger, lines } = captureLogger();
    const runner = new RecurringRunner({ config, store, ledger, recorder, deliveryQueue, logger });
    const faults = await metricValue('pb_periodic_item_faults_total', { job: 'recurring' });
    expect(await runner.runOnce()).toMatchObject({ due: 2, errors: 2, started: 0 });
    expect(await runner.runOnce()).toMatchObject({ due: 2, errors: 0, started: 1 });
    expect((await ledger.get('good-sched.c1'))?.state).toBe('RECEIVED');
    expect(await redis.zscore(keys.due, 'gone-sched')).toBeNull();
    expect(Number(await redis.zscore(keys.due, 'bad-sched-1'))).toBeGreaterThan(Date.now());
    expect(await metricValue('pb_periodic_item_faults_total', { job: 'recurring' })).toBe(faults + 2);
    expect(faultLines(lines, 'recurring')).toEqual([
      expect.objectContaining({ schedule_id: 'bad-sched-1', error_class: 'SyntaxError' }),
      expect.objectContaining({ schedule_id: 'bad-sched-2', error_class: 'SyntaxError' }),
    ]);
    expect(parsed(lines).some((l) => l.message.startsWith('periodic job: due entry with nothing to run') && l.schedule_id === 'gone-sched')).toBe(true);
  });

  it('recurring: a dependency outage ends the pass (thrown), counts no fault and leaves the schedule due', async () => {
    const store = new RecurringStore(redis, config.redis.keyPrefix);
    const keys = recurringKeys(config.redis.keyPrefix);
    await redis.zadd(keys.due, 0, 'outage-sched');
    const down = Object.assign(Object.create(store) as RecurringStore, {
      get: async () => {
        throw new DependencyUnavailableError('redis', 'connection is closed');
      },
    });
    const runner = new RecurringRunner({ config, store: down, ledger, recorder, deliveryQueue, logger: captureLogger().logger });
    const faults = await metricValue('pb_periodic_item_faults_total', { job: 'recurring' });
    await expect(runner.runOnce()).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(await redis.zscore(keys.due, 'outage-sched')).toBe('0');
    expect(await metricValue('pb_periodic_item_faults_total', { job: 'recurring' })).toBe(faults);
    await redis.zrem(keys.due, 'outage-sched');
  });
});
