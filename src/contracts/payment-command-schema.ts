import { actionResultSchema, threeDsSchema } from './three-ds';
import { CURRENCY_CODES } from '../money/currencies';
import { MAX_MINOR_AMOUNT } from '../money/minor-units';
import { CHANNELS, COMMAND_TYPES } from './payment-command';
import { splitTenderFlagSchema, tendersSchema } from './split-tender-command';
import { paymentMethodRules, paymentMethodSchema, recurringSchema } from './payment-method-schema';

/**
 * JSON Schemas of the canonical command. One base payment schema, refined per command type (a capture
 * needs a positive amount, a tokenize needs card details, …). Strings are bounded so a huge field is an
 * error, not a memory problem; unknown fields inside `payment` are allowed (the bus may add some) but
 * card numbers and security codes are refused by `find-card-data` before anything is stored.
 */
const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;
const minor = { type: 'integer', minimum: 0, maximum: MAX_MINOR_AMOUNT } as const;
const positiveMinor = { type: 'integer', minimum: 1, maximum: MAX_MINOR_AMOUNT } as const;

/**
 * The operation reference alphabet: 1 to 128 characters, letters, digits, `.`, `_` and `-`, starting with a
 * letter or digit. It becomes part of Redis keys (`op:<id>`, `op:<id>:interactions`), the BullMQ job id, the
 * PSP idempotency key and PSP references, so it never holds the key separator `:` (a reference such as
 * `<id>:interactions` would name another operation's key), `/`, `%`, spaces or anything a URL, a header or
 * a PSP's signed field list could split on. Derived ids (`op-<32 hex>`) are in the same alphabet.
 */
/** Longest string `sequence` a command holds (a channel's receipt counter, the bus's JSON-RPC id). */
export const MAX_SEQUENCE_LENGTH = 64;

export const REFERENCE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';

const line = {
  type: 'object',
  properties: {
    line_number: { type: 'integer', minimum: 0, maximum: 1_000_000 },
    item_name: { type: 'string', maxLength: 255 },
    item_sku: { type: 'string', maxLength: 128 },
    item_type: { type: 'string', maxLength: 64 },
    quantity: { type: 'number', minimum: 0, maximum: 1_000_000 },
    unit_price_gross: minor,
    refund_amount: minor,
    tax_amount: minor,
    tax_rate: { type: 'number', minimum: 0, maximum: 100 },
  },
} as const;

const card = {
  type: 'object',
  properties: {
    bin: { type: 'string', pattern: '^[0-9]{6,8}$' },
    last_four_digits: { type: 'string', pattern: '^[0-9]{4}$' },
    // Integers, or the strings the MIB payment specification types them with ("03", "2031", a two-digit "31"). One
    // schema of two types, not an anyOf: the first error (the one the refusal names) is then the value's own
    // (`minimum` applies to a number only, `pattern` to a string only), never "must be integer" for a string.
    expiration_month: { type: ['integer', 'string'], minimum: 1, maximum: 12, pattern: '^(?:0?[1-9]|1[0-2])$' },
    expiration_year: { type: ['integer', 'string'], minimum: 2000, maximum: 2100, pattern: '^(?:[0-9]{2}|20[0-9]{2}|2100)$' },
    brand: { type: 'string', maxLength: 32 },
    holder_name: { type: 'string', maxLength: 128 },
  },
} as const;

