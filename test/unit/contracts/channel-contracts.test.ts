import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHANNEL_CONTRACTS, describeContractBody, readChannelMessage } from '../../../src/contracts/channel-contracts';
import { validateCommand } from '../../../src/contracts/command-validator';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { PAN_MASK } from '../../../src/logging/redact';
import { PAN_STYLES, TEST_PANS, formatPan } from '../../../harness/drills/test-card-numbers';
import {
  CONTRACT_EXAMPLES,
  marketplaceOrderExample,
  posSaleExample,
  webOrderCreatedExample,
  webPaymentIntentExample,
} from '../../../harness/workload/channel-contract-examples';
import { testConfig } from '../../support/test-config';

type Json = Record<string, unknown>;
const AT = '2026-11-29T19:00:30.000Z';
const channels = testConfig().channels;

const read = (message: unknown) => readChannelMessage(message, channels, AT);

function refusal(message: unknown): CommandValidationError {
  try {
    read(message);
  } catch (err) {
    expect(err).toBeInstanceOf(CommandValidationError);
    return err as CommandValidationError;
  }
  throw new Error('expected a CommandValidationError');
}

/** A deep copy with `path` (dotted) set to `value`. */
function withField(message: Json, path: string, value: unknown): Json {
  const copy = JSON.parse(JSON.stringify(message)) as Json;
  const parts = path.split('.');
  let v: Json = copy;
  for (const p of parts.slice(0, -1)) v = v[p] as Json;
  v[parts[parts.length - 1]] = value;
  return copy;
}

describe('channel contracts: each adapter maps its payload to the canonical command', () => {
  it('web.order_created: an authorization of the order total, reference web-order.<order id>, lines, card summary and free text carried', () => {
    const { command, masked, contract } = read(webOrderCreatedExample('u1'));
    expect(contract).toBe('web.order_created.v1');
    expect(masked).toEqual([]);
    expect(command).toEqual({
      version: 1,
      command: 'authorize',
      channel: 'web',
      received_at: AT,
      payment: {
        gateway: 'simulator',
        gateway_account: 'acme-eu',
        gateway_key: 'pm_u1',
        amount: 12990,
        currency: 'EUR',
        order_id: 'WEB-u1',
        operation_reference: 'web-order.WEB-u1',
        lines: [
          { line_number: 1, item_sku: 'MUG-BLUE', item_name: 'Blue mug', quantity: 2, unit_price_gross: 2495, tax_amount: 866, tax_rate: 21 },
          { line_number: 2, item_sku: 'TEA-500', item_name: 'Green tea 500 g', quantity: 1, unit_price_gross: 5250, tax_amount: 1389, tax_rate: 21 },
        ],
        method_details: { method: 'card', card: { brand: 'visa', last_four_digits: '4242', expiration_month: 12, expiration_year: 2030 } },
        custom_attributes: {
          campaign: 'winter-sale',
          contract: 'web.order_created.v1',
          event_id: 'evt-u1',
          customer_id: 'C-20817',
          gift_message: 'Happy birthday!',
        },
      },
    });
  });

  it('web.order_created with capture_method automatic is a sale; the customer e-mail and name are not forwarded', () => {
    const { command } = read(webOrderCreatedExample('u2', { capture_method: 'automatic' }));
    expect(command.command).toBe('sale');
    expect(JSON.stringify(command)).not.toContain('anna@example.com');
    expect(JSON.stringify(command)).not.toContain('Anna Example');
  });

  it('web.payment_intent: manual is an authorization, automatic a sale, of the intent amount, reference web-intent.<intent id>', () => {
    const sale = read(webPaymentIntentExample('u3')).command;
    expect(sale).toMatchObject({
      command: 'sale',
      channel: 'web',
      payment: { amount: 4500, currency: 'EUR', gateway_key: 'pm_u3', order_id: 'WEB-u3', operation_reference: 'web-intent.pi-u3' },
    });
    expect(sale.payment.custom_attributes).toMatchObject({ cart_id: 'cart-u3', intent_id: 'pi-u3', description: 'Order WEB checkout' });
    expect(read(webPaymentIntentExample('u4', { capture_method: 'manual' })).command.command).toBe('authorize');
  });

  it('pos.sale: a sale of the amount (tip included) on the tender token, reference pos.<store>.<terminal>.<transaction>, offline flag carried', () => {
    const { command } = read(posSaleExample('u5', { offline: true, offline_approval_code: 'Y1' }));
    expect(command).toMatchObject({
      command: 'sale',
      channel: 'pos',
      payment: {
        gateway_key: 'ctp_u5',
        amount: 2350,
        order_id: 'pos.S042.T07.TX-u5',
        operation_reference: 'pos.S042.T07.TX-u5',
        method_details: { method: 'card', submethod: 'contactless', card: { brand: 'visa', last_four_digits: '0119' } },
      },
    });
    expect(command.payment.custom_attributes).toMatchObject({
      store_id: 'S042',
      terminal_id: 'T07',
      transaction_number: 'TX-u5',
      receipt_number: 'R-u5',
      offline: 'true',
      offline_approval_code: 'Y1',
      tip_amount: '200',
      entry_mode: 'contactless',
    });
  });

  it('marketplace.order: an authorization of the total with one split per seller and one for the marketplace fee', () => {
    const { command } = read(marketplaceOrderExample('u6'));
    expect(command).toMatchObject({
      command: 'authorize',
      channel: 'marketplace',
      payment: { amount: 10000, order_id: 'MKP-u6', operation_reference: 'mkp-order.MKP-u6' },
    });
    expect(command.payment.splits).toEqual([
      { type: 'seller', account: 'BA-SELLER-7', reference: 'SELLER-7', amount: 6000 },
      { type: 'seller', account: 'BA-SELLER-9', reference: 'SELLER-9', amount: 2800 },
      { type: 'marketplace_fee', amount: 1200 },
    ]);
  });

  it.each(Object.keys(CONTRACT_EXAMPLES))(
    '%s: the adapter is pure (input untouched, same output twice) and its command passes the canonical validator',
    (name) => {
      const message = CONTRACT_EXAMPLES[name]('pure');
      const before = JSON.stringify(message);
      const first = read(message).command;
      expect(JSON.stringify(message)).toBe(before);
      expect(read(message).command).toEqual(first);
      expect(validateCommand(first, channels)).toEqual(first);
    },
  );

  it('every contract is registered under its name and belongs to its channel', () => {
    expect([...CHANNEL_CONTRACTS.keys()].sort()).toEqual(['marketplace.order.v1', 'pos.sale.v1', 'web.order_created.v1', 'web.payment_intent.v1']);
    for (const [name, c] of CHANNEL_CONTRACTS) expect(name.startsWith(`${c.channel}.`)).toBe(true);
  });
});

