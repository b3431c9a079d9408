import { declineOf } from '../../../../src/errors/decline';
import { isSoftDecline } from '../../../../src/recurring/dunning';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { stripeTransformer } from '../../../../src/gateways/stripe';
import { paymentIntentToOutcome } from '../../../../src/gateways/stripe/stripe-responses';
import { parseStripePaymentIntent } from '../../../../src/gateways/stripe/stripe-reconciliation';
import { STRIPE_DECLINES } from '../../../../src/gateways/stripe/stripe-declines';
import { outcomeDecline } from '../../../../src/gateways/gateway-declines';
import {
  declineBody,
  errorBody,
  jsonResponse,
  NEW_PI_ID,
  PI_ID,
  PM_ID,
  paymentIntent,
  paymentMethod,
  REFUND_ID,
  SETUP_INTENT_ID,
  setupIntent,
  refund,
  stripeContext,
  stripeEvent,
  stripeGateway,
  successBody,
} from './stripe-fixtures';

const t = stripeTransformer;
const gw = stripeGateway;

describe('Stripe responses', () => {
  it('maps an authorization held for capture to SUCCESS with the PaymentIntent id and capturable amount', () => {
    const ctx = stripeContext('authorize');
    expect(t.parseResponse(ctx, jsonResponse(200, successBody(ctx)), gw)).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'requires_capture',
      gatewayReference: PI_ID,
      amount: 2599,
      currency: 'EUR',
      // The PaymentIntent's `created`: its charge is named by id only, not expanded.
      authorizedAt: 1692600000 * 1000,
    });
  });

  it('reads the authorization’s own expiry from the expanded charge’s capture_before, for an authorization only', () => {
    const ctx = stripeContext('authorize');
    const charge = { id: 'ch_1', object: 'charge', payment_method_details: { type: 'card', card: { brand: 'visa', capture_before: 1_790_000_000 } } };
    const body = { ...(successBody(ctx) as Record<string, unknown>), latest_charge: charge };
    expect(t.parseResponse(ctx, jsonResponse(200, body), gw).captureBefore).toBe(1_790_000_000_000);
    // Not expanded (a webhook's PaymentIntent): no expiry of the PSP's, the documented window applies.
    expect(t.parseResponse(ctx, jsonResponse(200, { ...body, latest_charge: 'ch_1' }), gw).captureBefore).toBeUndefined();
    const sale = stripeContext('sale');
    expect(t.parseResponse(sale, jsonResponse(200, { ...body, status: 'succeeded' }), gw).captureBefore).toBeUndefined();
  });

  it('reads when Stripe authorized it from the expanded charge’s created, else the PaymentIntent’s created (epoch seconds)', () => {
    const ctx = stripeContext('authorize');
    // A charge as the API reference documents it (`created`: "Time at which the object was created", seconds).
    const charge = { id: 'ch_1', object: 'charge', created: 1_692_600_042, payment_method_details: { type: 'card', card: { brand: 'visa' } } };
    const body = { ...(successBody(ctx) as Record<string, unknown>), latest_charge: charge };
    expect(t.parseResponse(ctx, jsonResponse(200, body), gw).authorizedAt).toBe(1_692_600_042_000);
    expect(t.parseStatusResponse(ctx, jsonResponse(200, { object: 'list', data: [body] }), gw)?.authorizedAt).toBe(1_692_600_042_000);
    expect(t.parseResponse(ctx, jsonResponse(200, { ...body, latest_charge: 'ch_1' }), gw).authorizedAt).toBe(1_692_600_000_000);
    // Not a time: none (the first attempt's time applies); nor for what is no authorization held.
    expect(t.parseResponse(ctx, jsonResponse(200, { ...body, latest_charge: 'ch_1', created: 'soon' }), gw).authorizedAt).toBeUndefined();
    expect(t.parseResponse(stripeContext('sale'), jsonResponse(200, { ...body, status: 'succeeded' }), gw).authorizedAt).toBeUndefined();
    expect(t.parseResponse(ctx, jsonResponse(200, { ...body, status: 'requires_payment_method' }), gw).authorizedAt).toBeUndefined();
  });

  it('maps an authorization waiting for 3-D Secure to ACTION_REQUIRED with the next_action and client secret for the storefront', () => {
    const ctx = stripeContext('authorize');
    const nextAction = {
      type: 'use_stripe_sdk',
      use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: 'https://hooks.stripe.com/3d_secure_2/hosted' },
    };
    const body = paymentIntent(ctx, { status: 'requires_action', next_action: nextAction, client_secret: 'pi_1_secret_abc' });
    const outcome = t.parseResponse(ctx, jsonResponse(200, body), gw);
    expect(outcome).toMatchObject({
      status: 'ACTION_REQUIRED',
      gatewayStatus: 'requires_action',
      action: { kind: 'three_ds', client_secret: 'pi_1_secret_abc', psp_action: nextAction },
    });
  });

  it('maps a redirect next_action (Klarna, crypto) to a redirect action with its url', () => {
    const ctx = stripeContext('sale');
    const nextAction = {
      type: 'redirect_to_url',
      redirect_to_url: { url: 'https://hooks.stripe.com/redirect/authenticate/src_1', return_url: 'https://shop.example/back' },
    };
    const outcome = t.parseResponse(ctx, jsonResponse(200, paymentIntent(ctx, { status: 'requires_action', next_action: nextAction })), gw);
    expect(outcome.action).toEqual({ kind: 'redirect', url: 'https://hooks.stripe.com/redirect/authenticate/src_1', psp_action: nextAction });
  });

  it.each([
    ['alipay_handle_redirect', 'redirect'],
    ['boleto_display_details', 'voucher'],
    ['card_await_notification', 'await'],
    ['cashapp_handle_redirect_or_display_qr_code', 'sdk'],
    ['display_bank_transfer_instructions', 'voucher'],
    ['konbini_display_details', 'voucher'],
    ['oxxo_display_details', 'voucher'],
    ['paynow_display_qr_code', 'voucher'],
    ['pix_display_qr_code', 'voucher'],
    ['promptpay_display_qr_code', 'voucher'],
    ['redirect_to_url', 'redirect'],
    ['use_stripe_sdk', 'three_ds'],
    ['verify_with_microdeposits', 'other'],
    ['wechat_pay_display_qr_code', 'voucher'],
    ['wechat_pay_redirect_to_android_app', 'sdk'],
    ['wechat_pay_redirect_to_ios_app', 'sdk'],
  ] as const)('names the kind of a next_action of type %s (every type the API spec lists): %s', (type, kind) => {
    const ctx = stripeContext('sale');
    const outcome = t.parseResponse(ctx, jsonResponse(200, paymentIntent(ctx, { status: 'requires_action', next_action: { type } })), gw);
    expect(outcome.action?.kind).toBe(kind);
  });

  it('gives an Alipay redirect its url', () => {
    const ctx = stripeContext('sale');
    const nextAction = { type: 'alipay_handle_redirect', alipay_handle_redirect: { url: 'https://hooks.stripe.com/alipay/1', native_url: 'alipays://1' } };
    const outcome = t.parseResponse(ctx, jsonResponse(200, paymentIntent(ctx, { status: 'requires_action', next_action: nextAction })), gw);
    expect(outcome.action).toEqual({ kind: 'redirect', url: 'https://hooks.stripe.com/alipay/1', psp_action: nextAction });
  });

  describe('the deadline Stripe gives a voucher or QR code (next_action, Unix seconds)', () => {
    // Field names and units as the API reference (2023-08-16) documents them; Multibanco's from later versions.
    const expiring: Array<[string, Record<string, unknown>]> = [
      ['boleto_display_details', { number: '0123', hosted_voucher_url: 'https://payments.stripe.com/boleto/voucher/1', expires_at: 1_790_000_000 }],
      ['konbini_display_details', { hosted_voucher_url: 'https://payments.stripe.com/konbini/voucher/1', expires_at: 1_790_000_000 }],
      [
        'oxxo_display_details',
        { number: '12345678901234657890', hosted_voucher_url: 'https://payments.stripe.com/oxxo/voucher/1', expires_after: 1_790_000_000 },
      ],
      ['pix_display_qr_code', { data: '00020101021226', image_url_png: 'https://qr.stripe.com/1.png', expires_at: 1_790_000_000 }],
      ['multibanco_display_details', { entity: '12345', reference: '123456789', expires_at: 1_790_000_000 }],
    ];

    it.each(expiring)('reads %s as the action’s deadline, in epoch ms', (type, details) => {
      const ctx = stripeContext('sale');
      const body = paymentIntent(ctx, { status: 'requires_action', next_action: { type, [type]: details }, client_secret: 'pi_1_secret_abc' });
      const outcome = t.parseResponse(ctx, jsonResponse(200, body), gw);
      expect(outcome).toMatchObject({ status: 'ACTION_REQUIRED', action: { kind: 'voucher' }, actionExpiresAt: 1_790_000_000_000 });
    });

    it('reads an e-mandate notice’s charge_attempt_at (the approval is due before it) as the deadline of an await action', () => {
      const ctx = stripeContext('sale');
      const next = { type: 'card_await_notification', card_await_notification: { charge_attempt_at: 1_790_000_000, customer_approval_required: true } };
      const outcome = t.parseResponse(ctx, jsonResponse(200, paymentIntent(ctx, { status: 'requires_action', next_action: next })), gw);
      expect(outcome).toMatchObject({ status: 'ACTION_REQUIRED', action: { kind: 'await' }, actionExpiresAt: 1_790_000_000_000 });
    });

    it('reads it from a webhook’s PaymentIntent too, which carries no action', () => {
      const ctx = stripeContext('sale');
      const next = { type: 'oxxo_display_details', oxxo_display_details: { number: '1234', expires_after: 1_790_000_000 } };
      const outcome = paymentIntentToOutcome(paymentIntent(ctx, { status: 'requires_action', next_action: next }), 'sale', 'stripe', false);
      expect(outcome.action).toBeUndefined();
      expect(outcome.actionExpiresAt).toBe(1_790_000_000_000);
    });

    it('takes the payment’s deadline only: none for 3-D Secure, a QR image Cash App renews, one Stripe left null, or a value that is no time', () => {
      const ctx = stripeContext('sale');
      const read = (next_action: Record<string, unknown>) =>
        t.parseResponse(ctx, jsonResponse(200, paymentIntent(ctx, { status: 'requires_action', next_action })), gw).actionExpiresAt;
      expect(read({ type: 'pix_display_qr_code', pix_display_qr_code: { data: '00020101021226', expires_at: 1_790_000_000 } })).toBe(1_790_000_000_000);
      const nexts = [
        { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect' } },
        { type: 'cashapp_handle_redirect_or_display_qr_code', cashapp_handle_redirect_or_display_qr_code: { qr_code: { expires_at: 1_790_000_000 } } },
        { type: 'paynow_display_qr_code', paynow_display_qr_code: { data: 'x', image_url_png: 'https://qr.stripe.com/2.png' } },
        { type: 'boleto_display_details', boleto_display_details: { number: '0123', expires_at: null } },
        { type: 'pix_display_qr_code', pix_display_qr_code: { expires_at: '2026-01-01' } },
        { type: 'konbini_display_details', konbini_display_details: { expires_at: 1.5e15 } },
      ];
      for (const next_action of nexts) {
        const outcome = t.parseResponse(ctx, jsonResponse(200, paymentIntent(ctx, { status: 'requires_action', next_action })), gw);
        expect(outcome.status).toBe('ACTION_REQUIRED');
        expect(outcome.actionExpiresAt).toBeUndefined();
      }
    });
  });

  it('reports the stored PaymentMethod as the token of a PaymentIntent confirmed with setup_future_usage', () => {
    const ctx = stripeContext('authorize');
    const held = paymentIntent(ctx, { status: 'requires_capture', setup_future_usage: 'off_session', payment_method: 'pm_saved_1' });
    expect(t.parseResponse(ctx, jsonResponse(200, held), gw).storedToken).toBe('pm_saved_1');
    const plain = paymentIntent(ctx, { status: 'requires_capture', payment_method: 'pm_saved_1' });
    expect(t.parseResponse(ctx, jsonResponse(200, plain), gw).storedToken).toBeUndefined();
  });

  it('maps a 402 card decline to FAIL with the decline code and the PaymentIntent it left', () => {
    const ctx = stripeContext('authorize');
    expect(t.parseResponse(ctx, jsonResponse(402, declineBody(ctx)), gw)).toEqual({
      status: 'FAIL',
      gatewayStatus: 'requires_payment_method',
      gatewayReference: PI_ID,
      reason: 'insufficient_funds',
      decline: declineOf('insufficient_funds', 'insufficient_funds'),
    });
  });

  it('maps an off-session recurring charge that needs authentication (402 authentication_required) to a hard FAIL the OMS can act on', () => {
    // Stripe, "Charging saved cards": an off-session payment needing authentication fails with a 402 and
    // the code authentication_required, its PaymentIntent left in requires_payment_method.
    const ctx = stripeContext('sale', { gateway_key: PM_ID, recurring: { model: 'subscription', schedule_id: 'sub-42', cycle: 3 } });
    const body = {
      error: {
        type: 'card_error',
        code: 'authentication_required',
        decline_code: 'authentication_required',
        payment_intent: paymentIntent(ctx, {
          status: 'requires_payment_method',
          last_payment_error: { type: 'card_error', code: 'authentication_required', decline_code: 'authentication_required' },
        }),
      },
    };
    const out = t.parseResponse(ctx, jsonResponse(402, body), gw);
    expect(out).toMatchObject({ status: 'FAIL', reason: 'authentication_required', decline: { category: 'authentication_required' } });
    expect(isSoftDecline(out.decline!.category)).toBe(false);
  });

  it('maps a 200 PaymentIntent back in requires_payment_method to FAIL with last_payment_error.decline_code', () => {
    const ctx = stripeContext('sale');
    const body = paymentIntent(ctx, { status: 'requires_payment_method', last_payment_error: { code: 'card_declined', decline_code: 'stolen_card' } });
    expect(t.parseResponse(ctx, jsonResponse(200, body), gw)).toMatchObject({
      status: 'FAIL',
      reason: 'stolen_card',
      decline: { category: 'suspected_fraud', gateway_code: 'stolen_card' },
    });
  });

  it('reads JPY and KWD amounts back as the same integer of minor units', () => {
    const jpy = stripeContext('sale', { amount: 1500, currency: 'JPY' });
    expect(t.parseResponse(jpy, jsonResponse(200, successBody(jpy)), gw).amount).toBe(1500);
    const kwd = stripeContext('authorize', { amount: 12340, currency: 'KWD' });
    expect(t.parseResponse(kwd, jsonResponse(200, successBody(kwd)), gw).amount).toBe(12340);
  });

  it('maps a sale that succeeded to SUCCESS with the amount received', () => {
    const ctx = stripeContext('sale');
    expect(t.parseResponse(ctx, jsonResponse(200, successBody(ctx)), gw)).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'succeeded', amount: 2599 });
  });

  it('maps a partial capture to SUCCESS with the captured amount', () => {
    const ctx = stripeContext('capture', { amount: 1000 });
    const body = paymentIntent(ctx, { amount: 2599, status: 'succeeded', amount_received: 1000 });
    expect(t.parseResponse(ctx, jsonResponse(200, body), gw)).toMatchObject({ status: 'SUCCESS', amount: 1000 });
  });

  it('maps a capture refused for the PaymentIntent state to FAIL, not to an error', () => {
    const ctx = stripeContext('capture');
    const res = jsonResponse(400, errorBody('invalid_request_error', 'payment_intent_unexpected_state'));
    expect(t.parseResponse(ctx, res, gw)).toMatchObject({ status: 'FAIL', reason: 'payment_intent_unexpected_state' });
  });

  it('maps a cancel to SUCCESS on canceled', () => {
    const ctx = stripeContext('cancel');
    expect(t.parseResponse(ctx, jsonResponse(200, successBody(ctx)), gw)).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'canceled' });
  });

  it('maps a refund: succeeded is SUCCESS with the refund id, pending is PENDING, failed is FAIL with its failure_reason', () => {
    const ctx = stripeContext('refund', { amount: 500 });
    expect(t.parseResponse(ctx, jsonResponse(200, refund(ctx)), gw)).toEqual({
      status: 'SUCCESS',
      gatewayStatus: 'succeeded',
      gatewayReference: REFUND_ID,
      amount: 500,
      currency: 'EUR',
      // The Refund's `created`: it succeeded within the request that created it.
      occurredAt: 1692600500_000,
    });
    expect(t.parseResponse(ctx, jsonResponse(200, refund(ctx, { status: 'pending' })), gw).status).toBe('PENDING');
    expect(t.parseResponse(ctx, jsonResponse(200, refund(ctx, { status: 'failed', failure_reason: 'expired_or_canceled_card' })), gw)).toMatchObject({
      status: 'FAIL',
      reason: 'expired_or_canceled_card',
    });
  });

  it("dates a refund's success by the Refund's created (seconds), by the answer and the inquiry alike; never a pending one, nor a failure (it fails after it was created)", () => {
    const ctx = stripeContext('refund', { amount: 500 });
    const list = (data: unknown[]): unknown => ({ object: 'list', data, has_more: false, url: '/v1/refunds' });
    const created = 1692600777;
    const answered = t.parseResponse(ctx, jsonResponse(200, refund(ctx, { created })), gw);
    const polled = t.parseStatusResponse(ctx, jsonResponse(200, list([refund(ctx, { created })])), gw);
    expect(answered).toMatchObject({ status: 'SUCCESS', occurredAt: created * 1000 });
    expect(polled).toEqual(answered);
    for (const status of ['pending', 'requires_action', 'failed', 'canceled']) {
      expect(t.parseResponse(ctx, jsonResponse(200, refund(ctx, { created, status })), gw).occurredAt).toBeUndefined();
      expect(t.parseStatusResponse(ctx, jsonResponse(200, list([refund(ctx, { created, status })])), gw)?.occurredAt).toBeUndefined();
    }
    // No time a Date can hold: none.
    for (const bad of [undefined, null, 'yesterday', 1e15, -5, 1.5]) {
      expect(t.parseResponse(ctx, jsonResponse(200, refund(ctx, { created: bad })), gw).occurredAt).toBeUndefined();
    }
  });

  it('maps a refund beyond what was captured to FAIL', () => {
    const ctx = stripeContext('refund');
    expect(t.parseResponse(ctx, jsonResponse(400, errorBody('invalid_request_error', 'amount_too_large')), gw)).toMatchObject({
      status: 'FAIL',
      reason: 'amount_too_large',
    });
  });

  it('maps validate of a held authorization to SUCCESS and of a canceled one to FAIL with the cancellation reason', () => {
    const ctx = stripeContext('validate');
    expect(t.parseResponse(ctx, jsonResponse(200, successBody(ctx)), gw).status).toBe('SUCCESS');
    const canceled = paymentIntent(ctx, { status: 'canceled', cancellation_reason: 'abandoned' });
    expect(t.parseResponse(ctx, jsonResponse(200, canceled), gw)).toMatchObject({ status: 'FAIL', reason: 'abandoned' });
  });

  it('returns the new PaymentIntent id as the new gateway key of a revalidate', () => {
    const ctx = stripeContext('revalidate');
    expect(t.parseResponse(ctx, jsonResponse(200, successBody(ctx)), gw)).toMatchObject({
      status: 'SUCCESS',
      newGatewayKey: NEW_PI_ID,
      gatewayReference: NEW_PI_ID,
    });
  });

  it('gives no new gateway key for a revalidate that failed', () => {
    const ctx = stripeContext('revalidate');
    const outcome = t.parseResponse(ctx, jsonResponse(402, declineBody(ctx)), gw);
    expect(outcome.status).toBe('FAIL');
    expect(outcome.newGatewayKey).toBeUndefined();
  });

  it("returns a succeeded SetupIntent's payment method as the reusable token of a tokenize, never card data", () => {
    const ctx = stripeContext('tokenize');
    const outcome = t.parseResponse(ctx, jsonResponse(200, setupIntent(ctx)), gw);
    expect(outcome).toEqual({ status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: SETUP_INTENT_ID, newGatewayKey: PM_ID });
    // Expanded, the payment method is read by its id.
    expect(t.parseResponse(ctx, jsonResponse(200, setupIntent(ctx, { payment_method: paymentMethod() })), gw).newGatewayKey).toBe(PM_ID);
    expect(JSON.stringify(outcome)).not.toContain('4242');
  });

  it.each([
    ['requires_action', 'ACTION_REQUIRED'],
    ['processing', 'PENDING'],
    ['requires_payment_method', 'FAIL'],
    ['requires_confirmation', 'FAIL'],
    ['canceled', 'FAIL'],
  ] as const)('maps a SetupIntent %s to %s, with no token', (status, expected) => {
    const ctx = stripeContext('tokenize');
    const outcome = t.parseResponse(ctx, jsonResponse(200, setupIntent(ctx, { status })), gw);
    expect(outcome.status).toBe(expected);
    expect(outcome.newGatewayKey).toBeUndefined();
  });

  it("gives a failed SetupIntent's decline code as the reason", () => {
    const ctx = stripeContext('tokenize');
    const failed = setupIntent(ctx, {
      status: 'requires_payment_method',
      last_setup_error: { type: 'card_error', code: 'card_declined', decline_code: 'do_not_honor' },
    });
    expect(t.parseResponse(ctx, jsonResponse(200, failed), gw)).toMatchObject({ status: 'FAIL', reason: 'do_not_honor' });
  });

  it('throws outcome_unknown on an unknown status and on an unreadable 2xx body', () => {
    const ctx = stripeContext('authorize');
    expect(() => t.parseResponse(ctx, jsonResponse(200, paymentIntent(ctx, { status: 'requires_source_action' })), gw)).toThrow(
      expect.objectContaining({ kind: 'outcome_unknown' }),
    );
    expect(() => t.parseResponse(ctx, { status: 200, headers: {}, body: '<html>', elapsedMs: 1 }, gw)).toThrow(GatewayError);
  });

  it('throws the classified error for non-decline failures', () => {
    const ctx = stripeContext('authorize');
    expect(() => t.parseResponse(ctx, jsonResponse(400, errorBody('idempotency_error')), gw)).toThrow(
      expect.objectContaining({ kind: 'idempotency_conflict' }),
    );
    expect(() => t.parseResponse(ctx, jsonResponse(401, errorBody('invalid_request_error')), gw)).toThrow(expect.objectContaining({ kind: 'authentication' }));
  });
});

