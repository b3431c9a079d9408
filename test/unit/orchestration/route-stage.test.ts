import { Config } from '../../../src/config/config';
import { Payment } from '../../../src/contracts/payment-command';
import { OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { initialPlan } from '../../../src/orchestration/orchestration-pipeline';
import { METHOD_BOUND_TO_GATEWAY, NO_ROUTE, RouteStage } from '../../../src/orchestration/route-stage';
import { MethodBinding } from '../../../src/routing/method-binding';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const STRIPE_KEY = 'sk_test_route_stage_0123456789';
const STRIPE_HOOK = 'whsec_routeStageTest0123456789abcdef';
const GATEWAYS = {
  stripe: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: STRIPE_KEY, webhook_secret: STRIPE_HOOK },
  // A second entry of the same Stripe account (same key): one vault.
  stripe_backup: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: STRIPE_KEY, webhook_secret: STRIPE_HOOK, timeout_ms: 3000 },
  adyen: {
    type: 'adyen',
    base_url: 'http://127.0.0.1:9',
    api_key: 'adyen-route-stage-key-0123456789',
    merchant_account: 'AcmeEU',
    webhook_secret: '00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF',
  },
};

function stage(overrides: Record<string, unknown>): RouteStage {
  const config: Config = testConfig({ gateways: GATEWAYS, ...overrides });
  return new RouteStage(config.routing, new MethodBinding(config.gateways));
}

function op(payment: Partial<Payment> = {}, command: 'authorize' | 'sale' | 'capture' = 'authorize'): OperationRecord {
  return draftRecord('op-1', channelCommand(command, {}, { gateway: 'stripe', gateway_key: 'pm_1Stored', operation_reference: 'op-1', ...payment }), NOW);
}

function decide(s: RouteStage, record: OperationRecord) {
  return s.decideNow({ op: record, plan: initialPlan(record), now: NOW });
}

