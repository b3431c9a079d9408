import { readFileSync } from 'node:fs';
import { schemaProblems } from './config-diagnostics';
import { crossFieldProblems } from './cross-field-rules';
import { parse as parseYaml } from 'yaml';
import { configSchema } from './config-schema';
import { configValidator } from '../validation/precompiled-validator';
import {
  BusCommandName,
  ConsoleAccount,
  BusNotificationName,
  Config,
  EdgeConfig,
  GatewayConfig,
  OrphanReversalMode,
  RateLimit,
  ReconciliationScheduleMode,
  RateLimitsConfig,
  RedisConfig,
} from './config';
import { toGatewayConfig } from './gateway-config-schema';
import { ConfigError } from '../errors/config-error';
import { checkTransportSecurity } from './transport-security';
import { checkSecretStrength } from './secret-strength';
import { toChannelsConfig } from './channels-config';
import { toLimitsConfig } from './limits-config';
import { toRoutingConfig } from './routing-config';

type Params = Record<string, unknown>;

const ENV_REF = /%env\((?:(int):)?([A-Z_][A-Z0-9_]*)\)%/g;
const ENV_WHOLE = /^%env\((?:(int):)?([A-Z_][A-Z0-9_]*)\)%$/;
const ENV_SYNTAX = 'write %env(NAME)% or %env(int:NAME)%, NAME in capitals, digits and _';

/**
 * Replaces `%env(NAME)%` (and `%env(int:NAME)%`) references with values from `env`, recursively.
 * Every problem is collected before anything is thrown, so one run names every unset variable and every
 * malformed reference (`%env(name)%`, a missing `%`), each with its key: a {@link ConfigError} listing all.
 */
export function resolveEnvReferences(value: unknown, env: NodeJS.ProcessEnv, key = ''): unknown {
  const problems: Array<[string, string]> = [];
  const resolved = resolveInto(value, env, key, problems);
  if (problems.length > 0)
    throw new ConfigError(
      problems[0][0],
      problems[0][1],
      problems.map(([k, p]) => `${k}: ${p}`),
    );
  return resolved;
}

function resolveInto(value: unknown, env: NodeJS.ProcessEnv, key: string, problems: Array<[string, string]>): unknown {
  if (typeof value === 'string') {
    const lookup = (name: string): string => {
      const found = env[name];
      if (found === undefined) problems.push([key, `environment variable ${name} is not set`]);
      return found ?? '';
    };
    if (value.replace(ENV_REF, '').includes('%env(')) {
      problems.push([key, `has a malformed %env() reference: ${ENV_SYNTAX}`]);
      return value;
    }
    const whole = ENV_WHOLE.exec(value);
    if (whole) {
      const raw = lookup(whole[2]);
      if (whole[1] === 'int' && env[whole[2]] !== undefined) {
        if (!/^-?\d+$/.test(raw)) problems.push([key, `environment variable ${whole[2]} is not an integer`]);
        return Number(raw);
      }
      return raw;
    }
    return value.replace(ENV_REF, (_m, _cast: string | undefined, name: string) => lookup(name));
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveInto(v, env, `${key}[${i}]`, problems));
  if (value !== null && typeof value === 'object') {
    const out: Params = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveInto(v, env, key ? `${key}.${k}` : k, problems);
    return out;
  }
  return value;
}

// Generated at build time from configSchema (every error, defaults filled in): nothing compiles at start-up.
const validateParams = configValidator();

/**
 * Validates a `parameters:` map (after `%env()%` resolution), applies defaults and returns the frozen,
 * typed configuration. Throws a {@link ConfigError} naming the first offending key.
 */
export function buildConfig(parameters: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  const resolved = resolveEnvReferences(parameters ?? {}, env);
  const params = structuredClone(resolved) as Params;
  if (!validateParams(params)) {
    const problems = schemaProblems(validateParams.errors ?? [], configSchema);
    const [key, problem] = problems[0] ?? ['(root)', 'is invalid'];
    throw new ConfigError(
      key,
      problem,
      problems.map(([k, p]) => `${k}: ${p}`),
    );
  }
  checkSecretStrength(params);
  const config = toConfig(params);
  checkTransportSecurity(config);
  const incoherent = crossFieldProblems(config);
  if (incoherent.length > 0)
    throw new ConfigError(
      incoherent[0][0],
      incoherent[0][1],
      incoherent.map(([k, p]) => `${k}: ${p}`),
    );
  return deepFreeze(config);
}

