import Redis from 'ioredis';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { Ledger } from '../../../src/ledger/ledger';
import { operationIdsOfOrder, orderIndexKey } from '../../../src/ledger/order-index';
import { testNamespace } from '../../support/test-config';

describe('the order index the ledger keeps at create', () => {
  const prefix = `${testNamespace()}:`;
  let redis: Redis;
  let ledger: Ledger;

  const command = (orderId: string | undefined, amount = 1000): PaymentCommand => ({
    version: 1,
    command: 'authorize',
    channel: 'web',
    received_at: '2024-06-01T10:00:00.000Z',
    payment: {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: 'tok_1',
      amount,
      currency: 'EUR',
      ...(orderId === undefined ? {} : { order_id: orderId }),
    },
  });

  beforeAll(() => {
    redis = new Redis(process.env.PB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    ledger = new Ledger(redis, prefix);
  });

  afterAll(async () => {
    await redis.quit();
  });

  it('lists every operation of an order, oldest first, whether created plain or with its first attempt', async () => {
    await ledger.create('idx-a', command('ORD-IDX-1'), 1_000);
    await ledger.create('idx-b', command('ORD-IDX-1', 500), 2_000, { event: 'sent' });
    await ledger.create('idx-c', command('ORD-IDX-2'), 3_000);
    expect(await operationIdsOfOrder(redis, prefix, 'ORD-IDX-1')).toEqual(['idx-a', 'idx-b']);
    expect(await operationIdsOfOrder(redis, prefix, 'ORD-IDX-2')).toEqual(['idx-c']);
    expect(await operationIdsOfOrder(redis, prefix, 'ORD-NONE')).toEqual([]);
  });

  it('a duplicate create does not move the entry; a command without an order indexes nothing', async () => {
    await ledger.create('idx-d', command('ORD-IDX-3'), 1_000);
    await ledger.create('idx-d', command('ORD-IDX-3'), 9_000);
    expect(await redis.zscore(orderIndexKey(prefix, 'ORD-IDX-3'), 'idx-d')).toBe('1000');
    await ledger.create('idx-e', command(undefined), 1_000);
    expect((await redis.keys(`${prefix}*order:*`)).filter((k) => k.endsWith('order:'))).toEqual([]);
  });

  it('hashes order ids with characters outside the plain alphabet, so none can name another key', async () => {
    const odd = 'ORD 7/x:op:idx-a';
    expect(orderIndexKey(prefix, odd)).toMatch(new RegExp(`^${prefix}\\{s:\\d+\\}:order:#[0-9a-f]{64}$`));
    await ledger.create('idx-f', command(odd), 1_000);
    expect(await operationIdsOfOrder(redis, prefix, odd)).toEqual(['idx-f']);
  });
});
