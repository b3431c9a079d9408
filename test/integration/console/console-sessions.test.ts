/**
 * A console session lasts `console.session_ttl_ms` from its login as the lifetime in force says, not as the
 * one it was opened under: its Redis key expires with the lifetime of its login, so shortening the lifetime
 * (and restarting web) left every open session working for the old one (OWASP Session Management Cheat
 * Sheet: the absolute timeout is enforced by the server). It also ends once unused for
 * `console.session_idle_ms` (the idle timeout, enforced by the server as well); each use restarts that.
 */
import { createHash } from 'node:crypto';
import { ConsoleSessions } from '../../../src/console/console-sessions';
import { RedisClient } from '../../../src/redis/redis-connection';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

const HOUR = 3_600_000;
const CREDENTIALS = { username: 'operator', password: 'console-test-password-0123' };

describe('console sessions: the lifetime in force', () => {
  const config = testConfig();
  let redis: RedisClient;

  beforeAll(() => {
    redis = testRedis(config);
  });

  afterAll(() => redis.disconnect());

  it('ends a session opened under 8 h once it is older than a lifetime shortened to 1 h, and deletes it', async () => {
    const opened = Date.now();
    const { id } = await new ConsoleSessions(redis, config.redis.keyPrefix, 8 * HOUR, 8 * HOUR).create(CREDENTIALS, opened);
    const shortened = new ConsoleSessions(redis, config.redis.keyPrefix, HOUR, HOUR);
    expect((await shortened.get(id, () => CREDENTIALS, opened + HOUR - 1)).session).not.toBeNull();
    expect((await shortened.get(id, () => CREDENTIALS, opened + HOUR)).session).toBeNull();
    // Gone for good: the longer lifetime does not bring it back.
    expect((await new ConsoleSessions(redis, config.redis.keyPrefix, 8 * HOUR, 8 * HOUR).get(id, () => CREDENTIALS, opened + HOUR)).session).toBeNull();
  });

  it('keeps a session within the lifetime it was opened under', async () => {
    const opened = Date.now();
    const sessions = new ConsoleSessions(redis, config.redis.keyPrefix, 8 * HOUR, 8 * HOUR);
    const { id, session } = await sessions.create(CREDENTIALS, opened);
    expect((await sessions.get(id, () => CREDENTIALS, opened + 7 * HOUR)).session).toEqual(session);
  });

  describe('the idle timeout', () => {
    const IDLE = 15 * 60_000;
    const sessions = () => new ConsoleSessions(redis, config.redis.keyPrefix, 8 * HOUR, IDLE);

    it('ends a session unused for console.session_idle_ms, deletes it, and says whose it was and when it was last used', async () => {
      const opened = Date.now();
      const { id } = await sessions().create(CREDENTIALS, opened);
      expect((await sessions().get(id, () => CREDENTIALS, opened + IDLE - 1)).session).not.toBeNull();
      const ended = await sessions().get(id, () => CREDENTIALS, opened + IDLE);
      expect(ended).toEqual({ session: null, idle: { user: 'operator', lastUsedAt: opened } });
      // Gone for good: a read within the idle timeout of its last use does not bring it back.
      expect(await sessions().get(id, () => CREDENTIALS, opened + 1)).toEqual({ session: null });
    });

    it('restarts the idle timeout at each use, and still ends the session at its lifetime', async () => {
      const opened = Date.now();
      const { id, session } = await sessions().create(CREDENTIALS, opened);
      let used = opened;
      for (let i = 0; i < 40 && used + IDLE - 60_000 < opened + 8 * HOUR; i += 1) {
        used += IDLE - 60_000;
        const read = await sessions().get(id, () => CREDENTIALS, used);
        expect(read.session).toMatchObject({ user: 'operator', csrf: session.csrf });
        await sessions().touch(id, read.session as NonNullable<typeof read.session>, used);
      }
      expect((await sessions().get(id, () => CREDENTIALS, opened + 8 * HOUR)).session).toBeNull();
    });

    it('keeps a session stored before its last use was recorded, counting its idleness from the login', async () => {
      const opened = Date.now();
      const { id, session } = await sessions().create(CREDENTIALS, opened);
      const { lastUsedAt: _last, ...older } = session;
      const key = `${config.redis.keyPrefix}console:session:${createHash('sha256').update(id).digest('hex')}`;
      expect(await redis.set(key, JSON.stringify(older), 'KEEPTTL', 'XX')).toBe('OK');
      expect((await sessions().get(id, () => CREDENTIALS, opened + IDLE - 1)).session).toMatchObject({ lastUsedAt: opened });
      expect((await sessions().get(id, () => CREDENTIALS, opened + IDLE)).idle).toEqual({ user: 'operator', lastUsedAt: opened });
    });

    it('does not bring back a session ended while a request using it was under way', async () => {
      const { id, session } = await sessions().create(CREDENTIALS);
      await sessions().destroy(id);
      await sessions().touch(id, session);
      expect((await sessions().get(id, () => CREDENTIALS)).session).toBeNull();
    });
  });
});
