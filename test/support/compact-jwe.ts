import { constants, createCipheriv, publicEncrypt, randomBytes } from 'node:crypto';

/**
 * A compact JWE of `plaintext` for `publicKeyPem`, built as RFC 7516 and RFC 7518 describe it and independent of
 * the adapter: the content key wrapped with RSA-OAEP (SHA-1) or RSA-OAEP-256, the content in AES-GCM with the
 * encoded protected header as additional authenticated data. What Cybersource's message-level encryption sends.
 */
export function compactJwe(plaintext: string, publicKeyPem: string, options: { alg?: 'RSA-OAEP' | 'RSA-OAEP-256'; enc?: 'A256GCM' | 'A128GCM' } = {}): string {
  const alg = options.alg ?? 'RSA-OAEP-256';
  const enc = options.enc ?? 'A256GCM';
  const header = Buffer.from(JSON.stringify({ alg, enc, kid: 'mle-cert-1' })).toString('base64url');
  const cek = randomBytes(enc === 'A256GCM' ? 32 : 16);
  const wrapped = publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg === 'RSA-OAEP' ? 'sha1' : 'sha256' }, cek);
  const iv = randomBytes(12);
  const cipher = createCipheriv(enc === 'A256GCM' ? 'aes-256-gcm' : 'aes-128-gcm', cek, iv);
  cipher.setAAD(Buffer.from(header, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [header, wrapped.toString('base64url'), iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join(
    '.',
  );
}
