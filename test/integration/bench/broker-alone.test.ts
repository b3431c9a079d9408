import amqp from 'amqplib';
import { brokerAlone } from '../../../harness/bench/broker-alone';
import { pidListeningOn } from '../../../harness/bench/process-cpu';

jest.setTimeout(60000);

const BROKER = process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

test('the broker-alone run acks every message after its hold, reads the broker CPU, and deletes its queue', async () => {
  const queue = `pbtest-broker-alone-${process.pid}`;
  const started = performance.now();
  const result = await brokerAlone({
    url: BROKER,
    queue,
    queueType: 'quorum',
    messages: 300,
    perSecond: 300,
    consumers: 2,
    window: 50,
    holdMs: [50, 80],
    rabbitmqPid: pidListeningOn(Number(new URL(BROKER).port || 5672)),
  });
  const seconds = (performance.now() - started) / 1000;
  expect(result.messages).toBe(300);
  expect(result.offeredPerSecond).toBe(300);
  // Prefetch sized for 300/s at the mean hold of 65 ms: 10 per consumer, so the drain takes about a second.
  expect(result.prefetch).toBe(10);
  expect(seconds).toBeGreaterThan(0.8);
  expect(result.perSecond).toBeLessThanOrEqual(300 * 1.25);
  expect(result.rabbitmqCpuMicrosPerMessage).not.toBeNull();
  expect(result.rabbitmqCpuMicrosPerMessage).toBeGreaterThan(0);

  const connection = await amqp.connect(BROKER);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    await expect(channel.checkQueue(queue)).rejects.toThrow(/NOT_FOUND/);
  } finally {
    await connection.close().catch(() => undefined);
  }
});