describe('Stripe status inquiry responses', () => {
  const searchResult = (data: unknown[]): unknown => ({ object: 'search_result', data, has_more: false, next_page: null, url: '/v1/payment_intents/search' });

  it('finds an authorization by the operation id in a search result', () => {
    const ctx = stripeContext('authorize');
    const other = paymentIntent(ctx, { id: 'pi_other', metadata: { operation_id: 'op-someone-else' } });
    const outcome = t.parseStatusResponse(ctx, jsonResponse(200, searchResult([other, paymentIntent(ctx)])), gw);
    expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayReference: PI_ID });
  });

  // Two gateway entries may point at one Stripe account (docs/ARCHITECTURE.md, failover): the attempt after a failover
  // is a PaymentIntent of its own under its own key, carrying the same operation_id as the first attempt's, which the
  // search (one account's index) also returns, and returns alone while the new one is not searchable yet ("data is
  // searchable in less than a minute"). Taken for the failover attempt, the first attempt's decline would FAIL the
  // operation while the failover PaymentIntent may hold the money.
  it("after a failover, finds the failover attempt's own PaymentIntent (its attempt_key), never the first attempt's", () => {
    const ctx = { ...stripeContext('authorize'), idempotencyKey: 'op-stripe-authorize-0001.failover1' };
    const declined = paymentIntent(ctx, {
      id: 'pi_first_attempt',
      status: 'requires_payment_method',
      last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' },
    });
    // Only the first attempt indexed yet: no trace of this attempt (the index lags; asked again, never failed).
    expect(t.parseStatusResponse(ctx, jsonResponse(200, searchResult([declined])), gw)).toBeNull();
    const own = paymentIntent(ctx, { id: NEW_PI_ID, metadata: { operation_id: ctx.operationId, attempt_key: ctx.idempotencyKey } });
    for (const data of [
      [declined, own],
      [own, declined],
    ]) {
      expect(t.parseStatusResponse(ctx, jsonResponse(200, searchResult(data)), gw)).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_PI_ID });
    }
    // The first attempt is asked about by its operation id, as before, never by the failover attempt's PaymentIntent.
    const first = stripeContext('authorize');
    expect(t.parseStatusResponse(first, jsonResponse(200, searchResult([own, declined])), gw)).toMatchObject({
      status: 'FAIL',
      gatewayReference: 'pi_first_attempt',
    });
  });

  // A failover attempt sent by a release before the mark carries no attempt_key, as the first attempt's PaymentIntent does
  // not: only its creation tells them apart. The first attempt's was made before the failover (its decline, or its
  // proven absence, came first); one created at or after the failover's moment is the failover attempt's. Missed, a
  // miss past the search lag would fail the payment over to a third candidate while this one holds the money.
  it('after a failover, still finds the failover attempt sent before the mark (no attempt_key), by its creation after the failover', () => {
    const failedOverAt = 1_692_600_100_500;
    const ctx = { ...stripeContext('authorize'), idempotencyKey: 'op-stripe-authorize-0001.failover1', attemptSince: failedOverAt };
    const declined = paymentIntent(ctx, {
      id: 'pi_first_attempt',
      status: 'requires_payment_method',
      created: 1_692_600_100, // the same second as the failover, before it
      last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' },
    });
    const unmarked = paymentIntent(ctx, { id: NEW_PI_ID, created: 1_692_600_101 });
    expect(t.parseStatusResponse(ctx, jsonResponse(200, searchResult([declined])), gw)).toBeNull();
    for (const data of [
      [declined, unmarked],
      [unmarked, declined],
    ]) {
      expect(t.parseStatusResponse(ctx, jsonResponse(200, searchResult(data)), gw)).toMatchObject({ status: 'SUCCESS', gatewayReference: NEW_PI_ID });
    }
    // An attempt marked with another key (a later failover's) is never this one's, whenever it was made.
    const later = paymentIntent(ctx, {
      id: 'pi_later_attempt',
      created: 1_692_600_200,
      metadata: { operation_id: ctx.operationId, attempt_key: `${ctx.operationId}.failover2` },
    });
    expect(t.parseStatusResponse(ctx, jsonResponse(200, searchResult([later, declined])), gw)).toBeNull();
    // Our clock behind Stripe's: the first attempt's decline may look made after the failover; still never this one's.
    const skewed = { ...declined, created: 1_692_600_105 };
    expect(t.parseStatusResponse(ctx, jsonResponse(200, searchResult([skewed])), gw)).toBeNull();
    expect(t.parseStatusResponse(ctx, jsonResponse(200, searchResult([skewed, unmarked])), gw)).toMatchObject({ gatewayReference: NEW_PI_ID });
  });

  it('answers null when the search finds nothing', () => {
    const ctx = stripeContext('sale');
    expect(t.parseStatusResponse(ctx, jsonResponse(200, searchResult([])), gw)).toBeNull();
  });

  it('answers null for a capture or cancel while the PaymentIntent still waits for capture', () => {
    for (const command of ['capture', 'cancel'] as const) {
      const ctx = stripeContext(command);
      expect(t.parseStatusResponse(ctx, jsonResponse(200, paymentIntent(ctx)), gw)).toBeNull();
    }
    const ctx = stripeContext('capture');
    expect(t.parseStatusResponse(ctx, jsonResponse(200, paymentIntent(ctx, { status: 'succeeded', amount_received: 2599 })), gw)?.status).toBe('SUCCESS');
  });

  // Our capture request stores its operation id on the PaymentIntent (metadata.capture_operation_id), as the webhook
  // reads it (modificationReading). A PaymentIntent captured under another capture's id was not captured by this one:
  // read as this capture's success, the OMS would hear the one capture Stripe made twice.
  it("reads a capture's inquiry by the capture the PaymentIntent names: another capture's is no trace of this one", () => {
    const ctx = stripeContext('capture');
    const captured = (by: string | undefined): Record<string, unknown> =>
      paymentIntent(ctx, {
        status: 'succeeded',
        amount_received: 2599,
        metadata: { operation_id: 'op-stripe-authorize-0001', ...(by !== undefined ? { capture_operation_id: by } : {}) },
      });
    expect(t.parseStatusResponse(ctx, jsonResponse(200, captured('op-stripe-capture-0002')), gw)).toBeNull();
    expect(t.parseStatusResponse(ctx, jsonResponse(200, captured(ctx.operationId)), gw)).toMatchObject({ status: 'SUCCESS', amount: 2599 });
    // Captured without our mark (a PaymentIntent captured before the mark, or in the Dashboard): read as before.
    expect(t.parseStatusResponse(ctx, jsonResponse(200, captured(undefined)), gw)).toMatchObject({ status: 'SUCCESS', amount: 2599 });
  });

  // "You can cancel a PaymentIntent object when it's in one of these statuses: requires_payment_method,
  // requires_capture, requires_confirmation, requires_action" (API reference, cancel a PaymentIntent): a cancel that
  // landed leaves it canceled, so one still in any of these shows no trace of the cancel (its answer lost before it
  // ran): sent again under its key, not FAILED. The bridge cancels such PaymentIntents itself: the void of an action
  // that expired (requires_action), the reversal of a failed authorization (requires_payment_method).
  it('answers null for a cancel while the PaymentIntent is still in any status a cancel would end', () => {
    const ctx = stripeContext('cancel');
    for (const status of ['requires_payment_method', 'requires_confirmation', 'requires_action', 'requires_capture']) {
      expect(t.parseStatusResponse(ctx, jsonResponse(200, paymentIntent(ctx, { status })), gw)).toBeNull();
    }
    expect(t.parseStatusResponse(ctx, jsonResponse(200, paymentIntent(ctx, { status: 'succeeded', amount_received: 2599 })), gw)?.status).toBe('FAIL');
  });

  it('finds a refund by its operation id among the PaymentIntent refunds, and answers null when absent', () => {
    const ctx = stripeContext('refund');
    const list = (data: unknown[]): unknown => ({ object: 'list', data, has_more: false, url: '/v1/refunds' });
    const mine = refund(ctx);
    const theirs = refund(ctx, { id: 're_other', metadata: { operation_id: 'op-other' } });
    expect(t.parseStatusResponse(ctx, jsonResponse(200, list([theirs, mine])), gw)).toMatchObject({ status: 'SUCCESS', gatewayReference: REFUND_ID });
    expect(t.parseStatusResponse(ctx, jsonResponse(200, list([theirs])), gw)).toBeNull();
  });

  it('answers a tokenize inquiry by whether the payment method is attached', () => {
    const ctx = stripeContext('tokenize');
    expect(t.parseStatusResponse(ctx, jsonResponse(200, paymentMethod()), gw)).toMatchObject({ status: 'SUCCESS', newGatewayKey: PM_ID });
    expect(t.parseStatusResponse(ctx, jsonResponse(200, paymentMethod({ customer: null })), gw)).toBeNull();
  });

  it('answers null on 404 and throws classified errors otherwise', () => {
    const ctx = stripeContext('validate');
    expect(t.parseStatusResponse(ctx, jsonResponse(404, errorBody('invalid_request_error', 'resource_missing')), gw)).toBeNull();
    expect(() => t.parseStatusResponse(ctx, jsonResponse(500, errorBody('api_error')), gw)).toThrow(expect.objectContaining({ kind: 'server_error' }));
  });
});

