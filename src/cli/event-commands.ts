import { Command } from 'commander';
import { EventStore } from '../events/event-store';
import type { OpsContext } from '../ops/ops-context';
import { resendSetAsideEvents } from '../ops/event-resend';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';
import { parseLimit } from './limit-option';

/** `ops events rejected`: events the bus refused for their content and the sender set aside, oldest first. */
export async function opsRejectedEvents(ctx: OpsContext, io: OpsWriter, opts: { limit?: string; json?: boolean }): Promise<number> {
  const limit = parseLimit(opts.limit ?? '50');
  const events = await new EventStore(ctx.redis, ctx.config.redis.keyPrefix).rejected(limit);
  await ctx.audit.record({ action: 'ops.rejected_events', actor: io.actor, outcome: 'ok', detail: { found: events.length } });
  if (opts.json) io.out.write(`${JSON.stringify(events)}\n`);
  else
    io.out.write(
      events.length === 0
        ? 'no event is set aside\n'
        : events
            .map(
              (e) => `${e.eventId}  ${e.method}  sequence ${e.sequence}  payment ${e.paymentKey}  ${e.reason}  since ${new Date(e.rejectedAt).toISOString()}\n`,
            )
            .join(''),
    );
  return 0;
}

/** `ops events resend <event-id...>`: {@link resendSetAsideEvents}; exit 1 when one of them was not set aside. */
export async function opsResendEvents(ctx: OpsContext, io: OpsWriter, opts: { ids: string[]; json?: boolean }): Promise<number> {
  const results = await resendSetAsideEvents(ctx, opts.ids, io.actor, 'ops');
  io.out.write(opts.json ? `${JSON.stringify(results)}\n` : results.map((r) => `${r.event_id}: ${r.result.replace(/_/g, ' ')}\n`).join(''));
  return results.every((r) => r.result === 'queued') ? 0 : 1;
}

/** Adds `ops events rejected` and `ops events resend <event-id...>` to the `ops` command. */
export function addEventCommands(ops: Command, withContext: WithOpsContext): void {
  const events = ops.command('events').description('events the bus refused for their content: list, resend');
  events
    .command('rejected')
    .description('events set aside after the bus refused their content (HTTP 400/413/422, JSON-RPC -32700/-32600/-32602), oldest first')
    .option('--limit <n>', 'at most this many', '50')
    .addOption(jsonOption())
    .action((opts: { limit?: string; json?: boolean }) => withContext((ctx, io) => opsRejectedEvents(ctx, io, opts)));
  events
    .command('resend <event-ids...>')
    .description('send set-aside events again, once the cause is fixed (audit-logged)')
    .addOption(jsonOption())
    .action((ids: string[], opts: { json?: boolean }) => withContext((ctx, io) => opsResendEvents(ctx, io, { ids, ...opts })));
}
