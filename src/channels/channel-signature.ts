import { KeyObject, createHash, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { ChannelKey, PUBLISHING_CHANNELS } from '../config/channels-config';

/**
 * Per-channel message signatures on the commands exchange. Anyone who can publish to RabbitMQ could
 * otherwise put `"channel":"bus"` in a message; here every message carries the id of a key and an
 * HMAC-SHA256 of its exact body under that key, and a key belongs to one channel:
 *
 *   x-pb-key-id:    <key id>                       (AMQP header)
 *   x-pb-signature: sha256=<64 lower-case hex>     (HMAC-SHA256 of the body bytes, key = UTF-8 of the secret)
 *
 * The verifier accepts the current and the previous keys of every channel (rotation), compares in
 * constant time, and refuses a signature in any other spelling (upper case, extra characters, another
 * length: no malleable forms). The channel a message may claim, in its body and its routing key's first
 * word, is the channel of the key that signed it. The bus has no key of its own in the configuration: the
 * intake (which verified the bus's X-Signature) signs with a key derived from `service_bus.secret`, and
 * workers also accept the one derived from `service_bus.secret_previous` while the bus secret rotates.
 */

export const KEY_ID_HEADER = 'x-pb-key-id';
export const SIGNATURE_HEADER = 'x-pb-signature';
const SIGNATURE = /^sha256=[0-9a-f]{64}$/;
/** Length of `sha256=`, the prefix before the hex digest. */
const SIGNATURE_PREFIX = 7;
/** The decoded signature of the message being verified (verify is synchronous: one buffer serves all). */
const given = Buffer.alloc(32);

/** Why a message's channel credentials were refused: the `reason` label of `pb_channel_messages_refused_total`. */
export type ChannelAuthRefusal = 'unsigned' | 'malformed_signature' | 'unknown_key' | 'bad_signature' | 'channel_mismatch';

export type ChannelAuthResult = { ok: true; channel: string; keyId: string } | { ok: false; reason: ChannelAuthRefusal };

/**
 * The intake's key for the `bus` channel, derived from the bus registration secret (never configured
 * apart). Its id is `bus-<fingerprint>` (12 hex digits of the key's SHA-256), so a worker holding the current
 * and the previous bus secret knows which one a message was signed with.
 */
export function busChannelKey(busSecret: string): ChannelKey {
  const secret = createHmac('sha256', busSecret).update('payment-bridge channel key: bus', 'utf8').digest('hex');
  return { keyId: `bus-${createHash('sha256').update(secret).digest('hex').slice(0, 12)}`, secret };
}

/**
 * The key the intake signs bus commands with. During a rotation of `service_bus.secret` (a previous secret
 * set) it is the previous secret's: workers still on the old configuration know it as their current key
 * and workers on the new one as their previous key, so `web` and `worker` can be redeployed in any order
 * without dead-lettering queued commands. Once the previous secret is retired, the current one's.
 */
export function busSigningKey(bus: { readonly secret: string; readonly secretPrevious: string }): ChannelKey {
  return busChannelKey(bus.secretPrevious !== '' ? bus.secretPrevious : bus.secret);
}

/** The AMQP headers that sign `body` with `key`. */
export function channelSignatureHeaders(body: Buffer, key: ChannelKey): Record<string, string> {
  return { [KEY_ID_HEADER]: key.keyId, [SIGNATURE_HEADER]: `sha256=${createHmac('sha256', key.secret).update(body).digest('hex')}` };
}

/** The first word of a routing key (`web.payment.sale` → `web`). */
export function routingChannel(routingKey: string): string {
  const dot = routingKey.indexOf('.');
  return dot < 0 ? routingKey : routingKey.slice(0, dot);
}

/** Every accepted key by id, with its channel. */
export class ChannelKeyring {
  /** The secret as a key object, made once: an HMAC per message then skips importing the key bytes. */
  private readonly keys = new Map<string, { channel: string; secret: KeyObject }>();
  private readonly current = new Map<string, ChannelKey>();

  /**
   * @param credentials the configured keys per publishing channel (`channels.credentials`), current first.
   * @param busSecret `service_bus.secret`: the `bus` channel's key is derived from it.
   * @param busSecretPrevious `service_bus.secret_previous` (empty: none): its derived key is accepted too.
   */
  constructor(credentials: Readonly<Partial<Record<string, readonly ChannelKey[]>>>, busSecret: string, busSecretPrevious = '') {
    const add = (channel: string, key: ChannelKey) => {
      this.keys.set(key.keyId, { channel, secret: createSecretKey(Buffer.from(key.secret, 'utf8')) });
      if (!this.current.has(channel)) this.current.set(channel, key);
    };
    add('bus', busChannelKey(busSecret));
    if (busSecretPrevious !== '') add('bus', busChannelKey(busSecretPrevious));
    for (const channel of PUBLISHING_CHANNELS) for (const key of credentials[channel] ?? []) add(channel, key);
  }

  /** The key a channel signs with now (the first configured one), or undefined. */
  currentKey(channel: string): ChannelKey | undefined {
    return this.current.get(channel);
  }

  /**
   * Checks a message's signature headers against its exact body, and its routing key against the key's
   * channel. Constant time in the signature; the key id is not secret.
   */
  verify(body: Buffer, headers: Record<string, unknown> | undefined, routingKey: string): ChannelAuthResult {
    const keyId = headers?.[KEY_ID_HEADER];
    const signature = headers?.[SIGNATURE_HEADER];
    const asText = (v: unknown): string | undefined => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined);
    const id = asText(keyId);
    const sig = asText(signature);
    if (id === undefined || sig === undefined) return { ok: false, reason: 'unsigned' };
    if (!SIGNATURE.test(sig)) return { ok: false, reason: 'malformed_signature' };
    const key = this.keys.get(id);
    if (!key) return { ok: false, reason: 'unknown_key' };
    const expected = createHmac('sha256', key.secret).update(body).digest();
    given.write(sig.slice(SIGNATURE_PREFIX), 'hex');
    if (!timingSafeEqual(expected, given)) return { ok: false, reason: 'bad_signature' };
    if (routingChannel(routingKey) !== key.channel) return { ok: false, reason: 'channel_mismatch' };
    return { ok: true, channel: key.channel, keyId: id };
  }
}
