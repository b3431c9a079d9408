import { FxStage } from '../../../src/orchestration/fx-stage';
import { CapsStage } from '../../../src/orchestration/caps-stage';
import { OperationRecord } from '../../../src/ledger/ledger';
import { OrchestrationPlan, StageResult } from '../../../src/orchestration/orchestration-stage';
import { RedisClient } from '../../../src/redis/redis-connection';
import { toStripeAmount } from '../../../src/gateways/stripe/stripe-amount';
import { toAdyenAmount } from '../../../src/gateways/adyen/adyen-amount';
import { testConfig } from '../../support/test-config';

/*
 * A cap's fallback keeps the converted amount the FX stage rounded to the first candidate's step: a later candidate
 * whose step in that currency does not divide it (Stripe takes KWD in tens of fils, Adyen in fils) would need another
 * conversion, so it is no cap fallback (its adapter would refuse the amount, and captures at the locked step too).
 * Per-transaction bounds only: decided without Redis.
 */

const NOW = Date.parse('2026-03-01T12:00:00Z');
const ADYEN_KEY = '00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF';
const config = testConfig({
  'fx.settlement_currencies': {
    'adyen:adyen-capped': ['KWD'],
    'stripe:adyen-capped': ['KWD'],
    'adyen:stripe-capped': ['KWD'],
    'stripe:stripe-capped': ['KWD'],
  },
  'fx.rates': [{ from: 'USD', to: 'KWD', rate: '0.3071', as_of: '2026-03-01T11:30:00Z' }],
  'fx.max_rate_age_ms': 3600000,
  'caps.rules': [
    { scope: 'merchant', name: 'adyen-capped', gateway: 'adyen', currency: 'KWD', max_amount: 1000 },
    { scope: 'merchant', name: 'stripe-capped', gateway: 'stripe', currency: 'KWD', max_amount: 1000 },
  ],
  gateways: {
    stripe: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: 'sk_test_caps_step_0123456789', webhook_secret: 'whsec_capsStepTest0123456789abcdXYZ' },
    adyen: { type: 'adyen', base_url: 'http://127.0.0.1:9', api_key: 'adyen-caps-step-0123456789', merchant_account: 'AcmeEU', webhook_secret: ADYEN_KEY },
  },
});
const fx = new FxStage(config, new Map(), undefined, () => NOW);
// Per-transaction bounds never reach Redis.
const caps = new CapsStage(config, {} as RedisClient);

async function capsAfterFx(candidates: string[], account: string, amount: number): Promise<StageResult> {
  const payment = { gateway: candidates[0], gateway_account: account, gateway_key: 'pm_1', amount, currency: 'USD' };
  const op = { id: 'op-1', command: 'authorize', channel: 'web', state: 'RECEIVED', payment, receivedAt: NOW, createdAt: NOW, updatedAt: NOW, attempts: 0 };
  const plan: OrchestrationPlan = { candidates, index: 0, payment, decisions: [] };
  const converted = fx.decideNow({ op: op as OperationRecord, plan, now: NOW });
  if (converted?.verdict !== 'continue') throw new Error(`not converted: ${JSON.stringify(converted)}`);
  return caps.decide({ op: op as OperationRecord, plan: { ...converted.plan, decisions: [converted.decision] }, now: NOW });
}

test('USD 19.99 converted at Adyen to KWD 6.139 and over its cap: Stripe, which takes tens of fils only, is no fallback', async () => {
  // Adyen's own cap refuses the 6139 fils; Stripe would be sent 6139, which it refuses (not a multiple of 10).
  expect(() => toStripeAmount(6139, 'KWD')).toThrow();
  const result = await capsAfterFx(['adyen', 'stripe'], 'adyen-capped', 1999);
  expect(result).toMatchObject({
    verdict: 'refuse',
    reason: 'CAP_EXCEEDED',
    decision: { reasons: ['cap_exceeded:merchant:adyen-capped@adyen:KWD:max_amount'], details: { fallback_skipped_step: 'stripe' } },
  });
});

test('USD 19.99 converted at Stripe to KWD 6.140 and over its cap falls back to Adyen, which takes every fils', async () => {
  const result = await capsAfterFx(['stripe', 'adyen'], 'stripe-capped', 1999);
  expect(result).toMatchObject({ verdict: 'continue', decision: { outcome: 'fallback' } });
  if (result.verdict !== 'continue') throw new Error('no fallback');
  expect(result.plan.payment).toMatchObject({ amount: 6140, currency: 'KWD' });
  expect(toAdyenAmount(result.plan.payment.amount, 'KWD').value).toBe(6140);
});
