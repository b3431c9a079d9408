import { AuditLog } from '../audit/audit-log';
import { configLoadEntry, recordConfigLoad } from '../audit/config-load';
import { Config } from '../config/config';
import { loadConfig } from '../config/load-config';
import { warnInsecureHttp } from '../config/transport-security';
import { configWarnings } from '../config/cross-field-rules';
import { ConfigError } from '../errors/config-error';
import { gatewaySecretValues } from '../gateways/gateway-registry';
import { Logger, createLogger } from '../logging/logger';
import { registerSecret } from '../logging/redact';
import { announceRelease } from '../fleet/process-presence';
import { tuneHeap } from './heap-tuning';
import { ShutdownBudget } from '../amqp/shutdown-budget';

/**
 * Loads and validates the configuration, or prints the one-line reason and exits 78 (EX_CONFIG). Every
 * load, accepted or refused, goes to the audit log (path and SHA-256, never values): with `audit.stream`
 * (long-running roles) its line goes to stdout with the role's other lines and the entry to the Redis
 * stream, in the background; one-shot commands write the line to stderr, keeping stdout for their output.
 */
export function configOrExit(path: string | undefined, logger: Logger, audit: { role: string; stream?: boolean } = { role: 'cli' }): Config {
  try {
    const config = loadConfig(path);
    const entry = configLoadEntry(path, audit.role, { ok: true });
    if (audit.stream) void recordConfigLoad(config, entry, audit.role).catch(() => undefined);
    else void new AuditLog({ prefix: config.redis.keyPrefix, service: audit.role, stream: process.stderr }).record(entry);
    for (const secret of [
      config.serviceBus.secret,
      config.serviceBus.secretPrevious,
      config.serviceBus.secretNext,
      config.momClient.clientSecret,
      config.console.password,
      ...config.console.accounts.map((a) => a.password),
    ])
      registerSecret(secret);
    // Each gateway's secrets are the settings its definition declares secret (src/gateways/<name>/).
    for (const gw of Object.values(config.gateways)) for (const secret of gatewaySecretValues(gw)) registerSecret(secret);
    for (const keys of Object.values(config.channels.credentials)) for (const key of keys ?? []) registerSecret(key.secret);
    warnInsecureHttp(config, logger);
    for (const [key, what] of configWarnings(config)) logger.warn(`configuration warning: ${key} ${what}`, { key });
    return config;
  } catch (err) {
    if (err instanceof ConfigError) {
      void new AuditLog({ prefix: '', service: audit.role, stream: audit.stream ? process.stdout : process.stderr }).record(
        configLoadEntry(path, audit.role, { ok: false, key: err.key }),
      );
      logger.error(`configuration error: ${err.message}`, { key: err.key });
      process.stderr.write(`payment-bridge: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

/** A logger for the process role, at the configured level once the configuration is known; a turn's lines in one write. */
export function processLogger(service: string, level?: string): Logger {
  return createLogger({ service, level, coalesce: true });
}

/**
 * Runs a long-lived process role until SIGTERM/SIGINT, then stops it gracefully (in-flight work is
 * finished or handed back to the broker) within `deadlineMs` (`shutdown.deadline_ms`): past it the process
 * exits with code 1 whatever is still running. The role's `stop` gets the shutdown's {@link ShutdownBudget}
 * (the deadline less a margin for the final steps), which its bounded steps share so that they end within it.
 * A second signal exits at once. The signal handlers are in place before the role starts: a signal while it
 * is still starting (waiting for Redis) aborts `signal`, which the role honours by giving up, and the process
 * exits 0.
 */
export async function runUntilSignal(
  name: string,
  logger: Logger,
  start: (signal: AbortSignal) => Promise<{ stop(budget?: ShutdownBudget): Promise<void> }>,
  deadlineMs = 30_000,
): Promise<void> {
  let heapGrowingPercent: number | null;
  try {
    heapGrowingPercent = tuneHeap();
  } catch (err) {
    logger.error(`${name} cannot start`, { error: (err as Error).message });
    process.stderr.write(`payment-bridge: ${(err as Error).message}\n`);
    process.exit(78);
  }
  logger.debug(`${name} heap growing percent`, { heap_growing_percent: heapGrowingPercent ?? 'v8 default' });
  logger.info(`${name} starting`, { ...announceRelease(name), pid: process.pid });
  const abort = new AbortController();
  const starting = start(abort.signal);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info(`${name} stopping`, { signal, deadline_ms: deadlineMs });
    // From the signal on, as the deadline's timer.
    const budget = ShutdownBudget.of(deadlineMs);
    setTimeout(() => {
      logger.error(`${name} did not stop within shutdown.deadline_ms; exiting anyway`, { deadline_ms: deadlineMs });
      process.exit(1);
    }, deadlineMs).unref();
    abort.abort();
    starting.then(
      (handle) =>
        handle
          .stop(budget)
          .then(() => process.exit(0))
          .catch((err: Error) => {
            logger.error(`${name} did not stop cleanly`, { error: err.message });
            process.exit(1);
          }),
      // Told to stop while starting: nothing was left running.
      () => process.exit(0),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    await starting;
  } catch (err) {
    if (stopping) return;
    throw err;
  }
  if (!stopping) announceReady(name);
}

/** The message a role sends its supervisor once it is serving: `{ type: 'ready', role }`. */
export interface ReadyMessage {
  type: 'ready';
  role: string;
}

/**
 * Tells a supervisor that started this process with an IPC channel (the local stack, a test) that the
 * role is serving, whatever the log level; without a channel (Procfile, systemd) it does nothing.
 */
function announceReady(role: string): void {
  if (!process.send) return;
  const message: ReadyMessage = { type: 'ready', role };
  process.send(message);
}
