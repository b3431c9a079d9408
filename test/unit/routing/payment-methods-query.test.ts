import { MethodsQueryError, methodsQueryOf } from '../../../src/routing/payment-method-options';

const refusal = (fn: () => unknown): MethodsQueryError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof MethodsQueryError) return err;
    throw err;
  }
  throw new Error('not refused');
};

describe('methodsQueryOf: a payment method query amount in the bus unit', () => {
  it.each<[number, string, number]>([
    [19.99, 'EUR', 1999],
    [40, 'EUR', 4000],
    [0, 'EUR', 0],
    [1.234, 'KWD', 1234],
    [1500, 'JPY', 1500],
    [19.989999999999998, 'EUR', 1999],
  ])('a major-unit bus: %p %s is %i minor units, exactly', (amount, currency, minor) => {
    expect(methodsQueryOf({ amount, currency, gateway_account: 'acme' }, 'major')).toMatchObject({ amount: minor, currency });
  });

  it('reads the currency case-blind before converting (1.5 kwd is 1500 fils)', () => {
    expect(methodsQueryOf({ order: { amount: 1.5, currency: 'kwd', gateway_account: 'acme' } }, 'major')).toMatchObject({ amount: 1500, currency: 'KWD' });
  });

  it.each<[unknown, string, string]>([
    [19.999, 'EUR', 'must have at most 2 decimals in EUR (major units)'],
    [1.5, 'JPY', 'must have at most no decimals in JPY (major units)'],
    [0.0001, 'KWD', 'must have at most 3 decimals in KWD (major units)'],
    [99_999_999_999_999, 'EUR', 'must be at most 999999999999.99 EUR'],
    [100_000_000_000, 'KWD', 'must be at most 99999999999.999 KWD'],
    [-1, 'EUR', 'must be a number of major units, at least 0'],
    ['19.99', 'EUR', 'must be a number of major units, at least 0'],
  ])('a major-unit bus: refuses %p %s naming the amount, never rounded', (amount, currency, reason) => {
    expect(refusal(() => methodsQueryOf({ order: { amount, currency, gateway_account: 'acme' } }, 'major'))).toMatchObject({ field: 'order.amount', reason });
  });

  it('a minor-unit query (the default, the CLI) still takes integers only', () => {
    expect(methodsQueryOf({ amount: 1999, currency: 'EUR', gateway_account: 'acme' })).toMatchObject({ amount: 1999 });
    expect(refusal(() => methodsQueryOf({ amount: 19.99, currency: 'EUR', gateway_account: 'acme' }))).toMatchObject({
      field: 'amount',
      reason: 'must be an integer of minor units',
    });
  });
});
