import { validateCommand } from '../../../src/contracts/command-validator';
import { COMMAND_TYPES } from '../../../src/contracts/payment-command';
import { STORED_VALUE_COMMAND_TYPES, StoredValueCommandType, isStoredValueCommand } from '../../../src/contracts/stored-value';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { isCardFieldName, redact } from '../../../src/logging/redact';
import { maskGiftCardNumberKeys } from '../../../src/contracts/gift-card-keys';

type Json = Record<string, unknown>;

function command(type: StoredValueCommandType | 'authorize' | 'capture' | 'cancel' | 'refund' | 'validate' | 'revalidate', payment: Json = {}): Json {
  const p: Json = { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'gc_0001', amount: 0, currency: 'EUR', ...payment };
  for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
  return { version: 1, command: type, channel: 'web', received_at: '2026-06-01T10:00:00.000Z', payment: p };
}

function rejection(message: unknown): CommandValidationError {
  try {
    validateCommand(message);
  } catch (err) {
    expect(err).toBeInstanceOf(CommandValidationError);
    return err as CommandValidationError;
  }
  throw new Error('expected a CommandValidationError');
}

describe('stored value card commands', () => {
  it('are canonical command types', () => {
    for (const type of STORED_VALUE_COMMAND_TYPES) {
      expect(COMMAND_TYPES).toContain(type);
      expect(isStoredValueCommand(type)).toBe(true);
    }
    expect(isStoredValueCommand('authorize')).toBe(false);
  });

  it('accepts a balance inquiry with no amount to move (0)', () => {
    expect(validateCommand(command('balance_inquiry')).command).toBe('balance_inquiry');
  });

  it('refuses a reload of 0, naming payment.amount', () => {
    const err = rejection(command('reload', { amount: 0 }));
    expect(err.field).toBe('payment.amount');
    expect(validateCommand(command('reload', { amount: 2500 })).payment.amount).toBe(2500);
  });

  it('refuses a balance merge without the source card token, naming the field', () => {
    expect(rejection(command('merge_balance')).field).toBe('payment.stored_value');
    const ok = validateCommand(command('merge_balance', { stored_value: { source_gateway_key: 'gc_0002' } }));
    expect(ok.payment.stored_value?.source_gateway_key).toBe('gc_0002');
  });

  it('refuses an unknown stored_value field', () => {
    expect(rejection(command('merge_balance', { stored_value: { source_gateway_key: 'gc_0002', extra: 'x' } })).field).toContain('payment.stored_value');
  });

  it.each([['pin'], ['card_pin'], ['gift_card_pin'], ['giftCardPin'], ['gc_pin'], ['gift_card_number'], ['giftCardNo']])(
    'refuses a gift card number or PIN by its field name (%s), whatever the channel put it in',
    (field) => {
      const err = rejection(command('authorize', { amount: 100, custom_attributes: { [field]: '1234' } }));
      expect(err.code).toBe('CARD_DATA_REJECTED');
      expect(err.message).not.toContain('1234');
    },
  );

  // A gift card's PIN is its security code: named after the gift card, or as Adyen's merge names the source card.
  it.each([
    ['gift_card_security_code'],
    ['giftCardSecurityCode'],
    ['gc_security_code'],
    ['gcSecurityCode'],
    ['giftCardCvv'],
    ['gift_card_cvc'],
    ['gc_cvv'],
    ['stored_value_pin'],
    ['storedValuePin'],
    ['voucher_pin'],
    ['gift_card_pan'],
    ['source_card_number'],
    ['sourceCardPin'],
    ['sourceSecurityCode'],
  ])('refuses a gift card PIN or security code under a compound name (%s) at intake, never storing or echoing it', (field) => {
    const err = rejection(command('authorize', { amount: 100, custom_attributes: { [field]: '4321' } }));
    expect(err.code).toBe('CARD_DATA_REJECTED');
    expect(err.field).toBe(`payment.custom_attributes.${field}`);
    expect(err.message).not.toContain('4321');
  });

  // Adyen's own examples: an SVS card number (21 digits) and a Givex one (19 digits, no Luhn check digit), which the
  // card scan (Luhn, 12 to 19 digits) does not see; a gift card token is at most 16 characters (Adyen's
  // recurringDetailReference) or the simulator's gc_….
  it.each([['603628672882001915092'], ['6036283997595793321'], ['shopper-0042:603628672882001915092'], ['6036 2839 9759 5793 321']])(
    'refuses a gift card number sent as the card token (%s), never storing or echoing it',
    (number) => {
      for (const type of ['balance_inquiry', 'reload', 'activate'] as const) {
        const err = rejection(command(type, { gateway_key: number, amount: type === 'reload' ? 100 : 0 }));
        expect([err.code, err.field]).toEqual(['CARD_DATA_REJECTED', 'payment.gateway_key']);
        expect(err.message).not.toContain(number);
      }
      const merge = rejection(command('merge_balance', { stored_value: { source_gateway_key: number } }));
      expect([merge.code, merge.field]).toEqual(['CARD_DATA_REJECTED', 'payment.stored_value.source_gateway_key']);
      const redemption = rejection(command('authorize', { amount: 100, gateway_key: number, method_details: { method: 'giftcard', submethod: 'givex' } }));
      expect([redemption.code, redemption.field]).toEqual(['CARD_DATA_REJECTED', 'payment.gateway_key']);
    },
  );

  it('still takes the gift card tokens it is sent: an Adyen recurringDetailReference (16 digits), the simulator gc_…', () => {
    expect(validateCommand(command('reload', { gateway_key: 'shopper-0042:8316039902646531', amount: 100 })).payment.gateway_key).toBe(
      'shopper-0042:8316039902646531',
    );
    expect(validateCommand(command('balance_inquiry', { gateway_key: 'gc_demo_603628672882001915' })).payment.gateway_key).toBe('gc_demo_603628672882001915');
    // Not a gift card: a card gateway's long numeric key is its own business.
    expect(validateCommand(command('authorize', { amount: 100, gateway_key: '4749871520086191604101' })).payment.gateway_key).toBe('4749871520086191604101');
  });

  // A capture, cancel, validate or revalidate names the redemption it acts on (our operation id, which may be digits
  // only, or the PSP's reference), never the card: a long numeric operation id is not a gift card number.
  it.each([['capture'], ['cancel'], ['validate'], ['revalidate']] as const)(
    'still takes a %s of a gift card redemption naming it by a long numeric operation id',
    (type) => {
      const key = '202612050000012345678';
      const ok = validateCommand(
        command(type, { amount: type === 'capture' ? 100 : 0, gateway_key: key, method_details: { method: 'giftcard', submethod: 'givex' } }),
      );
      expect(ok.payment.gateway_key).toBe(key);
    },
  );

  it("refuses a gift card number sent as a one-time gift card's encrypted number, or as its key, never storing or echoing it", () => {
    const number = '603628672882001915092';
    const oneTime = (payment: Json) => command('authorize', { amount: 100, method_details: { submethod: 'svs' }, ...payment });
    const asToken = rejection(oneTime({ payment_method: { type: 'gift_card', token: number } }));
    expect([asToken.code, asToken.field]).toEqual(['CARD_DATA_REJECTED', 'payment.payment_method.token']);
    expect(asToken.message).not.toContain(number);
    const asKey = rejection(oneTime({ gateway_key: number, payment_method: { type: 'gift_card', token: 'adyenjs_0_1_25$enc-number' } }));
    expect([asKey.code, asKey.field]).toEqual(['CARD_DATA_REJECTED', 'payment.gateway_key']);
    // A refund to the card (Adyen Stored Value's merchandiseReturn load) names it in a token's form too.
    const giftCard = { method: 'giftcard', submethod: 'svs' };
    for (const payment of [
      { gateway_key: `shopper-0042:${number}` },
      { gateway_key: number, custom_attributes: { shopper_reference: 'shopper-0042' } },
      { gateway_key: number, custom_attributes: [{ attribute_code: 'shopper_reference', value: 'shopper-0042' }] },
      { gateway_key: '6036 2867 2882 0019 15092' },
    ]) {
      const refund = rejection(command('refund', { amount: 100, method_details: giftCard, ...payment }));
      expect([refund.code, refund.field]).toEqual(['CARD_DATA_REJECTED', 'payment.gateway_key']);
    }
  });

  // A refund of a redemption names it (our operation id, or the PSP's reference), as a capture does.
  it('takes a gift card refund naming the redemption by an operation id or a pspReference, never masking it in a dead letter', () => {
    for (const key of ['op-refund-0001', '8816039902646531', 'SVREPLAY00000001', '2026120500000123']) {
      const refund = command('refund', { amount: 100, gateway_key: key, method_details: { method: 'giftcard', submethod: 'givex' } });
      expect(validateCommand(refund).payment.gateway_key).toBe(key);
      expect(maskGiftCardNumberKeys({ ...(refund.payment as Json) }, 'refund', '[REDACTED]')).toBe(false);
    }
  });

  // Taken, a card number there would be queued, stored and echoed in the refusal's event before delivery could tell.
  it('refuses at intake a gift card refund keyed by 17 digits or more, even as a would-be operation id, and masks it in a dead letter', () => {
    for (const key of ['202612050000012345678', '603628672882001915092', '6036283997595793321', '6036-2836-9975-9579-3321']) {
      const refund = command('refund', { amount: 100, gateway_key: key, method_details: { method: 'giftcard', submethod: 'svs' } });
      const err = rejection(refund);
      expect([err.code, err.field]).toEqual(['CARD_DATA_REJECTED', 'payment.gateway_key']);
      expect(err.message).not.toContain(key);
      const payment = { ...(refund.payment as Json) };
      expect(maskGiftCardNumberKeys(payment, 'refund', '[REDACTED]')).toBe(true);
      expect(payment.gateway_key).toBe('[REDACTED]');
    }
  });

  it("still carries a one-time gift card's encrypted security code (only the PSP can read it)", () => {
    const ok = validateCommand(
      command('authorize', {
        amount: 100,
        method_details: { method: 'giftcard', submethod: 'givex' },
        payment_method: { type: 'gift_card', token: 'adyenjs_0_1_25$enc-number', encrypted_security_code: 'adyenjs_0_1_25$enc-pin' },
      }),
    );
    expect(ok.payment.payment_method?.encrypted_security_code).toBe('adyenjs_0_1_25$enc-pin');
  });

  it('does not take an Indian postal code (pincode) for a PIN', () => {
    expect(isCardFieldName('pincode')).toBe(false);
    expect(isCardFieldName('pin')).toBe(true);
  });

  it('redacts a gift card PIN and number from anything logged', () => {
    const out = redact({ pin: '4321', gift_card_number: '6006491234567890123', card_pin: '9999' });
    expect(JSON.stringify(out)).not.toMatch(/4321|6006491234567890123|9999/);
  });

  it('redacts a gift card security code under a compound name, and a merge source card, from anything logged', () => {
    const out = redact({
      giftCardSecurityCode: '4321',
      gcCvv: '987',
      storedValuePin: '5555',
      sourcePaymentMethod: { type: 'givex', number: '7000000000000001234', securityCode: '8888' },
    });
    expect(JSON.stringify(out)).not.toMatch(/4321|987|5555|7000000000000001234|8888/);
    expect(JSON.stringify(out)).toContain('givex');
  });
});

describe('redaction of an issued gift card', () => {
  it("masks the number in a PSP's paymentMethod even when it fails the Luhn check", () => {
    const out = JSON.stringify(redact({ paymentMethod: { type: 'givex', number: '7000000000000001234' }, resultCode: 'Success' }));
    expect(out).not.toContain('7000000000000001234');
    expect(out).toContain('givex');
  });
});
