import { Config } from '../../../src/config/config';
import { sendEvalshaArgv } from '../../../src/redis/flat-args-command';
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
