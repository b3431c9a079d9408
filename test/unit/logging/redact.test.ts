import {
  PAN_MASK,
  SECRET_MASK,
  containsCardNumber,
  findCardData,
  isLikelyCardNumber,
  isSensitiveKey,
  luhnValid,
  maskCardNumbers,
  redact,
  redactText,
  RECENT_TOKEN_CAPACITY,
  registerRecentToken,
  registerSecret,
  registeredSecretCount,
} from '../../../src/logging/redact';

const VISA = '4111111111111111';
const MASTERCARD = '5555555555554444';
const AMEX = '378282246310005';
/** A Luhn-valid 13-digit epoch-millisecond timestamp (starts with 1: no card issuer uses it). */
const LUHN_TIMESTAMP = '1718000000006';
/** 16 digits that fail the Luhn check. */
const NOT_LUHN = '4111111111111112';

describe('luhnValid', () => {
  it('accepts the standard test card numbers', () => {
    for (const pan of [VISA, MASTERCARD, AMEX, '6011000990139424', '4000056655665556']) expect(luhnValid(pan)).toBe(true);
  });

  it('refuses a number whose check digit is wrong', () => {
    expect(luhnValid(NOT_LUHN)).toBe(false);
    expect(luhnValid('378282246310006')).toBe(false);
  });
});

describe('isLikelyCardNumber', () => {
  it('needs a card-issuing first digit as well as the Luhn check', () => {
    expect(luhnValid(LUHN_TIMESTAMP)).toBe(true);
    expect(isLikelyCardNumber(LUHN_TIMESTAMP)).toBe(false);
    expect(isLikelyCardNumber(VISA)).toBe(true);
    expect(isLikelyCardNumber(AMEX)).toBe(true);
  });

  it('takes no 13-digit number starting with 2 for a card (every epoch-ms time from 2033 to 2286 is one), and still takes the 2-series cards that exist', () => {
    const timeIn2037 = '2114000000007';
    expect(luhnValid(timeIn2037)).toBe(true);
    expect(isLikelyCardNumber(timeIn2037)).toBe(false);
    expect(containsCardNumber(`{"at":${timeIn2037},"next_check_at":"${timeIn2037}"}`)).toBe(false);
    expect(findCardData({ history: [`{"at":${timeIn2037}}`], expires_at: Number(timeIn2037) })).toEqual([]);
    // Mastercard's 2-series (16 digits), a 13-digit Visa, and the same time's digits as a 16-digit number.
    for (const card of ['2223003122003222', '4222222222222', '2114000000000009']) {
      expect(luhnValid(card)).toBe(true);
      expect(isLikelyCardNumber(card)).toBe(true);
      expect(containsCardNumber(`card ${card}`)).toBe(true);
    }
  });

  it('needs 12 to 19 digits', () => {
    expect(isLikelyCardNumber('42424242424')).toBe(false);
    expect(isLikelyCardNumber('4242424242424242424242')).toBe(false);
  });
});

