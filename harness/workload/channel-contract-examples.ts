/**
 * Example payloads of each channel contract (docs/CHANNELS.md shows the same ones), as a web checkout, a
 * store terminal and a marketplace publish them. `run` makes ids unique per run; amounts are minor units.
 * Used by the tests, the fuzz run and the workload.
 */

type Json = Record<string, unknown>;

/** A `web.order_created.v1` event: an order of two lines, paid with a card token, authorized (capture later). */
export function webOrderCreatedExample(run: string, overrides: Json = {}): Json {
  return {
    contract: 'web.order_created.v1',
    event_id: `evt-${run}`,
    occurred_at: '2026-11-29T19:00:00Z',
    capture_method: 'manual',
    order: {
      order_id: `WEB-${run}`,
      currency: 'EUR',
      total_amount: 12990,
      subtotal_amount: 10240,
      tax_amount: 2255,
      shipping_amount: 495,
      discount_amount: 0,
      customer: { customer_id: 'C-20817', email: 'anna@example.com', name: 'Anna Example', locale: 'de-DE' },
      lines: [
        { line_number: 1, sku: 'MUG-BLUE', name: 'Blue mug', quantity: 2, unit_price: 2495, tax_amount: 866, tax_rate: 21 },
        { line_number: 2, sku: 'TEA-500', name: 'Green tea 500 g', quantity: 1, unit_price: 5250, tax_amount: 1389, tax_rate: 21 },
      ],
      gift_message: 'Happy birthday!',
      custom_attributes: { campaign: 'winter-sale' },
    },
    payment_method: {
      type: 'card',
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      token: `pm_${run}`,
      card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030 },
    },
    ...overrides,
  };
}

/** A `web.payment_intent.v1`: charge now (`automatic`) with a PSP token. */
export function webPaymentIntentExample(run: string, overrides: Json = {}): Json {
  return {
    contract: 'web.payment_intent.v1',
    intent_id: `pi-${run}`,
    created_at: '2026-11-29T19:00:05Z',
    order_id: `WEB-${run}`,
    amount: 4500,
    currency: 'EUR',
    capture_method: 'automatic',
    payment_method: { type: 'card', gateway: 'simulator', gateway_account: 'acme-eu', token: `pm_${run}`, card: { brand: 'mastercard', last4: '4444' } },
    customer: { customer_id: 'C-20817' },
    description: 'Order WEB checkout',
    metadata: { cart_id: `cart-${run}` },
    ...overrides,
  };
}

/** A `pos.sale.v1`: a contactless card-present sale at a store terminal, with a tip. */
export function posSaleExample(run: string, overrides: Json = {}): Json {
  return {
    contract: 'pos.sale.v1',
    store_id: 'S042',
    terminal_id: 'T07',
    transaction_number: `TX-${run}`,
    receipt_number: `R-${run}`,
    operator_id: 'OP-11',
    occurred_at: '2026-11-29T18:59:00Z',
    business_date: '2026-11-29',
    currency: 'EUR',
    amount: 2350,
    tip_amount: 200,
    tax_amount: 373,
    tender: {
      type: 'contactless',
      entry_mode: 'contactless',
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      token: `ctp_${run}`,
      card: { brand: 'visa', last4: '0119', funding: 'debit' },
    },
    offline: false,
    lines: [{ sku: 'CAP-1', name: 'Cappuccino', quantity: 2, unit_price: 1075 }],
    ...overrides,
  };
}

/** A `marketplace.order.v1`: two sellers and the marketplace's fee, adding up to the total. */
export function marketplaceOrderExample(run: string, overrides: Json = {}): Json {
  return {
    contract: 'marketplace.order.v1',
    marketplace_order_id: `MKP-${run}`,
    occurred_at: '2026-11-29T19:01:00Z',
    currency: 'EUR',
    total_amount: 10000,
    marketplace_fee: 1200,
    capture_method: 'manual',
    payment_method: { type: 'card', gateway: 'simulator', gateway_account: 'acme-eu', token: `pm_${run}` },
    splits: [
      { seller_id: 'SELLER-7', sub_merchant_account: 'BA-SELLER-7', amount: 6000, seller_order_id: `MKP-${run}-A` },
      { seller_id: 'SELLER-9', sub_merchant_account: 'BA-SELLER-9', amount: 2800, seller_order_id: `MKP-${run}-B` },
    ],
    customer: { customer_id: 'C-555' },
    lines: [
      { sku: 'LAMP-1', name: 'Desk lamp', quantity: 1, unit_price: 6000, seller_id: 'SELLER-7' },
      { sku: 'BULB-4', name: 'Bulbs (4)', quantity: 2, unit_price: 1400, seller_id: 'SELLER-9' },
    ],
    note: 'Leave at the door',
    ...overrides,
  };
}

/** Every contract's example by contract name. */
export const CONTRACT_EXAMPLES: Readonly<Record<string, (run: string, overrides?: Json) => Json>> = {
  'web.order_created.v1': webOrderCreatedExample,
  'web.payment_intent.v1': webPaymentIntentExample,
  'pos.sale.v1': posSaleExample,
  'marketplace.order.v1': marketplaceOrderExample,
};