/** Where the configuration is read from when neither `--config` nor `PB_CONFIG` says otherwise (the MIB guide's place). */
export const DEFAULT_CONFIG_PATH = 'config/parameters.yml';

/**
 * Reads a `parameters.yml` (Symfony style, a top-level `parameters:` map) and builds the configuration.
 * @param path default `$PB_CONFIG`, else `config/parameters.yml` relative to the working directory.
 */
export function loadConfig(path = process.env.PB_CONFIG ?? DEFAULT_CONFIG_PATH, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('(file)', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    // The parser's message quotes the text it choked on, which may be a secret written inline: only where.
    const at = (err as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    const code = (err as { code?: unknown }).code;
    const kind = typeof code === 'string' ? code : (err as Error).name;
    throw new ConfigError('(file)', `${path} is not valid YAML (${kind})${at ? ` at line ${at.line}, column ${at.col}` : ''}`);
  }
  if (doc === null || typeof doc !== 'object' || !('parameters' in doc)) {
    throw new ConfigError('parameters', `${path} has no top-level "parameters:" map`);
  }
  return buildConfig((doc as { parameters: unknown }).parameters, env);
}

function str(p: Params, k: string): string {
  return p[k] as string;
}
function num(p: Params, k: string): number {
  return p[k] as number;
}

const COMMANDS: readonly BusCommandName[] = [
  'validate',
  'revalidate',
  'capture',
  'cancel',
  'refund',
  // Stored value cards.
  'balance_inquiry',
  'reload',
  'issue',
  'activate',
  'deactivate',
  'merge_balance',
];
const NOTIFICATIONS: readonly BusNotificationName[] = [
  'validated',
  'revalidated',
  'captured',
  'cancelled',
  'refunded',
  'authorized',
  'sold',
  'tokenized',
  'refund_updated',
  'authorization_expiring',
  'adjusted',
  // Stored value cards.
  'balance_reported',
  'reloaded',
  'issued',
  'activated',
  'deactivated',
  'balance_merged',
  'recurring_failed',
  'recurring_cycles_skipped',
  // Split tender.
  'split_tender_settled',
];

function toConfig(p: Params): Config {
  const methodMap = <K extends string>(names: readonly K[]): Record<K, string> =>
    Object.fromEntries(names.map((n) => [n, str(p, `service_bus.method.${n}`)])) as Record<K, string>;
  const gateways: Record<string, GatewayConfig> = {};
  for (const [name, raw] of Object.entries(p.gateways as Record<string, Params>)) gateways[name] = toGatewayConfig(name, raw);
  return {
    serviceBus: {
      url: str(p, 'service_bus.url').replace(/\/+$/, ''),
      rpcPath: str(p, 'service_bus.rpc_path'),
      endpointName: str(p, 'service_bus.endpoint_name'),
      secret: str(p, 'service_bus.secret'),
      secretPrevious: str(p, 'service_bus.secret_previous'),
      secretNext: str(p, 'service_bus.secret_next'),
      publicUrl: str(p, 'service_bus.public_url'),
      delegatePath: str(p, 'service_bus.delegate_path'),
      subscribes: p['service_bus.subscribes'] as string[],
      amountUnits: p['service_bus.amount_units'] as 'minor' | 'major',
      refundPendingNotice: p['service_bus.refund_pending_notice'] as boolean,
      timeoutMs: num(p, 'service_bus.timeout_ms'),
      connectTimeoutMs: num(p, 'service_bus.connect_timeout_ms'),
      methods: {
        register: str(p, 'service_bus.method.register'),
        unregister: str(p, 'service_bus.method.unregister'),
        commands: methodMap(COMMANDS),
        notifications: methodMap(NOTIFICATIONS),
      },
    },
    momClient: {
      clientId: str(p, 'mom_client.client_id'),
      clientSecret: str(p, 'mom_client.client_secret'),
      oauthServerUrl: str(p, 'mom_client.oauth_server_url').replace(/\/+$/, ''),
      tokenPath: str(p, 'mom_client.token_path'),
      scope: str(p, 'mom_client.scope'),
      clientAuth: str(p, 'mom_client.client_auth') === 'body' ? 'body' : 'header',
      refreshMarginS: num(p, 'mom_client.refresh_margin_s'),
    },
    amqp: {
      url: str(p, 'amqp.url'),
      urls: [...new Set([str(p, 'amqp.url'), ...(p['amqp.urls'] as string[])])],
      deadLetterStrategy: p['amqp.queue.dead_letter_strategy'] as 'at-most-once' | 'at-least-once',
      commandsExchange: str(p, 'amqp.exchange.commands'),
      commandsQueue: str(p, 'amqp.queue.commands'),
      queueType: p['amqp.queue.type'] as 'quorum' | 'classic',
      deadLetterExchange: str(p, 'amqp.exchange.dead_letter'),
      deadLetterQueue: str(p, 'amqp.queue.dead_letter'),
      prefetch: num(p, 'amqp.prefetch'),
      publishTimeoutMs: num(p, 'amqp.publish_timeout_ms'),
      reconnectMs: num(p, 'amqp.reconnect_ms'),
      deadLetterArchiveIntervalMs: num(p, 'amqp.dead_letter_archive_interval_ms'),
    },
    redis: toRedisConfig(p),
    http: {
      host: str(p, 'http.host'),
      port: num(p, 'http.port'),
      intakePath: str(p, 'http.intake_path'),
      bodyLimitBytes: num(p, 'http.body_limit_bytes'),
      discardLimitBytes: num(p, 'http.discard_limit_bytes'),
      discardTimeoutMs: num(p, 'http.discard_timeout_ms'),
    },
    proxy: { host: str(p, 'proxy.host'), port: num(p, 'proxy.port') },
    delivery: {
      concurrency: num(p, 'delivery.concurrency'),
      backoffBaseMs: num(p, 'delivery.backoff_base_ms'),
      backoffMaxMs: num(p, 'delivery.backoff_max_ms'),
      maxAgeMs: num(p, 'delivery.max_age_ms'),
      breakerFailureThreshold: num(p, 'delivery.breaker_failure_threshold'),
      breakerOpenMs: num(p, 'delivery.breaker_open_ms'),
      configGraceMs: num(p, 'delivery.config_grace_ms'),
      retryAfterMaxMs: num(p, 'delivery.retry_after_max_ms'),
      lateFailureConfirmMs: num(p, 'delivery.late_failure_confirm_ms'),
      recaptureFailureWaitMs: num(p, 'delivery.recapture_failure_wait_ms'),
      parkedOutcomeTtlMs: num(p, 'delivery.parked_outcome_ttl_ms'),
      voidWaitMaxMs: num(p, 'delivery.void_wait_max_ms'),
      authorizationWaitMaxMs: num(p, 'delivery.authorization_wait_max_ms'),
    },
    events: {
      concurrency: num(p, 'events.concurrency'),
      backoffBaseMs: num(p, 'events.backoff_base_ms'),
      backoffMaxMs: num(p, 'events.backoff_max_ms'),
    },
    queues: { watchdogIntervalMs: num(p, 'queues.watchdog_interval_ms') },
    leases: { holderTtlMs: num(p, 'leases.holder_ttl_ms') },
    poller: {
      scheduleMs: p['poller.schedule_ms'] as number[],
      inProcessIntervalMs: num(p, 'poller.in_process_interval_ms'),
      unresolvedIntervalMs: num(p, 'poller.unresolved_interval_ms'),
      webhookWaitAlertMs: num(p, 'poller.webhook_wait_alert_ms'),
      actionExpiryInquiryMaxMs: num(p, 'poller.action_expiry_inquiry_max_ms'),
    },
    authentication: {
      actionTimeoutMs: num(p, 'authentication.action_timeout_ms'),
      qrCodeTimeoutMs: num(p, 'authentication.qr_code_timeout_ms'),
      voucherTimeoutMs: num(p, 'authentication.voucher_timeout_ms'),
      bankTransferTimeoutMs: num(p, 'authentication.bank_transfer_timeout_ms'),
      actionDeadlineGraceMs: num(p, 'authentication.action_deadline_grace_ms'),
      maxActionWaitMs: num(p, 'authentication.max_action_wait_ms'),
    },
    recurring: {
      retryScheduleMs: p['recurring.retry_schedule_ms'] as number[],
      runLimit: num(p, 'recurring.run_limit'),
      endedRetentionDays: num(p, 'recurring.ended_retention_days'),
      rpcMethods: {
        create: p['recurring.rpc_method.create'] as string,
        list: p['recurring.rpc_method.list'] as string,
        cancel: p['recurring.rpc_method.cancel'] as string,
      },
    },
    registration: { attempts: num(p, 'registration.attempts'), backoffBaseMs: num(p, 'registration.backoff_base_ms') },
    authorizations: {
      validityMs: p['authorizations.validity_ms'] as Record<string, number>,
      expiryWarningMs: num(p, 'authorizations.expiry_warning_ms'),
      orphanReversal: p['authorizations.orphan_reversal'] as OrphanReversalMode,
      orphanVoidAfterMs: num(p, 'authorizations.orphan_void_after_ms'),
      orphanVoidAfterMsByAccount: p['authorizations.orphan_void_after_ms_by_account'] as Record<string, number>,
      sweepLimit: num(p, 'authorizations.sweep_limit'),
    },
    reconciliation: {
      schedule: p['reconciliation.schedule'] as ReconciliationScheduleMode,
      intervalMs: num(p, 'reconciliation.interval_ms'),
      windowMs: num(p, 'reconciliation.window_ms'),
      lagMs: num(p, 'reconciliation.lag_ms'),
      gateways: p['reconciliation.gateways'] as string[],
      requestTimeoutMs: num(p, 'reconciliation.request_timeout_ms'),
      downloadDeadlineMs: num(p, 'reconciliation.download_deadline_ms'),
      stateTtlDays: num(p, 'reconciliation.state_ttl_days'),
      lookupsPerRun: num(p, 'reconciliation.lookups_per_run'),
      reportDir: str(p, 'reconciliation.report_dir'),
    },
    monitoring: {
      host: str(p, 'monitoring.host'),
      workerPort: num(p, 'monitoring.worker_port'),
      pollerPort: num(p, 'monitoring.poller_port'),
      readyMaxEventLagMs: num(p, 'monitoring.ready_max_event_lag_ms'),
    },
    shutdown: { deadlineMs: num(p, 'shutdown.deadline_ms') },
    pollerProcess: { intervalMs: num(p, 'poller.interval_ms') },
    splitTender: {
      refundOrder: p['split_tender.refund_order'] as Config['splitTender']['refundOrder'],
      sweepIntervalMs: num(p, 'split_tender.sweep_interval_ms'),
    },
    log: { level: p['log.level'] as Config['log']['level'] },
    security: { allowInsecureHttp: p['security.allow_insecure_http'] as boolean },
    edge: edgeConfig(p),
    audit: { streamMaxLen: num(p, 'audit.stream_max_len') },
    console: {
      enabled: p['console.enabled'] as boolean,
      bind: str(p, 'console.bind'),
      port: num(p, 'console.port'),
      path: str(p, 'console.path'),
      username: str(p, 'console.username'),
      password: str(p, 'console.password'),
      accounts: (p['console.accounts'] as Params[]).map((a) => ({
        username: String(a.username),
        password: String(a.password),
        role: a.role as ConsoleAccount['role'],
      })),
      sessionTtlMs: num(p, 'console.session_ttl_ms'),
      sessionIdleMs: num(p, 'console.session_idle_ms'),
      stuckAfterMs: num(p, 'console.stuck_after_ms'),
      secureCookie: p['console.secure_cookie'] as Config['console']['secureCookie'],
      allowedHosts: p['console.allowed_hosts'] as string[],
    },
    rateLimits: rateLimitsOf(p),
    backpressure: {
      maxBacklog: num(p, 'backpressure.max_backlog'),
      retryAfterS: num(p, 'backpressure.retry_after_s'),
      depthCacheMs: num(p, 'backpressure.depth_cache_ms'),
      priorityLane: p['backpressure.priority_lane'] as boolean,
    },
    inflight: {
      adaptive: p['inflight.adaptive'] as boolean,
      min: num(p, 'inflight.min'),
      max: num(p, 'inflight.max'),
      initial: num(p, 'inflight.initial'),
      memoryBudgetMib: num(p, 'inflight.memory_budget_mib'),
      lagLimitMs: num(p, 'inflight.lag_limit_ms'),
      intervalMs: num(p, 'inflight.interval_ms'),
    },
    channels: toChannelsConfig(p),
    limits: toLimitsConfig(p),
    retention: {
      enabled: p['retention.enabled'] as boolean,
      expireAfterDays: num(p, 'retention.expire_after_days'),
      archiveDir: str(p, 'retention.archive_dir'),
      batch: num(p, 'retention.batch'),
      requireReconciliation: p['retention.require_reconciliation'] as boolean,
    },
    routing: toRoutingConfig(p),
    gateways,
  };
}

function edgeConfig(p: Params): EdgeConfig {
  return {
    maxConnections: num(p, 'edge.max_connections'),
    maxConnectionsPerIp: num(p, 'edge.max_connections_per_ip'),
    headersTimeoutMs: num(p, 'edge.headers_timeout_ms'),
    requestTimeoutMs: num(p, 'edge.request_timeout_ms'),
    keepAliveTimeoutMs: num(p, 'edge.keep_alive_timeout_ms'),
    trustedProxies: p['edge.trusted_proxies'] as string[],
    allow: {
      intake: p['edge.allow.intake'] as string[],
      webhooks: p['edge.allow.webhooks'] as Record<string, string[]>,
      admin: p['edge.allow.admin'] as string[],
    },
    tls: { certFile: str(p, 'edge.tls.cert_file'), keyFile: str(p, 'edge.tls.key_file'), caFile: str(p, 'edge.tls.ca_file') },
  };
}

/** `rate_limits.*`: buckets as `{ per_s, burst }` maps become {@link RateLimit}s. */
function rateLimitsOf(p: Params): RateLimitsConfig {
  const limits = (raw: unknown): Record<string, RateLimit> =>
    Object.fromEntries(Object.entries(raw as Record<string, { per_s: number; burst: number }>).map(([k, v]) => [k, { perS: v.per_s, burst: v.burst }]));
  return {
    enabled: p['rate_limits.enabled'] as boolean,
    channel: { perS: num(p, 'rate_limits.channel_per_s'), burst: num(p, 'rate_limits.channel_burst') },
    account: { perS: num(p, 'rate_limits.account_per_s'), burst: num(p, 'rate_limits.account_burst') },
    byChannel: limits(p['rate_limits.by_channel']),
    byAccount: limits(p['rate_limits.by_account']),
    leaseTokens: num(p, 'rate_limits.lease_tokens'),
    takeDeadlineMs: num(p, 'rate_limits.take_deadline_ms'),
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

function toRedisConfig(p: Params): RedisConfig {
  const nodes = p['redis.cluster.nodes'] as string[];
  return {
    url: str(p, 'redis.url'),
    keyPrefix: str(p, 'redis.key_prefix'),
    cluster:
      nodes.length === 0
        ? undefined
        : {
            nodes: Object.freeze([...nodes]),
            retryDelayMs: num(p, 'redis.cluster.retry_delay_ms'),
            retryDelayOnMovedMs: num(p, 'redis.cluster.retry_delay_on_moved_ms'),
            maxRedirections: num(p, 'redis.cluster.max_redirections'),
            slotsRefreshIntervalMs: num(p, 'redis.cluster.slots_refresh_interval_ms'),
          },
    ...(num(p, 'redis.replica_acks') > 0 ? { replicaAcks: { replicas: num(p, 'redis.replica_acks'), timeoutMs: num(p, 'redis.replica_ack_timeout_ms') } } : {}),
  };
}
