import { CURRENCY_CODES, currencyExponent, isKnownCurrency } from '../../../src/money/currencies';
import {
  MAX_MINOR_AMOUNT,
  decimalMajorToMinor,
  formatMinor,
  majorToMinor,
  minorToDecimalMajor,
  parseMajor,
  withoutTrailingZeros,
} from '../../../src/money/minor-units';

describe('currencyExponent', () => {
  it.each<[string, number]>([
    ['JPY', 0],
    ['KRW', 0],
    ['USD', 2],
    ['EUR', 2],
    ['KWD', 3],
    ['BHD', 3],
    ['CLF', 4],
  ])('gives %s %d decimals', (code, exp) => {
    expect(currencyExponent(code)).toBe(exp);
  });

  it.each(['XYZ', 'usd', '', 'toString', '__proto__'])('throws a RangeError for the unknown code %p', (code) => {
    expect(() => currencyExponent(code)).toThrow(RangeError);
    expect(isKnownCurrency(code)).toBe(false);
  });

  it('lists every known code once, sorted, as three capital letters', () => {
    expect([...CURRENCY_CODES].sort()).toEqual(CURRENCY_CODES);
    expect(new Set(CURRENCY_CODES).size).toBe(CURRENCY_CODES.length);
    for (const code of CURRENCY_CODES) expect(code).toMatch(/^[A-Z]{3}$/);
  });
});

describe('formatMinor', () => {
  it.each<[number, string, string]>([
    [1000, 'JPY', '1000'],
    [0, 'JPY', '0'],
    [1000, 'USD', '10.00'],
    [1050, 'USD', '10.50'],
    [5, 'USD', '0.05'],
    [0, 'USD', '0.00'],
    [1500, 'KWD', '1.500'],
    [1, 'KWD', '0.001'],
    [12345, 'CLF', '1.2345'],
    [7, 'CLF', '0.0007'],
    [-5, 'USD', '-0.05'],
    [-1050, 'USD', '-10.50'],
    [-3, 'JPY', '-3'],
    [MAX_MINOR_AMOUNT, 'USD', '999999999999.99'],
    [Number.MAX_SAFE_INTEGER, 'USD', '90071992547409.91'],
  ])('formats %d %s as %s', (minor, currency, text) => {
    expect(formatMinor(minor, currency)).toBe(text);
  });

  it('refuses a fractional or unsafe amount', () => {
    expect(() => formatMinor(10.5, 'USD')).toThrow(RangeError);
    expect(() => formatMinor(Number.MAX_SAFE_INTEGER + 1, 'USD')).toThrow(RangeError);
    expect(() => formatMinor(Number.NaN, 'USD')).toThrow(RangeError);
  });

  it('refuses an unknown currency', () => {
    expect(() => formatMinor(100, 'XYZ')).toThrow(RangeError);
  });
});

describe('parseMajor', () => {
  it.each<[string, string, number]>([
    ['1000', 'JPY', 1000],
    ['10.00', 'USD', 1000],
    ['10.5', 'USD', 1050],
    ['10.50', 'USD', 1050],
    ['10.500', 'USD', 1050],
    ['10', 'USD', 1000],
    ['0.05', 'USD', 5],
    ['007.50', 'USD', 750],
    [' 10.00 ', 'USD', 1000],
    ['1.500', 'KWD', 1500],
    ['0.001', 'KWD', 1],
    ['1.2345', 'CLF', 12345],
    ['-0.05', 'USD', -5],
    ['-10.50', 'USD', -1050],
    ['1000.0', 'JPY', 1000],
    ['999999999999.99', 'USD', MAX_MINOR_AMOUNT],
    ['90071992547409.91', 'USD', Number.MAX_SAFE_INTEGER],
  ])('parses %p %s as %d', (text, currency, minor) => {
    expect(parseMajor(text, currency)).toBe(minor);
  });

  it('gives plain zero, never negative zero', () => {
    expect(Object.is(parseMajor('-0.00', 'USD'), 0)).toBe(true);
    expect(Object.is(parseMajor('-0', 'JPY'), 0)).toBe(true);
  });

  it.each<[string, string]>([
    ['10.001', 'USD'],
    ['10.5', 'JPY'],
    ['1.0001', 'KWD'],
    ['1.00001', 'CLF'],
  ])('refuses %p: more decimals than %s has', (text, currency) => {
    expect(() => parseMajor(text, currency)).toThrow(RangeError);
  });

  it.each(['', 'abc', '10,00', '1e3', '+10', '.5', '10.', '10.0.0', '- 1', 'Infinity', 'NaN', '0x10'])('refuses the non-decimal %p', (text) => {
    expect(() => parseMajor(text, 'USD')).toThrow(RangeError);
  });

  it('refuses a value beyond the safe integer range', () => {
    expect(() => parseMajor('90071992547409.92', 'USD')).toThrow(RangeError);
    expect(() => parseMajor('99999999999999999999', 'JPY')).toThrow(RangeError);
  });

  it('refuses an unknown currency', () => {
    expect(() => parseMajor('10.00', 'XYZ')).toThrow(RangeError);
  });

  it.each<[number, string]>([
    [0, 'USD'],
    [1, 'USD'],
    [99, 'USD'],
    [123456789, 'USD'],
    [-42, 'USD'],
    [0, 'JPY'],
    [987654321, 'JPY'],
    [1, 'KWD'],
    [1234567, 'KWD'],
    [1, 'CLF'],
    [98765, 'CLF'],
    [MAX_MINOR_AMOUNT, 'KWD'],
  ])('round-trips %d %s through formatMinor and parseMajor', (minor, currency) => {
    expect(parseMajor(formatMinor(minor, currency), currency)).toBe(minor);
  });
});

