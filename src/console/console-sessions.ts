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

/** The user name and password a session is opened with (`console.username`, `console.password`). */
export interface ConsoleCredentials {
  readonly username: string;
  readonly password: string;
}

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
 * Redis does not give a usable session. A session holds only while the console's credentials are the ones
 * it was opened with: rotating the password ends every session (they survive a restart otherwise). It ends
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
   * The live session of `id`, or null. A session opened with other credentials than `credentials` (the
   * password was rotated since) is null too, and is deleted: `stale` says so. So is one older than the
   * lifetime in force: its key expires with the lifetime it was opened under, which a shorter
   * `console.session_ttl_ms` (and a restart) must cut short too. So is one unused for the idle timeout in
   * force: `idle` says so. Reading a session does not count as using it: see {@link touch}.
   */
  async get(
    id: string | undefined,
    credentials: ConsoleCredentials,
    now = Date.now(),
  ): Promise<{ session: ConsoleSession | null; stale?: Partial<ConsoleSession>; idle?: IdleSession }> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return { session: null };
    const raw = await this.redis.get(this.key(id));
    if (!raw) return { session: null };
    const session = JSON.parse(raw) as Partial<ConsoleSession>;
    if (typeof session.createdAt !== 'number' || now - session.createdAt >= this.ttlMs) {
      await this.redis.del(this.key(id));
      return { session: null };
    }
    if (typeof session.seal !== 'string' || !constantTimeEqual(session.seal, credentialSeal(id, credentials))) {
      await this.redis.del(this.key(id));
      return { session: null, stale: session };
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
