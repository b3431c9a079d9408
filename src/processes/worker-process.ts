import { randomBytes } from 'node:crypto';
import { ExtraHoldChecks } from '../delivery/extra-hold-check';
import { buildOutcomeRecorder } from '../poller/outcome-recorder-wiring';
import { ActionCompletion } from '../delivery/action-completion';
import { deadLetterStampKey } from '../amqp/dead-letter-stamp';
import { Queue } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { AmqpConnection } from '../amqp/amqp-connection';
import { ConfirmPublisher } from '../amqp/confirm-publisher';
import { DeadLetterWriter } from '../amqp/dead-letter-writer';
import { DeadLetterOnce, deadLetterClaimMs } from '../amqp/dead-letter-once';
import { BreakerBoard } from '../delivery/breaker-board';
import { DeadLetterTriage } from '../amqp/dead-letter-triage';
import { BrokerDeadLetterRedactor } from '../amqp/broker-dead-letter-redactor';
import { ShutdownBudget, countAbandoned, recordAbandoned } from '../amqp/shutdown-budget';
import { declareTopology } from '../amqp/topology';
import { DeadLetterArchiver } from '../ops/dead-letter-archiver';
import { DeadLetterStore } from '../ops/dead-letter-store';
import { queueMismatch } from '../amqp/queue-mismatch';
import { Config } from '../config/config';
import { DeliveryJobData, createDeliveryQueue } from '../delivery/delivery-queue';
import { DeliveryService } from '../delivery/delivery-service';
import { GatewayRoute } from '../gateways/gateway-route';
import { GatewayClient } from '../gateways/gateway-client';
import { startDeliveryWorker } from '../delivery/delivery-worker';
import { InlineDelivery } from '../delivery/inline-delivery';
import { staleAfterMs, sweepOnce } from '../delivery/recovery-sweep';
import { presenceOf } from '../fleet/process-presence';
import { EXTEND_OWN_LOCK, sweepLockKey } from '../leases/fleet-locks';
import { LeaseHolder, holderNamedBy } from '../leases/lease-holder';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { EventStore } from '../events/event-store';
import { NotificationSender } from '../events/event-send';
import { startEventSender } from '../events/event-sender';
import { contentRejection } from '../events/event-rejection';
import { errorClassOf } from '../errors/dependency-outage';
import { counter } from '../metrics/metrics-registry';
import { OmsEventJobData, createOmsEventsQueue } from '../events/oms-events-queue';
import { CommandConsumer } from '../intake/command-consumer';
import { Ledger } from '../ledger/ledger';
import { buildOrchestrationPipeline } from '../orchestration/orchestration-stages';
import { reportVaults } from '../orchestration/orchestration-metrics';
import { Logger } from '../logging/logger';
import { LifecycleSweep } from '../poller/lifecycle-sweep';
import { Poller } from '../poller/poller';
import { PeriodicJobs, passLockMs, pollerPasses, runPeriodicPass } from './periodic-jobs';
import { coalesceCommandWrites } from '../redis/command-write-coalescing';
import { createRedis } from '../redis/redis-connection';
import { LuaScript, luaInputs } from '../redis/lua-script';
import { ConfiguredGatewayRouter } from '../routing/configured-gateway-router';
import { startOutcomeWorker } from '../webhooks/outcome-worker';
import { ParkedOutcomes } from '../webhooks/parked-outcomes';
import { WorkerWatchdog, runningJobs } from '../queueing/worker-watchdog';
import { AdjustmentStore } from '../adjustments/adjustment-store';
import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { DependencyWatch } from '../health/dependency-watch';
import { setScrapeCollector } from '../metrics/scrape-gauges';
import { endToEnd, zeroCommandSeries } from '../metrics/outcome-metrics';
import { CHANNELS, COMMAND_TYPES } from '../contracts/payment-command';
import { WebServer } from '../web/web-server';
import { createGatewayOutcomesQueue } from '../webhooks/gateway-outcomes-queue';
import { breakersCheck, configurationCheck, eventLagCheck, redisCheck, startedCheck, startMonitoringAndWaitForRedis } from './role-readiness';
import { scrapeSnapshot } from './scrape-snapshot';
import { RateLimiter } from '../admission/rate-limiter';
import { SplitTenderService } from '../split-tender/split-tender-service';
import { SplitStepLookup } from '../split-tender/split-step-lookup';
import { SplitTenderStore } from '../split-tender/split-tender-store';
import { InflightGovernor } from '../admission/inflight-governor';

