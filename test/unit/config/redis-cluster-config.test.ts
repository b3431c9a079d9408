import { Cluster } from 'ioredis';
import { createRedis } from '../../../src/redis/redis-connection';
import { testConfig } from '../../support/test-config';

describe('redis.cluster configuration', () => {
  it('is undefined when redis.cluster.nodes is empty (a single Redis at redis.url)', () => {
    const config = testConfig({ 'redis.url': 'redis://127.0.0.1:6379', 'redis.cluster.nodes': [] });
    expect(config.redis.cluster).toBeUndefined();
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
  });

  it('carries the seed nodes and the documented retry defaults when nodes are set', () => {
    const config = testConfig({ 'redis.cluster.nodes': ['10.0.0.1:6379', 'redis-b.internal:7002'] });
    expect(config.redis.cluster).toEqual({
      nodes: ['10.0.0.1:6379', 'redis-b.internal:7002'],
      retryDelayMs: 400,
      retryDelayOnMovedMs: 100,
      maxRedirections: 16,
      slotsRefreshIntervalMs: 5000,
    });
  });

  it('hands ioredis a delay before following MOVED, so a failover does not spend the redirections at once', async () => {
    const config = testConfig({ 'redis.cluster.nodes': ['10.0.0.1:6379'], 'redis.cluster.retry_delay_on_moved_ms': 250 });
    const redis = createRedis(config.redis, 'probe') as Cluster;
    expect(redis.options).toMatchObject({ retryDelayOnMoved: 250, retryDelayOnFailover: 400, maxRedirections: 16 });
    redis.disconnect();
  });

  it('refuses a node without a port, naming the key', () => {
    expect(() => testConfig({ 'redis.cluster.nodes': ['10.0.0.1'] })).toThrow(/redis\.cluster\.nodes/);
  });

  it('refuses a node written as a URL, naming the key', () => {
    expect(() => testConfig({ 'redis.cluster.nodes': ['redis://10.0.0.1:6379'] })).toThrow(/redis\.cluster\.nodes/);
  });
});
