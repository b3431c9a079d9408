import { Command } from 'commander';
import { IssuedTokens } from '../ledger/issued-tokens';
import { Ledger } from '../ledger/ledger';
import { CommandValidationError } from '../errors/command-validation-error';
import { createLogger } from '../logging/logger';
import type { OpsContext } from '../ops/ops-context';
import { RecurringManagement, ScheduleView } from '../recurring/recurring-management';
import { RecurringStore } from '../recurring/recurring-store';
import { OpsOutput, WithOpsContext, jsonOption } from './ops-output';

/** The flags of `payment-bridge recurring create`. */
export interface CreateFlags {
  id: string;
  gateway: string;
  merchant: string;
  token: string;
  amount: string;
  currency: string;
  start: string;
  every: string;
  order?: string;
  model?: string;
  command?: string;
  maxCycles?: string;
  networkTransactionId?: string;
  /** `name=value`, each a custom attribute of every cycle (Stripe `stripe_customer`, Adyen `shopper_reference`). */
  attribute?: string[];
  json?: boolean;
}

/** `1 month`, `2 weeks`, `30 days`, `month`, `1m`/`2w`/`30d` → an interval (else the text as is, refused by validation). */
export function parseInterval(text: string): { unit: string; count: number } | string {
  // Trimmed first: `^\s*(\d+)?\s*` lets two runs of spaces share the blanks, quadratic in a long run of them.
  const m = /^(\d+)?\s*(d|days?|w|weeks?|m|months?)$/i.exec(text.trim());
  if (!m) return text;
  const unit = m[2].toLowerCase().startsWith('d') ? 'day' : m[2].toLowerCase().startsWith('w') ? 'week' : 'month';
  return { unit, count: m[1] === undefined ? 1 : Number(m[1]) };
}

/** A flag's integer, or its text (validation names the field when it is not one). */
function integerOf(text: string): number | string {
  return /^-?\d+$/.test(text) ? Number(text) : text;
}

/**
 * The custom attributes of `--attribute name=value` flags.
 * @throws CommandValidationError naming `schedule.custom_attributes` when one is not `name=value`.
 */
function attributesOf(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const cut = pair.indexOf('=');
    // Not quoted: it may be anything an operator pasted.
    if (cut < 1)
      throw new CommandValidationError('schedule.custom_attributes', 'each --attribute is name=value (e.g. stripe_customer=cus_…)', 'INVALID_PARAMS');
    out[pair.slice(0, cut).trim()] = pair.slice(cut + 1).trim();
  }
  return out;
}

/** Collects a repeated option's values. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The schedule definition the flags describe (`params.schedule` of the bus call). */
export function definitionOfFlags(flags: CreateFlags): Record<string, unknown> {
  return {
    id: flags.id,
    gateway: flags.gateway,
    gateway_account: flags.merchant,
    gateway_key: flags.token,
    amount: integerOf(flags.amount),
    currency: flags.currency,
    start_at: flags.start === 'now' ? new Date().toISOString() : flags.start,
    interval: parseInterval(flags.every),
    ...(flags.order ? { order_id: flags.order } : {}),
    ...(flags.model ? { model: flags.model } : {}),
    ...(flags.command ? { command: flags.command } : {}),
    ...(flags.maxCycles ? { max_cycles: integerOf(flags.maxCycles) } : {}),
    ...(flags.networkTransactionId ? { network_transaction_id: flags.networkTransactionId } : {}),
    ...(flags.attribute && flags.attribute.length > 0 ? { custom_attributes: attributesOf(flags.attribute) } : {}),
  };
}

function line(s: ScheduleView): string {
  const d = s.definition;
  return `${s.id}  ${s.state.padEnd(9)} cycle ${s.cycle}${s.attempt > 0 ? ` (retry ${s.attempt})` : ''}  next ${s.next_at}  ${d.amount} ${d.currency} every ${d.interval.count} ${d.interval.unit}  via ${d.gateway}/${d.gateway_account}${d.max_cycles ? `  max ${d.max_cycles}` : ''}${s.last_reason ? `  last ${s.last_reason}` : ''}${s.skipped_cycles ? `  skipped ${s.skipped_cycles}` : ''}\n`;
}

function management(ctx: OpsContext): RecurringManagement {
  return new RecurringManagement({
    config: ctx.config,
    store: new RecurringStore(ctx.redis, ctx.config.redis.keyPrefix),
    logger: createLogger({ service: 'ops', level: 'warn', stream: process.stderr }),
    // A card-like stored token the bridge issued is accepted in `--gateway-key`, as over the bus.
    issuedTokens: new IssuedTokens(new Ledger(ctx.redis, ctx.config.redis.keyPrefix), ctx.config.serviceBus),
  });
}

