import { ConsumeMessage } from 'amqplib';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { declareTopology } from '../../../src/amqp/topology';
import { priorityQueueOf } from '../../../src/amqp/priority-lane';
import { rabbitCluster, rabbitClusterUrls } from '../../../harness/drills/rabbit-node-drill';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

// The real 3-node cluster (scripts/rabbit-cluster.sh, its own ports 5681-5683). Starting it costs about a
// minute on a fresh machine, so these run when PB_RABBIT_CLUSTER_TESTS=1 (.ci/run's cluster step sets it).
const onCluster = process.env.PB_RABBIT_CLUSTER_TESTS === '1' ? describe : describe.skip;
jest.setTimeout(300_000);

const urls = rabbitClusterUrls();

function clusterConfig() {
  return testConfig({
    'amqp.url': urls[0],
    'amqp.urls': urls.slice(1),
    'amqp.queue.type': 'quorum',
    'amqp.queue.dead_letter_strategy': 'at-least-once',
    'backpressure.priority_lane': true,
  });
}

/** `rabbitmqctl list_queues` on node 2 as JSON rows. */
async function listQueues(): Promise<Record<string, unknown>[]> {
  const out = await rabbitCluster(['ctl', '2', 'list_queues', 'name', 'type', 'members', 'arguments', '--formatter', 'json']);
  return JSON.parse(out) as Record<string, unknown>[];
}

onCluster('on the local 3-node RabbitMQ cluster', () => {
  beforeAll(async () => {
    await rabbitCluster(['start']);
  }, 300_000);

  it('declares every queue as a quorum queue with members on the three nodes, consumed queues dead-lettering at least once', async () => {
    const config = clusterConfig();
    const connection = new AmqpConnection({ urls: config.amqp.urls, logger: captureLogger('error').logger });
    const model = await connection.connect();
    const ch = await model.createChannel();
    try {
      await declareTopology(ch, config.amqp, { priorityLane: true });
      const rows = (await listQueues()).filter((r) => String(r.name).startsWith(config.amqp.commandsQueue.split(':')[0]));
      // commands, its priority lane, the dead-letter queue and its triage, broker-rejected and parked queues
      expect(rows.map((r) => String(r.name)).sort()).toEqual(
        [
          config.amqp.commandsQueue,
          priorityQueueOf(config.amqp),
          config.amqp.deadLetterQueue,
          ...[':triage', ':broker-rejected', ':parked'].map((suffix) => config.amqp.deadLetterQueue + suffix),
        ].sort(),
      );
      for (const row of rows) {
        expect(row.type).toBe('quorum');
        expect(row.members).toHaveLength(3);
      }
      for (const name of [config.amqp.commandsQueue, priorityQueueOf(config.amqp)]) {
        const args = JSON.stringify(rows.find((r) => r.name === name)?.arguments);
        expect(args).toContain('x-dead-letter-strategy');
        expect(args).toContain('at-least-once');
        expect(args).toContain('reject-publish');
      }
    } finally {
      for (const q of [config.amqp.commandsQueue, priorityQueueOf(config.amqp), config.amqp.deadLetterQueue]) await ch.deleteQueue(q).catch(() => undefined);
      for (const suffix of [':triage', ':broker-rejected', ':parked']) await ch.deleteQueue(config.amqp.deadLetterQueue + suffix).catch(() => undefined);
      await connection.close();
    }
  });

  it('publishers and consumers carry on on the surviving nodes when the node they are on is killed: every confirmed message consumed', async () => {
    const config = clusterConfig();
    const { logger } = captureLogger('error');
    const pub = new AmqpConnection({ urls: config.amqp.urls, reconnectMs: 200, name: 'cluster-test-pub', logger });
    const sub = new AmqpConnection({ urls: config.amqp.urls, reconnectMs: 200, name: 'cluster-test-sub', logger });
    const publisher = new ConfirmPublisher(pub, 30_000, (ch) => declareTopology(ch, config.amqp));
    const received = new Map<string, number>();
    const subscribe = async () => {
      const ch = await (await sub.connect()).createChannel();
      ch.on('error', () => undefined);
      await declareTopology(ch, config.amqp);
      await ch.prefetch(50);
      await ch.consume(config.amqp.commandsQueue, (msg: ConsumeMessage | null) => {
        if (!msg) return;
        const id = msg.content.toString();
        received.set(id, (received.get(id) ?? 0) + 1);
        ch.ack(msg);
      });
    };
    sub.on('ready', () => void subscribe().catch(() => undefined));
    await sub.connect();
    await subscribe();
    const confirmed: string[] = [];
    let killed = false;
    try {
      expect(pub.currentNode ?? (await pub.connect(), pub.currentNode)).toBe('127.0.0.1:5681');
      for (let i = 0; i < 300; i += 1) {
        if (i === 100) {
          await rabbitCluster(['kill-node', '1']);
          killed = true;
        }
        const id = `m${i}`;
        await publisher.publish(config.amqp.commandsExchange, 'test.payment.capture', Buffer.from(id));
        confirmed.push(id);
      }
      expect(pub.currentNode).not.toBe('127.0.0.1:5681');
      await eventually(() => confirmed.every((id) => received.has(id)), 120_000, 200);
      expect(sub.currentNode).not.toBe('127.0.0.1:5681');
    } finally {
      await publisher.close();
      const ch = await (await pub.connect()).createChannel().catch(() => null);
      if (ch) {
        for (const q of [config.amqp.commandsQueue, config.amqp.deadLetterQueue]) await ch.deleteQueue(q).catch(() => undefined);
        for (const suffix of [':triage', ':broker-rejected', ':parked']) await ch.deleteQueue(config.amqp.deadLetterQueue + suffix).catch(() => undefined);
      }
      await pub.close();
      await sub.close();
      if (killed) await rabbitCluster(['start-node', '1']);
    }
  });
});
