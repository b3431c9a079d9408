import { Command } from 'ioredis';
import { impactIndexKeys, listDeadLettersByImpact } from '../../../src/amqp/dead-letter-triage';
import { legacyKeyFamilies, moveLegacyKeys } from '../../../src/data-lifecycle/legacy-keys';
import { DeadLetterStore, deadLetterArchiveKeys, recordFromMessage } from '../../../src/ops/dead-letter-store';
import { ScheduleDefinition } from '../../../src/recurring/recurring-schedule';
import { RecurringStore, recurringKeys } from '../../../src/recurring/recurring-store';
import { keysMatching, unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { testRedis } from '../../support/test-redis';
import { testConfig } from '../../support/test-config';

/**
 * Data written by a release before the Redis Cluster layout (dead-letter archive, dead-letter triage index,
 * recurring schedules under names without hash tags) is found by the new release once the poller's start
 * moved it, merged with what the new release already wrote, and a second move finds nothing to do.
 */
let redis: RedisClient;
const prefix = testConfig().redis.keyPrefix;

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  await unlinkMatching(redis, `${prefix}*`);
  redis.disconnect();
});

/** Puts what is under `to` back under its old name `from`, as the earlier release left it (key by key: two slots). */
async function backToOldName(from: string, to: string): Promise<void> {
  const dump = await redis.dumpBuffer(to);
  if (dump === null) throw new Error(`nothing under ${to}`);
  await redis.restore(from, 0, dump);
  await redis.unlink(to);
}

function deadLetter(n: number) {
  return recordFromMessage(
    {
      content: Buffer.from(JSON.stringify({ command: 'sale', channel: 'web', payment: { order_id: `LEGACY-${n}`, amount: 1000 + n, currency: 'EUR' } })),
      properties: {
        headers: { 'x-pb-code': 'SCHEMA_INVALID', 'x-pb-reason': `bad ${n}`, 'x-pb-dead-lettered-at': new Date(1_700_000_000_000 + n).toISOString() },
      },
      fields: {},
    } as unknown as Parameters<typeof recordFromMessage>[0],
    Date.now(),
  );
}

function schedule(id: string): ScheduleDefinition {
  return {
    id,
    gateway: 'simulator',
    gateway_account: 'acme-eu',
    gateway_key: 'tok_legacy',
    amount: 1500,
    currency: 'EUR',
    order_id: `SUB-${id}`,
    start_at: new Date(Date.now() - 1000).toISOString(),
    interval: { unit: 'month', count: 1 },
  };
}

