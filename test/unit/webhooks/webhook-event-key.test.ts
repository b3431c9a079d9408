import { createHash, createHmac } from 'node:crypto';
import {
  EVENT_ID_DIGEST_PREFIX,
  EVENT_ID_HMAC_PREFIX,
  MAX_PLAIN_EVENT_ID,
  holdsCardNumberBeyond,
  webhookDigestKeys,
  webhookEventIdOf,
  webhookEventKey,
  webhookValueDigest,
} from '../../../src/webhooks/webhook-event-key';

const PAN = '4111111111111111';
/** Luhn-valid, starting with 4: what a 16-digit Adyen pspReference can be. */
const PSP_REFERENCE = '4929387412003213';

const SECRET = 'bus-secret-for-the-webhook-digest-tests';
const KEYS = webhookDigestKeys(SECRET);
const unkeyed = (id: string) => createHash('sha256').update(Buffer.from(id, 'utf16le')).digest('hex');
const digestOf = (id: string) => `${EVENT_ID_DIGEST_PREFIX}${unkeyed(id)}`;
/** What an operator computes by hand: the key derived from the secret for its purpose, then HMAC-SHA-256 of the UTF-16LE code units. */
const hmacOf = (purpose: string, id: string, secret = SECRET) =>
  createHmac('sha256', createHmac('sha256', secret).update(`payment-bridge webhook ${purpose} v1`).digest())
    .update(Buffer.from(id, 'utf16le'))
    .digest('hex');

