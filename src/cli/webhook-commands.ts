import { Command } from 'commander';
import type { Job } from 'bullmq';
import { counter } from '../metrics/metrics-registry';
import { bullJobId } from '../queueing/job-id';
import type { OpsContext } from '../ops/ops-context';
import { createGatewayOutcomesQueue, GatewayOutcomeJobData } from '../webhooks/gateway-outcomes-queue';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';

const retried = counter(
  'pb_webhook_outcomes_retried_total',
  'Webhook outcomes an operator sent back from the gateway-outcomes failed set to be applied again (ops webhooks retry), by gateway',
  ['gateway'],
);

/** A webhook outcome the outcome worker gave up on, as an operator reads it (no PSP free text but the reason). */
export interface FailedWebhook {
  gateway: string;
  event_id: string;
  operation_id: string | null;
  psp_reference: string | null;
  /** What the PSP said (SUCCESS, FAIL…) and its own status word. */
  outcome: string;
  /** Why it was set aside: the error class or message BullMQ kept (never the webhook's body). */
  reason: string;
  attempts: number;
  failed_at: string | null;
}

function failedWebhook(job: Job<GatewayOutcomeJobData>): FailedWebhook {
  const d = job.data;
  return {
    gateway: d.gateway,
    event_id: d.eventId,
    operation_id: d.operationId ?? null,
    psp_reference: d.gatewayReference ?? null,
    outcome: `${d.outcome.status} ${d.outcome.gatewayStatus}`,
    reason: job.failedReason ?? '',
    attempts: job.attemptsMade,
    failed_at: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  };
}

/**
 * `ops webhooks failed`: the webhook outcomes the outcome worker gave up on (an operation never matched, a
 * failure the PSP never confirmed, a fault of the bridge, an outcome refused for its scope), newest first.
 * The PSP acknowledged them and will not send them again: this is where they wait for an operator.
 */
export async function opsFailedWebhooks(ctx: OpsContext, io: OpsWriter, opts: { gateway?: string; limit?: string; json?: boolean }): Promise<number> {
  const limit = Number(opts.limit ?? '50');
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new Error('--limit must be an integer from 1 to 1000');
  const queue = createGatewayOutcomesQueue(ctx.redis, ctx.config.redis.keyPrefix);
  try {
    // Read in pages: a gateway filter may skip many of them.
    const found: FailedWebhook[] = [];
    for (let start = 0; found.length < limit; start += 200) {
      const jobs = await queue.getFailed(start, start + 199);
      for (const job of jobs) if (!opts.gateway || job.data.gateway === opts.gateway) found.push(failedWebhook(job));
      if (jobs.length < 200) break;
    }
    const list = found.slice(0, limit);
    await ctx.audit.record({ action: 'ops.failed_webhooks', actor: io.actor, outcome: 'ok', detail: { found: list.length, gateway: opts.gateway ?? '*' } });
    if (opts.json) io.out.write(`${JSON.stringify(list)}\n`);
    else if (list.length === 0) io.out.write('no webhook outcome is in the failed set\n');
    else
      io.out.write(
        list
          .map(
            (w) =>
              `${w.gateway}  ${w.event_id}  ${w.operation_id ?? `psp ${w.psp_reference ?? '?'}`}  ${w.outcome}  ${w.reason}  (${w.attempts} attempts, ${w.failed_at ?? 'time unknown'})\n`,
          )
          .join(''),
      );
    return 0;
  } finally {
    await queue.close();
  }
}

/**
 * `ops webhooks retry <gateway> <event-id...>`: once the cause is fixed (the operation now exists, the PSP
 * answers, the bridge's fault is mended), each webhook outcome in the failed set is applied again from the
 * start: its attempts and fault count reset. Applying an outcome is idempotent (forward-only states,
 * adjustments by PSP event id), so a retry never moves money twice. An event not in the failed set is left alone.
 */
export async function opsRetryWebhooks(ctx: OpsContext, io: OpsWriter, opts: { gateway: string; ids: string[]; json?: boolean }): Promise<number> {
  const queue = createGatewayOutcomesQueue(ctx.redis, ctx.config.redis.keyPrefix);
  const results: Array<{ event_id: string; result: 'retried' | 'not_failed' }> = [];
  try {
    for (const id of opts.ids) {
      const job = await queue.getJob(bullJobId(`wh.${opts.gateway}.${id}`));
      const failed = job !== undefined && (await job.isFailed());
      if (job && failed) {
        await job.updateData({ ...job.data, faults: 0 });
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        retried.inc({ gateway: opts.gateway });
      }
      const result = failed ? 'retried' : 'not_failed';
      results.push({ event_id: id, result });
      await ctx.audit.record({
        action: 'webhook.retry',
        actor: io.actor,
        outcome: failed ? 'ok' : 'refused',
        target: `${opts.gateway}/${id}`,
        detail: { result },
      });
    }
  } finally {
    await queue.close();
  }
  io.out.write(opts.json ? `${JSON.stringify(results)}\n` : results.map((r) => `${opts.gateway} ${r.event_id}: ${r.result.replace(/_/g, ' ')}\n`).join(''));
  return results.every((r) => r.result === 'retried') ? 0 : 1;
}

/** Adds `ops webhooks failed` and `ops webhooks retry <gateway> <event-id...>` to the `ops` command. */
export function addWebhookCommands(ops: Command, withContext: WithOpsContext): void {
  const webhooks = ops.command('webhooks').description('webhook outcomes the outcome worker gave up on: list, retry');
  webhooks
    .command('failed')
    .description('webhook outcomes in the failed set (never matched, never confirmed, refused, or a fault), newest first')
    .option('--gateway <name>', 'only this gateway')
    .option('--limit <n>', 'at most this many', '50')
    .addOption(jsonOption())
    .action((opts: { gateway?: string; limit?: string; json?: boolean }) => withContext((ctx, io) => opsFailedWebhooks(ctx, io, opts)));
  webhooks
    .command('retry <gateway> <event-ids...>')
    .description('apply failed webhook outcomes again after a fix (attempts reset; idempotent)')
    .addOption(jsonOption())
    .action((gateway: string, ids: string[], opts: { json?: boolean }) => withContext((ctx, io) => opsRetryWebhooks(ctx, io, { gateway, ids, ...opts })));
}
