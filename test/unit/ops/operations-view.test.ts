import { OperationRecord } from '../../../src/ledger/ledger';
import { operationView } from '../../../src/ops/operations-view';
import { TEST_PANS } from '../../support/fixtures';

/** Epoch milliseconds that pass the Luhn check (as one timestamp in ten does). */
const LUHN_VALID_NOW = 1718000000006;

const record = (overrides: Partial<OperationRecord> = {}): OperationRecord => ({
  id: 'op-1',
  command: 'authorize',
  channel: 'web',
  state: 'SENT',
  payment: {
    gateway: 'simulator',
    gateway_account: 'acme-eu',
    gateway_key: 'tok_1',
    amount: 1999,
    currency: 'EUR',
    order_id: 'ORD-1',
    method_details: {
      method: 'card',
      card: { bin: '411111', last_four_digits: '1111', brand: 'visa', holder_name: 'Jane Doe', expiration_month: 12, expiration_year: 2030 },
    },
    custom_attributes: { note: 'gift' },
  },
  receivedAt: LUHN_VALID_NOW,
  createdAt: LUHN_VALID_NOW,
  updatedAt: LUHN_VALID_NOW,
  attempts: 1,
  ...overrides,
});

describe('the operator view of an operation', () => {
  it('keeps times and amounts as numbers, even a time that passes the Luhn check', () => {
    const view = operationView(record(), LUHN_VALID_NOW + 5000);
    expect(view).toMatchObject({ createdAt: LUHN_VALID_NOW, updatedAt: LUHN_VALID_NOW, ageMs: 5000, amount: 1999, currency: 'EUR' });
  });

  it('shows of the card only its brand and last four digits, and no free text', () => {
    // A fixed now: an age of the clock's time could itself contain the digits looked for ("78203003302").
    const view = operationView(record({ reason: `declined ${TEST_PANS[0]}` }), LUHN_VALID_NOW + 5000);
    expect(view).toMatchObject({ method: 'card', cardBrand: 'visa', lastFour: '1111' });
    const text = JSON.stringify(view);
    for (const hidden of ['411111', 'Jane Doe', '2030', 'gift', TEST_PANS[0]]) expect(text).not.toContain(hidden);
  });

  it('reports what the PSP confirmed when it did', () => {
    expect(operationView(record({ confirmedAmount: 1500, confirmedCurrency: 'USD' }))).toMatchObject({ amount: 1500, currency: 'USD' });
  });

  it('notes next to the state what the marks say: a FAILED one the PSP did after all, a success it undid', () => {
    const late = operationView(record({ command: 'capture', state: 'FAILED', succeededAfterFailure: { by: 'adj_1', amount: 1999, currency: 'EUR' } }));
    expect(late).toMatchObject({ state: 'FAILED', stateNote: 'done at the PSP after all (19.99 EUR)' });
    expect(operationView(record({ command: 'refund', state: 'SUCCEEDED', undoneBy: 'adj_2' })).stateNote).toBe('undone by the PSP since');
    expect(operationView(record({ state: 'FAILED' })).stateNote).toBeUndefined();
  });

  it('shows the gateway the operation went to after a failover, not the one the command named', () => {
    const routed = record({
      routing: { gateway: 'adyen', requested: 'simulator', candidates: ['simulator', 'adyen'], index: 1, decisions: [] },
    });
    expect(operationView(routed).gateway).toBe('adyen');
  });

  it('never labels the asked amount with a currency the PSP named without an amount', () => {
    expect(operationView(record({ confirmedCurrency: 'USD' }))).toMatchObject({ amount: 1999, currency: 'EUR' });
  });
});
