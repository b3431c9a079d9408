import Stripe from 'stripe';
import { stripeTransformer } from '../../../../src/gateways/stripe';
import { STRIPE_DISPUTE_EVENT_TYPES, STRIPE_DISPUTE_STATUSES, stripeDisputeFact } from '../../../../src/gateways/stripe/stripe-adjustments';
import { SkippedWebhookItem } from '../../../../src/gateways/gateway-adapter';
import { PI_ID, REFUND_ID, refund, stripeContext, stripeEvent, stripeGateway, WEBHOOK_SECRET } from './stripe-fixtures';

const stripe = new Stripe('sk_test_unit_only');
const NOW = new Date('2026-11-22T12:00:00Z');

/** The event as Stripe sends it: the raw body and a `Stripe-Signature` made by Stripe's own SDK. */
function signed(event: unknown): { raw: Buffer; headers: Record<string, string> } {
  const raw = Buffer.from(JSON.stringify(event, null, 2));
  const header = stripe.webhooks.generateTestHeaderString({
    payload: raw.toString('utf8'),
    secret: WEBHOOK_SECRET,
    timestamp: Math.floor(NOW.getTime() / 1000),
  });
  return { raw, headers: { 'stripe-signature': header } };
}

function parseSigned(event: unknown) {
  const { raw, headers } = signed(event);
  expect(stripeTransformer.verifyWebhook(raw, headers, stripeGateway, NOW)).toBe(true);
  return stripeTransformer.parseWebhook(raw, stripeGateway);
}

function dispute(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'dp_1NgB2a2eZvKYlo2Cabcdefgh',
    object: 'dispute',
    amount: 2599,
    currency: 'eur',
    charge: 'ch_3NgB1r2eZvKYlo2C0abcdefg',
    payment_intent: PI_ID,
    reason: 'fraudulent',
    network_reason_code: '10.4',
    status: 'needs_response',
    metadata: {},
    created: 1692600200,
    ...fields,
  };
}

/** Stripe event (and dispute status) → adjustment kind and money direction (docs/EVENTS.md). */
const TABLE: Array<[string, string, string, string]> = [
  ['charge.dispute.created', 'needs_response', 'dispute_opened', 'none'],
  ['charge.dispute.created', 'warning_needs_response', 'dispute_opened', 'none'],
  ['charge.dispute.updated', 'under_review', 'dispute_updated', 'none'],
  ['charge.dispute.funds_withdrawn', 'needs_response', 'chargeback', 'debit'],
  ['charge.dispute.funds_reinstated', 'won', 'chargeback_reversed', 'credit'],
  ['charge.dispute.closed', 'won', 'dispute_won', 'none'],
  ['charge.dispute.closed', 'warning_closed', 'dispute_won', 'none'],
  ['charge.dispute.closed', 'lost', 'dispute_lost', 'none'],
];

