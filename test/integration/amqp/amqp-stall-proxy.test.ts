/**
 * The test proxy's reply hold itself (test/support/amqp-stall-proxy.ts), against the real RabbitMQ: what the broker
 * sends is parsed frame by frame, over TCP reads that split frames and bodies of many frames, and a hold keeps back
 * every frame from the chosen reply on but the heartbeats (a broker late with its answers keeps its connection
 * alive), then forwards them whole and in order.
 */
import amqp from 'amqplib';
import { AMQP_METHOD, AmqpStallProxy, startAmqpStallProxy } from '../../support/amqp-stall-proxy';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(40_000);

describe('amqp stall proxy: holding the broker replies (real RabbitMQ)', () => {
  let proxy: AmqpStallProxy;

  beforeEach(async () => {
    proxy = await startAmqpStallProxy();
  });

  afterEach(async () => {
    await proxy.close();
  });

  it('a hold longer than two heartbeats keeps the connection; the held consume-ok and deliveries (large, empty, frame-sized bodies) arrive whole, in order', async () => {
    const queue = testConfig().amqp.commandsQueue;
    // A heartbeat a second: amqplib ends a connection that hears nothing for two.
    const conn = await amqp.connect(`${proxy.url}?heartbeat=1&frameMax=131072`);
    const errors: Error[] = [];
    conn.on('error', (err: Error) => errors.push(err));
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue(queue, { exclusive: true });
      const bodies = [Buffer.alloc(3 * 1024 * 1024, 7), Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(131072 - 8, 1), Buffer.alloc(200000, 2)];
      bodies.forEach((b, i) => b.length > 0 && (b[0] = i));
      for (const b of bodies) ch.sendToQueue(queue, b);
      const got: Buffer[] = [];
      proxy.holdRepliesAt(AMQP_METHOD.basicConsumeOk);
      const holdStarted = Date.now();
      let answered = false;
      const consuming = ch.consume(queue, (m) => m && got.push(m.content), { noAck: true }).then(() => (answered = true));
      // Every delivery reaches the proxy and is held: waited for, not assumed after a fixed sleep (3 MB through
      // the broker and the frame parser can take a loaded CI machine longer than a quiet one).
      await eventually(() => proxy.heldReplies(AMQP_METHOD.basicDeliver) === bodies.length, 15_000, 20);
      // Then the hold lasts at least 4.5 s in all, past two missed heartbeats (2 s): a hold that kept the
      // heartbeats back too would have had the connection ended by now (`errors`). A least duration: load only
      // makes it longer.
      const left = 4500 - (Date.now() - holdStarted);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
      expect(proxy.repliesHeld).toBe(1);
      expect(proxy.heldReplies(AMQP_METHOD.basicDeliver)).toBe(bodies.length);
      expect(answered).toBe(false);
      expect(got).toHaveLength(0);
      expect(errors).toEqual([]);
      proxy.resume();
      await consuming;
      await eventually(() => got.length === bodies.length, 5000);
      expect(got.map((b) => b.length)).toEqual(bodies.map((b) => b.length));
      bodies.forEach((b, i) => expect(got[i].equals(b)).toBe(true));
      expect(errors).toEqual([]);
    } finally {
      await conn.close().catch(() => undefined);
    }
  });
});