export interface WorkerProcessOptions {
  /** Configured gateways, by the name commands use in `payment.gateway`. */
  routes: ReadonlyMap<string, GatewayRoute>;
  /** Posts notifications to the bus delegate URL. */
  notifier: NotificationSender;
  /** Aborted on SIGTERM: a worker still waiting for Redis gives up starting. */
  signal?: AbortSignal;
  /** The monitoring port (`/metrics`, `/healthz`, `/readyz`); overrides `monitoring.worker_port` (0 = none). */
  monitoringPort?: number;
}

export interface WorkerProcess {
  consumer: CommandConsumer;
  ledger: Ledger;
  deliveryQueue: Queue<DeliveryJobData>;
  eventsQueue: Queue<OmsEventJobData>;
  events: EventStore;
  delivery: DeliveryService;
  recorder: OutcomeRecorder;
  /** Late PSP facts (chargebacks, failed captures and refunds…) as adjustments and their events. */
  adjustments: AdjustmentRecorder;
  adjustmentStore: AdjustmentStore;
  poller: Poller;
  /** Split tender orders (gift card plus card) and their refunds. */
  splitTender: SplitTenderService;
  /** The authorization lifecycle sweeps (expiry warnings, orphan reversal) the in-process poller runs. */
  lifecycle: LifecycleSweep;
  redis: RedisClient;
  /** The monitoring server, when a port is configured. */
  monitoring: WebServer | null;
  /** The adaptive in-flight governor of the commands queue; null when `inflight.adaptive` is false. */
  inflight: InflightGovernor | null;
  /**
   * Stops the worker: in-flight work finished or handed back to the broker. With a process's shutdown `budget`
   * (`shutdown.deadline_ms` less a margin), the broker steps and the waits for the work in flight (the commands under
   * way, the in-process poll pass) share it rather than each waiting its own bound; what is still under way when it
   * runs out is abandoned (left unacked, logged and counted: `pb_shutdown_inflight_abandoned_total`).
   */
  stop(budget?: ShutdownBudget): Promise<void>;
}

/**
 * The `worker` process: the command consumer, gateway delivery, webhook outcomes and events to the bus
 * (plus the poller on an interval when `poller.in_process_interval_ms` > 0). Stateless: all state is in
 * RabbitMQ and Redis, so a killed worker's work is picked up by the next one.
 */
