import { readFileSync } from 'node:fs';
import { PspRecordError } from '../../../../src/errors/psp-record-error';
import { STRIPE_BALANCE_TYPES, STRIPE_BALANCE_TYPE_MAP } from '../../../../src/gateways/stripe/stripe-balance-types';
import {
  parseStripeBalanceTransaction,
  parseStripePaymentIntent,
  STRIPE_INTENT_STATUSES,
  stripeCreatedRange,
  stripeIntentMapping,
  stripeListPath,
} from '../../../../src/gateways/stripe/stripe-reconciliation';
import { stripeGateway } from '../../../../src/gateways/stripe/stripe-gateway';
import { metricValue } from '../../../../src/metrics/metrics-registry';
import { specPath } from '../../../support/prism';

/**
 * Stripe's records read into PspRecords: balance transactions (shaped as Stripe documents the object,
 * https://docs.stripe.com/api/balance_transactions/object, with `source` expanded or not) and
 * PaymentIntents. Every documented type and status is mapped, and the lists are the spec's own enums.
 */

const spec = JSON.parse(readFileSync(specPath('stripe-payments-2023-08-16.prism.json'), 'utf8')) as {
  components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }> }> };
};

function bt(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'txn_1NgB1r2eZvKYlo2CXr5e8Zs1',
    object: 'balance_transaction',
    amount: 2599,
    available_on: 1692835200,
    created: 1692230400,
    currency: 'eur',
    description: null,
    exchange_rate: null,
    fee: 66,
    fee_details: [{ amount: 66, application: null, currency: 'eur', description: 'Stripe processing fees', type: 'stripe_fee' }],
    net: 2533,
    reporting_category: 'charge',
    source: 'ch_3NgB1r2eZvKYlo2C0Yx8mQ2n',
    status: 'pending',
    type: 'charge',
    ...overrides,
  };
}

const charge = {
  id: 'ch_3NgB1r2eZvKYlo2C0Yx8mQ2n',
  object: 'charge',
  amount: 2599,
  amount_captured: 2599,
  currency: 'eur',
  payment_intent: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY',
  metadata: {},
  payment_method_details: { type: 'card', card: { brand: 'visa', last4: '4242', exp_month: 8, exp_year: 2027 } },
};

