import {
  isPersonalField,
  scrubJsonText,
  scrubPayment,
  scrubScheduleDefinition,
  scrubStored,
  scrubStoredCardText,
} from '../../../src/data-lifecycle/customer-data';

describe('customer data scrubbing', () => {
  const payment = {
    gateway: 'adyen',
    gateway_account: 'acme',
    gateway_key: 'psp_1',
    amount: 1999,
    currency: 'EUR',
    order_id: 'ORD-1',
    operation_reference: 'op-1',
    lines: [{ line_number: 1, item_name: 'Gift for Bob', item_sku: 'SKU', quantity: 2, unit_price_gross: 999, tax_amount: 100, tax_rate: 21 }],
    method_details: {
      method: 'card',
      submethod: 'visa',
      card: { bin: '411111', last_four_digits: '1111', brand: 'visa', holder_name: 'Bob', expiration_month: 1, expiration_year: 2030 },
      bank: { iban: 'NL91ABNA0417164300' },
    },
    custom_attributes: { email: 'bob@example.com' },
    splits: [{ type: 'seller' as const, account: 'SUB-1', reference: 'seller-9', amount: 1999 }],
    shopper_email: 'bob@example.com',
  };

  it('keeps in the payment only ids, amounts, currency, lines without names, and the card bin, last four and brand', () => {
    expect(scrubPayment(payment)).toEqual({
      gateway: 'adyen',
      gateway_account: 'acme',
      gateway_key: 'psp_1',
      amount: 1999,
      currency: 'EUR',
      order_id: 'ORD-1',
      operation_reference: 'op-1',
      lines: [{ line_number: 1, item_sku: 'SKU', quantity: 2, unit_price_gross: 999, tax_amount: 100, tax_rate: 21 }],
      method_details: { method: 'card', submethod: 'visa', card: { bin: '411111', last_four_digits: '1111', brand: 'visa' } },
      splits: [{ type: 'seller', account: 'SUB-1', reference: 'seller-9', amount: 1999 }],
    });
  });

  it("keeps an event's own fields (status, reason, event id) next to its scrubbed payment, and drops personal fields anywhere", () => {
    const params = {
      payment: { ...payment, status: 'SUCCESS', reason: 'OK', event_id: 'op-1.SUCCEEDED', sequence: 3 },
      billingAddress: { city: 'Delft' },
      note: 'call Bob',
    };
    const scrubbed = scrubStored(params) as { payment: Record<string, unknown> };
    expect(Object.keys(scrubbed)).toEqual(['payment']);
    expect(scrubbed.payment).toMatchObject({ status: 'SUCCESS', reason: 'OK', event_id: 'op-1.SUCCEEDED', sequence: 3, amount: 1999 });
    expect(JSON.stringify(scrubbed)).not.toMatch(/Bob|bob@|NL91|holder|expiration|Delft/);
  });

  it("erases an event's stored_card as the command's card: its expiry goes, brand and last four digits stay", () => {
    const params = {
      payment: { gateway: 'stripe', stored_card: { brand: 'visa', last_four_digits: '4242', expiration_month: 12, expiration_year: 2030 } },
    };
    expect(scrubStored(params)).toEqual({ payment: { gateway: 'stripe', stored_card: { brand: 'visa', last_four_digits: '4242' } } });
  });

  it("erases a record's stored_card as the command's card: its expiry goes, brand and last four digits stay, idempotently", () => {
    const once = scrubStoredCardText(JSON.stringify({ brand: 'mc', lastFour: '0004', expiryMonth: 3, expiryYear: 2030 }));
    expect(JSON.parse(once)).toEqual({ brand: 'mc', lastFour: '0004' });
    expect(scrubStoredCardText(once)).toBe(once);
    expect(scrubStoredCardText('not json 03/2030')).toBe('{}');
  });

  it('is idempotent, and replaces text that is not JSON as a whole', () => {
    const once = scrubJsonText(JSON.stringify({ event: 'outcome', customer_name: 'Bob', at: 1 }));
    expect(once).toBe('{"event":"outcome","at":1}');
    expect(scrubJsonText(once)).toBe(once);
    expect(scrubJsonText('Bob called')).toBe('"[erased]"');
  });

  it('recognises personal field names in any case style, and not operational ones', () => {
    for (const k of ['holder_name', 'shopperEmail', 'billing-address', 'phone', 'customer_id', 'free_text', 'note']) expect(isPersonalField(k)).toBe(true);
    for (const k of ['amount', 'currency', 'gateway_key', 'state', 'reason', 'event', 'psp_reference', 'at', 'status']) expect(isPersonalField(k)).toBe(false);
  });

  it("scrubs a recurring schedule's definition as its cycles' payment: custom attributes go, ids, token, money and timing stay; idempotent", () => {
    const definition = {
      id: 'sub-42',
      gateway: 'adyen',
      gateway_account: 'acme',
      gateway_key: 'shopper-ada:stored-one',
      amount: 1500,
      currency: 'EUR',
      order_id: 'SUB-42',
      model: 'subscription' as const,
      command: 'sale' as const,
      start_at: '2026-12-01T09:00:00Z',
      interval: { unit: 'month' as const, count: 1 },
      max_cycles: 12,
      network_transaction_id: 'MCC123',
      custom_attributes: { shopper_reference: 'shopper-ada', stripe_customer: 'cus_Ada', email: 'ada@example.com' },
    };
    const { custom_attributes: _gone, ...kept } = definition;
    expect(scrubScheduleDefinition(definition)).toEqual(kept);
    expect(scrubScheduleDefinition(scrubScheduleDefinition(definition))).toEqual(kept);
    // A field the type does not know goes too (an allowlist).
    expect(scrubScheduleDefinition({ ...definition, note: 'call Ada' } as typeof definition)).toEqual(kept);
  });
});
