import type { Config } from './config';
import { MIN_SECRET_LENGTH } from './secret-strength';

/**
 * The console's password, when the console is enabled: at least {@link MIN_SECRET_LENGTH} characters, and
 * never one of the bridge's other secrets (the bus signature secret, the OAuth client secret, a gateway
 * key or webhook secret): a console login must not be a way to learn, or need, a key that moves money.
 * A cross-field rule (`cross-field-rules.ts`); never quotes the value.
 * @returns `[key, problem]` pairs naming `console.password`; empty when it is fine.
 */
export function consoleCredentialProblems(config: Config): [string, string][] {
  if (!config.console.enabled) return [];
  const { password } = config.console;
  if (password.length < MIN_SECRET_LENGTH) {
    return [['console.password', `is required when console.enabled is true: at least ${MIN_SECRET_LENGTH} characters`]];
  }
  const others: [string, string][] = [
    ['service_bus.secret', config.serviceBus.secret],
    ['mom_client.client_secret', config.momClient.clientSecret],
  ];
  for (const gw of Object.values(config.gateways)) {
    others.push(
      [`gateways.${gw.name}.api_key`, gw.apiKey],
      [`gateways.${gw.name}.webhook_secret`, gw.webhookSecret],
      [`gateways.${gw.name}.shared_secret`, gw.sharedSecret],
    );
  }
  const same = others.find(([, secret]) => secret !== '' && secret === password);
  return same ? [['console.password', `must be the console's own secret, not the value of ${same[0]}`]] : [];
}
