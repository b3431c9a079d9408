import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Presets, SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { ExportFormat, ExportSummary, exportOperations } from '../data-lifecycle/export';
import { exportToFile } from '../data-lifecycle/export-file';
import { eraseOrder } from '../data-lifecycle/erasure';
import { NamespaceNotEmptyError, importOperations } from '../data-lifecycle/import';
import { OpsContext } from '../ops/ops-context';
import { createLogger } from '../logging/logger';
import { OpsOutput, WithOpsContext } from './ops-output';
import { boundedSafeText } from '../errors/psp-text';

/**
 * A time as an operator types it for `--from`/`--to`: epoch milliseconds, an ISO 8601 date-time, or a date
 * (`2026-11-01`, UTC): the start of that day, or its last millisecond with `endOfDay` (an inclusive `--to`).
 * @throws Error naming the value when it is none of those.
 */
export function parseTimeArgument(text: string, endOfDay = false): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) {
    const start = Date.parse(`${t}T00:00:00.000Z`);
    if (Number.isFinite(start)) return endOfDay ? start + 86_400_000 - 1 : start;
  }
  const ms = Date.parse(t);
  if (!Number.isFinite(ms)) throw new Error(`"${text}" is not a time (epoch ms, 2026-11-01 or 2026-11-01T12:00:00Z)`);
  return ms;
}

function progressBar(io: OpsOutput, label: string, unit: string): SingleBar | null {
  if (!io.err.isTTY) return null;
  return new SingleBar(
    { format: `  ${label} {bar} {percentage}% {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}`, hideCursor: true, stream: io.err, etaBuffer: 50 },
    Presets.shades_classic,
  );
}

/** A progress callback driving `bar` with a rate payload. */
function ticker(bar: SingleBar | null, started: number): (done: number, total: number) => void {
  let begun = false;
  return (done, total) => {
    if (!bar) return;
    const rate = Math.round(done / Math.max(0.001, (Date.now() - started) / 1000));
    if (!begun) {
      bar.start(total, done, { rate });
      begun = true;
    } else {
      bar.setTotal(total);
      bar.update(done, { rate });
    }
  };
}

/** `payment-bridge export`: operations created in the window, streamed to a file or stdout. */
export async function dataExport(ctx: OpsContext, io: OpsOutput, args: { from?: string; to?: string; format: string; out?: string }): Promise<number> {
  const format = args.format as ExportFormat;
  const from = args.from === undefined ? 0 : parseTimeArgument(args.from);
  const to = args.to === undefined ? Date.now() : parseTimeArgument(args.to, true);
  if (to < from) throw new Error(`--to (${new Date(to).toISOString()}) is before --from (${new Date(from).toISOString()})`);
  // No bar when the export itself goes to the terminal's stdout.
  const bar = args.out ? progressBar(io, 'export', 'operations') : null;
  // A card-like stored token the bridge issued (its index, as the consumer asks it) is kept, not counted as card data.
  const issuedTokens = { secrets: ctx.config.serviceBus, gateways: ctx.config.gateways };
  const options = { from, to, format, onProgress: ticker(bar, Date.now()), issuedTokens };
  const target = args.out ?? 'stdout';
  let summary: ExportSummary;
  try {
    summary = args.out
      ? await exportToFile(ctx.redis, ctx.config.redis.keyPrefix, args.out, options)
      : await exportOperations(ctx.redis, ctx.config.redis.keyPrefix, io.out, options);
  } catch (err) {
    bar?.stop();
    await ctx.audit.record({
      action: 'data.export',
      actor: io.actor,
      outcome: 'failed',
      target,
      detail: { format, from, to, error: boundedSafeText((err as Error).message, 200, false) },
    });
    throw err;
  }
  bar?.stop();
  await ctx.audit.record({
    action: 'data.export',
    actor: io.actor,
    outcome: 'ok',
    target,
    detail: {
      format,
      from,
      to,
      operations: summary.operations,
      bytes: summary.bytes,
      sha256: summary.sha256,
      card_data_found: summary.cardDataFound,
      issued_tokens_kept: summary.issuedTokensKept,
    },
  });
  io.err.write(
    `exported ${summary.operations} operation(s) created ${new Date(from).toISOString()} .. ${new Date(to).toISOString()} as ${format} to ${target}` +
      ` (${summary.bytes} bytes, sha256 ${summary.sha256}, ${summary.durationMs} ms)\n`,
  );
  if (summary.cardDataFound > 0) io.err.write(`WARNING: card data found in ${summary.cardDataFound} stored operation(s), masked in the export; see the log\n`);
  return 0;
}

