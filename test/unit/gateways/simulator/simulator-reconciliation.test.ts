import { PspRecordError } from '../../../../src/errors/psp-record-error';
import { simulatorRecord } from '../../../../src/gateways/simulator/simulator-reconciliation';

/** One line of the simulator's `GET /v1/reports/lines`, as its report endpoint writes it. */
function reportLine(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'line_1',
    type: 'capture',
    status: 'succeeded',
    payment: 'auth_1',
    object_id: 'cap_1',
    reference: 'op-cap-1',
    amount: 2550,
    currency: 'eur',
    fee: 30,
    net: 2520,
    created_ms: 1764400000000,
    ...fields,
  };
}

/** What `simulatorRecord` refused `line` with: where, the field, the problem. */
function refusal(line: unknown): { line: string; field: string; explanation: string } {
  try {
    simulatorRecord(line, 'simulator');
  } catch (err) {
    if (!(err instanceof PspRecordError)) throw err;
    return { line: err.line, field: err.field, explanation: err.explanation };
  }
  throw new Error('read');
}

describe('simulator report lines', () => {
  it('reads the currency as an upper-case ISO 4217 code', () => {
    expect(simulatorRecord(reportLine(), 'simulator')).toMatchObject({ amount: 2550, currency: 'EUR' });
  });

  it.each<[unknown]>([['EURO'], ['eu'], ['XXX1'], ['XXX'], ['ZZZ'], [''], [978]])('refuses the currency %p, no ISO 4217 code, naming the field', (currency) => {
    expect(refusal(reportLine({ currency }))).toEqual({
      line: 'line_1',
      field: 'currency',
      explanation: expect.stringContaining('is not an ISO 4217 currency code'),
    });
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    ['a missing currency', { currency: undefined }, 'currency', 'is missing'],
    ['an amount with a fraction', { amount: 25.5 }, 'amount', 'is not a whole number of minor units'],
    ['an amount as a string', { amount: '2550' }, 'amount', 'is not a number (a string)'],
    ['a negative amount', { amount: -1 }, 'amount', 'is negative'],
    ['a missing fee', { fee: undefined }, 'fee', 'is missing'],
    ['a time that is no whole number', { created_ms: 1.5 }, 'created_ms', 'is not a whole number of epoch milliseconds'],
    ['an unknown status', { status: 'settled-ish' }, 'status', 'is not succeeded, failed or pending'],
    ['a missing status', { status: undefined }, 'status', 'is missing'],
    ['an empty type', { type: '' }, 'type', 'is empty'],
    ['a payment that is no string', { payment: 42 }, 'payment', 'is not a string (a number)'],
    ['a reference that is an object', { reference: { id: 'op' } }, 'reference', 'is not a string (an object)'],
  ])('names the field and the problem of %s, never the value', (_what, fields, field, explanation) => {
    const refused = refusal(reportLine(fields));
    expect(refused).toEqual({ line: 'line_1', field, explanation });
    // The generic text it once gave for every field.
    expect(refused.explanation).not.toBe('is missing or malformed');
    for (const value of Object.values(fields)) if (value !== undefined) expect(refused.explanation).not.toContain(JSON.stringify(value));
  });

  it('names a line without a usable id as "?" (the reader names it by its place) and one that is no object', () => {
    expect(refusal(reportLine({ id: undefined }))).toEqual({ line: '?', field: 'id', explanation: 'is missing' });
    expect(refusal(reportLine({ id: 'x'.repeat(65), amount: -1 }))).toEqual({ line: '?', field: 'amount', explanation: 'is negative' });
    expect(refusal(['line'])).toEqual({ line: '?', field: 'line', explanation: 'is not a JSON object (an array)' });
  });
});

describe('card numbers in a report line', () => {
  it('reads no operation id from a reference holding one, and reports its type as unreadable_type', () => {
    const record = simulatorRecord(reportLine({ reference: 'op 4111 1111 1111 1111', type: '5555555555554444' }), 'simulator');
    expect(record.operationId).toBeUndefined();
    expect(record).toMatchObject({ kind: 'other', pspType: 'unreadable_type' });
    expect(simulatorRecord(reportLine(), 'simulator')).toMatchObject({ operationId: 'op-cap-1', pspType: 'capture' });
  });
});

describe('a line time no Date can hold', () => {
  it('is refused naming created_ms, never read into a time the report cannot write', () => {
    expect(refusal(reportLine({ created_ms: 9_000_000_000_000_000 }))).toEqual({
      line: 'line_1',
      field: 'created_ms',
      explanation: 'is not a time from 1970 to the year 9999',
    });
  });
});
