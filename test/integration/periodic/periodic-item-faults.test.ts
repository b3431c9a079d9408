import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { RetentionSweep } from '../../../src/data-lifecycle/retention-sweep';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { ActionExpiry } from '../../../src/poller/action-expiry';
import { AuthorizationExpirySweep } from '../../../src/poller/authorization-expiry';
import { OrphanReversal } from '../../../src/poller/orphan-reversal';
import { RiskReviewExpiry } from '../../../src/poller/risk-review-expiry';
import { RecurringRunner } from '../../../src/recurring/recurring-runner';
import { RecurringStore, recurringKeys } from '../../../src/recurring/recurring-store';
import { shardKeysOf } from '../../../src/redis/key-layout';
import { RedisClient } from '../../../src/redis/redis-connection';
import { ReviewStore } from '../../../src/risk/review-store';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * The periodic jobs that run due items one by one (recurring schedules, authorization expiry warnings,
 * orphan reversal, customer action expiry, risk review expiry, retention): an item whose run throws a fault
 * of its own is counted (`pb_periodic_item_faults_total{job}`), logged as an error and put back after a
 * backoff, so once as many faulting items as the pass limit sit at the head of the index, the items behind
 * them still get their turn; a due entry whose record is gone is removed. Real Redis, own namespace.
 */

const DAY = 86_400_000;
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

/** The operation's record no longer decodes (its payment is not JSON): reading it throws a SyntaxError. */
async function spoil(id: string): Promise<void> {
  const shard = await ledger.shardOf(id);
  await redis.hset(shardKeysOf(config.redis.keyPrefix)[shard ?? 0].op(id), 'payment', '{not json');
}

