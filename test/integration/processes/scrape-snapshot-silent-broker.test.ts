/**
 * The scrape-time snapshot against a broker gone silent (a TCP proxy that stops forwarding: real RabbitMQ and
 * Redis, own namespace): its queue depths are left out and the snapshot ends within amqp.publish_timeout_ms
 * (twice: the read, then the channel's close), rather than holding the scrape, and every one after it, for ever.
 */
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { silentLogger } from '../../../src/logging/logger';
import { scrapeSnapshot } from '../../../src/processes/scrape-snapshot';
import { createRedis } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { eventually, startTcpProxy } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

describe('scrape snapshot with a silent broker (real RabbitMQ and Redis)', () => {
  it('leaves the queue depths out and ends within its bound, scrape after scrape', async () => {
    const config = testConfig({ 'amqp.publish_timeout_ms': 300 });
    const client = await amqpClient(config);
    const redis = createRedis(config.redis, 'commands', silentLogger());
    const proxy = await startTcpProxy(Number(new URL(config.amqp.url).port || 5672));
    const connection = new AmqpConnection({ url: proxy.url('amqp', 'guest:guest'), reconnectMs: 50, logger: silentLogger() });
    try {
      await connection.connect();
      const snapshot = scrapeSnapshot({ config, redis, queues: {}, amqp: connection });
      // Answered while the broker is.
      expect((await snapshot()).queues.map((q) => q.queue)).toEqual(['commands', 'dead_letter']);
      proxy.hold();
      for (let scrape = 0; scrape < 2; scrape += 1) {
        const started = Date.now();
        const wedged = new Promise<'wedged'>((resolve) => setTimeout(() => resolve('wedged'), 5000).unref());
        const result = await Promise.race([snapshot(), wedged]);
        expect(result === 'wedged' ? result : result.queues).toEqual([]);
        expect(Date.now() - started).toBeLessThan(3000);
      }
    } finally {
      // The silent node's sockets go; a connection's close waits for the broker's answer (amqplib), so it is
      // closed once it has seen them go.
      proxy.cut();
      await eventually(() => !connection.connected, 5000);
      await connection.close();
      await proxy.close();
      redis.disconnect();
      await client.deleteNamespace();
      await client.close();
    }
  });
});