describe('Stripe status search past its first page (has_more, next_page)', () => {
  const page = (data: unknown[], more: boolean, next: string | null): unknown => ({
    object: 'search_result',
    data,
    has_more: more,
    next_page: next,
    url: '/v1/payment_intents/search',
  });

  it('asks for the next page by its cursor while the attempt is not on the page read and more follow', () => {
    const ctx = stripeContext('authorize');
    const others = [paymentIntent(ctx, { id: 'pi_attempt_other', metadata: { operation_id: ctx.operationId, attempt_key: 'another-key' } })];
    const first = jsonResponse(200, page(others, true, 'cursor+2/x'));
    expect(t.parseStatusResponse(ctx, first, gw)).toBeNull();
    const next = t.nextStatusPage!(ctx, first, gw);
    const url = new URL(next!.path, 'https://api.stripe.com');
    expect(next!.method).toBe('GET');
    expect(url.pathname).toBe('/v1/payment_intents/search');
    expect(url.searchParams.get('query')).toBe(`metadata['operation_id']:'${ctx.operationId}'`);
    expect(url.searchParams.get('limit')).toBe('100');
    expect(url.searchParams.get('page')).toBe('cursor+2/x');
  });

  it('ends at the last page (has_more false): the miss stands', () => {
    const ctx = stripeContext('sale');
    expect(t.nextStatusPage!(ctx, jsonResponse(200, page([], false, null)), gw)).toBeNull();
  });

  it('a page that says more follow without a cursor, or says nothing, is no miss: outcome unknown', () => {
    const ctx = stripeContext('revalidate');
    expect(() => t.nextStatusPage!(ctx, jsonResponse(200, page([], true, null)), gw)).toThrow(expect.objectContaining({ kind: 'outcome_unknown' }));
    expect(() => t.nextStatusPage!(ctx, jsonResponse(200, { object: 'search_result', data: [] }), gw)).toThrow(
      expect.objectContaining({ kind: 'outcome_unknown' }),
    );
  });

  it('a PaymentIntent read by its id (capture, cancel, validate) has no next page', () => {
    const ctx = stripeContext('capture');
    expect(t.nextStatusPage!(ctx, jsonResponse(200, paymentIntent(ctx)), gw)).toBeNull();
  });
});

