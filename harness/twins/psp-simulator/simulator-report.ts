import { randomBytes } from 'node:crypto';

/**
 * The simulator's own records of what it did, as a PSP's settlement report would list them: one line per
 * money movement (authorization, capture or sale, refund, cancellation, and the late facts injected through
 * the control API), with the fee and the net amount credited to the merchant. Read by the bridge's
 * reconciliation through `GET /v1/reports/lines` (paged JSON) or `GET /v1/reports/lines.csv` (streamed).
 * Discrepancies can be injected (`POST /_control/report/discrepancy`) so reconciliation has something to
 * find: another amount or currency, the opposite state, a payment nobody asked for, a line that is missing.
 */

/** A line's type in the simulator's report. */
export const REPORT_LINE_TYPES = ['authorization', 'capture', 'refund', 'cancellation', 'chargeback', 'chargeback_reversal', 'refund_failure'] as const;
export type ReportLineType = (typeof REPORT_LINE_TYPES)[number];
export type ReportLineStatus = 'succeeded' | 'failed' | 'pending';

/** One line as the report endpoint serves it. Amounts are integers of minor units. */
export interface ReportLine {
  id: string;
  type: ReportLineType;
  status: ReportLineStatus;
  /** The reference the request carried: the bridge's operation id (absent for an injected unknown payment). */
  reference?: string;
  /** The authorization (payment) id. */
  payment: string;
  /** The capture, refund, cancellation or chargeback id; the authorization id for an authorization or a sale. */
  object_id: string;
  amount: number;
  currency: string;
  fee: number;
  /** Credited to the merchant (negative: debited). */
  net: number;
  /** When it happened, epoch milliseconds. */
  created_ms: number;
}

/** What `POST /_control/report/discrepancy` accepts. */
export type Discrepancy =
  | { kind: 'amount_mismatch'; reference: string; amount: number }
  | { kind: 'currency_mismatch'; reference: string; currency: string }
  /** Flips the line of `reference`: succeeded ⇄ failed; with no line (a capture the PSP refused), a succeeded capture of `amount`/`currency`. */
  | { kind: 'state_mismatch'; reference: string; amount?: number; currency?: string }
  /** A captured payment nobody asked for (no reference). */
  | { kind: 'unknown_payment'; amount: number; currency: string }
  /** The line(s) of `reference` disappear from the report. */
  | { kind: 'missing_line'; reference: string };

interface StoredLine extends ReportLine {
  hidden?: boolean;
}

/** The simulator's fee: 1.4 % (rounded half up) plus 25 minor units, on collected money only. */
export function simulatorFee(type: ReportLineType, status: ReportLineStatus, amount: number): number {
  if (type !== 'capture' || status !== 'succeeded') return 0;
  return Math.floor((amount * 14 + 500) / 1000) + 25;
}

/** Net credited to the merchant: collected minus the fee; refunds and chargebacks debit, their reversals credit. */
export function simulatorNet(type: ReportLineType, status: ReportLineStatus, amount: number): number {
  if (status !== 'succeeded') return 0;
  switch (type) {
    case 'capture':
      return amount - simulatorFee(type, status, amount);
    case 'refund':
    case 'chargeback':
      return -amount;
    case 'chargeback_reversal':
    case 'refund_failure':
      return amount;
    case 'authorization':
    case 'cancellation':
      return 0;
  }
}

export class SimulatorReport {
  /** In time order (`created_ms`), so a window starts at a binary search and a cursor is an index. */
  private lines: StoredLine[] = [];
  private readonly tag = randomBytes(4).toString('hex');
  private sequence = 0;

  private newId(): string {
    this.sequence += 1;
    return `ln_${this.tag}x${this.sequence.toString(36)}`;
  }

  get size(): number {
    return this.lines.length;
  }

  /** Appends a line (fee and net computed); keeps time order. */
  add(line: Omit<ReportLine, 'id' | 'fee' | 'net' | 'created_ms'> & { created_ms?: number }, sort = true): ReportLine {
    const created = line.created_ms ?? Date.now();
    // Spelled out rather than spread: a spread copies through V8's slow path (~15 µs a line, measured),
    // and every authorization of a benchmark adds a line. An absent reference stays absent in JSON.
    const stored: StoredLine = {
      type: line.type,
      status: line.status,
      reference: line.reference,
      payment: line.payment,
      object_id: line.object_id,
      amount: line.amount,
      currency: line.currency,
      id: this.newId(),
      fee: simulatorFee(line.type, line.status, line.amount),
      net: simulatorNet(line.type, line.status, line.amount),
      created_ms: created,
    };
    const last = this.lines[this.lines.length - 1];
    this.lines.push(stored);
    if (sort && last && last.created_ms > created) this.lines.sort((a, b) => a.created_ms - b.created_ms);
    return stored;
  }

  /**
   * Records what an API result did, from its result object: an authorization (a sale when `sale`), a capture,
   * refund or cancellation. Tokens and refusals move no money and get no line.
   */
  recordResult(body: unknown, sale: boolean): void {
    if (typeof body !== 'object' || body === null) return;
    const o = body as Record<string, unknown>;
    const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
    const id = str('id');
    const currency = str('currency');
    const reference = str('reference');
    if (!id || !currency || typeof o.amount !== 'number') return;
    const amount = o.amount;
    switch (o.object) {
      case 'authorization': {
        const status = o.status === 'declined' ? 'failed' : o.status === 'pending' || o.status === 'requires_action' ? 'pending' : 'succeeded';
        this.add({ type: sale ? 'capture' : 'authorization', status, reference, payment: id, object_id: id, amount, currency });
        return;
      }
      case 'capture':
      case 'refund':
      case 'cancellation': {
        const type: ReportLineType = o.object;
        this.add({ type, status: 'succeeded', reference, payment: str('authorization') ?? id, object_id: id, amount, currency });
        return;
      }
      default:
        return;
    }
  }