describe('Stripe balance transaction types', () => {
  it('lists exactly the types of the spec enum', () => {
    expect([...STRIPE_BALANCE_TYPES].sort()).toEqual([...(spec.components.schemas.balance_transaction.properties.type.enum ?? [])].sort());
  });

  const expected: Record<string, string> = {
    charge: 'capture/succeeded',
    payment: 'capture/succeeded',
    refund: 'refund/succeeded',
    payment_refund: 'refund/succeeded',
    refund_failure: 'refund_reversed/succeeded',
    payment_failure_refund: 'capture/failed',
    payment_reversal: 'capture/failed',
  };
  it.each(STRIPE_BALANCE_TYPES.filter((t) => t !== 'adjustment').map((t) => [t] as const))('maps type %s', (type) => {
    const record = parseStripeBalanceTransaction('stripe', bt({ type, source: null }));
    expect(`${record.kind}/${record.status}`).toBe(expected[type] ?? 'other/succeeded');
    expect(record.pspType).toBe(type);
    expect(STRIPE_BALANCE_TYPE_MAP[type]).toBeDefined();
  });

  it('reads a dispute withdrawal as a chargeback and its reinstatement as chargeback_reversed', () => {
    const dispute = {
      id: 'dp_1NgB2a2eZvKYlo2C8bJ4Qx1z',
      object: 'dispute',
      amount: 2599,
      currency: 'eur',
      charge: charge.id,
      payment_intent: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY',
      metadata: {},
    };
    const lost = parseStripeBalanceTransaction('stripe', bt({ type: 'adjustment', amount: -2599, fee: 1500, net: -4099, source: dispute }));
    expect(lost).toMatchObject({
      kind: 'chargeback',
      amount: 2599,
      fee: 1500,
      net: -4099,
      pspReference: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY',
      modificationReference: dispute.id,
    });
    const won = parseStripeBalanceTransaction('stripe', bt({ type: 'adjustment', amount: 2599, fee: -1500, net: 4099, source: dispute }));
    expect(won.kind).toBe('chargeback_reversed');
    // Not expanded: the dispute is known by its id.
    expect(parseStripeBalanceTransaction('stripe', bt({ type: 'adjustment', amount: -2599, source: 'dp_1NgB2a2eZvKYlo2C8bJ4Qx1z' })).kind).toBe('chargeback');
  });

  it("reads a partly won dispute's reinstatement in another currency at what came back (the balance's), a won one's at the disputed amount", () => {
    // A USD dispute booked in a EUR balance: the whole disputed amount is withdrawn, only the refunded part comes back.
    const dispute = { id: 'dp_1NgB2a2eZvKYlo2C8bJ4Qx2y', object: 'dispute', amount: 3000, currency: 'usd', charge: charge.id, metadata: {} };
    const partly = parseStripeBalanceTransaction('stripe', bt({ type: 'adjustment', amount: 920, fee: 0, net: 920, source: { ...dispute, status: 'lost' } }));
    expect(partly).toMatchObject({ kind: 'chargeback_reversed', amount: 920, currency: 'EUR' });
    const whole = parseStripeBalanceTransaction('stripe', bt({ type: 'adjustment', amount: 2760, fee: 0, net: 2760, source: { ...dispute, status: 'won' } }));
    expect(whole).toMatchObject({ kind: 'chargeback_reversed', amount: 3000, currency: 'USD', settlementCurrency: 'EUR' });
  });

  it('reads an adjustment that is not about a dispute as other', () => {
    expect(parseStripeBalanceTransaction('stripe', bt({ type: 'adjustment', amount: -500, source: 'ia_1NgB2a2eZvKYlo2C' })).kind).toBe('other');
  });

  it('reads a failed refund (adjustment, reporting_category refund_failure) as refund_reversed, with the refund operation id', () => {
    const refund = {
      id: 're_3NgB1r2eZvKYlo2C1',
      object: 'refund',
      amount: 4000,
      currency: 'eur',
      payment_intent: 'pi_1',
      metadata: { operation_id: 'op-refund-1' },
    };
    const record = parseStripeBalanceTransaction('stripe', bt({ type: 'adjustment', reporting_category: 'refund_failure', amount: 4000, source: refund }));
    expect(record).toMatchObject({ kind: 'refund_reversed', operationId: 'op-refund-1', amount: 4000, modificationReference: 're_3NgB1r2eZvKYlo2C1' });
    // Not expanded: the refund is known by its id and the money coming back.
    expect(parseStripeBalanceTransaction('stripe', bt({ type: 'adjustment', amount: 4000, source: 're_3NgB1r2eZvKYlo2C1' })).kind).toBe('refund_reversed');
  });

  it('keeps a type Stripe added later as other, counted', async () => {
    const before = await metricValue('pb_reconciliation_unmapped_types_total', { psp: 'stripe' });
    expect(parseStripeBalanceTransaction('stripe', bt({ type: 'climate_order_purchase' }))).toMatchObject({ kind: 'other', pspType: 'climate_order_purchase' });
    expect(await metricValue('pb_reconciliation_unmapped_types_total', { psp: 'stripe' })).toBe(before + 1);
  });
});