describe('redactText', () => {
  it('leaves epoch-millisecond times in logs as they are, though one in ten passes the Luhn check, and still redacts a card beside one', () => {
    const line = redact({ at: Number(LUHN_TIMESTAMP), next_check_at: '2114000000007', msg: `retry at ${LUHN_TIMESTAMP}, card ${VISA}` }) as Record<
      string,
      unknown
    >;
    expect(line).toEqual({ at: Number(LUHN_TIMESTAMP), next_check_at: '2114000000007', msg: `retry at ${LUHN_TIMESTAMP}, card ${PAN_MASK}` });
    // A 13-digit Visa is still one.
    expect(redactText('card 4222222222222')).toBe(`card ${PAN_MASK}`);
  });

  it('removes a plain card number', () => {
    expect(redactText(VISA)).toBe(PAN_MASK);
  });

  it('removes a card number grouped by spaces', () => {
    expect(redactText('card 4111 1111 1111 1111 used')).toBe(`card ${PAN_MASK} used`);
  });

  it('removes a card number grouped by dashes', () => {
    expect(redactText('card 5555-5555-5555-4444.')).toBe(`card ${PAN_MASK}.`);
  });

  it('removes a card number inside longer text', () => {
    const out = redactText(`declined for pan=${AMEX}&amount=1000`);
    expect(out).toBe(`declined for pan=${PAN_MASK}&amount=1000`);
  });

  it('removes a card number inside a JSON string', () => {
    const json = JSON.stringify({ source: { number: VISA, exp: '12/30' } });
    const out = redactText(json);
    expect(out).not.toContain(VISA);
    expect(JSON.parse(out)).toEqual({ source: { number: PAN_MASK, exp: '12/30' } });
  });

  it('removes a card number glued into a digit run longer than 19 digits', () => {
    const out = redactText(`ref 0000${VISA}0000`);
    expect(out).not.toContain(VISA);
    expect(out).toBe(`ref ${PAN_MASK}`);
  });

  it('removes a card number that is followed by another group of digits', () => {
    // "4111111111111111 12" is one 18-digit run that fails Luhn as a whole; the card number must still go.
    expect(redactText(`${VISA} 12 items`)).not.toContain('1111111111');
    expect(redactText(`qty 3 ${MASTERCARD}`)).not.toContain('5555555555');
    expect(redactText(`4111 1111 1111 1111 2030`)).not.toContain('4111 1111 1111 1111');
  });

  it('leaves digit runs that fail the Luhn check', () => {
    expect(redactText(`order ${NOT_LUHN}`)).toBe(`order ${NOT_LUHN}`);
    expect(redactText('invoice 123456789012')).toBe('invoice 123456789012');
  });

  it('leaves numbers shorter than a card number', () => {
    expect(redactText('amount 1999 EUR, order 42, zip 75001, phone 0612345678')).toBe('amount 1999 EUR, order 42, zip 75001, phone 0612345678');
  });

  it('masks bearer and basic credentials', () => {
    expect(redactText('Authorization: Bearer eyJhbGciOi.JIUzI1N-iIs_In')).toBe(`Authorization: Bearer ${SECRET_MASK}`);
    expect(redactText('authorization: basic dXNlcjpwYXNz==')).toBe(`authorization: basic ${SECRET_MASK}`);
  });

  it('scrubs registered secrets wherever they appear', () => {
    registerSecret('redact-test-secret-value');
    expect(redactText('signing with redact-test-secret-value twice: redact-test-secret-value')).toBe(`signing with ${SECRET_MASK} twice: ${SECRET_MASK}`);
  });

  it('scrubs registered secrets of 4 to 7 characters too', () => {
    registerSecret('k9Zq');
    registerSecret('p4ss-w7');
    expect(redactText('key=k9Zq pass=p4ss-w7')).toBe(`key=${SECRET_MASK} pass=${SECRET_MASK}`);
  });

  it('masks a longer secret whole even when a shorter registered secret is inside it', () => {
    registerSecret('zq7w');
    registerSecret('outer-zq7w-secret');
    expect(redactText('x outer-zq7w-secret y zq7w')).toBe(`x ${SECRET_MASK} y ${SECRET_MASK}`);
  });

  it('keeps the registered set bounded however many tokens are registered, scrubbing the recent ones', () => {
    const before = registeredSecretCount();
    for (let i = 0; i < 1000; i += 1) registerRecentToken(`access-token-${i}-abcdef`);
    expect(registeredSecretCount() - before).toBeLessThanOrEqual(RECENT_TOKEN_CAPACITY);
    expect(redactText('Bearer-less access-token-999-abcdef and access-token-998-abcdef')).toBe(`Bearer-less ${SECRET_MASK} and ${SECRET_MASK}`);
  });

  it('ignores secrets too short to scrub safely', () => {
    registerSecret('abc');
    registerSecret(undefined);
    expect(redactText('abc abcdef')).toBe('abc abcdef');
  });
});

