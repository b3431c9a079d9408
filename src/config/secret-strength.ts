import { ConfigError } from '../errors/config-error';
import { GatewayCredentialField, settingKey } from '../gateways/gateway-config';
import { isGatewayType, gatewayDefinition } from '../gateways/gateway-registry';

/** Shortest accepted webhook or bus secret, characters (bytes once decoded, for base64 keys); gateways check theirs with it. */
export { MIN_SECRET_LENGTH } from '../gateways/secret-format';

type Params = Record<string, unknown>;

/**
 * Refuses weak secrets that open webhooks: every non-empty value of a gateway setting with a `check` (every
 * gateway's `webhook_secret` and `webhook_secret_previous`, Adyen's Basic-auth password `shared_secret`), so
 * one weak secret cannot settle every operation; the same checks refuse a value not in its PSP's format
 * (Stripe's `merchant_account`, sent as a header). The bus secret's minimum is in the schema.
 * Throws a ConfigError naming every offending key, never its value.
 */
export function checkSecretStrength(params: Params): void {
  const problems: Array<[string, string]> = [];
  for (const [name, raw] of Object.entries((params.gateways ?? {}) as Record<string, Params>)) {
    const type = String(raw.type);
    if (!isGatewayType(type)) continue;
    const settings = gatewayDefinition(type).settings;
    for (const field of Object.keys(settings) as GatewayCredentialField[]) {
      const check = settings[field]?.check;
      const key = settingKey(field);
      const value = String(raw[key] ?? '');
      const problem = check && value !== '' ? check(value) : null;
      if (problem) problems.push([`gateways.${name}.${key}`, problem]);
    }
  }
  if (problems.length > 0) {
    const [key, problem] = problems[0];
    throw new ConfigError(
      key,
      problem,
      problems.map(([k, p]) => `${k}: ${p}`),
    );
  }
}