export async function startWorkerProcess(config: Config, logger: Logger, options: WorkerProcessOptions): Promise<WorkerProcess> {
  const redis = createRedis(config.redis, 'commands', logger);
  const dependencies = new DependencyWatch(logger);
  dependencies.watchRedis(redis);
  dependencies.back('bus'); // up until a notification fails
  // The monitoring port comes up first: while Redis is away it answers /healthz and a not-ready /readyz.
  let started = false;
  let consumerRef: CommandConsumer | null = null;
  let deliveryRef: DeliveryService | null = null;
  const monitoringPort = options.monitoringPort ?? config.monitoring.workerPort;
  zeroCommandSeries(CHANNELS, COMMAND_TYPES);
  const monitoring = await startMonitoringAndWaitForRedis({
    role: 'worker',
    config,
    logger,
    redis,
    port: monitoringPort,
    signal: options.signal,
    checks: {
      started: startedCheck(() => started),
      redis: redisCheck(redis),
      consumer: async () => {
        if (!consumerRef?.attached) throw new Error(queueMismatch.current()?.message ?? 'command consumer not attached to its queue');
      },
      event_lag: eventLagCheck(config, redis),
      gateways: breakersCheck(() => deliveryRef?.breakerStates() ?? new Map()),
      configuration: configurationCheck(),
    },
  });
  const blocking = createRedis(config.redis, 'blocking', logger);
  // The ledger and the outbox get a connection of their own whose commands issued in one tick leave in one
  // socket write (a write syscall per Redis call was ~12% of the worker's CPU). BullMQ keeps the plain
  // connection it expects.
  const fastRedis = createRedis(config.redis, 'commands', logger);
  coalesceCommandWrites(fastRedis);
  const ledger = new Ledger(fastRedis, config.redis.keyPrefix);
  // Names this process in the send leases it takes; its heartbeat lets another worker take over a lease it
  // held when it is killed, instead of waiting for the lease's expiry.
  const holder = new LeaseHolder(redis, config.redis.keyPrefix, config.leases.holderTtlMs, logger, presenceOf('worker'));
  await holder.start();
  const events = new EventStore(fastRedis, config.redis.keyPrefix, holder);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  // Redis errors already reach the log through the connection; without a listener BullMQ prints them raw.
  for (const q of [deliveryQueue, eventsQueue]) q.on('error', () => undefined);
  // The fast path: events go to the bus inline when their turn has come. The bus is followed as a
  // dependency (lost / back), and each accepted outcome event's end-to-end latency is observed.
  const notifier = watchedNotifier(options.notifier, dependencies, (eventId) => void endToEnd.accepted(eventId, (id) => ledger.get(id)));
  // One orchestration for delivery and for outcomes found later (webhooks, inquiries), which release what it reserved.
  const pipeline = buildOrchestrationPipeline({ config, logger, redis: fastRedis, routes: options.routes });
  reportVaults(logger, pipeline.binding?.groups ?? []);
  // The webhook outcome queue: outcomes parked before their modification's answer are released to it.
  const outcomesQueue = createGatewayOutcomesQueue(redis, config.redis.keyPrefix);
  outcomesQueue.on('error', () => undefined);
  const parked = ParkedOutcomes.of(config, redis, outcomesQueue, logger);
  const { recorder } = buildOutcomeRecorder({ config, redis, ledger, events, eventsQueue, deliveryQueue, logger, pipeline, notifier, parked });
  const adjustmentStore = new AdjustmentStore(fastRedis, config.redis.keyPrefix);
  const adjustments = new AdjustmentRecorder({ config, store: adjustmentStore, recorder, ledger, logger });
  const connection = new AmqpConnection({ urls: config.amqp.urls, reconnectMs: config.amqp.reconnectMs, name: 'payment-bridge:worker', logger });
  dependencies.watchAmqp(connection);
  // Told to stop while still waiting for the broker: stop reconnecting, so starting gives up now rather
  // than at shutdown.deadline_ms. Once started, `stop()` closes it in order.
  const abandonBroker = () => void connection.close();
  options.signal?.addEventListener('abort', abandonBroker, { once: true });
  const publisher = new ConfirmPublisher(connection, config.amqp.publishTimeoutMs, (ch) =>
    declareTopology(ch, config.amqp, { priorityLane: config.backpressure.priorityLane }),
  );
  const deadLetters = new DeadLetterWriter(
    publisher,
    config.amqp,
    new DeadLetterTriage({ redis, keyPrefix: config.redis.keyPrefix, triage: config.channels.triage, logger, busAmountUnits: config.serviceBus.amountUnits }),
    deadLetterStampKey(config.serviceBus.secret),
    new DeadLetterOnce(redis, config.redis.keyPrefix, { claimMs: deadLetterClaimMs(config.amqp.publishTimeoutMs) }),
  );
  const router = new ConfiguredGatewayRouter(options.routes);
  const delivery = new DeliveryService({
    config,
    ledger,
    router,
    recorder,
    logger,
    deadLetters,
    breakerBoard: new BreakerBoard(redis, config.redis.keyPrefix),
    // The orchestration's counters (caps, risk) and FX's gateway rates.
    redis: fastRedis,
    routes: options.routes,
    pipeline,
    // A capture, cancel or refund of a split tender's step waits for its split (src/delivery/split-step-wait.ts).
    splitTenders: new SplitStepLookup(new SplitTenderStore(redis, config.redis.keyPrefix)),
    // An authorize's own SUCCESS after an unproven attempt: its follow-up search (src/delivery/extra-hold-check.ts).
    extraHoldChecks: new ExtraHoldChecks(redis, config.redis.keyPrefix),
  });
  // The same periodic jobs as the poller role (status inquiries, lifecycle, retention, review and action
  // expiry, recurring cycles), run here when `poller.in_process_interval_ms` > 0.
  const periodic = new PeriodicJobs({ config, redis, ledger, router, recorder, deliveryQueue, logger });
  const { poller, lifecycle } = periodic;

  const inline = new InlineDelivery({ config, service: delivery, deliveryQueue, logger });
  // What the broker dead-letters by itself reaches the dead-letter queue only through our redaction.
  const brokerDeadLetters = new BrokerDeadLetterRedactor({ config, connection, deadLetters, logger });
  // The dead-letter queue moves into the archive here, so the console's pages only read Redis.
  const archiver = new DeadLetterArchiver({
    store: DeadLetterStore.forConfig(redis, config),
    connection,
    amqp: config.amqp,
    logger,
    intervalMs: config.amqp.deadLetterArchiveIntervalMs,
  });
  // Leased tokens: one Redis call per `rate_limits.lease_tokens` commands of a channel and account.
  const rateLimiter = new RateLimiter({ config, redis: fastRedis, logger, where: 'consumer', lease: config.rateLimits.leaseTokens });
  // Split tender orders (gift card plus card): started by the consumer, advanced by a sweep in every worker.
  const splitTender = new SplitTenderService({ config, ledger, redis, deliveryQueue, emit: (event) => recorder.emit(event), logger });
  // Adaptive in-flight: the commands in flight follow PSP latency and memory (inflight.*), not a fixed prefetch.
  const governor = config.inflight.adaptive ? new InflightGovernor(config.inflight, logger) : null;
  const consumer = new CommandConsumer({
    config,
    connection,
    ledger,
    deliveryQueue,
    deadLetters,
    logger,
    inline,
    recorder,
    rateLimiter,
    splitTender,
    inflight: governor?.gate,
    // Customer actions the OMS completes by command (Cybersource Payer Authentication).
    actionCompletion: new ActionCompletion({ ledger, router, recorder, logger }),
  });
  consumerRef = consumer;
  deliveryRef = delivery;
  setScrapeCollector(
    scrapeSnapshot({
      config,
      redis,
      amqp: connection,
      queues: { 'gateway-delivery': deliveryQueue, 'oms-events': eventsQueue, 'gateway-outcomes': outcomesQueue },
    }),
  );

  // Factories, not workers: the watchdog starts a worker again when its blocking connection is stuck.
  const watchdog = new WorkerWatchdog(
    [
      { queue: deliveryQueue, start: () => startDeliveryWorker(config, blocking, delivery, logger) },
      { queue: eventsQueue, start: () => startEventSender(config, blocking, { events, sender: notifier, logger }) },
      {
        queue: outcomesQueue,
        start: () => startOutcomeWorker(config, blocking, { ledger, recorder, adjustments, logger, orphans: lifecycle.orphans, router, parked }),
      },
    ],
    config.queues.watchdogIntervalMs,
    logger,
  );
  watchdog.start();
  // Warm keep-alive pools: the connects and TLS handshakes happen now, not on the first commands' time.
  // Not awaited: a PSP that is down must not hold the worker's start (its failure is logged).
  const warmClients = [...options.routes.values()].map((r) => r.client).filter((c): c is GatewayClient => c instanceof GatewayClient);
  for (const client of warmClients) void client.startKeepWarm();
  governor?.start();
  await consumer.start();
  await brokerDeadLetters.start();
  archiver.start();
  splitTender.startSweep();
  let pollTimer: NodeJS.Timeout | undefined;
  const staleMs = staleAfterMs(config);
  let sweeping: Promise<void> | null = null;
  const sweepTimer = setInterval(() => {
    // Never two sweeps of this process at once: one longer than the interval is not joined by the next.
    if (sweeping) return;
    sweeping = runSweepOnce(
      redis,
      config,
      staleMs,
      { ledger, events, deliveryQueue, eventsQueue, settle: (id) => recorder.settle(id), logger, deadHolders: { holder, minAgeMs: config.leases.holderTtlMs } },
      logger,
      holder,
    ).finally(() => {
      sweeping = null;
    });
  }, SWEEP_INTERVAL_MS);
  let polling: Promise<void> | null = null;
  if (config.poller.inProcessIntervalMs > 0) {
    pollTimer = setInterval(() => {
      if (polling) return;
      polling = runInProcessPass(redis, config, periodic, holder, logger).finally(() => {
        polling = null;
      });
    }, config.poller.inProcessIntervalMs);
  }
  options.signal?.removeEventListener('abort', abandonBroker);
  started = true;
  logger.info('worker started', {
    queue: config.amqp.commandsQueue,
    prefetch: governor ? config.inflight.max : config.amqp.prefetch,
    inflight: governor ? { adaptive: true, limit: governor.gate.limit, min: config.inflight.min, max: config.inflight.max } : { adaptive: false },
    gateways: [...options.routes.keys()],
  });
  return {
    consumer,
    ledger,
    deliveryQueue,
    eventsQueue,
    events,
    delivery,
    recorder,
    adjustments,
    adjustmentStore,
    poller,
    splitTender,
    lifecycle,
    redis,
    monitoring,
    inflight: governor,
    stop: async (budget = ShutdownBudget.unbounded()) => {
      started = false;
      dependencies.stop();
      setScrapeCollector(null);
      if (pollTimer) clearInterval(pollTimer);
      clearInterval(sweepTimer);
      for (const client of warmClients) client.stopKeepWarm();
      splitTender.stopSweep();
      governor?.stop();
      // Independent of one another, so side by side rather than one bound after another: the command consumer's and
      // the redactor's stops (each on channels of its own), the archiving pass (its own channel) and the BullMQ
      // workers (Redis). Every broker step in them is bounded by `amqp.publish_timeout_ms` and by what is left of
      // the shutdown budget; one cut short loses nothing (what its channel holds unacked is returned by the broker
      // when the channel or the connection ends).
      // The in-process poll pass under way too, within the budget: its inquiries and sweeps are idempotent, and the
      // pass lock names this process's holder, whose stop below lets the next pass take it over at once.
      const passEnded = polling ? budget.wait(polling, Infinity, 'poll_pass') : Promise.resolve(true);
      const [passInTime] = await Promise.all([
        passEnded,
        consumer.stop(budget),
        brokerDeadLetters.stop(budget),
        budget.wait(archiver.stop(), Infinity, 'dead_letter_archiver'),
        closeQueueWorkers(watchdog, budget, logger),
      ]);
      // After all that publishes through it (dead letters of the consumer, the redactor and delivery). A close cut
      // short leaves a channel that takes no more publishes, for the connection's close to end.
      if (!passInTime) {
        countAbandoned('worker', 'poll_pass');
        logger.warn('worker stop: poll pass abandoned at shutdown.deadline_ms (the next pass takes its lock over and does what it left)', {
          left_ms: Math.max(0, Math.round(budget.leftMs())),
        });
      }
      await publisher.close(budget);
      // Last of the broker's steps: cut short, its socket is dropped and the broker requeues every channel's unacked messages.
      await connection.close(budget);
      if (budget.cut.length > 0)
        logger.warn('worker stop: broker steps cut short to stay within shutdown.deadline_ms (what they held unacked is back in its queue)', {
          steps: budget.cut,
          left_ms: Math.max(0, Math.round(budget.leftMs())),
        });
      // In Redis before it closes: this process's own counter is gone with it, the other processes' scrapes show it.
      await recordAbandoned({ redis, keyPrefix: config.redis.keyPrefix, role: 'worker', budget, logger });
      await deliveryQueue.close();
      await eventsQueue.close();
      await outcomesQueue.close();
      await monitoring?.close();
      await holder.stop();
      redis.disconnect();
      fastRedis.disconnect();
      blocking.disconnect();
    },
  };
}

