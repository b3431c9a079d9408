import { GatewayError } from '../../errors/gateway-error';
import { MAX_MINOR_AMOUNT, withoutTrailingZeros } from '../../money/minor-units';
import { PspRecordError } from '../../errors/psp-record-error';
import { currencyExponent, readPspCurrency } from '../../money/currencies';
import { pspSupportsCurrency } from '../../money/psp-currency-table';
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
import { countUnmappedType } from '../unmapped-type-metric';
import type { GatewayConfig } from '../gateway-config';
import { object, readLine, safePspType, safeReference } from '../reconciliation-answer';
import { CsvRecordJoiner, parseCsvRecord } from './adyen-csv';
import { ADYEN_CURRENCIES } from './adyen-currencies';
import { operationIdFromReference } from './adyen-references';
import { ADYEN_SETTLEMENT_TYPES, ADYEN_SETTLEMENT_TYPE_MAP, adyenSettlementKind, ADYEN_TIME_ZONES } from './adyen-settlement-types';

/**
 * Adyen's Settlement details report, one file per merchant account and settlement batch
 * (`settlement_detail_report_batch_<n>.csv`), downloaded from the Customer Area's report download URL
 * (`<report base>/reports/download/MerchantAccount/<merchant account>/<file>`) with the report user's
 * credentials (Basic auth; https://docs.adyen.com/reporting/download-reports-automatically), read line by
 * line in constant memory.
 *
 * Which batches: Adyen numbers them 1, 2, 3… per merchant account and has no listing call, so the reader
 * finds the newest batch (doubling, then halving, on which downloads exist: a missing one answers 404),
 * then walks back while a batch's first line is not older than the window (plus one batch: a batch's lines
 * are roughly, not strictly, in time order), and reads forward from there to the newest batch, keeping the
 * lines whose `Creation Date` is in the window. A later run of the same window reads the same batches.
 *
 * Cursor (opaque to the runner): `{"b":<batch>,"l":<physical lines consumed>,"last":<newest batch>}`.
 * A data line that does not read is set aside (the page's `unreadable`, named `<report>:<line number>`): by the
 * window its `Creation Date` falls in, or, when that does not read either, by every window that reads its batch,
 * marked `undated` (the runner reports it once); a header without a needed column, a quoted field left open at
 * the end, a batch gone while read stop the run.
 */

/** Records per page. */
export const ADYEN_PAGE_SIZE = 500;

/** The columns the reader needs, spelled exactly as Adyen's header line spells them. */
export const ADYEN_SETTLEMENT_COLUMNS = {
  merchantAccount: 'Merchant Account',
  pspReference: 'Psp Reference',
  merchantReference: 'Merchant Reference',
  paymentMethod: 'Payment Method',
  creationDate: 'Creation Date',
  timeZone: 'TimeZone',
  type: 'Type',
  modificationReference: 'Modification Reference',
  grossCurrency: 'Gross Currency',
  grossDebit: 'Gross Debit (GC)',
  grossCredit: 'Gross Credit (GC)',
  netCurrency: 'Net Currency',
  netDebit: 'Net Debit (NC)',
  netCredit: 'Net Credit (NC)',
  batchNumber: 'Batch Number',
} as const;
/** Optional columns: the fees (a report may carry only some), the modification's own reference. */
export const ADYEN_FEE_COLUMNS = ['Commission (NC)', 'Markup (NC)', 'Scheme Fees (NC)', 'Interchange (NC)'] as const;
export const ADYEN_MODIFICATION_MERCHANT_REFERENCE = 'Modification Merchant Reference';

type Column = keyof typeof ADYEN_SETTLEMENT_COLUMNS;

/** Column positions from the header line (any order, extra columns ignored); a missing needed column is refused. */
export interface AdyenSettlementHeader {
  readonly index: Readonly<Record<Column, number>>;
  readonly fees: readonly { readonly name: string; readonly at: number }[];
  readonly modificationMerchantReference: number;
}

