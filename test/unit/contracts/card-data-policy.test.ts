import { validateCommand, validateCommandReport } from '../../../src/contracts/command-validator';
import { applyCardDataPolicy, holdsCardNumber } from '../../../src/contracts/card-data-policy';
import { buildChannels } from '../../support/channels-config';
import { PAN_MASK, containsCardNumber } from '../../../src/logging/redact';
import { channelCommand } from '../../support/fixtures';

const VISA = '4111111111111111';
const groups4 = (pan: string) => pan.match(/.{1,4}/g)!;
const fullWidth = (s: string) => s.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)));

/** The written forms of a card number, as [label, text]. */
const FORMS: Array<[string, string]> = [
  ['plain', VISA],
  ['spaces', groups4(VISA).join(' ')],
  ['dashes', groups4(VISA).join('-')],
  ['dots', groups4(VISA).join('.')],
  ['slashes', groups4(VISA).join('/')],
  ['non-breaking spaces', groups4(VISA).join('\u00a0')],
  ['tabs', groups4(VISA).join('\t')],
  ['full-width digits', fullWidth(VISA)],
  ['a leading zero', `0${VISA}`],
];

const policy = { freeText: 'mask' as const, freeTextFields: ['payment.custom_attributes', 'payment.note', 'payment.lines[].item_name'] };

describe('card-data policy by field', () => {
  describe.each(FORMS)('a card number written with %s', (_label, pan) => {
    it('is masked in a free-text note and the command carries on', () => {
      const command = channelCommand('sale', {}, { custom_attributes: { gift_note: `for you ${pan} xx` } });
      const { command: valid, masked } = validateCommandReport(command);
      expect(valid.payment.custom_attributes).toEqual({ gift_note: `for you ${PAN_MASK} xx` });
      expect(masked).toEqual(['payment.custom_attributes.gift_note']);
      expect(JSON.stringify(valid)).not.toContain(pan);
    });

    it('is masked in a line item name', () => {
      const command = channelCommand('sale', {}, { lines: [{ item_name: 'mug' }, { item_name: `engraving ${pan}` }] });
      expect(validateCommand(command).payment.lines).toEqual([{ item_name: 'mug' }, { item_name: `engraving ${PAN_MASK}` }]);
    });

    it('is refused in gateway_key (structured), naming the field', () => {
      expect(() => validateCommand(channelCommand('sale', {}, { gateway_key: `tok_${pan}` }))).toThrow(
        expect.objectContaining({ code: 'CARD_DATA_REJECTED', field: 'payment.gateway_key' }),
      );
    });

    it('is refused in method_details (structured), naming the field', () => {
      const command = channelCommand('sale', {}, { method_details: { method: 'card', card: { holder_name: `J ${pan}` } } });
      expect(() => validateCommand(command)).toThrow(expect.objectContaining({ code: 'CARD_DATA_REJECTED', field: 'payment.method_details.card.holder_name' }));
    });

    it('is refused in free text when the profile says refuse', () => {
      const channels = buildChannels({ 'channels.profiles': [{ channel: 'web', free_text_card_data: 'refuse' }] });
      const command = channelCommand('sale', {}, { custom_attributes: { gift_note: `for you ${pan}` } });
      expect(() => validateCommand(command, channels)).toThrow(
        expect.objectContaining({ code: 'CARD_DATA_REJECTED', field: 'payment.custom_attributes.gift_note' }),
      );
    });
  });

  it('walks own enumerable keys only, in their order, as Object.keys lists them (an inherited or hidden one is not read)', () => {
    const attributes = Object.assign(Object.create({ card_number: VISA }) as Record<string, unknown>, { b: 'x', 2: VISA, a: 'y' });
    Object.defineProperty(attributes, 'cvv', { value: '123', enumerable: false });
    const { value, masked } = applyCardDataPolicy({ payment: { custom_attributes: attributes } }, policy);
    expect(masked).toEqual(['payment.custom_attributes.2']);
    expect(Object.keys((value as { payment: { custom_attributes: object } }).payment.custom_attributes)).toEqual(['2', 'b', 'a']);
  });

  it('masks a card number given as a number in free text', () => {
    const { value, masked } = applyCardDataPolicy({ payment: { custom_attributes: { ref: Number(VISA) } } }, policy);
    expect(value).toEqual({ payment: { custom_attributes: { ref: PAN_MASK } } });
    expect(masked).toEqual(['payment.custom_attributes.ref']);
  });

  it('refuses a security code under any name, even in free text', () => {
    for (const name of ['cvv', 'card_cvv', 'csc', 'cv2', 'securityCode']) {
      expect(() => applyCardDataPolicy({ payment: { custom_attributes: { [name]: '123' } } }, policy)).toThrow(
        expect.objectContaining({ code: 'CARD_DATA_REJECTED', field: `payment.custom_attributes.${name}` }),
      );
    }
  });

  it('refuses a card number used as a key, even in free text, without quoting it', () => {
    try {
      applyCardDataPolicy({ payment: { custom_attributes: { [VISA]: 'gift' } } }, policy);
      throw new Error('not refused');
    } catch (err) {
      expect(err).toMatchObject({ code: 'CARD_DATA_REJECTED', field: `payment.custom_attributes.${PAN_MASK}` });
      expect(String((err as Error).message)).not.toContain(VISA);
    }
  });

  it('returns the input itself (no copy) when there is nothing to mask', () => {
    const message = { payment: { custom_attributes: { note: 'order 12 please' } } };
    expect(applyCardDataPolicy(message, policy).value).toBe(message);
  });

  it('does not mask an order number that is not a card number', () => {
    const command = channelCommand('sale', {}, { custom_attributes: { note: 'order 1234567890123 thanks' } });
    expect(validateCommandReport(command).masked).toEqual([]);
  });

  it('a profile may add a free-text field of its own (a POS receipt text)', () => {
    const channels = buildChannels({ 'channels.profiles': [{ channel: 'pos', free_text_fields: ['payment.receipt_text'] }] });
    const command = { ...channelCommand('sale', { channel: 'pos' }), payment: { ...channelCommand('sale').payment, receipt_text: `paid ${VISA}` } };
    expect((validateCommand(command, channels).payment as unknown as Record<string, unknown>).receipt_text).toBe(`paid ${PAN_MASK}`);
    expect(() => validateCommand({ ...command, channel: 'web' }, channels)).toThrow(expect.objectContaining({ field: 'payment.receipt_text' }));
  });
});

