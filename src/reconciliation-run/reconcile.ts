import { writeFile } from 'node:fs/promises';
import { RedisClient } from '../redis/redis-connection';
import { AdjustmentStore } from '../adjustments/adjustment-store';
import { Config } from '../config/config';
import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { createDeliveryQueue } from '../delivery/delivery-queue';
import { EventStore } from '../events/event-store';
import { createOmsEventsQueue } from '../events/oms-events-queue';
import { gatewayDefinition } from '../gateways/gateway-registry';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { buildOutcomeRecorder } from '../poller/outcome-recorder-wiring';
import { buildOrchestrationPipeline } from '../orchestration/orchestration-stages';
import { createRedis } from '../redis/redis-connection';
import type { ReconciliationWindow } from '../reconciliation/psp-record';
import { createReconciliationHttp } from './reconciliation-http';
import { DetailsFormat, DetailsWriter, markdownSummary } from './reconciliation-report';
import { ReconciliationProgress, ReconciliationRunner, ReconciliationSummary, VerdictSink } from './reconciliation-runner';
import { recentRunOf, recordRun } from './reconciliation-history';

/** A gateway that cannot be reconciled: not configured, or its PSP has no reader yet. */
export class NotReconcilableError extends Error {
  constructor(
    readonly gateway: string,
    message: string,
  ) {
    super(message);
    this.name = 'NotReconcilableError';
  }
}

/** The configured gateways whose PSP has a reader (`GatewayDefinition.reconciliation`). */
export function reconcilableGateways(config: Config): string[] {
  return Object.entries(config.gateways)
    .filter(([, g]) => gatewayDefinition(g.type).reconciliation !== undefined)
    .map(([name]) => name);
}

export interface ReconcileOptions {
  /** The configured gateway name (`gateways.<name>`). */
  gateway: string;
  window: ReconciliationWindow;
  /** Classify and report, apply nothing. Default false. */
  dryRun?: boolean;
  /** Read a finished run's window again from the start (`ReconciliationRunOptions.again`). Default false. */
  again?: boolean;
  /**
   * Markdown summary path; the details of every non-matched line go next to it (`<path without .md>.jsonl`
   * or `.csv`). Default: no files (the summary is still returned).
   */
  reportFile?: string;
  /** Details format. Default `jsonl`. */
  detailsFormat?: DetailsFormat;
  logger: Logger;
  /** An open Redis connection to use (not closed here). Default: one opened on `redis.url` and closed after. */
  redis?: RedisClient;
  onProgress?: (progress: ReconciliationProgress) => void;
  /** Stops after the page in progress; the next call resumes. */
  signal?: AbortSignal;
  /** An extra sink for every verdict (tests, drills). */
  sink?: VerdictSink;
  /** Trusted CA certificates for the PSP (tests with a local TLS server). Default: system roots. */
  ca?: string | Buffer;
}

/** A run's summary, and where its report went. */
export interface ReconcileResult {
  summary: ReconciliationSummary;
  /** The Markdown summary (also written to `reportFile` when given). */
  markdown: string;
  detailsFile?: string;
}

/**
 * Reconciles one configured gateway over one window: `payment-bridge reconcile`, the poller's schedule and
 * the disaster drill all call this. Adjustments go through `AdjustmentRecorder` (their OMS events through
 * the outbox and the `oms-events` queue, which the workers send), settlements through the outcome recorder every
 * process builds (`buildOutcomeRecorder`: a failure settled here gives back its cap reservations, as a webhook's
 * does); an authorization the OMS was told failed and the PSP holds goes to orphan reversal
 * (`authorizations.orphan_reversal`). Resumable: call it again with the same gateway and window.
 * @throws NotReconcilableError when the gateway is not configured or has no reader.
 */
