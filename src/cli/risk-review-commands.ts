import { Command } from 'commander';
import { decideHeldReview, heldReviews } from '../ops/risk-reviews';
import { createLogger } from '../logging/logger';
import type { OpsContext } from '../ops/ops-context';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';
import { parseLimit } from './limit-option';

/** `ops risk-reviews`: the authorizations held for review, by deadline. */
export async function opsRiskReviews(ctx: OpsContext, io: OpsWriter, opts: { limit?: string; json?: boolean }): Promise<number> {
  const holds = await heldReviews(ctx, parseLimit(opts.limit ?? '50'));
  await ctx.audit.record({ action: 'ops.risk_reviews', actor: io.actor, outcome: 'ok', detail: { found: holds.length } });
  if (opts.json) io.out.write(`${JSON.stringify(holds)}\n`);
  else
    io.out.write(
      holds.length === 0
        ? 'no authorization is held for review\n'
        : holds.map((h) => `${h.operationId}  deadline ${new Date(h.deadline).toISOString()}  rule ${h.rule}  signals ${h.signals}\n`).join(''),
    );
  return 0;
}

/**
 * `ops risk-release <id>` (the authorization is sent at once) and `ops risk-decline <id>` (it fails with
 * `RISK_DECLINED`, never sent): an operator's decision on a review hold, audit-logged.
 */
export async function opsRiskDecide(ctx: OpsContext, io: OpsWriter, opts: { id: string; decision: 'release' | 'decline'; json?: boolean }): Promise<number> {
  const result = await decideHeldReview({ ...ctx, logger: createLogger({ level: ctx.config.log.level }) }, opts.id, io.actor, opts.decision);
  io.out.write(opts.json ? `${JSON.stringify({ operation_id: opts.id, result })}\n` : `${opts.id}: ${result.replace(/_/g, ' ')}\n`);
  return result === 'released' || result === 'declined' ? 0 : 1;
}

/** `ops risk-release <id>`: {@link opsRiskDecide} with `release`. */
export async function opsRiskRelease(ctx: OpsContext, io: OpsWriter, opts: { id: string; json?: boolean }): Promise<number> {
  return opsRiskDecide(ctx, io, { ...opts, decision: 'release' });
}

/** Adds `ops risk-reviews` and `ops risk-release <id>` to the `ops` command. */
export function addRiskReviewCommands(ops: Command, withContext: WithOpsContext): void {
  ops
    .command('risk-reviews')
    .description('authorizations held for review by the risk rules, by deadline (they are voided when it passes)')
    .option('--limit <n>', 'at most this many', '50')
    .addOption(jsonOption())
    .action((opts: { limit?: string; json?: boolean }) => withContext((ctx, io) => opsRiskReviews(ctx, io, opts)));
  ops
    .command('risk-release <operation-id>')
    .description('release an authorization held for review: it is sent to its gateway at once (audit-logged)')
    .addOption(jsonOption())
    .action((id: string, opts: { json?: boolean }) => withContext((ctx, io) => opsRiskRelease(ctx, io, { id, ...opts })));
  ops
    .command('risk-decline <operation-id>')
    .description('decline an authorization held for review: it fails with RISK_DECLINED, never sent (audit-logged)')
    .addOption(jsonOption())
    .action((id: string, opts: { json?: boolean }) => withContext((ctx, io) => opsRiskDecide(ctx, io, { id, decision: 'decline', ...opts })));
}
