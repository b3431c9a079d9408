import { RiskReviewExpiry } from '../poller/risk-review-expiry';
import Redis from 'ioredis';
import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { GatewayRoute } from '../gateways/gateway-route';
import { createDeliveryQueue } from '../delivery/delivery-queue';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { EventStore } from '../events/event-store';
import { createOmsEventsQueue } from '../events/oms-events-queue';
import { RetentionSweep } from '../data-lifecycle/retention-sweep';
import { DependencyWatch } from '../health/dependency-watch';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { setScrapeCollector } from '../metrics/scrape-gauges';
import { counter } from '../metrics/metrics-registry';
import { LifecycleSweep } from '../poller/lifecycle-sweep';
import { PollReport, Poller } from '../poller/poller';
import { ActionExpiry } from '../poller/action-expiry';
import { RecurringRunner } from '../recurring/recurring-runner';
import { RecurringStore } from '../recurring/recurring-store';
import { createRedis } from '../redis/redis-connection';
import { ReconciliationSchedule } from '../reconciliation-run/reconciliation-schedule';
import { ConfiguredGatewayRouter } from '../routing/configured-gateway-router';
import { WebServer } from '../web/web-server';
import { createGatewayOutcomesQueue } from '../webhooks/gateway-outcomes-queue';
import { configurationCheck, redisCheck, startedCheck, startMonitoringAndWaitForRedis } from './role-readiness';
import { scrapeSnapshot } from './scrape-snapshot';
import { buildOrchestrationPipeline } from '../orchestration/orchestration-stages';

const passes = counter('pb_poller_passes_total', 'Poller passes, by result (ran, locked: another poller held the lock, failed)', ['result']);

/** What one poll pass needs. */
interface PassDeps {
  config: Config;
  redis: Redis;
  logger: Logger;
  poller: Poller;
  lifecycle: LifecycleSweep;
  retention: RetentionSweep;
  reviews: RiskReviewExpiry;
  /** Customer actions (3-D Secure, redirects) past `authentication.action_timeout_ms`. */
  actions: ActionExpiry;
  /** Recurring billing cycles and their dunning retries. */
  recurring: RecurringRunner;
}

function passDeps(config: Config, logger: Logger, routes: ReadonlyMap<string, GatewayRoute>, redis: Redis, eventsQueue: Queue, deliveryQueue: Queue): PassDeps {
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const pipeline = buildOrchestrationPipeline({ config, logger, redis, routes });
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger, afterFailure: (op) => pipeline.releaseFailed(op) });
  const poller = new Poller({ config, ledger, router: new ConfiguredGatewayRouter(routes), recorder, logger, deliveryQueue });
  const lifecycle = new LifecycleSweep({ config, redis, ledger, recorder, deliveryQueue, logger });
  const retention = new RetentionSweep({ config, redis, logger });
  const reviews = new RiskReviewExpiry({ config, redis, ledger, recorder, logger, deliveryQueue });
  const actions = new ActionExpiry({ config, ledger, router: new ConfiguredGatewayRouter(routes), recorder, deliveryQueue, logger });
  const recurring = new RecurringRunner({ config, store: new RecurringStore(redis, config.redis.keyPrefix), ledger, recorder, deliveryQueue, logger });
  return { config, redis, logger, poller, lifecycle, retention, reviews, actions, recurring };
}

/**
 * One pass: the PENDING and UNKNOWN operations whose next check is due, then the authorization lifecycle
 * (expiry warnings, orphan reversal), then retention (archive and expire old terminal operations). A Redis lock (held for `lockMs`) keeps two passes (two pollers, a
 * poller and the workers' in-process poller) from asking the PSP twice.
 * @returns the pass' report, or `null` when another pass holds the lock.
 */
async function pollPass(deps: PassDeps, lockMs: number): Promise<PollReport | null> {
  const { config, redis, logger } = deps;
  const lock = `${config.redis.keyPrefix}poller:lock`;
  const token = `poller:${process.pid}:${Date.now()}`;
  if ((await redis.set(lock, token, 'PX', lockMs, 'NX')) !== 'OK') {
    passes.inc({ result: 'locked' });
    return null;
  }
  try {
    const report = await deps.poller.runOnce();
    await deps.lifecycle.runOnce().catch((err: Error) => logger.warn('authorization lifecycle sweep failed', { error: err.message }));
    // Archive then expire terminal operations past retention (nothing live, nothing unarchived).
    await deps.retention.runOnce().catch((err: Error) => logger.warn('retention sweep failed', { error: err.message }));
    // Authorizations held for review past their deadline are voided.
    await deps.reviews.runOnce().catch((err: Error) => logger.warn('risk review expiry failed', { error: err.message }));
    const actions = await deps.actions.runOnce().catch((err: Error) => {
      logger.warn('customer action expiry failed', { error: err.message });
      return null;
    });
    if (actions && actions.due > 0) logger.info('customer action expiry', { ...actions });
    const recurring = await deps.recurring.runOnce().catch((err: Error) => {
      logger.warn('recurring schedule run failed', { error: err.message });
      return null;
    });
    if (recurring && recurring.due > 0) logger.info('recurring schedules', { ...recurring });
    passes.inc({ result: 'ran' });
    return report;
  } finally {
    // Release only our own lock: a pass that outlived lockMs must not free the next one's.
    await redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", 1, lock, token).catch(() => undefined);
  }
}

