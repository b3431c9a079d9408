import { createHash } from 'node:crypto';
import { EVENT_ID_DIGEST_PREFIX, MAX_PLAIN_EVENT_ID, holdsCardNumberBeyond, webhookEventKey } from '../../../src/webhooks/webhook-event-key';

const PAN = '4111111111111111';
/** Luhn-valid, starting with 4: what a 16-digit Adyen pspReference can be. */
const PSP_REFERENCE = '4929387412003213';

const digestOf = (id: string) => `${EVENT_ID_DIGEST_PREFIX}${createHash('sha256').update(Buffer.from(id, 'utf16le')).digest('hex')}`;

describe('webhookEventKey', () => {
  it('keeps an ordinary PSP event id as it is (the keys of jobs queued before stay valid)', () => {
    for (const id of [
      'evt_1NqXyZ2eZvKYlo2C',
      '8815329842815468:AUTHORISATION:true',
      '7000000000000000000123',
      'a😀b',
      `e${'x'.repeat(MAX_PLAIN_EVENT_ID - 1)}`,
    ]) {
      expect(webhookEventKey(id)).toBe(id);
    }
  });

  it('makes an id holding a card number, in any written form, a digest without its digits, the same for every repeat', () => {
    for (const id of [`evt_${PAN}`, `card 4111 1111 1111 1111 declined`, `${PAN}:AUTHORISATION:true`]) {
      const key = webhookEventKey(id);
      expect(key).toBe(digestOf(id));
      expect(key).not.toContain('1111');
      expect(webhookEventKey(id)).toBe(key);
    }
  });

  it('keeps an id whose only card-number-like digits are a PSP reference the ledger holds', () => {
    const id = `${PSP_REFERENCE}:AUTHORISATION:true`;
    expect(webhookEventKey(id, [PSP_REFERENCE])).toBe(id);
    expect(webhookEventKey(id)).toBe(digestOf(id));
    // A card number beside the known reference still makes it a digest.
    expect(webhookEventKey(`${PSP_REFERENCE}:${PAN}`, [PSP_REFERENCE])).toBe(digestOf(`${PSP_REFERENCE}:${PAN}`));
  });

  it('makes an id holding a lone surrogate a digest (BullMQ cannot move such a job), each lone surrogate its own', () => {
    expect(webhookEventKey('evt_a\ud800b')).toBe(digestOf('evt_a\ud800b'));
    expect(webhookEventKey('evt_a\ud800b')).not.toBe(webhookEventKey('evt_a\udc00b'));
    expect(webhookEventKey('evt_a\ud800b')).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it(`makes an id longer than ${MAX_PLAIN_EVENT_ID} characters a digest`, () => {
    const id = 'x'.repeat(MAX_PLAIN_EVENT_ID + 1);
    expect(webhookEventKey(id)).toBe(digestOf(id));
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
