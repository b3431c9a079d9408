import { FxStage } from '../../../src/orchestration/fx-stage';
import { OperationRecord } from '../../../src/ledger/ledger';
import { OrchestrationPlan, StageInput } from '../../../src/orchestration/orchestration-stage';
import { testConfig } from '../../support/test-config';
import { lockFromDetails } from '../../../src/fx/fx-lock';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const config = testConfig({
  'fx.settlement_currencies': { sim: ['EUR'], 'sim:jp-shop': ['JPY'] },
  'fx.rates': [
    { from: 'USD', to: 'EUR', rate: '0.9137', as_of: '2026-03-01T11:30:00Z' },
    { from: 'EUR', to: 'JPY', rate: '162.35', as_of: '2026-03-01T11:59:00Z' },
    { from: 'GBP', to: 'EUR', rate: '1.17', as_of: '2026-03-01T09:00:00Z' },
  ],
  'fx.max_rate_age_ms': 3600000,
  gateways: { sim: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'k-0123456789', webhook_secret: 'whsec-0123456789abcdef' } },
});

function input(amount: number, currency: string, account = 'acme', command: OperationRecord['command'] = 'authorize'): StageInput {
  const payment = { gateway: 'sim', gateway_account: account, gateway_key: 'pm_1', amount, currency };
  const op = {
    id: 'op-1',
    command,
    channel: 'web',
    state: 'RECEIVED',
    payment,
    receivedAt: NOW,
    createdAt: NOW,
    updatedAt: NOW,
    attempts: 0,
  } as OperationRecord;
  const plan: OrchestrationPlan = { candidates: ['sim'], index: 0, payment, decisions: [] };
  return { op, plan, now: NOW };
}

const stage = new FxStage(config, new Map(), undefined, () => NOW);

test('a currency the gateway settles in is not converted', () => {
  const r = stage.decideNow(input(1000, 'EUR'))!;
  expect(r.verdict).toBe('continue');
  expect(r.decision).toMatchObject({ stage: 'fx', outcome: 'allowed', reasons: ['settles_in_currency'] });
});

test('USD 123.45 on a EUR gateway: converted at the configured rate, half-even, the lock in the decision', () => {
  const r = stage.decideNow(input(12345, 'USD'))!;
  expect(r.verdict).toBe('continue');
  if (r.verdict !== 'continue') return;
  // 123.45 × 0.9137 = 112.795965 → 112.80
  expect(r.plan.payment).toMatchObject({ amount: 11280, currency: 'EUR' });
  const lock = lockFromDetails(r.decision.details);
  expect(lock).toEqual({
    rate: '0.9137',
    source: 'configured',
    at: '2026-03-01T11:30:00.000Z',
    from: { amount: 12345, currency: 'USD' },
    to: { amount: 11280, currency: 'EUR' },
  });
});

test('an account setting wins over the gateway: EUR into JPY (zero decimals), at the target exponent', () => {
  const r = stage.decideNow(input(1000, 'EUR', 'jp-shop'))!;
  expect(r.verdict === 'continue' && r.plan.payment).toMatchObject({ amount: 1624, currency: 'JPY' });
});

test('a stale rate is refused, naming the currency field', () => {
  const r = stage.decideNow(input(1000, 'GBP'))!;
  expect(r).toMatchObject({ verdict: 'refuse', reason: 'FX_RATE_STALE', field: 'payment.currency' });
});

test('no rate at all is refused as unavailable', () => {
  const r = stage.decideNow(input(1000, 'CHF'))!;
  expect(r).toMatchObject({ verdict: 'refuse', reason: 'FX_RATE_UNAVAILABLE' });
});

test('captures and refunds are not converted here (they reuse the lock of their authorization)', () => {
  const r = stage.decideNow(input(1000, 'USD', 'acme', 'refund'))!;
  expect(r.decision).toMatchObject({ outcome: 'default', reasons: ['not_an_opening_command'] });
});

test('an amount whose conversion is beyond the largest minor amount is refused, naming the amount (the same rate fails the same way every time: never retried)', () => {
  const r = stage.decideNow(input(99_999_999_999_999, 'EUR', 'jp-shop'))!;
  expect(r).toMatchObject({ verdict: 'refuse', reason: 'FX_AMOUNT_OUT_OF_RANGE', field: 'payment.amount' });
});

test.each(['0', '-1', '0.000'])('a gateway rate of %s is no rate: the configured one is used, or the conversion refused as unavailable', async (rate) => {
  const stripeConfig = testConfig({
    'fx.settlement_currencies': { stripe: ['EUR'] },
    'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: '2026-03-01T11:30:00Z' }],
    'fx.max_rate_age_ms': 3600000,
    gateways: { stripe: { type: 'stripe', base_url: 'http://127.0.0.1:1', api_key: 'sk_test_0123456789', webhook_secret: 'whsec_0123456789abcdefghij' } },
  });
  const body = `{"id":"usd","object":"exchange_rate","rates":{"eur":${rate},"chf":${rate}}}`;
  const client = { send: async () => ({ status: 200, headers: {}, body, elapsedMs: 1 }) };
  const withRates = new FxStage(stripeConfig, new Map([['stripe', { type: 'stripe', client }]]), undefined, () => NOW);
  const at = (currency: string): StageInput => {
    const base = input(12345, currency);
    const payment = { ...base.plan.payment, gateway: 'stripe' };
    return { ...base, op: { ...base.op, payment }, plan: { ...base.plan, candidates: ['stripe'], payment } };
  };
  const converted = await withRates.decide(at('USD'));
  expect(converted.verdict === 'continue' && converted.plan.payment).toMatchObject({ amount: 11280, currency: 'EUR' });
  expect(lockFromDetails(converted.decision.details)?.source).toBe('configured');
  expect(await withRates.decide(at('CHF'))).toMatchObject({ verdict: 'refuse', reason: 'FX_RATE_UNAVAILABLE', field: 'payment.currency' });
});

test('a conversion that rounds to nothing is refused, naming the amount: never sent as a payment of 0 (at Adyen a zero-value authorization, a card check that holds no money)', () => {
  const idrConfig = testConfig({
    'fx.settlement_currencies': { sim: ['EUR'] },
    'fx.rates': [{ from: 'IDR', to: 'EUR', rate: '0.0000577', as_of: '2026-03-01T11:30:00Z' }],
    'fx.max_rate_age_ms': 3600000,
    gateways: { sim: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'k-0123456789', webhook_secret: 'whsec-0123456789abcdef' } },
  });
  const idrStage = new FxStage(idrConfig, new Map(), undefined, () => NOW);
  // IDR 50.00 × 0.0000577 = EUR 0.002885: 0.2885 cent, half-even 0.
  expect(idrStage.decideNow(input(5000, 'IDR'))).toMatchObject({ verdict: 'refuse', reason: 'FX_AMOUNT_OUT_OF_RANGE', field: 'payment.amount' });
  // IDR 100.00 is EUR 0.00577: 1 cent, converted.
  const r = idrStage.decideNow(input(10000, 'IDR'))!;
  expect(r.verdict === 'continue' && r.plan.payment).toMatchObject({ amount: 1, currency: 'EUR' });
});
