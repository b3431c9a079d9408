import amqp, { ChannelModel, GetMessage } from 'amqplib';
import { Config } from '../../src/config/config';
import { brokerRejectedQueueOf, declareTopology, parkedQueueOf, triageQueueOf } from '../../src/amqp/topology';
import { priorityExchangeOf, priorityQueueOf } from '../../src/admission/command-priority';
import { ChannelKeyring, channelSignatureHeaders, routingChannel } from '../../src/channels/channel-signature';
import { eventually } from './tcp-proxy';

/**
 * A plain AMQP client for tests: publish as another channel would (signed with the current key of the
 * routing key's channel, as a real publisher of that channel signs; `headers` replaces the signature,
 * `null` sends none), read the dead-letter queue.
 */
export async function amqpClient(config: Config): Promise<{
  model: ChannelModel;
  publish(routingKey: string, body: Buffer | object, headers?: Record<string, string> | null): Promise<void>;
  drainDeadLetters(): Promise<GetMessage[]>;
  queueDepth(queue: string): Promise<number>;
  deleteNamespace(): Promise<void>;
  close(): Promise<void>;
}> {
  const model = await amqp.connect(process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
  const ch = await model.createConfirmChannel();
  await declareTopology(ch, config.amqp);
  const keyring = new ChannelKeyring(config.channels.credentials, config.serviceBus.secret);
  return {
    model,
    publish: async (routingKey, body, headers) => {
      const content = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const key = keyring.currentKey(routingChannel(routingKey));
      const signature = headers === null ? {} : (headers ?? (key ? channelSignatureHeaders(content, key) : {}));
      // This message's own confirm: waitForConfirms waits on every publish still unconfirmed, which makes a
      // burst of concurrent publishes quadratic (1 500 took 22 s).
      await new Promise<void>((resolve, reject) =>
        ch.publish(config.amqp.commandsExchange, routingKey, content, { persistent: true, contentType: 'application/json', headers: signature }, (err) =>
          err ? reject(err instanceof Error ? err : new Error('the broker refused the publish (nack)')) : resolve(),
        ),
      );
    },
    drainDeadLetters: async () => {
      const out: GetMessage[] = [];
      for (;;) {
        const msg = await ch.get(config.amqp.deadLetterQueue, { noAck: true });
        if (!msg) return out;
        out.push(msg);
      }
    },
    queueDepth: async (queue) => (await ch.checkQueue(queue)).messageCount,
    deleteNamespace: async () => {
      await ch.deleteQueue(config.amqp.commandsQueue).catch(() => undefined);
      await ch.deleteQueue(config.amqp.deadLetterQueue).catch(() => undefined);
      await ch.deleteQueue(brokerRejectedQueueOf(config.amqp)).catch(() => undefined);
      await ch.deleteQueue(triageQueueOf(config.amqp)).catch(() => undefined);
      await ch.deleteQueue(parkedQueueOf(config.amqp)).catch(() => undefined);
      await ch.deleteQueue(priorityQueueOf(config.amqp)).catch(() => undefined);
      await ch.deleteExchange(config.amqp.commandsExchange).catch(() => undefined);
      await ch.deleteExchange(config.amqp.deadLetterExchange).catch(() => undefined);
      await ch.deleteExchange(priorityExchangeOf(config.amqp)).catch(() => undefined);
    },
    close: async () => {
      await model.close().catch(() => undefined);
    },
  };
}

/**
 * Drains the dead-letter queue until what it has read satisfies `done` (e.g. holds the test's own dead letter),
 * and returns all it read. A dead-letter count alone cannot tell whose letter it counted: another test's dead
 * letter confirmed late in the same namespace counts too, and a single drain after it may miss the test's own.
 */
export async function deadLettersUntil(
  client: { drainDeadLetters(): Promise<GetMessage[]> },
  done: (seen: GetMessage[]) => boolean,
  timeoutMs = 10_000,
): Promise<GetMessage[]> {
  const seen: GetMessage[] = [];
  await eventually(async () => {
    seen.push(...(await client.drainDeadLetters()));
    return done(seen);
  }, timeoutMs);
  return seen;
}

/** Whether `letter` is the dead letter of the command whose order id is `orderId` (the consumer's `x-pb-order-id`). */
export const ofOrder =
  (orderId: string | undefined) =>
  (letter: GetMessage): boolean =>
    orderId !== undefined && letter.properties.headers?.['x-pb-order-id'] === orderId;

/**
 * Whether `letter`'s body holds `value` as a whole JSON string (`"…"`, so one reference is never taken for a longer
 * one): a command's operation reference tells its dead letter where no order id header does (a body not parsed).
 */
export const holding =
  (value: string | undefined) =>
  (letter: GetMessage): boolean =>
    value !== undefined && letter.content.toString('utf8').includes(JSON.stringify(value));
