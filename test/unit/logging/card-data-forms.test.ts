import { redactBody } from '../../../src/amqp/dead-letter-writer';
import { validateCommand } from '../../../src/contracts/command-validator';
import { PAN_MASK, containsCardNumber, findCardData, isSensitiveKey, luhnValid, redact, redactJsonText, redactText } from '../../../src/logging/redact';
import { channelCommand } from '../../support/fixtures';

/** Appends the Luhn check digit to `body`. */
function withCheckDigit(body: string): string {
  for (let d = 0; d <= 9; d += 1) if (luhnValid(body + d)) return body + d;
  throw new Error('unreachable');
}

const VISA = '4111111111111111';
/** Luhn-valid test-style PANs of every length from 13 to 19 digits. */
const PANS_BY_LENGTH: Record<number, string> = {
  13: '4222222222222',
  14: '30569309025904',
  15: '378282246310005',
  16: VISA,
  17: withCheckDigit('4111111111111111'),
  18: withCheckDigit('62123456789000000'),
  19: withCheckDigit('627180000000000000'),
};

const groups4 = (pan: string) => pan.match(/.{1,4}/g)!;
const fullWidth = (s: string) => s.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)));

/** Every written form the detector must catch, as [label, text]. */
const FORMS: Array<[string, (pan: string) => string]> = [
  ['plain', (p) => p],
  ['spaces', (p) => groups4(p).join(' ')],
  ['dashes', (p) => groups4(p).join('-')],
  ['dots', (p) => groups4(p).join('.')],
  ['slashes', (p) => groups4(p).join('/')],
  ['non-breaking spaces', (p) => groups4(p).join('\u00a0')],
  ['narrow no-break spaces', (p) => groups4(p).join('\u202f')],
  ['tabs', (p) => groups4(p).join('\t')],
  ['full-width digits', (p) => fullWidth(p)],
  ['full-width digits with ideographic spaces', (p) => groups4(fullWidth(p)).join('\u3000')],
  ['a leading zero', (p) => `0${p}`],
  ['leading zeros and spaces', (p) => `00 ${groups4(p).join(' ')}`],
  ['spaced dashes', (p) => groups4(p).join(' - ')],
  ['en spaces', (p) => groups4(p).join('\u2002')],
  ['em spaces', (p) => groups4(p).join('\u2003')],
  ['medium mathematical spaces', (p) => groups4(p).join('\u205f')],
  ['ogham space marks', (p) => groups4(p).join('\u1680')],
  ['line separators', (p) => groups4(p).join('\u2028')],
  ['next-line controls', (p) => groups4(p).join('\u0085')],
  ['vertical tabs and form feeds', (p) => groups4(p).join('\u000b\u000c')],
  ['hyphen bullets', (p) => groups4(p).join('\u2043')],
  ['small hyphen-minus', (p) => groups4(p).join('\ufe63')],
  ['four spaces', (p) => groups4(p).join('    ')],
  ['Bengali digits', (p) => p.replace(/[0-9]/g, (d) => String.fromCharCode(0x9e6 + Number(d)))],
  ['Thai digits with spaces', (p) => groups4(p.replace(/[0-9]/g, (d) => String.fromCharCode(0xe50 + Number(d)))).join(' ')],
  // Above the Basic Multilingual Plane: each digit is a surrogate pair.
  ['mathematical bold digits', (p) => p.replace(/[0-9]/g, (d) => String.fromCodePoint(0x1d7ce + Number(d)))],
  ['mathematical monospace digits with spaces', (p) => groups4(p.replace(/[0-9]/g, (d) => String.fromCodePoint(0x1d7f6 + Number(d)))).join(' ')],
  ['Osmanya digits', (p) => p.replace(/[0-9]/g, (d) => String.fromCodePoint(0x104a0 + Number(d)))],
  ['invisible tag spaces', (p) => groups4(p).join('\u{e0020}')],
  ['segmented digits with tag spaces', (p) => groups4(p.replace(/[0-9]/g, (d) => String.fromCodePoint(0x1fbf0 + Number(d)))).join('\u{e0020}')],
];

