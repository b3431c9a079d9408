import { Command } from 'commander';
import type { OpsContext } from '../ops/ops-context';
import { failedWebhooks, retryFailedWebhooks } from '../ops/failed-webhooks';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';
import { parseLimit } from './limit-option';

/** `ops webhooks failed`: {@link failedWebhooks}, newest first, audit-logged. */
export async function opsFailedWebhooks(ctx: OpsContext, io: OpsWriter, opts: { gateway?: string; limit?: string; json?: boolean }): Promise<number> {
  const limit = parseLimit(opts.limit ?? '50');
  const list = await failedWebhooks(ctx, { gateway: opts.gateway, limit });
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
}

/** `ops webhooks retry <gateway> <event-id...>`: {@link retryFailedWebhooks}; exit 1 when one of them was not in the failed set. */
export async function opsRetryWebhooks(ctx: OpsContext, io: OpsWriter, opts: { gateway: string; ids: string[]; json?: boolean }): Promise<number> {
  const results = (
    await retryFailedWebhooks(
      ctx,
      opts.ids.map((eventId) => ({ gateway: opts.gateway, eventId })),
      io.actor,
    )
  ).map(({ event_id, result }) => ({
    event_id,
    result,
  }));
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
