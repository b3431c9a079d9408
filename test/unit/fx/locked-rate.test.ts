import { FxLock, atLockedRate, atLockedRateAfter } from '../../../src/fx/fx-lock';

/*
 * Partial captures and refunds of a converted payment: each part is what it adds to the running total at the
 * locked rate, so the parts never add up to more than the converted whole, and all of them to exactly it.
 */

const usdJpy: FxLock = {
  rate: '150.3',
  source: 'configured',
  at: '2026-03-01T11:30:00.000Z',
  from: { amount: 100, currency: 'USD' },
  to: { amount: 150, currency: 'JPY' },
};

const usdEur: FxLock = {
  rate: '0.9137',
  source: 'configured',
  at: '2026-03-01T11:30:00.000Z',
  from: { amount: 12345, currency: 'USD' },
  to: { amount: 11280, currency: 'EUR' },
};

/** Each part converted after the ones before it. */
function parts(lock: FxLock, amounts: number[]): number[] {
  let before = 0;
  return amounts.map((amount) => {
    const part = atLockedRateAfter(lock, amount, before);
    before += amount;
    return part;
  });
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

test('USD 0.33 + 0.33 + 0.34 of an authorization of ¥150 (USD 1.00 at 150.3): ¥50 + ¥49 + ¥51, exactly the authorization, not ¥151', () => {
  // Each on its own: 49.599 → 50, 49.599 → 50, 51.102 → 51: ¥151, one yen more than the PSP holds.
  expect([33, 33, 34].map((a) => atLockedRate(usdJpy, a))).toEqual([50, 50, 51]);
  expect(parts(usdJpy, [33, 33, 34])).toEqual([50, 49, 51]);
  expect(sum(parts(usdJpy, [33, 33, 34]))).toBe(usdJpy.to.amount);
});

test('USD 50.00 + 73.45 refunded of a sale of EUR 112.80 (USD 123.45 at 0.9137): EUR 45.68 + 67.12, the whole sale, not a cent short', () => {
  expect(atLockedRate(usdEur, 5000) + atLockedRate(usdEur, 7345)).toBe(11279);
  expect(parts(usdEur, [5000, 7345])).toEqual([4568, 6712]);
});

test('any split of the whole adds up to exactly the converted whole; any prefix to no more than it; each part within a cent of its own conversion', () => {
  for (const split of [
    [1, 1, 1, 12342],
    [6172, 6173],
    [4115, 4115, 4115],
    [1234, 2345, 3456, 4567, 743],
    Array.from({ length: 15 }, (_, i) => (i < 14 ? 823 : 12345 - 823 * 14)),
  ]) {
    expect(sum(split)).toBe(12345);
    const converted = parts(usdEur, split);
    expect(sum(converted)).toBe(usdEur.to.amount);
    converted.forEach((c, i) => {
      expect(Math.abs(c - (split[i] * 9137) / 10000)).toBeLessThan(1);
      expect(sum(converted.slice(0, i + 1))).toBeLessThanOrEqual(usdEur.to.amount);
    });
  }
});

test('USD 0.06 (A) in flight, 0.06 (B) sent counting it, A fails, the rest (C, USD 123.39): B + C are exactly the EUR 112.80 held, not 112.81', () => {
  const a = atLockedRateAfter(usdEur, 6, 0);
  const b = atLockedRateAfter(usdEur, 6, { amount: 6, converted: a });
  expect([a, b]).toEqual([5, 6]);
  // A failed: C adds to B's USD 0.06 only, and shares the conversion with what B was sent for (EUR 0.06), not
  // with f(0.06) = EUR 0.05 (that gave EUR 112.75: 112.81 in all).
  const c = atLockedRateAfter(usdEur, 12339, { amount: 6, converted: b });
  expect(c).toBe(11274);
  expect(b + c).toBe(atLockedRate(usdEur, 6 + 12339));
  expect(b + c).toBe(usdEur.to.amount);
});

test('without failures, what the earlier parts were sent for is the conversion of their total: the same parts as before', () => {
  let before = { amount: 0, converted: 0 };
  for (const [amount, expected] of [
    [33, 30],
    [33, 30],
    [12279, 11220],
  ] as const) {
    const converted = atLockedRateAfter(usdEur, amount, before);
    expect(converted).toBe(atLockedRateAfter(usdEur, amount, before.amount));
    expect(converted).toBe(expected);
    before = { amount: before.amount + amount, converted: before.converted + converted };
  }
  expect(before.converted).toBe(usdEur.to.amount);
});

test('a part that comes to nothing after the parts before it converts to 0 (USD 0.01 after 0.05: EUR 0.05 − 0.05), for the caller to refuse', () => {
  expect(atLockedRateAfter(usdEur, 1, { amount: 5, converted: 5 })).toBe(0);
});

test('with nothing before, a part is converted on its own, as the whole is', () => {
  expect(atLockedRateAfter(usdEur, 12345, 0)).toBe(11280);
  expect(atLockedRateAfter(usdEur, 5000, 0)).toBe(atLockedRate(usdEur, 5000));
});

test('at a gateway step (whole rupiah at Adyen) the parts stay multiples of the step and still add up', () => {
  const eurIdr: FxLock = {
    rate: '17123.45',
    source: 'configured',
    at: '2026-03-01T11:30:00.000Z',
    from: { amount: 1999, currency: 'EUR' },
    to: { amount: 34229800, currency: 'IDR' },
    step: 100,
  };
  const converted = parts(eurIdr, [333, 333, 1333]);
  expect(converted.every((c) => c % 100 === 0)).toBe(true);
  expect(sum(converted)).toBe(34229800);
});
