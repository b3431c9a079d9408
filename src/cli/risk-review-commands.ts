import { Command } from 'commander';
import { createDeliveryQueue } from '../delivery/delivery-queue';
import { ReviewStore } from '../risk/review-store';
import { releaseReview } from '../poller/risk-review-expiry';
import { createLogger } from '../logging/logger';
import type { OpsContext } from '../ops/ops-context';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';

/** `ops risk-reviews`: the authorizations held for review, by deadline. */
export async function opsRiskReviews(ctx: OpsContext, io: OpsWriter, opts: { limit?: string; json?: boolean }): Promise<number> {
  const store = new ReviewStore(ctx.redis, ctx.config.redis.keyPrefix);
  const ids = await store.held(Number(opts.limit ?? '50'));
  const holds = (await Promise.all(ids.map((id) => store.get(id)))).filter((h) => h !== null);
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

/** `ops risk-release <id>`: an operator's release of a review hold; the authorization is sent at once. */
export async function opsRiskRelease(ctx: OpsContext, io: OpsWriter, opts: { id: string; json?: boolean }): Promise<number> {
  const queue = createDeliveryQueue(ctx.redis, ctx.config.redis.keyPrefix);
  try {
    const result = await releaseReview(
      { config: ctx.config, redis: ctx.redis, deliveryQueue: queue, logger: createLogger({ level: ctx.config.log.level }) },
      opts.id,
      io.actor,
    );
    await ctx.audit.record({
      action: 'risk_review.release',
      actor: io.actor,
      outcome: result === 'released' ? 'ok' : 'refused',
      target: opts.id,
      detail: { result },
    });
    io.out.write(opts.json ? `${JSON.stringify({ operation_id: opts.id, result })}\n` : `${opts.id}: ${result.replace(/_/g, ' ')}\n`);
    return result === 'released' ? 0 : 1;
  } finally {
    await queue.close();
  }
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
}
