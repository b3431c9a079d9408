import { createHash, createHmac } from 'node:crypto';

/**
 * Cybersource REST "HTTP Signature" authentication, as published in the Cybersource REST API developer
 * guide (Authentication ▸ HTTP Signature): the request carries `host`, `date` (RFC 1123), `digest`
 * (`SHA-256=` + base64 SHA-256 of the body; POST, PUT and PATCH only), `v-c-merchant-id`, and a
 * `signature` header naming those headers (plus the pseudo-header `request-target`) and carrying the
 * base64 HMAC-SHA256 of the signing string, keyed by the base64-decoded shared secret.
 * Pure: the clock is the `date` given.
 */

/** What one request's signature is computed from. */
export interface HttpSignatureInput {
  /** HTTP method, any case (`POST`, `GET`). */
  method: string;
  /** Request target exactly as sent: absolute path plus query (`/pts/v2/payments`). */
  target: string;
  /** `host` header value: host name, and `:port` when not the scheme's default. */
  host: string;
  /** RFC 1123 date (`Tue, 01 Jun 2021 07:19:57 GMT`), e.g. `now.toUTCString()`. */
  date: string;
  /** Cybersource merchant id (`v-c-merchant-id`). */
  merchantId: string;
  /** Id of the REST shared-secret key. */
  keyId: string;
  /** The REST shared secret as issued: base64 text. */
  sharedSecretBase64: string;
  /** Exact body bytes for methods with a body; ignored for GET and DELETE. */
  body?: string;
}

/** Whether Cybersource expects a `digest` header for this method. */
function hasDigest(method: string): boolean {
  const m = method.toUpperCase();
  return m === 'POST' || m === 'PUT' || m === 'PATCH';
}

/** `SHA-256=<base64 of the SHA-256 of the body>`. */
export function bodyDigest(body: string): string {
  return `SHA-256=${createHash('sha256').update(body, 'utf8').digest('base64')}`;
}

/** Names of the signed headers, in the order they appear in the signing string. */
export function signedHeaderNames(method: string): string[] {
  return hasDigest(method) ? ['host', 'date', 'request-target', 'digest', 'v-c-merchant-id'] : ['host', 'date', 'request-target', 'v-c-merchant-id'];
}

/** The signing string: one `name: value` line per signed header, joined by `\n`, no trailing newline. */
export function signingString(input: HttpSignatureInput): string {
  const values: Record<string, string> = {
    host: input.host,
    date: input.date,
    'request-target': `${input.method.toLowerCase()} ${input.target}`,
    digest: hasDigest(input.method) ? bodyDigest(input.body ?? '') : '',
    'v-c-merchant-id': input.merchantId,
  };
  return signedHeaderNames(input.method)
    .map((name) => `${name}: ${values[name]}`)
    .join('\n');
}

/**
 * The headers that authenticate one request: `host`, `date`, `digest` (methods with a body),
 * `v-c-merchant-id` and `signature`. Header names are lower-case.
 */
export function httpSignatureHeaders(input: HttpSignatureInput): Record<string, string> {
  const key = Buffer.from(input.sharedSecretBase64, 'base64');
  const signature = createHmac('sha256', key).update(signingString(input), 'utf8').digest('base64');
  const headers: Record<string, string> = { host: input.host, date: input.date };
  if (hasDigest(input.method)) headers.digest = bodyDigest(input.body ?? '');
  headers['v-c-merchant-id'] = input.merchantId;
  headers.signature = `keyid="${input.keyId}", algorithm="HmacSHA256", ` + `headers="${signedHeaderNames(input.method).join(' ')}", signature="${signature}"`;
  return headers;
}
