import { convertMinor, formatRate, invertRate, parseRate, roundHalfEven } from '../../../src/fx/exact-rate';

describe('roundHalfEven', () => {
  test.each([
    [5n, 2n, 2n], // 2.5 → 2 (even)
    [7n, 2n, 4n], // 3.5 → 4 (even)
    [-5n, 2n, -2n],
    [-7n, 2n, -4n],
    [251n, 100n, 3n], // 2.51 → 3
    [249n, 100n, 2n],
    [250n, 100n, 2n],
    [350n, 100n, 4n],
    [1n, 3n, 0n],
    [2n, 3n, 1n],
    [0n, 7n, 0n],
  ])('%p / %p rounds to %p', (n, d, want) => expect(roundHalfEven(n, d)).toBe(want));
});

describe('parseRate / formatRate', () => {
  test('decimals and fractions read exactly, reduced', () => {
    expect(parseRate('0.912')).toEqual({ num: 114n, den: 125n });
    expect(parseRate('1000/1093')).toEqual({ num: 1000n, den: 1093n });
    expect(formatRate(parseRate('0.10'))).toBe('0.1');
    expect(formatRate(parseRate('151.2345'))).toBe('151.2345');
    expect(formatRate(invertRate(parseRate('0.912')))).toBe('125/114');
    expect(formatRate(invertRate(parseRate('0.8')))).toBe('1.25');
  });
  test.each(['0', '-1', '1e3', 'abc', '0/5', '1/0', ''])('refuses %p', (t) => expect(() => parseRate(t)).toThrow(RangeError));
});

describe('convertMinor', () => {
  test('USD → EUR at 0.912: 100.00 USD is 91.20 EUR', () => expect(convertMinor(10000, 'USD', 'EUR', parseRate('0.912'))).toBe(9120));
  test('half-even on the target exponent: ties go to the even cent', () => {
    // 0.125 USD × 1 → 12.5 cents... expressed as 25 cents × 0.5 = 12.5 → 12; 75 × 0.5 = 37.5 → 38
    expect(convertMinor(25, 'USD', 'EUR', parseRate('0.5'))).toBe(12);
    expect(convertMinor(75, 'USD', 'EUR', parseRate('0.5'))).toBe(38);
    expect(convertMinor(1, 'USD', 'EUR', parseRate('0.5'))).toBe(0);
    expect(convertMinor(3, 'USD', 'EUR', parseRate('0.5'))).toBe(2);
  });
  test('to a zero-decimal currency: 10.00 EUR at 162.35 JPY is 1624 JPY (1623.5, tie to even)', () =>
    expect(convertMinor(1000, 'EUR', 'JPY', parseRate('162.35'))).toBe(1624));
  test('to a zero-decimal currency, a tie to even going down: 2.50 USD at 1 → 2 JPY', () => expect(convertMinor(250, 'USD', 'JPY', parseRate('1'))).toBe(2));
  test('from a zero-decimal currency: 1000 JPY at 0.0061 EUR is 6.10 EUR', () => expect(convertMinor(1000, 'JPY', 'EUR', parseRate('0.0061'))).toBe(610));
  test('to a three-decimal currency: 10.00 EUR at 0.33305 KWD is 3.330 KWD (3.3305, tie to even)', () =>
    expect(convertMinor(1000, 'EUR', 'KWD', parseRate('0.33305'))).toBe(3330));
  test('from a three-decimal currency: 1.005 KWD at 3 → 3.02 EUR (3.015, tie to even)', () =>
    expect(convertMinor(1005, 'KWD', 'EUR', parseRate('3'))).toBe(302));
  test('exact where a float is not: 0.1 × 3 cents stays exact', () => {
    expect(convertMinor(30, 'USD', 'EUR', parseRate('0.1'))).toBe(3);
    expect(convertMinor(999_999_999_999, 'USD', 'EUR', parseRate('1.000000000001'))).toBe(1_000_000_000_000);
  });
  test('a refund at the locked rate gives the original converted amount back', () => {
    const rate = parseRate('0.9137');
    const full = convertMinor(12345, 'USD', 'EUR', rate);
    expect(convertMinor(12345, 'USD', 'EUR', rate)).toBe(full);
  });
  test('refuses a non-integer amount', () => expect(() => convertMinor(1.5, 'USD', 'EUR', parseRate('1'))).toThrow(RangeError));
});

describe('convertMinor to a gateway step', () => {
  test('rounds half-even to multiples of the step, not of the ISO minor unit: 6138.929 fils at step 10 is 6140', () =>
    expect(convertMinor(1999, 'USD', 'KWD', parseRate('0.3071'), 10)).toBe(6140));
  test('a tie at the step goes to the even multiple: 6145 → 6140, 6155 → 6160', () => {
    expect(convertMinor(6145, 'KWD', 'KWD', parseRate('1'), 10)).toBe(6140);
    expect(convertMinor(6155, 'KWD', 'KWD', parseRate('1'), 10)).toBe(6160);
  });
  test('step 1 is the ISO rounding', () => expect(convertMinor(1999, 'USD', 'KWD', parseRate('0.3071'), 1)).toBe(6139));
  test.each([0, -10, 2.5])('refuses step %p', (step) => expect(() => convertMinor(1, 'USD', 'EUR', parseRate('1'), step)).toThrow(RangeError));
});
