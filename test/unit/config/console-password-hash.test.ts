import { PassThrough } from 'node:stream';
import {
  CONSOLE_SCRYPT_DEFAULTS,
  hashConsolePassword,
  loginDecoy,
  parseConsolePasswordHash,
  verifyConsolePasswordHash,
} from '../../../src/config/console-password-hash';
import { runConsolePasswordHash } from '../../../src/cli/console-password-hash-command';

/** Console password hashes: scrypt$N$r$p$salt$hash, made by `payment-bridge console-password-hash`. */

async function run(stdin: string): Promise<{ code: number; out: string; err: string }> {
  const input = new PassThrough();
  const out = new PassThrough();
  const err = new PassThrough();
  const texts = { out: '', err: '' };
  out.on('data', (c: Buffer) => (texts.out += c.toString()));
  err.on('data', (c: Buffer) => (texts.err += c.toString()));
  input.end(stdin);
  const code = await runConsolePasswordHash(input, out, err);
  return { code, ...texts };
}

describe('console password hashes', () => {
  it('hashes with a fresh salt and the default parameters, and verifies the password and nothing else', async () => {
    const stored = await hashConsolePassword('alice-console-password-01');
    expect(stored).toMatch(new RegExp(`^scrypt\\$${CONSOLE_SCRYPT_DEFAULTS.N}\\$8\\$1\\$[A-Za-z0-9_-]{22}\\$[A-Za-z0-9_-]{43}$`));
    expect(await hashConsolePassword('alice-console-password-01')).not.toBe(stored);
    const parsed = parseConsolePasswordHash(stored);
    expect(parsed).not.toBeNull();
    expect(await verifyConsolePasswordHash(parsed, 'alice-console-password-01')).toBe(true);
    expect(await verifyConsolePasswordHash(parsed, 'alice-console-password-02')).toBe(false);
    expect(await verifyConsolePasswordHash(parsed, '')).toBe(false);
  });

  it('checks a login for no account against a decoy, false whatever the password', async () => {
    expect(await verifyConsolePasswordHash(null, 'alice-console-password-01')).toBe(false);
    expect(await verifyConsolePasswordHash(null, '')).toBe(false);
  });

  it("makes the login decoy with the parameters most of the accounts' hashes use, the defaults without any, and never verifies it", async () => {
    const at = (N: number, r = 8) => parseConsolePasswordHash(`scrypt$${N}$${r}$1$${'A'.repeat(22)}$${'B'.repeat(43)}`)!;
    expect(loginDecoy([])).toMatchObject(CONSOLE_SCRYPT_DEFAULTS);
    expect(loginDecoy([at(16384)])).toMatchObject({ N: 16384, r: 8, p: 1 });
    expect(loginDecoy([at(65536, 4), at(16384), at(65536, 4)])).toMatchObject({ N: 65536, r: 4, p: 1 });
    const decoy = loginDecoy([at(16384)]);
    expect(decoy.hash).toHaveLength(32);
    expect(await verifyConsolePasswordHash(decoy, '')).toBe(false);
  });

  it('parses only hashes within bounds: N a power of two from 2^14 to 2^20, r 1..32, p 1..16, 16+ salt bytes, 32 hash bytes', () => {
    const salt = 'A'.repeat(22);
    const hash = 'B'.repeat(43);
    expect(parseConsolePasswordHash(`scrypt$16384$8$1$${salt}$${hash}`)).toMatchObject({ N: 16384, r: 8, p: 1 });
    for (const bad of [
      `scrypt$8192$8$1$${salt}$${hash}`,
      `scrypt$30000$8$1$${salt}$${hash}`,
      `scrypt$2097152$8$1$${salt}$${hash}`,
      `scrypt$16384$0$1$${salt}$${hash}`,
      `scrypt$16384$33$1$${salt}$${hash}`,
      `scrypt$16384$8$17$${salt}$${hash}`,
      `scrypt$16384$8$1$${'A'.repeat(10)}$${hash}`,
      `scrypt$16384$8$1$${salt}$${'B'.repeat(42)}`,
      'alice-console-password-01',
    ])
      expect(parseConsolePasswordHash(bad)).toBeNull();
  });

  it('the command prints the hash of the first line on stdin, never the password', async () => {
    const { code, out } = await run('alice-console-password-01\n');
    expect(code).toBe(0);
    expect(out).not.toContain('alice-console-password-01');
    expect(await verifyConsolePasswordHash(parseConsolePasswordHash(out.trim()), 'alice-console-password-01')).toBe(true);
  });

  it('the command refuses a password under 16 characters (exit 65), without quoting it', async () => {
    const { code, out, err } = await run('short-one\n');
    expect(code).toBe(65);
    expect(out).toBe('');
    expect(err).toContain('16');
    expect(err).not.toContain('short-one');
  });
});
