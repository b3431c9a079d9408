import { validateCommand } from '../../../src/contracts/command-validator';
import { COMMAND_TYPES, CommandType } from '../../../src/contracts/payment-command';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { MAX_MINOR_AMOUNT } from '../../../src/money/minor-units';

type Json = Record<string, unknown>;

const basePayment = (): Json => ({
  gateway: 'simulator',
  gateway_account: 'acme-eu',
  gateway_key: 'auth_123',
  amount: 1999,
  currency: 'EUR',
  order_id: 'ORD-1',
  operation_reference: 'op-ref-1',
});

/** A valid command of `type`, with `payment` fields overridden (undefined deletes a field). */
function command(type: CommandType, payment: Json = {}, envelope: Json = {}): Json {
  const p: Json = {
    ...basePayment(),
    ...(type === 'tokenize' ? { method_details: { method: 'card', card: { bin: '411111', last_four_digits: '1111' } } } : {}),
    ...(type === 'merge_balance' ? { stored_value: { source_gateway_key: 'gc_source' } } : {}),
    ...payment,
  };
  for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
  const c: Json = { version: 1, command: type, channel: 'web', received_at: '2024-06-01T10:00:00.000Z', payment: p, ...envelope };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

/** Validates, expects a CommandValidationError, returns it. */
function rejection(message: unknown): CommandValidationError {
  try {
    validateCommand(message);
  } catch (err) {
    expect(err).toBeInstanceOf(CommandValidationError);
    return err as CommandValidationError;
  }
  throw new Error('expected a CommandValidationError');
}

describe('validateCommand accepts valid commands', () => {
  it.each(COMMAND_TYPES)('accepts a valid %s command and returns it unchanged', (type) => {
    const c = command(type);
    expect(validateCommand(c)).toBe(c);
    expect(validateCommand(c)).toEqual(command(type));
  });

  it('accepts a command with every optional field', () => {
    const c = command(
      'refund',
      {
        amount: 1998,
        new_gateway_key: 'auth_456',
        lines: [
          {
            line_number: 1,
            item_name: 'Mug',
            item_sku: 'MUG-1',
            item_type: 'physical',
            quantity: 2,
            unit_price_gross: 999,
            refund_amount: 1998,
            tax_amount: 347,
            tax_rate: 21,
          },
        ],
        method_details: {
          method: 'card',
          submethod: 'visa',
          card: { bin: '41111111', last_four_digits: '1111', expiration_month: 12, expiration_year: 2030, brand: 'visa', holder_name: 'A B' },
          bank: { iban_last4: '1234' },
        },
        custom_attributes: [{ key: 'store', value: 'eu' }],
      },
      { sequence: 17, channel: 'bus' },
    );
    expect(validateCommand(c)).toBe(c);
  });

  it('accepts a zero amount for validate, revalidate and cancel', () => {
    for (const type of ['validate', 'revalidate', 'cancel'] as const) expect(() => validateCommand(command(type, { amount: 0 }))).not.toThrow();
  });

  it('accepts the largest amount and a string or integer sequence', () => {
    expect(() => validateCommand(command('capture', { amount: MAX_MINOR_AMOUNT }, { sequence: 'rpc-1' }))).not.toThrow();
    expect(() => validateCommand(command('capture', {}, { sequence: 0 }))).not.toThrow();
  });

  it('accepts unknown fields inside payment (the bus may add some)', () => {
    expect(() => validateCommand(command('capture', { bus_extra: 'x' }))).not.toThrow();
  });
});

describe('validateCommand names the field at fault', () => {
  const cases: Array<[string, unknown, string]> = [
    ['a message that is not an object', 'capture', '(root)'],
    ['a missing version', command('capture', {}, { version: undefined }), 'version'],
    ['a wrong version', command('capture', {}, { version: 2 }), 'version'],
    ['an unknown command', command('capture', {}, { command: 'charge' }), 'command'],
    ['an unknown channel', command('capture', {}, { channel: 'fax' }), 'channel'],
    ['the bridge own channel (only the bridge writes it, never a publisher)', command('cancel', {}, { channel: 'bridge' }), 'channel'],
    ['a missing received_at', command('capture', {}, { received_at: undefined }), 'received_at'],
    ['a received_at that is not a date-time', command('capture', {}, { received_at: 'yesterday' }), 'received_at'],
    ['a missing payment', command('capture', {}, { payment: undefined }), 'payment'],
    ['an unknown top-level key', command('capture', {}, { priority: 'high' }), 'priority'],
    ['an empty string sequence', command('capture', {}, { sequence: '' }), 'sequence'],
    ['a negative sequence', command('capture', {}, { sequence: -1 }), 'sequence'],
    ['a fractional sequence', command('capture', {}, { sequence: 1.5 }), 'sequence'],
    ['a sequence longer than 64 characters', command('capture', {}, { sequence: 'x'.repeat(65) }), 'sequence'],
    ['a boolean sequence', command('capture', {}, { sequence: true }), 'sequence'],
    ['a missing gateway', command('capture', { gateway: undefined }), 'payment.gateway'],
    ['an uppercase gateway', command('capture', { gateway: 'Stripe' }), 'payment.gateway'],
    ['a missing gateway_account', command('capture', { gateway_account: undefined }), 'payment.gateway_account'],
    ['an empty gateway_account', command('capture', { gateway_account: '' }), 'payment.gateway_account'],
    ['a gateway_account over 128 characters', command('capture', { gateway_account: 'a'.repeat(129) }), 'payment.gateway_account'],
    ['a missing gateway_key', command('capture', { gateway_key: undefined }), 'payment.gateway_key'],
    ['a gateway_key over 255 characters', command('capture', { gateway_key: 'k'.repeat(256) }), 'payment.gateway_key'],
    ['a numeric gateway_key', command('capture', { gateway_key: 12 }), 'payment.gateway_key'],
    ['a missing amount', command('capture', { amount: undefined }), 'payment.amount'],
    ['a string amount', command('capture', { amount: '10.00' }), 'payment.amount'],
    ['a negative amount', command('validate', { amount: -1 }), 'payment.amount'],
    ['a fractional amount', command('validate', { amount: 10.5 }), 'payment.amount'],
    ['an amount above the maximum', command('validate', { amount: MAX_MINOR_AMOUNT + 1 }), 'payment.amount'],
    ['a zero capture', command('capture', { amount: 0 }), 'payment.amount'],
    ['a zero refund', command('refund', { amount: 0 }), 'payment.amount'],
    ['a zero authorize', command('authorize', { amount: 0 }), 'payment.amount'],
    ['a zero sale', command('sale', { amount: 0 }), 'payment.amount'],
    ['a missing currency', command('capture', { currency: undefined }), 'payment.currency'],
    ['an unknown currency', command('capture', { currency: 'XYZ' }), 'payment.currency'],
    ['a lowercase currency', command('capture', { currency: 'eur' }), 'payment.currency'],
    ['an order_id over 128 characters', command('capture', { order_id: 'o'.repeat(129) }), 'payment.order_id'],
    ['an empty order_id', command('capture', { order_id: '' }), 'payment.order_id'],
    ['an operation_reference with a space', command('capture', { operation_reference: 'op ref' }), 'payment.operation_reference'],
    ['an operation_reference over 128 characters', command('capture', { operation_reference: 'r'.repeat(129) }), 'payment.operation_reference'],
    ['lines that are not an array', command('capture', { lines: { line_number: 1 } }), 'payment.lines'],
    ['a line with a negative refund_amount', command('refund', { lines: [{ line_number: 1, refund_amount: -5 }] }), 'payment.lines[0].refund_amount'],
    ['a line with a fractional unit_price_gross', command('capture', { lines: [{}, { unit_price_gross: 9.99 }] }), 'payment.lines[1].unit_price_gross'],
    ['a line with a string quantity', command('capture', { lines: [{ quantity: '2' }] }), 'payment.lines[0].quantity'],
    ['a line with a tax_rate over 100', command('capture', { lines: [{ tax_rate: 150 }] }), 'payment.lines[0].tax_rate'],
    ['a line with an item_name over 255 characters', command('capture', { lines: [{ item_name: 'n'.repeat(256) }] }), 'payment.lines[0].item_name'],
    ['more than 500 lines', command('capture', { lines: Array.from({ length: 501 }, () => ({})) }), 'payment.lines'],
    ['a tokenize without method_details', command('tokenize', { method_details: undefined }), 'payment.method_details'],
    ['a tokenize without card details', command('tokenize', { method_details: { method: 'card' } }), 'payment.method_details.card'],
    ['a card bin of 5 digits', command('tokenize', { method_details: { card: { bin: '41111' } } }), 'payment.method_details.card.bin'],
    [
      'a card expiration_month of 13',
      command('tokenize', { method_details: { card: { expiration_month: 13 } } }),
      'payment.method_details.card.expiration_month',
    ],
    ['custom_attributes that are a string', command('capture', { custom_attributes: 'x' }), 'payment.custom_attributes'],
  ];

  it.each(cases)('refuses %s', (_name, message, field) => {
    const err = rejection(message);
    expect(err.field).toBe(field);
    expect(err.retryable).toBe(false);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  });

  it('says why in words: a required field, a currency, a bound', () => {
    expect(rejection(command('capture', { gateway_key: undefined })).reason).toBe('is required');
    expect(rejection(command('capture', { currency: 'XYZ' })).reason).toBe('is not a known ISO 4217 currency');
    expect(rejection(command('capture', { amount: 0 })).reason).toBe('must be >= 1');
    expect(rejection(command('capture', { amount: 1.5 })).reason).toBe('must be integer');
    expect(rejection(command('capture', {}, { priority: 1 })).reason).toBe('is not allowed');
  });
});

describe('validateCommand: a refund by lines', () => {
  const line = (n: number, refund: number): Json => ({ line_number: n, item_name: `item ${n}`, quantity: 1, refund_amount: refund });

  it('accepts lines whose refund_amount add up to amount, and a refund without line amounts', () => {
    expect(validateCommand(command('refund', { amount: 1999, lines: [line(1, 1000), line(2, 999)] })).payment.amount).toBe(1999);
    expect(validateCommand(command('refund', { amount: 1999 })).payment.amount).toBe(1999);
  });

  it('refuses lines that add up to another amount, naming payment.lines[].refund_amount (every gateway would move another figure)', () => {
    const err = rejection(command('refund', { amount: 10000, lines: [line(1, 2000), line(2, 1000)] }));
    expect(err.field).toBe('payment.lines[].refund_amount');
    expect(err.reason).toContain('3000');
  });
});

describe('validateCommand never quotes the offending value', () => {
  const secretish = 'SECRET-VALUE-7f3a';
  it.each<[string, Json]>([
    ['an unknown currency', command('capture', { currency: secretish })],
    ['a string amount', command('capture', { amount: secretish })],
    ['a bad operation_reference', command('capture', { operation_reference: `${secretish} !` })],
    ['a bad gateway', command('capture', { gateway: secretish })],
    ['a bad received_at', command('capture', {}, { received_at: secretish })],
    ['a bad version', command('capture', {}, { version: secretish })],
    ['a bad command', command('capture', {}, { command: secretish })],
    ['a bad card bin', command('tokenize', { method_details: { card: { bin: secretish } } })],
  ])('in its message for %s', (_name, message) => {
    const err = rejection(message);
    expect(err.message).not.toContain(secretish);
    expect(err.reason).not.toContain(secretish);
  });
});

describe('validateCommand refuses card data before anything else', () => {
  it('refuses a card number in any structured field, naming the field and not the number', () => {
    const err = rejection(command('capture', { lines: [{ item_sku: 'card 4111 1111 1111 1111' }] }));
    expect(err.code).toBe('CARD_DATA_REJECTED');
    expect(err.field).toBe('payment.lines[0].item_sku');
    expect(err.message).not.toContain('4111');
  });

  it('refuses a security code field even on an otherwise invalid command', () => {
    const err = rejection(command('capture', { amount: -1, method_details: { card: { cvv: '123' } } }));
    expect(err.code).toBe('CARD_DATA_REJECTED');
    expect(err.field).toBe('payment.method_details.card.cvv');
  });

  it('accepts a numeric sequence that is a Luhn-valid timestamp', () => {
    expect(() => validateCommand(command('capture', {}, { sequence: 1718000000006 }))).not.toThrow();
  });
});

describe('validateCommand refuses malformed unicode', () => {
  it('names the field holding a lone surrogate, which no URL or UTF-8 body can carry', () => {
    const err = rejection(command('refund', { gateway_key: 'auth_\ud800x' }));
    expect(err).toMatchObject({ field: 'payment.gateway_key', code: 'INVALID_PARAMS', reason: 'holds malformed unicode (a lone surrogate)' });
    expect(rejection(command('capture', { lines: [{ description: 'mug \udc00' }] })).field).toBe('payment.lines[0].description');
  });

  it('accepts well-formed astral characters (a surrogate pair) and odd but valid unicode', () => {
    expect(() => validateCommand(command('capture', { order_id: 'ORD-😀-Ω-\u200b' }))).not.toThrow();
  });
});