/** `payment-bridge import FILE`: restores an export into the configured (empty) namespace. */
export async function dataImport(ctx: OpsContext, io: OpsOutput, args: { file: string }): Promise<number> {
  const size = (await stat(args.file)).size;
  const bar = progressBar(io, 'import', 'bytes');
  bar?.start(size, 0, { rate: 0 });
  const started = Date.now();
  try {
    const summary = await importOperations(ctx.redis, ctx.config.redis.keyPrefix, createReadStream(args.file), {
      // With the command's other lines on stderr: which operations of the file held card data (paths, never values).
      logger: createLogger({ service: 'import', level: 'warn', stream: io.err }),
      // A card-like stored token is kept when this namespace's index knows it, or noted there again when the line carries
      // its keyed digest under this configuration's bus secret (an export by the bridge); else masked as card data.
      issuedTokens: { secrets: ctx.config.serviceBus, gateways: ctx.config.gateways },
      onProgress: (bytes) => bar?.update(bytes, { rate: Math.round(bytes / Math.max(0.001, (Date.now() - started) / 1000)) }),
    });
    bar?.update(size);
    bar?.stop();
    await ctx.audit.record({
      action: 'data.import',
      actor: io.actor,
      outcome: summary.complete ? 'ok' : 'failed',
      target: args.file,
      detail: {
        format: summary.format,
        operations: summary.operations,
        duplicates: summary.duplicates,
        complete: summary.complete,
        bytes: size,
        card_data_found: summary.cardDataFound,
        // Card-like stored tokens the namespace's issued-token index knew, kept as they are (the import writes no entry).
        issued_tokens_kept: summary.issuedTokensKept,
        // Card-like stored tokens the file vouched for (their keyed digest), noted in the issued-token index again.
        issued_tokens_indexed: summary.issuedTokensIndexed,
        // Card-like PSP references without the export's voucher (a file exported before vouchers, or edited): masked.
        gateway_references_masked: summary.gatewayReferencesMasked,
      },
    });
    io.err.write(
      `imported ${summary.operations} operation(s) from ${args.file} (${summary.format}) into "${ctx.config.redis.keyPrefix}" in ${summary.durationMs} ms` +
        (summary.duplicates > 0 ? `; ${summary.duplicates} repeated line(s) skipped` : '') +
        (summary.issuedTokensKept > 0 ? `; ${summary.issuedTokensKept} card-like stored token(s) the issued-token index knows kept` : '') +
        (summary.issuedTokensIndexed > 0 ? `; ${summary.issuedTokensIndexed} card-like stored token(s) noted as issued again` : '') +
        (summary.gatewayReferencesMasked > 0
          ? `; ${summary.gatewayReferencesMasked} card-like PSP reference(s) without the export's voucher masked (a file exported before vouchers, or edited)`
          : '') +
        '\n',
    );
    if (summary.cardDataFound > 0)
      io.err.write(`WARNING: card data found in ${summary.cardDataFound} operation(s) of the file, masked before it was written; see the lines above\n`);
    if (!summary.complete) {
      io.err.write('the file has no end line or its count does not match: it is truncated; what it held was restored\n');
      return 1;
    }
    return 0;
  } catch (err) {
    bar?.stop();
    const refused = err instanceof NamespaceNotEmptyError;
    await ctx.audit.record({
      action: 'data.import',
      actor: io.actor,
      outcome: refused ? 'refused' : 'failed',
      target: args.file,
      detail: { reason: boundedSafeText((err as Error).message, 200, false) },
    });
    if (refused) {
      io.err.write(`payment-bridge: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

/** `payment-bridge erase --order ID`: scrubs the order's customer data, keeping what accounting needs. */
export async function dataErase(ctx: OpsContext, io: OpsOutput, args: { order: string; json?: boolean }): Promise<number> {
  let summary;
  try {
    summary = await eraseOrder(ctx.redis, ctx.config.redis.keyPrefix, args.order, Date.now(), ctx.config.serviceBus, ctx.logger);
  } catch (err) {
    await ctx.audit.record({
      action: 'data.erase',
      actor: io.actor,
      outcome: 'failed',
      target: args.order,
      detail: { error: boundedSafeText((err as Error).message, 200, false) },
    });
    throw err;
  }
  const { orderId: _orderId, ...counts } = summary;
  await ctx.audit.record({ action: 'data.erase', actor: io.actor, outcome: 'ok', target: args.order, detail: counts });
  io.out.write(
    args.json
      ? `${JSON.stringify(summary, null, 2)}\n`
      : summary.operations === 0 && summary.schedulesFound === 0
        ? `no operations for order ${args.order} (dead letters scrubbed: ${summary.deadLetters})\n`
        : `order ${args.order}: ${summary.operations} operation(s); scrubbed ${summary.records} record(s), ${summary.historyEntries} history entr(y/ies), ` +
          `${summary.events} stored event(s), ${summary.deadLetters} dead letter(s), ${summary.issuedTokens} issued token(s) no longer accepted; ` +
          `${summary.schedulesFound} recurring schedule(s): ${summary.schedulesCancelled} cancelled, ${summary.schedules} scrubbed; ` +
          `ids, amounts, currencies, states and times kept\n`,
  );
  return summary.operations === 0 && summary.schedulesFound === 0 && summary.deadLetters === 0 ? 1 : 0;
}

/** Adds `export`, `import` and `erase` to the CLI. */
export function addDataCommands(program: Command, withContext: WithOpsContext): void {
  program
    .command('export')
    .description('stream the operations created in a time window (with history, events, adjustments, index entries) to a file or stdout')
    .option('--from <time>', 'first creation time: epoch ms, ISO 8601, or a date (UTC) (default: the beginning)')
    .option('--to <time>', 'last creation time, inclusive; a date means its whole day (default: now)')
    .addOption(
      new Option('--format <format>', 'ndjson (restorable, the default) or csv (accounting columns plus the restorable snapshot)')
        .choices(['ndjson', 'csv'])
        .default('ndjson'),
    )
    .option('--out <file>', 'write to this file (atomically: .partial then renamed); default stdout')
    .action((opts: { from?: string; to?: string; format: string; out?: string }) => withContext((ctx, io) => dataExport(ctx, io, opts)));

  program
    .command('import <file>')
    .description('restore an export (ndjson or csv) into the configured namespace, which must hold no ledger yet, rebuilding every index')
    .action((file: string) => withContext((ctx, io) => dataImport(ctx, io, { file })));

  program
    .command('erase')
    .description(
      "scrub an order's customer data (names, e-mails, addresses, custom attributes, free text, card holder and expiry) from its records, history, stored events and dead letters; ids, amounts, currencies, states and times stay (idempotent)",
    )
    .requiredOption('--order <order_id>', 'the order whose customer data goes')
    .option('--json', 'print the result as JSON')
    .action((opts: { order: string; json?: boolean }) => withContext((ctx, io) => dataErase(ctx, io, opts)));
}
