import axios from 'axios';
import { signBody } from '../../../src/bus/x-signature';
import { IssuedTokens } from '../../../src/ledger/issued-tokens';
import { startWebProcess } from '../../../src/processes/web-process';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, channelCommand, payment } from '../../support/fixtures';
import { eventually, startTcpProxy } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { startIntakeProcess } from '../../support/intake-process';

const CAPTURE = 'magento.payments.payments_management.capture';

// Outages wait for reconnect backoffs (up to 2 s for Redis, 5 s for held messages): generous, never tight.
jest.setTimeout(60000);

describe('outages lose nothing', () => {
  it('answers 503 while the broker is down, and every command the bus re-sends afterwards is queued exactly once', async () => {
    const brokerProxy = await startTcpProxy(5672);
    const config = testConfig({ 'amqp.url': brokerProxy.url('amqp', 'guest:guest'), 'amqp.publish_timeout_ms': 1000, 'amqp.reconnect_ms': 100 });
    const direct = testConfig({
      'amqp.exchange.commands': config.amqp.commandsExchange,
      'amqp.queue.commands': config.amqp.commandsQueue,
      'amqp.exchange.dead_letter': config.amqp.deadLetterExchange,
      'amqp.queue.dead_letter': config.amqp.deadLetterQueue,
      'redis.key_prefix': config.redis.keyPrefix,
    });
    const { logger } = captureLogger('error');
    const client = await amqpClient(config);
    const worker = await startIntakeProcess(direct, logger);
    const web = await startWebProcess(config, logger);
    const post = (body: unknown) => {
      const raw = JSON.stringify(body);
      return axios.post(web.intakeUrl, raw, {
        headers: { 'x-signature': signBody(raw, config.serviceBus.secret), 'content-type': 'application/json' },
        validateStatus: () => true,
      });
    };
    try {
      await eventually(async () => (await post(busCall(CAPTURE, payment()))).status === 200);
      await eventually(() => worker.consumer.stats.accepted === 1);
      const before = { ...worker.consumer.stats };
      brokerProxy.cut();
      const calls = Array.from({ length: 20 }, (_, i) => busCall(CAPTURE, payment(), `outage-${i}`));
      const during = await Promise.all(calls.map(post));
      expect(during.every((r) => r.status === 503 && r.data.error.code === -32000)).toBe(true);
      brokerProxy.restore();
      // The bus re-sends what was not acknowledged, until it is.
      const pending = new Set(calls);
      await eventually(
        async () => {
          for (const call of [...pending]) if ((await post(call)).status === 200) pending.delete(call);
          return pending.size === 0;
        },
        20000,
        200,
      );
      const refs = calls.map((call) => (call.params as { payment: { operation_reference: string } }).payment.operation_reference);
      for (const ref of refs) await eventually(async () => (await worker.deliveryQueue.getJob(ref)) !== undefined);
      await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === 0);
      // Exactly once, counted: the consumer took 20 messages after the outage, each a new command (none a
      // second copy of one, none refused), and each operation was received once and has one delivery job.
      expect(worker.consumer.stats.accepted - before.accepted).toBe(20);
      expect(worker.consumer.stats.duplicates - before.duplicates).toBe(0);
      expect(worker.consumer.stats.deadLettered - before.deadLettered).toBe(0);
      const jobs = await worker.deliveryQueue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
      for (const ref of refs) {
        expect(jobs.filter((j) => j.id === ref)).toHaveLength(1);
        expect((await worker.ledger.interactions(ref)).filter((i) => i.event === 'received')).toHaveLength(1);
      }
    } finally {
      await web.stop();
      await worker.stop();
      await client.deleteNamespace();
      await client.close();
      await brokerProxy.close();
    }
  });

  it('answers a bad command 503 while its dead letter cannot be written (broker down), and refuses it naming the field, with its dead letter, when the bus sends it again', async () => {
    const brokerProxy = await startTcpProxy(5672);
    const config = testConfig({ 'amqp.url': brokerProxy.url('amqp', 'guest:guest'), 'amqp.publish_timeout_ms': 1000, 'amqp.reconnect_ms': 100 });
    const { logger, lines } = captureLogger('warn');
    const client = await amqpClient(config);
    const web = await startWebProcess(config, logger);
    const post = (body: unknown) => {
      const raw = JSON.stringify(body);
      return axios.post(web.intakeUrl, raw, {
        headers: { 'x-signature': signBody(raw, config.serviceBus.secret), 'content-type': 'application/json' },
        validateStatus: () => true,
      });
    };
    try {
      await eventually(async () => (await post(busCall(CAPTURE, payment()))).status === 200);
      brokerProxy.cut();
      const bad = busCall(CAPTURE, payment({ amount: 10.5 }), 'bad-during-outage');
      const during = await post(bad);
      // Refused without its record, the refusal would live in a log line only: not processed, sent again.
      expect(during.status).toBe(503);
      expect(during.data.error.code).toBe(-32000);
      expect(lines.some((l) => l.includes('refusal could not be dead-lettered') && l.includes('"field":"payment.amount"'))).toBe(true);
      brokerProxy.restore();
      let after: Awaited<ReturnType<typeof post>> | undefined;
      await eventually(async () => (after = await post(bad)).status !== 503, 20000, 200);
      expect(after?.status).toBe(200);
      expect(after?.data.error).toMatchObject({ code: -32602, data: { field: 'payment.amount' } });
      await eventually(async () => (await client.queueDepth(config.amqp.deadLetterQueue)) === 1);
    } finally {
      await web.stop();
      await client.deleteNamespace();
      await client.close();
      await brokerProxy.close();
    }
  });

  it('answers 503, not 200, for a command the broker could route to no queue (binding missing), and accepts it once the topology is declared again', async () => {
    const config = testConfig({ 'backpressure.priority_lane': false });
    const { logger, lines } = captureLogger('error');
    const client = await amqpClient(config);
    const web = await startWebProcess(config, logger);
    const post = (body: unknown) => {
      const raw = JSON.stringify(body);
      return axios.post(web.intakeUrl, raw, {
        headers: { 'x-signature': signBody(raw, config.serviceBus.secret), 'content-type': 'application/json' },
        validateStatus: () => true,
      });
    };
    const admin = await client.model.createChannel();
    try {
      await eventually(async () => (await post(busCall(CAPTURE, payment()))).status === 200);
      expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(1);
      await admin.unbindQueue(config.amqp.commandsQueue, config.amqp.commandsExchange, '#');
      const call = busCall(CAPTURE, payment(), 'unroutable-1');
      const refused = await post(call);
      expect(refused.status).toBe(503);
      expect(refused.data.error.code).toBe(-32000);
      expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(1);
      expect(lines.some((l) => l.includes('amqp publish unroutable') && l.includes(config.amqp.commandsExchange))).toBe(true);
      // The bus sends it again: the publisher's fresh channel has declared the binding again.
      expect((await post(call)).status).toBe(200);
      expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(2);
    } finally {
      await admin.close().catch(() => undefined);
      await web.stop();
      await client.deleteNamespace();
      await client.close();
    }
  });

  it('holds messages while Redis is down and records every one when it returns, with nothing dead-lettered', async () => {
    const redisProxy = await startTcpProxy(6379);
    const config = testConfig({ 'redis.url': redisProxy.url('redis') });
    const { logger } = captureLogger('error');
    const client = await amqpClient(config);
    const worker = await startIntakeProcess(config, logger);
    try {
      const warmup = channelCommand('capture');
      await client.publish('web.payment.capture', warmup);
      // Accepted = ledger record and delivery job written and acked; the ledger record alone comes first.
      await eventually(() => worker.consumer.stats.accepted === 1);
      redisProxy.cut();
      const commands = Array.from({ length: 30 }, () => channelCommand('capture'));
      for (const c of commands) await client.publish('web.payment.capture', c);
      await eventually(() => worker.consumer.stats.dependencyRetries > 0);
      expect(worker.consumer.stats.accepted).toBe(1);
      redisProxy.restore();
      await eventually(() => worker.consumer.stats.accepted === 31, 45000);
      for (const c of commands) {
        expect((await worker.ledger.get(c.payment.operation_reference!))?.state).toBe('RECEIVED');
        expect(await worker.deliveryQueue.getJob(c.payment.operation_reference!)).toBeDefined();
      }
      expect(worker.consumer.stats.deadLettered).toBe(0);
      expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(0);
    } finally {
      await worker.stop();
      await client.deleteNamespace();
      await client.close();
      await redisProxy.close();
    }
  });

  it('holds a command whose card-like gateway_key asks the issued-token index while Redis is down, and takes it when Redis returns, nothing dead-lettered', async () => {
    const redisProxy = await startTcpProxy(6379);
    const config = testConfig({ 'redis.url': redisProxy.url('redis') });
    const { logger } = captureLogger('error');
    const client = await amqpClient(config);
    const worker = await startIntakeProcess(config, logger);
    // A stored token the bridge issued whose id passes the Luhn check: only the index lets it through.
    const token = 'shopper-outage-0042:5300912374650184';
    try {
      expect(await new IssuedTokens(worker.ledger, config.serviceBus).record(token, 'simulator')).toBe(true);
      redisProxy.cut();
      const command = channelCommand('sale', {}, { gateway_key: token });
      await client.publish('web.payment.sale', command);
      await eventually(() => worker.consumer.stats.dependencyRetries > 0 || worker.consumer.stats.deadLettered > 0);
      expect(worker.consumer.stats.deadLettered).toBe(0);
      redisProxy.restore();
      await eventually(() => worker.consumer.stats.accepted === 1, 45000);
      expect((await worker.ledger.get(command.payment.operation_reference!))?.payment.gateway_key).toBe(token);
      expect(worker.consumer.stats.deadLettered).toBe(0);
    } finally {
      await worker.stop();
      await client.deleteNamespace();
      await client.close();
      await redisProxy.close();
    }
  });

  it('requeues held messages on shutdown instead of dropping them', async () => {
    const redisProxy = await startTcpProxy(6379);
    const config = testConfig({ 'redis.url': redisProxy.url('redis') });
    const { logger } = captureLogger('error');
    const client = await amqpClient(config);
    const worker = await startIntakeProcess(config, logger);
    try {
      redisProxy.cut();
      const commands = Array.from({ length: 5 }, () => channelCommand('refund'));
      for (const c of commands) await client.publish('web.payment.refund', c);
      await eventually(() => worker.consumer.stats.dependencyRetries >= 5);
      await worker.stop();
      expect(worker.consumer.stats.requeued).toBe(5);
      await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === 5);
    } finally {
      await client.deleteNamespace();
      await client.close();
      await redisProxy.close();
    }
  });
});
