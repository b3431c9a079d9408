import { createWriteStream, WriteStream } from 'node:fs';
import { once } from 'node:events';
import { assertNever } from '../gateways/assert-never';
import { formatMinor } from '../money/minor-units';
import { RECONCILIATION_CLASSES, LineVerdict, ReconciliationClass } from '../reconciliation/reconciliation-class';
import type { UnreadablePspLine } from '../reconciliation/psp-record';
import type { ActionOutcome, ReconciliationSummary, VerdictSink } from './reconciliation-runner';

/** Format of the per-line details file: JSON lines or CSV. */
export type DetailsFormat = 'jsonl' | 'csv';

/** Columns of a details row, in CSV order. */
export const DETAIL_COLUMNS = [
  'class',
  'action',
  'outcome',
  'operation_id',
  'matched_by',
  'order_id',
  'ledger_command',
  'ledger_state',
  'ledger_amount',
  'ledger_currency',
  'psp_line_id',
  'psp_type',
  'psp_kind',
  'psp_status',
  'psp_amount',
  'psp_currency',
  'fee',
  'net',
  'settlement_currency',
  'psp_reference',
  'modification_reference',
  'merchant_reference',
  'occurred_at',
  'note',
] as const;
export type DetailRow = Record<(typeof DETAIL_COLUMNS)[number], string | number | null>;

/** One verdict as a details row (amounts: integer minor units). */
export function detailRow(v: LineVerdict, outcome: ActionOutcome): DetailRow {
  const r = v.record;
  const l = v.ledger;
  return {
    class: v.class,
    action: v.action.type === 'adjust' ? `adjust:${v.action.kind}` : v.action.type === 'settle' ? `settle:${v.action.status}` : v.action.type,
    outcome,
    operation_id: l?.operationId ?? null,
    matched_by: v.matchedBy ?? null,
    order_id: l?.orderId ?? null,
    ledger_command: l?.command ?? null,
    ledger_state: l?.state ?? null,
    ledger_amount: l?.amount ?? null,
    ledger_currency: l?.currency ?? null,
    psp_line_id: r?.lineId ?? null,
    psp_type: r?.pspType ?? null,
    psp_kind: r?.kind ?? null,
    psp_status: r?.status ?? null,
    psp_amount: r?.amount ?? null,
    psp_currency: r?.currency ?? null,
    fee: r?.fee ?? null,
    net: r?.net ?? null,
    settlement_currency: r?.settlementCurrency ?? null,
    psp_reference: r?.pspReference ?? null,
    modification_reference: r?.modificationReference ?? null,
    merchant_reference: r?.merchantReference ?? null,
    occurred_at: r ? new Date(r.occurredAt).toISOString() : null,
    note: v.note,
  };
}

/** A line the reader could not read as a details row: class `unreadable`, where the PSP has it, and why. */
export function unreadableRow(line: UnreadablePspLine): DetailRow {
  const row = Object.fromEntries(DETAIL_COLUMNS.map((c) => [c, null])) as DetailRow;
  return { ...row, class: 'unreadable', action: 'set_aside', outcome: 'report', psp_line_id: line.line, note: `${line.field}: ${line.problem}` };
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break; a leading =,+,-,@ is defused for spreadsheets. */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRow(row: DetailRow): string {
  return DETAIL_COLUMNS.map((c) => csvField(row[c])).join(',');
}

/**
 * Writes every verdict that is not `matched`, and every line the reader could not read, to the details file as it comes (JSON lines or CSV), with
 * backpressure: memory holds at most the stream's buffer, whatever the report's size. `close()` ends it.
 */
export class DetailsWriter implements VerdictSink {
  private readonly stream: WriteStream;
  /** Rows written. */
  rows = 0;

  constructor(
    readonly path: string,
    readonly format: DetailsFormat,
  ) {
    this.stream = createWriteStream(path, { encoding: 'utf8' });
    if (format === 'csv') this.stream.write(`${DETAIL_COLUMNS.join(',')}\n`);
  }

  async verdict(v: LineVerdict, outcome: ActionOutcome): Promise<void> {
    if (v.class === 'matched') return;
    await this.write(detailRow(v, outcome));
  }

  async unreadable(line: UnreadablePspLine): Promise<void> {
    await this.write(unreadableRow(line));
  }

  private async write(row: DetailRow): Promise<void> {
    this.rows += 1;
    if (!this.stream.write(`${this.format === 'csv' ? csvRow(row) : JSON.stringify(row)}\n`)) await once(this.stream, 'drain');
  }

  private closed: Promise<void> | null = null;

  /** Ends the file (idempotent). */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
    return this.closed;
  }
}

