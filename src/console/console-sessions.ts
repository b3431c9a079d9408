import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { RedisClient } from '../redis/redis-connection';

/** A console login: who, since when, and the token its forms must carry (CSRF). */
export interface ConsoleSession {
  user: string;
  csrf: string;
  createdAt: number;
}

/** Equal strings, in time independent of where they differ (both are hashed first: equal lengths). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Console sessions in Redis, so every web process knows every login and a logout ends it everywhere:
 * `P console:session:<sha256 of the session id>` → the session (JSON), expiring with the session. The id
 * itself lives only in the browser's cookie (HttpOnly, SameSite=Strict); Redis holds its hash, so reading
 * Redis does not give a usable session.
 */
export class ConsoleSessions {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** Session lifetime, ms. */
    private readonly ttlMs: number,
  ) {}

  private key(sessionId: string): string {
    return `${this.prefix}console:session:${createHash('sha256').update(sessionId).digest('hex')}`;
  }

  /** Starts a session for `user`; returns its id (for the cookie) and the session. */
  async create(user: string, now = Date.now()): Promise<{ id: string; session: ConsoleSession }> {
    const id = randomBytes(32).toString('base64url');
    const session: ConsoleSession = { user, csrf: randomBytes(32).toString('base64url'), createdAt: now };
    await this.redis.set(this.key(id), JSON.stringify(session), 'PX', this.ttlMs);
    return { id, session };
  }

  /** The live session of `id`, or null. */
  async get(id: string | undefined): Promise<ConsoleSession | null> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const raw = await this.redis.get(this.key(id));
    return raw ? (JSON.parse(raw) as ConsoleSession) : null;
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id && /^[A-Za-z0-9_-]{43}$/.test(id)) await this.redis.del(this.key(id));
  }
}