export function parseAdyenSettlementHeader(gateway: string, report: string, line: string): AdyenSettlementHeader {
  const names = parseCsvRecord(line.replace(/^\uFEFF/, '')).map((n) => n.trim());
  const position = (name: string): number => names.indexOf(name);
  const index = {} as Record<Column, number>;
  for (const [key, name] of Object.entries(ADYEN_SETTLEMENT_COLUMNS) as [Column, string][]) {
    const at = position(name);
    if (at < 0) throw new PspRecordError(gateway, `${report}:1`, name, 'column is missing from the header');
    index[key] = at;
  }
  return {
    index,
    fees: ADYEN_FEE_COLUMNS.map((name) => ({ name, at: position(name) })).filter((f) => f.at >= 0),
    modificationMerchantReference: position(ADYEN_MODIFICATION_MERCHANT_REFERENCE),
  };
}

/**
 * A decimal amount of the report (`"1234.50"`, major units) as integer ISO minor units, exactly, by string
 * arithmetic (never a float). Empty: undefined. More decimals than ISO gives the currency (a fraction of a
 * minor unit), a malformed number or a currency Adyen does not list: refused, naming the column.
 */
export function adyenDecimalToMinor(gateway: string, line: string, column: string, value: string, currency: string): number | undefined {
  const text = value.trim();
  if (text === '') return undefined;
  if (!pspSupportsCurrency(ADYEN_CURRENCIES, currency))
    throw new PspRecordError(gateway, line, column, `currency ${JSON.stringify(currency)} is not one Adyen lists`);
  const m = /^([-+]?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!m) throw new PspRecordError(gateway, line, column, 'is not a decimal amount');
  const exponent = currencyExponent(currency);
  const fraction = withoutTrailingZeros(m[3] ?? '');
  if (fraction.length > exponent) throw new PspRecordError(gateway, line, column, `has more decimals than ${currency}'s ${exponent}`);
  const minor = Number(m[2] + fraction.padEnd(exponent, '0'));
  // Beyond what any command may ask (and digits that may be a card number's): no amount of ours.
  if (!Number.isSafeInteger(minor) || minor > MAX_MINOR_AMOUNT) throw new PspRecordError(gateway, line, column, 'is out of range');
  return m[1] === '-' && minor !== 0 ? -minor : minor;
}

/** `Creation Date` (`YYYY-MM-DD HH:MM:SS`) in `TimeZone` (an abbreviation, or an offset `+01:00` / `GMT+1`) → epoch ms. */
export function adyenCreationTime(gateway: string, line: string, date: string, zone: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(date.trim());
  if (!m) throw new PspRecordError(gateway, line, ADYEN_SETTLEMENT_COLUMNS.creationDate, 'is not YYYY-MM-DD HH:MM:SS');
  const z = zone.trim().toUpperCase();
  let offset = Object.prototype.hasOwnProperty.call(ADYEN_TIME_ZONES, z) ? ADYEN_TIME_ZONES[z] : undefined;
  const numeric = /^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$/.exec(z);
  if (offset === undefined && numeric) offset = (numeric[1] === '-' ? -1 : 1) * (Number(numeric[2]) * 60 + Number(numeric[3] ?? 0));
  if (offset === undefined)
    throw new PspRecordError(gateway, line, ADYEN_SETTLEMENT_COLUMNS.timeZone, `time zone ${JSON.stringify(zone.slice(0, 8))} is not one the reader knows`);
  const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return utc - offset * 60_000;
}

/** A currency column: an ISO 4217 code (upper case in Adyen's reports, read in any case), else refused naming the column. */
function currencyCode(gateway: string, line: string, column: string, value: string): string {
  const read = readPspCurrency(value.trim());
  if ('problem' in read) throw new PspRecordError(gateway, line, column, read.problem);
  return read.code;
}

/**
 * One data line of the report → a record. `line` names it in errors (`batch <n>:<line number>`, never its
 * content). Gross amount from Gross Credit or Gross Debit (GC) in Gross Currency, positive; net = Net
 * Credit − Net Debit (NC), signed; fee = the sum of the fee columns present (NC); our operation id from
 * Modification Merchant Reference (a capture's or refund's own reference), else Merchant Reference.
 */
