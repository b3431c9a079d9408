import { FxStage } from '../../../src/orchestration/fx-stage';
import { OperationRecord } from '../../../src/ledger/ledger';
import { OrchestrationPlan, StageInput } from '../../../src/orchestration/orchestration-stage';
import { atLockedRate, lockFromDetails } from '../../../src/fx/fx-lock';
import { toAdyenAmount } from '../../../src/gateways/adyen/adyen-amount';
import { toStripeAmount } from '../../../src/gateways/stripe/stripe-amount';
import { testConfig } from '../../support/test-config';

/*
 * A conversion is rounded to what the routed gateway takes in the target currency, so its adapter never
 * refuses the converted amount as `amount_not_representable` (the audit's four cases, at real-world rates).
 */

const NOW = Date.parse('2026-03-01T12:00:00Z');
const ADYEN_KEY = '00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF';
const config = testConfig({
  'fx.settlement_currencies': { 'adyen:idr': ['IDR'], 'adyen:cve': ['CVE'], 'stripe:kwd': ['KWD'], 'stripe:mga': ['MGA'], 'sim:idr': ['IDR'] },
  'fx.rates': [
    { from: 'EUR', to: 'IDR', rate: '17123.45', as_of: '2026-03-01T11:30:00Z' },
    { from: 'EUR', to: 'CVE', rate: '110.265', as_of: '2026-03-01T11:30:00Z' },
    { from: 'USD', to: 'KWD', rate: '0.3071', as_of: '2026-03-01T11:30:00Z' },
    { from: 'EUR', to: 'MGA', rate: '4975.3', as_of: '2026-03-01T11:30:00Z' },
  ],
  'fx.max_rate_age_ms': 3600000,
  gateways: {
    stripe: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: 'sk_test_fx_step_0123456789', webhook_secret: 'whsec_fxStepTest0123456789abcdefXYZ' },
    adyen: { type: 'adyen', base_url: 'http://127.0.0.1:9', api_key: 'adyen-fx-step-0123456789', merchant_account: 'AcmeEU', webhook_secret: ADYEN_KEY },
    sim: { type: 'simulator', base_url: 'http://127.0.0.1:9', api_key: 'sim-fx-step-0123456789', webhook_secret: 'whsec-fx-step-0123456789' },
  },
});
const stage = new FxStage(config, new Map(), undefined, () => NOW);

function input(gateway: string, account: string, amount: number, currency: string): StageInput {
  const payment = { gateway, gateway_account: account, gateway_key: 'pm_1', amount, currency };
  const op = { id: 'op-1', command: 'authorize', channel: 'web', state: 'RECEIVED', payment, receivedAt: NOW, createdAt: NOW, updatedAt: NOW, attempts: 0 };
  const plan: OrchestrationPlan = { candidates: [gateway], index: 0, payment, decisions: [] };
  return { op: op as OperationRecord, plan, now: NOW };
}

function converted(gateway: string, account: string, amount: number, currency: string) {
  const r = stage.decideNow(input(gateway, account, amount, currency));
  if (r?.verdict !== 'continue') throw new Error(`not converted: ${JSON.stringify(r)}`);
  return { payment: r.plan.payment, lock: lockFromDetails(r.decision.details)! };
}

describe('FX rounds the converted amount to the routed gateway step', () => {
  test('€19.99 → IDR at Adyen (whole rupiah): 34229776.55 ISO minor is 34229800, which Adyen takes as 342298', () => {
    const { payment, lock } = converted('adyen', 'idr', 1999, 'EUR');
    expect(payment).toMatchObject({ amount: 34229800, currency: 'IDR' });
    expect(toAdyenAmount(payment.amount, payment.currency).value).toBe(342298);
    expect(lock).toMatchObject({ rate: '17123.45', step: 100, to: { amount: 34229800, currency: 'IDR' } });
  });

  test('€19.99 → CVE at Adyen (whole escudos): 2204.19735 CVE is 220400 ISO minor, Adyen 2204', () => {
    const { payment } = converted('adyen', 'cve', 1999, 'EUR');
    expect(payment).toMatchObject({ amount: 220400, currency: 'CVE' });
    expect(toAdyenAmount(payment.amount, payment.currency).value).toBe(2204);
  });

  test('$19.99 → KWD at Stripe (multiples of 10 fils): 6138.929 fils is 6140, which Stripe takes', () => {
    const { payment } = converted('stripe', 'kwd', 1999, 'USD');
    expect(payment).toMatchObject({ amount: 6140, currency: 'KWD' });
    expect(toStripeAmount(payment.amount, payment.currency)).toBe(6140);
  });

  test('€19.99 → MGA at Stripe (zero-decimal): 99456.247 ariary is 9945600 ISO minor, Stripe 99456', () => {
    const { payment } = converted('stripe', 'mga', 1999, 'EUR');
    expect(payment).toMatchObject({ amount: 9945600, currency: 'MGA' });
    expect(toStripeAmount(payment.amount, payment.currency)).toBe(99456);
  });

  test('a gateway that takes every ISO minor unit keeps the ISO rounding and the lock carries no step', () => {
    const { payment, lock } = converted('sim', 'idr', 1999, 'EUR');
    expect(payment.amount).toBe(34229777);
    expect(lock.step).toBeUndefined();
  });

  test('captures and refunds at the locked rate round to the same step: the full amount gives back the lock, a part stays whole rupiah', () => {
    const { lock } = converted('adyen', 'idr', 1999, 'EUR');
    expect(atLockedRate(lock, 1999)).toBe(34229800);
    const part = atLockedRate(lock, 1000); // 17123450 exactly
    expect(part % 100).toBe(0);
    expect(atLockedRate(lock, 333)).toBe(5702100); // 5702108.85 → whole rupiah
  });
});