describe('parseStripeBalanceTransaction', () => {
  it('reads a captured charge: PaymentIntent as reference, our capture id from its metadata, fee and net', () => {
    const source = {
      ...charge,
      payment_intent: {
        id: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY',
        object: 'payment_intent',
        metadata: { operation_id: 'op-auth-1', capture_operation_id: 'op-cap-1', order_id: 'ORD-1' },
      },
    };
    expect(parseStripeBalanceTransaction('stripe', bt({ source }))).toEqual({
      lineId: 'txn_1NgB1r2eZvKYlo2CXr5e8Zs1',
      kind: 'capture',
      status: 'succeeded',
      operationId: 'op-cap-1',
      pspReference: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY',
      modificationReference: 'ch_3NgB1r2eZvKYlo2C0Yx8mQ2n',
      merchantReference: 'ORD-1',
      amount: 2599,
      currency: 'EUR',
      fee: 66,
      net: 2533,
      occurredAt: 1692230400000,
      pspType: 'charge',
    });
  });

  it('reads a capture for less than the authorization at the amount captured, and the uncaptured part given back as no refund', () => {
    const source = { ...charge, amount: 10000, amount_captured: 6000, payment_intent: { id: 'pi_1', metadata: { capture_operation_id: 'op-cap-1' } } };
    // Before API version 2025-03-31 Stripe books the authorization's full amount, then reverses the rest.
    const capture = parseStripeBalanceTransaction('stripe', bt({ amount: 10000, source }));
    expect(capture).toMatchObject({ kind: 'capture', amount: 6000, operationId: 'op-cap-1' });
    const reversal = parseStripeBalanceTransaction(
      'stripe',
      bt({ type: 'refund', reporting_category: 'partial_capture_reversal', amount: -4000, source: 'pyr_1' }),
    );
    expect(reversal.kind).toBe('other');
    expect(reversal.operationId).toBeUndefined();
  });

  it('reads a sale (no capture id) with the operation id of the PaymentIntent', () => {
    const source = { ...charge, payment_intent: { id: 'pi_1', metadata: { operation_id: 'op-sale-1' } } };
    expect(parseStripeBalanceTransaction('stripe', bt({ source })).operationId).toBe('op-sale-1');
  });

  it('reads a refund with our refund operation id from the refund metadata, amount positive, net negative', () => {
    const source = {
      id: 're_3NgB1r2eZvKYlo2C0q1w2e3r',
      object: 'refund',
      amount: 1000,
      currency: 'eur',
      payment_intent: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY',
      charge: charge.id,
      metadata: { operation_id: 'op-ref-1', order_id: 'ORD-1' },
    };
    expect(parseStripeBalanceTransaction('stripe', bt({ type: 'refund', amount: -1000, fee: 0, net: -1000, source }))).toMatchObject({
      kind: 'refund',
      operationId: 'op-ref-1',
      pspReference: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY',
      modificationReference: 're_3NgB1r2eZvKYlo2C0q1w2e3r',
      amount: 1000,
      net: -1000,
    });
  });

  it('reads a charge settled in another currency: presentment amount, fee and net in the settlement currency', () => {
    const source = { ...charge, amount: 2599, amount_captured: 2599, currency: 'eur' };
    expect(parseStripeBalanceTransaction('stripe', bt({ currency: 'usd', amount: 2831, fee: 112, net: 2719, exchange_rate: 1.0893, source }))).toMatchObject({
      amount: 2599,
      currency: 'EUR',
      fee: 112,
      net: 2719,
      settlementCurrency: 'USD',
    });
  });

  it('converts Stripe units to ISO minor units by the currency table (ISK in hundredths)', () => {
    expect(parseStripeBalanceTransaction('stripe', bt({ currency: 'isk', amount: 150000, fee: 5000, net: 145000 }))).toMatchObject({
      amount: 1500,
      fee: 50,
      net: 1450,
      currency: 'ISK',
    });
  });

  it('refuses an amount that is not a whole number of ISO minor units, naming the line and field', () => {
    expect(() => parseStripeBalanceTransaction('stripe', bt({ currency: 'isk', amount: 150050 }))).toThrow(PspRecordError);
    expect(() => parseStripeBalanceTransaction('stripe', bt({ amount: '25.99' }))).toThrow(/txn_1NgB1r2eZvKYlo2CXr5e8Zs1: amount/);
  });

  it('refuses a currency Stripe does not list naming the currency field, not the amount beside it', () => {
    expect(() => parseStripeBalanceTransaction('stripe', bt({ currency: 'xxx' }))).toThrow(expect.objectContaining({ field: 'currency' }));
    // An ISO 4217 code Stripe does not list (the North Korean won).
    const source = { ...charge, amount: 2599, amount_captured: 2599, currency: 'kpw' };
    expect(() => parseStripeBalanceTransaction('stripe', bt({ currency: 'usd', amount: 2831, source }))).toThrow(
      expect.objectContaining({ field: 'source.currency', message: expect.stringContaining('currency_not_supported') }),
    );
  });

  it.each([['zzz'], ['euro'], ['eu'], [''], [978], [null]])('refuses the currency %p, no ISO 4217 code, naming its field', (currency) => {
    expect(() => parseStripeBalanceTransaction('stripe', bt({ currency }))).toThrow(
      expect.objectContaining({ field: 'currency', message: expect.stringContaining('is not an ISO 4217 currency code') }),
    );
    const source = { ...charge, amount: 2599, amount_captured: 2599, currency };
    expect(() => parseStripeBalanceTransaction('stripe', bt({ currency: 'usd', amount: 2831, source }))).toThrow(
      expect.objectContaining({ field: 'source.currency', message: expect.stringContaining('is not an ISO 4217 currency code') }),
    );
  });

  it('carries no card data: card details of the source never reach the record, a card number in a reference is dropped', () => {
    const source = { ...charge, payment_intent: { id: 'pi_1', metadata: { operation_id: 'op-1', order_id: 'card 4242 4242 4242 4242' } } };
    const record = parseStripeBalanceTransaction('stripe', bt({ source }));
    expect(record.merchantReference).toBeUndefined();
    expect(JSON.stringify(record)).not.toMatch(/4242|last4|exp_/);
  });

  it('gives a fee line no payment reference (nothing to match)', () => {
    const record = parseStripeBalanceTransaction('stripe', bt({ type: 'stripe_fee', amount: -500, fee: 0, net: -500, source: null }));
    expect(record).toMatchObject({ kind: 'other', amount: 500 });
    expect(record.pspReference).toBeUndefined();
  });
});