export function parseAdyenSettlementLine(gateway: string, line: string, header: AdyenSettlementHeader, fields: readonly string[]): PspRecord {
  const get = (key: Column): string => (fields[header.index[key]] ?? '').trim();
  const type = get('type');
  if (type === '') throw new PspRecordError(gateway, line, ADYEN_SETTLEMENT_COLUMNS.type, 'is empty');
  let kind: PspRecordKind | undefined = adyenSettlementKind(type);
  if (kind === undefined) {
    countUnmappedType('adyen');
    kind = 'other';
  }
  const grossCurrency = get('grossCurrency');
  const netCurrency = get('netCurrency');
  const currency = grossCurrency !== '' ? currencyCode(gateway, line, ADYEN_SETTLEMENT_COLUMNS.grossCurrency, grossCurrency) : undefined;
  const settlement = netCurrency !== '' ? currencyCode(gateway, line, ADYEN_SETTLEMENT_COLUMNS.netCurrency, netCurrency) : undefined;
  const gross = (column: 'grossCredit' | 'grossDebit'): number | undefined =>
    currency === undefined ? undefined : adyenDecimalToMinor(gateway, line, ADYEN_SETTLEMENT_COLUMNS[column], get(column), currency);
  const net = (column: 'netCredit' | 'netDebit'): number | undefined =>
    settlement === undefined ? undefined : adyenDecimalToMinor(gateway, line, ADYEN_SETTLEMENT_COLUMNS[column], get(column), settlement);
  const grossAmount = gross('grossCredit') ?? gross('grossDebit');
  const netCredit = net('netCredit');
  const netDebit = net('netDebit');
  const netAmount = netCredit === undefined && netDebit === undefined ? undefined : (netCredit ?? 0) - (netDebit ?? 0);
  let fee: number | undefined;
  if (settlement !== undefined) {
    for (const column of header.fees) {
      const value = adyenDecimalToMinor(gateway, line, column.name, fields[column.at] ?? '', settlement);
      if (value !== undefined) fee = (fee ?? 0) + value;
    }
  }
  // A batch-level line (Fee, MerchantPayout) has no gross side: its amount is the net movement.
  const amount = grossAmount ?? (netAmount === undefined ? undefined : Math.abs(netAmount));
  const amountCurrency = grossAmount !== undefined ? currency : settlement;
  if (amount === undefined || amountCurrency === undefined)
    throw new PspRecordError(gateway, line, ADYEN_SETTLEMENT_COLUMNS.grossCredit, 'no amount in the gross or net columns');
  const occurredAt = adyenCreationTime(gateway, line, get('creationDate'), get('timeZone'));
  // Adyen's own references (16 digits): never card data, and never scanned as such (some pass a Luhn check).
  const pspReference = get('pspReference') || undefined;
  const modificationReference = get('modificationReference') || undefined;
  const merchantReference = safeReference(get('merchantReference'));
  const modificationMerchantReference =
    header.modificationMerchantReference >= 0 ? safeReference(fields[header.modificationMerchantReference]?.trim()) : undefined;
  // The batch number names the line too: like the type, no card data in it reaches the line id.
  const batch = safeReference(get('batchNumber')) ?? '';
  const pspType = safePspType(type);
  const record: PspRecord = {
    lineId: pspReference !== undefined ? `${pspReference}:${pspType}:${modificationReference ?? ''}:${batch}` : `batch:${batch}:${line}`,
    kind,
    status: 'succeeded',
    amount: Math.abs(amount),
    currency: amountCurrency,
    occurredAt,
    pspType,
  };
  if (kind !== 'other') {
    const operationId = operationIdFromReference(modificationMerchantReference) ?? operationIdFromReference(merchantReference);
    if (operationId !== undefined) record.operationId = operationId;
    if (pspReference !== undefined) record.pspReference = pspReference;
    if (modificationReference !== undefined) record.modificationReference = modificationReference;
    if (merchantReference !== undefined) record.merchantReference = merchantReference;
  }
  if (fee !== undefined) record.fee = fee;
  if (netAmount !== undefined) record.net = netAmount;
  if (settlement !== undefined && settlement !== record.currency) record.settlementCurrency = settlement;
  return record;
}

