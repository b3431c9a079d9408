import { Command } from 'commander';
import type { OpsContext } from '../ops/ops-context';
import { parkedSplitTenders, resumeParkedSplitTender } from '../ops/parked-split-tenders';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';
import { parseLimit } from './limit-option';

/** `ops split-tenders-parked`: {@link parkedSplitTenders}, audit-logged. */
export async function opsSplitTendersParked(ctx: OpsContext, io: OpsWriter, opts: { limit?: string; json?: boolean }): Promise<number> {
  const rows = await parkedSplitTenders(ctx, parseLimit(opts.limit ?? '50'));
  await ctx.audit.record({ action: 'ops.split_tenders_parked', actor: io.actor, outcome: 'ok', detail: { found: rows.length } });
  if (opts.json) io.out.write(`${JSON.stringify(rows)}\n`);
  else
    io.out.write(
      rows.length === 0
        ? 'no split tender is parked\n'
        : rows
            .map((r) => `${r.split}${r.refund ? ` refund ${r.refund}` : ''}  faults ${r.faults}  ${r.error_class ?? ''}  parked ${r.parked_at ?? '?'}\n`)
            .join(''),
    );
  return 0;
}

/** `ops split-tender-resume <split-id> [--refund <id>]`: {@link resumeParkedSplitTender}; exit 1 when nothing of that name is open. */
export async function opsSplitTenderResume(ctx: OpsContext, io: OpsWriter, opts: { id: string; refund?: string; json?: boolean }): Promise<number> {
  const result = await resumeParkedSplitTender(ctx, opts.id, opts.refund, io.actor);
  io.out.write(opts.json ? `${JSON.stringify({ split: opts.id, refund: opts.refund ?? null, result })}\n` : `${opts.id}: ${result.replace(/_/g, ' ')}\n`);
  return result === 'resumed' ? 0 : 1;
}

/** Adds `ops split-tenders-parked` and `ops split-tender-resume <split-id>` to the `ops` command. */
export function addSplitTenderCommands(ops: Command, withContext: WithOpsContext): void {
  ops
    .command('split-tenders-parked')
    .description('split tenders and split refunds parked after their advance kept faulting (left out of the sweep), with the last fault')
    .option('--limit <n>', 'at most this many', '50')
    .addOption(jsonOption())
    .action((opts: { limit?: string; json?: boolean }) => withContext((ctx, io) => opsSplitTendersParked(ctx, io, opts)));
  ops
    .command('split-tender-resume <split-id>')
    .description('put a parked split tender (or, with --refund, its refund) back on the sweep once the fault is fixed (audit-logged)')
    .option('--refund <refund-id>', 'the refund of the split to resume')
    .addOption(jsonOption())
    .action((id: string, opts: { refund?: string; json?: boolean }) => withContext((ctx, io) => opsSplitTenderResume(ctx, io, { id, ...opts })));
}
