import amqplib from 'amqplib';
import { coalesceFrameWrites } from '../../src/amqp/frame-write-coalescing';
import { AckBatcher } from '../../src/intake/ack-batcher';
import { processCpuMicros } from './process-cpu';
import { commandSizedBody, publishConfirmed } from './raw-amqp-baseline';

/** What the broker cost at a given rate, with nothing of the bridge beside it. */
export interface BrokerAloneResult {
  messages: number;
  /** Drain rate the consumers' prefetch was sized for, messages/s. */
  offeredPerSecond: number;
  /** Prefetch of each consumer. */
  prefetch: number;
  /** Rate achieved, first publish to last ack, messages/s. */
  perSecond: number;
  /** The broker process's CPU (user + system) over the run, divided by the messages, µs; null when its pid is unknown. */
  rabbitmqCpuMicrosPerMessage: number | null;
}

/**
 * RabbitMQ's own cost per message with nothing of the bridge in the loop, shaped like the closed run it is
 * compared with: `messages` persistent messages of `messageBytes` (default 300, a command's size) published
 * with confirms, at most `window` unconfirmed, to a durable queue of `queueType`; `consumers` channels, each
 * on its own connection as a worker's is, every message held a uniform `holdMs` before its ack, as a worker
 * holds a command through its PSP call. The consumers ack as the workers do (`AckBatcher`: a run finished at
 * the head with one `multiple` ack, the rest one each, once per tick; `coalesceFrameWrites`: one socket write
 * per pass of amqplib's frame multiplexer).
 * Each consumer's prefetch is what Little's law gives for `perSecond` at the mean hold, so the queue drains
 * at about the rate the flow did. The broker's CPU is read from /proc for `rabbitmqPid` from the first
 * publish to the last ack. The queue is deleted at the end.
 *
 * Why: the bench charges RabbitMQ's CPU to each command. This says what the same traffic costs the broker
 * with nothing else of the bridge's beside it. It is not a lower bound: in its first runs the broker cost
 * more per message alone than in the flow, where it is loaded and works through messages in batches
 * (docs/BENCHMARKS.md).
 */
export async function brokerAlone(options: {
  url: string;
  queue: string;
  queueType: 'quorum' | 'classic';
  messages: number;
  perSecond: number;
  consumers: number;
  window: number;
  holdMs: readonly [number, number];
  rabbitmqPid: number | null;
  messageBytes?: number;
}): Promise<BrokerAloneResult> {
  const body = commandSizedBody(options.messageBytes ?? 300);
  const [minHold, maxHold] = options.holdMs;
  const prefetch = Math.max(1, Math.ceil((options.perSecond * ((minHold + maxHold) / 2)) / 1000 / options.consumers));
  const publisherConnection = await amqplib.connect(options.url, { noDelay: true });
  const consumerConnections = await Promise.all(Array.from({ length: options.consumers }, () => amqplib.connect(options.url, { noDelay: true })));
  const timers = new Set<NodeJS.Timeout>();
  try {
    const pub = await publisherConnection.createConfirmChannel();
    await pub.assertQueue(options.queue, { durable: true, arguments: { 'x-queue-type': options.queueType } });
    let acked = 0;
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    for (const connection of consumerConnections) {
      coalesceFrameWrites(connection);
      const channel = await connection.createChannel();
      await channel.prefetch(prefetch);
      const acks = new AckBatcher(channel);
      await channel.consume(options.queue, (msg) => {
        if (!msg) return;
        acks.track(msg);
        const timer = setTimeout(
          () => {
            timers.delete(timer);
            acks.ack(msg);
            acked += 1;
            if (acked === options.messages) resolveDone();
          },
          minHold + Math.random() * (maxHold - minHold),
        );
        timers.add(timer);
      });
    }
    const cpuBefore = processCpuMicros(options.rabbitmqPid ?? undefined);
    const started = performance.now();
    const publishing = publishConfirmed(pub, options.queue, body, options.messages, options.window);
    // A broker that stops confirming or delivering must not hang the bench: give up well past the expected time.
    const limitMs = (options.messages / options.perSecond) * 3000 + maxHold + 30_000;
    let giveUp: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_resolve, reject) => {
      giveUp = setTimeout(() => reject(new Error(`broker alone: ${acked} of ${options.messages} acked after ${Math.round(limitMs)} ms`)), limitMs);
    });
    await Promise.race([Promise.all([done, publishing]), stuck]).finally(() => clearTimeout(giveUp));
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = processCpuMicros(options.rabbitmqPid ?? undefined);
    return {
      messages: options.messages,
      offeredPerSecond: options.perSecond,
      prefetch,
      perSecond: options.messages / seconds,
      rabbitmqCpuMicrosPerMessage: cpuBefore === null || cpuAfter === null ? null : (cpuAfter - cpuBefore) / options.messages,
    };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    // Deleted whatever happened, so a failed run leaves no queue (and no messages) behind.
    await publisherConnection
      .createChannel()
      .then((channel) => channel.deleteQueue(options.queue))
      .catch(() => undefined);
    await Promise.all([publisherConnection, ...consumerConnections].map((c) => c.close().catch(() => undefined)));
  }
}