describe('PaymentIntents', () => {
  it('lists exactly the statuses of the spec enum', () => {
    expect([...STRIPE_INTENT_STATUSES].sort()).toEqual([...(spec.components.schemas.payment_intent.properties.status.enum ?? [])].sort());
  });

  it.each([
    ['requires_capture', true, false, 'authorization/succeeded'],
    ['succeeded', true, false, 'authorization/succeeded'],
    ['succeeded', false, false, null],
    ['processing', true, false, 'authorization/pending'],
    ['processing', false, false, 'capture/pending'],
    ['requires_action', true, false, 'authorization/pending'],
    ['requires_confirmation', false, false, 'capture/pending'],
    ['requires_payment_method', true, true, 'authorization/failed'],
    ['requires_payment_method', false, true, 'capture/failed'],
    ['requires_payment_method', true, false, null],
    ['canceled', true, false, 'cancel/succeeded'],
  ] as const)('maps %s (manual %s, error %s) to %s', (status, manual, error, expected) => {
    const m = stripeIntentMapping(status, manual, error);
    expect(m === null ? null : `${m.kind}/${m.status}`).toBe(expected);
  });

  const intent = {
    id: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY',
    object: 'payment_intent',
    amount: 2599,
    amount_capturable: 2599,
    capture_method: 'manual',
    created: 1692230400,
    currency: 'eur',
    latest_charge: 'ch_3NgB1r2eZvKYlo2C0Yx8mQ2n',
    metadata: { operation_id: 'op-auth-1', order_id: 'ORD-1' },
    status: 'requires_capture',
  };

  it('reads an uncaptured authorization with our operation id', () => {
    expect(parseStripePaymentIntent('stripe', intent)).toEqual([
      {
        lineId: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY:authorization',
        kind: 'authorization',
        status: 'succeeded',
        operationId: 'op-auth-1',
        pspReference: 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY',
        merchantReference: 'ORD-1',
        amount: 2599,
        currency: 'EUR',
        occurredAt: 1692230400000,
        pspType: 'payment_intent.requires_capture',
      },
    ]);
  });

  it('reads a canceled authorization as the authorization then its cancel', () => {
    const records = parseStripePaymentIntent('stripe', { ...intent, status: 'canceled', canceled_at: 1692234000 });
    expect(records.map((r) => [r.lineId, r.kind, r.operationId, r.occurredAt])).toEqual([
      ['pi_3NgB1r2eZvKYlo2C0kLq4ZxY:authorization', 'authorization', 'op-auth-1', 1692230400000],
      ['pi_3NgB1r2eZvKYlo2C0kLq4ZxY:cancel', 'cancel', undefined, 1692234000000],
    ]);
  });

  it("reads Stripe's own cancellation of an uncaptured authorization (cancellation_reason automatic) as the lapse of what was not captured, about our authorization", () => {
    const records = parseStripePaymentIntent('stripe', {
      ...intent,
      status: 'canceled',
      cancellation_reason: 'automatic',
      amount_received: 599,
      canceled_at: 1692835200,
    });
    expect(records.map((r) => [r.lineId, r.kind, r.status, r.operationId, r.amount, r.occurredAt])).toEqual([
      ['pi_3NgB1r2eZvKYlo2C0kLq4ZxY:authorization', 'authorization', 'succeeded', 'op-auth-1', 2599, 1692230400000],
      ['pi_3NgB1r2eZvKYlo2C0kLq4ZxY:authorization_expired', 'authorization_expired', 'succeeded', 'op-auth-1', 2000, 1692835200000],
    ]);
    // Any other cancellation is a cancel someone asked for.
    expect(parseStripePaymentIntent('stripe', { ...intent, status: 'canceled', cancellation_reason: 'requested_by_customer' }).map((r) => r.kind)).toEqual([
      'authorization',
      'cancel',
    ]);
  });

  it('reads nothing of an automatic payment that succeeded (its balance transaction is the capture)', () => {
    expect(parseStripePaymentIntent('stripe', { ...intent, capture_method: 'automatic', status: 'succeeded' })).toEqual([]);
  });
});

