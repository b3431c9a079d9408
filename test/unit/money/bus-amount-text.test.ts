import { amountForBus, amountWithUnitForBus } from '../../../src/money/bus-amount-text';

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