describe('webhookEventKey', () => {
  it('keeps an ordinary PSP event id as it is (the keys of jobs queued before stay valid)', () => {
    for (const id of [
      'evt_1NqXyZ2eZvKYlo2C',
      '8815329842815468:AUTHORISATION:true',
      '7000000000000000000123',
      'a😀b',
      `e${'x'.repeat(MAX_PLAIN_EVENT_ID - 1)}`,
    ]) {
      expect(webhookEventKey(KEYS, id)).toBe(id);
    }
  });

  it('makes an id holding a card number, in any written form, a keyed digest without its digits, the same for every repeat', () => {
    for (const id of [`evt_${PAN}`, `card 4111 1111 1111 1111 declined`, `${PAN}:AUTHORISATION:true`]) {
      const key = webhookEventKey(KEYS, id);
      expect(key).toBe(`${EVENT_ID_HMAC_PREFIX}${hmacOf('event key', id)}`);
      expect(key).not.toContain('1111');
      expect(webhookEventKey(KEYS, id)).toBe(key);
    }
  });

  it('never makes an id holding a card number its unkeyed SHA-256 (found offline by trying the digits a BIN leaves)', () => {
    const id = `${PAN}:AUTHORISATION:true`;
    const key = webhookEventKey(KEYS, id);
    expect(key).not.toContain(unkeyed(id));
    expect(key).not.toBe(digestOf(id));
    // The key is the secret's: another secret, another digest; the value digest's key is another again.
    expect(webhookEventKey(webhookDigestKeys('another-secret'), id)).not.toBe(key);
    expect(key).not.toContain(webhookValueDigest(KEYS, id).hex);
  });

  it('keeps an id whose only card-number-like digits are a PSP reference the ledger holds', () => {
    const id = `${PSP_REFERENCE}:AUTHORISATION:true`;
    expect(webhookEventKey(KEYS, id, [PSP_REFERENCE])).toBe(id);
    expect(webhookEventKey(KEYS, id)).toBe(`${EVENT_ID_HMAC_PREFIX}${hmacOf('event key', id)}`);
    // A card number beside the known reference still makes it a digest.
    expect(webhookEventKey(KEYS, `${PSP_REFERENCE}:${PAN}`, [PSP_REFERENCE])).toBe(`${EVENT_ID_HMAC_PREFIX}${hmacOf('event key', `${PSP_REFERENCE}:${PAN}`)}`);
  });

  it('makes an id holding a lone surrogate and no card number its plain digest, as earlier releases (BullMQ cannot move such a job), each lone surrogate its own', () => {
    expect(webhookEventKey(KEYS, 'evt_a\ud800b')).toBe(digestOf('evt_a\ud800b'));
    expect(webhookEventKey(KEYS, 'evt_a\ud800b')).not.toBe(webhookEventKey(KEYS, 'evt_a\udc00b'));
    expect(webhookEventKey(KEYS, 'evt_a\ud800b')).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it(`makes an id longer than ${MAX_PLAIN_EVENT_ID} characters a digest: plain without a card number, keyed with one`, () => {
    const id = 'x'.repeat(MAX_PLAIN_EVENT_ID + 1);
    expect(webhookEventKey(KEYS, id)).toBe(digestOf(id));
    const withPan = `${id}${PAN}`;
    expect(webhookEventKey(KEYS, withPan)).toBe(`${EVENT_ID_HMAC_PREFIX}${hmacOf('event key', withPan)}`);
  });
});

describe("webhookValueDigest (the skip line's value_hmac)", () => {
  it('is the HMAC-SHA-256 of the UTF-16 code units under the key derived from service_bus.secret, never the unkeyed SHA-256', () => {
    expect(webhookValueDigest(KEYS, PAN).hex).toBe(hmacOf('value digest', PAN));
    expect(webhookValueDigest(KEYS, PAN).hex).not.toBe(unkeyed(PAN));
    expect(webhookValueDigest(webhookDigestKeys('another-secret'), PAN).hex).not.toBe(webhookValueDigest(KEYS, PAN).hex);
    expect(webhookValueDigest(KEYS, 'a\ud800b').hex).not.toBe(webhookValueDigest(KEYS, 'a\udc00b').hex);
  });
});

describe("webhookEventIdOf (an id told apart by a value written nowhere: an Adyen RECURRING_CONTRACT's token)", () => {
  const TOKEN = 'M5N7TQ4TG5PFWR50';
  const ID = 'QFQTPCQ8HXSKGK82:RECURRING_CONTRACT:true';

  it('appends 16 hex digits of the HMAC-SHA-256 of its UTF-16 code units under the key derived for that one use: the same in every process on the secret', () => {
    expect(webhookEventIdOf(KEYS, { eventId: ID, eventIdSecret: TOKEN })).toBe(`${ID}:${hmacOf('event id secret', TOKEN).slice(0, 16)}`);
    expect(webhookEventIdOf(webhookDigestKeys(SECRET), { eventId: ID, eventIdSecret: TOKEN })).toBe(
      webhookEventIdOf(KEYS, { eventId: ID, eventIdSecret: TOKEN }),
    );
    expect(webhookEventIdOf(webhookDigestKeys('another-secret'), { eventId: ID, eventIdSecret: TOKEN })).not.toBe(
      webhookEventIdOf(KEYS, { eventId: ID, eventIdSecret: TOKEN }),
    );
    expect(webhookEventIdOf(KEYS, { eventId: ID })).toBe(ID);
  });

  it('tells apart two values differing in a lone surrogate (UTF-8 would make both U+FFFD: one notification dropped as a repeat of the other)', () => {
    expect(webhookEventIdOf(KEYS, { eventId: ID, eventIdSecret: 'TOKEN\ud800' })).not.toBe(
      webhookEventIdOf(KEYS, { eventId: ID, eventIdSecret: 'TOKEN\udc00' }),
    );
  });
});

describe('holdsCardNumberBeyond', () => {
  it('cuts the known values out without joining the digits around them', () => {
    expect(holdsCardNumberBeyond(PSP_REFERENCE, [PSP_REFERENCE])).toBe(false);
    expect(holdsCardNumberBeyond(`4111 1111${PSP_REFERENCE}1111 1111`, [PSP_REFERENCE])).toBe(false);
    expect(holdsCardNumberBeyond(`x ${PAN}`, [PSP_REFERENCE])).toBe(true);
    expect(holdsCardNumberBeyond('no digits', [])).toBe(false);
  });
});