describe('channel contracts: what no contract reads is UNSUPPORTED_CONTRACT', () => {
  it.each([
    ['an unknown contract name', { ...webOrderCreatedExample('x'), contract: 'web.order_created.v9' }],
    ['a contract that is not a string', { ...webOrderCreatedExample('x'), contract: 7 }],
    ['a body that names no contract and is no canonical command', { event: 'order_created', order_id: 'A1', total: 100 }],
    ['an array', [webOrderCreatedExample('x')]],
  ])('%s', (_label, message) => {
    const err = refusal(message);
    expect(err.code).toBe('UNSUPPORTED_CONTRACT');
    expect(err.field).toBe('contract');
  });

  it('never quotes the unknown contract name (it could be anything)', () => {
    const err = refusal({ ...webOrderCreatedExample('x'), contract: 'web.secret-thing' });
    expect(err.message).not.toContain('secret-thing');
  });

  it('a canonical command (no contract, version 1) still reads as before', () => {
    const canonical = {
      version: 1,
      command: 'sale',
      channel: 'web',
      received_at: AT,
      payment: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'k1', amount: 100, currency: 'EUR' },
    };
    expect(read(canonical)).toMatchObject({ contract: 'canonical', command: canonical });
  });
});

describe('channel contracts: schema errors name the field in the contract’s terms', () => {
  it.each([
    ['a float total', webOrderCreatedExample('e'), 'order.total_amount', 12.5],
    ['a zero total', webOrderCreatedExample('e'), 'order.total_amount', 0],
    ['a lower-case currency', webOrderCreatedExample('e'), 'order.currency', 'eur'],
    ['an order id with the key separator', webOrderCreatedExample('e'), 'order.order_id', 'WEB-1:interactions'],
    ['a digits-only event id of 200 characters', webOrderCreatedExample('e'), 'event_id', '1'.repeat(200)],
    ['a 2001-character note', webOrderCreatedExample('e'), 'order.note', 'n'.repeat(2001)],
    ['a token of ..', webOrderCreatedExample('e'), 'payment_method.token', '..'],
    ['an unknown top-level field', webOrderCreatedExample('e'), 'channel', 'bus'],
    ['a missing payment method', webOrderCreatedExample('e'), 'payment_method', undefined],
    ['a store id with a dot', posSaleExample('e'), 'store_id', 'S.42'],
    ['a cash tender', posSaleExample('e'), 'tender.type', 'cash'],
    ['an offline flag that is a string', posSaleExample('e'), 'offline', 'yes'],
    ['a negative marketplace fee', marketplaceOrderExample('e'), 'marketplace_fee', -1],
    ['no splits', marketplaceOrderExample('e'), 'splits', []],
    ['a missing intent capture method', webPaymentIntentExample('e'), 'capture_method', undefined],
    ['a metadata value of 501 characters', webPaymentIntentExample('e'), 'metadata', { k: 'v'.repeat(501) }],
  ])('%s', (_label, example, field, value) => {
    const message = value === undefined ? withField(example, field, undefined) : withField(example, field, value);
    if (value === undefined) {
      const parts = field.split('.');
      let v = message;
      for (const p of parts.slice(0, -1)) v = v[p] as Json;
      delete v[parts[parts.length - 1]];
    }
    const err = refusal(message);
    expect(err.code).toBe('INVALID_PARAMS');
    expect(err.field.startsWith(field)).toBe(true);
  });

  it('a lines array over 500 items is refused by size, naming order.lines', () => {
    const line = { sku: 'A', name: 'a', quantity: 1, unit_price: 1 };
    expect(refusal(withField(webOrderCreatedExample('e'), 'order.lines', Array(501).fill(line))).field).toBe('order.lines');
  });
});