describe('isSensitiveKey', () => {
  it.each([
    'cvv',
    'cvc',
    'cvv2',
    'card_cvv',
    'security_code',
    'card_number',
    'cardNumber',
    'encryptedCardNumber',
    'password',
    'secret',
    'client_secret',
    'clientSecret',
    'shared_secret',
    'webhook_secret',
    'webhook_secret_previous',
    'webhookSecretPrevious',
    'api_key',
    'apiKey',
    'x-api-key',
    'Authorization',
    'proxy-authorization',
    'access_token',
    'refresh_token',
    'private_key',
    'cookie',
    // Other services' credentials under their own names (Stripe's and Checkout.com's secret key, Authorize.Net's
    // transaction key, the usual API and session tokens, header forms).
    'secret_key',
    'secretKey',
    'apiSecret',
    'api_token',
    'apiToken',
    'auth_token',
    'authToken',
    'x-auth-token',
    'bearer_token',
    'session_token',
    'sessionToken',
    'signing_secret',
    'signingSecret',
    'signing_key',
    'transactionKey',
    'shared_secret_key',
    'passphrase',
    // Authorize.Net's signature key (webhooks, response hashes) and its older API's transaction key.
    'signatureKey',
    'signature_key',
    'x_tran_key',
    // A vendor's prefix in camelCase, as in snake_case (`merchant_secret_key`): Nuvei's merchantSecretKey,
    // Cybersource's facilitatorAccessToken, Worldline's secretApiKey.
    'merchantSecretKey',
    'facilitatorAccessToken',
    'secretApiKey',
    'stripeApiKey',
    'webhookSigningSecret',
  ])('treats %s as sensitive', (key) => {
    expect(isSensitiveKey(key)).toBe(true);
  });

  it.each([
    'gateway_key',
    'new_gateway_key',
    'token_type',
    'expires_in',
    'last_four_digits',
    'bin',
    'amount',
    'order_id',
    'key_id',
    'cvv_result',
    'token',
    'key',
    'idempotency_key',
    'session_id',
    'sessionId',
    'token_count',
    'tokenCount',
    'signature',
    'signatureKeyId',
    'apiKeyId',
    'apiVersion',
    'cc_emails',
    'timeSpan',
  ])('treats %s as innocuous', (key) => {
    expect(isSensitiveKey(key)).toBe(false);
  });
});

