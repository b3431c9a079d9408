import type { GatewayConfig } from '../gateway-config';
import { GatewayError } from '../../errors';
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

function problem(field: string, gateway: string): GatewayError {
  return new GatewayError('invalid_request', gateway, `simulator report: a line's ${field} is missing or malformed`, { field });
}

/** One line of `GET /v1/reports/lines` as a `PspRecord`. @throws GatewayError naming the malformed field. */
export function simulatorRecord(value: unknown, gateway: string): PspRecord {
  if (typeof value !== 'object' || value === null) throw problem('line', gateway);
  const line = value as Record<string, unknown>;
  const text = (k: string, required: boolean): string | undefined => {
    const v = line[k];
    if (typeof v === 'string' && v.length > 0) return v;
    if (required || (v !== undefined && v !== null)) throw problem(k, gateway);
    return undefined;
  };
  const int = (k: string): number => {
    const v = line[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw problem(k, gateway);
    return v;
  };
  const status = line.status;
  if (status !== 'succeeded' && status !== 'failed' && status !== 'pending') throw problem('status', gateway);
  const type = text('type', true) as string;
  const payment = text('payment', true) as string;
  const objectId = text('object_id', true) as string;
  const reference = text('reference', false);
  const currency = readPspCurrency(text('currency', true));
  if ('problem' in currency) throw problem('currency', gateway);
  const amount = int('amount');
  if (amount < 0) throw problem('amount', gateway);
  return {
    lineId: text('id', true) as string,
    kind: kindOf(type),
    status,
    ...(reference !== undefined ? { operationId: reference } : {}),
    pspReference: payment,
    ...(objectId !== payment ? { modificationReference: objectId } : {}),
    amount,
    currency: currency.code,
    fee: int('fee'),
    net: int('net'),
    occurredAt: int('created_ms'),
    pspType: type,
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
          try {
            records.push(simulatorRecord(line, gateway.name));
          } catch (err) {
            if (!(err instanceof GatewayError && err.details.field !== undefined)) throw err;
            // Set aside: the lines behind it are read. Named by its id, else its place in the page.
            const id = (line as { id?: unknown } | null)?.id;
            const where = typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : `data[${i}] after ${next ?? 'the start'}`;
            unreadable.push({ line: where, field: err.details.field, problem: 'is missing or malformed' });
          }
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
