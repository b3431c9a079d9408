import { MoneyRefusalError } from '../../errors/money-refusal-error';
import { PspRecordError } from '../../errors/psp-record-error';
import { readPspCurrency } from '../../money/currencies';
import type {
  PspRecord,
  PspRecordKind,
  PspRecordPage,
  PspRecordReader,
  PspRecordStatus,
  ReconciliationHttp,
  ReconciliationSupport,
  ReconciliationWindow,
  UnreadablePspLine,
} from '../../reconciliation/psp-record';
import { countUnmappedType } from '../unmapped-type-metric';
import type { GatewayConfig } from '../gateway-config';
import { object, readLine, reconciliationAnswer, safePspType, safeReference, text } from '../reconciliation-answer';
import { fromCybersourceAmount } from './cybersource-currencies';
import { JSON_HEADERS, buildTransactionDetailsRequest, operationIdFromReference } from './cybersource-requests';
import { cybersourceReasonStatus } from './cybersource-reason-codes';
import { pspIsoTimeMs } from '../psp-time';
import { CybersourceStatusMeaning, cybersourceStatusMeaning } from './cybersource-status-map';

/**
 * Cybersource's own records for reconciliation: the Transaction Search API (`POST /tss/v2/searches`,
 * https://developer.cybersource.com/docs/cybs/en-us/txn-search/developer/all/rest/txn-search.html) over
 * `submitTimeUtc` in the window, sorted by time then id, paged by `offset`/`limit` (a stable order: nothing
 * new is submitted inside a past window). Each transaction summary lists the services it ran
 * (`applicationInformation.applications[].name`, e.g. `ics_auth` + `ics_bill` for a sale); each service
 * that moves money becomes a record, our operation id from `clientReferenceInformation.code`.
 *
 * A summary names only `totalAmount`, the amount asked: for a partial approval (reason code 110) the reader
 * asks the transaction's details (`GET /tss/v2/transactions/{id}`) for `authorizedAmount`, the amount held and
 * captured, so a partial approval is not reported as an amount mismatch.
 *
 * Cursor (opaque to the runner): `{"o":<offset of the next page>}`.
 */

/** Transaction summaries per page. */
export const CYBERSOURCE_PAGE_LIMIT = 500;

/**
 * The services ("applications") a transaction summary names, as Cybersource's "Services Returned by the
 * API" lists them: what each means for reconciliation; `null`: a service that moves no money (risk,
 * authentication, address checks, tokens), no record of its own.
 */
export const CYBERSOURCE_APPLICATIONS = {
  ics_auth: 'authorization',
  ics_bill: 'capture',
  ics_credit: 'refund',
  ics_auth_reversal: 'cancel',
  ics_void: 'cancel',
  ics_ecp_debit: 'capture',
  ics_ecp_credit: 'refund',
  ics_pinless_debit: 'capture',
  ics_pinless_debit_reversal: 'cancel',
  ics_pinless_debit_validate: null,
  ics_score: null,
  ics_decision: null,
  ics_decision_early: null,
  ics_dm_event: null,
  ics_risk_update: null,
  ics_dav: null,
  ics_export: null,
  ics_ipgeo: null,
  ics_pa_enroll: null,
  ics_pa_validate: null,
  ics_tax: null,
  ics_dcc: null,
  ics_create_isv: null,
  pay_subscription_create: null,
  pay_subscription_update: null,
  pay_subscription_delete: null,
} as const satisfies Readonly<Record<string, PspRecordKind | null>>;
export type CybersourceApplication = keyof typeof CYBERSOURCE_APPLICATIONS;

/** A status meaning as a reconciliation record's status (an unsettled one is pending). */
const RECORD_STATUS: Readonly<Record<CybersourceStatusMeaning, PspRecordStatus>> = {
  SUCCESS: 'succeeded',
  FAIL: 'failed',
  PENDING: 'pending',
  ACTION_REQUIRED: 'pending',
  ERROR: 'failed',
};