/** The report base: `report_base_url`, else Adyen's Customer Area for the environment `base_url` names, else `base_url`. */
export function adyenReportBase(gateway: GatewayConfig): string {
  if (gateway.reportBaseUrl !== '') return gateway.reportBaseUrl.replace(/\/+$/, '');
  if (/^https:\/\/checkout-test\.adyen\.com(\/|$)/.test(gateway.baseUrl)) return 'https://ca-test.adyen.com';
  if (/^https:\/\/[^/]*-checkout-live[^/]*\.adyenpayments\.com(\/|$)/.test(gateway.baseUrl)) return 'https://ca-live.adyen.com';
  return gateway.baseUrl;
}

/** The download URL of batch `n`'s Settlement details report. */
export function adyenSettlementReportUrl(gateway: GatewayConfig, batch: number): string {
  return `${adyenReportBase(gateway)}/reports/download/MerchantAccount/${encodeURIComponent(gateway.merchantAccount)}/settlement_detail_report_batch_${batch}.csv`;
}

interface AdyenCursor {
  b: number;
  l: number;
  last: number;
}

function cursorOf(raw: string | undefined, gateway: string): AdyenCursor | undefined {
  if (raw === undefined || raw === '') return undefined;
  try {
    const c = object(JSON.parse(raw) as unknown);
    if (c && [c.b, c.l, c.last].every((v) => Number.isSafeInteger(v) && (v as number) >= 0))
      return { b: c.b as number, l: c.l as number, last: c.last as number };
  } catch {
    // named below
  }
  throw new PspRecordError(gateway, 'cursor', 'cursor', 'is not a cursor of the Adyen reader');
}

