import { convertMinor, convertMinorDown, invertRate, parseRate } from '../../../src/fx/exact-rate';
import { FxLock, atLockedRate, atLockedRateAfter, lockAt, orderAmountWithin } from '../../../src/fx/fx-lock';
import { heldInOrderCurrency } from '../../../src/fx/locked-rate';
import { channelCommand } from '../../support/fixtures';

/*
 * A converted authorization the PSP approved only in part holds its confirmed amount in the converted
 * currency. The most of the order's currency a capture may take is the largest amount whose conversion at the
 * locked rate is within it: converted forward again (alone, or as the last of several parts) it never exceeds
 * what the PSP holds, and one unit more would.
 */

function lock(from: string, to: string, rate: string, orderAmount: number, step = 1): FxLock {
  return lockAt({ rate: parseRate(rate), source: 'configured', at: Date.parse('2026-03-01T11:30:00Z') }, orderAmount, from, to, step);
}

const LOCKS: [string, FxLock][] = [
  ['USD → JPY at 150.3 (exponent 2 → 0)', lock('USD', 'JPY', '150.3', 1_000_000)],
  ['JPY → USD at 0.0066 (0 → 2)', lock('JPY', 'USD', '0.0066', 5_000_000)],
  ['USD → EUR at 0.9137 (2 → 2)', lock('USD', 'EUR', '0.9137', 12_345)],
  ['EUR → USD at 1000/913 (2 → 2, an inverted rate)', lock('EUR', 'USD', '1000/913', 98_765)],
  ['USD → KWD at 0.3071 (2 → 3)', lock('USD', 'KWD', '0.3071', 777_777)],
  ['KWD → JPY at 488.123 (3 → 0)', lock('KWD', 'JPY', '488.123', 123_456)],
  ['KWD → EUR at 2.9871 (3 → 2)', lock('KWD', 'EUR', '2.9871', 1_234_567)],
  ['EUR → KWD at 0.3347 in tens of fils (Stripe, step 10)', lock('EUR', 'KWD', '0.3347', 543_210, 10)],
  ['USD → IDR at 15873.5 in whole rupiah (Adyen, step 100)', lock('USD', 'IDR', '15873.5', 45_678, 100)],
];

describe.each(LOCKS)('orderAmountWithin: %s', (_name, l) => {
  // Every confirmed amount below the converted one up to 3,000 minor units, and a spread above that.
  const helds = [
    ...Array.from({ length: Math.min(3000, l.to.amount - 1) }, (_, i) => i + 1),
    ...Array.from({ length: 200 }, (_, i) => Math.floor(((i + 1) * (l.to.amount - 1)) / 200)),
  ].filter((h) => h > 0 && h < l.to.amount);

  test('a capture of exactly the amount converted back converts to no more than the PSP holds; one unit more converts to more than it', () => {
    for (const held of helds) {
      const a = orderAmountWithin(l, held);
      expect(a).toBeGreaterThanOrEqual(0);
      expect(a).toBeLessThanOrEqual(l.from.amount);
      expect(atLockedRateAfter(l, a, 0)).toBeLessThanOrEqual(held);
      // The largest that fits: never a unit refused that the PSP's amount covers.
      expect(atLockedRate(l, a + 1)).toBeGreaterThan(held);
      // At least the amount converted back and rounded down.
      expect(a).toBeGreaterThanOrEqual(convertMinorDown(held - (held % (l.step ?? 1)), l.to.currency, l.from.currency, invertRate(parseRate(l.rate))));
    }
  });

  test('captures in parts that add up to it are sent for no more than the PSP holds in all', () => {
    for (const held of helds.filter((_, i) => i % 7 === 0)) {
      const a = orderAmountWithin(l, held);
      const first = Math.floor(a / 3);
      const second = Math.floor(a / 3);
      const parts = [first, second, a - first - second];
      let before = 0;
      let sent = 0;
      for (const p of parts) {
        sent += atLockedRateAfter(l, p, before);
        before += p;
      }
      expect(sent).toBe(atLockedRate(l, a));
      expect(sent).toBeLessThanOrEqual(held);
    }
  });
});

