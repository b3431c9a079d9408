import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type { ConfirmChannel } from 'amqplib';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { BrokerTimeoutError } from '../../../src/amqp/broker-deadline';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { createLogger } from '../../../src/logging/logger';

type ConfirmCallback = (err: Error | null) => void;

/** A confirm channel that keeps each publish's confirm callback for the test to answer. */
class FakeChannel extends EventEmitter {
  readonly confirms: ConfirmCallback[] = [];
  readonly published: string[] = [];
  publish(_exchange: string, routingKey: string, _content: Buffer, _options: unknown, callback: ConfirmCallback): boolean {
    this.published.push(routingKey);
    this.confirms.push(callback);
    return true;
  }
  async close(): Promise<void> {
    this.emit('close');
  }
}

/** The part of `AmqpConnection` the publisher uses; `open` decides when a channel opening resolves. */
class FakeConnection extends EventEmitter {
  connected = true;
  nodeCount = 1;
  readonly logger = createLogger({ level: 'error', stream: new Writable({ write: (_chunk, _encoding, done) => done() }) });
  channels: FakeChannel[] = [];
  open: () => Promise<void> = async () => undefined;
  async confirmChannel(): Promise<FakeChannel> {
    await this.open();
    const channel = new FakeChannel();
    this.channels.push(channel);
    return channel;
  }
  waitReady(): Promise<never> {
    return new Promise<never>(() => undefined);
  }
}

function publisherOn(connection: FakeConnection, timeoutMs = 10_000): ConfirmPublisher {
  return new ConfirmPublisher(connection as unknown as AmqpConnection, timeoutMs, async (ch: ConfirmChannel) => void ch);
}

