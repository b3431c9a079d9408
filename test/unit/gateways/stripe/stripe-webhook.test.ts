import Stripe from 'stripe';
import { stripeTransformer } from '../../../../src/gateways/stripe';
import { SkippedWebhookItem, WebhookEvent } from '../../../../src/gateways/gateway-adapter';
import { parseStripeSignatureHeader, stripeSignatureHeader, verifyStripeWebhook } from '../../../../src/gateways/stripe/stripe-webhook';
import { stripeKeyMode } from '../../../../src/gateways/stripe/stripe-mode';
import {
  paymentIntent,
  PI_ID,
  PM_ID,
  PREVIOUS_WEBHOOK_SECRET,
  refund,
  REFUND_ID,
  SETUP_INTENT_ID,
  setupIntent,
  stripeContext,
  stripeEvent,
  stripeGateway,
  WEBHOOK_SECRET,
} from './stripe-fixtures';

const NOW = new Date('2026-11-22T12:00:00Z');
const T = Math.floor(NOW.getTime() / 1000);
const stripe = new Stripe('sk_test_unit_only');

function body(event: unknown): Buffer {
  return Buffer.from(JSON.stringify(event, null, 2));
}

const authorized = body(stripeEvent('payment_intent.amount_capturable_updated', paymentIntent(stripeContext('authorize'), { amount_capturable: 2599 })));

describe('Stripe webhook signatures', () => {
  it("accepts a payload signed by Stripe's own SDK", () => {
    const header = stripe.webhooks.generateTestHeaderString({ payload: authorized.toString('utf8'), secret: WEBHOOK_SECRET, timestamp: T });
    expect(stripeTransformer.verifyWebhook(authorized, { 'stripe-signature': header }, stripeGateway, NOW)).toBe(true);
  });

  it("signs so that Stripe's own SDK constructEvent accepts it", () => {
    const now = new Date();
    const header = stripeSignatureHeader(authorized, Math.floor(now.getTime() / 1000), WEBHOOK_SECRET);
    const event = stripe.webhooks.constructEvent(authorized, header, WEBHOOK_SECRET);
    expect(event.type).toBe('payment_intent.amount_capturable_updated');
  });

  it('accepts a header with several v1 signatures during a secret roll, and the previous secret', () => {
    const current = parseStripeSignatureHeader(stripeSignatureHeader(authorized, T, WEBHOOK_SECRET))?.signatures[0];
    const header = `t=${T},v1=${'0'.repeat(64)},v1=${current},v0=${'1'.repeat(64)}`;
    expect(verifyStripeWebhook(authorized, { 'Stripe-Signature': header }, [WEBHOOK_SECRET], NOW)).toBe(true);
    const byPrevious = stripeSignatureHeader(authorized, T, PREVIOUS_WEBHOOK_SECRET);
    expect(stripeTransformer.verifyWebhook(authorized, { 'stripe-signature': byPrevious }, stripeGateway, NOW)).toBe(true);
  });

  it('refuses a tampered body', () => {
    const header = stripeSignatureHeader(authorized, T, WEBHOOK_SECRET);
    const tampered = Buffer.from(authorized.toString('utf8').replace('"amount": 2599', '"amount": 9999'));
    expect(tampered.equals(authorized)).toBe(false);
    expect(stripeTransformer.verifyWebhook(tampered, { 'stripe-signature': header }, stripeGateway, NOW)).toBe(false);
  });

  it('refuses a signature older than 300 seconds, and accepts one at the edge', () => {
    const at = (t: number): Record<string, string> => ({ 'stripe-signature': stripeSignatureHeader(authorized, t, WEBHOOK_SECRET) });
    expect(stripeTransformer.verifyWebhook(authorized, at(T - 301), stripeGateway, NOW)).toBe(false);
    expect(stripeTransformer.verifyWebhook(authorized, at(T - 300), stripeGateway, NOW)).toBe(true);
  });

  it("accepts a timestamp ahead of our clock (skew), as Stripe's own SDK does", () => {
    const now = new Date();
    const ahead = Math.floor(now.getTime() / 1000) + 600;
    const header = stripeSignatureHeader(authorized, ahead, WEBHOOK_SECRET);
    expect(stripe.webhooks.constructEvent(authorized, header, WEBHOOK_SECRET).type).toBe('payment_intent.amount_capturable_updated');
    expect(stripeTransformer.verifyWebhook(authorized, { 'stripe-signature': header }, stripeGateway, now)).toBe(true);
  });

  it('refuses an unsigned payload, a header without v1, a wrong secret and a malformed header', () => {
    const wrong = stripeSignatureHeader(authorized, T, 'whsec_wrong');
    const v0only = `t=${T},v0=${parseStripeSignatureHeader(stripeSignatureHeader(authorized, T, WEBHOOK_SECRET))?.signatures[0]}`;
    const cases: Array<Record<string, string>> = [
      {},
      { 'stripe-signature': v0only },
      { 'stripe-signature': wrong },
      { 'stripe-signature': 'garbage' },
      { 'stripe-signature': `t=${T},v1=abc` },
    ];
    for (const headers of cases) {
      expect(stripeTransformer.verifyWebhook(authorized, headers, stripeGateway, NOW)).toBe(false);
    }
  });

  it('ignores an empty previous secret rather than treating it as a key', () => {
    const header = stripeSignatureHeader(authorized, T, '');
    expect(verifyStripeWebhook(authorized, { 'stripe-signature': header }, [WEBHOOK_SECRET, ''], NOW)).toBe(false);
  });
});