test('the capture of the whole order after a partial approval would be sent for more than the PSP holds; the amount converted back fits', () => {
  // USD 123.45 at 0.9137 asked EUR 112.80; the PSP approved EUR 56.40.
  const l = lock('USD', 'EUR', '0.9137', 12_345);
  expect(l.to.amount).toBe(11_280);
  expect(atLockedRate(l, 12_345)).toBe(11_280);
  // 5640 / 0.9137 = 6172.70…, but 61.73 × 0.9137 = 56.4025… rounds to EUR 56.40, within what is held; 61.74 is 56.41.
  expect(orderAmountWithin(l, 5_640)).toBe(6_173);
  expect(atLockedRate(l, 6_173)).toBe(5_640);
  expect(atLockedRate(l, 6_174)).toBe(5_641);
});

describe('convertMinorDown', () => {
  test.each([
    // amount, from, to, rate, step, want
    [12_345, 'USD', 'EUR', '0.9137', 1, 11_279], // 112.795965 → 112.79 (convertMinor: 112.80)
    [100, 'USD', 'JPY', '150.3', 1, 150], // 150.3 → 150
    [1, 'USD', 'KWD', '0.3071', 1, 3], // 3.071 fils → 3
    [1, 'USD', 'KWD', '0.3071', 10, 0], // in tens of fils: 0
    [999, 'JPY', 'USD', '0.0066', 1, 659], // 6.5934 cents → 6.59
    [-12_345, 'USD', 'EUR', '0.9137', 1, -11_279], // toward zero
  ])('%p %s → %s at %s (step %p) is %p', (amount, from, to, rate, step, want) =>
    expect(convertMinorDown(amount as number, from as string, to as string, parseRate(rate as string), step as number)).toBe(want),
  );

  test('never above the half-even conversion, and never more than one step below it', () => {
    const r = parseRate('0.9137');
    for (let amount = 0; amount < 5000; amount++) {
      const down = convertMinorDown(amount, 'USD', 'EUR', r);
      const near = convertMinor(amount, 'USD', 'EUR', r);
      expect(down).toBeLessThanOrEqual(near);
      expect(near - down).toBeLessThanOrEqual(1);
    }
  });

  test('refuses what convertMinor refuses', () => {
    expect(() => convertMinorDown(1.5, 'USD', 'EUR', parseRate('1'))).toThrow(RangeError);
    expect(() => convertMinorDown(1, 'USD', 'EUR', parseRate('1'), 0)).toThrow(RangeError);
  });
});

describe('heldInOrderCurrency', () => {
  const l = lock('USD', 'EUR', '0.9137', 12_345);
  const auth = (confirmedAmount?: number, confirmedCurrency?: string) => ({
    payment: channelCommand('authorize', {}, { amount: 12_345, currency: 'USD' }).payment,
    ...(confirmedAmount !== undefined ? { confirmedAmount } : {}),
    ...(confirmedCurrency !== undefined ? { confirmedCurrency } : {}),
  });

  test('a partial approval in the converted currency: the largest order amount whose conversion at the locked rate it covers', () => {
    expect(heldInOrderCurrency(auth(5_640, 'EUR'), l)).toBe(6_173);
    expect(heldInOrderCurrency(auth(5_640), l)).toBe(6_173);
  });

  test('the whole converted amount approved (or nothing confirmed): the order amount asked', () => {
    expect(heldInOrderCurrency(auth(11_280, 'EUR'), l)).toBe(12_345);
    expect(heldInOrderCurrency(auth(), l)).toBe(12_345);
    // 11279 / 0.9137 = 12344.3…: a cent below, and so are captures against it.
    expect(heldInOrderCurrency(auth(11_279, 'EUR'), l)).toBe(12_344);
  });

  test('a confirmed amount in the order currency counts as it is; one in another currency leaves the amount asked', () => {
    expect(heldInOrderCurrency(auth(10_000, 'USD'), l)).toBe(10_000);
    expect(heldInOrderCurrency(auth(10, 'GBP'), l)).toBe(12_345);
  });
});
