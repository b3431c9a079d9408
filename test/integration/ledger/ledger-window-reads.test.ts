/**
 * The ledger's reads over every shard that the operator views (src/ops/operations-view.ts) count and list
 * with: operations created or settled since a time, and the newest ids of a state, merged across shards.
 */
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { Ledger } from '../../../src/ledger/ledger';
import { shardOfAnchor } from '../../../src/redis/key-layout';
import { useLedgerRedis } from '../../support/ledger-redis';
import { monitorCommands } from '../../support/redis-monitor';

describe('the ledger read across its shards for the operator views', () => {
  const bed = useLedgerRedis();
  let ledger: Ledger;

  const command = (orderId: string): PaymentCommand => ({
    version: 1,
    command: 'authorize',
    channel: 'bus',
    sequence: `rpc-${orderId}`,
    received_at: '2024-06-01T10:00:00.000Z',
    payment: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: `tok-${orderId}`, amount: 1999, currency: 'EUR', order_id: orderId },
  });

  /** Order ids of `n` different shards. */
  const ordersOfShards = (n: number): string[] => {
    const byShard = new Map<number, string>();
    for (let i = 0; byShard.size < n; i += 1) {
      const order = `ORD-WIN-${i}`;
      if (!byShard.has(shardOfAnchor(order))) byShard.set(shardOfAnchor(order), order);
    }
    return [...byShard.values()];
  };

  beforeAll(() => {
    ledger = bed.ledger;
  });

  it('counts the operations created, and those that settled, at or after a time, summed over the shards', async () => {
    const [a, b, c] = ordersOfShards(3);
    await ledger.create(`op-${a}`, command(a), 1_000);
    await ledger.create(`op-${b}`, command(b), 2_000);
    await ledger.create(`op-${c}`, command(c), 3_000);
    for (const order of [a, b, c]) await ledger.transition(`op-${order}`, 'SENT', { event: 'sent' }, {}, 3_500);
    await ledger.transition(`op-${a}`, 'SUCCEEDED', { event: 'ok' }, {}, 4_000);
    await ledger.transition(`op-${b}`, 'SUCCEEDED', { event: 'ok' }, {}, 5_000);
    await ledger.transition(`op-${c}`, 'FAILED', { event: 'declined' }, { reason: 'declined' }, 6_000);

    expect(await ledger.countCreatedSince(2_000)).toBe(2);
    expect(await ledger.countCreatedSince(3_001)).toBe(0);
    expect(await ledger.countInStateSince('SUCCEEDED', 4_000)).toBe(2);
    expect(await ledger.countInStateSince('SUCCEEDED', 4_001)).toBe(1);
    expect(await ledger.countInStateSince('FAILED', 0)).toBe(1);
    expect(await ledger.countInStateSince('RECEIVED', 0)).toBe(0);
  });

  it('lists the newest ids of a state over every shard, newest first, at most the count asked', async () => {
    const orders = ordersOfShards(4).map((o) => `${o}-new`);
    const ids = orders.map((o) => `op-${o}`);
    for (const [i, order] of orders.entries()) {
      await ledger.create(ids[i], command(order), 10_000);
      await ledger.transition(ids[i], 'SENT', { event: 'sent' }, {}, 20_000 + i);
    }

    expect(await ledger.newestInState('SENT', 3)).toEqual([ids[3], ids[2], ids[1]]);
    expect(await ledger.newestInState('SENT', 10)).toEqual([...ids].reverse());
  });

  it('walks the operations created in a window shard after shard, a page after the place of the last one read, and says when it is done', async () => {
    const orders = ordersOfShards(3).map((o) => `${o}-walk`);
    const shardsInOrder = orders.map((o) => shardOfAnchor(o)).sort((a, b) => a - b);
    const byShard = new Map<number, string[]>();
    for (const [i, order] of orders.entries()) {
      const ids = [`op-${order}-a`, `op-${order}-b`, `op-${order}-c`];
      // Two of one time (ordered by id), one before the window, one at its end (not in it).
      await ledger.create(ids[0], command(order), 40_000 + i);
      await ledger.create(ids[1], command(order), 40_000 + i);
      await ledger.create(`op-${order}-before`, command(order), 39_999);
      await ledger.create(`op-${order}-end`, command(order), 41_000);
      await ledger.create(ids[2], command(order), 40_500);
      byShard.set(shardOfAnchor(order), ids);
    }
    const expected = shardsInOrder.flatMap((shard) => byShard.get(shard)!);
    for (const size of [1, 2, 3, 4, 9, 20]) {
      const read: string[] = [];
      let cursor;
      let pages = 0;
      for (let done = false; !done; pages += 1) {
        const page = await ledger.createdPage(40_000, 41_000, cursor, size);
        for (const part of page.shards) {
          expect(byShard.get(part.shard)).toEqual(expect.arrayContaining(part.ids));
          read.push(...part.ids);
        }
        expect(read.length).toBeLessThanOrEqual(pages * size + size);
        ({ next: cursor, done } = page);
      }
      expect(read).toEqual(expected);
      // A shard read to its end is known without reading it again: at most one page (over the empty shards after
      // the last one holding some) after the last full one.
      expect(pages).toBeLessThanOrEqual(Math.floor(expected.length / size) + 1);
    }
    expect(await ledger.countCreatedBetween(40_000, 41_000)).toBe(expected.length);
  });

  it('reads nothing for an empty count or order page: ZRANGE and ZREVRANGE would take a stop of -1 as the end of the index', async () => {
    const orders = ordersOfShards(2).map((o) => `${o}-empty`);
    for (const order of orders) await ledger.create(`op-${order}`, command(order), 30_000);
    await ledger.transition(`op-${orders[0]}`, 'SENT', { event: 'sent' }, {}, 31_000);
    const shard = shardOfAnchor(orders[0]);
    const asked: string[] = [];
    const monitor = await monitorCommands(bed.redis, (args) => {
      if (args.slice(1).some((a) => String(a).startsWith(bed.prefix))) asked.push(String(args[0]).toLowerCase());
    });
    try {
      expect(await ledger.newestInState('SENT', 0)).toEqual([]);
      const found = await ledger.locateMany({ ids: [], gateway: 'simulator', references: [], orders: [orders[0]], perOrder: 0 });
      expect(found.orders).toEqual([[]]);
      await monitor.settle();
    } finally {
      monitor.stop();
    }
    expect(asked).toEqual([]);
    // The counts themselves still read.
    expect((await ledger.locateMany({ ids: [], gateway: 'simulator', references: [], orders: [orders[0]], perOrder: 1 })).orders).toEqual([
      [{ id: `op-${orders[0]}`, shard }],
    ]);
  });
});