describe('withoutTrailingZeros', () => {
  it('drops only trailing zeros', () => {
    expect(withoutTrailingZeros('1200')).toBe('12');
    expect(withoutTrailingZeros('0000')).toBe('');
    expect(withoutTrailingZeros('1002')).toBe('1002');
    expect(withoutTrailingZeros('')).toBe('');
  });

  it('reads a PSP decimal with 300 000 zeros before its last digit in one pass: refused for its decimals, not hung on them', () => {
    expect(() => parseMajor(`1.${'0'.repeat(300_000)}1`, 'EUR')).toThrow(/decimals/);
    expect(parseMajor(`1.5${'0'.repeat(300_000)}`, 'EUR')).toBe(150);
  });
});

describe('majorToMinor', () => {
  it.each<[number, string, number]>([
    [10, 'USD', 1000],
    [10, 'JPY', 10],
    [1, 'KWD', 1000],
    [1, 'CLF', 10000],
    [0, 'USD', 0],
    [-5, 'USD', -500],
    [999_999_999_999, 'USD', 99_999_999_999_900],
  ])('turns %d %s into %d', (major, currency, minor) => {
    expect(majorToMinor(major, currency)).toBe(minor);
  });

  it('refuses a fractional major amount', () => {
    expect(() => majorToMinor(10.5, 'USD')).toThrow(RangeError);
  });

  it('refuses an amount whose minor units exceed the maximum', () => {
    expect(() => majorToMinor(1_000_000_000_000, 'USD')).toThrow(RangeError);
    expect(() => majorToMinor(MAX_MINOR_AMOUNT + 1, 'JPY')).toThrow(RangeError);
    expect(() => majorToMinor(-1_000_000_000_000, 'USD')).toThrow(RangeError);
    expect(() => majorToMinor(Number.MAX_SAFE_INTEGER, 'KWD')).toThrow(RangeError);
  });

  it('accepts the maximum itself', () => {
    expect(majorToMinor(MAX_MINOR_AMOUNT, 'JPY')).toBe(MAX_MINOR_AMOUNT);
  });

  it('refuses an unknown currency', () => {
    expect(() => majorToMinor(1, 'XYZ')).toThrow(RangeError);
  });

  it('keeps the maximum below 2^53 so integer arithmetic never loses a unit', () => {
    expect(Number.isSafeInteger(MAX_MINOR_AMOUNT * 10)).toBe(true);
  });
});

describe('decimalMajorToMinor and minorToDecimalMajor (the MIB types amounts as floats)', () => {
  it.each<[number, string, number]>([
    [12.99, 'USD', 1299],
    [0.1, 'USD', 10],
    [0.29, 'USD', 29],
    [1.005, 'KWD', 1005],
    [100, 'JPY', 100],
    [-3.5, 'EUR', -350],
  ])('reads %d %s as %d minor units, from its decimal text, never as a float product', (major, currency, minor) => {
    expect(decimalMajorToMinor(major, currency)).toBe(minor);
    expect(minorToDecimalMajor(minor, currency)).toBe(major);
  });

  it.each<[number, string]>([
    [0.001, 'USD'],
    [1.5, 'JPY'],
    [1e-7, 'EUR'],
    [1e21, 'USD'],
    [Number.NaN, 'USD'],
    [Number.POSITIVE_INFINITY, 'USD'],
    [9_000_000_000_000.5, 'USD'],
  ])('refuses %d %s (more decimals than the currency, out of range, or no number)', (major, currency) => {
    expect(() => decimalMajorToMinor(major, currency)).toThrow(RangeError);
  });

  it('says every amount of the safe range exactly in JSON', () => {
    expect(JSON.stringify(minorToDecimalMajor(MAX_MINOR_AMOUNT, 'USD'))).toBe('999999999999.99');
    expect(JSON.stringify(minorToDecimalMajor(1, 'CLF'))).toBe('0.0001');
  });
});
