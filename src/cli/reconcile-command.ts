import { Presets, SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { createLogger } from '../logging/logger';
import { OpsContext } from '../ops/ops-context';
import { NotReconcilableError, reconcile } from '../reconciliation-run/reconcile';
import { differencesOf } from '../reconciliation-run/reconciliation-history';
import type { DetailsFormat } from '../reconciliation-run/reconciliation-report';
import type { ReconciliationProgress } from '../reconciliation-run/reconciliation-runner';
import { parseTimeArgument } from './data-commands';
import { tuneHeap } from './heap-tuning';
import { OpsOutput, WithOpsContext } from './ops-output';
import { boundedSafeText } from '../errors/psp-text';

/** Exit codes of `payment-bridge reconcile`. */
export const RECONCILE_EXIT = { matched: 0, differences: 1, usage: 2, locked: 3, stopped: 130 } as const;

/** A progress bar over the window (the PSP's lines come in time order), with lines judged, rate and ETA; only on a TTY. */
function progressBar(io: OpsOutput): ((p: ReconciliationProgress) => void) & { stop(): void } {
  const bar = io.err.isTTY
    ? new SingleBar(
        {
          format: '  reconcile {bar} {percentage}% | {phase} | {judged} lines | {rate} lines/s | ETA {eta_formatted}',
          hideCursor: true,
          stream: io.err,
          etaBuffer: 20,
        },
        Presets.shades_classic,
      )
    : null;
  const started = Date.now();
  let begun = false;
  const update = (p: ReconciliationProgress): void => {
    if (!bar) return;
    const payload = {
      judged: p.judged,
      phase: p.phase === 'psp' ? 'PSP lines' : 'ledger',
      rate: Math.round(p.judged / Math.max(0.001, (Date.now() - started) / 1000)),
    };
    if (!begun) {
      bar.start(1000, Math.round(p.fraction * 1000), payload);
      begun = true;
    } else bar.update(Math.round(p.fraction * 1000), payload);
  };
  return Object.assign(update, { stop: () => bar?.stop() });
}

/** `payment-bridge reconcile`: one gateway, one window; the summary on stdout (or in `--report`), audit-logged. */
export async function reconcileCommand(
  ctx: OpsContext,
  io: OpsOutput,
  args: { gateway: string; from: string; to: string; dryRun?: boolean; again?: boolean; report?: string; format: string; json?: boolean },
  signal?: AbortSignal,
): Promise<number> {
  const dryRun = args.dryRun === true;
  let window: { from: number; to: number };
  try {
    window = { from: parseTimeArgument(args.from), to: parseTimeArgument(args.to) };
    if (window.to <= window.from) throw new Error(`--to (${new Date(window.to).toISOString()}) must be after --from (${new Date(window.from).toISOString()})`);
  } catch (err) {
    io.err.write(`payment-bridge: ${(err as Error).message}\n`);
    return RECONCILE_EXIT.usage;
  }
  const logger = createLogger({ service: 'reconcile', level: 'warn', stream: io.err });
  const progress = progressBar(io);
  const audit = { action: 'reconcile.run', actor: io.actor, target: args.gateway };
  const span = { from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString(), dry_run: dryRun, again: args.again === true };
  try {
    const { summary, markdown, detailsFile } = await reconcile(ctx.config, {
      gateway: args.gateway,
      window,
      dryRun,
      again: args.again === true,
      reportFile: args.report,
      detailsFormat: args.format as DetailsFormat,
      logger,
      redis: ctx.redis,
      onProgress: progress,
      signal,
    });
    progress.stop();
    const differences = differencesOf(summary);
    await ctx.audit.record({
      ...audit,
      outcome: dryRun ? 'dry_run' : summary.result === 'locked' ? 'refused' : 'ok',
      detail: {
        ...span,
        result: summary.result,
        lines: summary.lines,
        differences,
        unreadable: summary.unreadable,
        adjusted: summary.adjusted,
        settled: summary.settled,
      },
    });
    if (args.json) io.out.write(`${JSON.stringify({ ...summary, details_file: detailsFile ?? null }, null, 2)}\n`);
    else if (args.report) io.out.write(`report: ${args.report}${detailsFile ? `, details: ${detailsFile}` : ''}\n`);
    else io.out.write(markdown);
    if (summary.result === 'locked') {
      io.err.write(`payment-bridge: another reconciliation of ${args.gateway} over this window is running\n`);
      return RECONCILE_EXIT.locked;
    }
    if (summary.result === 'stopped') return RECONCILE_EXIT.stopped;
    // A line the reader could not read is for a person as a difference is.
    return differences > 0 || summary.unreadable > 0 ? RECONCILE_EXIT.differences : RECONCILE_EXIT.matched;
  } catch (err) {
    progress.stop();
    const refused = err instanceof NotReconcilableError;
    await ctx.audit.record({
      ...audit,
      outcome: refused ? 'refused' : 'failed',
      detail: { ...span, reason: boundedSafeText((err as Error).message, 200, false) },
    });
    if (refused) {
      io.err.write(`payment-bridge: ${(err as Error).message}\n`);
      return RECONCILE_EXIT.usage;
    }
    throw err;
  }
}

/** Adds `reconcile` to the CLI. */
export function addReconcileCommand(program: Command, withContext: WithOpsContext): void {
  program
    .command('reconcile')
    .description("compare the ledger with a PSP's own records over a window: classify every line, apply what the PSP is authoritative for, report the rest")
    .requiredOption('--gateway <name>', 'the gateway to reconcile (a key of gateways)')
    .requiredOption('--from <time>', 'window start, inclusive: epoch ms, ISO 8601, or a date (UTC)')
    .requiredOption('--to <time>', 'window end, exclusive: epoch ms, ISO 8601, or a date (UTC)')
    .option('--dry-run', 'classify and report only: no adjustment, no settlement, no OMS event')
    .option('--again', 'read a finished window again from the start (the PSP corrected its report); nothing is recorded twice')
    .option('--report <file>', 'write the Markdown summary here, and every non-matched line next to it (.jsonl or .csv)')
    .addOption(new Option('--format <format>', 'format of the per-line details').choices(['jsonl', 'csv']).default('jsonl'))
    .option('--json', 'print the summary as JSON')
    .action((opts: { gateway: string; from: string; to: string; dryRun?: boolean; again?: boolean; report?: string; format: string; json?: boolean }) =>
      withContext(async (ctx, io) => {
        // A run's live set is one page, but each page lives across its Redis and HTTP round trips, gets
        // promoted, and dies in old space: with V8's default growth a 100,000-line run kept ~60 MB of dead
        // pages before a mark-compact. The roles' heap growth cap applies here too (docs/BENCHMARKS.md).
        tuneHeap();
        // Ctrl-C stops after the page in progress; the next run resumes there.
        const controller = new AbortController();
        const stop = (): void => controller.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          return await reconcileCommand(ctx, io, opts, controller.signal);
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }),
    );
}
