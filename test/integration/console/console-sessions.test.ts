/**
 * A console session lasts `console.session_ttl_ms` from its login as the lifetime in force says, not as the
 * one it was opened under: its Redis key expires with the lifetime of its login, so shortening the lifetime
 * (and restarting web) left every open session working for the old one (OWASP Session Management Cheat
 * Sheet: the absolute timeout is enforced by the server).
 */
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
    const { id } = await new ConsoleSessions(redis, config.redis.keyPrefix, 8 * HOUR).create(CREDENTIALS, opened);
    const shortened = new ConsoleSessions(redis, config.redis.keyPrefix, HOUR);
    expect((await shortened.get(id, CREDENTIALS, opened + HOUR - 1)).session).not.toBeNull();
    expect((await shortened.get(id, CREDENTIALS, opened + HOUR)).session).toBeNull();
    // Gone for good: the longer lifetime does not bring it back.
    expect((await new ConsoleSessions(redis, config.redis.keyPrefix, 8 * HOUR).get(id, CREDENTIALS, opened + HOUR)).session).toBeNull();
  });

  it('keeps a session within the lifetime it was opened under', async () => {
    const opened = Date.now();
    const sessions = new ConsoleSessions(redis, config.redis.keyPrefix, 8 * HOUR);
    const { id, session } = await sessions.create(CREDENTIALS, opened);
    expect((await sessions.get(id, CREDENTIALS, opened + 7 * HOUR)).session).toEqual(session);
  });
});