describe('keys written under their pre-cluster names', () => {
  it('are moved to the hash-tagged names, merged with newer data, and found by the stores; a second move does nothing', async () => {
    const archive = new DeadLetterStore(redis, prefix);
    const [old1, old2, fresh] = [deadLetter(1), deadLetter(2), deadLetter(3)];
    await archive.archive(old1);
    await archive.archive(old2);
    const a = deadLetterArchiveKeys(prefix);
    for (const r of [old1, old2]) await backToOldName(`${prefix}dl:${r.id}`, a.record(r.id));
    await backToOldName(`${prefix}dls:impact`, a.impact);
    await backToOldName(`${prefix}dls:time`, a.time);
    // The new release archived one more before the move: both indexes exist under the new names too.
    await archive.archive(fresh);

    const triage = impactIndexKeys(prefix);
    await redis.zadd(`${prefix}dead-letters:impact`, 5, 'dl-old');
    await redis.hset(`${prefix}dead-letters:summary`, 'dl-old', JSON.stringify({ id: 'dl-old', at: new Date().toISOString(), impact: 'high' }));

    const recurring = new RecurringStore(redis, prefix);
    const id = `legacy-${Date.now().toString(36)}`;
    await recurring.add(schedule(id));
    const r = recurringKeys(prefix);
    await backToOldName(`${prefix}recurring:schedule:${id}`, r.schedule(id));
    await backToOldName(`${prefix}recurring:due`, r.due);
    await backToOldName(`${prefix}recurring:schedules`, r.all);
    // Not found under the new names before the move.
    expect(await recurring.get(id)).toBeNull();
    expect(await archive.get(old1.id)).toBeNull();

    const moved = await moveLegacyKeys(redis, prefix);
    expect(moved).toEqual({ dead_letter_archive: 4, dead_letter_triage: 2, recurring: 3 });

    expect((await archive.list({ limit: 10 })).map((d) => d.id).sort()).toEqual([old1.id, old2.id, fresh.id].sort());
    expect(await archive.get(old2.id)).toMatchObject({ id: old2.id, reason: 'bad 2', replays: 0 });
    expect((await listDeadLettersByImpact(redis, prefix)).map((s) => s.id)).toEqual(['dl-old']);
    expect(await redis.zscore(triage.byImpact, 'dl-old')).toBe('5');
    expect(await recurring.get(id)).toMatchObject({ state: 'active', cycle: 1, definition: { id, amount: 1500 } });
    expect(await recurring.dueIds(Date.now() + 40 * 86400_000, 10)).toEqual([id]);
    expect(await recurring.ids()).toEqual([id]);

    // Nothing is left under an old name, and a second move finds nothing.
    for (const family of legacyKeyFamilies(prefix)) for (const [from] of family.fixed) expect(await redis.exists(from)).toBe(0);
    expect(await keysMatching(redis, `${prefix}dl:*`)).toEqual([]);
    expect(await keysMatching(redis, `${prefix}recurring:*`)).toEqual([]);
    expect(await moveLegacyKeys(redis, prefix)).toEqual({ dead_letter_archive: 0, dead_letter_triage: 0, recurring: 0 });
  });

  it("schedules moved after the order index's catch-up ran are put in it by the move (an erasure finds them)", async () => {
    const recurring = new RecurringStore(redis, prefix);
    const r = recurringKeys(prefix);
    const id = `legacy-order-${Date.now().toString(36)}`;
    const order = `ORD-LEGACY-${Date.now().toString(36)}`;
    await recurring.add({ ...schedule(id), order_id: order }, Date.now() - 86_400_000);
    await redis.srem(r.order(order), id);
    await backToOldName(`${prefix}recurring:schedule:${id}`, r.schedule(id));
    await backToOldName(`${prefix}recurring:schedules`, r.all);
    // A catch-up ran (its mark is past the moved schedule's creation) before the poller moved the keys.
    await recurring.catchUpOrderIndex();
    await redis.set(r.orderIndexMark, `${Date.now()} later`);
    expect((await moveLegacyKeys(redis, prefix)).recurring).toBe(2);
    await recurring.catchUpOrderIndex();
    expect(await recurring.idsOfOrder(order)).toEqual([id]);
  });

  /**
   * A schedule of an order as a release before the order index left it under its pre-cluster names, under a prefix of
   * its own, with the mark of a catch-up that ran since.
   */
  async function oldScheduleOfOrder(tag: string): Promise<{ at: string; id: string; order: string }> {
    const at = testConfig().redis.keyPrefix;
    const recurring = new RecurringStore(redis, at);
    const r = recurringKeys(at);
    const id = `legacy-${tag}`;
    const order = `ORD-LEGACY-${tag}`;
    await recurring.add({ ...schedule(id), order_id: order }, Date.now() - 86_400_000);
    await redis.srem(r.order(order), id);
    await backToOldName(`${at}recurring:schedule:${id}`, r.schedule(id));
    await backToOldName(`${at}recurring:due`, r.due);
    await backToOldName(`${at}recurring:schedules`, r.all);
    await redis.set(r.orderIndexMark, `${Date.now()} later`);
    return { at, id, order };
  }

  it('a move killed at any step, then run again at the next start, leaves the moved schedules in the order index', async () => {
    for (let killAt = 1; ; killAt += 1) {
      const { at, id, order } = await oldScheduleOfOrder(`kill${killAt}`);
      // The poller dies at its `killAt`-th command: that one and every later one fail.
      let calls = 0;
      const dying = new Proxy(redis, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            calls += 1;
            if (calls < killAt) return (value as (...a: unknown[]) => unknown).apply(target, args);
            // A command sent as such (a script's EVALSHA) is answered through the command itself: it fails too.
            if (prop === 'sendCommand') {
              const command = args[0] as Command;
              command.reject(new Error('killed'));
              return command.promise;
            }
            return Promise.reject(new Error('killed'));
          };
        },
      });
      const completed = await moveLegacyKeys(dying, at).then(
        () => true,
        () => false,
      );
      await moveLegacyKeys(redis, at);
      const recurring = new RecurringStore(redis, at);
      await recurring.catchUpOrderIndex();
      expect({ killAt, ids: await recurring.idsOfOrder(order) }).toEqual({ killAt, ids: [id] });
      await unlinkMatching(redis, `${at}*`);
      if (completed) break;
    }
  });

  it('a catch-up running beside the move (its mark written after the move) leaves the moved schedules in the order index', async () => {
    const { at, id, order } = await oldScheduleOfOrder('beside');
    expect((await moveLegacyKeys(redis, at)).recurring).toBe(3);
    // A catch-up that walked the schedules before they moved writes its mark after the move.
    await redis.set(recurringKeys(at).orderIndexMark, `${Date.now()} beside`);
    const recurring = new RecurringStore(redis, at);
    await recurring.catchUpOrderIndex();
    expect(await recurring.idsOfOrder(order)).toEqual([id]);
    await unlinkMatching(redis, `${at}*`);
  });
});
