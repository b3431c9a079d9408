/**
 * A lane the broker takes away while the connection stays up (real RabbitMQ and Redis, own namespace): its channel
 * closed by a channel error (an ack of an unknown delivery tag: 406 PRECONDITION_FAILED), or its consumer cancelled
 * (its queue deleted). Readiness drops at once, the loss is logged and counted, and the subscription retry sets the
 * lane up again (declaring the deleted queue again), with one consumer on the queue, which is consumed again. The
 * broker dead-letter redactor likewise consumes again after its queue is deleted or its channel closed.
 */
import { Channel, Message } from 'amqplib';
import { priorityQueueOf } from '../../../src/admission/command-priority';
import { dropConnectionOf } from '../../../src/amqp/broker-deadline';
import { brokerRejectedQueueOf } from '../../../src/amqp/topology';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(30000);

/** The consumer's lanes, reached into only to make the broker close one's channel (no broker API closes a channel). */
interface LaneView {
  queue: string;
  channel: Channel;
}

describe('a consumer lane the broker closes or cancels while the connection stays up (real RabbitMQ and Redis)', () => {
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let logs: ReturnType<typeof captureLogger>;
  let intake: IntakeProcess;
  /** A test that stops the process itself. */
  let stopped: boolean;
  /**
   * Each lane loss as the consumer handled it, with readiness read right then. The drop lasts only until the retry
   * (~1 s): a poll of readiness on a stalled machine can miss it, a record of the loss cannot.
   */
  let losses: Array<{ queue: string; reason: string; attached: boolean }>;
  /** Runs right after a loss is handled, in the same tick (a test that stops at once). */
  let afterLoss: () => void;

  beforeEach(async () => {
    stopped = false;
    losses = [];
    afterLoss = () => undefined;
    config = testConfig({ 'backpressure.priority_lane': true });
    client = await amqpClient(config);
    logs = captureLogger('info');
    intake = await startIntakeProcess(config, logs.logger);
    // The consumer's one place a lane is lost, reached into as `lanes` is.
    const consumer = intake.consumer as unknown as { loseLane(lane: LaneView, reason: string, detail: string): void };
    const loseLane = consumer.loseLane.bind(consumer);
    jest.spyOn(consumer, 'loseLane').mockImplementation((lane, reason, detail) => {
      const held = lanesOf().includes(lane);
      loseLane(lane, reason, detail);
      // Only a lane it held and let go is lost (a lane of a stop, or one already gone, is not).
      if (!held || lanesOf().includes(lane)) return;
      losses.push({ queue: lane.queue, reason, attached: intake.consumer.attached });
      afterLoss();
    });
  });

  afterEach(async () => {
    if (!stopped) await intake.stop();
    await client.deleteNamespace();
    await client.close();
  });

  const consumers = async (queue: string): Promise<number> => {
    const ch = await client.model.createChannel();
    // A queue not declared again yet: its 404 closes this channel.
    ch.on('error', () => undefined);
    try {
      return (await ch.checkQueue(queue)).consumerCount;
    } finally {
      await ch.close().catch(() => undefined);
    }
  };

  const lanesOf = () => (intake.consumer as unknown as { lanes: LaneView[] }).lanes;
  const lostAnyLane = async (): Promise<number> => {
    let sum = 0;
    for (const role of ['commands', 'priority']) for (const reason of ['channel_closed', 'consumer_cancelled']) sum += await lost(role, reason);
    return sum;
  };

  const lost = (queueRole: string, reason: string) => metricValue('pb_consumer_lanes_lost_total', { queue_role: queueRole, reason });

  /** Back: ready, one consumer per queue (also after the retry's backoff), and a command published now is consumed. */
  async function consumesAgain(): Promise<void> {
    await eventually(() => intake.consumer.attached, 10000);
    await new Promise((r) => setTimeout(r, 1200));
    expect(intake.consumer.attached).toBe(true);
    expect(await consumers(config.amqp.commandsQueue)).toBe(1);
    expect(await consumers(priorityQueueOf(config.amqp))).toBe(1);
    const accepted = intake.consumer.stats.accepted;
    await client.publish('web.payment.authorize', channelCommand('authorize'));
    await eventually(() => intake.consumer.stats.accepted === accepted + 1, 5000);
  }

  it('a lane whose channel the broker closes (406 on an unknown delivery tag) drops readiness, is logged and counted, and is subscribed again', async () => {
    expect(intake.consumer.attached).toBe(true);
    const before = await lost('commands', 'channel_closed');
    const lanes = (intake.consumer as unknown as { lanes: LaneView[] }).lanes;
    const lane = lanes.find((l) => l.queue === config.amqp.commandsQueue) as LaneView;
    const closed = new Promise((resolve) => lane.channel.once('close', resolve));
    lane.channel.ack({ fields: { deliveryTag: 987654 } } as unknown as Message);
    await closed;
    expect(intake.consumer.attached).toBe(false);
    const line = logs.lines.find((l) => l.includes('command consumer lost its lane: channel_closed; subscribing again'));
    expect(line).toBeDefined();
    expect(line).toContain(config.amqp.commandsQueue);
    expect(line).toContain('PRECONDITION');
    expect(await lost('commands', 'channel_closed')).toBe(before + 1);
    await consumesAgain();
  });

  it("a message under way when its lane's channel closes is not lost: its ack is dropped, never sent on another channel, and its redelivery on the new lane is a duplicate", async () => {
    const lanes = (intake.consumer as unknown as { lanes: LaneView[] }).lanes;
    const lane = lanes.find((l) => l.queue === config.amqp.commandsQueue) as LaneView;
    const before = await lost('commands', 'channel_closed');
    // The first ledger write waits until released: the message is under way on the lane's channel.
    const create = intake.ledger.create.bind(intake.ledger);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    jest.spyOn(intake.ledger, 'create').mockImplementation(async (...args: Parameters<typeof create>) => {
      calls += 1;
      if (calls === 1) await released;
      return create(...args);
    });
    await client.publish('web.payment.authorize', channelCommand('authorize'));
    await eventually(() => calls === 1, 5000);
    const closed = new Promise((resolve) => lane.channel.once('close', resolve));
    lane.channel.ack({ fields: { deliveryTag: 987654 } } as unknown as Message);
    await closed;
    expect(intake.consumer.attached).toBe(false);
    // The broker requeued it: the lane set up again gets it, redelivered, and records the operation.
    await eventually(() => intake.consumer.stats.accepted === 1, 10000);
    release();
    await eventually(() => intake.consumer.stats.duplicates === 1, 5000);
    await new Promise((r) => setTimeout(r, 300));
    expect(intake.consumer.stats.accepted).toBe(1);
    expect(intake.consumer.stats.deadLettered).toBe(0);
    expect(intake.consumer.attached).toBe(true);
    expect(await consumers(config.amqp.commandsQueue)).toBe(1);
    expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(0);
    // Lost once: an ack of the old delivery tag sent on the new lane's channel would have closed it too (406).
    expect(await lost('commands', 'channel_closed')).toBe(before + 1);
  });

  it.each([
    ['commands', (c: Config) => c.amqp.commandsQueue],
    ['priority', (c: Config) => priorityQueueOf(c.amqp)],
  ] as const)(
    'a %s lane whose consumer the broker cancels (its queue deleted) drops readiness, is logged and counted, and consumes the queue declared again',
    async (role, queueOf) => {
      const queue = queueOf(config);
      const before = await lost(role, 'consumer_cancelled');
      const ch = await client.model.createChannel();
      await ch.deleteQueue(queue);
      await ch.close();
      // Readiness dropped with the loss (read when the consumer handled it, not polled: the drop lasts ~1 s).
      await eventually(() => losses.length > 0, 10000, 10);
      expect(losses).toEqual([{ queue, reason: 'consumer_cancelled', attached: false }]);
      await eventually(
        () => logs.lines.some((l) => l.includes('command consumer lost its lane: consumer_cancelled; subscribing again') && l.includes(queue)),
        10000,
      );
      expect(await lost(role, 'consumer_cancelled')).toBe(before + 1);
      await consumesAgain();
    },
  );

  it('the broker dead-letter redactor consumes again after its queue is deleted (consumer cancelled)', async () => {
    const queue = brokerRejectedQueueOf(config.amqp);
    expect(await consumers(queue)).toBe(1);
    const before = await lost('broker_rejected', 'consumer_cancelled');
    const ch = await client.model.createChannel();
    await ch.deleteQueue(queue);
    await ch.close();
    await eventually(() => logs.lines.some((l) => l.includes('broker dead-letter redactor lost its lane: consumer_cancelled; subscribing again')), 10000);
    expect(await lost('broker_rejected', 'consumer_cancelled')).toBe(before + 1);
    await eventually(async () => (await consumers(queue).catch(() => 0)) === 1, 10000);
    await new Promise((r) => setTimeout(r, 1200));
    expect(await consumers(queue)).toBe(1);
  });

  it('the broker dead-letter redactor consumes again after the broker closes its channel (406 on an unknown delivery tag)', async () => {
    const queue = brokerRejectedQueueOf(config.amqp);
    const before = await lost('broker_rejected', 'channel_closed');
    const channel = (intake.brokerDeadLetters as unknown as { channel: Channel }).channel;
    const closed = new Promise((resolve) => channel.once('close', resolve));
    channel.ack({ fields: { deliveryTag: 987654 } } as unknown as Message);
    await closed;
    expect(logs.lines.some((l) => l.includes('broker dead-letter redactor lost its lane: channel_closed; subscribing again'))).toBe(true);
    expect(await lost('broker_rejected', 'channel_closed')).toBe(before + 1);
    await eventually(async () => (await consumers(queue)) === 1, 10000);
    await new Promise((r) => setTimeout(r, 1200));
    expect(await consumers(queue)).toBe(1);
  });
  it('a lane whose consumer the broker cancels keeps its channel open while its message is under way, and closes it once that is acked', async () => {
    const lane = lanesOf().find((l) => l.queue === config.amqp.commandsQueue) as LaneView;
    let closedAt = 0;
    lane.channel.once('close', () => (closedAt = Date.now()));
    const errors: string[] = [];
    lane.channel.on('error', (err: Error) => errors.push(err.message));
    const create = intake.ledger.create.bind(intake.ledger);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    jest.spyOn(intake.ledger, 'create').mockImplementation(async (...args: Parameters<typeof create>) => {
      calls += 1;
      if (calls === 1) await released;
      return create(...args);
    });
    await client.publish('web.payment.authorize', channelCommand('authorize'));
    await eventually(() => calls === 1, 5000);
    const ch = await client.model.createChannel();
    await ch.deleteQueue(config.amqp.commandsQueue);
    await ch.close();
    await eventually(() => losses.length > 0, 10000, 10);
    expect(losses).toEqual([{ queue: config.amqp.commandsQueue, reason: 'consumer_cancelled', attached: false }]);
    await eventually(() => intake.consumer.attached, 10000);
    await new Promise((r) => setTimeout(r, 300));
    // Its message unacked: closing the channel now would have the broker requeue it while its work goes on.
    expect(closedAt).toBe(0);
    const releasedAt = Date.now();
    release();
    await eventually(() => closedAt > 0, 5000);
    expect(closedAt).toBeGreaterThanOrEqual(releasedAt);
    expect(errors).toEqual([]);
    expect(intake.consumer.stats.accepted).toBe(1);
    expect(await consumers(config.amqp.commandsQueue)).toBe(1);
  });

  it('a lost connection is not a lost lane: nothing counted or logged as one, and every lane consumes again once', async () => {
    const before = await lostAnyLane();
    // Readiness read when the connection's loss is handled (not polled: it is back after the reconnect delay).
    const dropped = new Promise<boolean>((resolve) => intake.connection.once('lost', () => resolve(intake.consumer.attached)));
    dropConnectionOf(lanesOf()[0].channel, 'dropped by the test');
    expect(await dropped).toBe(false);
    await eventually(() => intake.consumer.attached, 15000);
    expect(losses).toEqual([]);
    expect(await lostAnyLane()).toBe(before);
    expect(logs.lines.some((l) => l.includes('lost its lane'))).toBe(false);
    expect(await consumers(config.amqp.commandsQueue)).toBe(1);
    expect(await consumers(priorityQueueOf(config.amqp))).toBe(1);
  });

  it('a stop right after a lane is lost leaves no retry behind: the lane is neither subscribed nor its queue declared again', async () => {
    // The stop begins in the tick the loss is handled: its retry (~1 s later) is never due before it, however slow
    // the machine (a poll of readiness could miss the drop, or stop after the retry).
    let stopping: Promise<void> | undefined;
    afterLoss = () => {
      stopped = true;
      stopping = intake.stop();
    };
    const ch = await client.model.createChannel();
    await ch.deleteQueue(priorityQueueOf(config.amqp));
    await ch.close();
    await eventually(() => stopping !== undefined, 10000, 10);
    expect(losses).toEqual([{ queue: priorityQueueOf(config.amqp), reason: 'consumer_cancelled', attached: false }]);
    await stopping;
    await new Promise((r) => setTimeout(r, 2500));
    expect(await consumers(config.amqp.commandsQueue)).toBe(0);
    // Still deleted: its 404 closes the checking channel.
    expect(await consumers(priorityQueueOf(config.amqp)).catch(() => -1)).toBe(-1);
    expect(logs.lines.some((l) => l.includes('cannot subscribe'))).toBe(false);
  });

  it('a re-subscription the broker refuses (405: another connection holds an exclusive queue of that name) is retried with backoff until it goes through', async () => {
    const queue = config.amqp.commandsQueue;
    const other = await client.model.createChannel();
    await other.deleteQueue(queue);
    await other.assertQueue(queue, { exclusive: true, durable: false });
    await eventually(() => !intake.consumer.attached, 10000, 10);
    await new Promise((r) => setTimeout(r, 6000));
    // 1 s after the loss, then 1, 2, 4 s after each refusal: three tries in 6 s, never a spin, never given up.
    const tries = logs.lines.filter((l) => l.includes('command consumer cannot subscribe; not consuming, retrying')).length;
    expect(tries).toBeGreaterThanOrEqual(2);
    expect(tries).toBeLessThanOrEqual(4);
    expect(intake.consumer.attached).toBe(false);
    await other.deleteQueue(queue);
    await other.close();
    await eventually(() => intake.consumer.attached, 20000);
    await consumesAgain();
  });
});
