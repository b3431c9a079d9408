import { LeaseHolder } from '../leases/lease-holder';
import { presenceOf } from '../fleet/process-presence';
import { AmqpConnection } from '../amqp/amqp-connection';
import { SPENT_STEP_MS, ShutdownBudget } from '../amqp/shutdown-budget';
import { deadLetterStampKey } from '../amqp/dead-letter-stamp';
import { createGatewayClients } from '../gateways/gateway-registry';
import { PaymentMethodOptions } from '../routing/payment-method-options';
import { ConfirmPublisher } from '../amqp/confirm-publisher';
import { DeadLetterWriter } from '../amqp/dead-letter-writer';
import { DeadLetterTriage } from '../amqp/dead-letter-triage';
import { DeadLetterOnce, deadLetterClaimMs } from '../amqp/dead-letter-once';
import { declareTopology } from '../amqp/topology';
import { queueMismatch } from '../amqp/queue-mismatch';
import { Config } from '../config/config';
import { CONSOLE_FORM_LIMIT_BYTES, CONSOLE_SECURITY_HEADERS, ConsoleRoute } from '../console/console-route';
import { DependencyWatch } from '../health/dependency-watch';
import { HealthRoute } from '../health/health-route';
import { openOps } from '../ops/ops-context';
import { IntakeRoute } from '../intake/intake-route';
import { Logger } from '../logging/logger';
import { RecurringManagement } from '../recurring/recurring-management';
import { RecurringStore } from '../recurring/recurring-store';
import { Ledger } from '../ledger/ledger';
import { IssuedTokens } from '../ledger/issued-tokens';
import { MetricsRoute } from '../web/metrics-route';
import { createRedis } from '../redis/redis-connection';
import { GatewayConfig } from '../config/config';
import { GatewayTransformer } from '../gateways/gateway-adapter';
import { EdgeAccess, edgeAccessFor, guardRoute, webhookGatewayOf } from '../web/edge-access';
import { readTlsFiles } from '../web/tls-files';
import { WebRoute, WebServer, startWebServer } from '../web/web-server';
import { GATEWAY_OUTCOMES_QUEUE, createGatewayOutcomesQueue } from '../webhooks/gateway-outcomes-queue';
import { REPLICA_PROBE_TTL_MS, replicaAcknowledgedKeys } from '../redis/replica-wait';
import { bullReplicaProbeKey } from '../queueing/bull-prefix';
import { WebhookRoute } from '../webhooks/webhook-route';
import { BacklogProbe } from '../admission/backlog-probe';
import { RateLimiter } from '../admission/rate-limiter';

export interface WebProcessOptions {
  /** Gateways whose webhooks this process accepts at `/webhooks/<name>`. */
  webhooks?: ReadonlyMap<string, { gateway: GatewayConfig; transformer: GatewayTransformer }>;
  /** More routes on the same server (metrics…). */
  extraRoutes?: WebRoute[];
}

export interface WebProcess {
  server: WebServer;
  intake: IntakeRoute;
  webhooks: WebhookRoute;
  /** The IP allowlists of this process (`edge.allow.*`): other surfaces on it call `access.admit(...)`. */
  access: EdgeAccess;
  /** Full URL of the intake endpoint (what registration announces in a local set-up). */
  intakeUrl: string;
  /** The operator console's own listener, when `console.enabled`; its URL is `consoleUrl`. */
  console?: WebServer;
  consoleUrl?: string;
  /**
   * Stops the process: no new connection, idle keep-alive ones closed, the requests under way answered (a publish
   * still waiting for its confirm when the wait ends is given up and answered 503: the bus sends it again), then the
   * broker's closes. With a process's shutdown `budget` ({@link ShutdownBudget}), these steps share what is left of
   * `shutdown.deadline_ms`; without, each waits its own bound.
   */
  stop(budget?: ShutdownBudget): Promise<void>;
}

/**
 * The `web` process: bus intake, PSP webhooks, health. Stateless; run as many as the load needs.
 * `extraRoutes` lets later layers (webhooks, metrics) mount on the same server.
 */