/**
 * `payment-bridge poll --once`, what cron runs: one pass, then exit.
 * @returns the pass' report, or `null` when another poll pass holds the lock.
 */
export async function runPollProcess(config: Config, logger: Logger, routes: ReadonlyMap<string, GatewayRoute>, lockMs = 600_000): Promise<PollReport | null> {
  const redis = createRedis(config.redis.url, 'commands', logger);
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  eventsQueue.on('error', () => undefined);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  deliveryQueue.on('error', () => undefined);
  try {
    const report = await pollPass(passDeps(config, logger, routes, redis, eventsQueue, deliveryQueue), lockMs);
    if (report) logger.info('poll run finished', { ...report });
    else logger.info('another poll run holds the lock; nothing to do');
    // Cron's one pass also covers the reconciliation schedule (each window has its own lock).
    const reconciled = await new ReconciliationSchedule({ config, redis, logger }).runOnce();
    if (reconciled.runs.length > 0) logger.info('scheduled reconciliation pass', { mode: reconciled.mode, windows: reconciled.runs.length });
    return report;
  } finally {
    await eventsQueue.close();
    await deliveryQueue.close();
    redis.disconnect();
  }
}

export interface PollerProcess {
  monitoring: WebServer | null;
  /** Runs one pass now (tests); resolves with its report (null: locked). */
  runPass(): Promise<PollReport | null>;
  stop(): Promise<void>;
}

/**
 * `payment-bridge poll` (Procfile `poller`): a long-running scheduler, one pass every `poller.interval_ms`
 * (a pass never overlaps the previous one), with its monitoring port (`monitoring.poller_port`) serving
 * `/metrics` (including the scrape-time gauges: operations by state, queue depths, event lag), `/healthz`
 * and `/readyz`. Not started (no "poller started" line, not ready) before Redis answers.
 */
export async function startPollerProcess(
  config: Config,
  logger: Logger,
  routes: ReadonlyMap<string, GatewayRoute>,
  options: { signal?: AbortSignal; monitoringPort?: number } = {},
): Promise<PollerProcess> {
  const redis = createRedis(config.redis.url, 'commands', logger);
  const dependencies = new DependencyWatch(logger);
  dependencies.watchRedis(redis);
  let started = false;
  let lastPassFailed: string | null = null;
  const port = options.monitoringPort ?? config.monitoring.pollerPort;
  const monitoring = await startMonitoringAndWaitForRedis({
    role: 'poller',
    config,
    logger,
    redis,
    port,
    signal: options.signal,
    checks: {
      started: startedCheck(() => started),
      redis: redisCheck(redis),
      last_pass: async () => {
        if (lastPassFailed) throw new Error(`last poll pass failed: ${lastPassFailed}`);
      },
      configuration: configurationCheck(),
    },
  });
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  const outcomesQueue = createGatewayOutcomesQueue(redis, config.redis.keyPrefix);
  for (const q of [eventsQueue, deliveryQueue, outcomesQueue]) q.on('error', () => undefined);
  setScrapeCollector(
    scrapeSnapshot({ config, redis, queues: { 'gateway-delivery': deliveryQueue, 'oms-events': eventsQueue, 'gateway-outcomes': outcomesQueue } }),
  );
  const deps = passDeps(config, logger, routes, redis, eventsQueue, deliveryQueue);
  const intervalMs = config.pollerProcess.intervalMs;
  let current: Promise<PollReport | null> | null = null;
  const runPass = (): Promise<PollReport | null> => {
    if (current) return current;
    current = pollPass(deps, Math.max(intervalMs * 10, 60_000))
      .then((report) => {
        lastPassFailed = null;
        if (report && report.due > 0) logger.info('poll pass', { ...report });
        return report;
      })
      .catch((err: Error) => {
        passes.inc({ result: 'failed' });
        lastPassFailed = err.message;
        logger.warn('poll pass failed', { error: err.message });
        return null;
      })
      .finally(() => {
        current = null;
      });
    return current;
  };
  const timer = setInterval(() => void runPass(), intervalMs);
  void runPass();
  // Reconciliation runs in its own lane: a long report never delays the status inquiries.
  const schedule = new ReconciliationSchedule({ config, redis, logger });
  let reconciling: Promise<unknown> | null = null;
  const reconcileTick = (): void => {
    if (reconciling) return;
    reconciling = schedule
      .maybeRun()
      .catch((err: Error) => logger.warn('scheduled reconciliation pass failed', { error: err.message }))
      .finally(() => {
        reconciling = null;
      });
  };
  const reconcileTimer = config.reconciliation.schedule === 'off' ? null : setInterval(reconcileTick, Math.min(intervalMs * 10, 60_000));
  if (reconcileTimer) reconcileTick();
  started = true;
  logger.info('poller started', { interval_ms: intervalMs, gateways: [...routes.keys()] });
  return {
    monitoring,
    runPass,
    stop: async () => {
      started = false;
      dependencies.stop();
      clearInterval(timer);
      if (reconcileTimer) clearInterval(reconcileTimer);
      await current;
      await reconciling;
      setScrapeCollector(null);
      await monitoring?.close();
      await Promise.all([eventsQueue.close(), deliveryQueue.close(), outcomesQueue.close()]);
      redis.disconnect();
    },
  };
}