/** Runs one management call; a refusal prints the field and reason (exit 2), audit-logged either way. */
async function run(ctx: OpsContext, io: OpsOutput, action: string, target: string, call: () => Promise<number>): Promise<number> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof CommandValidationError)) throw err;
    await ctx.audit.record({ action: `recurring.${action}`, actor: io.actor, outcome: 'refused', target, detail: { field: err.field, reason: err.reason } });
    io.err.write(`payment-bridge recurring ${action}: ${err.field} ${err.reason}\n`);
    return 2;
  }
}

export async function recurringCreate(ctx: OpsContext, io: OpsOutput, flags: CreateFlags): Promise<number> {
  return run(ctx, io, 'create', flags.id, async () => {
    const { created, schedule } = await management(ctx).create({ schedule: definitionOfFlags(flags) }, io.actor);
    await ctx.audit.record({ action: 'recurring.create', actor: io.actor, outcome: 'ok', target: schedule.id, detail: { created } });
    io.out.write(flags.json ? `${JSON.stringify({ created, schedule })}\n` : `${created ? 'created' : 'already there'}: ${line(schedule)}`);
    return 0;
  });
}

export async function recurringList(ctx: OpsContext, io: OpsOutput, opts: { state?: string; limit?: string; json?: boolean }): Promise<number> {
  return run(ctx, io, 'list', '', async () => {
    const { schedules } = await management(ctx).list({ ...(opts.state ? { state: opts.state } : {}), limit: integerOf(opts.limit ?? '100') });
    await ctx.audit.record({ action: 'recurring.list', actor: io.actor, outcome: 'ok', detail: { found: schedules.length } });
    io.out.write(opts.json ? `${JSON.stringify({ schedules })}\n` : schedules.length === 0 ? 'no recurring schedule\n' : schedules.map(line).join(''));
    return 0;
  });
}

export async function recurringCancel(ctx: OpsContext, io: OpsOutput, opts: { id: string; json?: boolean }): Promise<number> {
  return run(ctx, io, 'cancel', opts.id, async () => {
    const { cancelled, schedule } = await management(ctx).cancel({ id: opts.id }, io.actor);
    await ctx.audit.record({
      action: 'recurring.cancel',
      actor: io.actor,
      outcome: cancelled ? 'ok' : 'refused',
      target: opts.id,
      detail: { state: schedule.state },
    });
    io.out.write(
      opts.json ? `${JSON.stringify({ cancelled, schedule })}\n` : `${cancelled ? 'cancelled' : `not active (${schedule.state})`}: ${line(schedule)}`,
    );
    return cancelled ? 0 : 1;
  });
}

/** `payment-bridge recurring create|list|cancel`: an operator's side of the schedules the OMS creates over the bus. */
export function addRecurringCommands(program: Command, withContext: WithOpsContext): void {
  const recurring = program.command('recurring').description('recurring billing schedules: create, list, cancel (docs/PAYMENT-METHODS.md)');
  recurring
    .command('create')
    .description('create a schedule: a stored credential charged every interval by the poller (idempotent by --id; audit-logged)')
    .requiredOption('--id <id>', 'the schedule id (letters, digits, . _ -; at most 64): one agreement with the customer')
    .requiredOption('--gateway <name>', 'the gateway (payment.gateway)')
    .requiredOption('--merchant <account>', 'the merchant account (payment.gateway_account)')
    .requiredOption('--token <key>', 'the stored credential (a token on first use reported as payment.token)')
    .requiredOption('--amount <minor>', 'per cycle, in minor units (integer)')
    .requiredOption('--currency <code>', 'ISO 4217 currency')
    .requiredOption('--every <interval>', 'cycle length: "1 month", "2 weeks", "30 days"')
    .option('--start <iso>', 'first cycle due at (ISO 8601, or "now")', 'now')
    .option('--order <id>', 'the subscription order in the OMS')
    .option('--model <model>', 'subscription (default) or unscheduled')
    .option('--command <command>', 'sale (default) or authorize')
    .option('--max-cycles <n>', 'stop after this many cycles')
    .option('--network-transaction-id <id>', "the first payment's scheme transaction id (default: the one recorded for the order's first payment)")
    .option(
      '--attribute <name=value>',
      'a custom attribute of every cycle, repeatable: what the gateway needs to charge the credential (Stripe stripe_customer=cus_…, Adyen shopper_reference=… for a bare token)',
      collect,
      [],
    )
    .addOption(jsonOption())
    .action((flags: CreateFlags) => withContext((ctx, io) => recurringCreate(ctx, io, flags)));
  recurring
    .command('list')
    .description('schedules by creation, with state, cycle and next run')
    .option('--state <state>', 'only active, cancelled, completed or failed')
    .option('--limit <n>', 'at most this many', '100')
    .addOption(jsonOption())
    .action((opts: { state?: string; limit?: string; json?: boolean }) => withContext((ctx, io) => recurringList(ctx, io, opts)));
  recurring
    .command('cancel <id>')
    .description('stop a schedule: no further cycle starts (a charge already out still settles); audit-logged')
    .addOption(jsonOption())
    .action((id: string, opts: { json?: boolean }) => withContext((ctx, io) => recurringCancel(ctx, io, { id, ...opts })));
}