describe('card numbers in every written form', () => {
  for (const [length, pan] of Object.entries(PANS_BY_LENGTH)) {
    it(`test PAN of ${length} digits is Luhn-valid`, () => expect(luhnValid(pan)).toBe(true));
  }

  describe.each(FORMS)('written with %s', (_label, form) => {
    it.each(Object.entries(PANS_BY_LENGTH))('is refused and masked (%s digits)', (_len, pan) => {
      const text = `gift note: ${form(pan)} thanks`;
      expect(containsCardNumber(text)).toBe(true);
      expect(findCardData({ payment: { custom_attributes: { note: text } } })).toEqual(['payment.custom_attributes.note']);
      const masked = redactText(text);
      expect(masked).toContain(PAN_MASK);
      expect(masked).toMatch(/^gift note: \[PAN REDACTED\] thanks$/);
    });
  });

  it('refuses every form in a structured field of a command (CARD_DATA_REJECTED), never quoting it', () => {
    for (const [, form] of FORMS) {
      const command = channelCommand('sale', {}, { gateway_key: `tok ${form(VISA)}` });
      expect(() => validateCommand(command)).toThrow(expect.objectContaining({ code: 'CARD_DATA_REJECTED', field: 'payment.gateway_key' }));
    }
  });

  it('masks every form in a free-text note of a command and accepts it', () => {
    for (const [, form] of FORMS) {
      const command = channelCommand('sale', {}, { custom_attributes: { note: `gift ${form(VISA)} thanks` } });
      expect(validateCommand(command).payment.custom_attributes).toEqual({ note: `gift ${PAN_MASK} thanks` });
    }
  });

  it('still does not refuse an unbroken run of more than 19 digits (a 22-digit Cybersource id)', () => {
    expect(containsCardNumber('6853914236156017404106')).toBe(false);
    expect(containsCardNumber('7030000000000000000001')).toBe(false);
  });

  it('leaves dates, amounts and short numbers alone', () => {
    for (const text of ['29/11/2026', '2026-11-29T13:45:12.345Z', 'EUR 1.234.567', 'tel 0612345678', '192.168.100.200']) {
      expect(containsCardNumber(text)).toBe(false);
    }
  });
});

describe('card security codes under any name', () => {
  const NAMES = [
    'cvv',
    'cvc',
    'cvv2',
    'cvc2',
    'cv2',
    'csc',
    'cvn',
    'cvd',
    'card_cvv',
    'cardCvv',
    'card-cvc',
    'CVV2',
    'security_code',
    'securityCode',
    'card_security_code',
    'cvv_code',
    'card_verification_value',
    'card_number',
    'pan',
    // Other vendors' names for the same data: Shopify's card vault, Authorize.Net, Cybersource's SOAP API, and
    // the usual misspelling and prefixes of forms.
    'verification_value',
    'verificationValue',
    'card_verification_number',
    'cardCode',
    'card_code',
    'cvNumber',
    'card_cvNumber',
    'ccv',
    'card_ccv',
    'cc_cvv',
    'ccCvv',
    'creditCardCvv',
    'cc_number',
    'ccNumber',
    'creditCardNumber',
    'card_pan',
    // Magento's card payment form: its CVV is cc_cid (its card number cc_number, above).
    'cc_cid',
    'ccCid',
    'credit_card_cid',
  ];

  it.each(NAMES)('refuses a value under %s and masks it in logs', (name) => {
    expect(findCardData({ payment: { method_details: { card: { [name]: '123' } } } })).toEqual([`payment.method_details.card.${name}`]);
    expect(isSensitiveKey(name)).toBe(true);
    expect(JSON.stringify(redact({ card: { [name]: '737' } }))).not.toContain('737');
  });

  it.each([
    'cvv_result',
    'cvc_check',
    'cid',
    'card_brand',
    'bin',
    'last_four_digits',
    'verification_code',
    'cc',
    'pincode',
    'promo_code',
    // An e-mail's cc, Magento's card summary fields next to its cc_cid, and words that hold a card field's letters.
    'cc_emails',
    'cc_recipient',
    'cc_type',
    'cc_last_4',
    'cc_exp_month',
    'cc_cid_status',
    'card_code_hint',
    'accessibility',
    'token_count',
    'session_id',
  ])('leaves %s alone', (name) => {
    expect(findCardData({ card: { [name]: 'x' } })).toEqual([]);
  });
});

describe('card field names however long their separators', () => {
  it.each([
    ['padded with spaces (a fixed-width column)', `cvv${' '.repeat(70)}`],
    ['spelt out with separators', `c${'_'.repeat(40)}v${'-'.repeat(40)}v`],
  ])('refuses and masks a security code under a name %s', (_name, key) => {
    expect(findCardData({ card: { [key]: '737' } })).toHaveLength(1);
    expect(JSON.stringify(redact({ card: { [key]: '737' } }))).not.toContain('737');
  });
});

describe('card numbers used as keys', () => {
  const message = { payment: { custom_attributes: { [VISA]: 'x', [groups4('5555555555554444').join(' ')]: 'y' } } };

  it('are masked by redact, keeping both entries', () => {
    const out = JSON.stringify(redact(message));
    expect(out).not.toContain(VISA);
    expect(out.replace(/\D/g, '')).not.toContain('5555555555554444');
    expect(Object.keys((redact(message) as typeof message).payment.custom_attributes)).toHaveLength(2);
  });

  it('are masked in a dead-letter body', () => {
    const body = redactBody(Buffer.from(JSON.stringify(message))).toString();
    expect(body).not.toContain(VISA);
    expect(body.replace(/\D/g, '')).not.toContain('5555555555554444');
  });

  it('are masked, with sensitive members, in JSON text too deep to parse', () => {
    const deep = `${'{"a":'.repeat(200)}{"${VISA}":1,"cvv":"737","note":"ok"}${'}'.repeat(200)}`;
    const out = redactBody(Buffer.from(deep)).toString();
    expect(out).not.toContain(VISA);
    expect(out).not.toContain('737');
    expect(out).toContain('"note":"ok"');
    expect(redactJsonText('{"card_cvv": 123}')).not.toContain('123');
  });
});