describe('redact', () => {
  it('masks sensitive keys at any depth and keeps innocuous ones', () => {
    const input = {
      gateway_key: 'tok_123',
      new_gateway_key: 'tok_456',
      token_type: 'bearer',
      headers: { Authorization: 'Bearer abc', 'x-api-key': 'k-1', 'content-type': 'application/json' },
      body: { client_secret: 'cs', access_token: 'at', password: 'pw', nested: [{ cvv: '123', cvc: 737, api_key: 'ak' }] },
      card: { card_number: 'anything', last_four_digits: '1111' },
    };
    expect(redact(input)).toEqual({
      gateway_key: 'tok_123',
      new_gateway_key: 'tok_456',
      token_type: 'bearer',
      headers: { Authorization: SECRET_MASK, 'x-api-key': SECRET_MASK, 'content-type': 'application/json' },
      body: {
        client_secret: SECRET_MASK,
        access_token: SECRET_MASK,
        password: SECRET_MASK,
        nested: [{ cvv: SECRET_MASK, cvc: SECRET_MASK, api_key: SECRET_MASK }],
      },
      card: { card_number: SECRET_MASK, last_four_digits: '1111' },
    });
  });

  it('keeps empty sensitive values empty (so a missing secret is visible)', () => {
    expect(redact({ api_key: '', password: null })).toEqual({ api_key: '', password: null });
  });

  it('does not modify its input', () => {
    const input = { password: 'pw', note: VISA };
    redact(input);
    expect(input).toEqual({ password: 'pw', note: VISA });
  });

  it('removes card numbers from strings under innocuous keys', () => {
    expect(redact({ lines: [{ item_name: `gift for ${VISA}` }] })).toEqual({ lines: [{ item_name: `gift for ${PAN_MASK}` }] });
  });

  it('replaces a number that is a card number', () => {
    expect(redact({ reference: Number(VISA), amount: 1999 })).toEqual({ reference: PAN_MASK, amount: 1999 });
  });

  it('masks an integer beyond 2^53 whole: parsing rounded it, and a 19-digit card number keeps 16 digits through that', () => {
    const parsed = JSON.parse('{"n":4000123456789012343,"m":-12345678901234567890,"ok":9007199254740991}') as unknown;
    expect(redact(parsed)).toEqual({ n: PAN_MASK, m: PAN_MASK, ok: 9007199254740991 });
  });

  it('keeps numbers that are not card numbers', () => {
    expect(redact({ big: 123456789012, small: 42 })).toEqual({ big: 123456789012, small: 42 });
  });

  it('turns an Error into its name, redacted message and redacted stack', () => {
    const err = new TypeError(`bad card ${VISA}`);
    const out = redact({ err }) as unknown as { err: { name: string; message: string; stack: string } };
    expect(out.err.name).toBe('TypeError');
    expect(out.err.message).toBe(`bad card ${PAN_MASK}`);
    expect(out.err.stack).toContain(`bad card ${PAN_MASK}`);
    expect(JSON.stringify(out)).not.toContain(VISA);
  });

  it('cuts cycles', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    const out = redact(a) as Record<string, unknown>;
    expect(out).toEqual({ name: 'a', self: '[Circular]' });
    expect(() => JSON.stringify(out)).not.toThrow();
  });

  it('cuts cycles through arrays and nested objects, and marks an object met a second time, as before the set was made lazily', () => {
    const shared = { card: VISA };
    const list: unknown[] = ['x', shared];
    list.push(list);
    expect(redact(list)).toEqual(['x', { card: PAN_MASK }, '[Circular]']);
    const top: Record<string, unknown> = { a: shared, b: shared, n: 1, inner: { up: undefined as unknown } };
    (top.inner as Record<string, unknown>).up = top;
    expect(redact(top)).toEqual({ a: { card: PAN_MASK }, b: '[Circular]', n: 1, inner: { up: '[Circular]' } });
    const raw = Buffer.from('x');
    expect(redact({ one: raw, two: raw })).toEqual({ one: '[Buffer 1 bytes]', two: '[Circular]' });
    expect(redact({ flat: 'text', n: 2, none: null })).toEqual({ flat: 'text', n: 2, none: null });
  });

  it('walks own enumerable keys only, in their order, as Object.keys lists them (an inherited or hidden one is left out)', () => {
    const value = Object.assign(Object.create({ inherited: 'x' }) as Record<string, unknown>, { b: 1, 2: 'two', a: VISA, 1: 'one' });
    Object.defineProperty(value, 'hidden', { value: 'y', enumerable: false });
    const out = redact(value) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['1', '2', 'b', 'a']);
    expect(out).toEqual({ 1: 'one', 2: 'two', b: 1, a: PAN_MASK });
  });

  it('notes the size of a Buffer instead of its bytes', () => {
    expect(redact({ raw: Buffer.from(VISA) })).toEqual({ raw: '[Buffer 16 bytes]' });
  });
});