describe('channel contracts: cross-field rules that protect money', () => {
  it('refuses a marketplace order whose splits and fee do not add up to the total, naming splits', () => {
    const err = refusal(marketplaceOrderExample('m', { marketplace_fee: 1199 }));
    expect(err.field).toBe('splits');
    expect(err.reason).toContain('9999');
  });

  it('refuses a marketplace order naming one seller twice, and a line whose seller has no split', () => {
    const twice = marketplaceOrderExample('m');
    (twice.splits as Json[])[1].seller_id = 'SELLER-7';
    expect(refusal(twice).field).toBe('splits[1].seller_id');
    const orphan = marketplaceOrderExample('m');
    (orphan.lines as Json[])[0].seller_id = 'SELLER-0';
    expect(refusal(orphan).field).toBe('lines[0].seller_id');
  });

  it('refuses a POS sale whose tip and cashback exceed the amount, and an offline approval code on an online sale', () => {
    expect(refusal(posSaleExample('p', { tip_amount: 2000, cashback_amount: 1000 })).field).toBe('tip_amount');
    expect(refusal(posSaleExample('p', { offline_approval_code: 'Y1' })).field).toBe('offline_approval_code');
  });

  it('refuses a canonical command whose splits do not add up to its amount', () => {
    const command = read(marketplaceOrderExample('m')).command;
    const err = (() => {
      try {
        validateCommand({ ...command, payment: { ...command.payment, amount: 10001 } }, channels);
      } catch (e) {
        return e as CommandValidationError;
      }
      throw new Error('accepted');
    })();
    expect(err.field).toBe('payment.splits');
  });
});

