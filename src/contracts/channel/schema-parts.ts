import { CURRENCY_CODES } from '../../money/currencies';
import { MAX_MINOR_AMOUNT } from '../../money/minor-units';

/**
 * Bounded building blocks of the channel contracts' JSON Schemas, the same bounds as the canonical command
 * (`src/contracts/payment-command-schema.ts`): every string has a length limit, every array and free map a
 * size limit, money is an integer of minor units, ids are in the safe reference alphabet.
 */

/**
 * An id that becomes (part of) an operation reference: letters, digits, `_` and `-`, starting with a letter
 * or digit, at most `max` characters. No `.`: the adapters join several ids with `.`, so two different
 * (store, terminal, receipt) triples can never give the same reference.
 */
export const idPart = (max: number) => ({ type: 'string', pattern: `^[A-Za-z0-9][A-Za-z0-9_-]{0,${max - 1}}$` }) as const;

/** An order id: the reference alphabet (`.` allowed), at most 100 characters (the adapters prefix it). */
export const orderId = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$' } as const;

/** Bounded non-empty text. */
export const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;

/** Integer of minor units, zero allowed. */
export const minor = { type: 'integer', minimum: 0, maximum: MAX_MINOR_AMOUNT } as const;

/** Integer of minor units, at least 1 (an amount to authorize or charge). */
export const positiveMinor = { type: 'integer', minimum: 1, maximum: MAX_MINOR_AMOUNT } as const;

/** ISO 4217 alphabetic code, upper case. */
export const currency = { enum: CURRENCY_CODES } as const;

/** ISO 8601 date and time. */
export const dateTime = { type: 'string', format: 'date-time', maxLength: 40 } as const;

/** A gateway's name as configured (`stripe`, `adyen`, `simulator`, …). */
export const gateway = { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,31}$' } as const;

/**
 * A PSP token (a payment method, a card-present token, a PaymentIntent): what the gateway is asked to
 * charge, never a card number (one is refused as card data). Starts with a letter or digit, so `.` and
 * `..` (which would rewrite a gateway's URL path) are not tokens.
 */
export const pspToken = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,254}$' } as const;

/** What a checkout or a terminal may say about the card behind a token: never its number or code. */
export const cardSummary = {
  type: 'object',
  additionalProperties: false,
  properties: {
    brand: { type: 'string', pattern: '^[a-z0-9_-]{1,32}$' },
    bin: { type: 'string', pattern: '^[0-9]{6,8}$' },
    last4: { type: 'string', pattern: '^[0-9]{4}$' },
    exp_month: { type: 'integer', minimum: 1, maximum: 12 },
    exp_year: { type: 'integer', minimum: 2000, maximum: 2100 },
    funding: { enum: ['credit', 'debit', 'prepaid', 'unknown'] },
  },
} as const;

/** A free map of short texts (custom attributes, metadata): at most 50 keys of 40 characters, values of 500. */
export const freeMap = {
  type: 'object',
  maxProperties: 50,
  propertyNames: { maxLength: 40 },
  additionalProperties: { type: 'string', maxLength: 500 },
} as const;

/** The customer, as checkouts send it. Only `customer_id` is forwarded (in custom attributes). */
export const customer = {
  type: 'object',
  additionalProperties: false,
  properties: {
    customer_id: idPart(64),
    email: { type: 'string', maxLength: 254 },
    name: { type: 'string', maxLength: 128 },
    locale: { type: 'string', pattern: '^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$' },
  },
} as const;

/** An order line as checkouts send it. */
export const orderLine = {
  type: 'object',
  additionalProperties: false,
  required: ['quantity', 'unit_price'],
  properties: {
    line_number: { type: 'integer', minimum: 0, maximum: 1_000_000 },
    sku: { type: 'string', maxLength: 128 },
    name: { type: 'string', maxLength: 255 },
    type: { type: 'string', maxLength: 64 },
    quantity: { type: 'number', minimum: 0, maximum: 1_000_000 },
    unit_price: minor,
    tax_amount: minor,
    tax_rate: { type: 'number', minimum: 0, maximum: 100 },
  },
} as const;

/** The PSP side of a web or marketplace payment method: which gateway and account, and its token. */
export const paymentMethod = {
  type: 'object',
  additionalProperties: false,
  required: ['gateway', 'gateway_account', 'token'],
  properties: {
    type: { enum: ['card', 'wallet', 'bank_transfer', 'bnpl', 'other'] },
    gateway,
    gateway_account: text(128),
    token: pspToken,
    card: cardSummary,
  },
} as const;