/**
 * Closes the BullMQ workers (delivery retries, events to the bus, webhook outcomes), waiting for their jobs under way
 * within the shutdown budget (step `queue_workers`): a delivery retry whose PSP never answers must not hold the stop
 * past shutdown.deadline_ms. The watchdog's check under way (a Redis read, a stalled worker's close of up to 5 s) is
 * waited for within the budget too; cut short, the workers are still told to close (they take no new job). Past the
 * budget the jobs are abandoned, counted (`work="queue_job"`) and logged: nothing renews their locks once the stop
 * closes Redis (or the process ends), so a live worker's stalled-job check runs them again within about
 * `lockDuration + stalledInterval` (every handler is safe to run again: a delivery resends under the same idempotency
 * key, and its outcome is recorded once, by the ledger's forward-only moves).
 */
export async function closeQueueWorkers(watchdog: Pick<WorkerWatchdog, 'stop' | 'workers'>, budget: ShutdownBudget, logger: Logger): Promise<void> {
  // A check stopped mid-restart starts no replacement (the watchdog is stopped): the workers read next are the last.
  await budget.wait(watchdog.stop(), Infinity, 'queue_workers');
  const workers = watchdog.workers();
  if (await budget.wait(Promise.all(workers.map((w) => w.close())), Infinity, 'queue_workers')) return;
  const left = workers.map((w) => ({ queue: w.name, jobs: runningJobs(w) })).filter((w) => w.jobs > 0);
  const jobs = left.reduce((n, w) => n + w.jobs, 0);
  countAbandoned('worker', 'queue_job', jobs);
  logger.warn('worker stop: queue jobs abandoned at shutdown.deadline_ms (their locks lapse and another worker runs them again)', {
    abandoned: jobs,
    queues: left.map((w) => w.queue),
  });
}

