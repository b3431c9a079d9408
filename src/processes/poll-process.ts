import { AbandonedWork, ShutdownBudget, countAbandoned, recordAbandoned } from '../amqp/shutdown-budget';
import { buildOutcomeRecorder } from '../poller/outcome-recorder-wiring';
import { RedisClient } from '../redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { GatewayRoute } from '../gateways/gateway-route';
import { createDeliveryQueue } from '../delivery/delivery-queue';
import { EventStore } from '../events/event-store';
import { createOmsEventsQueue } from '../events/oms-events-queue';
import { DependencyWatch } from '../health/dependency-watch';
import { Ledger } from '../ledger/ledger';
import { presenceOf } from '../fleet/process-presence';
import { ReleaseWatch } from '../fleet/release-watch';
import { LeaseHolder } from '../leases/lease-holder';
import { Logger } from '../logging/logger';
import { setScrapeCollector } from '../metrics/scrape-gauges';
import { PollReport } from '../poller/poller';
import { PeriodicJobs, passLockMs, pollerPasses, runPeriodicPass } from './periodic-jobs';
import { createRedis } from '../redis/redis-connection';
import { moveLegacyKeys } from '../data-lifecycle/legacy-keys';
import { backfillIdClaims } from '../ledger/id-claim-backfill';
import { backfillHeldRecaptureIndex } from '../ledger/held-recapture-backfill';
import { backfillOperationlessEventIndex } from '../events/operationless-event-backfill';
import { backfillHeldForPspRetryIndex } from '../ledger/held-for-psp-retry-backfill';
import { extendKeyLifetimes, KEY_LIFETIME_UPGRADES } from '../ledger/key-lifetime-upgrade';
import { backfillSplitReferenceClaims } from '../split-tender/split-reference-backfill';
import { ReconciliationSchedule } from '../reconciliation-run/reconciliation-schedule';
import { ConfiguredGatewayRouter } from '../routing/configured-gateway-router';
import { WebServer } from '../web/web-server';
import { createGatewayOutcomesQueue, GatewayOutcomeJobData } from '../webhooks/gateway-outcomes-queue';
import { ParkedOutcomes } from '../webhooks/parked-outcomes';
import { configurationCheck, redisCheck, startedCheck, startMonitoringAndWaitForRedis } from './role-readiness';
import { scrapeSnapshot } from './scrape-snapshot';
import { buildOrchestrationPipeline } from '../orchestration/orchestration-stages';

/** The periodic jobs of this process (the same list the workers' in-process poller runs). */
function periodicJobs(
  config: Config,
  logger: Logger,
  routes: ReadonlyMap<string, GatewayRoute>,
  redis: RedisClient,
  eventsQueue: Queue,
  deliveryQueue: Queue,
  outcomesQueue: Queue<GatewayOutcomeJobData>,
): PeriodicJobs {
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const pipeline = buildOrchestrationPipeline({ config, logger, redis, routes });
  // With the outcome queue: a poll of a capture waiting for its webhook releases one parked before its answer.
  const parked = ParkedOutcomes.of(config, redis, outcomesQueue, logger);
  const { recorder } = buildOutcomeRecorder({ config, redis, ledger, events, eventsQueue, deliveryQueue, logger, pipeline, parked });
  return new PeriodicJobs({ config, redis, ledger, router: new ConfiguredGatewayRouter(routes), recorder, deliveryQueue, logger });
}

/**
 * `payment-bridge poll --once`, what cron runs: one pass, then exit.
 * @returns the pass' report, or `null` when another poll pass holds the lock.
 */
export async function runPollProcess(config: Config, logger: Logger, routes: ReadonlyMap<string, GatewayRoute>, lockMs = 600_000): Promise<PollReport | null> {
  const redis = createRedis(config.redis, 'commands', logger);
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  eventsQueue.on('error', () => undefined);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  deliveryQueue.on('error', () => undefined);
  const outcomesQueue = createGatewayOutcomesQueue(redis, config.redis.keyPrefix);
  outcomesQueue.on('error', () => undefined);
  // Names this run in the pass lock, so a run killed mid-pass does not block the next one for lockMs.
  const holder = new LeaseHolder(redis, config.redis.keyPrefix, config.leases.holderTtlMs, logger, presenceOf('poller'));
  try {
    await holder.start();
    await upgradeDataLogged(redis, config.redis.keyPrefix, logger);
    const report = await runPeriodicPass(
      { config, redis, logger, holder },
      periodicJobs(config, logger, routes, redis, eventsQueue, deliveryQueue, outcomesQueue),
      lockMs,
    );
    if (report) logger.info('poll run finished', { ...report });
    else logger.info('another poll run holds the lock; nothing to do');
    // Cron's one pass also covers the reconciliation schedule (each window has its own lock).
    const reconciled = await new ReconciliationSchedule({ config, redis, logger }).runOnce();
    if (reconciled.runs.length > 0) logger.info('scheduled reconciliation pass', { mode: reconciled.mode, windows: reconciled.runs.length });
    return report;
  } finally {
    await holder.stop();
    await eventsQueue.close();
    await deliveryQueue.close();
    await outcomesQueue.close();
    redis.disconnect();
  }
}