const payment = {
  type: 'object',
  required: ['gateway', 'gateway_account', 'gateway_key', 'amount', 'currency'],
  properties: {
    gateway: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,31}$' },
    gateway_account: text(128),
    // `.` and `..` survive URL encoding and would rewrite a gateway's path.
    gateway_key: { ...text(255), not: { enum: ['.', '..'] } },
    amount: minor,
    currency: { enum: CURRENCY_CODES },
    order_id: text(128),
    operation_reference: { type: 'string', pattern: REFERENCE_PATTERN },
    new_gateway_key: { ...text(255), not: { enum: ['.', '..'] } },
    lines: { type: 'array', maxItems: 500, items: line },
    method_details: {
      type: 'object',
      properties: {
        method: { type: 'string', maxLength: 64 },
        submethod: { type: 'string', maxLength: 64 },
        card,
        // The MIB payment specification's bank: account_holder_name, iban (strings), security_indicator (an integer).
        bank: {
          type: 'object',
          maxProperties: 32,
          // One schema of two types (see the card's expiry): `maxLength` applies to a string, the bounds to an integer.
          additionalProperties: { type: ['string', 'integer'], maxLength: 255, minimum: -2_147_483_648, maximum: 2_147_483_647 },
        },
      },
    },
    splits: {
      type: 'array',
      minItems: 1,
      maxItems: 51,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['type', 'amount'],
        properties: {
          type: { enum: ['seller', 'marketplace_fee'] },
          account: text(128),
          reference: { type: 'string', pattern: REFERENCE_PATTERN },
          amount: minor,
        },
      },
    },
    stored_value: {
      type: 'object',
      additionalProperties: false,
      properties: { source_gateway_key: { ...text(255), not: { enum: ['.', '..'] } } },
    },
    custom_attributes: {
      anyOf: [
        { type: 'object', maxProperties: 64 },
        { type: 'array', maxItems: 64, items: { type: 'object', maxProperties: 8 } },
      ],
    },
    payment_method: paymentMethodSchema,
    recurring: recurringSchema,
    // Split tender (gift card plus card): split-tender-command.ts.
    tenders: tendersSchema,
    split_tender: splitTenderFlagSchema,
    // 3-D Secure asked for, and the completion of a customer action: three-ds.ts.
    three_ds: threeDsSchema,
    action_result: actionResultSchema,
  },
  allOf: paymentMethodRules,
} as const;

/** Per-command refinements, applied on top of the base payment schema. */
const refinements: Record<string, object> = {
  capture: { properties: { amount: positiveMinor } },
  refund: { properties: { amount: positiveMinor } },
  authorize: { properties: { amount: positiveMinor } },
  sale: { properties: { amount: positiveMinor } },
  revalidate: {},
  validate: {},
  cancel: {},
  tokenize: {
    required: ['method_details'],
    properties: { method_details: { type: 'object', required: ['card'] } },
  },
  // Stored value cards (src/contracts/stored-value.ts). A balance inquiry moves no money: 0, or the amount
  // the shopper means to pay (the PSP then says whether the card covers it).
  balance_inquiry: {},
  reload: { properties: { amount: positiveMinor } },
  // A card may be issued empty.
  issue: {},
  activate: {},
  deactivate: {},
  merge_balance: {
    required: ['stored_value'],
    properties: { stored_value: { type: 'object', required: ['source_gateway_key'] } },
  },
};

export const paymentCommandSchema = {
  $id: 'payment-command',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'command', 'channel', 'received_at', 'payment'],
  properties: {
    version: { const: 1 },
    command: { enum: COMMAND_TYPES },
    channel: { enum: CHANNELS },
    sequence: {
      anyOf: [
        { type: 'string', minLength: 1, maxLength: MAX_SEQUENCE_LENGTH },
        { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      ],
    },
    received_at: { type: 'string', format: 'date-time' },
    payment,
  },
  allOf: refinementRules(),
} as const;

/**
 * The refinements as conditional rules: one per distinct refinement, naming every command type it applies
 * to, and none for a type that has none. Every command runs each rule's condition, so one rule per command
 * type (fifteen) cost a validation as much as the base schema; the accepted commands and the errors are the
 * same (a command has one type, so at most one rule applies to it).
 */
function refinementRules(): object[] {
  const rules = new Map<string, { types: string[]; refinement: object }>();
  for (const type of COMMAND_TYPES) {
    const refinement = refinements[type];
    if (Object.keys(refinement).length === 0) continue;
    const key = JSON.stringify(refinement);
    const rule = rules.get(key);
    if (rule) rule.types.push(type);
    else rules.set(key, { types: [type], refinement });
  }
  return [...rules.values()].map(({ types, refinement }) => ({
    if: { properties: { command: types.length === 1 ? { const: types[0] } : { enum: types } }, required: ['command'] },
    then: { properties: { payment: refinement } },
  }));
}
