import { constants, createDecipheriv, createPrivateKey, privateDecrypt } from 'node:crypto';

/**
 * Cybersource message-level encryption (MLE) of webhook payloads, as the Webhooks Implementation Guide
 * describes it ("Message-Level Encryption"): payment and Unified Checkout events are encrypted as JSON Web
 * Encryption (RFC 7516), the content key wrapped with RSA-OAEP (2048-bit key pair whose X.509 certificate the
 * merchant gave Cybersource) and the content encrypted with AES-GCM (256-bit key). Only the compact
 * serialization is read: `BASE64URL(header).BASE64URL(encrypted key).BASE64URL(iv).BASE64URL(ciphertext).BASE64URL(tag)`.
 *
 * Decryption follows RFC 7516 §5.2 and RFC 7518 §4.3 (RSA-OAEP: SHA-1; RSA-OAEP-256: SHA-256, MGF1 with the
 * same hash) and §5.3 (AES-GCM, the additional authenticated data being the ASCII of the encoded protected
 * header). A wrong key, a tampered part or an algorithm outside those fails: the caller treats the payload
 * as unreadable, never as something else.
 */

/** Key management algorithms read (RFC 7518 §4.3), with the OAEP hash of each. */
const KEY_ALGORITHMS: Readonly<Record<string, string>> = { 'RSA-OAEP': 'sha1', 'RSA-OAEP-256': 'sha256' };

/** Content encryption algorithms read (RFC 7518 §5.3), with the Node cipher and key length of each. */
const CONTENT_ALGORITHMS: Readonly<Record<string, { cipher: 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm'; keyBytes: number }>> = {
  A128GCM: { cipher: 'aes-128-gcm', keyBytes: 16 },
  A192GCM: { cipher: 'aes-192-gcm', keyBytes: 24 },
  A256GCM: { cipher: 'aes-256-gcm', keyBytes: 32 },
};

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Largest JWE this reads, characters: far above any notification, bounded before any decoding. */
const MAX_JWE_LENGTH = 1024 * 1024;

/**
 * Whether `value` is a JWE in compact serialization whose protected header names a key and a content
 * algorithm read here (cheap: the header is decoded, nothing is decrypted).
 */
export function isCompactJwe(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > MAX_JWE_LENGTH) return false;
  const parts = value.split('.');
  if (parts.length !== 5 || !parts.every((p) => BASE64URL.test(p))) return false;
  const header = protectedHeader(parts[0]);
  return header !== null && typeof header.alg === 'string' && typeof header.enc === 'string';
}

function protectedHeader(encoded: string): Record<string, unknown> | null {
  try {
    const header: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
    return header !== null && typeof header === 'object' && !Array.isArray(header) ? (header as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Why a JWE could not be read: a bounded token, never a part of the message. */
export class JweError extends Error {
  constructor(readonly reason: 'malformed' | 'unsupported_algorithm' | 'key' | 'integrity') {
    super(`the encrypted payload could not be decrypted (${reason})`);
    this.name = 'JweError';
  }
}

/**
 * The plaintext of a compact JWE, decrypted with `privateKeyPem` (PKCS#8 or PKCS#1 PEM). Throws a
 * {@link JweError} when the JWE is malformed, names an algorithm outside RSA-OAEP/RSA-OAEP-256 with AES-GCM,
 * was not encrypted for this key, or fails its authentication tag.
 */
export function decryptCompactJwe(compact: string, privateKeyPem: string): Buffer {
  if (!isCompactJwe(compact)) throw new JweError('malformed');
  const [encodedHeader, encodedKey, encodedIv, encodedCiphertext, encodedTag] = compact.split('.');
  const header = protectedHeader(encodedHeader)!;
  const oaepHash = KEY_ALGORITHMS[String(header.alg)];
  const content = CONTENT_ALGORITHMS[String(header.enc)];
  // A header asking for compression is refused rather than inflated (an unbounded expansion of input).
  if (oaepHash === undefined || content === undefined || header.zip !== undefined) throw new JweError('unsupported_algorithm');
  let contentKey: Buffer;
  try {
    contentKey = privateDecrypt(
      { key: createPrivateKey(privateKeyPem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash },
      Buffer.from(encodedKey, 'base64url'),
    );
  } catch {
    throw new JweError('key');
  }
  const iv = Buffer.from(encodedIv, 'base64url');
  const tag = Buffer.from(encodedTag, 'base64url');
  if (contentKey.length !== content.keyBytes || iv.length !== 12 || tag.length !== 16) throw new JweError('malformed');
  try {
    const decipher = createDecipheriv(content.cipher, contentKey, iv);
    decipher.setAAD(Buffer.from(encodedHeader, 'ascii'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(encodedCiphertext, 'base64url')), decipher.final()]);
  } catch {
    throw new JweError('integrity');
  }
}

/**
 * The problem of a configured MLE private key, or null when it is an RSA private key of at least 2048 bits
 * (the size the guide requires). The message names no part of the value.
 */
export function mlePrivateKeyProblem(pem: string): string | null {
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'rsa') return 'is not an RSA private key (PEM)';
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits < 2048 ? 'is an RSA key shorter than 2048 bits' : null;
  } catch {
    return 'is not a PEM private key';
  }
}