/**
 * Whether one service succeeded: first its reason code (else reply flag) when it names a result the rCode
 * misstates (`cybersource-reason-codes.ts`, the status inquiry's reading too): held for review or a soft
 * decline (funds held, the merchant decides) is pending, a partial approval succeeded; then `rCode` `1`
 * succeeded, `0` declined, `-1` error (failed); without an rCode, the reason code: `100` succeeded, any
 * other failed; with neither, pending (the search does not say yet).
 */
export function cybersourceApplicationStatus(rCode: string | undefined, reasonCode: string | undefined, rFlag?: string): PspRecordStatus {
  const byReason = cybersourceReasonStatus(reasonCode, rFlag);
  if (byReason !== undefined) return RECORD_STATUS[cybersourceStatusMeaning(byReason)];
  if (rCode === '1') return 'succeeded';
  if (rCode === '0' || rCode === '-1') return 'failed';
  if (reasonCode === undefined) return 'pending';
  return reasonCode === '100' ? 'succeeded' : 'failed';
}

/**
 * The summary's currency, when it names one: an ISO 4217 code (upper case at Cybersource, read in any case),
 * else refused naming the field; absent (or empty) is none, for a line that states no amount.
 */
function currencyOf(gateway: string, id: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const read = readPspCurrency(value);
  if ('problem' in read) throw new PspRecordError(gateway, id, 'orderInformation.amountDetails.currency', read.problem);
  return read.code;
}

/**
 * One transaction summary → its records (one per service that moves money, `<id>:<service>`). Amount from
 * `orderInformation.amountDetails.totalAmount` (decimal, major units) in its `currency`; a reversal or
 * void that names no amount reads 0. Card details of the summary never reach a record.
 */
export function parseCybersourceSummary(gateway: string, summary: Record<string, unknown>): PspRecord[] {
  const id = text(summary.id);
  if (id === undefined) throw new PspRecordError(gateway, '?', 'id', 'is missing');
  const submitted = text(summary.submitTimeUtc);
  // Read as the answers and the status inquiry read it (pspIsoTimeMs): a time without its Z is not read in our zone.
  const occurredAt = pspIsoTimeMs(submitted);
  if (occurredAt === undefined) throw new PspRecordError(gateway, id, 'submitTimeUtc', 'is not a time');
  const applications = object(summary.applicationInformation)?.applications;
  if (!Array.isArray(applications)) return [];
  const amountDetails = object(object(summary.orderInformation)?.amountDetails) ?? {};
  const code = safeReference(object(summary.clientReferenceInformation)?.code);
  const operationId = operationIdFromReference(code);
  const records: PspRecord[] = [];
  for (const raw of applications) {
    const app = object(raw);
    const name = text(app?.name);
    if (app === undefined || name === undefined) continue;
    let kind: PspRecordKind | null;
    if (Object.prototype.hasOwnProperty.call(CYBERSOURCE_APPLICATIONS, name)) {
      kind = CYBERSOURCE_APPLICATIONS[name as CybersourceApplication];
    } else {
      countUnmappedType('cybersource');
      kind = 'other';
    }
    if (kind === null) continue;
    const currency = currencyOf(gateway, id, amountDetails.currency);
    const total = text(amountDetails.totalAmount);
    let amount = 0;
    if (total !== undefined && currency !== undefined) {
      try {
        amount = Math.abs(fromCybersourceAmount(total, currency, 'orderInformation.amountDetails.totalAmount'));
      } catch (err) {
        if (err instanceof MoneyRefusalError) throw new PspRecordError(gateway, id, err.field, err.refusal, { cause: err });
        throw err;
      }
    } else if (kind !== 'cancel' && kind !== 'other') {
      throw new PspRecordError(gateway, id, 'orderInformation.amountDetails', 'names no amount and currency');
    }
    const record: PspRecord = {
      lineId: `${id}:${safePspType(name)}`,
      kind,
      status: cybersourceApplicationStatus(text(app.rCode), text(app.reasonCode), text(app.rFlag)),
      amount,
      currency: currency ?? '',
      occurredAt,
      pspType: safePspType(name),
      pspReference: id,
    };
    if (operationId !== undefined) record.operationId = operationId;
    if (code !== undefined) record.merchantReference = code;
    const reconciliationId = safeReference(app.reconciliationId);
    if (reconciliationId !== undefined) record.modificationReference = reconciliationId;
    records.push(record);
  }
  return records;
}

