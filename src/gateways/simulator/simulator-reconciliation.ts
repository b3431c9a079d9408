import type { GatewayConfig } from '../gateway-config';
import { GatewayError } from '../../errors';
import { PspRecordError } from '../../errors/psp-record-error';
import { readPspCurrency } from '../../money/currencies';
import type {
  PspRecord,
  PspRecordKind,
  PspRecordPage,
  PspRecordReader,
  ReconciliationHttp,
  ReconciliationSupport,
  ReconciliationWindow,
  UnreadablePspLine,
} from '../../reconciliation/psp-record';
import { readLine, safePspType, safeReference } from '../reconciliation-answer';
import { pspEpochMs } from '../psp-time';
import { MAX_MINOR_AMOUNT } from '../../money/minor-units';

/** Lines per page asked of the simulator (it serves at most 1,000). */
const PAGE_SIZE = 500;
/** The cursor of a window read to its end. */
const END = 'end';

/** The simulator's report line types, as `PspRecord` kinds. Unknown types are `other` (reported, never matched). */
function kindOf(type: string): PspRecordKind {
  switch (type) {
    case 'authorization':
      return 'authorization';
    case 'capture':
      return 'capture';
    case 'refund':
      return 'refund';
    case 'cancellation':
      return 'cancel';
    case 'chargeback':
      return 'chargeback';
    case 'chargeback_reversal':
      return 'chargeback_reversed';
    case 'refund_failure':
      return 'refund_reversed';
    default:
      return 'other';
  }
}

/** What stops a page (its body, its list): the run stops there and reads the page again. */
function problem(field: string, gateway: string): GatewayError {
  return new GatewayError('invalid_request', gateway, `simulator report: a page's ${field} is missing or malformed`, { field });
}

/** What a value is, for a problem text: its JSON type, never the value itself. */
function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Longest line id used to name an unreadable line; a longer one is named by its place in the page. */
const NAMED_ID_MAX = 64;

/**
 * One line of `GET /v1/reports/lines` as a `PspRecord`.
 * @throws PspRecordError naming the line (its id, else `?`), the field and what is wrong with it, never its value.
 */
export function simulatorRecord(value: unknown, gateway: string): PspRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new PspRecordError(gateway, '?', 'line', `is not a JSON object (${typeOf(value)})`);
  const line = value as Record<string, unknown>;
  const where = typeof line.id === 'string' && line.id.length > 0 && line.id.length <= NAMED_ID_MAX ? line.id : '?';
  const refuse = (field: string, explanation: string): PspRecordError => new PspRecordError(gateway, where, field, explanation);
  const text = (k: string, required: boolean): string | undefined => {
    const v = line[k];
    if (v === undefined || v === null) {
      if (required) throw refuse(k, 'is missing');
      return undefined;
    }
    if (typeof v !== 'string') throw refuse(k, `is not a string (${typeOf(v)})`);
    if (v.length === 0) throw refuse(k, 'is empty');
    return v;
  };
  const int = (k: string, what: string): number => {
    const v = line[k];
    if (v === undefined || v === null) throw refuse(k, 'is missing');
    if (typeof v !== 'number') throw refuse(k, `is not a number (${typeOf(v)})`);
    if (!Number.isSafeInteger(v)) throw refuse(k, `is not ${what}`);
    return v;
  };
  // Money beyond what any command may ask (digits that may be a card number's) is no amount of ours.
  const money = (k: string): number => {
    const v = int(k, 'a whole number of minor units');
    if (Math.abs(v) > MAX_MINOR_AMOUNT) throw refuse(k, 'is beyond the largest amount the bridge handles');
    return v;
  };
  // A time a Date can hold: the report writes each line's time, and a run that cannot would fail on every retry.
  const time = (k: string): number => {
    const at = pspEpochMs(int(k, 'a whole number of epoch milliseconds'));
    if (at === undefined) throw refuse(k, 'is not a time from 1970 to the year 9999');
    return at;
  };
  const lineId = text('id', true) as string;
  const status = line.status;
  if (status === undefined || status === null) throw refuse('status', 'is missing');
  if (status !== 'succeeded' && status !== 'failed' && status !== 'pending') throw refuse('status', 'is not succeeded, failed or pending');
  const type = text('type', true) as string;
  const payment = text('payment', true) as string;
  const objectId = text('object_id', true) as string;
  // Our operation id, as the other readers keep one: never card data.
  const reference = safeReference(text('reference', false));
  if (line.currency === undefined || line.currency === null) throw refuse('currency', 'is missing');
  const currency = readPspCurrency(line.currency);
  if ('problem' in currency) throw refuse('currency', currency.problem);
  const amount = money('amount');
  if (amount < 0) throw refuse('amount', 'is negative');
  return {
    lineId,
    kind: kindOf(type),
    status,
    ...(reference !== undefined ? { operationId: reference } : {}),
    pspReference: payment,
    ...(objectId !== payment ? { modificationReference: objectId } : {}),
    amount,
    currency: currency.code,
    fee: money('fee'),
    net: money('net'),
    occurredAt: time('created_ms'),
    pspType: safePspType(type),
  };
}

/** Reads `GET /v1/reports/lines` page by page; the cursor is the simulator's `next_cursor`. */
export function simulatorReader(gateway: GatewayConfig, http: ReconciliationHttp): PspRecordReader {
  return {
    async *read(window: ReconciliationWindow, cursor?: string): AsyncIterable<PspRecordPage> {
      let next = cursor;
      while (next !== END) {
        const query = new URLSearchParams({ from: String(window.from), to: String(window.to), limit: String(PAGE_SIZE) });
        if (next !== undefined) query.set('cursor', next);
        const response = await http.send({ method: 'GET', path: `/v1/reports/lines?${query.toString()}` });
        if (response.status !== 200) {
          const kind = response.status === 401 || response.status === 403 ? 'authentication' : response.status >= 500 ? 'server_error' : 'invalid_request';
          throw new GatewayError(kind, gateway.name, `simulator report: HTTP ${response.status}`, { httpStatus: response.status });
        }
        let body: { data?: unknown; has_more?: unknown; next_cursor?: unknown };
        try {
          body = JSON.parse(response.body) as typeof body;
        } catch {
          throw problem('body', gateway.name);
        }
        if (!Array.isArray(body.data)) throw problem('data', gateway.name);
        const records: PspRecord[] = [];
        const unreadable: UnreadablePspLine[] = [];
        for (const [i, line] of body.data.entries()) {
          // Set aside: the lines behind it are read. Named by its id, else its place in the page.
          const record = readLine(
            () => simulatorRecord(line, gateway.name),
            unreadable,
            () => `data[${i}] after ${next ?? 'the start'}`,
          );
          if (record !== undefined) records.push(record);
        }
        next = body.has_more === true && typeof body.next_cursor === 'string' ? body.next_cursor : END;
        yield { records, cursor: next, ...(unreadable.length > 0 ? { unreadable } : {}) };
      }
    },
  };
}

/** The simulator's part in reconciliation (`GatewayDefinition.reconciliation`). */
export const simulatorReconciliation: ReconciliationSupport = {
  source: 'GET /v1/reports/lines',
  reader: simulatorReader,
};
