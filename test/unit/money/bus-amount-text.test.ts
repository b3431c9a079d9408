import { amountBoundWhy, amountBoundWhyForBus, amountForBus, amountWithUnitForBus } from '../../../src/money/bus-amount-text';

describe('amounts in refusal texts, in the unit the bus uses', () => {
  it.each<[number | bigint, string, string]>([
    [1999, 'EUR', '19.99'],
    [2000, 'EUR', '20.00'],
    [5, 'EUR', '0.05'],
    [0, 'EUR', '0.00'],
    [-1999, 'EUR', '-19.99'],
    [1234, 'KWD', '1.234'],
    [1500, 'JPY', '1500'],
    [30000, 'CLF', '3.0000'],
    [999_999_999_999_99, 'USD', '999999999999.99'],
    // A sum of parts past the safe range (a bigint): still exact, never a float.
    [12345678901234567891n, 'EUR', '123456789012345678.91'],
  ])('tells %p minor units of %s to a major-unit bus as %s, formatted from the integer', (minor, currency, text) => {
    expect(amountForBus(minor, currency, 'major')).toBe(text);
  });

  it('tells a minor-unit bus the integer as it is', () => {
    expect(amountForBus(1999, 'EUR', 'minor')).toBe('1999');
    expect(amountForBus(12345678901234567891n, 'EUR', 'minor')).toBe('12345678901234567891');
  });

  it('leaves an amount of a currency we do not know, or no integer, as it is', () => {
    expect(amountForBus(1999, 'XYZ', 'major')).toBe('1999');
    expect(amountForBus(19.5, 'EUR', 'major')).toBe('19.5');
  });

  it('names the unit: the currency on a major-unit bus, minor units (of the currency) on a minor-unit one', () => {
    expect(amountWithUnitForBus(500000, 'EUR', 'major')).toBe('5000.00 EUR');
    expect(amountWithUnitForBus(150000, 'KWD', 'major', false)).toBe('150.000 KWD');
    expect(amountWithUnitForBus(500000, 'EUR', 'minor')).toBe('500000 minor units of EUR');
    expect(amountWithUnitForBus(500000, 'EUR', 'minor', false)).toBe('500000 minor units');
    expect(amountWithUnitForBus(500000, 'XYZ', 'major')).toBe('500000 minor units of XYZ');
  });
});

describe("a routing rule's amount bound, in the unit the bus uses", () => {
  it('keeps the minor-unit words the routing record holds', () => {
    expect(amountBoundWhy(1999, '>', 'max_amount.EUR', 1500)).toBe('amount 1999 > max_amount.EUR 1500');
  });

  it.each<[string, string, string]>([
    ['amount 1999 > max_amount.EUR 1500', 'EUR', 'amount 19.99 EUR > max_amount.EUR 15.00 EUR'],
    ['amount 99 < min_amount.JPY 100', 'JPY', 'amount 99 JPY < min_amount.JPY 100 JPY'],
    ['amount 1999 > max_amount.KWD 1500', 'KWD', 'amount 1.999 KWD > max_amount.KWD 1.500 KWD'],
    // A one-number bound compares the payment's amount in the payment's currency.
    ['amount 501 > max_amount 500', 'USD', 'amount 5.01 USD > max_amount 5.00 USD'],
  ])('tells %p to a major-unit bus (%s) as %p', (why, currency, told) => {
    expect(amountBoundWhyForBus(why, currency, 'major')).toBe(told);
  });

  it('leaves every other reason, every reason to a minor-unit bus, and an unknown currency, as they are', () => {
    expect(amountBoundWhyForBus('currency JPY not in [EUR]', 'JPY', 'major')).toBe('currency JPY not in [EUR]');
    expect(amountBoundWhyForBus('amount bounds name no JPY bound', 'JPY', 'major')).toBe('amount bounds name no JPY bound');
    expect(amountBoundWhyForBus('amount 1999 > max_amount.EUR 1500', 'EUR', 'minor')).toBe('amount 1999 > max_amount.EUR 1500');
    expect(amountBoundWhyForBus('amount 1999 > max_amount 1500', 'XYZ', 'major')).toBe('amount 1999 > max_amount 1500');
  });
});