/**
 * Whether a summary is a partial approval (reason code 110, `PARTIAL_AUTHORIZED`, on the summary or one of its
 * services): its `totalAmount` is the amount asked, not the amount authorized and captured.
 */
export function isCybersourcePartialApproval(summary: Record<string, unknown>): boolean {
  const info = object(summary.applicationInformation);
  const reasons = [info, ...(Array.isArray(info?.applications) ? info.applications.map(object) : [])];
  return (
    info?.status === 'PARTIAL_AUTHORIZED' ||
    reasons.some((r) => r !== undefined && cybersourceReasonStatus(text(r.reasonCode), undefined) === 'PARTIAL_AUTHORIZED')
  );
}

/**
 * The records of a partial approval with the amount its Transaction Details say was authorized
 * (`orderInformation.amountDetails.authorizedAmount`) on its authorization and capture (a partially approved sale
 * captures what was approved). Details without that amount make the line unreadable (a `PspRecordError`), never
 * the amount asked.
 */
export function withAuthorizedAmount(gateway: string, records: PspRecord[], details: Record<string, unknown>): PspRecord[] {
  const id = records[0]?.pspReference ?? '?';
  if (text(details.id) !== undefined && details.id !== id) throw new PspRecordError(gateway, id, 'id', 'the details are of another transaction');
  const amounts = object(object(details.orderInformation)?.amountDetails);
  const authorized = text(amounts?.authorizedAmount);
  if (authorized === undefined) {
    throw new PspRecordError(gateway, id, 'orderInformation.amountDetails.authorizedAmount', 'is missing from the details of a partial approval');
  }
  const currency = currencyOf(gateway, id, amounts?.currency) ?? records.find((r) => r.currency !== '')?.currency;
  if (currency === undefined) throw new PspRecordError(gateway, id, 'orderInformation.amountDetails.currency', 'is missing');
  let amount: number;
  try {
    amount = Math.abs(fromCybersourceAmount(authorized, currency, 'orderInformation.amountDetails.authorizedAmount'));
  } catch (err) {
    if (err instanceof MoneyRefusalError) throw new PspRecordError(gateway, id, err.field, err.refusal, { cause: err });
    throw err;
  }
  return records.map((r) => (r.kind === 'authorization' || r.kind === 'capture' ? { ...r, amount, currency } : r));
}

/** `2026-11-01T00:00:00Z`: whole seconds, as the search's query language writes a time. */
function queryTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** The search of one page: `submitTimeUtc` from the window's start (inclusive) to its end (exclusive), oldest first. */
export function cybersourceSearchBody(window: ReconciliationWindow, offset: number): Record<string, unknown> {
  return {
    save: false,
    name: 'payment-bridge reconciliation',
    timezone: 'UTC',
    query: `submitTimeUtc:[${queryTime(Math.floor(window.from / 1000) * 1000)} TO ${queryTime(Math.ceil(window.to / 1000) * 1000)}}`,
    offset,
    limit: CYBERSOURCE_PAGE_LIMIT,
    sort: 'submitTimeUtc:asc,id:asc',
  };
}

/** The search request of one page, as `ReconciliationHttp.send` takes it (signed by the transformer). */
export function cybersourceSearchRequest(
  window: ReconciliationWindow,
  offset: number,
): { method: 'POST'; path: string; headers: Record<string, string>; body: string } {
  return { method: 'POST', path: '/tss/v2/searches', headers: { ...JSON_HEADERS }, body: JSON.stringify(cybersourceSearchBody(window, offset)) };
}