function money(amount: number, currency: string): string {
  try {
    return `${formatMinor(amount, currency)} ${currency}`;
  } catch {
    return `${amount} (minor units) ${currency}`;
  }
}

/** What each class means, for the summary's readers. */
const CLASS_MEANING: Readonly<Record<ReconciliationClass, string>> = {
  matched: 'the PSP and the ledger agree',
  amount_mismatch: 'same operation, another amount: adjusted (the PSP is authoritative)',
  currency_mismatch: 'same operation, another currency: adjusted (the PSP is authoritative)',
  state_mismatch: 'the PSP and the ledger disagree on what happened: adjusted, settled or left to a person',
  missing_in_ledger: 'money the PSP moved that no ledger operation accounts for: for a person',
  missing_at_psp: 'a ledger operation that moved money and that the PSP does not list: for a person',
  not_a_payment: 'PSP lines about no payment (fees, payouts): context',
};

/** What the run did to the gateway's reconciled-through mark (what retention waits for), and why when it was held. */
export function markText(summary: Pick<ReconciliationSummary, 'mark' | 'unreadable'>): string {
  const mark = summary.mark;
  if (!mark) return 'not recorded (a dry run, or a run not finished)';
  const at = mark.through === null ? 'none' : new Date(mark.through).toISOString();
  switch (mark.outcome) {
    case 'held':
      return `**held** at ${at}: ${summary.unreadable} PSP line(s) not read, so this window is not reconciled: the mark does not pass it (later windows reconciled count once it is) and retention waits. Once the PSP corrects its report, reconcile this window again with \`--again\`.`;
    case 'gap':
      return `stays at ${at}: this window starts after it; it counts once the windows between are reconciled.`;
    case 'covered':
      return `at ${at} already (this window was covered).`;
    case 'moved':
      return `moved to ${at}.`;
    default:
      return assertNever(mark.outcome);
  }
}

/** The Markdown summary of a run; `details` names the per-line file when there is one. */
export function markdownSummary(summary: ReconciliationSummary, details?: { path: string; rows: number }): string {
  const when = (ms: number): string => new Date(ms).toISOString();
  const lines: string[] = [];
  lines.push(`# Reconciliation: ${summary.gateway}`, '');
  lines.push(`- Window: ${when(summary.window.from)} to ${when(summary.window.to)} (PSP lines with from <= time < to)`);
  lines.push(`- Source: ${summary.source}`);
  lines.push(
    `- Mode: ${summary.dryRun ? 'dry run (nothing applied)' : 'applied'}; result: ${summary.result}${summary.resumed ? ' (resumed an earlier run)' : ''}`,
  );
  lines.push(`- Lines judged: ${summary.lines} in ${(summary.durationMs / 1000).toFixed(1)} s (this invocation)`);
  if (summary.mark) lines.push(`- Reconciled-through mark: ${markText(summary)}`);
  if (summary.lookups > 0) {
    lines.push(`- Read by id at the PSP before reporting them missing: ${summary.lookups} operation(s) no line named (their rows' notes say what was found)`);
  }
  lines.push('', '| class | count | meaning |', '| --- | ---: | --- |');
  for (const c of RECONCILIATION_CLASSES) lines.push(`| ${c} | ${summary.classes[c]} | ${CLASS_MEANING[c]} |`);
  lines.push('', '| action | count |', '| --- | ---: |');
  lines.push(`| adjustments recorded (OMS told) | ${summary.adjusted} |`);
  lines.push(`| operations settled by the PSP's record | ${summary.settled} |`);
  if (summary.dryRun) lines.push(`| would apply (dry run) | ${summary.wouldApply} |`);
  const currencies = [...new Set([...Object.keys(summary.fees), ...Object.keys(summary.net)])].sort();
  if (currencies.length > 0) {
    lines.push('', '| currency | fees | net |', '| --- | ---: | ---: |');
    for (const c of currencies) lines.push(`| ${c} | ${money(summary.fees[c] ?? 0, c)} | ${money(summary.net[c] ?? 0, c)} |`);
  }
  if (summary.unreadable > 0) {
    lines.push('', `## PSP lines not read: ${summary.unreadable}`, '');
    lines.push('Set aside, not classified; the run read on past them. Find each in the PSP report by where it is.', '');
    lines.push('| where in the PSP report | field | problem |', '| --- | --- | --- |');
    const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
    for (const u of summary.unreadableLines) lines.push(`| ${cell(u.line)} | ${cell(u.field)} | ${cell(u.problem)} |`);
    if (summary.unreadableLines.length < summary.unreadable) lines.push('', `The first ${summary.unreadableLines.length} are listed.`);
  }
  if (details) lines.push('', `Every line that is not \`matched\`: ${details.path} (${details.rows} rows in this invocation).`);
  return `${lines.join('\n')}\n`;
}
