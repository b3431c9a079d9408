import { attemptIdempotencyKey, attemptSince } from '../../../src/delivery/attempt-key';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { stripeTransformer } from '../../../src/gateways/stripe';
import { simulatorTransformer } from '../../../src/gateways/simulator';
import { OperationContext } from '../../../src/gateways/gateway-adapter';
import { RoutingRecord } from '../../../src/ledger/routing-record';
import { ctxFor, gateway as adyenGateway } from '../gateways/adyen/adyen-test-support';

const routing = (failovers: number): RoutingRecord => ({
  gateway: failovers === 0 ? 'stripe_eu' : 'stripe_us',
  requested: 'stripe_eu',
  candidates: ['stripe_eu', 'stripe_us', 'stripe_backup'],
  index: failovers,
  decisions: [],
  ...(failovers > 0 ? { failovers: Array.from({ length: failovers }, (_, i) => ({ from: `g${i}`, to: `g${i + 1}`, trigger: 'not_sent', at: 1 })) } : {}),
});

describe('attemptIdempotencyKey', () => {
  it('is the operation id for the first gateway attempt, with or without a routing record', () => {
    expect(attemptIdempotencyKey({ id: 'op-1' })).toBe('op-1');
    expect(attemptIdempotencyKey({ id: 'op-1', routing: routing(0) })).toBe('op-1');
  });

  it('is a key of its own per failover (a new request at a PSP account the entries may share), the same on every read', () => {
    expect(attemptIdempotencyKey({ id: 'op-1', routing: routing(1) })).toBe('op-1.failover1');
    expect(attemptIdempotencyKey({ id: 'op-1', routing: routing(2) })).toBe('op-1.failover2');
    expect(attemptIdempotencyKey({ id: 'op-1', routing: routing(2) })).toBe(attemptIdempotencyKey({ id: 'op-1', routing: routing(2) }));
  });

  it('fits every PSP key limit for the longest operation id (128 characters; Stripe and the simulator take 255)', () => {
    expect(attemptIdempotencyKey({ id: 'x'.repeat(128), routing: routing(9) }).length).toBeLessThanOrEqual(255);
  });
});

describe('attemptSince', () => {
  it('is the moment of the last failover (what an earlier attempt left was made before it), none for the first attempt', () => {
    expect(attemptSince({})).toBeUndefined();
    expect(attemptSince({ routing: routing(0) })).toBeUndefined();
    const twice = routing(2);
    const failovers = [
      { ...twice.failovers![0]!, at: 1_000 },
      { ...twice.failovers![1]!, at: 2_000 },
    ];
    expect(attemptSince({ routing: { ...twice, failovers } })).toBe(2_000);
  });
});

describe('the Idempotency-Key header follows the context’s attempt key', () => {
  const base = (ctx: OperationContext): OperationContext => ({ ...ctx, idempotencyKey: `${ctx.operationId}.failover1` });

  it('Stripe and the simulator send the attempt key; the merchant reference stays the operation id', () => {
    const ctx: OperationContext = { operationId: 'op-77', command: 'authorize', payment: ctxFor('authorize').payment };
    const stripe = stripeTransformer.buildRequest(base({ ...ctx, payment: { ...ctx.payment, gateway_key: 'pm_card_visa' } }), {
      ...adyenGateway,
      type: 'stripe',
    });
    expect(stripe.headers['idempotency-key']).toBe('op-77.failover1');
    expect(stripe.body).toContain('op-77');
    const sim = simulatorTransformer.buildRequest(base({ ...ctx, payment: { ...ctx.payment, gateway_key: 'pm_card_visa' } }), {
      ...adyenGateway,
      type: 'simulator',
    });
    expect(sim.headers['idempotency-key']).toBe('op-77.failover1');
    expect(JSON.parse(sim.body ?? '{}')).toMatchObject({ reference: 'op-77' });
  });

  it('Adyen’s status inquiry (a resend of the request) carries the same key as the attempt it asks about', () => {
    const ctx = base(ctxFor('authorize'));
    const sent = adyenTransformer.buildRequest(ctx, adyenGateway);
    const asked = adyenTransformer.buildStatusRequest(ctx, adyenGateway);
    expect(sent.headers['Idempotency-Key']).toBe(`${ctx.operationId}.failover1`);
    expect(asked.headers['Idempotency-Key']).toBe(sent.headers['Idempotency-Key']);
    expect(adyenTransformer.buildRequest(ctxFor('authorize'), adyenGateway).headers['Idempotency-Key']).toBe(ctx.operationId);
  });
});
