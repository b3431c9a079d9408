import { createHmac } from 'node:crypto';
import { ChannelKeyring, busChannelKey, busSigningKey, channelSignatureHeaders } from '../../../src/channels/channel-signature';
import { buildChannels } from '../../support/channels-config';

const BUS_SECRET = 'test-bus-secret-0123456789';
const channels = buildChannels();
const keyring = new ChannelKeyring(channels.credentials, BUS_SECRET);
const body = Buffer.from('{"version":1,"channel":"web"}');
const web = keyring.currentKey('web')!;

describe('channel message signatures', () => {
  it('accepts a body signed with the current key of the channel its routing key names', () => {
    expect(keyring.verify(body, channelSignatureHeaders(body, web), 'web.payment.sale')).toEqual({ ok: true, channel: 'web', keyId: web.keyId });
  });

  it('signs HMAC-SHA256 of the exact body, lower-case hex, under the key id header', () => {
    const headers = channelSignatureHeaders(body, web);
    expect(headers['x-pb-key-id']).toBe(web.keyId);
    expect(headers['x-pb-signature']).toBe(`sha256=${createHmac('sha256', web.secret).update(body).digest('hex')}`);
  });

  it('accepts the previous key of a channel during a rotation', () => {
    const previous = channels.credentials.web![1];
    expect(keyring.verify(body, channelSignatureHeaders(body, previous), 'web.payment.sale')).toMatchObject({
      ok: true,
      channel: 'web',
      keyId: previous.keyId,
    });
  });

  it.each([
    ['no headers', undefined, 'unsigned'],
    ['a key id without signature', { 'x-pb-key-id': 'web-test-2' }, 'unsigned'],
    ['an unknown key id', { 'x-pb-key-id': 'nobody', 'x-pb-signature': channelSignatureHeaders(body, web)['x-pb-signature'] }, 'unknown_key'],
    [
      'upper-case hex',
      {
        ...channelSignatureHeaders(body, web),
        'x-pb-signature': channelSignatureHeaders(body, web)['x-pb-signature'].toUpperCase().replace('SHA256', 'sha256'),
      },
      'malformed_signature',
    ],
    [
      'a trailing character',
      { ...channelSignatureHeaders(body, web), 'x-pb-signature': `${channelSignatureHeaders(body, web)['x-pb-signature']}0` },
      'malformed_signature',
    ],
    [
      'sha1',
      { ...channelSignatureHeaders(body, web), 'x-pb-signature': `sha1=${createHmac('sha1', web.secret).update(body).digest('hex')}` },
      'malformed_signature',
    ],
    ['another key secret', channelSignatureHeaders(body, { keyId: web.keyId, secret: 'x'.repeat(40) }), 'bad_signature'],
  ])('refuses %s', (_label, headers, reason) => {
    expect(keyring.verify(body, headers, 'web.payment.sale')).toEqual({ ok: false, reason });
  });

  it('refuses a body changed after signing', () => {
    const headers = channelSignatureHeaders(body, web);
    expect(keyring.verify(Buffer.from('{"version":1,"channel":"bus"}'), headers, 'web.payment.sale')).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a web-signed message routed as another channel (it cannot claim to be pos or the bus)', () => {
    const headers = channelSignatureHeaders(body, web);
    expect(keyring.verify(body, headers, 'pos.payment.sale')).toEqual({ ok: false, reason: 'channel_mismatch' });
    expect(keyring.verify(body, headers, 'bus.payment.capture')).toEqual({ ok: false, reason: 'channel_mismatch' });
  });

  it('the bus key is derived from the bus secret, not configured, and only it signs as the bus', () => {
    const bus = busChannelKey(BUS_SECRET);
    expect(bus.secret).not.toContain(BUS_SECRET);
    expect(keyring.verify(body, channelSignatureHeaders(body, bus), 'bus.payment.capture')).toMatchObject({ ok: true, channel: 'bus' });
    expect(keyring.verify(body, channelSignatureHeaders(body, busChannelKey('another-bus-secret-0123')), 'bus.payment.capture')).toEqual({
      ok: false,
      reason: 'unknown_key',
    });
    expect(
      keyring.verify(body, channelSignatureHeaders(body, { keyId: bus.keyId, secret: 'forged-bus-key-0123456789-0123456789' }), 'bus.payment.capture'),
    ).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('accepts the key derived from the previous bus secret while the bus secret rotates', () => {
    const rotating = new ChannelKeyring(channels.credentials, 'new-bus-secret-0123456789', BUS_SECRET);
    const old = busChannelKey(BUS_SECRET);
    expect(old.keyId).not.toBe(busChannelKey('new-bus-secret-0123456789').keyId);
    expect(rotating.verify(body, channelSignatureHeaders(body, old), 'bus.payment.capture')).toMatchObject({ ok: true, channel: 'bus' });
    expect(rotating.currentKey('bus')?.keyId).toBe(busChannelKey('new-bus-secret-0123456789').keyId);
  });

  it('a channel without configured keys has no current key (its messages cannot verify)', () => {
    const bare = new ChannelKeyring({}, BUS_SECRET);
    expect(bare.currentKey('pos')).toBeUndefined();
    expect(bare.verify(body, channelSignatureHeaders(body, web), 'web.payment.sale')).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('the configuration refuses a key id used by two channels and a secret under 32 characters', () => {
    expect(() =>
      buildChannels({ 'channels.credentials': { web: [{ key_id: 'k1', secret: 'a'.repeat(32) }], pos: [{ key_id: 'k1', secret: 'b'.repeat(32) }] } }),
    ).toThrow(/key_id "k1"/);
    expect(() => buildChannels({ 'channels.credentials': { web: [{ key_id: 'k1', secret: 'short' }] } })).toThrow(/channels\.credentials/);
    expect(() => buildChannels({ 'channels.credentials': { bus: [{ key_id: 'k1', secret: 'a'.repeat(32) }] } })).toThrow(/channels\.credentials/);
  });
});

describe('bus channel key during a rotation of service_bus.secret', () => {
  const OLD = 'bus-secret-before-rotation-0123456789';
  const NEW = 'bus-secret-after-rotation-0123456789';
  const body = Buffer.from('{"channel":"bus"}');

  it('an intake mid-rotation signs so that workers on the old and on the new configuration both accept, in any deploy order', () => {
    const headers = channelSignatureHeaders(body, busSigningKey({ secret: NEW, secretPrevious: OLD }));
    expect(new ChannelKeyring({}, OLD).verify(body, headers, 'bus.payment.capture')).toMatchObject({ ok: true, channel: 'bus' });
    expect(new ChannelKeyring({}, NEW, OLD).verify(body, headers, 'bus.payment.capture')).toMatchObject({ ok: true, channel: 'bus' });
  });

  it('once the previous secret is retired the intake signs with the current one, which mid-rotation workers accept', () => {
    const headers = channelSignatureHeaders(body, busSigningKey({ secret: NEW, secretPrevious: '' }));
    expect(new ChannelKeyring({}, NEW, OLD).verify(body, headers, 'bus.payment.capture')).toMatchObject({ ok: true });
    expect(new ChannelKeyring({}, NEW).verify(body, headers, 'bus.payment.capture')).toMatchObject({ ok: true });
    expect(busSigningKey({ secret: NEW, secretPrevious: '' })).toEqual(busChannelKey(NEW));
  });
});