/**
 * Brings data an earlier release wrote up to this one, logging what changed: keys still under their names from
 * before the Redis Cluster layout are moved (src/data-lifecycle/legacy-keys.ts), id claims and PSP reference
 * index entries set to lapse after 90 days get the lifetime of their record (src/ledger/key-lifetime-upgrade.ts),
 * operations created before ids were claimed get their claim, once (src/ledger/id-claim-backfill.ts), captures holding a
 * re-capture from before the index of held re-captures enter it, once (src/ledger/held-recapture-backfill.ts), captures
 * and refunds held for their PSP's retry from before the index of held ones enter that one, once
 * (src/ledger/held-for-psp-retry-backfill.ts), outbox events of no operation delivered or set aside before their index
 * enter it, once (src/events/operationless-event-backfill.ts), and so do
 * split tenders and split refunds recorded before they claimed theirs (src/split-tender/split-reference-backfill.ts). A
 * failure is logged and retried at the next start; it never stops the poller.
 */
async function upgradeDataLogged(redis: RedisClient, prefix: string, logger: Logger): Promise<void> {
  try {
    const movedKeys = await moveLegacyKeys(redis, prefix);
    if (Object.values(movedKeys).some((n) => n > 0)) logger.info('redis keys moved from their pre-cluster names', { moved: movedKeys });
  } catch (err) {
    logger.warn('redis keys under pre-cluster names not moved (retried at the next start)', { error: (err as Error).message });
  }
  // Before the claim backfills: the claims they set already have the new lifetime, and an old record's may lapse soon.
  for (const upgrade of KEY_LIFETIME_UPGRADES) {
    try {
      const done = await extendKeyLifetimes(redis, prefix, upgrade);
      if (!done.alreadyDone) logger.info(`${upgrade.description} given the lifetime of their record`, { family: upgrade.family, extended: done.extended });
    } catch (err) {
      logger.warn(`${upgrade.description} not given the lifetime of their record (retried at the next start)`, {
        family: upgrade.family,
        error: (err as Error).message,
      });
    }
  }
  try {
    const claims = await backfillIdClaims(redis, prefix);
    if (!claims.alreadyDone) {
      logger.info('operation id claims backfilled', { claimed: claims.claimed, present: claims.present, conflicting: claims.conflictingCount });
      if (claims.conflictingCount > 0) {
        logger.warn('operation ids held by two payments from before id claims: each stays as it is, and a third payment under one is refused', {
          count: claims.conflictingCount,
          operations: claims.conflicting,
        });
      }
    }
  } catch (err) {
    logger.warn('operation id claims not backfilled (retried at the next start)', { error: (err as Error).message });
  }
  try {
    const held = await backfillHeldRecaptureIndex(redis, prefix);
    if (!held.alreadyDone) logger.info('captures holding a re-capture from before its wait indexed (their wait counts from now)', { indexed: held.indexed });
  } catch (err) {
    logger.warn('captures holding a re-capture not indexed for its wait (retried at the next start)', { error: (err as Error).message });
  }
  try {
    const held = await backfillHeldForPspRetryIndex(redis, prefix);
    if (!held.alreadyDone)
      logger.info("captures and refunds held for their PSP's retry from before its index indexed (listed, counted and alerted on)", { indexed: held.indexed });
  } catch (err) {
    logger.warn("captures and refunds held for their PSP's retry not indexed (retried at the next start)", { error: (err as Error).message });
  }
  try {
    const notices = await backfillOperationlessEventIndex(redis, prefix);
    if (!notices.alreadyDone)
      logger.info('outbox events of no operation from before their index indexed (retention deletes them: a delivered one counts from now)', {
        indexed: notices.indexed,
      });
  } catch (err) {
    logger.warn('outbox events of no operation not indexed for retention (retried at the next start)', { error: (err as Error).message });
  }
  try {
    const splits = await backfillSplitReferenceClaims(redis, prefix);
    if (splits.alreadyDone) return;
    logger.info('split tender id claims backfilled', { claimed: splits.claimed, present: splits.present, operations: splits.operationCount });
    if (splits.operationCount > 0) {
      logger.warn('split tender or split refund ids an ordinary operation also holds, from before their claims: each stays as it is', {
        count: splits.operationCount,
        ids: splits.operations,
      });
    }
  } catch (err) {
    logger.warn('split tender id claims not backfilled (retried at the next start)', { error: (err as Error).message });
  }
}

