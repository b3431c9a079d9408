import { Config } from '../../../src/config/config';
import { sendEvalshaArgv, sendFlatArgs } from '../../../src/redis/flat-args-command';
import { RedisClient, createRedis, isCluster } from '../../../src/redis/redis-connection';
import { testConfig } from '../../support/test-config';

/**
 * EVALSHA sent with the arguments already flat (no per-command copy): the same replies and errors as
 * ioredis's `evalsha`, on a single Redis and on a Redis Cluster (the suite's cluster pass runs this file,
 * where the command is routed by its first key's slot).
 */
const ECHO = 'return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], #KEYS, #ARGV}';

let config: Config;
let redis: RedisClient;
let sha: string;

beforeAll(async () => {
  config = testConfig();
  redis = createRedis(config.redis, 'commands');
  // A cluster's SCRIPT LOAD reaches one node: load it on every primary, as the keys' slot may live on any.
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  const servers = isCluster(redis) ? redis.nodes('master') : [redis];
  const shas = await Promise.all(servers.map((server) => server.script('LOAD', ECHO)));
  sha = String(shas[0]);
});

afterAll(() => redis.disconnect());

/** `[sha, numberOfKeys, ...keysThenArgs]` as text, as `LuaScript` lays it out for `sendEvalshaArgv`. */
const argv = (script: string, numberOfKeys: number, keysThenArgs: readonly (string | number)[]): string[] => [
  script,
  String(numberOfKeys),
  ...keysThenArgs.map(String),
];

const keys = () => [`${config.redis.keyPrefix}{flat}:a`, `${config.redis.keyPrefix}{flat}:b`];

test('replies as ioredis evalsha does, with numbers laid out as their decimal text and multi-byte strings whole', async () => {
  const args = [...keys(), 42, 'prix 12 € – été', -7];
  const expected = await redis.evalsha(sha, 2, ...args);
  expect(await sendEvalshaArgv(redis, argv(sha, 2, args))).toEqual(expected);
  expect(expected).toEqual([...keys(), '42', 'prix 12 € – été', '-7', 2, 3]);
});

test('a script the server does not hold rejects with NOSCRIPT, as a promise (what LuaScript loads the script on)', async () => {
  const unknown = 'f'.repeat(40);
  const sent = sendEvalshaArgv(redis, argv(unknown, 1, [keys()[0]]));
  await expect(sent).rejects.toThrow(/^NOSCRIPT/);
});

test('sent before the connection is ready, it waits in the offline queue and is answered', async () => {
  const fresh = createRedis(config.redis, 'commands');
  try {
    const reply = (await sendEvalshaArgv(fresh, argv(sha, 2, [...keys(), 'x', 'y', 'z']))) as unknown[];
    expect(reply.slice(0, 5)).toEqual([...keys(), 'x', 'y', 'z']);
  } finally {
    fresh.disconnect();
  }
});

test('on a closed connection it rejects instead of throwing', async () => {
  const closed = createRedis(config.redis, 'commands');
  await closed.ping();
  await closed.quit();
  await expect(sendEvalshaArgv(closed, argv(sha, 1, [keys()[0]]))).rejects.toThrow(/Connection is closed|None of startup nodes is available/); // single Redis | cluster
});

describe('sendFlatArgs', () => {
  const key = () => `${config.redis.keyPrefix}{flat}:claim`;
  afterEach(async () => void (await redis.del(key())));

  test('replies as ioredis does for the same command: SET NX EX claims once, then finds the key held', async () => {
    expect(await sendFlatArgs(redis, 'set', [key(), '3', 'EX', '60', 'NX'])).toBe('OK');
    expect(await sendFlatArgs(redis, 'set', [key(), '4', 'EX', '60', 'NX'])).toBeNull();
    expect(await redis.set(key(), '4', 'EX', 60, 'NX')).toBeNull();
    expect(await redis.get(key())).toBe('3');
    expect(await redis.ttl(key())).toBeGreaterThan(50);
    expect(await sendFlatArgs(redis, 'get', [key()])).toBe('3');
  });

  test('a multi-byte value is sent whole, and an error reply rejects the promise', async () => {
    expect(await sendFlatArgs(redis, 'set', [key(), 'prix 12 € – été'])).toBe('OK');
    expect(await redis.get(key())).toBe('prix 12 € – été');
    await expect(sendFlatArgs(redis, 'incr', [key()])).rejects.toThrow(/not an integer/);
  });

  test('on a connection that takes ioredis own path (a key prefix), the same reply through redis.call', async () => {
    const prefixed = createRedis(config.redis, 'commands');
    prefixed.options.keyPrefix = `${config.redis.keyPrefix}{flat}:`;
    try {
      expect(await sendFlatArgs(prefixed, 'set', ['claim', '5', 'EX', '60', 'NX'])).toBe('OK');
      expect(await redis.get(key())).toBe('5');
    } finally {
      prefixed.disconnect();
    }
  });
});