describe('list requests', () => {
  it('bounds the window in Stripe seconds so that from <= created*1000 < to', () => {
    expect(stripeCreatedRange({ from: 1500, to: 1500 })).toEqual({ gte: 2, lt: 2 });
    expect(stripeCreatedRange({ from: 1000, to: 5001 })).toEqual({ gte: 1, lt: 6 });
  });

  it('asks balance transactions with created bounds, the largest page, the source expanded, after the cursor', () => {
    expect(stripeListPath('bt', { from: 1692230400000, to: 1692316800000 }, 'txn_1')).toBe(
      '/v1/balance_transactions?created%5Bgte%5D=1692230400&created%5Blt%5D=1692316800&limit=100&expand%5B%5D=data.source&starting_after=txn_1',
    );
    expect(stripeListPath('pi', { from: 0, to: 1000 })).toBe('/v1/payment_intents?created%5Bgte%5D=0&created%5Blt%5D=1&limit=100');
  });

  it('is declared on the Stripe gateway', () => {
    expect(stripeGateway.reconciliation?.source).toMatch(/balance_transactions/);
  });
});

describe('a balance transaction type that holds a card number', () => {
  it('is reported as unreadable_type, never as it came (the report, the not-a-payment note)', () => {
    for (const type of ['4111 1111 1111 1111', 'fee 5555555555554444']) {
      const record = parseStripeBalanceTransaction('stripe', bt({ type, source: null }));
      expect(record).toMatchObject({ kind: 'other', pspType: 'unreadable_type' });
    }
    expect(parseStripeBalanceTransaction('stripe', bt({ type: `new_type_${'x'.repeat(200)}`, source: null })).pspType).toHaveLength(64);
  });
});

describe('line times no Date can hold', () => {
  it('sets a balance transaction aside on its created (the report writes each line time), and reads a cancel at its created when canceled_at is none', () => {
    expect(() => parseStripeBalanceTransaction('stripe', bt({ created: 5_555_555_555_554_444 }))).toThrow(PspRecordError);
    const canceled = {
      id: 'pi_1',
      object: 'payment_intent',
      amount: 2599,
      capture_method: 'automatic',
      created: 1692230400,
      canceled_at: 1e308,
      currency: 'eur',
      metadata: {},
      status: 'canceled',
    };
    expect(parseStripePaymentIntent('stripe', canceled).map((r) => r.occurredAt)).toEqual([1692230400000]);
    expect(() => parseStripePaymentIntent('stripe', { ...canceled, created: 9_007_199_254_740_991 })).toThrow(PspRecordError);
  });
});
