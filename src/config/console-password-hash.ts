import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Console passwords stored as scrypt hashes (`console.accounts[].password`): `scrypt$N$r$p$salt$hash`, salt and
 * hash base64url. A leaked parameters file then gives no console login without a guess per password at scrypt's
 * cost, where a clear password is a login at once.
 */

/** The parameters {@link hashConsolePassword} uses: N 2^15, r 8, p 1 (32 MiB and about 0.1 s a check). */
export const CONSOLE_SCRYPT_DEFAULTS = { N: 2 ** 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
const SHAPE = /^scrypt\$(\d{1,8})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{22,})\$([A-Za-z0-9_-]{43})$/;

/** A stored hash's parts. */
export interface ConsolePasswordHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** Whether `stored` is meant as a hash (begins `scrypt$`), well formed or not: a clear password never starts so. */
export function looksLikeConsolePasswordHash(stored: string): boolean {
  return stored.startsWith('scrypt$');
}

/**
 * The parts of `stored`, or null when it is not a hash this module makes or takes: N a power of two from 2^14 to
 * 2^20, r 1 to 32, p 1 to 16 (bounds on the memory and time a login may cost), a salt of 16+ bytes, a 32-byte hash.
 */
export function parseConsolePasswordHash(stored: string): ConsolePasswordHash | null {
  const m = SHAPE.exec(stored);
  if (!m) return null;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const powerOfTwo = N >= 2 ** 14 && N <= 2 ** 20 && (N & (N - 1)) === 0;
  if (!powerOfTwo || r < 1 || r > 32 || p < 1 || p > 16) return null;
  const salt = Buffer.from(m[4], 'base64url');
  const hash = Buffer.from(m[5], 'base64url');
  if (salt.length < SALT_BYTES || hash.length !== HASH_BYTES) return null;
  return { N, r, p, salt, hash };
}

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  // maxmem: scrypt needs 128·N·r bytes (and some), over Node's 32 MiB default at N 2^15, r 8.
  const maxmem = 256 * params.N * params.r + 1024 * 1024;
  return new Promise((resolve, reject) => scrypt(password, salt, HASH_BYTES, { ...params, maxmem }, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A new hash of `password` with a random salt and {@link CONSOLE_SCRYPT_DEFAULTS}, as `console.accounts` takes it. */
export async function hashConsolePassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, CONSOLE_SCRYPT_DEFAULTS);
  const { N, r, p } = CONSOLE_SCRYPT_DEFAULTS;
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** A hash of no password with `params`: what a login for no account is checked against, so it costs what a real one does. */
export function decoyConsolePasswordHash(params: { N: number; r: number; p: number } = CONSOLE_SCRYPT_DEFAULTS): ConsolePasswordHash {
  return { N: params.N, r: params.r, p: params.p, salt: randomBytes(SALT_BYTES), hash: randomBytes(HASH_BYTES) };
}

/**
 * The decoy a console with the accounts' `hashes` checks a login for no account (or a clear-password one)
 * against: with the parameters most of them use (all of them, as `payment-bridge console-password-hash` makes
 * them, whatever its defaults were then), so naming no account costs what naming one does; the defaults when
 * there is no hash.
 */
export function loginDecoy(hashes: readonly ConsolePasswordHash[]): ConsolePasswordHash {
  const counts = new Map<string, { params: { N: number; r: number; p: number }; n: number }>();
  for (const { N, r, p } of hashes) {
    const seen = counts.get(`${N}$${r}$${p}`) ?? { params: { N, r, p }, n: 0 };
    seen.n += 1;
    counts.set(`${N}$${r}$${p}`, seen);
  }
  let most: { params: { N: number; r: number; p: number }; n: number } | undefined;
  for (const c of counts.values()) if (!most || c.n > most.n) most = c;
  return decoyConsolePasswordHash(most?.params);
}

const DECOY = decoyConsolePasswordHash();

/**
 * Whether `candidate` matches the parsed hash `stored` (constant-time comparison); null: checked against a decoy
 * with the default parameters, always false, in the time a real check takes (no user enumeration by timing).
 * A decoy of {@link loginDecoy} passed as `stored` is false too: its hash is random bytes, of no password.
 */
export async function verifyConsolePasswordHash(stored: ConsolePasswordHash | null, candidate: string): Promise<boolean> {
  const target = stored ?? DECOY;
  const derived = await derive(candidate, target.salt, target);
  return timingSafeEqual(derived, target.hash) && stored !== null;
}
