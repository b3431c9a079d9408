import { Command } from 'commander';
import { OpsContext } from '../ops/ops-context';
import { GatewayReconciliation, reconciliationByGateway } from '../ops/reconciliation-status';
import { formatDuration } from './duration';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';

/** One gateway's line: how far it is reconciled, how long ago that is, how many windows are due past it, and its latest run. */
function line(r: GatewayReconciliation, now: number): string {
  const behind = r.windowsBehind === 1 ? '1 window' : `${r.windowsBehind ?? 0} windows`;
  const through =
    r.reconciledThrough === null
      ? 'never reconciled'
      : `reconciled through ${new Date(r.reconciledThrough).toISOString()} (${formatDuration(now - r.reconciledThrough)} ago; ${behind} due past it)`;
  const run = r.latest;
  const latest =
    run === null
      ? 'no run recorded'
      : `latest run ${new Date(run.at).toISOString()}: ${run.result}${run.dryRun ? ' (dry run)' : ''}${run.error ? ` ${run.error}` : ''}, ${run.lines} lines, ${run.differences} differences${run.unreadable ? `, ${run.unreadable} PSP lines not read (in its report)` : ''}${run.mark === 'held' ? ', its window not reconciled: the mark is held at its start until it is reconciled again with --again' : ''}`;
  return `${r.gateway}  ${through}  ${latest}\n`;
}

/** `ops reconciliation`: {@link reconciliationByGateway}, audit-logged. */
export async function opsReconciliation(ctx: OpsContext, io: OpsWriter, opts: { json?: boolean }, now = Date.now()): Promise<number> {
  const rows = await reconciliationByGateway(ctx, now);
  await ctx.audit.record({ action: 'ops.reconciliation', actor: io.actor, outcome: 'ok', detail: { gateways: rows.length } });
  if (opts.json) io.out.write(`${JSON.stringify(rows)}\n`);
  else io.out.write(rows.length === 0 ? 'no gateway has a reconciliation reader\n' : rows.map((r) => line(r, now)).join(''));
  return 0;
}

/** Adds `ops reconciliation` to the `ops` command. */
export function addReconciliationStatusCommand(ops: Command, withContext: WithOpsContext): void {
  ops
    .command('reconciliation')
    .description(
      "each gateway's reconciliation: how far it is reconciled without a gap (what retention waits for), the windows due past it, and its latest run",
    )
    .addOption(jsonOption())
    .action((opts: { json?: boolean }) => withContext((ctx, io) => opsReconciliation(ctx, io, opts)));
}