/** The reader of one configured Adyen gateway. */
export function adyenRecordReader(gateway: GatewayConfig, http: ReconciliationHttp): PspRecordReader {
  const headers = {
    authorization: `Basic ${Buffer.from(`${gateway.reportUsername}:${gateway.reportPassword}`, 'utf8').toString('base64')}`,
    accept: 'text/csv',
  };
  const report = (batch: number): string => `settlement_detail_report_batch_${batch}.csv`;

  /**
   * The time of the batch's first data line whose `Creation Date` reads (undefined: none does, or an empty report),
   * or null when the batch does not exist. A line whose time does not read is the run's to set aside, not a reason
   * to stop finding batches.
   */
  async function firstLineTime(batch: number): Promise<number | undefined | null> {
    let header: AdyenSettlementHeader | undefined;
    const joiner = new CsvRecordJoiner();
    let lineNo = 0;
    try {
      for await (const physical of http.lines({ path: adyenSettlementReportUrl(gateway, batch), headers })) {
        lineNo += 1;
        const text = joined(joiner, physical, `${report(batch)}:${lineNo}`);
        if (text === undefined) continue;
        if (header === undefined) {
          header = parseAdyenSettlementHeader(gateway.name, report(batch), text);
          continue;
        }
        if (text.trim() === '') continue;
        const at = lineTime(`${report(batch)}:${lineNo}`, header, parseCsvRecord(text));
        if (at !== undefined) return at;
      }
      return undefined;
    } catch (err) {
      if (err instanceof GatewayError && err.kind === 'not_found') return null;
      throw err;
    }
  }

  /**
   * `joiner.push(physical)`. A quoted field that runs past what the joiner holds cannot be told from a report cut
   * short: the run stops there, as for a quote left open at the end, with a `PspRecordError` naming the report's
   * line (never its content), not the joiner's `RangeError`.
   */
  function joined(joiner: CsvRecordJoiner, physical: string, where: string): string | undefined {
    try {
      return joiner.push(physical);
    } catch (err) {
      if (err instanceof RangeError) throw new PspRecordError(gateway.name, where, 'line', err.message, { cause: err });
      throw err;
    }
  }

  /** A data line's `Creation Date`, or undefined when it does not read. */
  function lineTime(where: string, header: AdyenSettlementHeader, fields: readonly string[]): number | undefined {
    try {
      return adyenCreationTime(gateway.name, where, (fields[header.index.creationDate] ?? '').trim(), (fields[header.index.timeZone] ?? '').trim());
    } catch {
      return undefined;
    }
  }

  async function exists(batch: number): Promise<boolean> {
    return (await firstLineTime(batch)) !== null;
  }

  /** The newest batch that exists (0: none yet): doubling until one is missing, then halving. */
  async function newestBatch(): Promise<number> {
    if (!(await exists(1))) return 0;
    let low = 1;
    let high = 2;
    while (await exists(high)) {
      low = high;
      high *= 2;
    }
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      if (await exists(mid)) low = mid;
      else high = mid;
    }
    return low;
  }

  /** The first batch worth reading for the window: back from the newest while batches start inside or after it, plus one. */
  async function firstBatch(window: ReconciliationWindow, last: number): Promise<number> {
    let batch = last;
    while (batch > 1) {
      const first = await firstLineTime(batch);
      if (first !== undefined && first !== null && first < window.from) break;
      batch -= 1;
    }
    return Math.max(1, batch - 1);
  }

  return {
    async *read(window: ReconciliationWindow, rawCursor?: string): AsyncIterable<PspRecordPage> {
      let cursor = cursorOf(rawCursor, gateway.name);
      if (cursor === undefined) {
        const last = await newestBatch();
        if (last === 0) return;
        cursor = { b: await firstBatch(window, last), l: 0, last };
      }
      for (let batch = cursor.b; batch <= cursor.last; batch += 1) {
        const skip = batch === cursor.b ? cursor.l : 0;
        const joiner = new CsvRecordJoiner();
        let header: AdyenSettlementHeader | undefined;
        let lineNo = 0;
        let records: PspRecord[] = [];
        let unreadable: UnreadablePspLine[] = [];
        let missing = false;
        try {
          for await (const physical of http.lines({ path: adyenSettlementReportUrl(gateway, batch), headers })) {
            lineNo += 1;
            const text = joined(joiner, physical, `${report(batch)}:${lineNo}`);
            if (text === undefined) continue;
            if (header === undefined) {
              header = parseAdyenSettlementHeader(gateway.name, report(batch), text);
              continue;
            }
            if (lineNo <= skip || text.trim() === '') continue;
            const where = `${report(batch)}:${lineNo}`;
            const fields = parseCsvRecord(text);
            const record = readLine(
              () => parseAdyenSettlementLine(gateway.name, where, header as AdyenSettlementHeader, fields),
              unreadable,
              () => where,
            );
            if (record === undefined) {
              // A batch holds other windows' lines too: one whose time reads outside this window is theirs to report.
              // One whose time does not read may be any window's: every run that reads this batch meets it, and the
              // runner reports it once (`undated`).
              const at = lineTime(where, header, fields);
              if (at === undefined) unreadable[unreadable.length - 1].undated = true;
              else if (at < window.from || at >= window.to) unreadable.pop();
            } else if (record.occurredAt >= window.from && record.occurredAt < window.to) records.push(record);
            if (records.length + unreadable.length >= ADYEN_PAGE_SIZE) {
              yield { records, cursor: JSON.stringify({ b: batch, l: lineNo, last: cursor.last }), ...(unreadable.length > 0 ? { unreadable } : {}) };
              records = [];
              unreadable = [];
            }
          }
        } catch (err) {
          // A batch between two that exist is missing (removed, or not readable by this user): nothing to read there.
          if (!(err instanceof GatewayError && err.kind === 'not_found')) throw err;
          missing = true;
        }
        if (joiner.open) throw new PspRecordError(gateway.name, `${report(batch)}:${lineNo}`, 'line', 'a quoted field is not closed at the end of the report');
        if (missing && records.length > 0) throw new PspRecordError(gateway.name, report(batch), 'report', 'disappeared while it was read');
        yield { records, cursor: JSON.stringify({ b: batch + 1, l: 0, last: cursor.last }), ...(unreadable.length > 0 ? { unreadable } : {}) };
      }
    },
  };
}

/** `GatewayDefinition.reconciliation` of Adyen. */
export const adyenReconciliation: ReconciliationSupport = {
  source: 'Settlement details report (`settlement_detail_report_batch_<n>.csv`), report user',
  reader: adyenRecordReader,
  types: ADYEN_SETTLEMENT_TYPES.map((type) => ({ pspType: `\`${type}\``, reads: `${ADYEN_SETTLEMENT_TYPE_MAP[type]} succeeded` })),
  // The report lists settled money only (captures, refunds, disputes, batch bookings): an authorization or a
  // cancellation never has a line, so its operation is never missing there.
  unlistedCommands: ['authorize', 'revalidate', 'cancel'],
};
