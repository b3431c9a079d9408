import { Command } from 'commander';
import { DismissedEvent, EventStore, RejectedEvent } from '../events/event-store';
import type { OpsContext } from '../ops/ops-context';
import { resendSetAsideEvents } from '../ops/event-resend';
import { EVENT_DISMISS_REASON_MAX, dismissReasonRefusal, dismissSetAsideEvents } from '../ops/event-dismiss';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';
import { parseLimit } from './limit-option';

/**
 * `ops events rejected [--dismissed]`: events the bus refused for their content and the sender set aside, oldest
 * first; with `--dismissed`, those an operator dismissed instead (`ops events dismiss`), with who, when and why.
 */
export async function opsRejectedEvents(ctx: OpsContext, io: OpsWriter, opts: { limit?: string; json?: boolean; dismissed?: boolean }): Promise<number> {
  const limit = parseLimit(opts.limit ?? '50');
  const store = new EventStore(ctx.redis, ctx.config.redis.keyPrefix);
  const dismissed = opts.dismissed === true;
  const events = dismissed ? await store.dismissed(limit) : await store.rejected(limit);
  await ctx.audit.record({ action: 'ops.rejected_events', actor: io.actor, outcome: 'ok', detail: { found: events.length, dismissed } });
  const line = (e: RejectedEvent) =>
    `${e.eventId}  ${e.method}  sequence ${e.sequence}  payment ${e.paymentKey}  ${e.reason}  since ${new Date(e.rejectedAt).toISOString()}`;
  const dismissal = (e: RejectedEvent | DismissedEvent) =>
    'dismissedAt' in e ? `  dismissed ${new Date(e.dismissedAt).toISOString()} by ${e.dismissedBy}: ${e.dismissedReason}` : '';
  if (opts.json) io.out.write(`${JSON.stringify(events)}\n`);
  else if (events.length === 0) io.out.write(dismissed ? 'no set-aside event was dismissed\n' : 'no event is set aside\n');
  else io.out.write(events.map((e) => `${line(e)}${dismissal(e)}\n`).join(''));
  return 0;
}

/** `ops events resend <event-id...>`: {@link resendSetAsideEvents}; exit 1 when one of them was not set aside. */
export async function opsResendEvents(ctx: OpsContext, io: OpsWriter, opts: { ids: string[]; json?: boolean }): Promise<number> {
  const results = await resendSetAsideEvents(ctx, opts.ids, io.actor, 'ops');
  io.out.write(opts.json ? `${JSON.stringify(results)}\n` : results.map((r) => `${r.event_id}: ${r.result.replace(/_/g, ' ')}\n`).join(''));
  return results.every((r) => r.result === 'queued') ? 0 : 1;
}

/**
 * `ops events dismiss <event-id...> --reason <text>`: {@link dismissSetAsideEvents}; exit 1 when one of them was not
 * set aside, 2 (nothing done) without a reason or with one longer than {@link EVENT_DISMISS_REASON_MAX} characters.
 */
export async function opsDismissEvents(ctx: OpsContext, io: OpsWriter, opts: { ids: string[]; reason?: string; json?: boolean }): Promise<number> {
  const refused = dismissReasonRefusal(opts.reason);
  if (refused === 'missing') {
    io.out.write('refused: --reason is required (why the bus will never take these events, e.g. the method it does not implement)\n');
    return 2;
  }
  if (refused === 'too_long') {
    io.out.write(`refused: --reason is longer than ${EVENT_DISMISS_REASON_MAX} characters\n`);
    return 2;
  }
  const results = await dismissSetAsideEvents(ctx, opts.ids, { actor: io.actor, reason: opts.reason ?? '', by: 'ops' });
  io.out.write(opts.json ? `${JSON.stringify(results)}\n` : results.map((r) => `${r.event_id}: ${r.result.replace(/_/g, ' ')}\n`).join(''));
  return results.every((r) => r.result === 'dismissed') ? 0 : 1;
}

/** Adds `ops events rejected`, `ops events resend <event-id...>` and `ops events dismiss <event-id...>` to the `ops` command. */
export function addEventCommands(ops: Command, withContext: WithOpsContext): void {
  const events = ops.command('events').description('events the bus refused for their content: list, resend, dismiss');
  events
    .command('rejected')
    .description('events set aside after the bus refused their content (HTTP 400/413/422, JSON-RPC -32700/-32600/-32602), oldest first')
    .option('--limit <n>', 'at most this many', '50')
    .option('--dismissed', 'those an operator dismissed instead (ops events dismiss), with who, when and why')
    .addOption(jsonOption())
    .action((opts: { limit?: string; json?: boolean; dismissed?: boolean }) => withContext((ctx, io) => opsRejectedEvents(ctx, io, opts)));
  events
    .command('resend <event-ids...>')
    .description('send set-aside events again, once the cause is fixed (audit-logged)')
    .addOption(jsonOption())
    .action((ids: string[], opts: { json?: boolean }) => withContext((ctx, io) => opsResendEvents(ctx, io, { ids, ...opts })));
  events
    .command('dismiss <event-ids...>')
    .description('close set-aside events the bus will never take, for good: never sent, no longer counted or listed (audit-logged)')
    .requiredOption('--reason <text>', `why the bus will never take them (at most ${EVENT_DISMISS_REASON_MAX} characters; kept with the event)`)
    .addOption(jsonOption())
    .action((ids: string[], opts: { reason?: string; json?: boolean }) => withContext((ctx, io) => opsDismissEvents(ctx, io, { ids, ...opts })));
}
