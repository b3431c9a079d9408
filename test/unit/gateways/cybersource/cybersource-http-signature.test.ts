import { createHash, createHmac } from 'node:crypto';
import { GatewayConfig } from '../../../../src/config/config';
import { bodyDigest, httpSignatureHeaders, signingString } from '../../../../src/gateways/cybersource/cybersource-http-signature';
import { cybersourceTransformer } from '../../../../src/gateways/cybersource';

/**
 * A vector worked out by hand from the published algorithm (Cybersource REST developer guide,
 * Authentication ▸ HTTP Signature): the signing string is written out literally, the HMAC is computed here
 * with node:crypto in the plainest way, and the final header is pinned.
 */
const SECRET = 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=';
const KEY_ID = '08c94330-f618-42a3-b09d-e1e43be5efda';
const DATE = 'Thu, 18 Jul 2019 22:45:16 GMT';
const BODY = '{"clientReferenceInformation":{"code":"TC50171_3"},"orderInformation":{"amountDetails":{"totalAmount":"102.21","currency":"USD"}}}';
const CAPTURE_PATH = '/pts/v2/payments/6381278241084565908266/captures';

const EXPECTED_DIGEST = 'SHA-256=rF9mfJHA9pS+FDJOW9yznnHnEgzwY9seZwrgVmnhcZ8=';
const EXPECTED_POST_SIGNING_STRING =
  'host: apitest.cybersource.com\n' +
  'date: Thu, 18 Jul 2019 22:45:16 GMT\n' +
  'request-target: post /pts/v2/payments/6381278241084565908266/captures\n' +
  'digest: SHA-256=rF9mfJHA9pS+FDJOW9yznnHnEgzwY9seZwrgVmnhcZ8=\n' +
  'v-c-merchant-id: testrest';
const EXPECTED_GET_SIGNING_STRING =
  'host: apitest.cybersource.com\n' +
  'date: Thu, 18 Jul 2019 22:45:16 GMT\n' +
  'request-target: get /tss/v2/transactions/6381278241084565908266\n' +
  'v-c-merchant-id: testrest';

const input = {
  method: 'POST',
  target: CAPTURE_PATH,
  host: 'apitest.cybersource.com',
  date: DATE,
  merchantId: 'testrest',
  keyId: KEY_ID,
  sharedSecretBase64: SECRET,
  body: BODY,
};

describe('Cybersource HTTP Signature', () => {
  it('digests the body as SHA-256= and the base64 SHA-256 of its bytes', () => {
    expect(createHash('sha256').update(BODY).digest('base64')).toBe('rF9mfJHA9pS+FDJOW9yznnHnEgzwY9seZwrgVmnhcZ8=');
    expect(bodyDigest(BODY)).toBe(EXPECTED_DIGEST);
  });

  it('builds the POST signing string with host, date, request-target, digest and merchant id, one per line', () => {
    expect(signingString(input)).toBe(EXPECTED_POST_SIGNING_STRING);
  });

  it('leaves the digest out of the signing string of a GET', () => {
    expect(signingString({ ...input, method: 'GET', target: '/tss/v2/transactions/6381278241084565908266', body: undefined })).toBe(
      EXPECTED_GET_SIGNING_STRING,
    );
  });

  it('signs with HMAC-SHA256 keyed by the base64-decoded shared secret and pins the header', () => {
    const expectedSig = createHmac('sha256', Buffer.from(SECRET, 'base64')).update(EXPECTED_POST_SIGNING_STRING, 'utf8').digest('base64');
    expect(expectedSig).toBe('A6h8O3U/fYbMNcdKGNBI0k1r7OrOxDNeIcFG8AqWqt0=');
    const headers = httpSignatureHeaders(input);
    expect(headers).toEqual({
      host: 'apitest.cybersource.com',
      date: DATE,
      digest: EXPECTED_DIGEST,
      'v-c-merchant-id': 'testrest',
      signature:
        'keyid="08c94330-f618-42a3-b09d-e1e43be5efda", algorithm="HmacSHA256", headers="host date request-target digest v-c-merchant-id", signature="A6h8O3U/fYbMNcdKGNBI0k1r7OrOxDNeIcFG8AqWqt0="',
    });
  });

  it('signs a GET without a digest header', () => {
    const headers = httpSignatureHeaders({ ...input, method: 'GET', target: '/tss/v2/transactions/6381278241084565908266', body: undefined });
    expect(headers.digest).toBeUndefined();
    expect(headers.signature).toBe(
      'keyid="08c94330-f618-42a3-b09d-e1e43be5efda", algorithm="HmacSHA256", headers="host date request-target v-c-merchant-id", signature="xguN2KouqHEw5y7777FkuHkgcdtto0sm096mT0TH4TY="',
    );
  });

  it('authenticates a transformer request with the date from now and the host of the base URL', () => {
    const gateway = { baseUrl: 'https://apitest.cybersource.com', merchantId: 'testrest', keyId: KEY_ID, sharedSecret: SECRET } as GatewayConfig;
    const request = { method: 'POST' as const, path: CAPTURE_PATH, headers: { 'content-type': 'application/json' }, body: BODY };
    const signed = cybersourceTransformer.authenticate(request, gateway, new Date('2019-07-18T22:45:16Z'));
    expect(signed.headers['content-type']).toBe('application/json');
    expect(signed.headers.signature).toContain('signature="A6h8O3U/fYbMNcdKGNBI0k1r7OrOxDNeIcFG8AqWqt0="');
    expect(signed.body).toBe(BODY);
  });

  it('signs the port and the base path of a base URL as part of host and request-target', () => {
    const gateway = { baseUrl: 'http://127.0.0.1:4010/cybs/', merchantId: 'testrest', keyId: KEY_ID, sharedSecret: SECRET } as GatewayConfig;
    const signed = cybersourceTransformer.authenticate(
      { method: 'GET', path: '/tss/v2/transactions/1', headers: {} },
      gateway,
      new Date('2019-07-18T22:45:16Z'),
    );
    const expected = createHmac('sha256', Buffer.from(SECRET, 'base64'))
      .update(`host: 127.0.0.1:4010\ndate: ${DATE}\nrequest-target: get /cybs/tss/v2/transactions/1\nv-c-merchant-id: testrest`)
      .digest('base64');
    expect(signed.headers.host).toBe('127.0.0.1:4010');
    expect(signed.headers.signature).toContain(`signature="${expected}"`);
  });
});