export async function reconcile(config: Config, options: ReconcileOptions): Promise<ReconcileResult> {
  const gateway = config.gateways[options.gateway];
  if (!gateway) {
    throw new NotReconcilableError(
      options.gateway,
      `no gateway "${options.gateway}" in the configuration (gateways: ${Object.keys(config.gateways).join(', ') || 'none'})`,
    );
  }
  const definition = gatewayDefinition(gateway.type);
  const support = definition.reconciliation;
  if (!support) throw new NotReconcilableError(options.gateway, `gateway "${options.gateway}" (${definition.title}) has no reconciliation reader yet`);
  const { logger } = options;
  const redis = options.redis ?? createRedis(config.redis, 'commands', logger);
  const prefix = config.redis.keyPrefix;
  const eventsQueue = createOmsEventsQueue(redis, prefix);
  const deliveryQueue = createDeliveryQueue(redis, prefix);
  for (const q of [eventsQueue, deliveryQueue]) q.on('error', () => undefined);
  const http = createReconciliationHttp(gateway, definition.transformer, {
    proxy: config.proxy,
    timeoutMs: Math.max(gateway.timeoutMs, config.reconciliation.requestTimeoutMs),
    downloadDeadlineMs: config.reconciliation.downloadDeadlineMs,
    ca: options.ca,
    logger,
  });
  const details = options.reportFile
    ? new DetailsWriter(detailsPathOf(options.reportFile, options.detailsFormat ?? 'jsonl'), options.detailsFormat ?? 'jsonl')
    : undefined;
  try {
    const ledger = new Ledger(redis, prefix);
    // The orchestration only to give back what a failure it settles had reserved (cap counters), as a webhook or an
    // inquiry finding that failure does; releasing reads no gateway, so no clients (`routes`) are built for it.
    const pipeline = buildOrchestrationPipeline({ config, logger, redis });
    const { recorder, orphans } = buildOutcomeRecorder({
      config,
      redis,
      ledger,
      events: new EventStore(redis, prefix),
      eventsQueue,
      deliveryQueue,
      logger,
      pipeline,
    });
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, prefix), recorder, ledger, logger });
    const runner = new ReconciliationRunner({
      redis,
      prefix,
      gateway: options.gateway,
      transformer: definition.transformer,
      reader: support.reader(gateway, http),
      source: support.source,
      ...(support.unlistedCommands !== undefined ? { unlistedCommands: support.unlistedCommands } : {}),
      adjustments,
      recorder,
      orphans,
      gateways: config.gateways,
      logger,
      stateTtlS: config.reconciliation.stateTtlDays * 86_400,
      lookupsPerRun: config.reconciliation.lookupsPerRun,
    });
    const sinks = [details, options.sink].filter((s): s is VerdictSink => s !== undefined);
    const started = Date.now();
    let summary: ReconciliationSummary;
    try {
      summary = await runner.run({
        window: options.window,
        dryRun: options.dryRun,
        again: options.again,
        onProgress: options.onProgress,
        signal: options.signal,
        sink:
          sinks.length === 0
            ? undefined
            : {
                verdict: async (v, o) => void (await Promise.all(sinks.map((s) => s.verdict(v, o)))),
                unreadable: async (line) => void (await Promise.all(sinks.map((s) => s.unreadable?.(line)))),
              },
      });
    } catch (err) {
      // Recorded for the operator's overview (its class only: a message may quote the PSP), then thrown on.
      await recordRun(redis, prefix, {
        gateway: options.gateway,
        from: options.window.from,
        to: options.window.to,
        dryRun: options.dryRun === true,
        result: 'failed',
        lines: 0,
        differences: 0,
        classes: {},
        adjusted: 0,
        settled: 0,
        at: Date.now(),
        durationMs: Date.now() - started,
        error: err instanceof Error ? err.constructor.name : 'Error',
      }).catch(() => undefined);
      throw err;
    }
    // The run is done and committed: a history that cannot be written is said, not made the run's failure.
    await recordRun(redis, prefix, recentRunOf(summary, Date.now())).catch((err: unknown) =>
      logger.warn('reconciliation run not kept in the history', { gateway: options.gateway, error: (err as Error).message }),
    );
    if (details) await details.close();
    const markdown = markdownSummary(summary, details ? { path: details.path, rows: details.rows } : undefined);
    if (options.reportFile) await writeFile(options.reportFile, markdown, 'utf8');
    return { summary, markdown, ...(details ? { detailsFile: details.path } : {}) };
  } finally {
    if (details) await details.close().catch(() => undefined);
    http.close();
    await eventsQueue.close();
    await deliveryQueue.close();
    if (!options.redis) redis.disconnect();
  }
}

/** `report.md` → `report.jsonl` (or `.csv`); any other name gets the extension appended. */
export function detailsPathOf(reportFile: string, format: DetailsFormat): string {
  return `${reportFile.endsWith('.md') ? reportFile.slice(0, -3) : reportFile}.${format}`;
}
