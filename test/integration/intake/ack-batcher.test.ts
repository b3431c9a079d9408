import { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { AckBatcher, AckHoldOptions } from '../../../src/intake/ack-batcher';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { testNamespace } from '../../support/test-config';

jest.setTimeout(60000);

// A full collection on demand, for the test of what the batcher keeps alive (a new context sees the flag).
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const url = process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const ticks = async (n: number) => {
  for (let i = 0; i < n; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

/** Delivers `count` messages to one consumer with an AckBatcher and hands them over once all have arrived. */
async function deliverAll(channel: Channel, queue: string, count: number, hold: AckHoldOptions = {}): Promise<{ acks: AckBatcher; msgs: ConsumeMessage[] }> {
  for (let i = 0; i < count; i += 1) channel.sendToQueue(queue, Buffer.from(String(i)));
  await channel.prefetch(count);
  const acks = new AckBatcher(channel, hold);
  const msgs: ConsumeMessage[] = [];
  await new Promise<void>((resolve) => {
    void channel.consume(queue, (msg) => {
      if (!msg) return;
      acks.track(msg);
      msgs.push(msg);
      if (msgs.length === count) resolve();
    });
  });
  return { acks, msgs };
}

/** The bodies of the messages back in `queue` (taken off it), then the queue deleted. */
async function takeBackAndDelete(model: ChannelModel, queue: string): Promise<string[]> {
  const check = await model.createChannel();
  const back: string[] = [];
  for (;;) {
    const msg = await check.get(queue, { noAck: true });
    if (!msg) break;
    back.push(msg.content.toString());
  }
  await check.deleteQueue(queue);
  await check.close();
  return back;
}

describe('AckBatcher on a real broker', () => {
  it.each([
    ['acked on its own at once (no hold)', { holdMs: 0 }],
    ['held up to 150 ms, at most 64 at a time (the defaults)', {}],
  ])(
    'acks every finished delivery exactly once, out of order, and never one still being handled: behind an unfinished head, %s',
    async (_name, hold: AckHoldOptions) => {
      const connection = new AmqpConnection({ url, logger: captureLogger('error').logger, name: 'ack-batcher-test' });
      const model = await connection.connect();
      const queue = `${testNamespace()}.ack-batcher`;
      const channel = await model.createChannel();
      const errors: Error[] = [];
      channel.on('error', (err: Error) => errors.push(err));
      await channel.assertQueue(queue, { durable: false, autoDelete: false });
      try {
        const count = 400;
        const { acks, msgs } = await deliverAll(channel, queue, count, hold);
        const scrambled = (from: number, to: number) =>
          Array.from({ length: to - from }, (_, k) => from + k).sort((a, b) => ((a * 7919) % count) - ((b * 7919) % count));
        const finishOverTicks = async (indexes: number[]) => {
          for (const [k, i] of indexes.entries()) {
            if (i === 301) {
              channel.nack(msgs[i], false, false);
              acks.forget(msgs[i]);
            } else acks.ack(msgs[i]);
            if (k % 37 === 0) await ticks(2);
          }
          await ticks(3);
        };
        // Behind an unfinished head: each is acked on its own.
        await finishOverTicks(scrambled(1, 150));
        // The head finishes with a fresh run behind it: one ack with allUpTo covers them and the ones already acked.
        for (const i of [0, ...scrambled(150, 181)]) acks.ack(msgs[i]);
        await ticks(3);
        // 200 stays unfinished; everything after it (one nacked) finishes out of order.
        await finishOverTicks([...scrambled(181, 200), ...scrambled(201, count)]);
        acks.ack(msgs[150]); // twice: the second is ignored
        await ticks(3);
        await new Promise((resolve) => setTimeout(resolve, 250)); // past any hold
        // A round trip on the channel: a double ack or an unknown tag would have closed it by now.
        await channel.checkQueue(queue);
        expect(errors).toEqual([]);
        await channel.close();
        // Only the unfinished one went back to the queue.
        expect(await takeBackAndDelete(model, queue)).toEqual(['200']);
      } finally {
        await connection.close();
      }
    },
  );

  it('acks a head run finished in one tick with a single frame covering it', async () => {
    const connection = new AmqpConnection({ url, logger: captureLogger('error').logger, name: 'ack-batcher-test' });
    const model = await connection.connect();
    const queue = `${testNamespace()}.ack-batcher-run`;
    const channel = await model.createChannel();
    await channel.assertQueue(queue, { durable: false, autoDelete: false });
    try {
      const { acks, msgs } = await deliverAll(channel, queue, 20);
      const sent: { tag: number; multiple: boolean }[] = [];
      const ack = channel.ack.bind(channel);
      channel.ack = (msg, allUpTo) => {
        sent.push({ tag: msg.fields.deliveryTag, multiple: allUpTo === true });
        ack(msg, allUpTo);
      };
      for (const msg of [...msgs].reverse()) acks.ack(msg);
      await ticks(3);
      expect(sent).toEqual([{ tag: msgs[19].fields.deliveryTag, multiple: true }]);
      expect((await channel.checkQueue(queue)).messageCount).toBe(0);
      await channel.deleteQueue(queue);
      await channel.close();
    } finally {
      await connection.close();
    }
  });
  /** A queue of `count` delivered messages with an AckBatcher whose ack frames are recorded. */
  async function recorded(name: string, count: number, hold: AckHoldOptions) {
    const connection = new AmqpConnection({ url, logger: captureLogger('error').logger, name: 'ack-batcher-test' });
    const model = await connection.connect();
    const queue = `${testNamespace()}.ack-batcher-${name}`;
    const channel = await model.createChannel();
    await channel.assertQueue(queue, { durable: false, autoDelete: false });
    const { acks, msgs } = await deliverAll(channel, queue, count, hold);
    const sent: { tag: number; multiple: boolean }[] = [];
    const ack = channel.ack.bind(channel);
    channel.ack = (msg, allUpTo) => {
      sent.push({ tag: msg.fields.deliveryTag, multiple: allUpTo === true });
      ack(msg, allUpTo);
    };
    const tag = (i: number) => msgs[i].fields.deliveryTag;
    /** What went back to the queue once the channel closed, then the queue deleted and the connection closed. */
    const close = async (): Promise<string[]> => {
      await channel.close();
      const back = await takeBackAndDelete(model, queue);
      await connection.close();
      return back;
    };
    return { acks, msgs, sent, tag, close };
  }

  it('holds deliveries finished behind an unfinished head, and the head run then covers them all with one frame', async () => {
    const { acks, msgs, sent, tag, close } = await recorded('held-run', 20, { holdMs: 5_000 });
    for (const i of [19, 7, 12, 5, 18, 6, 8, 9, 10, 11, 13, 14, 15, 16, 17]) acks.ack(msgs[i]);
    await ticks(3);
    expect(sent).toEqual([]);
    for (const i of [3, 0, 4, 2, 1]) acks.ack(msgs[i]);
    await ticks(3);
    expect(sent).toEqual([{ tag: tag(19), multiple: true }]);
    expect(await close()).toEqual([]);
  });

  it('acks a held delivery on its own once its hold runs out while the head stays unfinished, counting each frame by kind', async () => {
    const frames = async () => ({
      single: await metricValue('pb_command_ack_frames_total', { kind: 'single' }),
      run: await metricValue('pb_command_ack_frames_total', { kind: 'run' }),
    });
    const { acks, msgs, sent, tag, close } = await recorded('hold-expiry', 5, { holdMs: 30 });
    const before = await frames();
    for (const i of [3, 1, 2]) acks.ack(msgs[i]);
    await ticks(3);
    expect(sent).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(sent).toEqual([3, 1, 2].map((i) => ({ tag: tag(i), multiple: false })));
    acks.ack(msgs[0]);
    await ticks(3);
    // The head run 0-3 has one entry left to ack: a multiple ack on 0 (1-3 are no longer outstanding).
    expect(sent.slice(3)).toEqual([{ tag: tag(0), multiple: true }]);
    expect(await frames()).toEqual({ single: before.single + 3, run: before.run + 1 });
    expect(await close()).toEqual(['4']);
  });

  it('holds at most maxHeld: the oldest beyond it are acked on their own at once', async () => {
    const { acks, msgs, sent, tag, close } = await recorded('max-held', 8, { holdMs: 5_000, maxHeld: 2 });
    for (const i of [1, 2, 3, 4, 5]) acks.ack(msgs[i]);
    await ticks(3);
    expect(sent).toEqual([1, 2, 3].map((i) => ({ tag: tag(i), multiple: false })));
    acks.flushAll();
    expect(sent.slice(3)).toEqual([4, 5].map((i) => ({ tag: tag(i), multiple: false })));
    expect(await close()).toEqual(['0', '6', '7']);
  });

  it('keeps no delivery alive once a head run has acked it, while a later one is still being handled', async () => {
    const { acks, msgs, sent, tag, close } = await recorded('let-go', 10, {});
    const lastOfRun = tag(8);
    // Acked in a function of its own, so that no variable of this test's frame still holds one of them.
    const refs = ((run: ConsumeMessage[]) => {
      for (const msg of run) acks.ack(msg);
      return run.map((msg) => new WeakRef(msg));
    })(msgs.splice(0, 9));
    await ticks(3);
    expect(sent).toEqual([{ tag: lastOfRun, multiple: true }]);
    collectGarbage();
    expect(refs.flatMap((ref, i) => (ref.deref() === undefined ? [] : [i]))).toEqual([]);
    expect(await close()).toEqual(['9']);
  });

  it('flushAll acks what is held and what finished this tick, so nothing finished goes back to the queue when the channel closes', async () => {
    const { acks, msgs, sent, close } = await recorded('flush-all', 6, { holdMs: 5_000 });
    for (const i of [2, 4]) acks.ack(msgs[i]);
    await ticks(3);
    acks.ack(msgs[5]);
    acks.flushAll();
    expect(sent).toHaveLength(3);
    expect(await close()).toEqual(['0', '1', '3']);
  });
});