/** One pass of the periodic jobs across all workers and pollers at a time (the poller lock). */
async function runInProcessPass(redis: RedisClient, config: Config, periodic: PeriodicJobs, holder: LeaseHolder, logger: Logger): Promise<void> {
  try {
    const report = await runPeriodicPass({ config, redis, logger, holder }, periodic, passLockMs(config.poller.inProcessIntervalMs), `worker:${process.pid}`);
    if (report && report.due > 0) logger.info('poll run', { ...report });
  } catch (err) {
    pollerPasses.inc({ result: 'failed' });
    logger.warn('poll run failed', { error: (err as Error).message });
  }
}

/** How often a worker runs the recovery sweep (one worker at a time, by lock), ms. */
export const SWEEP_INTERVAL_MS = 1000;

/**
 * How long a sweep may hold the sweep lock, ms: far longer than a sweep takes. A worker killed mid-sweep does not
 * hold it that long: its lock names its lease holder, taken over once that holder's heartbeat is gone.
 */
const SWEEP_LOCK_MS = 60_000;

const sweepLockTakeovers = counter(
  'pb_recovery_sweep_lock_takeovers_total',
  'Recovery sweep locks taken over from a holder process whose heartbeat had lapsed (a worker killed during a sweep)',
);

// Takes the sweep lock, or says in the same round trip what holds it and for how long: {1} taken, else {0, value, pttl}.
const TAKE_SWEEP_LOCK = new LuaScript(
  luaInputs(['lock'], ['token', 'lock_ms']),
  `
if redis.call('SET', K.lock, A.token, 'PX', A.lock_ms, 'NX') then return {1} end
return {0, redis.call('GET', K.lock) or '', redis.call('PTTL', K.lock)}
`,
);