export async function startWebProcess(config: Config, logger: Logger, options: WebProcessOptions = {}): Promise<WebProcess> {
  // First: an unreadable certificate stops the start before any connection is opened.
  const tls = readTlsFiles(config.edge.tls);
  const connection = new AmqpConnection({ urls: config.amqp.urls, reconnectMs: config.amqp.reconnectMs, name: 'payment-bridge:web', logger });
  // Connect in the background: intake answers 503 until the broker is there, which the bus retries.
  void connection.connect().catch(() => undefined);
  const publisher = new ConfirmPublisher(connection, config.amqp.publishTimeoutMs, (ch) =>
    declareTopology(ch, config.amqp, { priorityLane: config.backpressure.priorityLane }),
  );
  const redis = createRedis(config.redis, 'commands', logger);
  // Redis and RabbitMQ lost / back: rate-limited log lines and pb_dependency_up.
  const dependencies = new DependencyWatch(logger);
  dependencies.watchRedis(redis);
  dependencies.watchAmqp(connection);
  // Its heartbeat says which release it runs (`ops processes`, the poller's release check); web takes no lease.
  const presence = new LeaseHolder(redis, config.redis.keyPrefix, config.leases.holderTtlMs, logger, presenceOf('web'));
  // Web comes up whether Redis is there or not: a first write that fails is tried again when Redis is back.
  const startPresence = (): void => void presence.start().catch(() => redis.once('ready', startPresence));
  startPresence();
  const deadLetters = new DeadLetterWriter(
    publisher,
    config.amqp,
    new DeadLetterTriage({ redis, keyPrefix: config.redis.keyPrefix, triage: config.channels.triage, logger, busAmountUnits: config.serviceBus.amountUnits }),
    deadLetterStampKey(config.serviceBus.secret),
    // A refusal the bus sends again (after a 503, or an answer it lost) finds its first dead letter.
    new DeadLetterOnce(redis, config.redis.keyPrefix, { claimMs: deadLetterClaimMs(config.amqp.publishTimeoutMs) }),
  );
  const backlog = new BacklogProbe({ config, connection, logger });
  const rateLimiter = new RateLimiter({ config, redis, logger, where: 'intake' });
  // Payment method options are answered by the intake at once (gateways' own lists asked when they have one).
  const paymentMethods = new PaymentMethodOptions({ config, routes: createGatewayClients(config), logger, redis });
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  // Asked only for a card-like `payment.gateway_key` (or schedule's `gateway_key`): the ordinary command never does.
  const issuedTokens = new IssuedTokens(ledger, config.serviceBus);
  const intake = new IntakeRoute({
    config,
    publisher,
    deadLetters,
    logger,
    ledger,
    issuedTokens,
    rateLimiter,
    backlog,
    paymentMethods,
    // Recurring schedules: created, listed and cancelled by the OMS over the bus (answered at once).
    recurring: new RecurringManagement({ config, store: new RecurringStore(redis, config.redis.keyPrefix), logger, issuedTokens }),
  });
  const health = new HealthRoute(
    {
      rabbitmq: async () => {
        if (!connection.connected) throw new Error('not connected');
        const mismatch = queueMismatch.current();
        if (mismatch) throw new Error(mismatch.message);
      },
      redis: async () => {
        await redis.ping();
      },
    },
    undefined,
    logger,
  );
  const outcomesQueue = createGatewayOutcomesQueue(redis, config.redis.keyPrefix);
  outcomesQueue.on('error', () => undefined);
  const seenPrefix = `${config.redis.keyPrefix}webhook-seen:`;
  const webhooks = new WebhookRoute({
    config,
    transformers: options.webhooks ?? new Map(),
    queue: outcomesQueue,
    seen: async (key) => (await redis.set(seenPrefix + key, '1', 'EX', 7 * 24 * 3600, 'NX')) === null,
    // The queue wrote the jobs on this connection, the WAIT runs on a connection of its own: a probe in the
    // queue's slot, after them on the same primary, makes the WAIT count the replicas holding them.
    replicated: (jobIds, replicas, timeoutMs) =>
      replicaAcknowledgedKeys(
        redis,
        jobIds.map((id) => outcomesQueue.toKey(id)),
        replicas,
        timeoutMs,
        { key: bullReplicaProbeKey(config.redis.keyPrefix, GATEWAY_OUTCOMES_QUEUE), ttlMs: REPLICA_PROBE_TTL_MS },
      ),
    operations: {
      hasOperation: async (id) => (await ledger.shardOf(id)) !== null,
      operationOfReference: (gateway, reference) => ledger.findByReference(gateway, reference),
    },
    logger,
  });
  const access = edgeAccessFor(config, logger);
  // Allowlists first, before a byte of the body is read; health stays open for probes and balancers.
  const routes: WebRoute[] = [
    guardRoute(intake, access, () => ({ surface: 'intake' })),
    guardRoute(webhooks, access, (path) => ({ surface: 'webhook', gateway: webhookGatewayOf(path) })),
    health,
    guardRoute(new MetricsRoute(), access, () => ({ surface: 'admin' })),
    ...(options.extraRoutes ?? []),
  ];
  const server = await startWebServer(routes, {
    host: config.http.host,
    port: config.http.port,
    logger,
    limits: config.edge,
    tls,
    bodyLimitBytes: config.http.bodyLimitBytes,
  });
  logger.info('web process listening', {
    url: server.url,
    intake_path: config.http.intakePath,
    tls: tls !== undefined,
    client_certificates: tls?.ca !== undefined,
  });
  // The operator console: its own port and credentials, never the intake's listener.
  const ops = config.console.enabled ? openOps(config, logger, { service: 'web', redis }) : undefined;
  const consoleServer = ops
    ? await startWebServer([new ConsoleRoute({ config, ops, logger, access, secure: tls !== undefined })], {
        host: config.console.bind,
        port: config.console.port,
        logger,
        limits: config.edge,
        tls,
        headers: CONSOLE_SECURITY_HEADERS,
        bodyLimitBytes: CONSOLE_FORM_LIMIT_BYTES,
      })
    : undefined;
  const consoleUrl = consoleServer ? `${consoleServer.url}${config.console.path}` : undefined;
  if (consoleUrl) logger.info('operator console listening', { url: consoleUrl });
  return {
    server,
    intake,
    webhooks,
    access,
    intakeUrl: `${server.url}${config.http.intakePath}`,
    ...(consoleServer ? { console: consoleServer, consoleUrl } : {}),
    stop: async (budget = ShutdownBudget.unbounded()) => {
      dependencies.stop();
      let givenUp = 0;
      // The requests under way are answered, never dropped: an intake publish ends within amqp.publish_timeout_ms
      // (its confirm, or 503). When the wait ends first (the budget, or a publish that began after the stop), the
      // publishes still waiting for their confirm are given up and answered 503 (not accepted: the bus sends them
      // again), given a moment to go out.
      // The console's listener closes the same way, side by side: an operator's action under way (a replay, a
      // resend: each bounded by amqp.publish_timeout_ms) gets its answer rather than a dropped socket, within the
      // budget; one still under way past it is dropped.
      await Promise.all([
        server.close(async (answered) => {
          if (await budget.wait(answered, config.amqp.publishTimeoutMs, 'http_requests')) return;
          givenUp = publisher.abandonPending();
          await budget.wait(answered, SPENT_STEP_MS, 'http_requests');
        }),
        consoleServer?.close((answered) => budget.wait(answered, config.amqp.publishTimeoutMs, 'console_requests')),
      ]);
      if (ops) await ops.close();
      // Each on a channel of its own: side by side rather than one bound after another.
      await Promise.all([backlog.close(budget), publisher.close(budget)]);
      // Last of the broker's steps: cut short, its socket is dropped.
      await connection.close(budget);
      // Publishes are given up when the wait for the requests ends, by the budget or by its own bound (a request
      // under way longer than amqp.publish_timeout_ms, a publish that began after the stop): either is reported.
      if (budget.cut.length > 0 || givenUp > 0)
        logger.warn(
          budget.cut.length > 0
            ? 'web stop: broker steps cut short to stay within shutdown.deadline_ms (publishes not confirmed were answered 503: the bus sends them again)'
            : 'web stop: publishes still waiting for their confirm when the wait for the requests under way ended were given up (answered 503: the bus sends them again)',
          {
            steps: budget.cut,
            publishes_given_up: givenUp,
            left_ms: Math.max(0, Math.round(budget.leftMs())),
          },
        );
      await outcomesQueue.close();
      await presence.stop();
      redis.disconnect();
    },
  };
}