/** Lets the publisher's awaits run until it has published (or is waiting on something the test holds). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ConfirmPublisher waits', () => {
  it('resolves each publish on its own confirm, in call order on one channel, and leaves nothing waiting', async () => {
    const connection = new FakeConnection();
    const publisher = publisherOn(connection);
    const first = publisher.publish('x', 'a', Buffer.from('1'));
    const second = publisher.publish('x', 'b', Buffer.from('2'));
    await settle();
    expect(connection.channels).toHaveLength(1);
    expect(connection.channels[0].published).toEqual(['a', 'b']);
    connection.channels[0].confirms[1](null);
    await expect(second).resolves.toBeUndefined();
    connection.channels[0].confirms[0](null);
    await expect(first).resolves.toBeUndefined();
    // A later publish reuses the open channel.
    const third = publisher.publish('x', 'c', Buffer.from('3'));
    await settle();
    expect(connection.channels).toHaveLength(1);
    connection.channels[0].confirms[2](null);
    await third;
    expect(publisher.abandonPending()).toBe(0);
  });

  it('rejects a publish whose confirm does not come within the timeout, as a broker timeout', async () => {
    const connection = new FakeConnection();
    const publisher = publisherOn(connection, 30);
    const publish = publisher.publish('x', 'a', Buffer.from('1'));
    await expect(publish).rejects.toThrow(BrokerTimeoutError);
    await expect(publish).rejects.toThrow('timed out waiting for the publish confirm');
    expect(publisher.abandonPending()).toBe(0);
  });

  it('rejects a nacked publish on a single broker', async () => {
    const connection = new FakeConnection();
    const publisher = publisherOn(connection);
    const publish = publisher.publish('x', 'a', Buffer.from('1'));
    await settle();
    connection.channels[0].confirms[0](new Error('nacked'));
    await expect(publish).rejects.toThrow('publish was nacked by the broker');
  });

  it('gives up a publish waiting for its confirm when abandoned, and every later publish at once', async () => {
    const connection = new FakeConnection();
    const publisher = publisherOn(connection);
    const publish = publisher.publish('x', 'a', Buffer.from('1'));
    await settle();
    expect(connection.channels[0].published).toEqual(['a']);
    expect(publisher.abandonPending()).toBe(1);
    await expect(publish).rejects.toThrow(DependencyUnavailableError);
    await expect(publish).rejects.toThrow('publish given up');
    // The confirm arriving afterwards changes nothing.
    connection.channels[0].confirms[0](null);
    await expect(publisher.publish('x', 'b', Buffer.from('2'))).rejects.toThrow('publish given up');
    expect(connection.channels[0].published).toEqual(['a']);
  });

  it('gives up a publish waiting for its channel to open when abandoned', async () => {
    const connection = new FakeConnection();
    let opened: () => void = () => undefined;
    connection.open = () => new Promise<void>((resolve) => (opened = resolve));
    const publisher = publisherOn(connection);
    const publish = publisher.publish('x', 'a', Buffer.from('1'));
    await settle();
    expect(publisher.abandonPending()).toBe(1);
    await expect(publish).rejects.toThrow('publish given up');
    opened();
    await settle();
    expect(connection.channels[0]?.published ?? []).toEqual([]);
  });

  it('counts the publishes waiting for their confirm and those waiting for a channel together', async () => {
    const connection = new FakeConnection();
    // Short: the bound on the opening that never resolves is the only timer left behind.
    const publisher = publisherOn(connection, 300);
    const confirmed = publisher.publish('x', 'a', Buffer.from('1'));
    await settle();
    // The channel is lost: the next publish waits for a new one that does not open.
    connection.channels[0].emit('close');
    connection.open = () => new Promise<void>(() => undefined);
    const opening = publisher.publish('x', 'b', Buffer.from('2'));
    await settle();
    expect(publisher.abandonPending()).toBe(2);
    await expect(confirmed).rejects.toThrow('publish given up');
    await expect(opening).rejects.toThrow('publish given up');
  });

  it('gives up a nacked publish abandoned during its pause before sending again, though another publish has opened a channel since', async () => {
    const connection = new FakeConnection();
    // A cluster: a nack is sent again on a fresh channel after a pause.
    connection.nodeCount = 2;
    const publisher = publisherOn(connection, 2_000);
    const nacked = publisher.publish('x', 'a', Buffer.from('1'));
    const outcome = nacked.then(
      () => 'confirmed',
      (err: Error) => err.message,
    );
    await settle();
    connection.channels[0].confirms[0](new Error('nacked'));
    await settle();
    // During the pause another publish opens the next channel and waits for its confirm; then the stop gives up both.
    const other = publisher.publish('x', 'b', Buffer.from('2'));
    await settle();
    expect(connection.channels).toHaveLength(2);
    expect(publisher.abandonPending()).toBe(1);
    await expect(other).rejects.toThrow('publish given up');
    // The pause ends: the nacked publish is not sent again after the stop gave publishes up.
    expect(await outcome).toMatch('publish given up');
    expect(connection.channels[1].published).toEqual(['b']);
  });

  it('counts a publish given up once, however often abandonPending is called', async () => {
    const connection = new FakeConnection();
    const publisher = publisherOn(connection);
    const publish = publisher.publish('x', 'a', Buffer.from('1'));
    await settle();
    expect(publisher.abandonPending()).toBe(1);
    expect(publisher.abandonPending()).toBe(0);
    await expect(publish).rejects.toThrow('publish given up');
  });

  it('publishes again on a new channel when the channel dies before the confirm, within the same deadline', async () => {
    const connection = new FakeConnection();
    connection.waitReady = () => Promise.resolve(undefined as never);
    const publisher = publisherOn(connection);
    const publish = publisher.publish('x', 'a', Buffer.from('1'));
    await settle();
    connection.channels[0].emit('close');
    connection.channels[0].confirms[0](new Error('channel closed'));
    await settle();
    expect(connection.channels).toHaveLength(2);
    connection.channels[1].confirms[0](null);
    await expect(publish).resolves.toBeUndefined();
  });
});
