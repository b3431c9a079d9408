import {
  deadLetterStampKey,
  deadLetterStampKeys,
  parkedStampHolds,
  parkedStampOf,
  stampOf,
  stampSigningKey,
  stampedChannel,
} from '../../../src/amqp/dead-letter-stamp';
import { standInIdsOf } from '../../../src/ops/dead-letter-store';

describe('the dead-letter stamp (which channel signed the original)', () => {
  const key = deadLetterStampKey('bus-secret-0123456789abcdef');
  const body = Buffer.from('{"command":"capture"}');

  it('names its channel for exactly the body it was made for, with the key it was made with', () => {
    expect(stampedChannel(key, stampOf(key, 'web', body), body)).toBe('web');
    expect(stampedChannel(key, stampOf(key, 'web', body), Buffer.from('{"command":"refund"}'))).toBeUndefined();
    expect(stampedChannel(deadLetterStampKey('another-bus-secret-0123456789'), stampOf(key, 'web', body), body)).toBeUndefined();
  });

  it('takes no channel from a stamp it did not make: a bare name, another channel with the same MAC, garbage', () => {
    const mac = stampOf(key, 'web', body).slice('web.'.length);
    for (const stamp of ['bus', `bus.${mac}`, 'bus.', '.x', '', undefined]) expect(stampedChannel(key, stamp, body)).toBeUndefined();
  });

  it('is derived from the bus secret, never the secret itself', () => {
    expect(key.toString('utf8')).not.toContain('bus-secret');
    expect(key).toHaveLength(32);
  });
});

describe('the parked stamp (which stand-in a parked dead letter may replace)', () => {
  const key = deadLetterStampKey('bus-secret-0123456789abcdef');
  const body = Buffer.from('{"command":"capture"}');
  const record = 'dl-0123456789abcdef01234567';

  it('holds for exactly the stand-in and the body it was made for, with the key it was made with', () => {
    const stamp = parkedStampOf(key, record, body);
    expect(parkedStampHolds(key, record, stamp, body)).toBe(true);
    expect(parkedStampHolds(key, 'dl-000000000000000000000000', stamp, body)).toBe(false);
    expect(parkedStampHolds(key, record, stamp, Buffer.from('{"command":"refund"}'))).toBe(false);
    expect(parkedStampHolds(deadLetterStampKey('another-bus-secret-0123456789'), record, stamp, body)).toBe(false);
    // Not the channel stamp of the same body: another purpose, another MAC.
    expect(parkedStampHolds(key, record, stampOf(key, record, body).slice(record.length + 1), body)).toBe(false);
  });

  it('does not hold when absent or garbage', () => {
    for (const stamp of [undefined, '', 'x', parkedStampOf(key, record, body).slice(1)]) expect(parkedStampHolds(key, record, stamp, body)).toBe(false);
  });
});

describe('the stamps across a rotation of service_bus.secret', () => {
  const old = 'bus-secret-retired-0123456789abcdef';
  const rotated = { secret: 'bus-secret-current-0123456789abcdef', secretPrevious: old };
  const body = Buffer.from('{"command":"capture"}');
  const record = 'dl-0123456789abcdef01234567';

  it('are made with the current secret and still hold when made with the previous one', () => {
    const keys = deadLetterStampKeys(rotated);
    expect(keys[0]).toEqual(deadLetterStampKey(rotated.secret));
    expect(parkedStampHolds(keys, record, parkedStampOf(deadLetterStampKey(old), record, body), body)).toBe(true);
    expect(stampedChannel(keys, stampOf(deadLetterStampKey(old), 'web', body), body)).toBe('web');
    // Once the previous secret is retired, its stamps hold no more.
    const retired = deadLetterStampKeys({ secret: rotated.secret, secretPrevious: '' });
    expect(retired).toHaveLength(1);
    expect(parkedStampHolds(retired, record, parkedStampOf(deadLetterStampKey(old), record, body), body)).toBe(false);
  });

  it('let a message parked before the rotation, moved back after it, name its stand-in', () => {
    const msg = {
      content: body,
      properties: { headers: { 'x-pb-parked-record': record, 'x-pb-parked-stamp': parkedStampOf(deadLetterStampKey(old), record, body) } },
    };
    expect(standInIdsOf(msg as never, deadLetterStampKeys(rotated))).toContain(record);
  });
});

describe('the stamps before a rotation of service_bus.secret (service_bus.secret_next: accepted, never signing)', () => {
  const current = 'bus-secret-current-0123456789abcdef';
  const next = 'bus-secret-next-0123456789abcdef01';
  const body = Buffer.from('{"command":"capture"}');
  const record = 'dl-0123456789abcdef01234567';
  // A process still on the old configuration, the new secret deployed as accepted-only.
  const staged = { secret: current, secretPrevious: '', secretNext: next };

  it('a stamp made with the accepted-only secret holds (a process already switched to it made it)', () => {
    const keys = deadLetterStampKeys(staged);
    expect(parkedStampHolds(keys, record, parkedStampOf(deadLetterStampKey(next), record, body), body)).toBe(true);
    expect(stampedChannel(keys, stampOf(deadLetterStampKey(next), 'web', body), body)).toBe('web');
    const msg = {
      content: body,
      properties: { headers: { 'x-pb-parked-record': record, 'x-pb-parked-stamp': parkedStampOf(deadLetterStampKey(next), record, body) } },
    };
    expect(standInIdsOf(msg as never, keys)).toContain(record);
  });

  it('a stamp made with a secret neither current, previous nor next does not hold', () => {
    const unknown = deadLetterStampKey('bus-secret-unknown-0123456789abcdef');
    const keys = deadLetterStampKeys({ ...staged, secretPrevious: 'bus-secret-retired-0123456789abcdef' });
    expect(parkedStampHolds(keys, record, parkedStampOf(unknown, record, body), body)).toBe(false);
    expect(stampedChannel(keys, stampOf(unknown, 'web', body), body)).toBeUndefined();
    const msg = { content: body, properties: { headers: { 'x-pb-parked-record': record, 'x-pb-parked-stamp': parkedStampOf(unknown, record, body) } } };
    expect(standInIdsOf(msg as never, keys)).not.toContain(record);
  });

  it('stamps are made with the current secret, never the accepted-only one (nor the previous one)', () => {
    const keys = deadLetterStampKeys({ ...staged, secretPrevious: 'bus-secret-retired-0123456789abcdef' });
    expect(stampSigningKey(keys)).toEqual(deadLetterStampKey(current));
    expect(stampSigningKey(keys)).not.toEqual(deadLetterStampKey(next));
    expect(keys).toHaveLength(3);
    // Without a next secret the keys are what they were.
    expect(deadLetterStampKeys({ secret: current, secretPrevious: '', secretNext: '' })).toEqual([deadLetterStampKey(current)]);
  });
});

describe('the two stamps kept apart (one key, two purposes)', () => {
  const key = deadLetterStampKey('bus-secret-0123456789abcdef');
  const body = Buffer.from('{"command":"capture"}');
  const record = 'dl-0123456789abcdef01234567';

  it('takes no channel from a parked stamp read as a channel stamp', () => {
    // Its MAC covers `parked\n<record>\n<digest>`: the channel stamp of "channel" `parked\n<record>` otherwise.
    expect(stampedChannel(key, `parked\n${record}.${parkedStampOf(key, record, body)}`, body)).toBeUndefined();
  });
});
