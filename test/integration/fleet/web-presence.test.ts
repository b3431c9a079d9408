/**
 * A web process comes up whether Redis is there or not (intake answers 503 until it is). Its heartbeat, which
 * names its release for `ops processes` and the poller's release check, is written once Redis is back.
 */
import { startWebProcess } from '../../../src/processes/web-process';
import { createRedis } from '../../../src/redis/redis-connection';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { runningProcesses } from '../../../src/fleet/running-processes';
import { captureLogger } from '../../support/capture-logger';
import { eventually, startTcpProxy } from '../../support/tcp-proxy';
import { onRedisCluster, testConfig } from '../../support/test-config';

jest.setTimeout(60_000);

// The outage is a proxy in front of the single Redis: on the Redis Cluster run there is none to cut.
const singleRedis = onRedisCluster() ? it.skip : it;

singleRedis('a web process started while Redis is down names itself in a heartbeat once Redis is back', async () => {
  const redisProxy = await startTcpProxy(6379);
  const config = testConfig({ 'redis.url': redisProxy.url('redis') });
  const direct = createRedis(testConfig({ 'redis.key_prefix': config.redis.keyPrefix }).redis, 'commands');
  redisProxy.cut();
  const web = await startWebProcess(config, captureLogger('error').logger);
  try {
    // Long enough for the first write to fail.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await runningProcesses(direct, config.redis.keyPrefix)).toEqual([]);
    redisProxy.restore();
    await eventually(
      async () => (await runningProcesses(direct, config.redis.keyPrefix)).some((p) => p.presence?.role === 'web' && p.presence.pid === process.pid),
      20_000,
    );
  } finally {
    await web.stop();
    await unlinkMatching(direct, `${config.redis.keyPrefix}*`);
    direct.disconnect();
    await redisProxy.close();
  }
});