/** A recorded operation of `command`, moved to `to` (with `fields`) at `at`. */
async function recorded(
  command: PaymentCommand,
  to: 'SUCCEEDED' | 'FAILED' | 'ACTION_REQUIRED',
  fields: Parameters<Ledger['transition']>[3],
  at = Date.now(),
): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command, at);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, {}, at);
  await ledger.transition(id, to, { event: 'outcome' }, fields, at);
  return id;
}

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
    expect((await ledger.get('_good-sched.c1'))?.state).toBe('RECEIVED');
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

  it('authorization expiry: two records that do not decode at the head of the index are put back, the authorization behind them is warned', async () => {
    const now = Date.now();
    const bad: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const id = await recorded(channelCommand('authorize'), 'SUCCEEDED', { expiresAt: now + 1000 + i });
      await spoil(id);
      bad.push(id);
    }
    const good = await recorded(channelCommand('authorize'), 'SUCCEEDED', { expiresAt: now + 5000 });
    const emitted: string[] = [];
    const { logger, lines } = captureLogger();
    const sweep = new AuthorizationExpirySweep({ config, redis, ledger, emit: async (e) => void emitted.push(e.eventId), logger });
    const faults = await metricValue('pb_periodic_item_faults_total', { job: 'authorization_expiry' });
    expect(await sweep.runOnce()).toMatchObject({ due: 2, errors: 2, warned: 0 });
    expect(await sweep.runOnce()).toMatchObject({ warned: 1, errors: 0 });
    expect(emitted).toEqual([`${good}.expiring`]);
    expect(await metricValue('pb_periodic_item_faults_total', { job: 'authorization_expiry' })).toBe(faults + 2);
    expect(faultLines(lines, 'authorization_expiry').map((l) => l.operation_id)).toEqual(bad);
    expect(await ledger.inAuthorizationIndex('expiry', bad[0])).toBe(true);
  });

  it('orphan reversal: two records that do not decode at the head of the index are put back, the authorization behind them is decided', async () => {
    const now = Date.now();
    const bad: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const id = await recorded(channelCommand('authorize'), 'SUCCEEDED', { orphanAt: now - 5000 + i, expiresAt: now + 10 * DAY });
      await spoil(id);
      bad.push(id);
    }
    const good = await recorded(channelCommand('authorize'), 'SUCCEEDED', { orphanAt: now - 1000, expiresAt: now + 10 * DAY, gatewayReference: 'pi_good' });
    const { logger, lines } = captureLogger();
    const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger });
    const faults = await metricValue('pb_periodic_item_faults_total', { job: 'orphan_reversal' });
    expect(await orphans.sweep()).toMatchObject({ candidates: 2, errors: 2 });
    const second = await orphans.sweep();
    expect(second.decisions.map((d) => d.authorizationId)).toContain(good);
    expect(second.errors).toBe(0);
    expect(await metricValue('pb_periodic_item_faults_total', { job: 'orphan_reversal' })).toBe(faults + 2);
    expect(faultLines(lines, 'orphan_reversal').map((l) => l.operation_id)).toEqual(bad);
  });

  it('action expiry: two records that do not decode at the head of the index are put back, the operation behind them is decided, an entry without a record is removed', async () => {
    const now = Date.now();
    const bad: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const id = await recorded(channelCommand('authorize'), 'ACTION_REQUIRED', { nextCheckAt: now - 9000 + i });
      await spoil(id);
      bad.push(id);
    }
    const good = await recorded(channelCommand('authorize'), 'ACTION_REQUIRED', { nextCheckAt: now - 1000 });
    const keys = shardKeysOf(config.redis.keyPrefix)[(await ledger.shardOf(good)) ?? 0];
    await redis.zadd(keys.state('ACTION_REQUIRED'), now - 5000, 'gone-op');
    const { logger, lines } = captureLogger();
    const router = new ConfiguredGatewayRouter(createGatewayClients(config));
    const expiry = new ActionExpiry({ config, redis, ledger, router, recorder, deliveryQueue, logger });
    const faults = await metricValue('pb_periodic_item_faults_total', { job: 'action_expiry' });
    expect(await expiry.runOnce(2)).toMatchObject({ due: 2, errors: 2, expired: 0 });
    // This configuration has no gateway: its route is refused, so the PSP is not asked and the operation is deferred, not failed.
    expect(await expiry.runOnce(2)).toMatchObject({ due: 2, errors: 0, expired: 0, deferred: 1 });
    expect(await ledger.get(good)).toMatchObject({ state: 'ACTION_REQUIRED' });
    expect((await ledger.interactions(good)).at(-1)).toMatchObject({ event: 'action_expiry_deferred', cause: 'route_refused' });
    expect(await redis.zscore(keys.state('ACTION_REQUIRED'), 'gone-op')).toBeNull();
    expect(await metricValue('pb_periodic_item_faults_total', { job: 'action_expiry' })).toBe(faults + 2);
    expect(faultLines(lines, 'action_expiry').map((l) => l.operation_id)).toEqual(bad);
  });

  it('risk review expiry: holds that cannot be read at the head of the deadline index no longer abort the pass; the hold behind them is voided, an entry without a hold is removed', async () => {
    const reviews = new ReviewStore(redis, config.redis.keyPrefix);
    const due = `${config.redis.keyPrefix}{risk:review}:due`;
    // 500 (the pass limit) holds stored as another type: every read of them is a WRONGTYPE reply.
    for (let i = 0; i < 500; i += 1) {
      await redis.set(`${config.redis.keyPrefix}{risk:review}:op:bad-hold-${i}`, 'x');
      await redis.zadd(due, 1 + i, `bad-hold-${i}`);
    }
    await redis.zadd(due, 600, 'gone-hold');
    const good = channelCommand('authorize', {}, { amount: 150000, currency: 'CHF' });
    const id = good.payment.operation_reference!;
    await ledger.create(id, good);
    await reviews.hold(id, Date.now() - 1000, 'big-chf', 'high_amount');
    const { logger, lines } = captureLogger();
    const expiry = new RiskReviewExpiry({ config, redis, ledger, recorder, logger });
    const faults = await metricValue('pb_periodic_item_faults_total', { job: 'risk_review_expiry' });
    expect(await expiry.runOnce()).toBe(0);
    expect(await expiry.runOnce()).toBe(1);
    expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', reason: 'RISK_REVIEW_EXPIRED' });
    expect(await redis.zscore(due, 'gone-hold')).toBeNull();
    expect(await metricValue('pb_periodic_item_faults_total', { job: 'risk_review_expiry' })).toBe(faults + 500);
    expect(faultLines(lines, 'risk_review_expiry')[0]).toMatchObject({ operation_id: 'bad-hold-0', error_class: 'ReplyError' });
  }, 60_000);

  it('retention: candidates whose expiry throws no longer abort the pass, and wait out a backoff while the ones behind them expire', async () => {
    const now = Date.now();
    const old = now - 500 * DAY;
    // One order: its operations share a shard, whose index retention reads oldest first.
    const sale = () => channelCommand('sale', {}, { order_id: 'ORD-RETENTION-FAULTS' });
    const bad: string[] = [];
    for (let i = 0; i < 2; i += 1) bad.push(await recorded(sale(), 'FAILED', {}, old + i));
    const good = await recorded(sale(), 'FAILED', {}, old + 10);
    const original = Ledger.prototype.expireTerminal;
    const spy = jest.spyOn(Ledger.prototype, 'expireTerminal').mockImplementation(function (this: Ledger, ...args: Parameters<Ledger['expireTerminal']>) {
      if (bad.includes(args[0])) return Promise.reject(new TypeError('a bug in the expiry of this one'));
      return original.apply(this, args);
    });
    try {
      const { logger, lines } = captureLogger();
      const sweep = new RetentionSweep({ config, redis, logger, now: () => now });
      const faults = await metricValue('pb_periodic_item_faults_total', { job: 'retention' });
      expect(await sweep.runOnce()).toMatchObject({ archived: 2, expired: 0, faulted: 2 });
      expect(await sweep.runOnce()).toMatchObject({ expired: 1, kept: { fault_backoff: 2 } });
      expect(await ledger.get(good)).toBeNull();
      expect((await ledger.get(bad[0]))?.state).toBe('FAILED');
      expect(await metricValue('pb_periodic_item_faults_total', { job: 'retention' })).toBe(faults + 2);
      expect(faultLines(lines, 'retention').map((l) => [l.operation_id, l.error_class])).toEqual(bad.map((b) => [b, 'TypeError']));
    } finally {
      spy.mockRestore();
    }
  });
});