export interface PollerProcess {
  monitoring: WebServer | null;
  /** Runs one pass now (tests); resolves with its report (null: locked). */
  runPass(): Promise<PollReport | null>;
  /**
   * Stops the poller: no new pass; the pass and the reconciliation run under way are waited for within the process's
   * shutdown `budget` (`shutdown.deadline_ms` less a margin; without one, until they end), and abandoned past it.
   */
  stop(budget?: ShutdownBudget): Promise<void>;
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
  const redis = createRedis(config.redis, 'commands', logger);
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
  const jobs = periodicJobs(config, logger, routes, redis, eventsQueue, deliveryQueue, outcomesQueue);
  // Names this poller in the pass lock: killed mid-pass, its lock is taken over at once, not after passLockMs.
  const holder = new LeaseHolder(redis, config.redis.keyPrefix, config.leases.holderTtlMs, logger, presenceOf('poller'));
  await holder.start();
  const intervalMs = config.pollerProcess.intervalMs;
  let current: Promise<PollReport | null> | null = null;
  const runPass = (): Promise<PollReport | null> => {
    if (current) return current;
    current = runPeriodicPass({ config, redis, logger, holder }, jobs, passLockMs(intervalMs))
      .then((report) => {
        lastPassFailed = null;
        if (report && report.due > 0) logger.info('poll pass', { ...report });
        return report;
      })
      .catch((err: Error) => {
        pollerPasses.inc({ result: 'failed' });
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
  // Data an earlier release wrote (pre-cluster key names, operations without an id claim): upgraded once, beside the passes.
  void upgradeDataLogged(redis, config.redis.keyPrefix, logger);
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
  // The poller's slow lanes (reconciliation, the release check) tick every ten passes, at most once a minute.
  const slowTickMs = Math.min(intervalMs * 10, 60_000);
  const reconcileTimer = config.reconciliation.schedule === 'off' ? null : setInterval(reconcileTick, slowTickMs);
  if (reconcileTimer) reconcileTick();
  // The releases the fleet runs, as often (a failure is Redis away, which the dependency watch already reports).
  const releases = new ReleaseWatch({ redis, prefix: config.redis.keyPrefix, logger });
  const releaseTick = (): void => void releases.check().catch((err: Error) => logger.debug('release check failed', { error: err.message }));
  const releaseTimer = setInterval(releaseTick, slowTickMs);
  releaseTick();
  started = true;
  let stopping: Promise<void> | null = null;
  logger.info('poller started', { interval_ms: intervalMs, gateways: [...routes.keys()] });
  const stopOnce = async function stopOnce(budget: ShutdownBudget): Promise<void> {
    started = false;
    dependencies.stop();
    clearInterval(timer);
    clearInterval(releaseTimer);
    if (reconcileTimer) clearInterval(reconcileTimer);
    // Side by side and within the budget: a status inquiry the PSP never answers (up to its gateway's timeout) must
    // not hold the stop past shutdown.deadline_ms. Abandoned, nothing is lost: an inquiry decides nothing until it
    // is answered (the operation stays due); the next pass takes the pass lock over at once (it names this poller's
    // holder, stopped below); a reconciliation run resumes from its last committed page once its lock expires.
    const [passInTime, runInTime] = await Promise.all([budget.wait(current, Infinity, 'poll_pass'), budget.wait(reconciling, Infinity, 'reconciliation')]);
    const left: AbandonedWork[] = [];
    if (!passInTime) left.push('poll_pass');
    if (!runInTime) left.push('reconciliation');
    for (const work of left) countAbandoned('poller', work);
    if (left.length > 0)
      logger.warn('poller stop: work under way abandoned at shutdown.deadline_ms (the next pass, or reconciliation run, does what it left)', {
        work: left,
        left_ms: Math.max(0, Math.round(budget.leftMs())),
      });
    // In Redis before it closes: this process's own counter is gone with it, the other processes' scrapes show it.
    await recordAbandoned({ redis, keyPrefix: config.redis.keyPrefix, role: 'poller', budget, logger });
    setScrapeCollector(null);
    await monitoring?.close();
    await Promise.all([eventsQueue.close(), deliveryQueue.close(), outcomesQueue.close()]);
    await holder.stop();
    redis.disconnect();
  };
  return {
    monitoring,
    runPass,
    // A second stop (a test's clean-up, a second signal) is the first one's: the abandoned pass may still be waiting on
    // a client the first stop closed.
    stop: (budget = ShutdownBudget.unbounded()) => (stopping ??= stopOnce(budget)),
  };
}
