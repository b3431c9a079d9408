import { createHash } from 'node:crypto';
import { UNARCHIVABLE, deadLetterStandInKeys, standInIdOf, standInIdsOf } from '../../../src/ops/dead-letter-store';
import { deadLetterStampKey, deadLetterStampKeys } from '../../../src/amqp/dead-letter-stamp';
import { deadLetterIdentityKey } from '../../../src/amqp/dead-letter-once';

describe('the id of a dead letter stand-in', () => {
  const current = 'bus-secret-current-0123456789abcdef';
  const previous = 'bus-secret-previous-0123456789abcde';
  const next = 'bus-secret-next-0123456789abcdef01';
  // A body whose guessable part is its card number: the id must not let anyone test guesses against it.
  const body = Buffer.from('{"payment":{"card":{"number":"4111111111111111"}}}');
  const msg = { content: body, properties: { headers: { 'x-pb-dead-letter-id': 'id-one' } } } as unknown as Parameters<typeof standInIdOf>[0];
  const unkeyed = `dl-${createHash('sha256').update(UNARCHIVABLE).update(body).update('id-one').digest('hex').slice(0, 24)}`;

  it('is keyed with a key of its own derived from service_bus.secret, neither the stamp nor the identity key', () => {
    const [key] = deadLetterStandInKeys({ secret: current, secretPrevious: '' });
    const id = standInIdOf(msg, key);
    expect(id).toMatch(/^dl-[0-9a-f]{24}$/);
    expect(id).not.toBe(unkeyed);
    expect(standInIdOf(msg, key)).toBe(id);
    expect(standInIdOf({ properties: msg.properties, content: Buffer.from(`${body.toString()} `) }, key)).not.toBe(id);
    expect(key.equals(deadLetterStampKey(current))).toBe(false);
    expect(key.equals(deadLetterIdentityKey(current))).toBe(false);
    // Without a key (a store built without one): the earlier release's unkeyed id.
    expect(standInIdOf(msg)).toBe(unkeyed);
  });

  it("is looked up under the current, previous and next secrets' keys and as the earlier release made it (unkeyed)", () => {
    const bus = { secret: current, secretPrevious: previous, secretNext: next };
    const keys = deadLetterStandInKeys(bus);
    expect(keys).toHaveLength(3);
    const ids = standInIdsOf(msg, deadLetterStampKeys(bus), keys);
    expect(ids[0]).toBe(standInIdOf(msg, keys[0]));
    expect(ids).toEqual(expect.arrayContaining([...keys.map((k) => standInIdOf(msg, k)), unkeyed]));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