describe('a canceled manual-capture PaymentIntent read for an open cancel: the status inquiry agrees with the webhook', () => {
  const auth = stripeContext('authorize');
  const cancel = stripeContext('cancel');
  /** What each path makes of `pi` for the open cancel: the inquiry's outcome, and the webhook's cancel reading (null: none). */
  function bothPaths(pi: Record<string, unknown>): { polled: unknown; webhook: unknown } {
    const answer = t.parseStatusResponse(cancel, jsonResponse(200, pi), gw);
    const [event] = t.parseWebhook(Buffer.from(JSON.stringify(stripeEvent('payment_intent.canceled', pi))), gw);
    const reading = event.modification;
    if (reading !== undefined) expect(reading.command).toBe('cancel');
    // The inquiry carries the lapse for the authorization's adjustment; the webhook carries it as its own adjustment.
    const { authorizationLapse, ...polled } = answer ?? { authorizationLapse: undefined };
    expect(authorizationLapse !== undefined).toBe(event.adjustment?.kind === 'authorization_expired');
    return { polled: answer === null ? null : polled, webhook: reading?.outcome ?? null };
  }

  it.each([
    ['automatic', 'FAIL'],
    ['failed_invoice', 'FAIL'],
    ['void_invoice', 'FAIL'],
    ['a reason Stripe adds later', null],
    [null, 'SUCCESS'],
    ['requested_by_customer', 'SUCCESS'],
    ['abandoned', 'SUCCESS'],
    ['duplicate', 'SUCCESS'],
    ['fraudulent', 'SUCCESS'],
  ] as const)('cancellation_reason %p: both %p', (reason, expected) => {
    const pi = paymentIntent(auth, { status: 'canceled', amount_capturable: 0, cancellation_reason: reason, canceled_at: 1692700000 });
    const { polled, webhook } = bothPaths(pi);
    expect(polled).toEqual(webhook);
    expect(polled === null ? null : (polled as { status: string }).status).toBe(expected);
  });

  it("Stripe's own cancellation (automatic: the authorization lapsed) settles the cancel for the inquiry: FAIL authorization_expired, dated canceled_at, never sent again", () => {
    const lapsed = paymentIntent(auth, { status: 'canceled', amount_capturable: 0, cancellation_reason: 'automatic', canceled_at: 1692700000 });
    expect(t.parseStatusResponse(cancel, jsonResponse(200, lapsed), gw)).toMatchObject({
      status: 'FAIL',
      gatewayStatus: 'canceled',
      gatewayReference: PI_ID,
      reason: 'authorization_expired',
      occurredAt: 1692700000_000,
    });
    // A hold still standing is no trace of the cancel: it is sent again.
    expect(t.parseStatusResponse(cancel, jsonResponse(200, paymentIntent(auth)), gw)).toBeNull();
    // The authorization's own reading of the same PaymentIntent is unchanged: it failed (lapsed), reason automatic.
    expect(t.parseStatusResponse(stripeContext('validate'), jsonResponse(200, lapsed), gw)).toMatchObject({ status: 'FAIL', reason: 'automatic' });
  });
});

