import type { Config } from './config';
import { MIN_SECRET_LENGTH } from './secret-strength';
import { consoleAccountKey, consoleAccountsInForce } from './console-accounts';
import { loginDecoy, looksLikeConsolePasswordHash, parseConsolePasswordHash } from './console-password-hash';

/**
 * The console's accounts, when the console is enabled (`console.accounts`, or the single account of
 * `console.username` / `console.password`): `console.accounts` and `console.password` not both given; user names
 * unique; each password at least {@link MIN_SECRET_LENGTH} characters and never one of the bridge's other secrets
 * (the bus signature secret, the OAuth client secret, a gateway key or webhook secret): a console login must not
 * be a way to learn, or need, a key that moves money. A password given as an scrypt hash must be well formed; its
 * length and the other secrets are checked when it is made (`payment-bridge console-password-hash`): checking
 * them here would cost an scrypt per secret at every load, of every command.
 * A cross-field rule (`cross-field-rules.ts`); never quotes a value.
 * @returns `[key, problem]` pairs naming the account's field (`console.accounts[1].username`, `console.password`);
 *   empty when they are fine.
 */
export function consoleCredentialProblems(config: Config): [string, string][] {
  if (!config.console.enabled) return [];
  const settings = config.console;
  if (settings.accounts.length > 0 && settings.password !== '')
    return [
      [
        'console.accounts',
        'and console.password are both given: name every login in console.accounts (the single account becomes one entry with role operator) and remove console.password',
      ],
    ];
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
  const problems: [string, string][] = [];
  const seen = new Map<string, number>();
  consoleAccountsInForce(settings).forEach(({ username, password }, i) => {
    const first = seen.get(username);
    if (first !== undefined)
      problems.push([consoleAccountKey(settings, i, 'username'), `repeats the user name of console.accounts[${first}]: each login is one person's`]);
    else seen.set(username, i);
    const key = consoleAccountKey(settings, i, 'password');
    if (looksLikeConsolePasswordHash(password)) {
      if (!parseConsolePasswordHash(password))
        problems.push([
          key,
          'is not a hash as payment-bridge console-password-hash makes it: scrypt$N$r$p$salt$hash (N a power of two from 16384 to 1048576, r 1 to 32, p 1 to 16, salt 16+ bytes and hash 32 bytes in base64url)',
        ]);
      return;
    }
    if (password.length < MIN_SECRET_LENGTH) {
      problems.push([key, `is required when console.enabled is true: at least ${MIN_SECRET_LENGTH} characters`]);
      return;
    }
    const same = others.find(([, secret]) => secret !== '' && secret === password);
    if (same) problems.push([key, `must be the console's own secret, not the value of ${same[0]}`]);
  });
  return problems;
}

/**
 * A warning per hashed account whose scrypt parameters differ from those most hashed accounts use: a login for
 * no account is checked against a decoy with the latter (`loginDecoy`), so a login naming that account takes
 * another time, which tells the account exists. Never quotes the hash.
 * @returns `[key, what]` pairs naming `console.accounts[<n>].password`; empty when every hash shares its parameters.
 */
export function consoleHashParameterWarnings(config: Config): [string, string][] {
  if (!config.console.enabled) return [];
  const settings = config.console;
  const hashes = consoleAccountsInForce(settings).map(({ password }) => parseConsolePasswordHash(password));
  const decoy = loginDecoy(hashes.flatMap((h) => (h ? [h] : [])));
  const params = (h: { N: number; r: number; p: number }) => `N ${h.N}, r ${h.r}, p ${h.p}`;
  return hashes.flatMap((h, i): [string, string][] =>
    h && params(h) !== params(decoy)
      ? [
          [
            consoleAccountKey(settings, i, 'password'),
            `is a hash with other scrypt parameters (${params(h)}) than the other accounts' (${params(decoy)}): its login takes another time than one for no account, which tells the account exists; make it again with payment-bridge console-password-hash`,
          ],
        ]
      : [],
  );
}
