/**
 * The command consumer's and the broker dead-letter redactor's subscription and shutdown against a broker that
 * accepts the connection and then stops answering (real RabbitMQ and Redis, own namespace; a proxy that stops
 * forwarding at a chosen AMQP call and resumes), on a connection another lane holds an unacked message on: a
 * subscription step not answered is given up within `amqp.publish_timeout_ms` (counted, logged), its channel closed
 * and never the connection, readiness stays false, and the subscription is tried again until the broker answers,
 * with one consumer per queue in the end; a stop during it leaves no consumer; a cancel or close not answered at
 * stop is given up within the bound; a message delivered after a stop began is left unacked for the close, never
 * nacked back to the same consumer in a loop while the cancel goes unanswered. A consume the broker did but answered
 * late (the proxy holds its consume-ok and what follows) leaves no consumer holding messages: its channel's close ends it.
 */
import { Channel, ConsumeMessage } from 'amqplib';
import { priorityQueueOf } from '../../../src/admission/command-priority';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { BrokerDeadLetterRedactor } from '../../../src/amqp/broker-dead-letter-redactor';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { deadLetterStampKey } from '../../../src/amqp/dead-letter-stamp';
import { DeadLetterTriage } from '../../../src/amqp/dead-letter-triage';
import { DeadLetterWriter } from '../../../src/amqp/dead-letter-writer';
import { brokerRejectedQueueOf, declareTopology } from '../../../src/amqp/topology';
import { ShutdownBudget } from '../../../src/amqp/shutdown-budget';
import { Config } from '../../../src/config/config';
import { createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { InflightGate } from '../../../src/admission/inflight-gate';
import { InlineDelivery } from '../../../src/delivery/inline-delivery';
import { CommandConsumer } from '../../../src/intake/command-consumer';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { AMQP_METHOD, AmqpStallProxy, startAmqpStallProxy } from '../../support/amqp-stall-proxy';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

/**
 * A wait for what RabbitMQ (another process) does: a delivery, a requeue, a consumer registered or gone, a lane's
 * loss notified. Generous, as CI runs this file beside others on a loaded machine; the bounds the tests prove are
 * asserted on their own (`ms`), never through these waits.
 */
const BROKER_MS = 15_000;
// Above the sum of one test's broker waits (five at most, plus the fixed pauses and 5 s hang guards).
jest.setTimeout(120_000);

const BOUND_MS = 300;

describe('consumer subscription and shutdown with a broker that stops answering (real RabbitMQ and Redis)', () => {
  let proxy: AmqpStallProxy;
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let logs: ReturnType<typeof captureLogger>;
  let connection: AmqpConnection;
  let redis: RedisClient;
  let lost: number;
  let held: ConsumeMessage[];
  let cleanup: (() => Promise<void>)[];

  beforeEach(async () => {
    proxy = await startAmqpStallProxy();
    // Own namespace per test; the code under test reaches the broker through the proxy, the test's own client directly.
    config = testConfig({ 'amqp.url': proxy.url, 'amqp.publish_timeout_ms': BOUND_MS, 'amqp.reconnect_ms': 50 });
    client = await amqpClient(config);
    logs = captureLogger('info');
    connection = new AmqpConnection({ url: config.amqp.url, reconnectMs: 50, logger: logs.logger, closeTimeoutMs: BOUND_MS });
    lost = 0;
    connection.on('lost', () => (lost += 1));
    await connection.connect();
    redis = createRedis(config.redis, 'commands', logs.logger);
    cleanup = [];
    // Another lane's channel on the same connection, holding one message unacked (its PSP call under way).
    const lane: Channel = await connection.current().createChannel();
    await lane.prefetch(1);
    held = [];
    await lane.consume(config.amqp.deadLetterQueue, (msg) => {
      if (msg) held.push(msg);
    });
    const ch = await client.model.createConfirmChannel();
    ch.sendToQueue(config.amqp.deadLetterQueue, Buffer.from('{"order_id":"ORD-HELD"}'), { persistent: true });
    await ch.waitForConfirms();
    await ch.close();
    await eventually(() => held.length === 1, BROKER_MS);
  });

  afterEach(async () => {
    proxy.cut();
    for (const step of cleanup) await step().catch(() => undefined);
    await connection.close();
    await proxy.close();
    const keys = await redis.keys(`${config.redis.keyPrefix}*`);
    await Promise.all(keys.map((k) => redis.del(k)));
    redis.disconnect();
    await client.deleteNamespace();
    await client.close();
  });

  /** The consumer's pieces as the worker wires them, on the connection under test. */
  function consumer(extra: Partial<ConstructorParameters<typeof CommandConsumer>[0]> = {}): CommandConsumer {
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
    deliveryQueue.on('error', () => undefined);
    const publisher = new ConfirmPublisher(connection, BOUND_MS, (ch) => declareTopology(ch, config.amqp, { priorityLane: true }));
    const deadLetters = new DeadLetterWriter(
      publisher,
      config.amqp,
      new DeadLetterTriage({ redis, keyPrefix: config.redis.keyPrefix, triage: config.channels.triage, logger: logs.logger }),
      deadLetterStampKey(config.serviceBus.secret),
    );
    const made = new CommandConsumer({ config, connection, ledger, deliveryQueue, deadLetters, logger: logs.logger, ...extra });
    cleanup.push(
      () => made.stop(),
      () => publisher.close(),
      () => deliveryQueue.close(),
    );
    return made;
  }

  /** Resolves with `work`'s outcome, or 'hung' after 5 s: a hang fails the test rather than the suite's timeout. */
  async function within<T>(work: Promise<T>): Promise<{ outcome: T | 'hung'; ms: number }> {
    const started = Date.now();
    const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5000).unref());
    const outcome = await Promise.race([work, hung]);
    return { outcome, ms: Date.now() - started };
  }

  const consumers = async (queue: string): Promise<number> => {
    const ch = await client.model.createChannel();
    try {
      return (await ch.checkQueue(queue)).consumerCount;
    } finally {
      await ch.close();
    }
  };

  /** The other lane's message is still its own: the connection stayed up and the broker did not requeue it. */
  async function laneKeptItsMessage(): Promise<void> {
    expect(lost).toBe(0);
    expect(connection.connected).toBe(true);
    expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(0);
    expect(held).toHaveLength(1);
  }

  /**
   * Counts every delivery to a consumer on a channel the code under test opens from now on (on the connection's
   * current model), by the message's order id: a message nacked and redelivered in a loop counts each time.
   */
  function countDeliveries(): Map<string, number> {
    const seen = new Map<string, number>();
    const model = connection.current();
    const createChannel = model.createChannel.bind(model);
    jest.spyOn(model, 'createChannel').mockImplementation(async () => {
      const ch = await createChannel();
      const consume = ch.consume.bind(ch);
      ch.consume = ((queue: string, onMessage: (msg: ConsumeMessage | null) => void, options?: object) =>
        consume(
          queue,
          (msg) => {
            if (msg) {
              const order = /"order_id":"([^"]+)"/.exec(msg.content.toString())?.[1] ?? 'unknown';
              seen.set(order, (seen.get(order) ?? 0) + 1);
            }
            onMessage(msg);
          },
          options,
        )) as Channel['consume'];
      return ch;
    });
    return seen;
  }

  const notConsuming = () => logs.lines.some((l) => l.includes('command consumer cannot subscribe: rabbitmq did not answer in time; not consuming, retrying'));

  it.each([
    ['a channel opening', AMQP_METHOD.channelOpen, 1],
    ['the topology declaration', AMQP_METHOD.exchangeDeclare, 1],
    ['the prefetch', AMQP_METHOD.basicQos, 1],
    ['the consume of the commands queue', AMQP_METHOD.basicConsume, 1],
    ['the consume of the priority queue', AMQP_METHOD.basicConsume, 2],
  ] as const)(
    'subscribe: %s not answered gives up within the bound (counted, logged), keeps the connection and readiness false; once the broker answers, one consumer per queue',
    async (_what, method, nth) => {
      const commands = consumer();
      const timeouts = await metricValue('pb_amqp_call_timeouts_total', { what: 'consumer_subscribe' });
      proxy.stallAt(method, nth);
      const starting = await within(commands.start());
      expect(starting.outcome).toBeUndefined();
      // The step's bound, then the bounded close of its channel (not answered either).
      expect(starting.ms).toBeLessThan(2 * BOUND_MS + 1000);
      expect(proxy.stalled).toBe(1);
      expect(commands.attached).toBe(false);
      expect(await metricValue('pb_amqp_call_timeouts_total', { what: 'consumer_subscribe' })).toBe(timeouts + 1);
      expect(notConsuming()).toBe(true);
      await laneKeptItsMessage();
      // The broker answers again: a late consume is ended by its channel's close; the retry subscribes what is missing.
      proxy.resume();
      await eventually(() => commands.attached, BROKER_MS);
      await eventually(async () => (await consumers(config.amqp.commandsQueue)) === 1 && (await consumers(priorityQueueOf(config.amqp))) === 1, BROKER_MS);
      // Still one each well after the retry's backoff, and the consumer works.
      await new Promise((r) => setTimeout(r, 1200));
      expect(await consumers(config.amqp.commandsQueue)).toBe(1);
      expect(await consumers(priorityQueueOf(config.amqp))).toBe(1);
      await client.publish('web.payment.authorize', channelCommand('authorize'));
      await eventually(() => commands.stats.accepted === 1, BROKER_MS);
      await laneKeptItsMessage();
    },
  );

  it('subscribe: a consume the broker did (consumer registered, messages delivered) but answered after the bound leaves no consumer holding them: its channel is closed, the messages go back to the queue, never two consumers; each handled once', async () => {
    const queue = config.amqp.commandsQueue;
    const orders = ['ORD-LATE-OK-A', 'ORD-LATE-OK-B', 'ORD-LATE-OK-C'];
    for (const order of orders) await client.publish('web.payment.authorize', channelCommand('authorize', {}, { order_id: order }));
    const deliveries = countDeliveries();
    const commands = consumer();
    const timeouts = await metricValue('pb_amqp_call_timeouts_total', { what: 'consumer_subscribe' });
    // The broker reads the consume and delivers to the consumer; its consume-ok and all it sends after are held.
    proxy.holdRepliesAt(AMQP_METHOD.basicConsumeOk);
    const starting = await within(commands.start());
    expect(starting.outcome).toBeUndefined();
    expect(proxy.repliesHeld).toBe(1);
    // The broker did register the consumer and deliver it every message before it read the channel's close.
    expect(proxy.heldReplies(AMQP_METHOD.basicDeliver)).toBe(orders.length);
    expect(commands.attached).toBe(false);
    expect(await metricValue('pb_amqp_call_timeouts_total', { what: 'consumer_subscribe' })).toBe(timeouts + 1);
    // Said where an operator looks: the give-up, and that the channel's close (read by the broker, its answer held) ends it.
    expect(
      logs.lines.some(
        (l) =>
          l.includes('command consumer gave up a consume not answered in time; its channel') &&
          l.includes(`"queue":"${queue}"`) &&
          l.includes('"close_answered":false'),
      ),
    ).toBe(true);
    // Nobody tracks the consumer the broker registered: it must be gone, and what it was delivered back in the queue.
    await eventually(async () => (await consumers(queue)) === 0 && (await client.queueDepth(queue)) === orders.length, BROKER_MS);
    expect(commands.stats.accepted).toBe(0);
    // The late answers arrive: the retry subscribes once, and each message is handled once.
    proxy.resume();
    await eventually(() => commands.attached, BROKER_MS);
    await eventually(() => commands.stats.accepted === orders.length, BROKER_MS);
    await new Promise((r) => setTimeout(r, 1200));
    expect(await consumers(queue)).toBe(1);
    expect(await consumers(priorityQueueOf(config.amqp))).toBe(1);
    expect(commands.stats).toMatchObject({ accepted: orders.length, duplicates: 0, deadLettered: 0 });
    for (const order of orders) expect(deliveries.get(order)).toBe(1);
    expect(await client.queueDepth(queue)).toBe(0);
    await laneKeptItsMessage();
  });

  it('stop during a subscription the broker does not answer returns within the bound and leaves no consumer, also once the broker answers', async () => {
    const commands = consumer();
    proxy.stallAt(AMQP_METHOD.basicConsume);
    const starting = commands.start();
    await eventually(() => proxy.stalled === 1, BROKER_MS);
    const stopping = await within(commands.stop());
    expect(stopping.outcome).toBeUndefined();
    expect(stopping.ms).toBeLessThan(2 * BOUND_MS + 1000);
    expect(await within(starting)).toMatchObject({ outcome: undefined });
    await laneKeptItsMessage();
    // The broker reads the late consume, then the close of its channel; no retry follows a stop.
    proxy.resume();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await consumers(config.amqp.commandsQueue)).toBe(0);
    expect(await consumers(priorityQueueOf(config.amqp))).toBe(0);
    expect(commands.attached).toBe(false);
  });

  it('stop with a shutdown budget during a subscription the broker does not answer waits for it only within the budget, and still leaves no consumer once the broker answers', async () => {
    const commands = consumer();
    proxy.stallAt(AMQP_METHOD.basicConsume);
    const starting = commands.start();
    await eventually(() => proxy.stalled === 1, BROKER_MS);
    // 180 ms left (a quarter kept back as the margin): less than the consume's bound and its channel's close.
    const budget = ShutdownBudget.of(240);
    const stopping = await within(commands.stop(budget));
    expect(stopping.outcome).toBeUndefined();
    // Within the budget (and some slack), not the consume's own bound, let alone the bound and its channel's close.
    expect(stopping.ms).toBeLessThan(BOUND_MS);
    expect(budget.cut).toContain('consumer_setup');
    // The setup goes on by itself: its consume given up, its channel closed (given up too, the connection silent).
    expect(await within(starting)).toMatchObject({ outcome: undefined });
    await laneKeptItsMessage();
    proxy.resume();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await consumers(config.amqp.commandsQueue)).toBe(0);
    expect(await consumers(priorityQueueOf(config.amqp))).toBe(0);
  });

  it('stop with a shutdown budget: a lane whose consumer the broker cancelled is closed, once its message is acked, within what the budget leaves, not its own bound', async () => {
    const commands = consumer();
    await commands.start();
    // Its message under way (the ledger write held) when the broker cancels the lane's consumer (its queue deleted).
    const create = Ledger.prototype.create;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    jest.spyOn(Ledger.prototype, 'create').mockImplementation(async function (this: Ledger, ...args: Parameters<Ledger['create']>) {
      calls += 1;
      if (calls === 1) await released;
      return create.apply(this, args);
    });
    await client.publish('web.payment.authorize', channelCommand('authorize'));
    await eventually(() => calls === 1, BROKER_MS);
    const ch = await client.model.createChannel();
    await ch.deleteQueue(config.amqp.commandsQueue);
    await ch.close();
    await eventually(() => logs.lines.some((l) => l.includes('command consumer lost its lane: consumer_cancelled')), BROKER_MS);
    // The broker goes silent from the next channel close on: the retiring lane's, once its message is acked.
    proxy.stallAt(AMQP_METHOD.channelClose);
    // 150 ms left (a quarter kept back as the margin): less than the close's own bound.
    const budget = ShutdownBudget.of(200);
    const stopping = within(commands.stop(budget));
    release();
    const { outcome, ms } = await stopping;
    expect(outcome).toBeUndefined();
    expect(commands.stats.accepted).toBe(1);
    expect(proxy.stalled).toBe(1);
    expect(ms).toBeLessThan(BOUND_MS);
    expect(budget.cut).toContain('command_consumer');
  });

  it('stop while a lane is still being set up cancels the lanes already consuming first: a message delivered after stop began is left unacked once, never worked on nor redelivered in a loop', async () => {
    const model = connection.current();
    const createChannel = model.createChannel.bind(model);
    const priority = priorityQueueOf(config.amqp);
    let wedged = false;
    // A wedged channel process: the priority lane's consume is never answered; the commands lane's channel works.
    jest.spyOn(model, 'createChannel').mockImplementation(async () => {
      const ch = await createChannel();
      const consume = ch.consume.bind(ch);
      ch.consume = ((queue: string, onMessage: (msg: ConsumeMessage | null) => void) => {
        if (queue !== priority) return consume(queue, onMessage);
        wedged = true;
        return new Promise(() => undefined);
      }) as Channel['consume'];
      return ch;
    });
    const commands = consumer();
    const starting = commands.start();
    await eventually(() => wedged, BROKER_MS);
    const stopping = commands.stop();
    await client.publish('web.payment.authorize', channelCommand('authorize'));
    expect((await within(stopping)).outcome).toBeUndefined();
    await within(starting);
    expect(commands.stats.accepted).toBe(0);
    // At most once left for the close (delivered between stop and its cancel); a loop counts hundreds.
    expect(commands.stats.requeued).toBeLessThanOrEqual(1);
    expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(1);
    expect(await consumers(config.amqp.commandsQueue)).toBe(0);
  });

  it('stop: a consumer cancel the broker does not answer is given up within the bound (counted, logged), the connection kept', async () => {
    const commands = consumer();
    await commands.start();
    expect(commands.attached).toBe(true);
    await client.publish('web.payment.authorize', channelCommand('authorize'));
    await eventually(() => commands.stats.accepted === 1, BROKER_MS);
    const cancels = await metricValue('pb_amqp_call_timeouts_total', { what: 'consumer_cancel' });
    const closes = await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'command_consumer' });
    proxy.stallAt(AMQP_METHOD.basicCancel);
    const stopping = await within(commands.stop());
    expect(stopping.outcome).toBeUndefined();
    // The cancels' bound, then the closes' (not answered either: the connection is silent from the stall on).
    expect(stopping.ms).toBeLessThan(2 * BOUND_MS + 1000);
    expect(await metricValue('pb_amqp_call_timeouts_total', { what: 'consumer_cancel' })).toBe(cancels + 2);
    expect(await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'command_consumer' })).toBe(closes + 2);
    expect(logs.lines.some((l) => l.includes('rabbitmq did not answer in time') && l.includes('"what":"consumer_cancel"'))).toBe(true);
    await laneKeptItsMessage();
    expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(0);
  });

  it('stop: a message delivered after stop began (its cancel not answered) is left unacked for the close, never worked on', async () => {
    const commands = consumer();
    await commands.start();
    proxy.stallAt(AMQP_METHOD.basicCancel);
    const stopping = commands.stop();
    // The broker never read the cancel: it still delivers to the consumer.
    await client.publish('web.payment.authorize', channelCommand('authorize'));
    await eventually(() => commands.stats.requeued === 1, BROKER_MS);
    expect((await within(stopping)).outcome).toBeUndefined();
    expect(commands.stats.accepted).toBe(0);
    await laneKeptItsMessage();
    // Once the broker reads the cancel and the channel's close, the message waits in its queue for the next consumer.
    proxy.resume();
    await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === 1, BROKER_MS);
    expect(commands.stats.accepted).toBe(0);
  });

  it('stop: messages delivered while its cancel is held unanswered (the broker reads the rest) are left unacked, delivered once, never nacked into a loop; after a restart each is handled exactly once', async () => {
    const deliveries = countDeliveries();
    const commands = consumer();
    await commands.start();
    // A broker that reads everything but the cancel: a nack of a message delivered after stop began would requeue
    // it to this same consumer at once, again and again until the close.
    proxy.withhold(AMQP_METHOD.basicCancel);
    const stopping = commands.stop();
    const orders = ['ORD-LATE-A', 'ORD-LATE-B', 'ORD-LATE-C'];
    for (const order of orders) await client.publish('web.payment.authorize', channelCommand('authorize', {}, { order_id: order }));
    await eventually(() => orders.every((o) => deliveries.has(o)), BROKER_MS);
    // Longer than a loop needs to go round many times.
    await new Promise((r) => setTimeout(r, 300));
    expect((await within(stopping)).outcome).toBeUndefined();
    expect(proxy.withheld).toBe(2);
    for (const order of orders) expect(deliveries.get(order)).toBe(1);
    expect(commands.stats.accepted).toBe(0);
    expect(commands.stats.requeued).toBe(orders.length);
    // The stop's channel close returned them to the queue.
    await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === orders.length, BROKER_MS);
    await laneKeptItsMessage();
    // A restart: each is handled once, and none is delivered a third time.
    proxy.withhold(null);
    const again = consumer();
    await again.start();
    await eventually(() => again.stats.accepted === orders.length, BROKER_MS);
    await new Promise((r) => setTimeout(r, 300));
    expect(again.stats).toMatchObject({ accepted: orders.length, duplicates: 0, requeued: 0, deadLettered: 0 });
    for (const order of orders) expect(deliveries.get(order)).toBe(2);
    expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(0);
  });

  it('stop: a message given back from the in-flight slot queue and delivered again while the cancel goes unanswered counts once in stats.requeued', async () => {
    // One slot, held by a delivery that waits until the test lets it go: the other messages wait for the slot.
    let release = (): void => undefined;
    const blocker = new Promise<void>((resolve) => (release = resolve));
    const inline = { prepare: () => null, run: () => blocker.then(() => ({ kind: 'done', state: 'SUCCEEDED' })) } as unknown as InlineDelivery;
    const deliveries = countDeliveries();
    const commands = consumer({ inflight: new InflightGate(1), inline });
    await commands.start();
    const orders = ['ORD-SLOT-A', 'ORD-SLOT-B', 'ORD-SLOT-C'];
    for (const order of orders) await client.publish('web.payment.authorize', channelCommand('authorize', {}, { order_id: order }));
    await eventually(() => orders.every((o) => deliveries.has(o)), BROKER_MS);
    // The broker never reads the cancel: the messages given back from the slot queue come straight back here.
    proxy.withhold(AMQP_METHOD.basicCancel);
    const stopping = commands.stop();
    const waited = orders.length - 1;
    await eventually(() => orders.filter((o) => deliveries.get(o) === 2).length === waited, BROKER_MS);
    release();
    expect((await within(stopping)).outcome).toBeUndefined();
    // Each given back once and left for the close once: one message handed back, counted once.
    expect(commands.stats.accepted).toBe(1);
    expect(commands.stats.requeued).toBe(waited);
    await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === waited, BROKER_MS);
    proxy.withhold(null);
  });

  it('stop: a message given back from the in-flight slot queue is remembered by a digest, never by its body (nothing of it kept after its nack)', async () => {
    let release = (): void => undefined;
    const blocker = new Promise<void>((resolve) => (release = resolve));
    const inline = { prepare: () => null, run: () => blocker.then(() => ({ kind: 'done', state: 'SUCCEEDED' })) } as unknown as InlineDelivery;
    const deliveries = countDeliveries();
    const commands = consumer({ inflight: new InflightGate(1), inline });
    await commands.start();
    const orders = ['ORD-KEPT-A', 'ORD-KEPT-B'];
    for (const order of orders) await client.publish('web.payment.authorize', channelCommand('authorize', {}, { order_id: order }));
    await eventually(() => orders.every((o) => deliveries.has(o)), BROKER_MS);
    // The cancel answered: the message given back goes to the queue, not here again, and stays remembered until the exit.
    const stopping = commands.stop();
    await eventually(() => commands.stats.requeued === 1, BROKER_MS);
    release();
    expect((await within(stopping)).outcome).toBeUndefined();
    const kept = [...(commands as unknown as { handedBack: Map<string, number> }).handedBack.keys()];
    expect(kept).toHaveLength(1);
    // A command's body may carry what must not linger (a card number a channel sent by mistake): only its digest stays.
    expect(kept[0]).not.toContain('ORD-KEPT');
    expect(kept[0].length).toBeLessThanOrEqual(64);
  });

  it('stop: a channel close the broker does not answer is given up within the bound (counted, logged), the connection kept', async () => {
    const commands = consumer();
    await commands.start();
    const closes = await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'command_consumer' });
    proxy.stallAt(AMQP_METHOD.channelClose);
    const stopping = await within(commands.stop());
    expect(stopping.outcome).toBeUndefined();
    expect(stopping.ms).toBeLessThan(BOUND_MS + 1000);
    expect(await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'command_consumer' })).toBe(closes + 2);
    expect(logs.lines.some((l) => l.includes('amqp channel did not close in time: the close is given up') && l.includes('"what":"command_consumer"'))).toBe(
      true,
    );
    await laneKeptItsMessage();
  });

  describe('broker dead-letter redactor', () => {
    /** A writer that counts its writes and holds each one until `release` resolves (resolved at once by default). */
    class HeldWriter extends DeadLetterWriter {
      writes = 0;
      release: Promise<void> = Promise.resolve();
      override async write(...args: Parameters<DeadLetterWriter['write']>): ReturnType<DeadLetterWriter['write']> {
        this.writes += 1;
        await this.release;
        return super.write(...args);
      }
    }

    function redactor(writer?: (made: HeldWriter) => void): BrokerDeadLetterRedactor {
      const publisher = new ConfirmPublisher(connection, BOUND_MS, (ch) => declareTopology(ch, config.amqp));
      const deadLetters = new HeldWriter(
        publisher,
        config.amqp,
        new DeadLetterTriage({ redis, keyPrefix: config.redis.keyPrefix, triage: config.channels.triage, logger: logs.logger }),
        deadLetterStampKey(config.serviceBus.secret),
      );
      writer?.(deadLetters);
      const made = new BrokerDeadLetterRedactor({ config, connection, deadLetters, logger: logs.logger });
      cleanup.push(
        () => made.stop(),
        () => publisher.close(),
      );
      return made;
    }

    it('a consume not answered gives up within the bound (counted, logged), keeps the connection; once the broker answers, one consumer', async () => {
      const redacting = redactor();
      const timeouts = await metricValue('pb_amqp_call_timeouts_total', { what: 'redactor_subscribe' });
      proxy.stallAt(AMQP_METHOD.basicConsume);
      const starting = await within(redacting.start());
      expect(starting.outcome).toBeUndefined();
      expect(starting.ms).toBeLessThan(2 * BOUND_MS + 1000);
      expect(await metricValue('pb_amqp_call_timeouts_total', { what: 'redactor_subscribe' })).toBe(timeouts + 1);
      expect(logs.lines.some((l) => l.includes('broker dead-letter redactor cannot subscribe: rabbitmq did not answer in time; not consuming, retrying'))).toBe(
        true,
      );
      await laneKeptItsMessage();
      proxy.resume();
      await eventually(async () => (await consumers(brokerRejectedQueueOf(config.amqp))) === 1, BROKER_MS);
      await new Promise((r) => setTimeout(r, 1200));
      expect(await consumers(brokerRejectedQueueOf(config.amqp))).toBe(1);
      await laneKeptItsMessage();
    });

    it('a consume the broker did but answered after the bound leaves no consumer holding its message: back in the queue, then written once by the one consumer the retry sets up', async () => {
      const queue = brokerRejectedQueueOf(config.amqp);
      const ch = await client.model.createConfirmChannel();
      ch.sendToQueue(queue, Buffer.from('{"order_id":"ORD-REJECTED-LATE"}'), { persistent: true });
      await ch.waitForConfirms();
      await ch.close();
      let writer!: HeldWriter;
      const redacting = redactor((made) => (writer = made));
      proxy.holdRepliesAt(AMQP_METHOD.basicConsumeOk);
      const starting = await within(redacting.start());
      expect(starting.outcome).toBeUndefined();
      expect(proxy.repliesHeld).toBe(1);
      expect(proxy.heldReplies(AMQP_METHOD.basicDeliver)).toBe(1);
      expect(logs.lines.some((l) => l.includes('broker dead-letter redactor gave up a consume not answered in time') && l.includes(`"queue":"${queue}"`))).toBe(
        true,
      );
      await eventually(async () => (await consumers(queue)) === 0 && (await client.queueDepth(queue)) === 1, BROKER_MS);
      proxy.resume();
      await eventually(() => writer.writes === 1, BROKER_MS);
      await eventually(async () => (await client.queueDepth(queue)) === 0, BROKER_MS);
      await new Promise((r) => setTimeout(r, 1200));
      expect(await consumers(queue)).toBe(1);
      expect(writer.writes).toBe(1);
      // The other lane's message is still its own (the dead-letter queue now holds the one written copy).
      expect(lost).toBe(0);
      expect(held).toHaveLength(1);
      expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);
    });

    it('stop during a subscription the broker does not answer returns within the bound and leaves no consumer, also once the broker answers', async () => {
      const redacting = redactor();
      proxy.stallAt(AMQP_METHOD.basicConsume);
      const starting = redacting.start();
      await eventually(() => proxy.stalled === 1, BROKER_MS);
      const stopping = await within(redacting.stop());
      expect(stopping.outcome).toBeUndefined();
      expect(stopping.ms).toBeLessThan(2 * BOUND_MS + 1000);
      expect(await within(starting)).toMatchObject({ outcome: undefined });
      await laneKeptItsMessage();
      proxy.resume();
      await new Promise((r) => setTimeout(r, 1500));
      expect(await consumers(brokerRejectedQueueOf(config.amqp))).toBe(0);
    });

    /** Has the broker dead-letter `order` by itself: published to a side queue with the dead-letter exchange, rejected there. */
    async function brokerDeadLetters(order: string): Promise<void> {
      const ch = await client.model.createChannel();
      const side = `${config.amqp.commandsQueue}:side`;
      await ch.assertQueue(side, { durable: false, autoDelete: false, arguments: { 'x-dead-letter-exchange': config.amqp.deadLetterExchange } });
      ch.sendToQueue(side, Buffer.from(JSON.stringify({ order_id: order })));
      let got: Awaited<ReturnType<Channel['get']>> = false;
      await eventually(async () => (got = await ch.get(side)) !== false, BROKER_MS);
      ch.nack(got as unknown as ConsumeMessage, false, false);
      await ch.deleteQueue(side);
      await ch.close();
    }

    it('stop with a shutdown budget: a channel whose consumer the broker cancelled is closed, once its message is written, within what the budget leaves, not its own bound', async () => {
      let writer!: HeldWriter;
      const redacting = redactor((w) => (writer = w));
      await redacting.start();
      let release!: () => void;
      writer.release = new Promise((r) => (release = r));
      await brokerDeadLetters('ORD-RETIRING');
      await eventually(() => writer.writes === 1, BROKER_MS);
      // Its consumer cancelled (the queue deleted) while the message is being written: closed once that is done.
      const ch = await client.model.createChannel();
      await ch.deleteQueue(brokerRejectedQueueOf(config.amqp));
      await ch.close();
      await eventually(() => logs.lines.some((l) => l.includes('broker dead-letter redactor lost its lane: consumer_cancelled')), BROKER_MS);
      // The broker goes silent from the next channel close on.
      proxy.stallAt(AMQP_METHOD.channelClose);
      // 150 ms left (a quarter kept back as the margin): less than the close's own bound.
      const budget = ShutdownBudget.of(200);
      const stopping = within(redacting.stop(budget));
      release();
      const { outcome, ms } = await stopping;
      expect(outcome).toBeUndefined();
      expect(proxy.stalled).toBe(1);
      expect(ms).toBeLessThan(BOUND_MS);
      expect(budget.cut).toContain('dead_letter_redactor');
    });

    it('stop with a shutdown budget: a write in flight that does not end is abandoned within the budget (counted, warn line), left unacked for the close; ended late, it acks nothing', async () => {
      let writer!: HeldWriter;
      const redacting = redactor((w) => (writer = w));
      await redacting.start();
      let release!: () => void;
      writer.release = new Promise((r) => (release = r));
      const abandoned = await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'worker', work: 'dead_letter' });
      await brokerDeadLetters('ORD-ABANDONED-WRITE');
      await eventually(() => writer.writes === 1, BROKER_MS);
      // 600 ms left of an 800 ms deadline (a quarter kept back); the write never ends within it.
      const budget = ShutdownBudget.of(800);
      const { outcome, ms } = await within(redacting.stop(budget));
      // The wait for writes in flight has no bound of its own: a stop that ignored the budget would hang on this
      // write until within() gives up (5 s). The budget cut it (`cut`); how fast the stop then ends is no part of
      // it, so the bound is wide enough for a stalled CI machine and still far from a hang.
      expect(outcome).toBeUndefined();
      expect(budget.cut).toContain('redactor_in_flight');
      expect(ms).toBeLessThan(3_000);
      expect(await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'worker', work: 'dead_letter' })).toBe(abandoned + 1);
      const warn = logs.lines.find((l) => l.includes('broker dead-letter redactor stop: writes in flight abandoned at shutdown.deadline_ms'));
      expect(warn).toBeDefined();
      expect(JSON.parse(warn as string)).toMatchObject({ level: 'warn', abandoned: 1 });
      // The channel's close gave it back to the broker-rejected queue.
      await eventually(async () => (await client.queueDepth(brokerRejectedQueueOf(config.amqp))) === 1, BROKER_MS);
      await laneKeptItsMessage();
      // Its write ends late: the record is written (its mark keeps a redelivery's second one out), the message not acked.
      release();
      await eventually(async () => (await client.queueDepth(config.amqp.deadLetterQueue)) === 1, BROKER_MS);
      expect(await client.queueDepth(brokerRejectedQueueOf(config.amqp))).toBe(1);
      expect(lost).toBe(0);
    });

    it('stop: the consumer is cancelled first; a message the broker dead-letters while the work in flight finishes stays in the broker-rejected queue, never written by this redactor', async () => {
      let writer!: HeldWriter;
      const redacting = redactor((w) => (writer = w));
      await redacting.start();
      let release!: () => void;
      writer.release = new Promise((r) => (release = r));
      await brokerDeadLetters('ORD-IN-FLIGHT');
      await eventually(() => writer.writes === 1, BROKER_MS);
      const stopping = redacting.stop();
      // Let the cancel reach the broker, then dead-letter another message while the first is still being written.
      await new Promise((r) => setTimeout(r, 200));
      await brokerDeadLetters('ORD-AFTER-STOP');
      await new Promise((r) => setTimeout(r, 300));
      release();
      expect((await within(stopping)).outcome).toBeUndefined();
      // The one in flight was written; the one dead-lettered after stop began was neither delivered nor written.
      expect(writer.writes).toBe(1);
      expect(await client.queueDepth(brokerRejectedQueueOf(config.amqp))).toBe(1);
      expect(await consumers(brokerRejectedQueueOf(config.amqp))).toBe(0);
      // One redacted record in the dead-letter queue (the other lane holds the message it had): the one in flight's.
      expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);
      expect(lost).toBe(0);
    });

    it('stop: a consumer cancel not answered is given up within the bound (counted, logged); a message delivered meanwhile is left unacked for the close, never written', async () => {
      let writer!: HeldWriter;
      const redacting = redactor((w) => (writer = w));
      await redacting.start();
      const cancels = await metricValue('pb_amqp_call_timeouts_total', { what: 'redactor_cancel' });
      proxy.stallAt(AMQP_METHOD.basicCancel);
      const stopping = within(redacting.stop());
      // The broker never read the cancel: it still delivers to the consumer.
      await brokerDeadLetters('ORD-CANCEL-STALLED');
      const stopped = await stopping;
      expect(stopped.outcome).toBeUndefined();
      // The cancel's bound, then the close's (not answered either: the connection is silent from the stall on).
      expect(stopped.ms).toBeLessThan(2 * BOUND_MS + 1000);
      expect(await metricValue('pb_amqp_call_timeouts_total', { what: 'redactor_cancel' })).toBe(cancels + 1);
      expect(logs.lines.some((l) => l.includes('rabbitmq did not answer in time') && l.includes('"what":"redactor_cancel"'))).toBe(true);
      expect(writer.writes).toBe(0);
      await laneKeptItsMessage();
      // Once the broker reads the cancel and the channel's close, the message waits in its queue for the next redactor.
      proxy.resume();
      await eventually(async () => (await client.queueDepth(brokerRejectedQueueOf(config.amqp))) === 1, BROKER_MS);
      expect(writer.writes).toBe(0);
    });

    it('stop: what the broker dead-letters while the cancel is held unanswered (the broker reads the rest) is left unacked, delivered once, never written nor nacked into a loop; a restarted redactor writes it once', async () => {
      const deliveries = countDeliveries();
      let writer!: HeldWriter;
      const redacting = redactor((w) => (writer = w));
      await redacting.start();
      proxy.withhold(AMQP_METHOD.basicCancel);
      const stopping = redacting.stop();
      await brokerDeadLetters('ORD-LATE-REDACT');
      await eventually(() => deliveries.has('ORD-LATE-REDACT'), BROKER_MS);
      await new Promise((r) => setTimeout(r, 300));
      expect((await within(stopping)).outcome).toBeUndefined();
      expect(proxy.withheld).toBe(1);
      expect(deliveries.get('ORD-LATE-REDACT')).toBe(1);
      expect(writer.writes).toBe(0);
      expect(logs.lines.some((l) => l.includes('broker dead-letter redactor stopped') && l.includes('"given_back":1'))).toBe(true);
      await eventually(async () => (await client.queueDepth(brokerRejectedQueueOf(config.amqp))) === 1, BROKER_MS);
      proxy.withhold(null);
      let rewriter!: HeldWriter;
      const again = redactor((w) => (rewriter = w));
      await again.start();
      await eventually(async () => (await client.queueDepth(brokerRejectedQueueOf(config.amqp))) === 0, BROKER_MS);
      await new Promise((r) => setTimeout(r, 300));
      expect(rewriter.writes).toBe(1);
      expect(deliveries.get('ORD-LATE-REDACT')).toBe(2);
      // The other lane's message (unacked, so not in the depth) and the one redacted record.
      expect(await client.queueDepth(config.amqp.deadLetterQueue)).toBe(1);
    });

    it('stop: a channel close not answered is given up within the bound, the connection kept', async () => {
      const redacting = redactor();
      await redacting.start();
      const closes = await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'dead_letter_redactor' });
      proxy.stallAt(AMQP_METHOD.channelClose);
      const stopping = await within(redacting.stop());
      expect(stopping.outcome).toBeUndefined();
      expect(stopping.ms).toBeLessThan(BOUND_MS + 1000);
      expect(await metricValue('pb_amqp_channel_close_timeouts_total', { what: 'dead_letter_redactor' })).toBe(closes + 1);
      await laneKeptItsMessage();
    });
  });
});