/**
 * One recovery sweep across all workers at a time (`<prefix>sweep:lock`). The lock is held for the whole sweep
 * (its token names this worker's lease holder) and, once the sweep ends, for one interval more, so the fleet
 * sweeps once a second whichever worker comes next. It used to be taken for one interval and never held longer:
 * a sweep that took more than a second (a backlog, a slow Redis) had the next sweeps start beside it, each
 * reviving, counting and logging the same orphaned work again.
 *
 * Every worker tries every second, so a try costs one round trip when the lock is in its last interval (a sweep
 * just ended) or names no holder (an older release's worker: its pid, for one interval, never taken over); only a
 * lock held longer than that, a sweep under way, costs a second one, the liveness of the holder it names.
 */
export async function runSweepOnce(
  redis: RedisClient,
  config: Config,
  staleMs: number,
  deps: Parameters<typeof sweepOnce>[0],
  logger: Logger,
  holder: LeaseHolder,
): Promise<void> {
  const lock = sweepLockKey(config.redis.keyPrefix);
  const token = `${holder.id}:sweep:${randomBytes(6).toString('hex')}`;
  const got = (await TAKE_SWEEP_LOCK.run(redis, { keys: { lock }, args: { token, lock_ms: SWEEP_LOCK_MS } }).catch(() => null)) as
    [number, string?, number?] | null;
  if (got === null) return;
  if (Number(got[0]) !== 1) {
    const [, found = '', left = 0] = got;
    // Lapsing within the interval: the next tick, any worker's, takes it. A value naming no holder (an older
    // release's pid) or a live one is left alone by the takeover, which asks Redis only about a holder id.
    if (Number(left) <= SWEEP_INTERVAL_MS) return;
    const dead = await holder.takeOverFromDead(redis, lock, token, SWEEP_LOCK_MS, found).catch(() => null);
    if (dead === null) return;
    sweepLockTakeovers.inc();
    logger.warn('recovery sweep lock taken over from a dead holder', { dead_holder: dead, holder: holder.id });
  }
  try {
    const report = await sweepOnce(deps, staleMs);
    if (report.operations > 0 || report.events > 0 || report.settled > 0) logger.warn('recovery sweep took over orphaned work', { ...report });
  } catch (err) {
    logger.warn('recovery sweep failed', { error_class: errorClassOf(err), error: (err as Error).message });
  } finally {
    // Shortened to one interval, only if still the sweep's: the next sweep, any worker's, starts then.
    const shortened = (await EXTEND_OWN_LOCK.run(redis, { keys: { lock }, args: { token, lock_ms: SWEEP_INTERVAL_MS } }).catch(() => null)) as
      [number, string?] | null;
    // Not ours at the end: the sweep outlasted SWEEP_LOCK_MS, or a stall let another worker take it over; either
    // way another worker may have swept beside this one (harmless, each step is idempotent, but worth knowing).
    if (shortened !== null && Number(shortened[0]) !== 1) {
      const found = shortened[1] ?? '';
      logger.warn('recovery sweep lock lost before the sweep ended (held past its 60 s ceiling, or taken over after a stall)', {
        holder: holder.id,
        held_by: found === '' ? null : (holderNamedBy(found) ?? 'unnamed'),
      });
    }
  }
}

