import { readFileSync } from 'node:fs';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { specPath } from '../../../support/prism';
import { OutcomeStatus } from '../../../../src/gateways/gateway-adapter';
import {
  PAYMENT_INTENT_STATUSES,
  PaymentIntentCommand,
  PaymentIntentStatus,
  parsePaymentIntentStatus,
  parseRefundStatus,
  paymentIntentOutcome,
  REFUND_STATUSES,
  RefundStatus,
  refundOutcome,
} from '../../../../src/gateways/stripe/stripe-status-map';

/** The expected meaning of every documented PaymentIntent status, per command (columns as in COMMANDS). */
const COMMANDS: readonly PaymentIntentCommand[] = ['authorize', 'revalidate', 'validate', 'sale', 'capture', 'cancel'];
const EXPECTED: Record<PaymentIntentStatus, readonly OutcomeStatus[]> = {
  requires_payment_method: ['FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL'],
  requires_confirmation: ['FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL'],
  requires_action: ['ACTION_REQUIRED', 'ACTION_REQUIRED', 'PENDING', 'ACTION_REQUIRED', 'FAIL', 'FAIL'],
  processing: ['PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING'],
  requires_capture: ['SUCCESS', 'SUCCESS', 'SUCCESS', 'PENDING', 'PENDING', 'FAIL'],
  canceled: ['FAIL', 'FAIL', 'FAIL', 'FAIL', 'FAIL', 'SUCCESS'],
  succeeded: ['SUCCESS', 'SUCCESS', 'SUCCESS', 'SUCCESS', 'SUCCESS', 'FAIL'],
};

const REFUND_EXPECTED: Record<RefundStatus, OutcomeStatus> = {
  pending: 'PENDING',
  requires_action: 'PENDING',
  succeeded: 'SUCCESS',
  failed: 'FAIL',
  canceled: 'FAIL',
};

describe('Stripe PaymentIntent status map', () => {
  it('lists the seven documented PaymentIntent statuses', () => {
    expect([...PAYMENT_INTENT_STATUSES].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it("lists exactly the PaymentIntent status enum of Stripe's OpenAPI spec", () => {
    const spec = JSON.parse(readFileSync(specPath('stripe-payments-2023-08-16.prism.json'), 'utf8')) as {
      components: { schemas: { payment_intent: { properties: { status: { enum: string[] } } } } };
    };
    expect([...PAYMENT_INTENT_STATUSES].sort()).toEqual([...spec.components.schemas.payment_intent.properties.status.enum].sort());
  });

  it.each(PAYMENT_INTENT_STATUSES.map((s) => [s]))('maps PaymentIntent status %s for every command', (status) => {
    expect(parsePaymentIntentStatus(status, 'stripe')).toBe(status);
    expect(COMMANDS.map((c) => paymentIntentOutcome(status, c))).toEqual(EXPECTED[status]);
  });

  it('treats an unknown PaymentIntent status as outcome_unknown, never as PENDING', () => {
    expect(() => parsePaymentIntentStatus('requires_source', 'stripe')).toThrow(GatewayError);
    try {
      parsePaymentIntentStatus('requires_source', 'stripe');
    } catch (err) {
      expect((err as GatewayError).kind).toBe('outcome_unknown');
    }
  });
});

describe('Stripe Refund status map', () => {
  it('lists the five documented Refund statuses', () => {
    expect([...REFUND_STATUSES].sort()).toEqual(Object.keys(REFUND_EXPECTED).sort());
  });

  it.each(REFUND_STATUSES.map((s) => [s]))('maps Refund status %s', (status) => {
    expect(refundOutcome(parseRefundStatus(status, 'stripe'))).toBe(REFUND_EXPECTED[status]);
  });

  it('treats an unknown or missing Refund status as outcome_unknown', () => {
    for (const value of ['reversed', null, undefined]) {
      expect(() => parseRefundStatus(value, 'stripe')).toThrow(expect.objectContaining({ kind: 'outcome_unknown' }));
    }
  });

  it('refuses an undocumented status nested 200 000 deep or of a megabyte with a short outcome_unknown GatewayError', () => {
    const deep = JSON.parse(`${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`) as unknown;
    for (const parse of [parsePaymentIntentStatus, parseRefundStatus]) {
      for (const status of [deep, 'q'.repeat(1_000_000)]) {
        let thrown: unknown;
        try {
          parse(status, 'stripe');
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(GatewayError);
        expect((thrown as GatewayError).message.length).toBeLessThan(700);
      }
    }
  });
});
