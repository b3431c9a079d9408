import { ConfigError } from '../../../src/errors/config-error';
import { consoleAccountsInForce } from '../../../src/config/console-accounts';
import { configWarnings } from '../../../src/config/cross-field-rules';
import { testConfig } from '../../support/test-config';
import { thrownBy } from '../../support/thrown';

/** Named console accounts (`console.accounts`): validated as `console.password` is, each naming its entry. */

const HASH = `scrypt$32768$8$1$${'A'.repeat(22)}$${'B'.repeat(43)}`;
const enabled = (accounts: unknown[], more: Record<string, unknown> = {}) => ({ 'console.enabled': true, 'console.accounts': accounts, ...more });
const refusal = (overrides: Record<string, unknown>): ConfigError => thrownBy(() => testConfig(overrides), ConfigError);

describe('console accounts in the configuration', () => {
  it('takes operator and viewer accounts, clear or hashed, and puts them in force instead of console.username', () => {
    const config = testConfig(
      enabled([
        { username: 'alice', password: 'alice-console-password-01', role: 'operator' },
        { username: 'bob@example.com', password: HASH, role: 'viewer' },
      ]),
    );
    expect(consoleAccountsInForce(config.console)).toEqual([
      { username: 'alice', password: 'alice-console-password-01', role: 'operator' },
      { username: 'bob@example.com', password: HASH, role: 'viewer' },
    ]);
  });

  it('keeps the single console.username / console.password as one operator account', () => {
    const config = testConfig({ 'console.enabled': true, 'console.username': 'oncall', 'console.password': 'console-password-0123' });
    expect(config.console.accounts).toEqual([]);
    expect(consoleAccountsInForce(config.console)).toEqual([{ username: 'oncall', password: 'console-password-0123', role: 'operator' }]);
  });

  it('refuses a repeated user name, naming the later entry', () => {
    const err = refusal(
      enabled([
        { username: 'alice', password: 'alice-console-password-01', role: 'operator' },
        { username: 'carol', password: 'carol-console-password-01', role: 'viewer' },
        { username: 'alice', password: 'other-console-password-01', role: 'viewer' },
      ]),
    );
    expect(err.key).toBe('console.accounts[2].username');
    expect(err.message).toContain('console.accounts[0]');
  });

  it("refuses an account's short clear password, naming the entry and never quoting it", () => {
    const err = refusal(
      enabled([
        { username: 'alice', password: 'alice-console-password-01', role: 'operator' },
        { username: 'bob', password: 'short-one', role: 'viewer' },
      ]),
    );
    expect(err.key).toBe('console.accounts[1].password');
    expect(err.message).not.toContain('short-one');
  });

  it("refuses another secret's value as an account's password, naming that secret and not quoting it", () => {
    const err = refusal(enabled([{ username: 'alice', password: 'test-bus-secret-0123456789', role: 'operator' }]));
    expect(err.key).toBe('console.accounts[0].password');
    expect(err.message).toContain('service_bus.secret');
    expect(err.message).not.toContain('test-bus-secret-0123456789');
  });

  it('refuses a malformed hash (parameters out of bounds, short hash), naming the entry', () => {
    for (const bad of [`scrypt$1024$8$1$${'A'.repeat(22)}$${'B'.repeat(43)}`, `scrypt$32768$8$1$${'A'.repeat(22)}$short`, 'scrypt$']) {
      expect(refusal(enabled([{ username: 'alice', password: bad, role: 'operator' }])).key).toBe('console.accounts[0].password');
    }
  });

  it('refuses console.accounts together with console.password', () => {
    const err = refusal(
      enabled([{ username: 'alice', password: 'alice-console-password-01', role: 'operator' }], { 'console.password': 'console-password-0123' }),
    );
    expect(err.key).toBe('console.accounts');
    expect(err.message).toContain('console.password');
  });

  it('refuses an unknown role, a bad user name, a missing or unknown field of an entry, naming the entry as the other checks do', () => {
    const alice = { username: 'alice', password: 'alice-console-password-01', role: 'operator' };
    const carol = { username: 'carol', password: 'carol-console-password-01', role: 'viewer' };
    expect(refusal(enabled([carol, { ...alice, role: 'admin' }])).key).toBe('console.accounts[1].role');
    expect(refusal(enabled([carol, { ...alice, username: 'al ice' }])).key).toBe('console.accounts[1].username');
    expect(refusal(enabled([carol, { username: 'alice', password: 'alice-console-password-01' }])).key).toBe('console.accounts[1].role');
    const typo = refusal(enabled([carol, { ...alice, passwd: 'alice-console-password-01' }]));
    expect(typo.key).toBe('console.accounts[1].passwd');
    expect(typo.message).not.toContain('alice-console-password-01');
  });

  it('warns of hashed accounts whose scrypt parameters differ from the others: the time of their login tells they exist', () => {
    const at = (N: number) => `scrypt$${N}$8$1$${'A'.repeat(22)}$${'B'.repeat(43)}`;
    const accounts = (...ns: number[]) => ns.map((N, i) => ({ username: `user${i}`, password: at(N), role: 'operator' }));
    const consoleWarnings = (config: ReturnType<typeof testConfig>) => configWarnings(config).filter(([key]) => key.startsWith('console.accounts'));
    expect(consoleWarnings(testConfig(enabled(accounts(32768, 32768))))).toEqual([]);
    const warned = consoleWarnings(testConfig(enabled(accounts(32768, 16384, 32768))));
    expect(warned.map(([key]) => key)).toEqual(['console.accounts[1].password']);
    expect(warned[0][1]).toContain('console-password-hash');
    expect(warned[0][1]).not.toContain('AAAA');
  });

  it('checks nothing of the accounts while the console is off', () => {
    expect(testConfig({ 'console.accounts': [{ username: 'alice', password: 'short', role: 'operator' }] }).console.enabled).toBe(false);
  });
});
