import { createHmac, timingSafeEqual } from 'node:crypto';

/** Algorithms the bus may sign with: `sha1=` is the MIB default; `sha256=` is accepted as well. */
export type SignatureAlgorithm = 'sha1' | 'sha256';

/** `sha1=<hex HMAC of the raw body keyed by the registration secret>`, as the bus sends in X-Signature. */
export function signBody(rawBody: Buffer | string, secret: string, algorithm: SignatureAlgorithm = 'sha1'): string {
  return `${algorithm}=${createHmac(algorithm, secret).update(rawBody).digest('hex')}`;
}

/** Hex digits of each digest: SHA-1 20 bytes, SHA-256 32 bytes. */
const HEX_LENGTH: Readonly<Record<SignatureAlgorithm, number>> = { sha1: 40, sha256: 64 };

/**
 * Verifies an X-Signature header against the raw body, in constant time. Any malformed header, unknown
 * algorithm or length mismatch is simply `false`.
 */
export function verifySignature(rawBody: Buffer, header: string | undefined, secret: string): boolean {
  if (!header) return false;
  // Exactly the digest's hex digits, nothing after them: Buffer.from(hex) silently drops an odd last nibble
  // and stops at the first non-hex character, which would make a signature malleable.
  const m = /^[ \t]*(sha1|sha256)=([0-9a-fA-F]+)[ \t]*$/.exec(header);
  if (!m) return false;
  const algorithm = m[1] as SignatureAlgorithm;
  if (m[2].length !== HEX_LENGTH[algorithm]) return false;
  const expected = createHmac(algorithm, secret).update(rawBody).digest();
  const given = Buffer.from(m[2], 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Which of the bus secrets signed `rawBody`: the current one, else the previous one (during a rotation),
 * else undefined. Each comparison is constant time; the previous secret is tried only when the current
 * one does not match.
 */
export function matchSignature(
  rawBody: Buffer,
  header: string | undefined,
  secrets: { current: string; previous: string },
): 'current' | 'previous' | undefined {
  if (verifySignature(rawBody, header, secrets.current)) return 'current';
  if (secrets.previous !== '' && verifySignature(rawBody, header, secrets.previous)) return 'previous';
  return undefined;
}
