import { deadLetterStampKey, parkedStampHolds, parkedStampOf, stampOf, stampedChannel } from '../../../src/amqp/dead-letter-stamp';

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