describe('numbers JSON does not carry exactly', () => {
  // 19 digits, Luhn-valid: parsed as a double it becomes 4000123456789012500, which the card scan misses.
  const LONG_CARD = '4000123456789012343';
  const parsed = (attribute: string) => JSON.parse(`{"payment":{"custom_attributes":{"n":${attribute}}}}`) as unknown;

  it('refuses a 19-digit card number sent as a JSON number, naming the field, never quoting it', () => {
    try {
      applyCardDataPolicy(parsed(LONG_CARD), policy);
      throw new Error('not refused');
    } catch (err) {
      expect(err).toMatchObject({ code: 'CARD_DATA_REJECTED', field: 'payment.custom_attributes.n' });
      expect((err as Error).message).not.toMatch(/4000123456789012/);
    }
  });

  it('refuses any integer beyond 2^53 of up to 19 digits as possible card data', () => {
    for (const n of ['9007199254740993', '12345678901234567', '-4000123456789012343']) {
      expect(() => applyCardDataPolicy(parsed(n), policy)).toThrow(
        expect.objectContaining({ code: 'CARD_DATA_REJECTED', field: 'payment.custom_attributes.n' }),
      );
    }
  });

  it('refuses a longer integer and an infinite number as an invalid request', () => {
    for (const n of ['123456789012345678901', '1e400', '-1e400']) {
      expect(() => applyCardDataPolicy(parsed(n), policy)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST', field: 'payment.custom_attributes.n' }));
    }
  });

  it('refuses it in a structured field and in a list as well', () => {
    expect(() => applyCardDataPolicy(JSON.parse(`{"payment":{"lines":[{"qty":1},{"qty":${LONG_CARD}}]}}`), policy)).toThrow(
      expect.objectContaining({ field: 'payment.lines[1].qty' }),
    );
  });

  it('keeps the largest safe integer, fractions and 12-16 digit card numbers as they were (the latter masked by Luhn in free text)', () => {
    for (const n of [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0.5, 1e-7, 12.25]) {
      expect(applyCardDataPolicy({ payment: { custom_attributes: { n } } }, policy).value).toEqual({ payment: { custom_attributes: { n } } });
    }
    expect(applyCardDataPolicy(parsed(VISA), policy).value).toEqual({ payment: { custom_attributes: { n: PAN_MASK } } });
  });

  it('refuses it through the command validator on a channel command', () => {
    const command = JSON.parse(JSON.stringify(channelCommand('sale')).replace(/}}$/, `,"custom_attributes":{"ref":${LONG_CARD}}}}`)) as unknown;
    expect(() => validateCommand(command)).toThrow(expect.objectContaining({ code: 'CARD_DATA_REJECTED', field: 'payment.custom_attributes.ref' }));
  });
});

describe('the quick check before the card scan', () => {
  // holdsCardNumber skips the full scan when an ASCII character that is not one of its separators breaks
  // every run of digits: that must agree with the scan itself, character by character.
  it.each(Array.from({ length: 0x80 }, (_, c) => c).filter((c) => c < 0x30 || c > 0x39))(
    'agrees with the full scan for ASCII 0x%s between digit groups',
    (c) => {
      const text = groups4(VISA).join(String.fromCharCode(c));
      expect(holdsCardNumber(text)).toBe(containsCardNumber(text));
    },
  );

  it.each(FORMS)('finds a card number written with %s', (_label, pan) => {
    expect(holdsCardNumber(`note ${pan} end`)).toBe(true);
  });

  it('clears an ISO 8601 time, an id and a token without the full scan, as the scan would', () => {
    for (const text of ['2026-11-30T04:55:12.345Z', 'o-1234567890a', 'pm_card_visa', 'tok_1234_5678_9012_x']) {
      expect(holdsCardNumber(text)).toBe(containsCardNumber(text));
    }
  });

  it('keeps a card number in a key refused after the key cache has seen the key', () => {
    const message = { payment: { custom_attributes: { [VISA]: 'x' } } };
    for (let i = 0; i < 2; i += 1) expect(() => applyCardDataPolicy(message, policy)).toThrow(/holds card data/);
  });
});
