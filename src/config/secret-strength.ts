import { ConfigError } from '../errors/config-error';

/** Shortest accepted webhook or bus secret, characters (bytes once decoded, for base64 keys). */
export const MIN_SECRET_LENGTH = 16;

type Params = Record<string, unknown>;

/**
 * The problem with a gateway's webhook secret, in its PSP's documented key format, or null when it is
 * strong enough (an empty secret is "not configured": that gateway's webhooks are all refused). Never
 * quotes the value.
 * - adyen: the HMAC key is hex (Customer Area ▸ Webhooks ▸ HMAC key, 64 hex digits); at least 32 digits.
 * - stripe: the endpoint's signing secret `whsec_…`, at least 16 characters after the prefix.
 * - cybersource: the digital signature key is base64; at least 16 bytes decoded.
 * - simulator (any other): at least 16 characters.
 */
export function webhookSecretProblem(type: string, secret: string): string | null {
  if (secret === '') return null;
  switch (type) {
    case 'adyen':
      if (!/^[0-9a-fA-F]+$/.test(secret) || secret.length % 2 !== 0) return 'is not an Adyen HMAC key (hex digits, even length)';
      return secret.length < 2 * MIN_SECRET_LENGTH ? `is too weak: an Adyen HMAC key of at least ${2 * MIN_SECRET_LENGTH} hex digits is required` : null;
    case 'stripe':
      if (!secret.startsWith('whsec_')) return 'is not a Stripe webhook signing secret (whsec_…)';
      return secret.length - 'whsec_'.length < MIN_SECRET_LENGTH ? `is too weak: at least ${MIN_SECRET_LENGTH} characters after whsec_` : null;
    case 'cybersource':
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(secret) || secret.length % 4 !== 0) return 'is not a base64 Cybersource digital signature key';
      return Buffer.from(secret, 'base64').length < MIN_SECRET_LENGTH ? `is too weak: at least ${MIN_SECRET_LENGTH} bytes once decoded` : null;
    default:
      return secret.length < MIN_SECRET_LENGTH ? `is too weak: at least ${MIN_SECRET_LENGTH} characters` : null;
  }
}

/**
 * Refuses weak secrets that open webhooks (every gateway's `webhook_secret` and `webhook_secret_previous`,
 * Adyen's Basic-auth password `shared_secret`), so one weak secret cannot settle every operation. The bus
 * secret's minimum is in the schema. Throws a ConfigError naming every offending key, never its value.
 */
export function checkSecretStrength(params: Params): void {
  const problems: Array<[string, string]> = [];
  for (const [name, raw] of Object.entries((params.gateways ?? {}) as Record<string, Params>)) {
    const type = String(raw.type);
    for (const key of ['webhook_secret', 'webhook_secret_previous']) {
      const problem = webhookSecretProblem(type, String(raw[key] ?? ''));
      if (problem) problems.push([`gateways.${name}.${key}`, problem]);
    }
    const password = String(raw.shared_secret ?? '');
    if (type === 'adyen' && password !== '' && password.length < MIN_SECRET_LENGTH) {
      problems.push([`gateways.${name}.shared_secret`, `is too weak: the webhook Basic-auth password needs at least ${MIN_SECRET_LENGTH} characters`]);
    }
  }
  if (problems.length > 0) {
    const [key, problem] = problems[0];
    throw new ConfigError(key, problem, problems.map(([k, p]) => `${k}: ${p}`));
  }
}