describe('route stage: method data bound to its PSP account', () => {
  test('a rule naming another PSP first: that candidate is dropped, named in the reasons; the named gateway stays', () => {
    const result = decide(stage({ 'routing.rules': [{ name: 'eu', gateways: ['adyen', 'stripe'] }] }), op());
    expect(result).toMatchObject({
      verdict: 'continue',
      decision: { stage: 'route', outcome: 'routed', reasons: ['rule:eu', 'method_bound:adyen'], candidates: ['stripe'] },
      plan: { candidates: ['stripe'], index: 0, rule: 'eu' },
    });
  });

  test('an entry of the same account stays a candidate (failover between them is safe)', () => {
    const result = decide(stage({ 'routing.rules': [{ name: 'pair', gateways: ['stripe', 'adyen', 'stripe_backup'] }] }), op());
    expect(result).toMatchObject({
      verdict: 'continue',
      decision: { reasons: ['rule:pair', 'method_bound:adyen'], candidates: ['stripe', 'stripe_backup'] },
      plan: { candidates: ['stripe', 'stripe_backup'] },
    });
  });

  test('no candidate can use the stored token: refused, naming payment.gateway_key', () => {
    const result = decide(stage({ 'routing.rules': [{ name: 'to-adyen', gateways: ['adyen'] }] }), op());
    expect(result).toEqual({
      verdict: 'refuse',
      reason: METHOD_BOUND_TO_GATEWAY,
      field: 'payment.gateway_key',
      decision: {
        stage: 'route',
        outcome: 'refused',
        reasons: [METHOD_BOUND_TO_GATEWAY, 'rule:to-adyen', 'method_bound:adyen'],
        rules: [{ rule: 'to-adyen', matched: true }],
        candidates: [],
      },
    });
  });

  test('client-side data encrypted for Adyen: refused elsewhere, naming payment.payment_method.token', () => {
    const jwe = op({ gateway: 'adyen', gateway_key: 'ORDER-1', payment_method: { type: 'card', token: 'eyJhbGciOiJSU0EtT0FFUCJ9.jwe' } }, 'sale');
    const result = decide(stage({ 'routing.rules': [{ name: 'to-stripe', gateways: ['stripe', 'stripe_backup'] }] }), jwe);
    expect(result).toMatchObject({
      verdict: 'refuse',
      reason: METHOD_BOUND_TO_GATEWAY,
      field: 'payment.payment_method.token',
      decision: { reasons: [METHOD_BOUND_TO_GATEWAY, 'rule:to-stripe', 'method_bound:stripe', 'method_bound:stripe_backup'] },
    });
  });

  test('Klarna carries nothing a PSP issued: routed as the rule says', () => {
    const klarna = op({ gateway_key: 'ORDER-2', payment_method: { type: 'klarna' } });
    expect(decide(stage({ 'routing.rules': [{ name: 'bnpl', gateways: ['adyen', 'stripe'] }] }), klarna)).toMatchObject({
      verdict: 'continue',
      decision: { reasons: ['rule:bnpl'], candidates: ['adyen', 'stripe'] },
    });
  });

  test('agreements leaving none is still NO_ROUTE on the merchant; agreements leaving only other PSPs is the method', () => {
    const suspended = { 'routing.agreements': [{ merchant: '*', gateway: 'stripe', status: 'suspended' }] };
    expect(decide(stage(suspended), op())).toMatchObject({
      verdict: 'refuse',
      reason: NO_ROUTE,
      field: 'payment.gateway_account',
      decision: { reasons: [NO_ROUTE, 'default:payment.gateway', 'agreement_suspended:stripe'] },
    });
    expect(decide(stage({ ...suspended, 'routing.rules': [{ name: 'both', gateways: ['stripe', 'adyen'] }] }), op())).toMatchObject({
      verdict: 'refuse',
      reason: METHOD_BOUND_TO_GATEWAY,
      field: 'payment.gateway_key',
      decision: { reasons: [METHOD_BOUND_TO_GATEWAY, 'rule:both', 'agreement_suspended:stripe', 'method_bound:adyen'] },
    });
  });

  test('a Stripe Customer goes to no Stripe entry of another account: refused, naming payment.custom_attributes.stripe_customer', () => {
    const gateways = { ...GATEWAYS, stripe_other: { ...GATEWAYS.stripe, api_key: 'sk_test_route_stage_other_0123456789' } };
    const klarna = op({ gateway_key: 'ORDER-3', payment_method: { type: 'klarna' }, custom_attributes: { stripe_customer: 'cus_Q9xyz' } });
    const result = decide(stage({ gateways, 'routing.rules': [{ name: 'to-other', gateways: ['stripe_other', 'adyen'] }] }), klarna);
    // Adyen never sends it: a one-off Klarna payment may go there.
    expect(result).toMatchObject({ verdict: 'continue', decision: { reasons: ['rule:to-other', 'method_bound:stripe_other'], candidates: ['adyen'] } });
    const only = decide(stage({ gateways, 'routing.rules': [{ name: 'to-other', gateways: ['stripe_other'] }] }), klarna);
    expect(only).toMatchObject({ verdict: 'refuse', reason: METHOD_BOUND_TO_GATEWAY, field: 'payment.custom_attributes.stripe_customer' });
  });

  test('entries declared one vault (gateways.<name>.vault) stay candidates of each other', () => {
    const gateways = {
      ...GATEWAYS,
      stripe: { ...GATEWAYS.stripe, vault: 'acme-stripe' },
      stripe_rk: { ...GATEWAYS.stripe, api_key: 'rk_test_route_stage_0123456789', vault: 'acme-stripe' },
    };
    expect(decide(stage({ gateways, 'routing.rules': [{ name: 'rk', gateways: ['stripe_rk', 'adyen'] }] }), op())).toMatchObject({
      verdict: 'continue',
      decision: { reasons: ['rule:rk', 'method_bound:adyen'], candidates: ['stripe_rk'] },
    });
  });

  test('a capture follows its authorization: no rule, no binding check', () => {
    const capture = op({}, 'capture');
    expect(decide(stage({ 'routing.rules': [{ name: 'to-adyen', gateways: ['adyen'] }] }), capture)).toMatchObject({
      verdict: 'continue',
      decision: { reasons: ['follows_authorization'], candidates: ['stripe'] },
    });
  });
});
