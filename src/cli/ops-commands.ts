import { Presets, SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { OPERATION_STATES, OperationState } from '../ledger/operation-state';
import { formatMinor } from '../money/minor-units';
import { DEAD_LETTER_ARCHIVE_MAX, UNARCHIVABLE, DeadLetterCursor, DeadLetterPage, DeadLetterRecord } from '../ops/dead-letter-store';
import { formatDeadLetterCursor, parseDeadLetterCursor } from '../ops/dead-letter-cursor';
import { planView } from '../ops/dead-letter-replay';
import { TRIAGE_CATEGORIES, TriageCategory } from '../amqp/dead-letter-triage';
import { OpsContext } from '../ops/ops-context';
import { OperationDetail, OperationView, confirmedText } from '../ops/operation-detail';
import { shownDeadLetter } from '../ops/shown-records';
import { formatDuration, parseDuration } from './duration';
import { parseLimit } from './limit-option';
import { OpsOutput, OpsWriter, WithOpsContext, jsonOption } from './ops-output';
import { addRiskReviewCommands } from './risk-review-commands';
import { addEventCommands } from './event-commands';
import { recheckOperations } from '../ops/recheck';
import { addWebhookCommands } from './webhook-commands';
import { addHeldRetryCommands, addRecaptureCommands } from './recapture-commands';
import { addSplitTenderCommands } from './split-tender-commands';
import { addReconciliationStatusCommand } from './reconciliation-status-command';
import { addProcessesCommand } from './processes-command';
import { boundedSafeText } from '../errors/psp-text';

const money = (amount: number, currency: string): string => {
  try {
    return `${formatMinor(amount, currency)} ${currency}`;
  } catch {
    return `${amount} (minor units) ${currency}`;
  }
};

/** Rows as aligned columns. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

function operationRows(ops: OperationView[]): string {
  if (ops.length === 0) return 'no operations\n';
  return table(
    ['operation', 'order', 'command', 'channel', 'gateway', 'amount', 'state', 'attempts', 'age', 'reason'],
    ops.map((o) => [
      o.id,
      o.orderId ?? '',
      o.command,
      o.channel,
      o.gateway,
      money(o.amount, o.currency),
      o.stateNote ? `${o.state} (${o.stateNote})` : o.state,
      String(o.attempts),
      formatDuration(o.ageMs),
      o.reason ?? '',
    ]),
  );
}

function write(io: OpsWriter, json: boolean | undefined, value: unknown, text: () => string): void {
  io.out.write(json ? `${JSON.stringify(value, null, 2)}\n` : text());
}

/**
 * `ops show <id>` / `ops show --order <order_id>`: an operation as the on-call operator reads it (state, what the PSP
 * confirmed, the marks and adjustments, the history: `OperationsView.show`, as the console's lookup), or every
 * operation of an order so.
 */
export async function opsShow(ctx: OpsContext, io: OpsOutput, args: { id?: string; order?: string; json?: boolean }): Promise<number> {
  if (args.order !== undefined) {
    const details = await ctx.operations.showOrder(args.order);
    await ctx.audit.record({ action: 'ops.lookup', actor: io.actor, outcome: 'ok', target: args.order, detail: { by: 'order', found: details.length } });
    write(io, args.json, { order_id: args.order, operations: details }, () =>
      details.length === 0
        ? `no operations for order ${args.order}\n`
        : operationRows(details.map((d) => d.operation)) + details.map((d) => `\n${detailText(d)}`).join(''),
    );
    return details.length === 0 ? 1 : 0;
  }
  const id = args.id ?? '';
  const found = await ctx.operations.show(id);
  await ctx.audit.record({ action: 'ops.lookup', actor: io.actor, outcome: 'ok', target: id, detail: { by: 'operation', found: found ? 1 : 0 } });
  if (!found) {
    write(io, args.json, { operation_id: id, found: false }, () => `no operation ${id}\n`);
    return 1;
  }
  write(io, args.json, found, () => detailText(found));
  return 0;
}

/** A stored time as shown; one no date can hold (a hand-edited or corrupt record) reads as such instead of failing `ops show`. */
const iso = (ms: number | undefined): string => {
  if (ms === undefined) return '';
  const d = new Date(typeof ms === 'number' ? ms : Number.NaN);
  return Number.isNaN(d.getTime()) ? 'time unreadable' : d.toISOString();
};

/** `label  value` lines, empty values left out. */
function fieldLines(fields: [string, string][], indent = ''): string {
  return fields
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${indent}${k.padEnd(14)}${v}\n`)
    .join('');
}

/** One operation as `ops show` prints it: state, the PSP says, marks, adjustments, history. */
export function detailText(d: OperationDetail): string {
  const o = d.operation;
  const p = d.psp;
  const head = fieldLines([
    ['operation', o.id],
    ['order', o.orderId ?? ''],
    ['command', `${o.command} (${o.channel})`],
    ['gateway', `${o.gateway} / ${o.gatewayAccount}${p.requestedGateway ? ` (the command named ${p.requestedGateway})` : ''}`],
    ['amount', money(o.amount, o.currency)],
    ['method', [o.method, o.cardBrand, o.lastFour ? `…${o.lastFour}` : undefined].filter(Boolean).join(' ')],
    ['state', `${o.state}${o.stateNote ? `: ${o.stateNote}` : ''}`],
    ['attempts', String(o.attempts)],
    ['reason', o.reason ?? ''],
    ['created', iso(o.createdAt)],
    ['updated', iso(o.updatedAt)],
    ['next check', iso(o.nextCheckAt)],
  ]);
  const sameAsAsked = p.requested.amount === p.asked.amount && p.requested.currency === p.asked.currency;
  const psp =
    '\nthe PSP says:\n' +
    fieldLines(
      [
        ['latest', p.latest],
        ['confirmed', confirmedText(p)],
        ['asked', money(p.asked.amount, p.asked.currency)],
        ['requested', sameAsAsked ? '' : money(p.requested.amount, p.requested.currency)],
        ['discrepancy', p.discrepancy ?? ''],
        ['succeeded at', iso(p.succeededAt)],
        ['reference', p.reference ?? ''],
        ['status', p.status ?? ''],
      ],
      '  ',
    );
  const marks =
    d.marks.length === 0
      ? '\nmarks: none\n'
      : `\nmarks:\n${d.marks.map((m) => `  ${(iso(m.at) || 'time unknown').padEnd(24)}  ${m.kind}  [${m.source}]  ${m.text}${m.ref ? `  (${m.ref})` : ''}\n`).join('')}`;
  const adjustments =
    d.adjustments.length === 0
      ? '\nadjustments: none\n'
      : `\nadjustments:\n${table(
          ['recorded', 'PSP time', 'kind', 'direction', 'amount', 'source', 'reason', 'PSP reference', 'adjustment'],
          d.adjustments.map((a) => [
            iso(a.recordedAt),
            iso(a.occurredAt),
            a.kind,
            a.direction,
            a.amount !== undefined && a.currency !== undefined ? money(a.amount, a.currency) : '',
            `${a.source} (${a.gateway})`,
            a.reason ?? '',
            a.pspReference ?? '',
            a.id,
          ]),
        )
          .split('\n')
          .map((l) => (l ? `  ${l}` : l))
          .join('\n')}`;
  return `${head}${psp}${marks}${adjustments}\n${historyText(o.id, d.history)}`;
}

function historyText(id: string, history: { at: number; event: string; [k: string]: unknown }[]): string {
  const lines = history.map((h) => {
    const { at, event, ...rest } = h;
    const detail = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `  ${iso(at) || 'time unreadable'}  ${event}${detail ? `  ${detail}` : ''}\n`;
  });
  return `history of ${id}:\n${lines.join('')}`;
}

/** `ops list`: operations by state and age, oldest first. */
export async function opsList(ctx: OpsContext, io: OpsOutput, args: { state?: string[]; olderThan?: string; limit?: string; json?: boolean }): Promise<number> {
  const states = args.state?.map((s) => s.toUpperCase());
  const bad = states?.find((s) => !(OPERATION_STATES as readonly string[]).includes(s));
  if (bad) throw new Error(`--state ${bad}: not a state (${OPERATION_STATES.join(', ')})`);
  const olderThanMs = args.olderThan ? parseDuration(args.olderThan) : 0;
  const limit = parseLimit(args.limit ?? '50');
  const ops = await ctx.operations.list({ states: states as OperationState[] | undefined, olderThanMs, limit });
  write(io, args.json, { operations: ops }, () => operationRows(ops));
  return 0;
}

/** `ops counts`: what happened in the last window, and how many operations are in each state now. */
export async function opsCounts(ctx: OpsContext, io: OpsOutput, args: { window?: string; json?: boolean }): Promise<number> {
  const counts = await ctx.operations.counts(parseDuration(args.window ?? '5m'));
  write(io, args.json, counts, () => {
    const rate = counts.successRate === null ? 'n/a' : `${(counts.successRate * 100).toFixed(2)} %`;
    return (
      `last ${formatDuration(counts.windowMs)}: ${counts.received} received, ${counts.succeeded} succeeded, ${counts.failed} failed (success rate ${rate})\n` +
      table(
        ['state', 'operations now'],
        Object.entries(counts.byState).map(([s, n]) => [s, String(n)]),
      )
    );
  });
  return 0;
}

function deadLetterRows(records: DeadLetterRecord[]): string {
  if (records.length === 0) return 'no dead letters\n';
  return table(
    ['id', 'dead-lettered', 'category', 'impact', 'code', 'order', 'command', 'amount', 'replays', 'reason'],
    records.map((r) => [
      r.id,
      new Date(r.deadLetteredAt).toISOString(),
      r.category,
      String(r.impact),
      r.code,
      r.orderId ?? '',
      r.command ?? '',
      r.amount !== undefined && r.currency ? money(r.amount, r.currency) : '',
      String(r.replays),
      r.reason.length > 80 ? `${r.reason.slice(0, 77)}...` : r.reason,
    ]),
  );
}

const categoryOf = (value: string | undefined): TriageCategory | undefined => {
  if (value === undefined) return undefined;
  if (!(TRIAGE_CATEGORIES as readonly string[]).includes(value))
    throw new Error(`--category ${value}: not a triage category (${TRIAGE_CATEGORIES.join(', ')})`);
  return value as TriageCategory;
};

/** A `--before` / `--after` of `ops dead-letters list`, as a page's last lines print it; undefined when not given. */
function cursorOption(name: '--before' | '--after', text: string | undefined): DeadLetterCursor | undefined {
  if (text === undefined) return undefined;
  const cursor = parseDeadLetterCursor(text.trim());
  if (!cursor) throw new Error(`${name} must be a place in the list as a page prints it: a score, optionally followed by : and a dead letter's id`);
  return cursor;
}

/**
 * `ops dead-letters list`: moves new dead letters into the archive (unless `--no-import`), then lists one
 * page of it by time or impact (`--limit` rows below `--before` or above `--after`, through the same
 * `DeadLetterStore.page` as the console) and prints the place of the next page each way. `--category` lists
 * the newest matches of one category instead, without pages.
 */
export async function opsDeadLetterList(
  ctx: OpsContext,
  io: OpsOutput,
  args: { by?: string; category?: string; limit?: string; before?: string; after?: string; import?: boolean; json?: boolean },
): Promise<number> {
  // Checked before the import: a bad option moves nothing.
  const limit = parseLimit(args.limit ?? '50');
  const category = categoryOf(args.category);
  const before = cursorOption('--before', args.before);
  const after = cursorOption('--after', args.after);
  if (before && after) throw new Error('give one of --before and --after, not both');
  // A category's matches are found by reading past the others, so they have no place to page from.
  if (category && (before || after)) throw new Error('--category lists the newest matches of one category, without pages: leave out --before / --after');
  const order = args.by === 'impact' ? 'impact' : 'time';
  const imported = args.import === false ? null : await ctx.importDeadLetters();
  const page: DeadLetterPage = category
    ? { records: await ctx.deadLetters.list({ order, category, limit }) }
    : await ctx.deadLetters.page({ order, limit, before, after });
  const records = page.records.map(shownDeadLetter);
  const newer = page.newer && formatDeadLetterCursor(page.newer);
  const older = page.older && formatDeadLetterCursor(page.older);
  const again = (place: string) =>
    [
      'payment-bridge ops dead-letters list',
      order === 'impact' ? '--by impact' : '',
      limit === 50 ? '' : `--limit ${limit}`,
      args.import === false ? '--no-import' : '',
      place,
    ]
      .filter(Boolean)
      .join(' ');
  const [up, down] = order === 'time' ? ['newer', 'older'] : ['higher impact', 'lower impact'];
  write(
    io,
    args.json,
    { imported, dead_letters: records.map(({ body: _body, ...r }) => r), ...(newer ? { newer } : {}), ...(older ? { older } : {}) },
    () =>
      (imported && imported.created > 0 ? `${imported.created} new dead letter(s) moved from the queue into the archive\n` : '') +
      (imported && imported.parked.length > 0
        ? `${imported.parked.length} dead letter(s) could not be archived as they are: kept whole in the parking queue, listed as ${UNARCHIVABLE}\n`
        : '') +
      (imported && imported.replaced > 0 ? `${imported.replaced} ${UNARCHIVABLE} stand-in(s) replaced by the dead letter(s) they stood for\n` : '') +
      (imported && imported.duplicates > 0
        ? `${imported.duplicates} dead letter(s) already archived as their message's one record (a second one written past its one-per-message mark): acked, not listed twice\n`
        : '') +
      (imported && imported.dropped > 0 ? `${imported.dropped} oldest archived dead letter(s) dropped: the archive keeps ${DEAD_LETTER_ARCHIVE_MAX}\n` : '') +
      deadLetterRows(records) +
      (older ? `${down}: ${again(`--before ${older}`)}\n` : '') +
      (newer ? `${up}: ${again(`--after ${newer}`)}\n` : ''),
  );
  return 0;
}

/** `ops dead-letters show <id>`: one dead letter, its triage, body (redacted) and what a replay would do. */
export async function opsDeadLetterShow(ctx: OpsContext, io: OpsOutput, args: { id: string; json?: boolean }): Promise<number> {
  const stored = await ctx.deadLetters.get(args.id);
  const record = stored && shownDeadLetter(stored);
  // Who read which dead letter (its body may name a customer): audit-logged as lookups are.
  await ctx.audit.record({ action: 'ops.dead_letter', actor: io.actor, outcome: 'ok', target: args.id, detail: { by: 'cli', found: record ? 1 : 0 } });
  if (!record) {
    write(io, args.json, { id: args.id, found: false }, () => `no dead letter ${args.id}\n`);
    return 1;
  }
  const plan = planView(await ctx.replay.plan(args.id));
  write(
    io,
    args.json,
    { dead_letter: record, replay: plan },
    () =>
      [
        ['id', record.id],
        ['dead-lettered', new Date(record.deadLetteredAt).toISOString()],
        ['category', record.category],
        ['impact', String(record.impact)],
        ['code', record.code],
        ['field', record.field],
        ['reason', record.reason],
        ['source', record.source],
        ['operation', record.operationId ?? ''],
        ['order', record.orderId ?? ''],
        ['replays', `${record.replays}${record.lastReplayAt ? ` (last ${new Date(record.lastReplayAt).toISOString()} by ${record.lastReplayBy ?? '?'})` : ''}`],
        ['replay would', `${plan.verdict}${plan.problem ? `: ${plan.problem}` : ''}`],
      ]
        .filter(([, v]) => v !== '')
        .map(([k, v]) => `${k.padEnd(15)}${v}\n`)
        .join('') + `body (redacted):\n${record.body}\n`,
  );
  return 0;
}

/**
 * `ops dead-letters replay <id...>` (or `--category C`): a dry run unless `--execute`; each dead letter is
 * revalidated and checked against the ledger first. Exit 0 when every dead letter would replay (dry run)
 * or was published (execute), 1 otherwise.
 */
export async function opsDeadLetterReplay(
  ctx: OpsContext,
  io: OpsOutput,
  args: { ids: string[]; category?: string; limit?: string; execute?: boolean; json?: boolean },
): Promise<number> {
  let ids = args.ids;
  const category = categoryOf(args.category);
  if (category) {
    const limit = parseLimit(args.limit ?? '100');
    const records = await ctx.deadLetters.list({ order: 'time', category, limit });
    ids = [...ids, ...records.filter((r) => r.replays === 0).map((r) => r.id)];
  }
  if (ids.length === 0) throw new Error('name the dead letters to replay (ids) or a --category');
  const bar =
    io.err.isTTY && !args.json
      ? new SingleBar({ format: '  replay {bar} {value}/{total} {note}', hideCursor: true, stream: io.err }, Presets.shades_classic)
      : null;
  bar?.start(ids.length, 0, { note: '' });
  const plans = await ctx.replay.run(ids, {
    execute: args.execute === true,
    actor: io.actor,
    onEach: (plan, i) => bar?.update(i + 1, { note: `${plan.id} ${plan.verdict}` }),
  });
  bar?.stop();
  const ok = plans.every((p) => (args.execute ? p.published === true : p.verdict === 'replay'));
  write(
    io,
    args.json,
    { execute: args.execute === true, results: plans.map(planView) },
    () =>
      (args.execute ? '' : 'DRY RUN: nothing was published; run again with --execute to replay\n') +
      table(
        ['dead letter', 'verdict', 'operation', 'state', args.execute ? 'published' : 'would publish to', 'problem'],
        plans.map((p) => [
          p.id,
          p.verdict,
          p.operationId ?? '',
          p.state ?? '',
          args.execute ? (p.published ? 'yes' : `no${p.error ? `: ${p.error}` : ''}`) : p.verdict === 'replay' ? (p.routingKey ?? '') : '',
          p.problem ?? '',
        ]),
      ),
  );
  return ok ? 0 : 1;
}

/**
 * `ops dead-letters unpark [--limit N] [--execute]`: the parked dead letters (`<dead-letter queue>:parked`), oldest
 * first, moved back to the dead-letter queue with `--execute` (each confirmed there before it leaves the parking
 * queue: `unparkDeadLetters`), else only listed (a dry run). Audit-logged. Exit 1 when a move failed (the message
 * under way stays parked).
 */
export async function opsDeadLetterUnpark(ctx: OpsContext, io: OpsWriter, args: { limit?: string; execute?: boolean; json?: boolean }): Promise<number> {
  const limit = parseLimit(args.limit ?? '100');
  const execute = args.execute === true;
  let result;
  try {
    result = await ctx.unparkDeadLetters({ limit, execute });
  } catch (err) {
    await ctx.audit.record({
      action: 'ops.dead_letters_unpark',
      actor: io.actor,
      outcome: 'failed',
      detail: { execute, limit, error: boundedSafeText((err as Error).message, 200, false) },
    });
    throw err;
  }
  const moved = result.messages.length;
  await ctx.audit.record({
    action: 'ops.dead_letters_unpark',
    actor: io.actor,
    outcome: result.failure ? 'failed' : execute ? 'ok' : 'dry_run',
    target: result.queue,
    detail: { execute, limit, parked: result.parked, [execute ? 'moved' : 'would_move']: moved, ...(result.failure ? { failure: result.failure } : {}) },
  });
  write(io, args.json, result, () => {
    const rows =
      moved === 0
        ? ''
        : table(
            ['stand-in record', 'parked at', 'bytes', 'why it was parked'],
            result.messages.map((m) => [m.record ?? '', m.parkedAt ?? '', String(m.bytes), m.reason ?? '']),
          );
    const head = execute
      ? `${moved} of ${result.parked} parked dead letter(s) moved back from ${result.queue} to ${ctx.config.amqp.deadLetterQueue}; the next archiving pass (or ops dead-letters list) archives them in place of their stand-ins\n`
      : `DRY RUN: nothing was moved; ${result.parked} dead letter(s) parked in ${result.queue}, ${moved} would move back (run again with --execute)\n`;
    return head + rows + (result.failure ? `stopped: ${result.failure}\n` : '');
  });
  return result.failure ? 1 : 0;
}

/**
 * Adds `payment-bridge ops …` to the program. `withContext` opens the operator's context from the global
 * `--config`, runs the action and closes it; the action's result is the exit code.
 */
/** `ops recheck <operation-id...>`: {@link recheckOperations}; exit 1 when one of them was not made due. */
export async function opsRecheck(ctx: OpsContext, io: OpsWriter, opts: { ids: string[]; json?: boolean }): Promise<number> {
  const results = await recheckOperations(ctx, opts.ids, io.actor, 'ops');
  io.out.write(
    opts.json
      ? `${JSON.stringify(results)}\n`
      : results.map((r) => `${r.operation_id}: ${r.result.replace(/_/g, ' ')}${r.reason ? ` [${r.reason}]` : ''}${r.state ? ` (${r.state})` : ''}\n`).join(''),
  );
  return results.every((r) => r.result === 'due_now') ? 0 : 1;
}

export function addOpsCommands(program: Command, withContext: WithOpsContext): void {
  const ops = program
    .command('ops')
    .description('operator tools: operations, orders, counts, dead letters (every command takes --json; every lookup and replay is audit-logged)');
  ops
    .command('show [operation-id]')
    .description('an operation with its record and history, or every operation of an order (--order)')
    .option('--order <order-id>', 'look up by order id instead of operation id')
    .addOption(jsonOption())
    .action((id: string | undefined, opts: { order?: string; json?: boolean }) => {
      if (id === undefined && opts.order === undefined) throw new Error('give an operation id or --order <order-id>');
      return withContext((ctx, io) => opsShow(ctx, io, { id, ...opts }));
    });
  ops
    .command('list')
    .description('operations by state and age, oldest first (default: every state that is not terminal)')
    .option('--state <state...>', `states (${OPERATION_STATES.join(', ')})`)
    .option('--older-than <duration>', 'only operations created at least this long ago (90s, 5m, 2h, 1d)')
    .option('--limit <n>', 'at most this many', '50')
    .addOption(jsonOption())
    .action((opts: { state?: string[]; olderThan?: string; limit?: string; json?: boolean }) => withContext((ctx, io) => opsList(ctx, io, opts)));
  ops
    .command('counts')
    .description('recent counts by outcome (received, succeeded, failed, success rate) and operations by state now')
    .option('--window <duration>', 'how far back (90s, 5m, 1h)', '5m')
    .addOption(jsonOption())
    .action((opts: { window?: string; json?: boolean }) => withContext((ctx, io) => opsCounts(ctx, io, opts)));
  ops
    .command('recheck <operation-ids...>')
    .description("make PENDING, UNKNOWN or UNRESOLVED operations due at once: the poller's next pass asks the PSP (audit-logged)")
    .addOption(jsonOption())
    .action((ids: string[], opts: { json?: boolean }) => withContext((ctx, io) => opsRecheck(ctx, io, { ids, ...opts })));
  addRiskReviewCommands(ops, withContext);
  addEventCommands(ops, withContext);
  addWebhookCommands(ops, withContext);
  addRecaptureCommands(ops, withContext);
  addHeldRetryCommands(ops, withContext);
  addSplitTenderCommands(ops, withContext);
  addReconciliationStatusCommand(ops, withContext);
  addProcessesCommand(ops, withContext);
  const dl = ops.command('dead-letters').description('dead letters: list, show, triage, replay, unpark');
  dl.command('list')
    .description('moves new dead letters from the queue into the archive, then lists them with their triage category')
    .addOption(new Option('--by <order>', 'newest first or highest impact first').choices(['time', 'impact']).default('time'))
    .addOption(new Option('--category <category>', 'only one triage category').choices([...TRIAGE_CATEGORIES]))
    .option('--limit <n>', 'this many a page (1 to 1000)', '50')
    .option('--before <place>', 'the page below this place (older, or lower impact), as the older: line under a page prints it')
    .option('--after <place>', 'the page above this place (newer, or higher impact), as the newer: line under a page prints it')
    .option('--no-import', 'list the archive only, leave the queue alone')
    .addOption(jsonOption())
    .action((opts: { by?: string; category?: string; limit?: string; before?: string; after?: string; import?: boolean; json?: boolean }) =>
      withContext((ctx, io) => opsDeadLetterList(ctx, io, opts)),
    );
  dl.command('show <id>')
    .description('one dead letter: reason, triage, redacted body, and what a replay would do')
    .addOption(jsonOption())
    .action((id: string, opts: { json?: boolean }) => withContext((ctx, io) => opsDeadLetterShow(ctx, io, { id, ...opts })));
  dl.command('unpark')
    .description(
      'move parked dead letters (the archive could not take them: listed as UNARCHIVABLE) back to the dead-letter queue after the fix; dry run unless --execute',
    )
    .option('--limit <n>', 'at most this many, oldest first (1 to 1000)', '100')
    .option('--execute', 'move them (default: dry run, only lists them)')
    .addOption(jsonOption())
    .action((opts: { limit?: string; execute?: boolean; json?: boolean }) => withContext((ctx, io) => opsDeadLetterUnpark(ctx, io, opts)));
  dl.command('replay [ids...]')
    .description('replay dead letters after a fix: revalidated, dry run unless --execute, idempotent (same operation id)')
    .addOption(new Option('--category <category>', 'every dead letter of this triage category not replayed yet').choices([...TRIAGE_CATEGORIES]))
    .option('--limit <n>', 'with --category: at most this many', '100')
    .option('--execute', 'publish the commands (default: dry run, nothing is published)')
    .addOption(jsonOption())
    .action((ids: string[], opts: { category?: string; limit?: string; execute?: boolean; json?: boolean }) =>
      withContext((ctx, io) => opsDeadLetterReplay(ctx, io, { ids, ...opts })),
    );
}
