import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { RedisClient } from '../redis/redis-connection';

/** A console login: who, since when, and the token its forms must carry (CSRF). */
export interface ConsoleSession {
  user: string;
  csrf: string;
  createdAt: number;
  /**
   * When its operator last used it, epoch ms: a page or a form, not the dashboard's own refresh of its
   * figures (see {@link ConsoleSessions.touch}). A session stored before it was kept counts from `createdAt`.
   */
  lastUsedAt: number;
  /** The credentials it was opened with, bound to its id (see {@link credentialSeal}). */
  seal: string;
}

/**
 * The account a session is opened with (one of `console.accounts`, or `console.username` / `console.password`):
 * its password as configured, clear or hashed.
 */
export interface ConsoleCredentials {
  readonly username: string;
  readonly password: string;
}

/** The account in force of a user name, or undefined when there is none (any more). */
export type ConsoleAccountLookup = (username: string) => ConsoleCredentials | undefined;

/**
 * HMAC of the session id keyed by the credentials: a session opened with other credentials (before the
 * password was rotated) does not match the ones in force. Keyed by the id, which Redis never holds, so
 * what Redis holds is no way to check password guesses offline.
 */
function credentialSeal(id: string, credentials: ConsoleCredentials): string {
  return createHmac('sha256', credentials.password).update(`${credentials.username}\0${id}`, 'utf8').digest('base64url');
}

/** Equal strings, in time independent of where they differ (both are hashed first: equal lengths). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

/** A session that ended for idleness: whose, and when it was last used (epoch ms), for the log line. */
export interface IdleSession {
  user: string;
  lastUsedAt: number;
}

/**
 * Console sessions in Redis, so every web process knows every login and a logout ends it everywhere:
 * `P console:session:<sha256 of the session id>` → the session (JSON), expiring with the session. The id
 * itself lives only in the browser's cookie (HttpOnly, SameSite=Strict); Redis holds its hash, so reading
 * Redis does not give a usable session. A session holds only while its account's credentials are the ones
 * it was opened with: rotating an account's password, or removing the account, ends its sessions (they survive
 * a restart otherwise); its role is not sealed in, the route reads it at every request. It ends
 * at its absolute lifetime (`console.session_ttl_ms` from the login) or once unused for the idle timeout
 * (`console.session_idle_ms`), whichever comes first (OWASP Session Management Cheat Sheet: both enforced
 * by the server).
 */
export class ConsoleSessions {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** Session lifetime from the login, ms. */
    private readonly ttlMs: number,
    /** Idle timeout, ms: a session unused this long ends. */
    private readonly idleMs: number,
  ) {}

  private key(sessionId: string): string {
    return `${this.prefix}console:session:${createHash('sha256').update(sessionId).digest('hex')}`;
  }

  /** Starts a session for the user of `credentials` (just checked); returns its id (for the cookie) and the session. */
  async create(credentials: ConsoleCredentials, now = Date.now()): Promise<{ id: string; session: ConsoleSession }> {
    const id = randomBytes(32).toString('base64url');
    const session: ConsoleSession = {
      user: credentials.username,
      csrf: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastUsedAt: now,
      seal: credentialSeal(id, credentials),
    };
    await this.redis.set(this.key(id), JSON.stringify(session), 'PX', this.ttlMs);
    return { id, session };
  }

  /**
   * The live session of `id`, or null. A session whose account `accountOf` no longer knows (removed), or
   * opened with other credentials than its account's (the password was rotated since), is null too, and is
   * deleted: `stale` says so, `removed` which. So is one older than the
   * lifetime in force: its key expires with the lifetime it was opened under, which a shorter
   * `console.session_ttl_ms` (and a restart) must cut short too. So is one unused for the idle timeout in
   * force: `idle` says so. Reading a session does not count as using it: see {@link touch}.
   */
  async get(
    id: string | undefined,
    accountOf: ConsoleAccountLookup,
    now = Date.now(),
  ): Promise<{ session: ConsoleSession | null; stale?: Partial<ConsoleSession>; removed?: boolean; idle?: IdleSession }> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return { session: null };
    const raw = await this.redis.get(this.key(id));
    if (!raw) return { session: null };
    const session = JSON.parse(raw) as Partial<ConsoleSession>;
    if (typeof session.createdAt !== 'number' || now - session.createdAt >= this.ttlMs) {
      await this.redis.del(this.key(id));
      return { session: null };
    }
    const credentials = typeof session.user === 'string' ? accountOf(session.user) : undefined;
    if (!credentials) {
      await this.redis.del(this.key(id));
      return { session: null, stale: session, removed: true };
    }
    if (typeof session.seal !== 'string' || !constantTimeEqual(session.seal, credentialSeal(id, credentials))) {
      await this.redis.del(this.key(id));
      return { session: null, stale: session, removed: false };
    }
    const lastUsedAt = typeof session.lastUsedAt === 'number' ? session.lastUsedAt : session.createdAt;
    if (now - lastUsedAt >= this.idleMs) {
      await this.redis.del(this.key(id));
      return { session: null, idle: { user: String(session.user ?? '?'), lastUsedAt } };
    }
    return { session: { ...(session as ConsoleSession), lastUsedAt } };
  }

  /**
   * Notes that the operator used `session` now, which restarts its idle timeout (its absolute lifetime
   * stays). Called for what an operator does (a page, a form), not for the dashboard's own refresh every few
   * seconds, which would keep a dashboard left open on an unattended screen logged in for the whole lifetime.
   */
  async touch(id: string, session: ConsoleSession, now = Date.now()): Promise<void> {
    // XX: a session ended meanwhile (a logout in another tab) is not written back; KEEPTTL: its key still
    // expires with its lifetime.
    await this.redis.set(this.key(id), JSON.stringify({ ...session, lastUsedAt: now }), 'KEEPTTL', 'XX');
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id && /^[A-Za-z0-9_-]{43}$/.test(id)) await this.redis.del(this.key(id));
  }
}