/**
 * The bus client, followed as a dependency: a failed notification marks the bus lost (not a refusal of the
 * event's content, which the bus answered), the next success back;
 * `accepted` hears the event id of every notification the bus took.
 */
function watchedNotifier(inner: NotificationSender, dependencies: DependencyWatch, accepted: (eventId: string) => void): NotificationSender {
  const watched = async (send: () => Promise<void>, eventId: string | undefined): Promise<void> => {
    try {
      await send();
    } catch (err) {
      // A refusal of one event's content is an answer: the bus is up (the sender sets that event aside).
      if (contentRejection(err) === null) dependencies.lost('bus', (err as Error).message);
      else if (!dependencies.isUp('bus')) dependencies.back('bus');
      throw err;
    }
    if (!dependencies.isUp('bus')) dependencies.back('bus');
    if (eventId) accepted(eventId);
  };
  const sender: NotificationSender = { notify: (method, params) => watched(() => inner.notify(method, params), eventIdOf(params)) };
  const encoded = inner.notifyEncoded?.bind(inner);
  if (encoded) sender.notifyEncoded = (body, eventId) => watched(() => encoded(body, eventId), eventId);
  return sender;
}

/** The `event_id` a notification carries (`withSequence` puts it in `payment`, else at the top). */
function eventIdOf(params: Record<string, unknown>): string | undefined {
  const payment = params.payment;
  const id = payment && typeof payment === 'object' ? (payment as Record<string, unknown>).event_id : params.event_id;
  return typeof id === 'string' ? id : undefined;
}
