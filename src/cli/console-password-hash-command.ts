import type { Command } from 'commander';
import { MIN_SECRET_LENGTH } from '../config/secret-strength';
import { hashConsolePassword } from '../config/console-password-hash';

/** Reads all of `input` as text. */
async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The hash of a console password as `console.accounts[].password` takes it, from the password's first line on
 * `input` (never an argument: arguments show in `ps` and shell history). Refused (exit 65) under
 * {@link MIN_SECRET_LENGTH} characters, as a clear password is at load. Never prints the password.
 * @returns the exit code: 0 with the hash on `out`.
 */
export async function runConsolePasswordHash(input: NodeJS.ReadableStream, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const password = (await readAll(input)).split(/\r?\n/)[0];
  if (password.length < MIN_SECRET_LENGTH) {
    err.write(`payment-bridge: the console password on stdin must be at least ${MIN_SECRET_LENGTH} characters\n`);
    return 65;
  }
  if (password.startsWith('scrypt$')) {
    err.write('payment-bridge: the console password on stdin begins with scrypt$: it would be read as a hash\n');
    return 65;
  }
  out.write(`${await hashConsolePassword(password)}\n`);
  return 0;
}

/** `payment-bridge console-password-hash`: see {@link runConsolePasswordHash}. Needs no configuration. */
export function addConsolePasswordHashCommand(program: Command): void {
  program
    .command('console-password-hash')
    .description(
      'print the scrypt hash of the console password read from stdin (its first line), for console.accounts[].password; never check it in with the password',
    )
    .action(async () => {
      process.exitCode = await runConsolePasswordHash(process.stdin, process.stdout, process.stderr);
    });
}