describe('Stripe stored card', () => {
  it("reads the stored card of a tokenize from the SetupIntent's expanded payment method: brand, last4, expiry, no card number", () => {
    const ctx = stripeContext('tokenize');
    const outcome = t.parseResponse(ctx, jsonResponse(200, setupIntent(ctx, { payment_method: paymentMethod() })), gw);
    expect(outcome.storedCard).toEqual({ brand: 'visa', lastFour: '4242', expiryMonth: 8, expiryYear: 2030 });
    // Not expanded (an older answer): no card, never a guess.
    expect(t.parseResponse(ctx, jsonResponse(200, setupIntent(ctx)), gw).storedCard).toBeUndefined();
  });

  it('reads the stored card of a tokenize status inquiry from the attached payment method', () => {
    const ctx = stripeContext('tokenize');
    expect(t.parseStatusResponse(ctx, jsonResponse(200, paymentMethod()), gw)?.storedCard).toEqual({
      brand: 'visa',
      lastFour: '4242',
      expiryMonth: 8,
      expiryYear: 2030,
    });
  });

  it('reads the card a payment stored from its expanded payment method, else from the expanded charge', () => {
    const ctx = stripeContext('sale', { payment_method: { type: 'card', store: true } });
    const pm = paymentMethod({ card: { brand: 'mastercard', exp_month: 1, exp_year: 2031, last4: '4444' } });
    const pi = paymentIntent(ctx, { status: 'succeeded', setup_future_usage: 'off_session', payment_method: pm });
    expect(t.parseResponse(ctx, jsonResponse(200, pi), gw)).toMatchObject({
      storedToken: PM_ID,
      storedCard: { brand: 'mastercard', lastFour: '4444', expiryMonth: 1, expiryYear: 2031 },
    });
    const charge = { id: 'ch_1', payment_method_details: { card: { brand: 'visa', last4: '0005', exp_month: 11, exp_year: 2029 } } };
    const byCharge = paymentIntent(ctx, { status: 'succeeded', setup_future_usage: 'off_session', latest_charge: charge });
    expect(t.parseResponse(ctx, jsonResponse(200, byCharge), gw).storedCard).toEqual({ brand: 'visa', lastFour: '0005', expiryMonth: 11, expiryYear: 2029 });
  });

  it('drops card figures that do not read as one (last four not four digits, month outside 1-12)', () => {
    const ctx = stripeContext('tokenize');
    const pm = paymentMethod({ card: { brand: 'visa', last4: '4242424242424242', exp_month: 13, exp_year: 2030 } });
    expect(t.parseResponse(ctx, jsonResponse(200, setupIntent(ctx, { payment_method: pm })), gw).storedCard).toEqual({ brand: 'visa', expiryYear: 2030 });
  });
});

