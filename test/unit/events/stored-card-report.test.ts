import { outcomeEvent } from '../../../src/events/payment-event';
import { storedCardMismatches } from '../../../src/events/stored-card-report';
import { OperationRecord } from '../../../src/ledger/ledger';
import { testConfig } from '../../support/test-config';

const config = testConfig();

function tokenize(overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: 'op-tok-1',
    command: 'tokenize',
    channel: 'web',
    state: 'SUCCEEDED',
    payment: {
      gateway: 'simulator',
      gateway_account: 'acme',
      gateway_key: 'pm_card_visa',
      amount: 0,
      currency: 'EUR',
      order_id: 'O-1',
      method_details: { method: 'card', card: { brand: 'visa', last_four_digits: '4242', expiration_month: 12, expiration_year: 2030 } },
    },
    receivedAt: 1000,
    createdAt: 1000,
    updatedAt: 1100,
    attempts: 1,
    gatewayStatus: 'active',
    gatewayReference: 'tok_1',
    newGatewayKey: 'tok_1',
    storedCard: { brand: 'visa', lastFour: '4242', expiryMonth: 12, expiryYear: 2030 },
    ...overrides,
  };
}

function paymentOf(op: OperationRecord): Record<string, unknown> {
  const event = outcomeEvent(op, config);
  if (!event) throw new Error('no event');
  return event.params.payment as Record<string, unknown>;
}

describe('stored card on the outcome event', () => {
  it('reports the stored card as the PSP confirmed it, in the OMS card field names, without a discrepancy when they agree', () => {
    const payment = paymentOf(tokenize());
    expect(payment.stored_card).toEqual({ brand: 'visa', last_four_digits: '4242', expiration_month: 12, expiration_year: 2030 });
    expect(payment.reason).toBeNull();
    expect(payment.new_gateway_key).toBe('tok_1');
  });

  it('flags a stored card whose last four digits or expiry differ from what the OMS sent: card_mismatch, the fields, and the reason', () => {
    const payment = paymentOf(tokenize({ storedCard: { brand: 'visa', lastFour: '1881', expiryMonth: 12, expiryYear: 2031 } }));
    expect(payment.stored_card).toEqual({
      brand: 'visa',
      last_four_digits: '1881',
      expiration_month: 12,
      expiration_year: 2031,
      discrepancy: 'card_mismatch',
      mismatched_fields: ['last_four_digits', 'expiration_year'],
    });
    expect(payment.reason).toBe('card_mismatch');
    // The OMS's own description is echoed unchanged beside it.
    expect((payment.method_details as { card: { last_four_digits: string } }).card.last_four_digits).toBe('4242');
  });

  it('reports no stored card before the PSP confirmed the operation, nor when the PSP described none', () => {
    expect(paymentOf(tokenize({ state: 'PENDING' })).stored_card).toBeUndefined();
    expect(paymentOf(tokenize({ storedCard: undefined })).stored_card).toBeUndefined();
  });

  it('compares only what both sides state, never the brand (each PSP names brands its own way), and reads a two-digit year as 20yy', () => {
    expect(storedCardMismatches({ brand: 'mastercard', expiration_year: 30 }, { brand: 'mc', lastFour: '5454', expiryYear: 2030 })).toEqual([]);
    expect(storedCardMismatches(undefined, { lastFour: '5454' })).toEqual([]);
    expect(storedCardMismatches({ last_four_digits: '5454', expiration_month: 1 }, { lastFour: '5454', expiryMonth: 2 })).toEqual(['expiration_month']);
  });
});

describe('stored card compared with an expiry the OMS sent as the MIB strings', () => {
  const card = (expiration_month: string, expiration_year: string) => ({ last_four_digits: '4242', expiration_month, expiration_year });
  const confirmed = { brand: 'visa', lastFour: '4242', expiryMonth: 3, expiryYear: 2031 };

  it('reads "03" / "2031" and "3" / "31" as 3/2031: no mismatch', () => {
    expect(storedCardMismatches(card('03', '2031'), confirmed)).toEqual([]);
    expect(storedCardMismatches(card('3', '31'), confirmed)).toEqual([]);
  });

  it('flags "04" / "2032" against a PSP that stored 3/2031', () => {
    expect(storedCardMismatches(card('04', '2032'), confirmed)).toEqual(['expiration_month', 'expiration_year']);
  });

  it('echoes the expiry as the OMS sent it on the event', () => {
    const op = tokenize();
    op.payment.method_details = { method: 'card', card: { brand: 'visa', ...card('03', '2031') } };
    op.storedCard = confirmed;
    expect(paymentOf(op)).toMatchObject({
      method_details: { card: { expiration_month: '03', expiration_year: '2031' } },
      stored_card: { expiration_month: 3 },
    });
    expect(paymentOf(op).stored_card).not.toHaveProperty('discrepancy');
  });
});