describe('Stripe webhook events', () => {
  const parse = (event: unknown): ReturnType<typeof stripeTransformer.parseWebhook> => stripeTransformer.parseWebhook(body(event), stripeGateway);
  const ctx = stripeContext('authorize');

  it('maps payment_intent.amount_capturable_updated to SUCCESS for our operation', () => {
    expect(parse(stripeEvent('payment_intent.amount_capturable_updated', paymentIntent(ctx, { amount_capturable: 2599 })))).toEqual([
      {
        eventId: 'evt_1NgB1s2eZvKYlo2CkQ7z8Xyz',
        operationId: ctx.operationId,
        gatewayReference: PI_ID,
        account: '',
        // A webhook's PaymentIntent names its charge by id: authorized no earlier than the intent's `created`.
        outcome: {
          status: 'SUCCESS',
          gatewayStatus: 'requires_capture',
          gatewayReference: PI_ID,
          amount: 2599,
          currency: 'EUR',
          authorizedAt: 1692600000 * 1000,
          // The event's `created`: when Stripe made the change it reports.
          occurredAt: 1692600100 * 1000,
        },
      },
    ]);
  });

  it("dates a success or a failure by the event's created (seconds), a cancel by the PaymentIntent's canceled_at; none when created is no time", () => {
    const failed = paymentIntent(ctx, { status: 'requires_payment_method', last_payment_error: { code: 'card_declined' } });
    expect(parse(stripeEvent('payment_intent.payment_failed', failed))[0].outcome).toMatchObject({ status: 'FAIL', occurredAt: 1692600100_000 });
    const refund = { id: 're_1', object: 'refund', status: 'succeeded', amount: 2599, currency: 'eur', metadata: { operation_id: 'op-refund-1' } };
    expect(parse(stripeEvent('refund.updated', refund))[0].outcome).toMatchObject({ status: 'SUCCESS', occurredAt: 1692600100_000 });
    // A refund that was pending succeeds when the event says, not when it was created.
    expect(parse(stripeEvent('refund.updated', { ...refund, created: 1692600000 }))[0].outcome).toMatchObject({ occurredAt: 1692600100_000 });
    const cancelled = paymentIntent(ctx, { status: 'canceled', cancellation_reason: null, canceled_at: 1692600050 });
    expect(parse(stripeEvent('payment_intent.canceled', cancelled))[0].modification?.outcome).toMatchObject({ status: 'SUCCESS', occurredAt: 1692600050_000 });
    for (const created of [undefined, 'yesterday', 1e15]) {
      const event = { ...stripeEvent('refund.updated', refund), created };
      expect(parse(event)[0].outcome.occurredAt).toBeUndefined();
    }
  });

  it('names the connected account of a Connect event, so the outcome worker can check it is ours', () => {
    const event = {
      ...stripeEvent('payment_intent.amount_capturable_updated', paymentIntent(ctx, { amount_capturable: 2599 })),
      account: 'acct_1OurConnected',
    };
    const events = stripeTransformer.parseWebhook(body(event), { ...stripeGateway, merchantAccount: 'acct_1OurConnected' });
    expect(events[0].account).toBe('acct_1OurConnected');
  });

  it('reads an automatic-capture PaymentIntent as a sale: held for capture is still PENDING', () => {
    const pi = paymentIntent(ctx, { capture_method: 'automatic', status: 'requires_capture' });
    expect(parse(stripeEvent('payment_intent.amount_capturable_updated', pi))[0].outcome.status).toBe('PENDING');
  });

  it('maps payment_intent.succeeded to SUCCESS', () => {
    expect(parse(stripeEvent('payment_intent.succeeded', paymentIntent(ctx, { status: 'succeeded' })))[0].outcome.status).toBe('SUCCESS');
  });

  it('maps payment_intent.payment_failed to FAIL with the decline code', () => {
    const pi = paymentIntent(ctx, { status: 'requires_payment_method', last_payment_error: { code: 'card_declined', decline_code: 'lost_card' } });
    expect(parse(stripeEvent('payment_intent.payment_failed', pi))[0].outcome).toMatchObject({ status: 'FAIL', reason: 'lost_card' });
  });

  it('maps payment_intent.canceled to FAIL of the authorization with the cancellation reason', () => {
    const pi = paymentIntent(ctx, { status: 'canceled', cancellation_reason: 'requested_by_customer' });
    expect(parse(stripeEvent('payment_intent.canceled', pi))[0].outcome).toMatchObject({ status: 'FAIL', reason: 'requested_by_customer' });
  });

  it("reads Stripe's own cancellation of an uncaptured authorization (cancellation_reason automatic) as its lapse: authorization_expired of what was not captured", () => {
    const pi = paymentIntent(ctx, { status: 'canceled', cancellation_reason: 'automatic', amount: 2599, amount_received: 599, canceled_at: 1693204800 });
    const [event] = parse(stripeEvent('payment_intent.canceled', pi));
    expect(event.outcome).toMatchObject({ status: 'FAIL', reason: 'automatic' });
    expect(event.adjustment).toEqual({
      kind: 'authorization_expired',
      direction: 'none',
      failsOpenOperation: true,
      amount: 2000,
      currency: 'EUR',
      reason: 'automatic',
      pspReference: PI_ID,
      occurredAt: 1693204800_000,
    });
    // And the FAIL of a cancel of it still open: Stripe released the hold, no cancel of ours did; dated canceled_at.
    // And of a capture of it still open, as its status inquiry reads it: nothing left to capture, obtain a new
    // authorization. Both final: a canceled PaymentIntent never moves again.
    expect(event.modification).toEqual({
      command: 'cancel',
      final: true,
      outcome: expect.objectContaining({ status: 'FAIL', gatewayStatus: 'canceled', reason: 'authorization_expired', occurredAt: 1693204800_000 }),
      others: [
        {
          command: 'capture',
          final: true,
          outcome: {
            status: 'FAIL',
            gatewayStatus: 'canceled',
            gatewayReference: PI_ID,
            reason: 'authorization_expired',
            decline: expect.objectContaining({ category: 'cancelled', gateway_code: 'authorization_expired', suggested_action: 'reauthorize' }),
            // Dated by the event (the capture's own time is none: it never happened).
            occurredAt: 1692600100_000,
          },
        },
      ],
    });
    // The lapse is the webhook's own adjustment of the authorization: the capture's reading carries none to record.
    expect(event.modification?.others?.[0].outcome.authorizationLapse).toBeUndefined();
    expect(event.modification?.outcome.decline).toMatchObject({ suggested_action: 'none' });
  });

  it('carries no lapse for any other cancellation, nor for an automatic-capture PaymentIntent', () => {
    for (const reason of ['requested_by_customer', 'abandoned', 'duplicate', 'fraudulent', null]) {
      expect(
        parse(stripeEvent('payment_intent.canceled', paymentIntent(ctx, { status: 'canceled', cancellation_reason: reason })))[0].adjustment,
      ).toBeUndefined();
    }
    const sale = paymentIntent(ctx, { status: 'canceled', cancellation_reason: 'automatic', capture_method: 'automatic' });
    expect(parse(stripeEvent('payment_intent.canceled', sale))[0].adjustment).toBeUndefined();
  });

  describe('the modification a manual-capture PaymentIntent shows done (its events name the authorization)', () => {
    const captured = (fields: Record<string, unknown> = {}): Record<string, unknown> =>
      paymentIntent(ctx, {
        status: 'succeeded',
        amount: 2599,
        amount_capturable: 0,
        amount_received: 1000,
        metadata: { operation_id: ctx.operationId, order_id: 'ORD-10042', capture_operation_id: 'op-stripe-capture-0001' },
        ...fields,
      });

    it('succeeded with the capture_operation_id our capture set: that capture SUCCESS for what Stripe collected (amount_received), the authorization read as before', () => {
      const [event] = parse(stripeEvent('payment_intent.succeeded', captured()));
      expect(event.operationId).toBe(ctx.operationId);
      expect(event.outcome).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'succeeded' });
      expect(event.modification).toEqual({
        command: 'capture',
        operationId: 'op-stripe-capture-0001',
        outcome: { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: PI_ID, amount: 1000, currency: 'EUR', occurredAt: 1692600100_000 },
      });
    });

    it('succeeded without it (captured in the Dashboard), or an automatic-capture one (a sale): no modification, nothing guessed', () => {
      expect(parse(stripeEvent('payment_intent.succeeded', captured({ metadata: { operation_id: ctx.operationId } })))[0].modification).toBeUndefined();
      expect(parse(stripeEvent('payment_intent.succeeded', captured({ capture_method: 'automatic' })))[0].modification).toBeUndefined();
    });

    it('canceled for no reason (our cancel sends none) or a user-provided one: a cancel SUCCESS, naming no operation', () => {
      for (const reason of [null, undefined, 'requested_by_customer', 'abandoned', 'duplicate', 'fraudulent']) {
        const pi = paymentIntent(ctx, { status: 'canceled', cancellation_reason: reason });
        expect(parse(stripeEvent('payment_intent.canceled', pi))[0].modification).toEqual({
          command: 'cancel',
          outcome: expect.objectContaining({ status: 'SUCCESS', gatewayStatus: 'canceled', gatewayReference: PI_ID }),
        });
      }
    });

    it("canceled for Stripe's own reason: a cancel FAIL (automatic, the lapse: authorization_expired; failed_invoice, void_invoice as they are)", () => {
      for (const [reason, expected] of [
        ['automatic', 'authorization_expired'],
        ['failed_invoice', 'failed_invoice'],
        ['void_invoice', 'void_invoice'],
      ]) {
        const pi = paymentIntent(ctx, { status: 'canceled', cancellation_reason: reason });
        expect(parse(stripeEvent('payment_intent.canceled', pi))[0].modification).toEqual({
          command: 'cancel',
          outcome: expect.objectContaining({ status: 'FAIL', gatewayStatus: 'canceled', gatewayReference: PI_ID, reason: expected }),
          // Only the lapse fails a capture of it too (and is final); an invoice's cancellation concerns no capture of ours.
          ...(reason === 'automatic' ? { final: true, others: [expect.objectContaining({ command: 'capture' })] } : {}),
        });
      }
    });

    it("canceled for a reason Stripe does not document (neither a canceller's nor its own): no reading, nothing guessed", () => {
      const pi = paymentIntent(ctx, { status: 'canceled', cancellation_reason: 'some_new_reason' });
      expect(parse(stripeEvent('payment_intent.canceled', pi))[0].modification).toBeUndefined();
    });

    it('any other status (amount_capturable_updated: the hold) shows no modification done', () => {
      for (const status of ['requires_capture', 'processing', 'requires_action', 'requires_payment_method']) {
        const pi = paymentIntent(ctx, { status, metadata: { operation_id: ctx.operationId, capture_operation_id: 'op-stripe-capture-0001' } });
        expect(parse(stripeEvent('payment_intent.amount_capturable_updated', pi))[0].modification).toBeUndefined();
      }
    });
  });

  it('maps payment_intent.processing to PENDING and payment_intent.requires_action to ACTION_REQUIRED without the client secret', () => {
    expect(parse(stripeEvent('payment_intent.processing', paymentIntent(ctx, { status: 'processing' })))[0].outcome.status).toBe('PENDING');
    const waiting = parse(stripeEvent('payment_intent.requires_action', paymentIntent(ctx, { status: 'requires_action', client_secret: 'pi_1_secret_x' })))[0];
    expect(waiting.outcome.status).toBe('ACTION_REQUIRED');
    // A webhook outcome travels through the outcomes queue: it never carries the client secret.
    expect(JSON.stringify(waiting)).not.toContain('secret');
  });

  it('maps refund.updated and charge.refund.updated from the refund, with the refund operation id', () => {
    const rctx = stripeContext('refund', { amount: 700 });
    for (const type of ['refund.updated', 'charge.refund.updated', 'refund.created']) {
      const [event] = parse(stripeEvent(type, refund(rctx, { status: 'failed', failure_reason: 'lost_or_stolen_card' })));
      expect(event).toMatchObject({
        operationId: rctx.operationId,
        gatewayReference: REFUND_ID,
        outcome: { status: 'FAIL', gatewayReference: REFUND_ID, reason: 'lost_or_stolen_card', amount: 700 },
      });
    }
  });

  it("keys a Refund's failure (success, cancellation) by the Refund, not the event: refund.updated, refund.failed and charge.refund.updated of one failure are one fact; the event's id its former one", () => {
    const rctx = stripeContext('refund', { amount: 700 });
    const failed = refund(rctx, { status: 'failed', failure_reason: 'lost_or_stolen_card' });
    const events = ['refund.updated', 'refund.failed', 'charge.refund.updated'].map((type, k) => parse(stripeEvent(type, failed, `evt_failed_${k}`))[0]);
    for (const [k, event] of events.entries()) {
      expect(event).toMatchObject({ eventId: `${REFUND_ID}:failed`, formerEventId: `evt_failed_${k}` });
      expect(event.adjustment).toMatchObject({ kind: 'refund_failed', pspReference: REFUND_ID });
    }
    // So are its success and its cancellation (a status a Refund reaches once); a waiting one is keyed by its event.
    const done = ['refund.created', 'refund.updated', 'charge.refund.updated'].map((type, k) => parse(stripeEvent(type, refund(rctx), `evt_ok_${k}`))[0]);
    for (const [k, event] of done.entries()) expect(event).toMatchObject({ eventId: `${REFUND_ID}:succeeded`, formerEventId: `evt_ok_${k}` });
    expect(parse(stripeEvent('refund.updated', refund(rctx, { status: 'canceled' })))[0].eventId).toBe(`${REFUND_ID}:canceled`);
    for (const status of ['pending', 'requires_action']) {
      const [event] = parse(stripeEvent('refund.updated', refund(rctx, { status }), 'evt_other'));
      expect(event.eventId).toBe('evt_other');
      expect(event.formerEventId).toBeUndefined();
    }
  });

  it('reads a succeeded refund without our operation id (a Dashboard refund) as a refund of its PaymentIntent: found by it, settling no refund of ours, one fact per Refund', () => {
    const made = { ...refund(stripeContext('refund', { amount: 700 }), { status: 'succeeded' }), metadata: {} };
    const [created] = parse(stripeEvent('refund.created', made));
    expect(created).toEqual({
      eventId: `${REFUND_ID}:succeeded`,
      gatewayReference: REFUND_ID,
      paymentReference: PI_ID,
      account: '',
      outcome: expect.objectContaining({
        status: 'SUCCESS',
        gatewayReference: REFUND_ID,
        amount: 700,
        currency: 'EUR',
        settles: ['refund'],
        referenceIsModification: true,
      }) as unknown,
    });
    expect(created.operationId).toBeUndefined();
    // refund.created, refund.updated and charge.refund.updated tell one refund: one key.
    expect(parse(stripeEvent('refund.updated', made)).map((e) => e.eventId)).toEqual([`${REFUND_ID}:succeeded`]);
    expect(parse(stripeEvent('charge.refund.updated', made)).map((e) => e.eventId)).toEqual([`${REFUND_ID}:succeeded`]);
    // Not given back yet, or not at all: nothing.
    expect(parse(stripeEvent('refund.created', { ...made, status: 'pending' }))).toEqual([]);
    expect(parse(stripeEvent('refund.canceled', { ...made, status: 'canceled' }))).toEqual([]);
  });

  it("reads a failed refund without our operation id (a Dashboard refund failing after it succeeded) as that refund's refund_failed, found by its PaymentIntent, one fact per Refund", () => {
    const made = { ...refund(stripeContext('refund', { amount: 700 }), { status: 'failed', failure_reason: 'lost_or_stolen_card' }), metadata: {} };
    for (const type of ['refund.failed', 'refund.updated', 'charge.refund.updated']) {
      const [event] = parse(stripeEvent(type, made));
      expect(event).toMatchObject({
        eventId: `${REFUND_ID}:failed`,
        gatewayReference: REFUND_ID,
        paymentReference: PI_ID,
        outcome: { status: 'FAIL', gatewayReference: REFUND_ID, settles: ['refund'], referenceIsModification: true },
        adjustment: { kind: 'refund_failed', direction: 'credit', amount: 700, currency: 'EUR', pspReference: REFUND_ID, reason: 'lost_or_stolen_card' },
      });
      expect(event.operationId).toBeUndefined();
    }
  });

  // The API reference (Refund.reason, 2023-08-16 spec in test/fixtures/specs/): "either user-provided (duplicate,
  // fraudulent, or requested_by_customer) or generated by Stripe internally (expired_uncaptured_charge)". Stripe's own
  // Refund of an uncaptured charge whose authorization expired gives back no money that was ever taken: the hold is
  // released, which the PaymentIntent's cancellation (automatic) reports as the authorization's lapse. Told as a refund
  // outside the bridge, the OMS would book money paid back to a shopper who was never charged.
  it('reads no refund outside the bridge, nor its failure, from the Refund Stripe makes of an uncaptured charge that expired', () => {
    const released = { ...refund(stripeContext('refund', { amount: 2599 }), { status: 'succeeded', reason: 'expired_uncaptured_charge' }), metadata: {} };
    for (const type of ['refund.created', 'refund.updated', 'charge.refund.updated']) expect(parse(stripeEvent(type, released))).toEqual([]);
    expect(parse(stripeEvent('refund.failed', { ...released, status: 'failed', failure_reason: 'unknown' }))).toEqual([]);
    // A Dashboard refund for another reason is still one.
    const asked = { ...released, reason: 'requested_by_customer' };
    expect(parse(stripeEvent('refund.created', asked))).toMatchObject([{ eventId: `${REFUND_ID}:succeeded`, paymentReference: PI_ID }]);
  });

  it('ignores charge.refunded: a running total on the Charge, sent while a refund is pending, naming no refund', () => {
    const charge = {
      id: 'ch_3NgB1r2eZvKYlo2C0abcdefg',
      object: 'charge',
      amount: 2599,
      amount_refunded: 2599,
      currency: 'eur',
      payment_intent: PI_ID,
      refunded: true,
      metadata: { operation_id: ctx.operationId },
    };
    expect(parse(stripeEvent('charge.refunded', charge))).toEqual([]);
  });

  it("maps setup_intent.succeeded to the tokenize's SUCCESS with the payment method as token, and a failed setup to FAIL", () => {
    const tctx = stripeContext('tokenize');
    const [done] = parse(stripeEvent('setup_intent.succeeded', setupIntent(tctx)));
    expect(done).toMatchObject({ operationId: tctx.operationId, gatewayReference: SETUP_INTENT_ID, outcome: { status: 'SUCCESS', newGatewayKey: PM_ID } });
    const failed = setupIntent(tctx, { status: 'requires_payment_method', last_setup_error: { type: 'card_error', code: 'card_declined' } });
    expect(parse(stripeEvent('setup_intent.setup_failed', failed))[0].outcome).toMatchObject({ status: 'FAIL', reason: 'card_declined' });
    // A webhook outcome travels through a queue: an action never carries the client secret.
    const waiting = parse(
      stripeEvent('setup_intent.requires_action', setupIntent(tctx, { status: 'requires_action', next_action: { type: 'use_stripe_sdk' } })),
    )[0];
    expect(waiting.outcome.status).toBe('ACTION_REQUIRED');
    expect(JSON.stringify(waiting)).not.toContain('secret');
  });

  it('ignores event types we do not act on, without counting them as skipped: other objects, and the known types carrying no outcome', () => {
    const skipped: SkippedWebhookItem[] = [];
    const quiet = (event: unknown) => stripeTransformer.parseWebhook(body(event), stripeGateway, (item) => skipped.push(item));
    expect(quiet(stripeEvent('customer.created', { id: 'cus_x', object: 'customer' }))).toEqual([]);
    expect(quiet(stripeEvent('payment_intent.created', paymentIntent(ctx)))).toEqual([]);
    expect(quiet(stripeEvent('setup_intent.created', setupIntent(stripeContext('tokenize'))))).toEqual([]);
    expect(skipped).toEqual([]);
  });

  describe('a signed event it cannot read or does not know: acknowledged, reported as skipped, never thrown', () => {
    /** Parses `event` and returns what it gave and what it reported skipped. */
    function parseSkipping(event: Record<string, unknown>, gateway = stripeGateway): { events: ReturnType<typeof parse>; skipped: SkippedWebhookItem[] } {
      const skipped: SkippedWebhookItem[] = [];
      const events = stripeTransformer.parseWebhook(body(event), gateway, (item) => skipped.push(item));
      return { events, skipped };
    }

    it('skips a PaymentIntent whose status our map does not list (an endpoint on a newer API version) as unreadable, naming the event, type and status', () => {
      const pi = paymentIntent(ctx, { status: 'requires_reauthorization' });
      const { events, skipped } = parseSkipping(
        {
          ...stripeEvent('payment_intent.amount_capturable_updated', pi, 'evt_unknown_status_pi'),
          account: 'acct_1X',
        },
        { ...stripeGateway, merchantAccount: 'acct_1X' },
      );
      expect(events).toEqual([]);
      expect(skipped).toEqual([
        {
          reason: 'unreadable',
          eventId: 'evt_unknown_status_pi',
          eventType: 'payment_intent.amount_capturable_updated',
          apiVersion: '2023-08-16',
          status: 'requires_reauthorization',
          reference: PI_ID,
          account: 'acct_1X',
        },
      ]);
    });

    it('skips a SetupIntent, a Refund and a Dispute with an unknown status the same way', () => {
      const cases: Array<[string, Record<string, unknown>]> = [
        ['setup_intent.succeeded', setupIntent(stripeContext('tokenize'), { status: 'requires_review' })],
        ['refund.updated', refund(stripeContext('refund', { amount: 700 }), { status: 'reversed' })],
        ['charge.dispute.updated', { id: 'dp_1', object: 'dispute', amount: 2599, currency: 'eur', payment_intent: PI_ID, status: 'escalated' }],
      ];
      for (const [type, object] of cases) {
        const { events, skipped } = parseSkipping(stripeEvent(type, object));
        expect(events).toEqual([]);
        expect(skipped).toEqual([expect.objectContaining({ reason: 'unreadable', eventType: type, status: object.status, reference: object.id })]);
      }
    });

    it('skips a type of the objects it reads that it does not know as unknown_event_type', () => {
      const { events, skipped } = parseSkipping(stripeEvent('payment_intent.reauthorization_required', paymentIntent(ctx), 'evt_new_type'));
      expect(events).toEqual([]);
      expect(skipped).toEqual([
        {
          reason: 'unknown_event_type',
          eventId: 'evt_new_type',
          eventType: 'payment_intent.reauthorization_required',
          apiVersion: '2023-08-16',
          reference: PI_ID,
          account: '',
        },
      ]);
    });

    it('keeps the statuses it knows unskipped', () => {
      const { events, skipped } = parseSkipping(stripeEvent('payment_intent.succeeded', paymentIntent(ctx, { status: 'succeeded' })));
      expect(events).toHaveLength(1);
      expect(skipped).toEqual([]);
    });
  });

  describe('a currency that is no ISO 4217 code: the event refused naming the field, no outcome or adjustment', () => {
    const ctx = stripeContext('refund');
    const dispute = (fields: Record<string, unknown>): Record<string, unknown> => ({
      id: 'dp_1NgB2a2eZvKYlo2Cabcdefgh',
      object: 'dispute',
      amount: 2599,
      currency: 'eur',
      payment_intent: PI_ID,
      reason: 'fraudulent',
      status: 'lost',
      ...fields,
    });

    function parseSkipping(event: Record<string, unknown>): { events: ReturnType<typeof parse>; skipped: SkippedWebhookItem[] } {
      const skipped: SkippedWebhookItem[] = [];
      const events = stripeTransformer.parseWebhook(body(event), stripeGateway, (item) => skipped.push(item));
      return { events, skipped };
    }

    it.each<[string, unknown, Record<string, unknown>]>([
      ['payment_intent.succeeded', 'EURO', paymentIntent(stripeContext('sale'), { status: 'succeeded' })],
      ['payment_intent.canceled', 'eu', paymentIntent(stripeContext('authorize'), { status: 'canceled', cancellation_reason: 'automatic' })],
      ['refund.failed', 'xxx1', refund(ctx, { status: 'failed', failure_reason: 'expired_or_canceled_card' })],
      ['charge.dispute.funds_withdrawn', '', dispute({})],
      ['charge.dispute.closed', 978, dispute({})],
    ])('%s with currency %p', (type, currency, object) => {
      const { events, skipped } = parseSkipping(stripeEvent(type, { ...object, currency }));
      expect(events).toEqual([]);
      expect(skipped).toEqual([
        expect.objectContaining({
          reason: 'unreadable',
          eventType: type,
          field: 'data.object.currency',
          problem: expect.stringContaining('is not an ISO 4217 currency code') as unknown,
        }),
      ]);
    });

    it("names a reinstated balance transaction's currency", () => {
      const lines = [{ id: 'txn_back', object: 'balance_transaction', amount: 1000, currency: 'EURO', type: 'adjustment' }];
      const { events, skipped } = parseSkipping(stripeEvent('charge.dispute.funds_reinstated', dispute({ balance_transactions: lines })));
      expect(events).toEqual([]);
      expect(skipped).toEqual([expect.objectContaining({ field: 'data.object.balance_transactions[0].currency' })]);
    });

    it("reads Stripe's lower-case codes upper-cased, as before", () => {
      const { events, skipped } = parseSkipping(stripeEvent('refund.failed', refund(ctx, { status: 'failed', currency: 'eur' })));
      expect(skipped).toEqual([]);
      expect(events[0].adjustment).toMatchObject({ kind: 'refund_failed', currency: 'EUR' });
      expect(events[0].outcome.currency).toBe('EUR');
    });
  });

  it('refuses a body that is not a Stripe event', () => {
    expect(() => stripeTransformer.parseWebhook(Buffer.from('not json'), stripeGateway)).toThrow(expect.objectContaining({ kind: 'invalid_request' }));
    expect(() => stripeTransformer.parseWebhook(Buffer.from('{"id":"evt_1"}'), stripeGateway)).toThrow(expect.objectContaining({ kind: 'invalid_request' }));
  });

  it('acknowledges with 200 JSON', () => {
    expect(stripeTransformer.webhookAck()).toEqual({ status: 200, body: '{"received":true}', contentType: 'application/json' });
  });
});

