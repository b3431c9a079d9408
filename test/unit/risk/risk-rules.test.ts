import { Payment } from '../../../src/contracts/payment-command';
import { RiskConfig, decideRisk, riskSignals } from '../../../src/risk/risk-rules';

const base: RiskConfig = {
  rules: [],
  amountThresholds: { EUR: 100000 },
  velocity: [{ by: 'email', windowMs: 3600000, maxCount: 3 }],
  newTokenAmounts: { EUR: 50000 },
  tokenMemoryMs: 1000,
  reviewWindowMs: 1000,
  hashKey: 'k',
};
const payment = (over: Partial<Payment> = {}): Payment => ({
  gateway: 'sim',
  gateway_account: 'acme',
  gateway_key: 'tok_1',
  amount: 1000,
  currency: 'EUR',
  ...over,
});

describe('risk signals', () => {
  test('high_amount fires at the threshold of the payment currency only', () => {
    expect(riskSignals(base, payment({ amount: 100000 }), { velocity: {} }).map((s) => s.signal)).toEqual(['high_amount']);
    expect(riskSignals(base, payment({ amount: 99999 }), { velocity: {} })).toEqual([]);
    expect(riskSignals(base, payment({ amount: 10_000_000, currency: 'JPY' }), { velocity: {} })).toEqual([]);
  });
  test('velocity fires above max_count, not at it', () => {
    expect(riskSignals(base, payment(), { velocity: { 'email:3600000': 3 } })).toEqual([]);
    expect(riskSignals(base, payment(), { velocity: { 'email:3600000': 4 } }).map((s) => s.signal)).toEqual(['velocity_email']);
  });
  test('a count above what its counter keeps (the largest max_count of its limits, plus one) is told as a floor, not as the count', () => {
    const detail = (config: RiskConfig, n: number) => riskSignals(config, payment(), { velocity: { 'email:3600000': n } }).map((s) => s.detail);
    expect(detail(base, 4)).toEqual(['4 authorizations by email within 3600000 ms (max 3)']);
    expect(detail(base, 5)).toEqual(['at least 5 authorizations by email within 3600000 ms (max 3)']);
    // Limits sharing the counter: it keeps the larger max_count + 1, so counts up to that are exact for both.
    const shared: RiskConfig = { ...base, velocity: [...base.velocity, { by: 'email', windowMs: 3600000, maxCount: 6 }] };
    expect(detail(shared, 7)).toEqual(['7 authorizations by email within 3600000 ms (max 3)', '7 authorizations by email within 3600000 ms (max 6)']);
    expect(detail(shared, 8)).toEqual([
      'at least 8 authorizations by email within 3600000 ms (max 3)',
      'at least 8 authorizations by email within 3600000 ms (max 6)',
    ]);
  });
  test('country mismatch: billing vs card or IP country, case-insensitive; absent countries do not fire', () => {
    const attrs = (a: Record<string, string>) => payment({ custom_attributes: a });
    expect(riskSignals(base, attrs({ billing_country: 'de', card_country: 'DE', ip_country: 'DE' }), { velocity: {} })).toEqual([]);
    expect(riskSignals(base, attrs({ billing_country: 'DE', ip_country: 'NG' }), { velocity: {} })[0]).toMatchObject({
      signal: 'country_mismatch',
      detail: 'billing country DE vs ip country NG',
    });
    expect(
      riskSignals(
        base,
        payment({
          custom_attributes: [
            { name: 'billing_country', value: 'FR' },
            { name: 'card_country', value: 'US' },
          ],
        }),
        { velocity: {} },
      ),
    ).toHaveLength(1);
    expect(riskSignals(base, attrs({ card_country: 'US' }), { velocity: {} })).toEqual([]);
  });
  test('a new token fires only with an amount at the new-token threshold', () => {
    expect(riskSignals(base, payment({ amount: 50000 }), { velocity: {}, newToken: true }).map((s) => s.signal)).toEqual(['new_token_high_amount']);
    expect(riskSignals(base, payment({ amount: 50000 }), { velocity: {}, newToken: false })).toEqual([]);
    expect(riskSignals(base, payment({ amount: 49999 }), { velocity: {}, newToken: true })).toEqual([]);
  });
});

describe('risk decision table', () => {
  const config: RiskConfig = {
    ...base,
    rules: [
      { name: 'big', when: ['high_amount'], action: 'psp_review' },
      { name: 'big-new', when: ['high_amount', 'new_token_high_amount'], action: 'hold' },
      { name: 'testing', when: ['velocity_email'], action: 'decline' },
    ],
  };
  const sig = (...names: Array<'high_amount' | 'new_token_high_amount' | 'velocity_email' | 'country_mismatch'>) =>
    names.map((signal) => ({ signal, detail: '' }));
  test.each([
    [[], 'allow', undefined],
    [['country_mismatch'], 'allow', undefined],
    [['high_amount'], 'psp_review', 'big'],
    [['new_token_high_amount'], 'allow', undefined],
    [['high_amount', 'new_token_high_amount'], 'hold', 'big-new'],
    [['high_amount', 'new_token_high_amount', 'velocity_email'], 'decline', 'testing'],
  ] as const)('signals %p decide %p (rule %p)', (signals, action, rule) => {
    const d = decideRisk(config, sig(...signals));
    expect(d.action).toBe(action);
    expect(d.rule).toBe(rule);
    expect(d.signals.map((s) => s.signal)).toEqual(signals);
  });
});
