import amqp from 'amqplib';
import { declareTopology } from '../../../src/amqp/topology';
import { queueMismatch } from '../../../src/amqp/queue-mismatch';
import { QueueMismatchError } from '../../../src/errors/queue-mismatch-error';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { startIntakeProcess } from '../../support/intake-process';
import { testConfig } from '../../support/test-config';

jest.setTimeout(60000);

const BROKER = process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

describe('a queue declared with another type than configured', () => {
  it('is refused with an error naming the queue, the configured type and the fix, kept for readiness until a declaration passes', async () => {
    const classic = testConfig();
    const quorum = testConfig({
      'amqp.queue.type': 'quorum',
      'amqp.exchange.commands': classic.amqp.commandsExchange,
      'amqp.queue.commands': classic.amqp.commandsQueue,
      'amqp.exchange.dead_letter': classic.amqp.deadLetterExchange,
      'amqp.queue.dead_letter': classic.amqp.deadLetterQueue,
    });
    const client = await amqpClient(classic); // declares the namespace's queues as classic
    const model = await amqp.connect(BROKER);
    const channel = async () => {
      const ch = await model.createChannel();
      ch.on('error', () => undefined); // the broker closes it with the 406
      return ch;
    };
    try {
      const err: unknown = await declareTopology(await channel(), quorum.amqp).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueueMismatchError);
      const mismatch = err as QueueMismatchError;
      expect(mismatch.retryable).toBe(false);
      expect(mismatch.queue).toBe(classic.amqp.deadLetterQueue);
      expect(mismatch.message).toContain(`queue "${classic.amqp.deadLetterQueue}"`);
      expect(mismatch.message).toContain('amqp.queue.type: quorum');
      expect(mismatch.message).toContain("inequivalent arg 'x-queue-type'");
      expect(mismatch.message).toContain('rabbitmqctl delete_queue');
      expect(queueMismatch.current()).toBe(mismatch);
      expect(await metricValue('pb_amqp_queue_mismatch')).toBe(1);

      await declareTopology(await channel(), classic.amqp);
      expect(queueMismatch.current()).toBeNull();
      expect(await metricValue('pb_amqp_queue_mismatch')).toBe(0);
    } finally {
      await client.deleteNamespace();
      await client.close();
      await model.close().catch(() => undefined);
    }
  });

  it('leaves the command consumer up and not attached (no crash at start), logging the mismatch once with the fix', async () => {
    const classic = testConfig();
    const quorum = testConfig({
      'amqp.queue.type': 'quorum',
      'amqp.exchange.commands': classic.amqp.commandsExchange,
      'amqp.queue.commands': classic.amqp.commandsQueue,
      'amqp.exchange.dead_letter': classic.amqp.deadLetterExchange,
      'amqp.queue.dead_letter': classic.amqp.deadLetterQueue,
      'redis.key_prefix': classic.redis.keyPrefix,
    });
    const client = await amqpClient(classic);
    const { logger, lines } = captureLogger('warn');
    try {
      const intake = await startIntakeProcess(quorum, logger);
      try {
        expect(intake.consumer.attached).toBe(false);
        const logged = lines.filter((l) => l.includes('queue type mismatch'));
        expect(logged).toHaveLength(1);
        expect(logged[0]).toContain(classic.amqp.deadLetterQueue);
      } finally {
        await intake.stop();
      }
    } finally {
      await client.deleteNamespace();
      await client.close();
    }
  });
});