/** `GET /tss/v2/transactions/{id}` of a summary, as `ReconciliationHttp.send` takes it; an id no path can carry is refused. */
function detailsRequest(gateway: string, id: string | undefined): { method: 'GET'; path: string; headers: Record<string, string> } {
  try {
    const request = buildTransactionDetailsRequest(id ?? '', gateway);
    return { method: 'GET', path: request.path, headers: { ...request.headers } };
  } catch (cause) {
    throw new PspRecordError(gateway, id ?? '?', 'id', 'is not a transaction id', { cause });
  }
}

function cursorOf(raw: string | undefined, gateway: string): number {
  if (raw === undefined || raw === '') return 0;
  try {
    const c = object(JSON.parse(raw) as unknown);
    if (c && Number.isSafeInteger(c.o) && (c.o as number) >= 0) return c.o as number;
  } catch {
    // named below
  }
  throw new PspRecordError(gateway, 'cursor', 'cursor', 'is not a cursor of the Cybersource reader');
}

/** The reader of one configured Cybersource gateway. */
export function cybersourceRecordReader(gateway: GatewayConfig, http: ReconciliationHttp): PspRecordReader {
  return {
    async *read(window: ReconciliationWindow, rawCursor?: string): AsyncIterable<PspRecordPage> {
      let offset = cursorOf(rawCursor, gateway.name);
      for (;;) {
        const answer = await http.send(cybersourceSearchRequest(window, offset));
        const body = reconciliationAnswer(gateway.name, 'POST /tss/v2/searches', answer);
        const summaries = object(body._embedded)?.transactionSummaries ?? [];
        if (!Array.isArray(summaries)) throw new PspRecordError(gateway.name, 'POST /tss/v2/searches', '_embedded.transactionSummaries', 'is not a list');
        const unreadable: UnreadablePspLine[] = [];
        const read: PspRecord[] = [];
        for (const [i, raw] of summaries.entries()) {
          const s = object(raw) ?? { id: `summary[${offset + i}]` };
          const where = () => `summary[${offset + i}]`;
          const parsed = readLine(() => parseCybersourceSummary(gateway.name, s), unreadable, where) ?? [];
          const inWindow = parsed.filter((r) => r.occurredAt >= window.from && r.occurredAt < window.to);
          if (inWindow.length > 0 && isCybersourcePartialApproval(s) && inWindow.some((r) => r.kind === 'authorization' || r.kind === 'capture')) {
            const request = readLine(() => detailsRequest(gateway.name, inWindow[0].pspReference), unreadable, where);
            if (request === undefined) continue;
            // A failed details request stops the read like a failed search: the run retries from this page.
            const details = reconciliationAnswer(gateway.name, 'GET /tss/v2/transactions/{id}', await http.send(request));
            read.push(...(readLine(() => withAuthorizedAmount(gateway.name, inWindow, details), unreadable, where) ?? []));
          } else {
            read.push(...inWindow);
          }
        }
        const records = read;
        offset += summaries.length;
        const total = typeof body.totalCount === 'number' ? body.totalCount : undefined;
        const done = summaries.length < CYBERSOURCE_PAGE_LIMIT || (total !== undefined && offset >= total);
        yield { records, cursor: JSON.stringify({ o: offset }), ...(unreadable.length > 0 ? { unreadable } : {}) };
        if (done) return;
      }
    },
  };
}

/** `GatewayDefinition.reconciliation` of Cybersource. */
export const cybersourceReconciliation: ReconciliationSupport = {
  source: 'POST /tss/v2/searches (Transaction Search), and GET /tss/v2/transactions/{id} (Transaction Details) for the amount a partial approval authorized',
  reader: cybersourceRecordReader,
  types: (Object.keys(CYBERSOURCE_APPLICATIONS) as CybersourceApplication[]).map((name) => {
    const kind: PspRecordKind | null = CYBERSOURCE_APPLICATIONS[name];
    return { pspType: `\`${name}\``, reads: kind === null ? 'no record (moves no money)' : `${kind}; status from rCode / reason code` };
  }),
};