describe('an event time no Date can hold', () => {
  it('gives the late fact no occurredAt (its event writes occurred_at from it) rather than a time that throws', () => {
    const dispute = { id: 'dp_1', object: 'dispute', amount: 2599, currency: 'eur', payment_intent: PI_ID, status: 'needs_response', reason: 'fraudulent' };
    for (const created of [1e300, 9_007_199_254_740_991]) {
      const [event] = stripeTransformer.parseWebhook(body({ ...stripeEvent('charge.dispute.created', dispute), created }), stripeGateway);
      expect(event.adjustment).toBeDefined();
      expect(event.adjustment?.occurredAt).toBeUndefined();
    }
  });
});

describe("an event from the other Stripe mode than api_key's", () => {
  const ctx = stripeContext('authorize');
  const held = (livemode: unknown, type = 'payment_intent.amount_capturable_updated'): Record<string, unknown> => ({
    ...stripeEvent(type, paymentIntent(ctx, { amount_capturable: 2599, livemode }), 'evt_other_mode_0001'),
    livemode,
  });
  const live = { ...stripeGateway, apiKey: 'rk_live_51Nunit0123456789abcdef' };
  function parseSkipping(
    event: Record<string, unknown>,
    gateway = stripeGateway,
  ): { events: ReturnType<typeof stripeTransformer.parseWebhook>; skipped: SkippedWebhookItem[] } {
    const skipped: SkippedWebhookItem[] = [];
    const events = stripeTransformer.parseWebhook(body(event), gateway, (item) => skipped.push(item));
    return { events, skipped };
  }

  it('reads the mode from the key prefix: sk_/rk_ test or live; any other key names none', () => {
    expect(['sk_test_1', 'rk_test_1', 'sk_live_1', 'rk_live_1', 'pk_live_1', 'sk_twin_1', 'live', ''].map(stripeKeyMode)).toEqual([
      'test',
      'test',
      'live',
      'live',
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('skips a live mode event on a test key gateway (other_environment, naming livemode and both modes); a test mode one is read', () => {
    const { events, skipped } = parseSkipping({ ...held(true), account: 'acct_1X' });
    expect(events).toEqual([]);
    expect(skipped).toEqual([
      {
        reason: 'other_environment',
        eventId: 'evt_other_mode_0001',
        eventType: 'payment_intent.amount_capturable_updated',
        apiVersion: '2023-08-16',
        reference: PI_ID,
        account: 'acct_1X',
        field: 'livemode',
        problem: "is true (Stripe's live mode) while api_key is a test mode key",
      },
    ]);
    const read = parseSkipping(held(false));
    expect(read.skipped).toEqual([]);
    expect(read.events.map((e) => [e.operationId, e.outcome.status])).toEqual([[ctx.operationId, 'SUCCESS']]);
  });

  it('skips a test mode event on a live key gateway, of every type it reads (a refund, a dispute), and reads a live mode one', () => {
    for (const event of [
      held(false),
      { ...stripeEvent('refund.updated', refund(stripeContext('refund'))), livemode: false },
      {
        ...stripeEvent('charge.dispute.created', {
          id: 'dp_1',
          object: 'dispute',
          amount: 2599,
          currency: 'eur',
          payment_intent: PI_ID,
          status: 'needs_response',
        }),
      },
      { ...held(false), type: 'payment_intent.some_new_type' },
    ]) {
      const { events, skipped } = parseSkipping(event, live);
      expect(events).toEqual([]);
      expect(skipped).toEqual([
        expect.objectContaining({ reason: 'other_environment', field: 'livemode', problem: "is false (Stripe's test mode) while api_key is a live mode key" }),
      ]);
    }
    const read = parseSkipping(held(true), live);
    expect(read.skipped).toEqual([]);
    expect(read.events).toHaveLength(1);
  });

  it('leaves the mode unchecked for a key naming none, or an event without a boolean livemode; other objects from the other mode stay quiet', () => {
    const twin = { ...stripeGateway, apiKey: 'twin-stripe-key-0123456789' };
    expect(parseSkipping(held(true), twin).events).toHaveLength(1);
    expect(parseSkipping(held(false), twin).events).toHaveLength(1);
    const { livemode: _dropped, ...noMode } = held(true);
    expect(parseSkipping(noMode).events).toHaveLength(1);
    expect(parseSkipping(held('true')).events).toHaveLength(1);
    const quiet = parseSkipping({ ...stripeEvent('customer.created', { id: 'cus_x', object: 'customer' }), livemode: true });
    expect(quiet).toEqual({ events: [], skipped: [] });
    expect(parseSkipping(held(true, 'payment_intent.created'))).toEqual({ events: [], skipped: [] });
  });
});

describe("an event of another Stripe account than merchant_account's (a Connect endpoint brings every connected account's)", () => {
  const ctx = stripeContext('authorize');
  const held = (account?: string, type = 'payment_intent.amount_capturable_updated'): Record<string, unknown> => ({
    ...stripeEvent(type, paymentIntent(ctx, { amount_capturable: 2599 }), 'evt_other_account_0001'),
    ...(account !== undefined ? { account } : {}),
  });
  const connected = { ...stripeGateway, merchantAccount: 'acct_1OurConnected' };
  function parseSkipping(event: Record<string, unknown>, gateway = stripeGateway): { events: WebhookEvent[]; skipped: SkippedWebhookItem[] } {
    const skipped: SkippedWebhookItem[] = [];
    const events = stripeTransformer.parseWebhook(body(event), gateway, (item) => skipped.push(item));
    return { events, skipped };
  }

  it("skips a sibling connected account's event at a gateway acting for one (other_account, naming the account); its own is read", () => {
    const { events, skipped } = parseSkipping(held('acct_1SiblingAccount'), connected);
    expect(events).toEqual([]);
    expect(skipped).toEqual([
      {
        reason: 'other_account',
        eventId: 'evt_other_account_0001',
        eventType: 'payment_intent.amount_capturable_updated',
        apiVersion: '2023-08-16',
        reference: PI_ID,
        account: 'acct_1SiblingAccount',
      },
    ]);
    const own = parseSkipping(held('acct_1OurConnected'), connected);
    expect(own.skipped).toEqual([]);
    expect(own.events.map((e) => [e.operationId, e.outcome.status, e.account])).toEqual([[ctx.operationId, 'SUCCESS', 'acct_1OurConnected']]);
  });

  it("skips a connected account's event at a gateway of the platform's own account, and the platform's own (no account) at a connected one", () => {
    expect(parseSkipping(held('acct_1SiblingAccount')).skipped).toEqual([
      expect.objectContaining({ reason: 'other_account', account: 'acct_1SiblingAccount' }),
    ]);
    expect(parseSkipping(held(), connected).skipped).toEqual([expect.objectContaining({ reason: 'other_account', account: '' })]);
    const platform = parseSkipping(held());
    expect(platform.skipped).toEqual([]);
    expect(platform.events).toHaveLength(1);
  });

  it('skips every type it reads (a refund, a dispute, one new to it) of another account; other objects stay quiet', () => {
    for (const event of [
      { ...stripeEvent('refund.updated', refund(stripeContext('refund'))), account: 'acct_1SiblingAccount' },
      {
        ...stripeEvent('charge.dispute.created', {
          id: 'dp_1',
          object: 'dispute',
          amount: 2599,
          currency: 'eur',
          payment_intent: PI_ID,
          status: 'needs_response',
        }),
        account: 'acct_1SiblingAccount',
      },
      held('acct_1SiblingAccount', 'payment_intent.some_new_type'),
    ]) {
      const { events, skipped } = parseSkipping(event, connected);
      expect(events).toEqual([]);
      expect(skipped).toEqual([expect.objectContaining({ reason: 'other_account', account: 'acct_1SiblingAccount' })]);
    }
    const quiet = parseSkipping(
      { ...stripeEvent('account.updated', { id: 'acct_1SiblingAccount', object: 'account' }), account: 'acct_1SiblingAccount' },
      connected,
    );
    expect(quiet).toEqual({ events: [], skipped: [] });
  });
});

describe('an event about an object no request of ours made (another integration sharing the Stripe account)', () => {
  const ctx = stripeContext('sale');
  const CHECKOUT_PI = 'pi_3QcHeCkOuT2eZvKYlo2C1xYz';
  /** The request behind a change made by Stripe itself, or by a browser through Checkout: none we could have sent. */
  const noRequest = { request: { id: null, idempotency_key: null } };
  function parse(event: Record<string, unknown>): { events: WebhookEvent[]; skipped: SkippedWebhookItem[] } {
    const skipped: SkippedWebhookItem[] = [];
    const events = stripeTransformer.parseWebhook(body(event), stripeGateway, (item) => skipped.push(item));
    return { events, skipped };
  }
  /** A PaymentIntent a Checkout Session created: no metadata of ours (Checkout copies `payment_intent_data.metadata`, if any). */
  const checkout = (fields: Record<string, unknown> = {}): Record<string, unknown> =>
    paymentIntent(ctx, { id: CHECKOUT_PI, capture_method: 'automatic', status: 'succeeded', amount_received: ctx.payment.amount, metadata: {}, ...fields });

  it("marks a Checkout Session's payment_intent.succeeded as unmarked, for the route to skip as not_ours unless the ledger knows the PaymentIntent", () => {
    const { events, skipped } = parse({ ...stripeEvent('payment_intent.succeeded', checkout(), 'evt_checkout_0001'), ...noRequest });
    expect(skipped).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0].operationId).toBeUndefined();
    expect(events[0].unmarked).toEqual({
      references: [CHECKOUT_PI],
      skipped: {
        reason: 'not_ours',
        eventId: 'evt_checkout_0001',
        eventType: 'payment_intent.succeeded',
        apiVersion: '2023-08-16',
        account: '',
        reference: CHECKOUT_PI,
      },
    });
  });

  it("marks Billing's PaymentIntent (its invoice) and one carrying another integration's metadata (an order_id is no mark of ours)", () => {
    const billing = checkout({ invoice: 'in_1QcHeC2eZvKYlo2CbIlLiNg', description: 'Subscription creation' });
    const plugin = checkout({ metadata: { order_id: '000001234', integration: 'another-plugin' } });
    for (const object of [billing, plugin]) {
      const { events } = parse({ ...stripeEvent('payment_intent.succeeded', object), ...noRequest });
      expect(events[0].unmarked?.references).toEqual([CHECKOUT_PI]);
    }
  });

  it('leaves our own PaymentIntents unmarked by nothing: our operation_id, or the capture_operation_id our capture set, decides alone', () => {
    const ours = parse(stripeEvent('payment_intent.succeeded', paymentIntent(ctx, { capture_method: 'automatic', status: 'succeeded' })));
    expect(ours.events).toHaveLength(1);
    expect(ours.events[0].operationId).toBe(ctx.operationId);
    expect(ours.events[0].unmarked).toBeUndefined();
    // A storefront's PaymentIntent our capture took: Stripe keeps the metadata the capture request set.
    const captured = parse(
      stripeEvent('payment_intent.succeeded', checkout({ capture_method: 'manual', metadata: { capture_operation_id: 'op-stripe-capture-0001' } })),
    );
    expect(captured.events[0].unmarked).toBeUndefined();
    expect(captured.events[0].modification?.operationId).toBe('op-stripe-capture-0001');
  });

  it('names the idempotency key of the request that caused the event (a cancel takes no metadata: ours by its key)', () => {
    const canceled = checkout({ capture_method: 'manual', status: 'canceled', amount_received: 0, cancellation_reason: 'requested_by_customer' });
    const { events } = parse({
      ...stripeEvent('payment_intent.canceled', canceled, 'evt_cancel_0001'),
      request: { id: 'req_cancel', idempotency_key: 'op-stripe-cancel-0001' },
    });
    expect(events[0].unmarked).toMatchObject({ references: [CHECKOUT_PI], requestKey: 'op-stripe-cancel-0001' });
    // An older event shape (`request` a plain id) names no key.
    const old = parse({ ...stripeEvent('payment_intent.canceled', canceled), request: 'req_cancel' });
    expect(old.events[0].unmarked).not.toHaveProperty('requestKey');
  });

  it("marks a SetupIntent without our metadata (Checkout in setup mode), and a Dispute by the disputed PaymentIntent and Charge; never a tokenize's", () => {
    const foreign = parse({ ...stripeEvent('setup_intent.succeeded', setupIntent(stripeContext('tokenize'), { metadata: {} })), ...noRequest });
    expect(foreign.events[0].unmarked?.references).toEqual([SETUP_INTENT_ID]);
    expect(parse(stripeEvent('setup_intent.succeeded', setupIntent(stripeContext('tokenize')))).events[0].unmarked).toBeUndefined();
    const dispute = { id: 'dp_1', object: 'dispute', amount: 2599, currency: 'eur', payment_intent: CHECKOUT_PI, charge: 'ch_1', status: 'needs_response' };
    const disputed = parse({ ...stripeEvent('charge.dispute.created', dispute, 'evt_dispute_0001'), ...noRequest });
    expect(disputed.events[0].unmarked).toMatchObject({ references: [CHECKOUT_PI, 'ch_1'], skipped: { reason: 'not_ours', eventId: 'evt_dispute_0001' } });
  });

  it('leaves a Refund without our metadata to the outcome worker (it names the payment it refunds), unmarked by nothing', () => {
    const { events } = parse(stripeEvent('refund.updated', refund(stripeContext('refund'), { metadata: {} })));
    expect(events).toHaveLength(1);
    expect(events[0].paymentReference).toBe(PI_ID);
    expect(events[0].unmarked).toBeUndefined();
  });
});
