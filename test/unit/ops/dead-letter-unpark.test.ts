/**
 * `unparkDeadLetters` against a broker that does not confirm the copy (a nack, no confirm in time, the copy
 * returned unroutable): the run stops, the parked message is never acked (the channel's close returns it to
 * the parking queue), nothing hangs; and with confirms, each is acked only after its own confirm.
 */
import { EventEmitter } from 'node:events';
import { GetMessage } from 'amqplib';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { unparkDeadLetters } from '../../../src/ops/dead-letter-unpark';
import { testConfig } from '../../support/test-config';

type Confirm = (emit: EventEmitter, done: (err: unknown) => void) => void;

function fakeBroker(confirm: Confirm, parked = 2) {
  const events: string[] = [];
  let left = parked;
  const emitter = new EventEmitter();
  const channel = Object.assign(emitter, {
    assertExchange: jest.fn(async () => undefined),
    assertQueue: jest.fn(async () => undefined),
    bindQueue: jest.fn(async () => undefined),
    unbindQueue: jest.fn(async () => undefined),
    checkQueue: jest.fn(async () => ({ messageCount: parked })),
    get: jest.fn(async () => {
      if (left === 0) return false;
      left -= 1;
      events.push('get');
      return {
        content: Buffer.from('{"order_id":"ORD-UNPARK"}'),
        fields: { deliveryTag: parked - left },
        properties: { headers: { 'x-pb-parked-record': 'dl-000000000000000000000001', 'x-pb-code': 'INVALID_PARAMS' } },
      } as unknown as GetMessage;
    }),
    sendToQueue: jest.fn((_q: string, _c: Buffer, _o: unknown, done: (err: unknown) => void) => {
      events.push('publish');
      confirm(emitter, (err) => {
        events.push(err ? 'nack' : 'confirm');
        done(err);
      });
      return true;
    }),
    ack: jest.fn(() => events.push('ack')),
    nackAll: jest.fn(),
    close: jest.fn(async () => {
      events.push('close');
    }),
  });
  const connection = { connect: async () => ({ createConfirmChannel: async () => channel }) } as unknown as AmqpConnection;
  return { channel, connection, events };
}

describe('unparkDeadLetters', () => {
  const amqp = { ...testConfig().amqp, publishTimeoutMs: 50 };

  it('acks each parked message only after the broker confirmed its copy in the dead-letter queue', async () => {
    const { connection, events, channel } = fakeBroker((_e, done) => setImmediate(() => done(null)));
    const result = await unparkDeadLetters(connection, amqp, { limit: 10, execute: true });
    expect(result.failure).toBeUndefined();
    expect(result.messages).toHaveLength(2);
    expect(events).toEqual(['get', 'publish', 'confirm', 'ack', 'get', 'publish', 'confirm', 'ack', 'close']);
    const [queue, , options] = channel.sendToQueue.mock.calls[0];
    expect(queue).toBe(amqp.deadLetterQueue);
    expect(options).toMatchObject({ persistent: true, mandatory: true, headers: { 'x-pb-code': 'INVALID_PARAMS', 'x-pb-unparked-at': expect.any(String) } });
  });

  it('stops at a nack without acking the message (it stays parked)', async () => {
    const { connection, channel } = fakeBroker((_e, done) => done(new Error('nacked')));
    const result = await unparkDeadLetters(connection, amqp, { limit: 10, execute: true });
    expect(result.failure).toMatch(/stays parked/);
    expect(result.messages).toEqual([]);
    expect(channel.ack).not.toHaveBeenCalled();
    expect(channel.get).toHaveBeenCalledTimes(1);
    expect(channel.close).toHaveBeenCalled();
    // Returned by the close, not nacked: a nack with requeue is a failed delivery to a quorum queue.
    expect(channel.nackAll).not.toHaveBeenCalled();
  });

  it('gives up on a confirm that never comes within publish_timeout_ms, without acking', async () => {
    const { connection, channel } = fakeBroker(() => undefined);
    const started = Date.now();
    const result = await unparkDeadLetters(connection, amqp, { limit: 10, execute: true });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result.failure).toMatch(/no confirm within 50 ms/);
    expect(channel.ack).not.toHaveBeenCalled();
  }, 3000);

  it('does not ack a message whose copy came back unroutable (confirmed, but no queue took it)', async () => {
    const { connection, channel } = fakeBroker((emitter, done) => {
      emitter.emit('return', {});
      done(null);
    });
    const result = await unparkDeadLetters(connection, amqp, { limit: 10, execute: true });
    expect(result.failure).toMatch(/unroutable/);
    expect(channel.ack).not.toHaveBeenCalled();
  });

  it('a dry run publishes and acks nothing', async () => {
    const { connection, channel } = fakeBroker((_e, done) => done(null));
    const result = await unparkDeadLetters(connection, amqp, { limit: 1, execute: false });
    expect(result).toMatchObject({ execute: false, parked: 2, messages: [{ record: 'dl-000000000000000000000001' }] });
    expect(channel.sendToQueue).not.toHaveBeenCalled();
    expect(channel.ack).not.toHaveBeenCalled();
    expect(channel.close).toHaveBeenCalled();
  });
});
