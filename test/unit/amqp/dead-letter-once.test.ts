import { deadLetterIdOf, deadLetterIdentity, deadLetterOnceKey } from '../../../src/amqp/dead-letter-once';
import { deadLetterArchiveKeys } from '../../../src/ops/dead-letter-store';
import { hashSlot } from '../../support/hash-slot';

describe('one dead letter per message: its identity and key', () => {
  const why = { code: 'INVALID_PARAMS', field: 'payment.gateway_key', reason: 'is not an allowed value' };
  const pan = Buffer.from('{"payment":{"card":{"number":"4111111111111111"}}}');

  it('is the same for two copies and differs with the message id, the body or the reason', () => {
    const a = deadLetterIdentity('op-a', pan, why);
    expect(deadLetterIdentity('op-a', Buffer.from(pan), { ...why })).toBe(a);
    expect(deadLetterIdentity(undefined, pan, why)).not.toBe(a);
    expect(deadLetterIdentity('op-a', Buffer.from(`${pan.toString()} `), why)).not.toBe(a);
    expect(deadLetterIdentity('op-a', pan, { ...why, reason: 'other' })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });

  it('never carries the body or its card number, and its key lives in the archive slot', () => {
    const identity = deadLetterIdentity(undefined, pan, why);
    const key = deadLetterOnceKey('pb:', identity);
    expect(key).not.toContain('4111');
    expect(hashSlot(key)).toBe(hashSlot(deadLetterArchiveKeys('pb:').time));
  });

  it('derives a UUID-shaped dead-letter id from the identity', () => {
    const identity = deadLetterIdentity('op-a', pan, why);
    expect(deadLetterIdOf(identity)).toBe(deadLetterIdOf(identity));
    expect(deadLetterIdOf(identity)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
