import { stripeTransformer as t } from '../../../../src/gateways/stripe';
import { voidRefusedAsCaptured } from '../../../../src/gateways/gateway-registry';
import { PI_ID, errorBody, jsonResponse, paymentIntent, stripeContext, stripeGateway as gw } from './stripe-fixtures';

/**
 * Stripe refuses the cancel of a PaymentIntent whose status is `succeeded` (captured in the Dashboard, or created with
 * capture_method automatic) 400 `payment_intent_unexpected_state`, the PaymentIntent in the error's `payment_intent`
 * ("You can cancel a PaymentIntent object when it's in one of these statuses: requires_payment_method, requires_capture,
 * requires_confirmation, requires_action or, in rare cases, processing"): what it received is `amount_received`.
 */
describe('Stripe: a cancel refused because the PaymentIntent is captured', () => {
  const auth = stripeContext('authorize');
  const cancel = stripeContext('cancel');
  const refused = (pi: Record<string, unknown>) =>
    jsonResponse(400, errorBody('invalid_request_error', 'payment_intent_unexpected_state', { payment_intent: pi }));

  it('reads amount_received of the succeeded PaymentIntent in the error as the capture Stripe made', () => {
    const outcome = t.parseResponse(cancel, refused(paymentIntent(auth, { status: 'succeeded', amount_capturable: 0, amount_received: 2000 })), gw);
    expect(outcome).toMatchObject({
      status: 'FAIL',
      gatewayStatus: 'succeeded',
      gatewayReference: PI_ID,
      reason: 'payment_intent_unexpected_state',
      pspCaptured: { amount: 2000, currency: 'EUR' },
    });
    expect(voidRefusedAsCaptured('stripe', outcome)).toEqual({ captured: { amount: 2000, currency: 'EUR' } });
  });

  it('a refusal without the PaymentIntent, or of one in another state (canceled), is no void refused as captured', () => {
    const bare = t.parseResponse(cancel, jsonResponse(400, errorBody('invalid_request_error', 'payment_intent_unexpected_state')), gw);
    expect(voidRefusedAsCaptured('stripe', bare)).toBeNull();
    const canceled = t.parseResponse(cancel, refused(paymentIntent(auth, { status: 'canceled', cancellation_reason: 'requested_by_customer' })), gw);
    expect(voidRefusedAsCaptured('stripe', canceled)).toBeNull();
  });

  it('the status inquiry of a cancel whose answer was lost reads the succeeded PaymentIntent the same way (captured: amount_received)', () => {
    // Stripe retrieves the PaymentIntent as it stands: `succeeded` is the capture (a cancel of it is refused, above).
    const pi = paymentIntent(auth, { status: 'succeeded', amount_capturable: 0, amount_received: 1500 });
    const polled = t.parseStatusResponse(cancel, jsonResponse(200, pi), gw);
    expect(polled).toMatchObject({ status: 'FAIL', gatewayStatus: 'succeeded', gatewayReference: PI_ID, pspCaptured: { amount: 1500, currency: 'EUR' } });
    expect(voidRefusedAsCaptured('stripe', polled!)).toEqual({ captured: { amount: 1500, currency: 'EUR' } });
    // One still held is no trace of the cancel (sent again), and one canceled is no capture.
    expect(t.parseStatusResponse(cancel, jsonResponse(200, paymentIntent(auth)), gw)).toBeNull();
    const canceled = paymentIntent(auth, { status: 'canceled', cancellation_reason: 'requested_by_customer', canceled_at: 1692700000 });
    expect(voidRefusedAsCaptured('stripe', t.parseStatusResponse(cancel, jsonResponse(200, canceled), gw)!)).toBeNull();
  });

  it('a succeeded PaymentIntent whose amount_received cannot be read is refused as captured with no amount: never a guess', () => {
    const outcome = t.parseResponse(cancel, refused(paymentIntent(auth, { status: 'succeeded', amount_received: 'lots' })), gw);
    expect(outcome.pspCaptured).toBeUndefined();
    expect(voidRefusedAsCaptured('stripe', outcome)).toEqual({});
  });
});
