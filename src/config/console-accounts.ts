import type { ConsoleAccount, ConsoleConfig } from './config';

/**
 * The console's accounts in force: `console.accounts` when given, else the one `operator` account of
 * `console.username` / `console.password` (the configuration of before named accounts, which keeps working).
 */
export function consoleAccountsInForce(settings: Pick<ConsoleConfig, 'username' | 'password' | 'accounts'>): readonly ConsoleAccount[] {
  if (settings.accounts.length > 0) return settings.accounts;
  return [{ username: settings.username, password: settings.password, role: 'operator' }];
}

/**
 * The configuration key a problem of the account at `index` names: `console.accounts[<index>].<field>`, or for
 * the single account `console.<field>`.
 */
export function consoleAccountKey(settings: Pick<ConsoleConfig, 'accounts'>, index: number, field: 'username' | 'password'): string {
  return settings.accounts.length > 0 ? `console.accounts[${index}].${field}` : `console.${field}`;
}
