import amqplib, { ConfirmChannel } from 'amqplib';

/** What the raw AMQP baseline measured. */
export interface RawAmqpResult {
  messages: number;
  messageBytes: number;
  seconds: number;
  /** Messages published (confirmed) and consumed (acked) per second, end to end. */
  perSecond: number;
  /** Publish-side rate (until the last confirm), messages/s. */
  publishPerSecond: number;
}

/** A JSON-ish body of exactly `size` bytes, shaped like a command. */
export function commandSizedBody(size: number): Buffer {
  const prefix = '{"version":1,"command":"authorize","pad":"';
  return Buffer.from(`${prefix}${'x'.repeat(Math.max(0, size - prefix.length - 2))}"}`);
}

/**
 * Publishes `messages` copies of `body` to `queue`, persistent, with at most `window` unconfirmed; resolves
 * once every one is confirmed, rejects on the first nack.
 */
export async function publishConfirmed(channel: ConfirmChannel, queue: string, body: Buffer, messages: number, window: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(window, messages) }, async () => {
      for (let i = next++; i < messages; i = next++) {
        await new Promise<void>((resolve, reject) =>
          channel.sendToQueue(queue, body, { persistent: true, contentType: 'application/json' }, (err) => (err ? reject(err) : resolve())),
        );
      }
    }),
  );
}

/**
 * The broker's own ceiling for our message shape: persistent messages of `messageBytes` bytes (default
 * 600, the size of a canonical command) published with confirms, at most `window` unconfirmed (default
 * 500), to a durable classic queue of our namespace, consumed and acked one by one by a single consumer
 * with prefetch `prefetch` (default 200). Measured from the first publish to the last ack; the queue is
 * deleted at the end.
 */
export async function rawAmqpBaseline(options: {
  url: string;
  queue: string;
  messages: number;
  messageBytes?: number;
  window?: number;
  prefetch?: number;
  onProgress?: (acked: number) => void;
}): Promise<RawAmqpResult> {
  const body = commandSizedBody(options.messageBytes ?? 600);
  // Publisher and consumer on their own connections, as a channel and the bridge's worker would be.
  const connection = await amqplib.connect(options.url);
  const consumerConnection = await amqplib.connect(options.url);
  try {
    const pub = await connection.createConfirmChannel();
    const con = await consumerConnection.createChannel();
    await pub.assertQueue(options.queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
    await con.prefetch(options.prefetch ?? 200);
    let acked = 0;
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((r) => (resolveDone = r));
    await con.consume(options.queue, (msg) => {
      if (!msg) return;
      con.ack(msg);
      acked += 1;
      if (acked % 500 === 0) options.onProgress?.(acked);
      if (acked >= options.messages) resolveDone();
    });
    const started = process.hrtime.bigint();
    await publishConfirmed(pub, options.queue, body, options.messages, options.window ?? 500);
    const publishSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    await done;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    options.onProgress?.(acked);
    await con.close();
    await pub.deleteQueue(options.queue);
    await pub.close();
    return {
      messages: options.messages,
      messageBytes: body.length,
      seconds,
      perSecond: options.messages / seconds,
      publishPerSecond: options.messages / publishSeconds,
    };
  } finally {
    await connection.close().catch(() => undefined);
    await consumerConnection.close().catch(() => undefined);
  }
}