describe('findCardData and containsCardNumber', () => {
  it('refuses a card number but not a Luhn-valid 13-digit timestamp', () => {
    expect(containsCardNumber(VISA)).toBe(true);
    expect(containsCardNumber(LUHN_TIMESTAMP)).toBe(false);
    expect(findCardData({ sequence: Number(LUHN_TIMESTAMP), received: LUHN_TIMESTAMP })).toEqual([]);
  });

  it('finds a card number grouped by spaces or written next to another number', () => {
    expect(containsCardNumber('4111 1111 1111 1111')).toBe(true);
    expect(containsCardNumber(`${VISA} 12`)).toBe(true);
    expect(containsCardNumber(`000 ${VISA} 000000`)).toBe(true);
  });

  it('does not refuse an unbroken run of more than 19 digits (a 22-digit Cybersource payment id), which the logger still masks', () => {
    const cybersourceId = '7030000000000000000001';
    const withWindow = [...Array(1000).keys()].map((i) => `703${String(i).padStart(19, '0')}`).find((id) => redactText(id) !== id) ?? cybersourceId;
    expect(containsCardNumber(withWindow)).toBe(false);
    expect(findCardData({ payment: { gateway_key: withWindow } })).toEqual([]);
    expect(redactText(`000${VISA}000000`)).toBe(PAN_MASK);
  });

  it('does not refuse the digits of a hex digest (the export flake: v1:bdf51334299038969f3f…), which the logger still masks', () => {
    // 51334299038969 is Luhn-valid and starts with an issuing digit: a 14-digit card number's shape.
    const digest = 'v1:bdf51334299038969f3fa0c1d2e3b4a5';
    const sha256 = `${'e3b0c44f'}${'51334299038969'}${'fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'.slice(0, 42)}`;
    expect(sha256).toHaveLength(64);
    for (const text of [digest, sha256, `idempotency ${sha256.toUpperCase()} sent`]) {
      expect(containsCardNumber(text)).toBe(false);
      expect(maskCardNumbers(text, true)).toBe(text);
      expect(maskCardNumbers(text)).toContain(PAN_MASK);
    }
    expect(findCardData({ digest, idempotency_key: sha256 })).toEqual([]);
  });

  it('neither refuses nor masks the digits of an adjustment id (adj_83a7cc624098191962588ce9, a Luhn-valid run); a card number in another hex word still is both', () => {
    const id = 'adj_83a7cc624098191962588ce9';
    for (const text of [id, `pb:{s:3}:adj:${id}`, `op-1.adj.${id}`, `{"undone_by":"${id}"}`]) {
      expect(containsCardNumber(text)).toBe(false);
      expect(maskCardNumbers(text, true)).toBe(text);
      expect(maskCardNumbers(text)).toBe(text);
      expect(redactText(text)).toBe(text);
    }
    expect(findCardData({ id, hash: { id } })).toEqual([]);
    expect(redact({ adjustment_id: id })).toEqual({ adjustment_id: id });
    for (const text of [id.slice(4), `adj_${id.slice(4)}0`, `xadj_${id.slice(4)}`, `adj_${id.slice(4, -1)}`, `adj_${id.slice(4).toUpperCase()}`]) {
      expect([text, containsCardNumber(text)]).toEqual([text, true]);
      expect(maskCardNumbers(text)).toContain(PAN_MASK);
    }
  });

  it('still refuses a card number glued to a few hex letters, grouped inside a hex token, in a hex word of digits only or of no digest’s length, or glued to a letter', () => {
    expect(containsCardNumber(`abc${VISA}def`)).toBe(true);
    expect(containsCardNumber(`deadbeef${VISA}`)).toBe(true);
    expect(containsCardNumber(`${'ab'.repeat(10)}4111 1111 1111 1111${'cd'.repeat(10)}`)).toBe(true);
    expect(containsCardNumber(`${'0'.repeat(20)}${VISA}`)).toBe(true);
    // Not a digest's length (33), or glued to a letter that is not hex: not a digest.
    expect(containsCardNumber(`${'ab'.repeat(8)}c${VISA}`)).toBe(true);
    expect(containsCardNumber(`x${'ab'.repeat(8)}${VISA}`)).toBe(true);
  });

  it('reports the path of every field that holds a card number', () => {
    const command = {
      payment: {
        gateway_key: 'tok_1',
        lines: [{ item_name: `engraving ${VISA}` }, { item_name: 'mug' }, { item_sku: MASTERCARD }],
        custom_attributes: { ref: Number(VISA) },
      },
    };
    expect(findCardData(command)).toEqual(['payment.lines[0].item_name', 'payment.lines[2].item_sku', 'payment.custom_attributes.ref']);
  });

  it('reports card security and number fields whatever they hold', () => {
    expect(findCardData({ payment: { method_details: { card: { cvv: '123', card_number: 'x', bin: '411111' } } } })).toEqual([
      'payment.method_details.card.cvv',
      'payment.method_details.card.card_number',
    ]);
  });

  it('ignores empty card security fields', () => {
    expect(findCardData({ cvv: '', card_number: null })).toEqual([]);
  });

  it('finds a card number used as a key, without quoting it in the path', () => {
    const hits = findCardData({ payment: { custom_attributes: { [VISA]: 'x' } } });
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatch(/^payment\.custom_attributes\./);
    expect(hits[0]).not.toContain(VISA);
  });

  it('reports (root) for a bare value and prefixes the given path', () => {
    expect(findCardData(VISA)).toEqual(['(root)']);
    expect(findCardData([VISA])).toEqual(['[0]']);
    expect(findCardData({ a: VISA }, 'body')).toEqual(['body.a']);
  });
});
