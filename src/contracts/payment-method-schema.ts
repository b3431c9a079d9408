import { METHOD_TYPES, RECURRING_MODELS } from './payment-method';

/**
 * JSON Schema of `payment.payment_method` and `payment.recurring`, and each method type's own rules
 * (applied by the command schema, so a bad command is refused at intake naming the field):
 * - `klarna`: lines (each with `item_name`, `quantity`, `unit_price_gross`), `shopper.email`,
 *   `shopper.country` and `return_url` (Klarna shows the order lines to the customer and approves on its page);
 * - `crypto`: `return_url`, currency USD (Stripe settles stablecoin payments in USD only);
 * - a one-time method (`card`, wallets, BNPL, crypto) is `recurring` only when it is stored with this payment
 *   (`store: true`): the agreement's customer-initiated first payment; otherwise there is nothing stored to charge;
 * - `return_url` is https: the customer's browser goes there.
 * Per-PSP rules (which token form each accepts) are the transformers'.
 */
const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;
const country = { type: 'string', pattern: '^[A-Z]{2}$' } as const;

export const paymentMethodSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: { enum: METHOD_TYPES },
    // Apple Pay tokens run to a few KiB; an Adyen encrypted card JWE to about 1 KiB.
    token: text(16384),
    store: { type: 'boolean' },
    // A one-time gift card's encrypted PIN (Adyen's client-side encryption; the encrypted number is `token`).
    encrypted_security_code: text(16384),
    return_url: { type: 'string', maxLength: 1024, pattern: '^https://[^\\s]+$' },
    // Cybersource's device data collection reference (a UUID; its field is 50 characters long).
    three_ds_reference_id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$' },
    shopper: {
      type: 'object',
      additionalProperties: false,
      properties: {
        reference: { type: 'string', minLength: 3, maxLength: 256 },
        email: { type: 'string', maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' },
        country,
        locale: { type: 'string', pattern: '^[a-z]{2}([-_][A-Z]{2})?$' },
        first_name: text(80),
        last_name: text(80),
        telephone: { type: 'string', maxLength: 32, pattern: '^\\+?[0-9 ()-]{4,32}$' },
        billing_address: {
          type: 'object',
          additionalProperties: false,
          properties: {
            street: text(255),
            house_number: text(32),
            postal_code: text(32),
            city: text(128),
            country,
          },
        },
      },
    },
  },
} as const;

export const recurringSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['model'],
  properties: {
    model: { enum: RECURRING_MODELS },
    schedule_id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
    cycle: { type: 'integer', minimum: 1, maximum: 100000 },
    network_transaction_id: text(64),
  },
} as const;

const klarnaLine = {
  type: 'object',
  required: ['item_name', 'quantity', 'unit_price_gross'],
  properties: { quantity: { type: 'number', exclusiveMinimum: 0 } },
};

/** Rules that depend on the method type, as `allOf` entries of the payment schema. */
export const paymentMethodRules = [
  {
    if: { required: ['payment_method'], properties: { payment_method: { required: ['type'], properties: { type: { const: 'klarna' } } } } },
    then: {
      required: ['lines'],
      properties: {
        lines: { minItems: 1, items: klarnaLine },
        payment_method: {
          required: ['return_url', 'shopper'],
          properties: { shopper: { required: ['email', 'country'] } },
        },
      },
    },
  },
  {
    if: { required: ['payment_method'], properties: { payment_method: { required: ['type'], properties: { type: { const: 'crypto' } } } } },
    then: { properties: { currency: { const: 'USD' }, payment_method: { required: ['return_url'] } } },
  },
  {
    // A one-time method has nothing stored to charge without the customer: `recurring` on one names the
    // agreement its first payment stores the credential for (`store: true`), nothing else.
    if: { required: ['recurring'] },
    then: {
      properties: {
        payment_method: { anyOf: [{ properties: { type: { const: 'stored_card' } } }, { required: ['store'], properties: { store: { const: true } } }] },
      },
    },
  },
] as const;