describe('Stripe late facts', () => {
  it.each(TABLE)('maps a signed %s (status %s) to a %s adjustment (%s) of the disputed PaymentIntent', (type, status, kind, direction) => {
    const [event] = parseSigned(stripeEvent(type, dispute({ status }), 'evt_dispute_1'));
    expect(event.eventId).toBe('evt_dispute_1');
    expect(event.gatewayReference).toBe(PI_ID);
    // The dispute's metadata is not ours: the operation is found through the PaymentIntent.
    expect(event.operationId).toBeUndefined();
    expect(event.adjustment).toEqual({
      kind,
      direction,
      failsOpenOperation: false,
      amount: 2599,
      currency: 'EUR',
      reason: 'fraudulent',
      pspReference: 'dp_1NgB2a2eZvKYlo2Cabcdefgh',
      occurredAt: 1692600100 * 1000,
    });
    expect(event.outcome.status).not.toBe('FAIL');
  });

  it('reports what funds_reinstated gave back of a partly won dispute (closed lost: only the refunded part), read from its balance transactions', () => {
    const balanceTransactions = [
      { id: 'txn_withdrawn', object: 'balance_transaction', amount: -2599, currency: 'eur', fee: 1500, net: -4099, type: 'adjustment' },
      { id: 'txn_reinstated', object: 'balance_transaction', amount: 1000, currency: 'eur', fee: 0, net: 1000, type: 'adjustment' },
    ];
    const [event] = parseSigned(stripeEvent('charge.dispute.funds_reinstated', dispute({ status: 'lost', balance_transactions: balanceTransactions })));
    expect(event.adjustment).toMatchObject({ kind: 'chargeback_reversed', direction: 'credit', amount: 1000, currency: 'EUR' });
    // With nothing to read what came back, a dispute not won states no amount rather than the disputed one.
    const [bare] = parseSigned(stripeEvent('charge.dispute.funds_reinstated', dispute({ status: 'lost', balance_transactions: [] })));
    expect(bare.adjustment).toMatchObject({ kind: 'chargeback_reversed', direction: 'credit', currency: 'EUR' });
    expect(bare.adjustment?.amount).toBeUndefined();
  });

  it('reports the disputed amount, in its currency, reinstated for a won dispute booked in another balance currency', () => {
    const balanceTransactions = [
      { id: 'txn_withdrawn', object: 'balance_transaction', amount: -2400, currency: 'usd', type: 'adjustment' },
      { id: 'txn_reinstated', object: 'balance_transaction', amount: 2400, currency: 'usd', type: 'adjustment' },
    ];
    const [event] = parseSigned(stripeEvent('charge.dispute.funds_reinstated', dispute({ status: 'won', balance_transactions: balanceTransactions })));
    expect(event.adjustment).toMatchObject({ kind: 'chargeback_reversed', amount: 2599, currency: 'EUR' });
  });

  it('falls back to the Charge when the Dispute names no PaymentIntent', () => {
    const [event] = parseSigned(stripeEvent('charge.dispute.funds_withdrawn', dispute({ payment_intent: null })));
    expect(event.gatewayReference).toBe('ch_3NgB1r2eZvKYlo2C0abcdefg');
  });

  it.each(['refund.updated', 'charge.refund.updated', 'refund.failed'])(
    'reads a failed Refund in %s as the refund FAIL outcome with a refund_failed adjustment',
    (type) => {
      const ctx = stripeContext('refund');
      const [event] = parseSigned(stripeEvent(type, refund(ctx, { status: 'failed', failure_reason: 'expired_or_canceled_card' }), 'evt_refund_failed'));
      expect(event.operationId).toBe(ctx.operationId);
      expect(event.outcome).toMatchObject({ status: 'FAIL', reason: 'expired_or_canceled_card' });
      expect(event.adjustment).toEqual({
        kind: 'refund_failed',
        direction: 'credit',
        failsOpenOperation: true,
        amount: ctx.payment.amount,
        currency: ctx.payment.currency,
        reason: 'expired_or_canceled_card',
        pspReference: REFUND_ID,
        occurredAt: 1692600100 * 1000,
      });
    },
  );

  it('carries no adjustment on a Refund that did not fail', () => {
    const [event] = parseSigned(stripeEvent('refund.updated', refund(stripeContext('refund'))));
    expect(event.adjustment).toBeUndefined();
  });

  it('skips an undocumented Dispute status as unreadable rather than guessing (no adjustment), without refusing the webhook', () => {
    const { raw } = signed(stripeEvent('charge.dispute.closed', dispute({ status: 'brand_new' })));
    const skipped: SkippedWebhookItem[] = [];
    expect(stripeTransformer.parseWebhook(raw, stripeGateway, (item) => skipped.push(item))).toEqual([]);
    expect(skipped).toEqual([expect.objectContaining({ reason: 'unreadable', eventType: 'charge.dispute.closed', status: 'brand_new' })]);
  });

  it('has an adjustment for every dispute event type and status Stripe documents', () => {
    for (const type of STRIPE_DISPUTE_EVENT_TYPES) for (const status of STRIPE_DISPUTE_STATUSES) expect(stripeDisputeFact(type, status).kind).toBeTruthy();
  });
});