describe('a dead-letter body larger than a message may be', () => {
  it('is withheld whole, only its size kept (refused for its size, it is never walked nor replayed)', () => {
    const body = Buffer.from(JSON.stringify({ params: { note: `${VISA} ${'x'.repeat(1024 * 1024)}` } }));
    expect(JSON.parse(redactBody(body).toString())).toEqual({ withheld: expect.stringContaining('bytes a message may have'), bytes: body.length });
  });
});

describe('a dead-letter body too deep to walk, its card data hidden in JSON escapes', () => {
  const escaped = (text: string) => [...text].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
  const deep = (member: string) => `${'{"a":'.repeat(200)}{${member},"note":"ok"}${'}'.repeat(200)}`;

  it.each([
    ['a card number written as escapes', `"order_id":"${escaped(VISA)}"`],
    ['a sensitive member name written as escapes', `"${escaped('cvv')}":"737"`],
  ])('is withheld whole when it holds %s (only its size is kept)', (_label, member) => {
    const body = Buffer.from(deep(member));
    const out = redactBody(body).toString();
    expect(JSON.parse(out)).toEqual({ withheld: expect.any(String), bytes: body.length });
    expect(out).not.toContain('737');
  });

  it('is kept, redacted as text, when its escapes hide nothing', () => {
    const out = redactBody(Buffer.from(deep(`"note2":"${escaped('caf')}\\u00e9"`))).toString();
    expect(out).toContain('"note":"ok"');
  });
});

describe('scan cost is linear in the input', () => {
  // Correctness on 500 KB inputs; the old scan took minutes on these (it tried every span of digit groups).
  const KB500 = 500 * 1024;

  it('masks 20 000 card numbers used as keys of one dead-letter body, each kept distinct (the collision count does not restart per key)', () => {
    const params: Record<string, number> = {};
    for (let body = 400000000000000n, n = 0; n < 20_000; body += 1n, n += 1) params[withCheckDigit(String(body))] = 0;
    const out = redactBody(Buffer.from(JSON.stringify({ params }))).toString();
    expect(out).not.toMatch(/4000000000\d{6}/);
    const keys = Object.keys((JSON.parse(out) as { params: Record<string, number> }).params);
    expect(new Set(keys).size).toBe(20_000);
    expect(keys.slice(0, 3)).toEqual([PAN_MASK, `${PAN_MASK}#2`, `${PAN_MASK}#3`]);
  });

  it('scans a 500 KB field of digit groups separated by spaces', () => {
    const field = '1234 '.repeat(KB500 / 5);
    expect(containsCardNumber(field)).toBe(false);
    // Logs over-mask (Luhn alone, any 12–19 digit window): the run goes as a whole.
    expect(redactText(field)).toBe(`${PAN_MASK} `);
  });

  it('finds a card number at the end of a 500 KB free-text field', () => {
    const field = `${'3737 '.repeat(KB500 / 5)}x ${groups4(VISA).join('.')}`;
    expect(containsCardNumber(field)).toBe(true);
    expect(redactText(field)).not.toContain(groups4(VISA).join('.'));
    expect(findCardData({ payment: { custom_attributes: { note: field } } })).toEqual(['payment.custom_attributes.note']);
  });

  it('masks a card number glued inside a 500 KB digit run', () => {
    const field = `${'0'.repeat(KB500)}${VISA}${'0'.repeat(100)}`;
    // Unbroken and over 19 digits: not refused as input (the PSP-id rule), but never logged.
    expect(containsCardNumber(field)).toBe(false);
    expect(redactText(field)).toBe(PAN_MASK);
  });

  it('validates a command with a 500 KB free-text field', () => {
    const command = channelCommand('sale', {}, { custom_attributes: { note: 'gift '.repeat(KB500 / 5) } });
    expect(validateCommand(command).payment.custom_attributes).toBeDefined();
  });
});

describe('a card number sent as a JSON number beyond 2^53', () => {
  it('leaves none of its digits in a dead-letter body (the parse rounded it to one the card scan misses)', () => {
    const body = redactBody(Buffer.from('{"payment":{"custom_attributes":{"n":4000123456789012343}}}')).toString();
    expect(body).not.toContain('4000123456789012');
    expect(JSON.parse(body)).toEqual({ payment: { custom_attributes: { n: PAN_MASK } } });
  });

  it('leaves none of its digits in a body that is no JSON (a leading zero makes it so): masked whole in the text too', () => {
    for (const digits of ['0411111111111111133', '4111111111111111333', '-05555555555554444']) {
      const body = redactBody(Buffer.from(`{"jsonrpc":"2.0","params":{"payment":{"reference_number":${digits},"gateway":"simulator"}}`)).toString();
      expect(body).not.toMatch(/4111111111111111|5555555555554444/);
      expect(body).toContain('"gateway":"simulator"');
    }
    // Integers JSON carries exactly (times in microseconds, 2^53 - 1) are left as they are.
    expect(redactJsonText('{"at":1790000000000000,"max":9007199254740991,')).toBe('{"at":1790000000000000,"max":9007199254740991,');
  });
});
