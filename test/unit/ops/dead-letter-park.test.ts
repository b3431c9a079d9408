/**
 * Parking a dead letter the archive cannot take (`DeadLetterStore.importFromQueue`), against a broker whose
 * confirm does not come or is a nack: the pass gives up within `amqp.publish_timeout_ms`, the message is never
 * acked (the closed channel returns it to the dead-letter queue) and nothing hangs.
 */
import { GetMessage } from 'amqplib';
import { AmqpConnection } from '../../../src/amqp/amqp-connection';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { RedisClient } from '../../../src/redis/redis-connection';
import { testConfig } from '../../support/test-config';

function fakeBroker(confirm: () => Promise<void>) {
  const message = {
    content: Buffer.from('{"order_id":"ORD-PARK"}'),
    fields: { deliveryTag: 1 },
    properties: { headers: { 'x-pb-code': 'INVALID_PARAMS' } },
  } as unknown as GetMessage;
  let given = false;
  const channel = {
    assertExchange: jest.fn(async () => undefined),
    assertQueue: jest.fn(async () => undefined),
    bindQueue: jest.fn(async () => undefined),
    unbindQueue: jest.fn(async () => undefined),
    get: jest.fn(async () => (given ? false : ((given = true), message))),
    sendToQueue: jest.fn(() => true),
    waitForConfirms: jest.fn(confirm),
    on: jest.fn(),
    off: jest.fn(),
    ack: jest.fn(),
    close: jest.fn(async () => undefined),
  };
  const connection = { connect: async () => ({ createConfirmChannel: async () => channel }) } as unknown as AmqpConnection;
  return { channel, connection };
}

function storeRefusingRecords(): DeadLetterStore {
  const store = new DeadLetterStore({ defineCommand: () => undefined } as unknown as RedisClient, 'pb-test:');
  // Redis refuses the record itself (stage `write`), takes the stand-in.
  jest.spyOn(store, 'archiveReplacing').mockImplementation(async (record) => {
    if (record.code !== 'UNARCHIVABLE') throw new RangeError('refused');
    return { created: true, replaced: 0, again: false };
  });
  return store;
}

describe('DeadLetterStore.importFromQueue parking a dead letter', () => {
  const amqp = { ...testConfig().amqp, publishTimeoutMs: 50 };

  it('gives up on a parking confirm that never comes within publish_timeout_ms, without acking the message', async () => {
    const { channel, connection } = fakeBroker(() => new Promise<void>(() => undefined));
    const started = Date.now();
    await expect(storeRefusingRecords().importFromQueue(connection, amqp)).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(channel.sendToQueue).toHaveBeenCalledTimes(1);
    expect(channel.ack).not.toHaveBeenCalled();
    expect(channel.close).toHaveBeenCalled();
  }, 3000);

  it('does not ack a message whose parking copy the broker nacked', async () => {
    const { channel, connection } = fakeBroker(async () => Promise.reject(new Error('message nacked')));
    await expect(storeRefusingRecords().importFromQueue(connection, amqp)).rejects.toThrow('message nacked');
    expect(channel.ack).not.toHaveBeenCalled();
    expect(channel.close).toHaveBeenCalled();
  });
});
