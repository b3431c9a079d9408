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

describe('simulator report lines', () => {
  it('reads the currency as an upper-case ISO 4217 code', () => {
    expect(simulatorRecord(reportLine(), 'simulator')).toMatchObject({ amount: 2550, currency: 'EUR' });
  });

  it.each<[unknown]>([['EURO'], ['eu'], ['XXX1'], ['XXX'], ['ZZZ'], [''], [978]])('refuses the currency %p, no ISO 4217 code, naming the field', (currency) => {
    expect(() => simulatorRecord(reportLine({ currency }), 'simulator')).toThrow(
      expect.objectContaining({ kind: 'invalid_request', message: expect.stringContaining("a line's currency is missing or malformed") }),
    );
  });
});
