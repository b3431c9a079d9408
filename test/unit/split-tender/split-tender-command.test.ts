import { readChannelMessage } from '../../../src/contracts/channel-contracts';
import { validateCommand } from '../../../src/contracts/command-validator';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { planOf, stepCommand, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { testConfig } from '../../support/test-config';

function split(overrides: Record<string, unknown> = {}, command = 'sale'): Record<string, unknown> {
  return {
    version: 1,
    command,
    channel: 'web',
    received_at: '2026-11-29T19:00:00Z',
    payment: {
      gateway: 'sim',
      gateway_account: 'acme',
      gateway_key: 'pm_card_visa',
      amount: 10000,
      currency: 'EUR',
      order_id: 'ORD-1',
      operation_reference: 'split-1',
      tenders: [
        { type: 'gift_card', gateway: 'sim', gateway_account: 'acme', gateway_key: 'gc_demo_5000', brand: 'givex', amount: 3000 },
        { type: 'card', gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_visa' },
      ],
      ...overrides,
    },
  };
}

function refusal(message: unknown): { field: string; reason: string } {
  try {
    validateCommand(message);
  } catch (err) {
    if (err instanceof CommandValidationError) return { field: err.field, reason: err.reason };
    throw err;
  }
  throw new Error('accepted');
}

describe('split tender command (payment.tenders)', () => {
  it('accepts a sale paid by a gift card part and a card for the rest, and plans the card part as the remainder', () => {
    const command = validateCommand(split());
    const plan = planOf('split-1', command);
    expect(plan.gift_card).toEqual({ gateway: 'sim', gateway_account: 'acme', gateway_key: 'gc_demo_5000', brand: 'givex', amount: 3000 });
    const card = stepCommand(plan, 'sale', stepReferences(plan).card, 'card', 7000);
    expect(card.payment).toMatchObject({
      amount: 7000,
      gateway_key: 'pm_card_visa',
      operation_reference: '_split-1.card',
      custom_attributes: { split_tender_id: 'split-1', tender: 'card' },
    });
    const gc = stepCommand(plan, 'sale', stepReferences(plan).giftCard, 'gift_card', 3000);
    expect(gc.payment.method_details).toEqual({ method: 'giftcard', submethod: 'givex' });
  });

  it('refuses tenders whose money does not add up, naming the field', () => {
    const tenders = (gift: number, card?: number) => [
      { type: 'gift_card', gateway: 'sim', gateway_account: 'acme', gateway_key: 'gc_demo_5000', amount: gift },
      { type: 'card', gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_visa', ...(card !== undefined ? { amount: card } : {}) },
    ];
    expect(refusal(split({ tenders: tenders(10001) })).field).toBe('payment.tenders[0].amount');
    expect(refusal(split({ tenders: tenders(3000, 6000) })).field).toBe('payment.tenders[1].amount');
    expect(refusal(split({ tenders: tenders(0) })).field).toBe('payment.tenders[0].amount');
  });

  it('refuses a card tender other than the envelope, two gift cards, and tenders on other commands', () => {
    const t = (split().payment as { tenders: Array<Record<string, unknown>> }).tenders;
    expect(refusal(split({ tenders: [t[0], { ...t[1], gateway_key: 'pm_other' }] })).field).toBe('payment.tenders[1].gateway_key');
    expect(refusal(split({ tenders: [t[0], t[0]] })).field).toBe('payment.tenders');
    expect(refusal(split({}, 'capture')).field).toBe('payment.tenders');
    expect(refusal(split({ tenders: undefined, split_tender: true })).field).toBe('payment.split_tender');
  });

  it('refuses, naming the field, what a split cannot carry to the PSP: payment.payment_method, payment.three_ds, payment.recurring', () => {
    const method = refusal(split({ payment_method: { type: 'card', token: 'adyenjs_0_1_25$opaque' } }));
    expect(method).toEqual({ field: 'payment.payment_method', reason: expect.stringMatching(/^is not carried by a split tender/) as unknown });
    expect(refusal(split({ payment_method: { type: 'apple_pay', token: 'wallet-token' } }, 'authorize')).field).toBe('payment.payment_method');
    expect(refusal(split({ three_ds: 'required' })).field).toBe('payment.three_ds');
    expect(refusal(split({ recurring: { model: 'unscheduled' } })).field).toBe('payment.recurring');
    // The same fields on an ordinary sale are the card's to honour.
    expect(() => validateCommand(split({ tenders: undefined, payment_method: { type: 'card', token: 'adyenjs_0_1_25$opaque' } }))).not.toThrow();
  });

  it('refuses payment.lines on a split, naming the field, rather than sending its parts without them; an empty list passes', () => {
    const lines = [{ line_number: 1, item_name: 'Blue mug', item_sku: 'MUG-BLUE', quantity: 2, unit_price_gross: 5000 }];
    const refused = refusal(split({ lines }));
    expect(refused).toEqual({ field: 'payment.lines', reason: expect.stringMatching(/^is not carried by a split tender/) as unknown });
    expect(refusal(split({ lines }, 'authorize')).field).toBe('payment.lines');
    expect(() => validateCommand(split({ lines: [] }))).not.toThrow();
    // Lines on an ordinary sale go to its PSP as they are.
    expect(() => validateCommand(split({ tenders: undefined, lines }))).not.toThrow();
  });

  it('web.order_created.v1 with a gift_card and order lines is refused naming order.lines; without the gift card its lines map as usual', () => {
    const config = testConfig();
    const lines = [{ line_number: 1, sku: 'MUG-BLUE', name: 'Blue mug', quantity: 2, unit_price: 2495 }];
    const order = (extra: Record<string, unknown>) => ({
      contract: 'web.order_created.v1',
      event_id: 'evt-lines',
      occurred_at: '2026-11-29T19:00:00Z',
      order: { order_id: 'WEB-LINES', currency: 'EUR', total_amount: 4990, lines },
      payment_method: { type: 'card', gateway: 'stripe', gateway_account: 'acme-eu', token: 'pm_1Q2w3E' },
      ...extra,
    });
    const gift = { gift_card: { gateway: 'adyen', gateway_account: 'AcmeGifts', token: 'gc_tok_1', amount: 1000 } };
    expect(() => readChannelMessage(order(gift), config.channels, '2026-11-29T19:00:01Z')).toThrow(
      expect.objectContaining({ field: 'order.lines', reason: expect.stringMatching(/^is not carried by a split tender/) as unknown }) as Error,
    );
    expect(readChannelMessage(order({}), config.channels, '2026-11-29T19:00:01Z').command.payment.lines).toHaveLength(1);
  });

  it('refuses a gift card number or PIN in a tender', () => {
    const t = (split().payment as { tenders: Array<Record<string, unknown>> }).tenders;
    expect(refusal(split({ tenders: [{ ...t[0], pin: '1234' }, t[1]] })).field).toMatch(/^payment\.tenders\[0\]\.pin$/);
    expect(refusal(split({ tenders: [{ ...t[0], gateway_key: '4111111111111111' }, t[1]] })).field).toBe('payment.tenders[0].gateway_key');
  });

  it('web.order_created.v1 with a gift_card maps to a split tender (gift card part, card for the rest)', () => {
    const config = testConfig();
    const { command } = readChannelMessage(
      {
        contract: 'web.order_created.v1',
        event_id: 'evt-1',
        occurred_at: '2026-11-29T19:00:00Z',
        order: { order_id: 'WEB-1', currency: 'EUR', total_amount: 12990 },
        payment_method: { type: 'card', gateway: 'stripe', gateway_account: 'acme-eu', token: 'pm_1Q2w3E' },
        gift_card: { gateway: 'adyen', gateway_account: 'AcmeGifts', token: 'gc_tok_1', brand: 'givex', amount: 5000 },
      },
      config.channels,
      '2026-11-29T19:00:01Z',
    );
    expect(command.command).toBe('authorize');
    expect(command.payment.tenders).toEqual([
      { type: 'gift_card', gateway: 'adyen', gateway_account: 'AcmeGifts', gateway_key: 'gc_tok_1', brand: 'givex', amount: 5000 },
      { type: 'card', gateway: 'stripe', gateway_account: 'acme-eu', gateway_key: 'pm_1Q2w3E' },
    ]);
    expect(() =>
      readChannelMessage(
        {
          contract: 'web.order_created.v1',
          event_id: 'evt-2',
          occurred_at: '2026-11-29T19:00:00Z',
          order: { order_id: 'WEB-2', currency: 'EUR', total_amount: 100 },
          payment_method: { type: 'card', gateway: 'stripe', gateway_account: 'acme-eu', token: 'pm_1Q2w3E' },
          gift_card: { gateway: 'adyen', gateway_account: 'AcmeGifts', token: 'gc_tok_1', amount: 500 },
        },
        config.channels,
        '2026-11-29T19:00:01Z',
      ),
    ).toThrow(expect.objectContaining({ field: 'gift_card.amount' }) as Error);
  });
});
