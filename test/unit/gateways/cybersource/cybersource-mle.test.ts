import { generateKeyPairSync } from 'node:crypto';
import { compactJwe } from '../../../support/compact-jwe';
import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { JweError, decryptCompactJwe, isCompactJwe, mlePrivateKeyProblem } from '../../../../src/gateways/cybersource/cybersource-mle';
import { GatewayError } from '../../../../src/errors/gateway-error';
import { PAYMENT_ID, gateway } from './cybersource-test-fixtures';

// One key pair for the file: RSA 2048, as the Webhooks guide's message-level encryption asks.
const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const other = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});

/** A compact JWE for this file's key pair (or `key`). */
function jwe(plaintext: string, options: { alg?: 'RSA-OAEP' | 'RSA-OAEP-256'; enc?: 'A256GCM' | 'A128GCM'; key?: string } = {}): string {
  return compactJwe(plaintext, options.key ?? publicKey, options);
}

const DATA = {
  id: PAYMENT_ID,
  type: 'payments',
  clientReferenceInformation: { code: 'op-mle-1' },
  orderInformation: { amountDetails: { totalAmount: '19.99', currency: 'EUR' } },
};

function notification(payload: unknown): Buffer {
  return Buffer.from(
    JSON.stringify({ notificationId: 'mle-1', retryNumber: 0, eventType: 'payments.payments.accept', eventDate: '2026-12-02T10:00:00Z', payload }),
  );
}

const withKey = { ...gateway, webhookPrivateKey: privateKey };

describe('Cybersource message-level encryption of webhook payloads (JWE: RSA-OAEP + AES-GCM)', () => {
  it.each([
    ['RSA-OAEP-256', 'A256GCM'],
    ['RSA-OAEP', 'A256GCM'],
    ['RSA-OAEP-256', 'A128GCM'],
  ] as const)('decrypts a compact JWE (%s, %s) with the configured private key', (alg, enc) => {
    expect(decryptCompactJwe(jwe('{"hello":"world"}', { alg, enc }), privateKey).toString()).toBe('{"hello":"world"}');
  });

  it('refuses a JWE for another key, a tampered ciphertext, compression and unknown algorithms, naming only the reason', () => {
    expect(() => decryptCompactJwe(jwe('{}', { key: other.publicKey }), privateKey)).toThrow(new JweError('key'));
    const parts = jwe('{"amount":"19.99"}').split('.');
    const flipped = Buffer.from(parts[3], 'base64url');
    flipped[0] ^= 1;
    expect(() => decryptCompactJwe([...parts.slice(0, 3), flipped.toString('base64url'), parts[4]].join('.'), privateKey)).toThrow(new JweError('integrity'));
    const zipped = Buffer.from(JSON.stringify({ alg: 'RSA-OAEP-256', enc: 'A256GCM', zip: 'DEF' })).toString('base64url');
    expect(() => decryptCompactJwe([zipped, ...parts.slice(1)].join('.'), privateKey)).toThrow(new JweError('unsupported_algorithm'));
    const dir = Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM' })).toString('base64url');
    expect(() => decryptCompactJwe([dir, ...parts.slice(1)].join('.'), privateKey)).toThrow(new JweError('unsupported_algorithm'));
    expect(isCompactJwe('a.b.c')).toBe(false);
    expect(isCompactJwe(PAYMENT_ID)).toBe(false);
  });

  it.each([
    ['each payload entry’s data', (d: unknown) => [{ data: jwe(JSON.stringify(d)), organizationId: 'testrest' }]],
    ['each payload entry', (d: unknown) => [jwe(JSON.stringify({ data: d, organizationId: 'testrest' }))]],
    ['the whole payload', (d: unknown) => jwe(JSON.stringify([{ data: d, organizationId: 'testrest' }]))],
  ])('reads a notification whose %s is encrypted as the clear one', (_where, encrypt) => {
    const [event] = t.parseWebhook(notification(encrypt(DATA)), withKey);
    expect(event).toMatchObject({
      operationId: 'op-mle-1',
      gatewayReference: PAYMENT_ID,
      account: 'testrest',
      outcome: { status: 'SUCCESS', amount: 1999, currency: 'EUR' },
    });
  });

  it('reads a body that is one JWE of the whole notification, bare or as a JSON string', () => {
    const sealed = jwe(notification([{ data: DATA, organizationId: 'testrest' }]).toString('utf8'));
    for (const whole of [Buffer.from(sealed), Buffer.from(JSON.stringify(sealed))]) {
      expect(t.parseWebhook(whole, withKey)).toEqual([expect.objectContaining({ operationId: 'op-mle-1', gatewayReference: PAYMENT_ID })]);
    }
  });

  it('refuses (so Cybersource sends it again) an encrypted notification it has no key for, or the wrong key, naming the setting', () => {
    const body = notification([{ data: jwe(JSON.stringify(DATA)) }]);
    expect(() => t.parseWebhook(body, gateway)).toThrow(GatewayError);
    expect(() => t.parseWebhook(body, gateway)).toThrow(`gateways.${gateway.name}.webhook_private_key is not set`);
    expect(() => t.parseWebhook(body, { ...gateway, webhookPrivateKey: other.privateKey })).toThrow(/could not be decrypted .*\(key\)/);
  });

  it('leaves a clear notification as it is, key or no key', () => {
    expect(t.parseWebhook(notification([{ data: DATA, organizationId: 'testrest' }]), withKey)).toHaveLength(1);
  });

  it('takes an RSA private key of 2048 bits or more, and says what is wrong with anything else, never quoting it', () => {
    expect(mlePrivateKeyProblem(privateKey)).toBeNull();
    expect(mlePrivateKeyProblem('not a key')).toBe('is not a PEM private key');
    const ec = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    expect(mlePrivateKeyProblem(ec.privateKey)).toBe('is not an RSA private key (PEM)');
    const small = generateKeyPairSync('rsa', {
      modulusLength: 1024,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    expect(mlePrivateKeyProblem(small.privateKey)).toBe('is an RSA key shorter than 2048 bits');
  });
});
