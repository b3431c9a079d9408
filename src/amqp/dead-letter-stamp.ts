import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { purposeKey } from '../config/purpose-key';

/**
 * The stamp a dead letter carries in `x-pb-authenticated-channel`: the channel whose signature of the
 * original was verified before it was refused, bound by an HMAC to the dead letter's (redacted) body, so a
 * message published straight to the dead-letter queue cannot claim a channel. `<channel>.<base64url MAC>`.
 * The key is derived from `service_bus.secret`, never the secret itself.
 */
export function deadLetterStampKey(busSecret: string): Buffer {
  return purposeKey(busSecret, 'dead-letter stamp v1');
}

/**
 * The stamp keys of the bus secrets: `service_bus.secret`'s first (the only one stamps are made with), then
 * `service_bus.secret_previous`'s while a rotation lasts, then `service_bus.secret_next`'s before one starts
 * (empty or absent: none). A stamp made before the rotation must still hold after it, or a parked message moved
 * back would no longer replace its stand-in (which then stays in the archive for ever) and a dead letter would
 * lose the channel that signed it; and during a rolling switch, a process still on the old `service_bus.secret`
 * must read the stamps a process already on the new one made: the new secret is first deployed everywhere as
 * `secret_next`, accepted but never signing with.
 */
export function deadLetterStampKeys(bus: BusSecrets): Buffer[] {
  return busSecretsInUse(bus).map(deadLetterStampKey);
}

/** The bus secrets a key of the dead letters is derived from: `service_bus.secret`, `secret_previous`, `secret_next`. */
export type BusSecrets = { readonly secret: string; readonly secretPrevious: string; readonly secretNext?: string };

/**
 * The bus secrets in the order their keys are tried: `service_bus.secret` first (the one keys are made with), then
 * `secret_previous` and `secret_next` when set and not the current one (only looked up): see {@link deadLetterStampKeys}.
 */
export function busSecretsInUse(bus: BusSecrets): string[] {
  const accepted = [bus.secretPrevious, bus.secretNext ?? ''].filter((s) => s !== '' && s !== bus.secret);
  return [bus.secret, ...accepted];
}

/** One key, or the keys a stamp may have been made with (the signing one first): see {@link deadLetterStampKeys}. */
export type StampKeys = Buffer | readonly Buffer[];

/**
 * The key stamps are made with: the first of `keys` (the current secret's). The keys after it (the previous
 * and the next secret's) only verify stamps, never make them.
 */
export function stampSigningKey(keys: StampKeys): Buffer | undefined {
  return Buffer.isBuffer(keys) ? keys : keys[0];
}

function keysOf(keys: StampKeys): readonly Buffer[] {
  return Buffer.isBuffer(keys) ? [keys] : keys;
}

function mac(key: Buffer, channel: string, body: Buffer): Buffer {
  const digest = createHash('sha256').update(body).digest('hex');
  return createHmac('sha256', key).update(`${channel}\n${digest}`).digest();
}

/** The stamp of `channel` for a dead letter whose body (as published) is `body`. */
export function stampOf(key: Buffer, channel: string, body: Buffer): string {
  return `${channel}.${mac(key, channel, body).toString('base64url')}`;
}

/**
 * The channel a stamp names when it was made with one of `keys` for exactly `body`; undefined otherwise.
 * Constant time in the MAC. A "channel" with a line break is none: a parked stamp's MAC covers
 * `parked\n<record>\n<digest>`, which would otherwise read as the channel stamp of channel `parked\n<record>`.
 */
export function stampedChannel(keys: StampKeys, stamp: string | undefined, body: Buffer): string | undefined {
  if (stamp === undefined) return undefined;
  const dot = stamp.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const channel = stamp.slice(0, dot);
  if (channel.includes('\n')) return undefined;
  const given = Buffer.from(stamp.slice(dot + 1), 'base64url');
  return keysOf(keys).some((key) => {
    const expected = mac(key, channel, body);
    return given.length === expected.length && timingSafeEqual(given, expected);
  })
    ? channel
    : undefined;
}

function parkedMac(key: Buffer, record: string, body: Buffer): Buffer {
  const digest = createHash('sha256').update(body).digest('hex');
  return createHmac('sha256', key).update(`parked\n${record}\n${digest}`).digest();
}

/**
 * The stamp a parked dead letter carries in `x-pb-parked-stamp`: its stand-in record's id bound by an HMAC to its
 * body, so only that message (moved back from the parking queue) can name the stand-in to replace; a message
 * published straight to the dead-letter queue naming another's stand-in cannot. base64url.
 */
export function parkedStampOf(key: Buffer, record: string, body: Buffer): string {
  return parkedMac(key, record, body).toString('base64url');
}

/**
 * Whether `stamp` was made with one of `keys` (the current bus secret's, the previous one's during a rotation)
 * for the stand-in `record` of exactly `body`. Constant time in the MAC.
 */
export function parkedStampHolds(keys: StampKeys, record: string, stamp: string | undefined, body: Buffer): boolean {
  if (stamp === undefined) return false;
  const given = Buffer.from(stamp, 'base64url');
  return keysOf(keys).some((key) => {
    const expected = parkedMac(key, record, body);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