describe('times no Date can hold', () => {
  it('reads no capture_before or created past the last time a Date holds (the event writes expires_at from it)', () => {
    const ctx = stripeContext('authorize');
    for (const seconds of [9_007_199_254_740, 4_111_111_111_111_111]) {
      const charge = {
        id: 'ch_1',
        object: 'charge',
        created: seconds,
        payment_method_details: { type: 'card', card: { brand: 'visa', capture_before: seconds } },
      };
      const outcome = t.parseResponse(
        ctx,
        jsonResponse(200, { ...(successBody(ctx) as Record<string, unknown>), created: seconds, latest_charge: charge }),
        gw,
      );
      expect(outcome.captureBefore).toBeUndefined();
      expect(outcome.authorizedAt).toBeUndefined();
    }
  });
});

describe('a capture of an authorization Stripe let lapse (PaymentIntent canceled, cancellation_reason automatic)', () => {
  const auth = stripeContext('authorize');
  const capture = stripeContext('capture');
  const canceledAt = 1692700000;
  const lapsed = (reason: string | null = 'automatic', fields: Record<string, unknown> = {}): Record<string, unknown> =>
    paymentIntent(auth, { status: 'canceled', amount_capturable: 0, cancellation_reason: reason, canceled_at: canceledAt, ...fields });
  /** Stripe's refusal of the capture: 400, payment_intent_unexpected_state, the PaymentIntent in the error. */
  const refused = (pi: Record<string, unknown>) =>
    jsonResponse(400, errorBody('invalid_request_error', 'payment_intent_unexpected_state', { payment_intent: pi }));
  const lapse = {
    lineId: `${PI_ID}:authorization_expired`,
    pspReference: PI_ID,
    amount: 2599,
    currency: 'EUR',
    occurredAt: canceledAt * 1000,
    reason: 'automatic',
  };

  it("the capture's refusal is FAIL authorization_expired with the lapse for the authorization's adjustment, not payment_intent_unexpected_state", () => {
    const outcome = t.parseResponse(capture, refused(lapsed()), gw);
    const { decline: _decline, ...read } = outcome;
    expect(read).toEqual({ status: 'FAIL', gatewayStatus: 'canceled', gatewayReference: PI_ID, reason: 'authorization_expired', authorizationLapse: lapse });
  });

  it('the status inquiry of a capture whose answer was lost reads the lapsed PaymentIntent the same way', () => {
    expect(t.parseStatusResponse(capture, jsonResponse(200, lapsed()), gw)).toEqual(t.parseResponse(capture, refused(lapsed()), gw));
  });

  it("what lapsed is what was not captured, keyed by reconciliation's line of the lapse", () => {
    const line = parseStripePaymentIntent('stripe', lapsed('automatic', { amount_received: 0 })).find((r) => r.kind === 'authorization_expired')!;
    const outcome = t.parseStatusResponse(capture, jsonResponse(200, lapsed()), gw);
    expect(outcome?.authorizationLapse).toMatchObject({ lineId: line.lineId, amount: line.amount, pspReference: line.pspReference });
  });

  it('its decline tells the OMS to obtain a new authorization; a cancel that met the lapse has nothing to do', () => {
    expect(outcomeDecline(STRIPE_DECLINES, t.parseResponse(capture, refused(lapsed()), gw))).toEqual({
      category: 'cancelled',
      gateway_code: 'authorization_expired',
      customer_message: declineOf('cancelled', 'x').customer_message,
      suggested_action: 'reauthorize',
    });
    const cancelled = t.parseResponse(stripeContext('cancel'), refused(lapsed()), gw);
    expect(cancelled).toMatchObject({ status: 'FAIL', reason: 'authorization_expired', authorizationLapse: lapse });
    expect(cancelled.decline).toMatchObject({ category: 'cancelled', gateway_code: 'authorization_expired', suggested_action: 'none' });
  });

  it.each(['requested_by_customer', 'abandoned', 'duplicate', 'fraudulent', null, 'failed_invoice', 'void_invoice'])(
    'cancellation_reason %p is no lapse: never authorization_expired, no lapse to record',
    (reason) => {
      const pi = lapsed(reason);
      for (const outcome of [t.parseResponse(capture, refused(pi), gw), t.parseStatusResponse(capture, jsonResponse(200, pi), gw)]) {
        expect(outcome?.status).toBe('FAIL');
        expect(outcome?.reason).not.toBe('authorization_expired');
        expect(outcome?.authorizationLapse).toBeUndefined();
      }
    },
  );

  it('an automatic-capture PaymentIntent cancelled automatic held no authorization to lapse; a refusal naming no PaymentIntent keeps its code', () => {
    const sale = lapsed('automatic', { capture_method: 'automatic' });
    expect(t.parseResponse(capture, refused(sale), gw).reason).toBe('payment_intent_unexpected_state');
    expect(t.parseResponse(capture, jsonResponse(400, errorBody('invalid_request_error', 'payment_intent_unexpected_state')), gw)).toMatchObject({
      reason: 'payment_intent_unexpected_state',
    });
    expect(
      t.parseResponse(capture, jsonResponse(400, errorBody('invalid_request_error', 'payment_intent_unexpected_state')), gw).authorizationLapse,
    ).toBeUndefined();
  });

  it("the webhook's readings are unchanged: the lapse is the authorization's adjustment, no capture outcome", () => {
    const [event] = t.parseWebhook(Buffer.from(JSON.stringify(stripeEvent('payment_intent.canceled', lapsed()))), gw);
    expect(event.adjustment).toMatchObject({ kind: 'authorization_expired', amount: 2599 });
    expect(event.outcome.authorizationLapse).toBeUndefined();
    expect(event.modification?.command).toBe('cancel');
    expect(event.modification?.outcome.authorizationLapse).toBeUndefined();
  });
});