  /** A pending authorization settled: its line takes the final status. */
  settle(authorizationId: string, status: 'succeeded' | 'failed'): void {
    for (let i = this.lines.length - 1; i >= 0; i -= 1) {
      const line = this.lines[i];
      if (line.payment === authorizationId && line.object_id === authorizationId && line.status === 'pending') {
        this.restate(line, status);
        return;
      }
    }
  }

  /** A late fact (chargeback, its reversal, a refund failure) about the operation `reference`. */
  lateFact(
    type: 'chargeback' | 'chargeback_reversal' | 'refund_failure',
    fact: { reference: string; payment: string; objectId: string; amount: number; currency: string },
  ): void {
    this.add({
      type,
      status: 'succeeded',
      reference: fact.reference,
      payment: fact.payment,
      object_id: fact.objectId,
      amount: fact.amount,
      currency: fact.currency,
    });
  }

  /** Applies a discrepancy; returns an error message, or the lines it touched or added. */
  inject(d: Discrepancy): ReportLine[] | string {
    switch (d.kind) {
      case 'amount_mismatch':
      case 'currency_mismatch':
      case 'missing_line': {
        const found = this.linesOf(d.reference);
        if (found.length === 0) return `no report line with reference ${d.reference}`;
        for (const line of found) {
          if (d.kind === 'amount_mismatch') {
            line.amount = d.amount;
            this.restate(line, line.status);
          } else if (d.kind === 'currency_mismatch') line.currency = d.currency;
          else line.hidden = true;
        }
        return found.map(visible);
      }
      case 'state_mismatch': {
        const found = this.linesOf(d.reference);
        if (found.length > 0) {
          for (const line of found) this.restate(line, line.status === 'succeeded' ? 'failed' : 'succeeded');
          return found.map(visible);
        }
        if (d.amount === undefined || d.currency === undefined)
          return `no report line with reference ${d.reference}: give amount and currency to add a capture`;
        const id = `cap_inj${this.newId()}`;
        return [this.add({ type: 'capture', status: 'succeeded', reference: d.reference, payment: id, object_id: id, amount: d.amount, currency: d.currency })];
      }
      case 'unknown_payment': {
        const id = `auth_unk${this.newId()}`;
        return [this.add({ type: 'capture', status: 'succeeded', payment: id, object_id: id, amount: d.amount, currency: d.currency })];
      }
    }
  }

  /**
   * `count` succeeded captures (the benchmark's report), references `<prefix><i>`, `amount` each, spread
   * evenly over [from, to).
   */
  synthesize(count: number, prefix: string, amount: number, currency: string, from: number, to: number): void {
    const step = Math.max(0, (to - from) / Math.max(1, count));
    for (let i = 0; i < count; i += 1) {
      const payment = `auth_syn${i.toString(36)}`;
      this.add(
        {
          type: 'capture',
          status: 'succeeded',
          reference: `${prefix}${i}`,
          payment,
          object_id: payment,
          amount,
          currency,
          created_ms: Math.floor(from + i * step),
        },
        false,
      );
    }
    // One sort for the whole batch (stable: lines of the same time keep their order).
    this.lines.sort((a, b) => a.created_ms - b.created_ms);
  }

  /**
   * One page of the lines with `from <= created_ms < to`, from `cursor` (an index into the time-ordered
   * lines; absent: the window's start), at most `limit`.
   */
  page(from: number, to: number, cursor: number | undefined, limit: number): { data: ReportLine[]; next: number; hasMore: boolean } {
    let i = cursor ?? this.firstAtOrAfter(from);
    const data: ReportLine[] = [];
    while (i < this.lines.length && data.length < limit) {
      const line = this.lines[i];
      if (line.created_ms >= to) break;
      if (!line.hidden && line.created_ms >= from) data.push(visible(line));
      i += 1;
    }
    const hasMore = i < this.lines.length && this.lines[i].created_ms < to;
    return { data, next: i, hasMore };
  }

  clear(): void {
    this.lines = [];
  }

  private firstAtOrAfter(from: number): number {
    let lo = 0;
    let hi = this.lines.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.lines[mid].created_ms < from) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private linesOf(reference: string): StoredLine[] {
    return this.lines.filter((l) => l.reference === reference && !l.hidden);
  }

  private restate(line: StoredLine, status: ReportLineStatus): void {
    line.status = status;
    line.fee = simulatorFee(line.type, status, line.amount);
    line.net = simulatorNet(line.type, status, line.amount);
  }
}

function visible(line: StoredLine): ReportLine {
  const { hidden: _hidden, ...rest } = line;
  return rest;
}

/** CSV columns of `GET /v1/reports/lines.csv`, in order. */
export const REPORT_CSV_COLUMNS = ['id', 'type', 'status', 'reference', 'payment', 'object_id', 'amount', 'currency', 'fee', 'net', 'created_ms'] as const;

/** One line as a CSV row (no field of ours needs quoting: ids, codes and integers). */
export function reportCsvRow(line: ReportLine): string {
  return REPORT_CSV_COLUMNS.map((c) => (line[c] === undefined ? '' : String(line[c]))).join(',');
}