describe('channel contracts: card data refused in structured fields, masked in free text', () => {
  const pan = TEST_PANS[0];

  it.each(PAN_STYLES)('masks a card number written %s in a gift message, a line name and a custom attribute; the command carries the masked text', (style) => {
    const written = formatPan(pan, style);
    const message = webOrderCreatedExample('c');
    const order = message.order as Json;
    order.gift_message = `card ${written} thanks`;
    (order.lines as Json[])[0].name = `mug ${written}`;
    order.custom_attributes = { remark: `pay with ${written}` };
    const { command, masked } = read(message);
    expect(masked.sort()).toEqual(['order.custom_attributes.remark', 'order.gift_message', 'order.lines[0].name']);
    const text = JSON.stringify(command);
    expect(text).not.toContain(written);
    expect(text).not.toContain(JSON.stringify(written).slice(1, -1));
    expect(command.payment.custom_attributes).toMatchObject({ gift_message: `card ${PAN_MASK} thanks`, remark: `pay with ${PAN_MASK}` });
  });

  it.each([
    ['the payment token', webOrderCreatedExample('c'), 'payment_method.token'],
    ['the customer name', webOrderCreatedExample('c'), 'order.customer.name'],
    ['a line SKU', webOrderCreatedExample('c'), 'order.lines.0.sku'],
    ['the POS tender token', posSaleExample('c'), 'tender.token'],
    ['a seller sub-merchant account', marketplaceOrderExample('c'), 'splits.0.sub_merchant_account'],
    ['the intent id', webPaymentIntentExample('c'), 'intent_id'],
  ])('refuses a card number in %s with CARD_DATA_REJECTED naming the field, never the number', (_label, example, path) => {
    const parts = path.split('.');
    let v: Json = example;
    for (const p of parts.slice(0, -1)) v = (Array.isArray(v) ? (v as unknown[])[Number(p)] : v[p]) as Json;
    v[parts[parts.length - 1]] = `x ${formatPan(pan, 'spaces')}`;
    const err = refusal(example);
    expect(err.code).toBe('CARD_DATA_REJECTED');
    expect(err.field).toBe(path.replace(/\.(\d+)\./g, '[$1].'));
    expect(err.message).not.toContain('1111');
  });

  it('refuses a security code under any name and a card number used as a key, even in free text', () => {
    const cvv = marketplaceOrderExample('c');
    (cvv.payment_method as Json).card_cvv = '123';
    expect(refusal(cvv).code).toBe('CARD_DATA_REJECTED');
    const key = posSaleExample('c', { custom_attributes: { [pan]: 'gift' } });
    expect(refusal(key)).toMatchObject({ code: 'CARD_DATA_REJECTED' });
  });

  it('refuses card numbers in free text too when the channel and account profile says refuse', () => {
    const strict = {
      ...channels,
      profiles: [
        {
          channel: 'pos' as const,
          account: 'acme-eu',
          requiredFields: [],
          minAmount: null,
          maxAmount: null,
          minAmountByCurrency: null,
          maxAmountByCurrency: null,
          currencies: [],
          commands: [],
          freeTextCardData: 'refuse' as const,
          freeTextFields: [],
        },
      ],
    };
    const message = posSaleExample('c', { note: `card ${pan}` });
    expect(() => readChannelMessage(message, strict, AT)).toThrow(expect.objectContaining({ code: 'CARD_DATA_REJECTED', field: 'note' }));
    expect(read(message).masked).toEqual(['note']);
  });

  it('applies the profile of the channel and account to the mapped command (amount limits, currencies)', () => {
    const limited = {
      ...channels,
      profiles: [
        {
          channel: 'marketplace' as const,
          account: '*',
          requiredFields: [],
          minAmount: null,
          maxAmount: 5000,
          minAmountByCurrency: null,
          maxAmountByCurrency: null,
          currencies: ['EUR'],
          commands: [],
          freeTextCardData: 'mask' as const,
          freeTextFields: [],
        },
      ],
    };
    expect(() => readChannelMessage(marketplaceOrderExample('c'), limited, AT)).toThrow(
      expect.objectContaining({ code: 'PROFILE_REJECTED', field: 'payment.amount' }),
    );
  });
});

describe('describeContractBody (dead-letter triage of contract payloads)', () => {
  it('reads channel, command, money and order id from each contract, best-effort on invalid payloads', () => {
    expect(describeContractBody(marketplaceOrderExample('d'))).toEqual({
      channel: 'marketplace',
      command: 'authorize',
      payment: { amount: 10000, currency: 'EUR', gateway: 'simulator', gateway_account: 'acme-eu', order_id: 'MKP-d' },
    });
    expect(describeContractBody(posSaleExample('d', { amount: -5 }))).toMatchObject({ channel: 'pos', command: 'sale', payment: { amount: -5 } });
    expect(describeContractBody(webOrderCreatedExample('d'))).toMatchObject({ channel: 'web', payment: { amount: 12990, order_id: 'WEB-d' } });
    expect(describeContractBody({ contract: 'nope' })).toBeNull();
  });
});

describe('docs/CHANNELS.md', () => {
  it('shows one example per contract, and every example is read by its adapter without a refusal', () => {
    const doc = readFileSync(join(__dirname, '../../../docs/CHANNELS.md'), 'utf8');
    const examples = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]) as Json);
    expect(examples.map((e) => e.contract).sort()).toEqual([...CHANNEL_CONTRACTS.keys()].sort());
    for (const e of examples) expect(read(e).contract).toBe(e.contract);
  });
});
