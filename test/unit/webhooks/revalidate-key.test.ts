import { stripeTransformer } from '../../../src/gateways/stripe';
import { GatewayOutcome } from '../../../src/gateways/gateway-adapter';
import { withRevalidateKey } from '../../../src/webhooks/revalidate-key';
import { NEW_PI_ID, paymentIntent, stripeContext, stripeEvent, stripeGateway } from '../gateways/stripe/stripe-fixtures';

/** The outcome Stripe's webhook gives for `pi` (a manual-capture PaymentIntent, read as an authorization). */
function stripeWebhookOutcome(pi: Record<string, unknown>, type = 'payment_intent.amount_capturable_updated'): GatewayOutcome {
  const [event] = stripeTransformer.parseWebhook(Buffer.from(JSON.stringify(stripeEvent(type, pi))), stripeGateway);
  return event.outcome;
}

describe('withRevalidateKey', () => {
  const revalidate = stripeContext('revalidate');
  const held = paymentIntent(revalidate, { id: NEW_PI_ID, amount_capturable: 2599 });

  it("gives a Stripe webhook's held PaymentIntent, settling a revalidate, its id as the new gateway key (the webhook alone cannot tell)", () => {
    const outcome = stripeWebhookOutcome(held);
    expect(outcome.newGatewayKey).toBeUndefined();
    expect(withRevalidateKey('revalidate', outcome)).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_PI_ID, newGatewayKey: NEW_PI_ID });
  });

  it('does so for a revalidate still pending or waiting for the customer, as its direct answer does', () => {
    for (const status of ['processing', 'requires_action']) {
      const type = status === 'processing' ? 'payment_intent.processing' : 'payment_intent.requires_action';
      expect(withRevalidateKey('revalidate', stripeWebhookOutcome({ ...held, status }, type)).newGatewayKey).toBe(NEW_PI_ID);
    }
  });

  it('gives none to a failed revalidate, nor to the outcome of any other command', () => {
    const failed = stripeWebhookOutcome({ ...held, status: 'requires_payment_method' }, 'payment_intent.payment_failed');
    expect(withRevalidateKey('revalidate', failed).newGatewayKey).toBeUndefined();
    for (const command of ['authorize', 'sale', 'validate', 'capture', 'cancel'] as const) {
      expect(withRevalidateKey(command, stripeWebhookOutcome(held)).newGatewayKey).toBeUndefined();
    }
  });

  it('keeps a key the outcome carries, and leaves an outcome without a reference as it is', () => {
    const keyed: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'ok', gatewayReference: 'ref-1', newGatewayKey: 'key-1' };
    expect(withRevalidateKey('revalidate', keyed)).toBe(keyed);
    const unnamed: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'ok' };
    expect(withRevalidateKey('revalidate', unnamed)).toBe(unnamed);
  });
});
