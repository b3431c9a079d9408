import { RedisClient } from '../../../src/redis/redis-connection';
import { CapReservations } from '../../../src/caps/cap-reservations';
import { CapRule } from '../../../src/caps/cap-rules';
import { createRedis } from '../../../src/redis/redis-connection';
import { testConfig } from '../../support/test-config';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { Config } from '../../../src/config/config';
import { keysMatching } from '../../../src/redis/key-scan';

let redis: RedisClient;
let config: Config;

const rule = (over: Partial<CapRule>): CapRule => ({
  scope: 'gateway',
  name: 'sim-a',
  gateway: '*',
  currency: 'EUR',
  minAmount: null,
  maxAmount: null,
  dailyVolume: null,
  dailyCount: null,
  monthlyVolume: null,
  monthlyCount: null,
  ...over,
});

beforeAll(() => {
  config = testConfig();
  redis = createRedis(config.redis, 'commands');
});

afterAll(async () => {
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

const attempt = (gateway: string, amount = 1000, index = 0) => ({ index, gateway, account: 'acme-eu', amount, currency: 'EUR' });

test('1,000 concurrent reservations against a daily count cap of 100 let exactly 100 through', async () => {
  const caps = new CapReservations(redis, `${config.redis.keyPrefix}c1:`, [rule({ dailyCount: 100 })]);
  const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => caps.reserve(`op-${i}`, [attempt('sim-a')])));
  expect(results.filter((r) => r.kind === 'reserved')).toHaveLength(100);
  const over = results.filter((r) => r.kind === 'over');
  expect(over).toHaveLength(900);
  expect(over[0].refusals[0]).toMatchObject({ cap: 'gateway:sim-a:EUR:daily_count', limit: 'daily_count', max: 100, current: 100 });
});

test('a volume cap admits the attempt that reaches it exactly and refuses the one unit more', async () => {
  const caps = new CapReservations(redis, `${config.redis.keyPrefix}c2:`, [rule({ dailyVolume: 2500 })]);
  expect((await caps.reserve('a', [attempt('sim-a', 1500)])).kind).toBe('reserved');
  expect((await caps.reserve('b', [attempt('sim-a', 1001)])).kind).toBe('over');
  expect((await caps.reserve('c', [attempt('sim-a', 1000)])).kind).toBe('reserved');
});

test('a retry of the same operation does not reserve twice; a release gives it back once', async () => {
  const caps = new CapReservations(redis, `${config.redis.keyPrefix}c3:`, [rule({ dailyCount: 1, monthlyVolume: 5000 })]);
  expect((await caps.reserve('op-x', [attempt('sim-a')])).kind).toBe('reserved');
  expect(await caps.reserve('op-x', [attempt('sim-a')])).toMatchObject({ kind: 'already', index: 0 });
  expect((await caps.reserve('op-y', [attempt('sim-a')])).kind).toBe('over');
  expect(await caps.release('op-x', 'EUR', { gateway: 'sim-a', index: 0 })).toBe(true);
  expect(await caps.release('op-x', 'EUR', { gateway: 'sim-a', index: 0 })).toBe(false);
  // Released exactly once: one slot free, taken by the next, then full again.
  expect((await caps.reserve('op-y', [attempt('sim-a')])).kind).toBe('reserved');
  expect((await caps.reserve('op-z', [attempt('sim-a')])).kind).toBe('over');
});

test('over the first candidate cap, the reservation falls back to the next candidate in the same round trip', async () => {
  const caps = new CapReservations(redis, `${config.redis.keyPrefix}c4:`, [rule({ dailyCount: 1 }), rule({ name: 'sim-b', dailyCount: 5 })]);
  expect((await caps.reserve('p1', [attempt('sim-a', 1000, 0), attempt('sim-b', 1000, 1)])).kind).toBe('reserved');
  const second = await caps.reserve('p2', [attempt('sim-a', 1000, 0), attempt('sim-b', 1000, 1)]);
  expect(second).toMatchObject({ kind: 'reserved', index: 1 });
  expect(second.refusals.map((r) => r.cap)).toEqual(['gateway:sim-a:EUR:daily_count']);
});

test('merchant caps apply across gateways; per-transaction bounds refuse without touching counters', async () => {
  const caps = new CapReservations(redis, `${config.redis.keyPrefix}c5:`, [
    rule({ scope: 'merchant', name: 'acme-eu', dailyVolume: 3000 }),
    rule({ name: 'sim-a', minAmount: 100, maxAmount: 2000 }),
  ]);
  expect(await caps.reserve('q1', [attempt('sim-a', 50)])).toMatchObject({ kind: 'over', refusals: [{ cap: 'gateway:sim-a:EUR:min_amount', current: 50 }] });
  expect(await caps.reserve('q2', [attempt('sim-a', 2001)])).toMatchObject({ kind: 'over', refusals: [{ limit: 'max_amount', max: 2000 }] });
  expect((await caps.reserve('q3', [attempt('sim-a', 2000)])).kind).toBe('reserved');
  expect((await caps.reserve('q4', [attempt('sim-b', 1001)])).kind).toBe('over');
  expect((await caps.reserve('q5', [attempt('sim-b', 1000)])).kind).toBe('reserved');
});

test('no rule for the currency or gateway: unlimited, nothing written', async () => {
  const prefix = `${config.redis.keyPrefix}c6:`;
  const caps = new CapReservations(redis, prefix, [rule({ currency: 'USD', dailyCount: 1 })]);
  expect((await caps.reserve('r1', [attempt('sim-a')])).kind).toBe('unlimited');
  expect(await keysMatching(redis, `${prefix}*`)).toEqual([]);
});

test('counters expire after their bucket: a daily key carries a TTL', async () => {
  const prefix = `${config.redis.keyPrefix}c7:`;
  const caps = new CapReservations(redis, prefix, [rule({ dailyCount: 3 })]);
  await caps.reserve('s1', [attempt('sim-a')]);
  const [key] = (await keysMatching(redis, `${prefix}*:n`)).filter((k) => k.includes(':d'));
  const ttl = await redis.ttl(key);
  expect(ttl).toBeGreaterThan(86400);
  expect(ttl).toBeLessThanOrEqual(2 * 86400);
});

test('a merchant rule on one gateway counts only that gateway: rules of one account on two gateways keep their own counters', async () => {
  const caps = new CapReservations(redis, `${config.redis.keyPrefix}cm:`, [
    rule({ scope: 'merchant', name: 'acme-eu', gateway: 'sim-a', dailyVolume: 3000 }),
    rule({ scope: 'merchant', name: 'acme-eu', gateway: 'sim-b', dailyVolume: 3000 }),
  ]);
  expect((await caps.reserve('m1', [attempt('sim-b', 2000)])).kind).toBe('reserved');
  // sim-b's volume is no part of the sim-a rule: 2000 still fits its 3000.
  expect((await caps.reserve('m2', [attempt('sim-a', 2000)])).kind).toBe('reserved');
  expect(await caps.reserve('m3', [attempt('sim-a', 1001)])).toMatchObject({
    kind: 'over',
    refusals: [{ cap: 'merchant:acme-eu@sim-a:EUR:daily_volume', max: 3000, current: 2000 }],
  });
});

test("an account's rule on every gateway and its rule on one gateway count an attempt once each", async () => {
  const caps = new CapReservations(redis, `${config.redis.keyPrefix}cn:`, [
    rule({ scope: 'merchant', name: 'acme-eu', dailyVolume: 5000 }),
    rule({ scope: 'merchant', name: 'acme-eu', gateway: 'sim-a', dailyVolume: 5000 }),
  ]);
  expect((await caps.reserve('n1', [attempt('sim-a', 3000)])).kind).toBe('reserved');
  // 3000 taken of each 5000: 2000 more fits both (one shared counter counted it twice: 6000).
  expect((await caps.reserve('n2', [attempt('sim-a', 2000)])).kind).toBe('reserved');
  expect(await caps.reserve('n3', [attempt('sim-b', 1)])).toMatchObject({
    kind: 'over',
    refusals: [{ cap: 'merchant:acme-eu:EUR:daily_volume', current: 5000 }],
  });
  // Released, each counter gets back exactly what it was given.
  expect(await caps.release('n1', 'EUR', { gateway: 'sim-a', index: 0 })).toBe(true);
  expect((await caps.reserve('n4', [attempt('sim-a', 3000)])).kind).toBe('reserved');
  expect((await caps.reserve('n5', [attempt('sim-b', 1)])).kind).toBe('over');
});

test('two rules of one owner bounding one counter count an attempt once, the tighter bound deciding', async () => {
  const caps = new CapReservations(redis, `${config.redis.keyPrefix}cd:`, [rule({ dailyVolume: 5000 }), rule({ dailyVolume: 4000, dailyCount: 10 })]);
  expect((await caps.reserve('d1', [attempt('sim-a', 3000)])).kind).toBe('reserved');
  // 3000 of 4000 taken (counted twice into one counter it read 6000).
  expect((await caps.reserve('d2', [attempt('sim-a', 1000)])).kind).toBe('reserved');
  expect(await caps.reserve('d3', [attempt('sim-a', 1)])).toMatchObject({
    kind: 'over',
    refusals: [{ cap: 'gateway:sim-a:EUR:daily_volume', max: 4000, current: 4000 }],
  });
  expect(await caps.release('d2', 'EUR', { gateway: 'sim-a', index: 0 })).toBe(true);
  expect((await caps.reserve('d4', [attempt('sim-a', 1000)])).kind).toBe('reserved');
});

test("a reservation at the next candidate leaves the one at the candidate before standing (a failover's move not yet on record); each is given back on its own, once", async () => {
  const caps = new CapReservations(redis, `${config.redis.keyPrefix}cf:`, [rule({ dailyCount: 1 }), rule({ name: 'sim-b', dailyCount: 1 })]);
  expect(await caps.reserve('f1', [attempt('sim-a')])).toMatchObject({ kind: 'reserved', index: 0 });
  // The failover's plan asks from sim-b on: sim-a's mark is no reservation of it.
  expect(await caps.reserve('f1', [attempt('sim-b', 1000, 1)])).toMatchObject({ kind: 'reserved', index: 1 });
  expect(await caps.reserve('f1', [attempt('sim-b', 1000, 1)])).toMatchObject({ kind: 'already', index: 1 });
  expect((await caps.peek([attempt('sim-a'), attempt('sim-b')])).map((r) => r?.current)).toEqual([1, 1]);
  expect(await caps.releaseMarks('f1', 'EUR', [{ gateway: 'sim-a', index: 0 }])).toEqual(['sim-a']);
  expect(await caps.releaseMarks('f1', 'EUR', [{ gateway: 'sim-a', index: 0 }])).toEqual([]);
  expect(await caps.peek([attempt('sim-a'), attempt('sim-b')])).toEqual([null, expect.objectContaining({ current: 1 })]);
});

test("the release before's mark (one per operation and currency, naming its candidate by index) is still found: never reserved twice, given back once", async () => {
  const prefix = `${config.redis.keyPrefix}cl:`;
  const caps = new CapReservations(redis, prefix, [rule({ dailyCount: 2 }), rule({ name: 'sim-b', dailyCount: 2 })]);
  // What the release before wrote for an operation reserved at its candidate 0 (then reserved again by a new worker).
  expect((await caps.reserve('other', [attempt('sim-a')])).kind).toBe('reserved');
  const [counter] = (await keysMatching(redis, `${prefix}*:n`)).filter((k) => k.includes(':d') && k.includes('sim-a'));
  await redis.incrby(counter, 1);
  await redis.set(`${prefix}{caps:EUR}:res:l1`, `0,${counter}=1`, 'EX', 3600);
  expect(await caps.reserve('l1', [attempt('sim-a')])).toMatchObject({ kind: 'already', index: 0 });
  // A mark naming candidate 0 is not a reservation of a plan asking from candidate 1 on.
  expect(await caps.reserve('l1', [attempt('sim-b', 1000, 1)])).toMatchObject({ kind: 'reserved', index: 1 });
  expect(await caps.releaseMarks('l1', 'EUR', [{ gateway: 'sim-b', index: 1 }])).toEqual(['sim-b']);
  expect(await caps.releaseMarks('l1', 'EUR', [{ gateway: 'sim-a', index: 0 }])).toEqual(['sim-a']);
  expect(await redis.get(counter)).toBe('1');
});

/**
 * What a worker of the release before does with an operation's mark (`{caps:<CUR>}:res:<operation>`): a reservation
 * is `already` made when it exists, and a release subtracts what it names and deletes it.
 */
async function asTheReleaseBefore(prefix: string, operationId: string): Promise<{ held: boolean; release: () => Promise<void> }> {
  const mark = `${prefix}{caps:EUR}:res:${operationId}`;
  const held = await redis.get(mark);
  return {
    held: held !== null,
    release: async () => {
      for (const part of (held ?? '').split(',').slice(1)) {
        const [key, add] = part.split('=');
        await redis.decrby(key, Number(add));
      }
      await redis.del(mark);
    },
  };
}

test('a reservation with no other standing beside it is marked where a worker of the release before finds it: that worker neither reserves it again nor leaks it (a mixed fleet counts exactly)', async () => {
  const prefix = `${config.redis.keyPrefix}cx:`;
  const caps = new CapReservations(redis, prefix, [rule({ dailyCount: 1 }), rule({ name: 'sim-b', dailyCount: 1 })]);
  expect(await caps.reserve('m1', [attempt('sim-a'), attempt('sim-b', 1000, 1)])).toMatchObject({ kind: 'reserved', index: 0 });
  const old = await asTheReleaseBefore(prefix, 'm1');
  expect(old.held).toBe(true);
  await old.release();
  expect(await caps.peek([attempt('sim-a')])).toEqual([null]);
  // Given back by the old worker: this release finds nothing more to give back (never twice).
  expect(await caps.releaseMarks('m1', 'EUR', [{ gateway: 'sim-a', index: 0 }])).toEqual([]);
  // A failover's next reservation while the first stands is marked at its gateway; once the first is given back, the
  // next one a new worker makes with nothing standing goes where an old worker looks again.
  expect(await caps.reserve('m2', [attempt('sim-a')])).toMatchObject({ kind: 'reserved', index: 0 });
  expect(await caps.reserve('m2', [attempt('sim-b', 1000, 1)])).toMatchObject({ kind: 'reserved', index: 1 });
  expect(await caps.releaseMarks('m2', 'EUR', [{ gateway: 'sim-a', index: 0 }])).toEqual(['sim-a']);
  expect((await asTheReleaseBefore(prefix, 'm2')).held).toBe(false);
  expect(await caps.releaseMarks('m2', 'EUR', [{ gateway: 'sim-b', index: 1 }])).toEqual(['sim-b']);
  expect((await caps.peek([attempt('sim-a'), attempt('sim-b')])).every((r) => r === null)).toBe(true);
});

test("the operation's mark per currency names its gateway beside its candidate's index: a plan of another route (a configuration reloaded between a plan and the one decided again) is not taken for it", async () => {
  const prefix = `${config.redis.keyPrefix}cr:`;
  const caps = new CapReservations(redis, prefix, [rule({ dailyCount: 1 }), rule({ name: 'sim-c', dailyCount: 1 })]);
  expect(await caps.reserve('r1', [attempt('sim-a')])).toMatchObject({ kind: 'reserved', index: 0 });
  // Decided again on a route whose first candidate is another gateway: its own reservation, not sim-a's.
  expect(await caps.reserve('r1', [attempt('sim-c')])).toMatchObject({ kind: 'reserved', index: 0 });
  expect((await caps.peek([attempt('sim-a'), attempt('sim-c')])).map((r) => r?.current)).toEqual([1, 1]);
  // Each given back at its own gateway only.
  expect(await caps.releaseMarks('r1', 'EUR', [{ gateway: 'sim-c', index: 0 }])).toEqual(['sim-c']);
  expect(await caps.peek([attempt('sim-a'), attempt('sim-c')])).toEqual([expect.objectContaining({ current: 1 }), null]);
  expect(await caps.releaseMarks('r1', 'EUR', [{ gateway: 'sim-a', index: 0 }])).toEqual(['sim-a']);
  // The same gateway at another index of the reloaded route: found (not reserved twice), given back there.
  expect(await caps.reserve('r3', [attempt('sim-a'), attempt('sim-c', 1000, 1)])).toMatchObject({ kind: 'reserved', index: 0 });
  expect(await caps.reserve('r3', [attempt('sim-c', 1000, 0), attempt('sim-a', 1000, 1)])).toMatchObject({ kind: 'already', index: 1 });
  expect(await caps.releaseMarks('r3', 'EUR', [{ gateway: 'sim-a', index: 1 }])).toEqual(['sim-a']);
  expect(await caps.peek([attempt('sim-a'), attempt('sim-c')])).toEqual([null, null]);
  // A worker of the release before still reads the mark's candidate and counters.
  expect(await caps.reserve('r2', [attempt('sim-a')])).toMatchObject({ kind: 'reserved', index: 0 });
  const held = (await redis.get(`${prefix}{caps:EUR}:res:r2`)) ?? '';
  expect(Number(held.split(',')[0])).toBe(0);
  const [key, add] = held.split(',')[1].split('=');
  expect([await redis.get(key), add]).toEqual(['1', '1']);
});

test("once the gateway a failover left is given back, the next one's reservation takes the operation's mark per currency: a worker of the release before finds it (never reserves it again, gives it back once)", async () => {
  const prefix = `${config.redis.keyPrefix}cp:`;
  const caps = new CapReservations(redis, prefix, [rule({ dailyCount: 1 }), rule({ name: 'sim-b', dailyCount: 1 })]);
  expect(await caps.reserve('p1', [attempt('sim-a')])).toMatchObject({ kind: 'reserved', index: 0 });
  expect(await caps.reserve('p1', [attempt('sim-b', 1000, 1)])).toMatchObject({ kind: 'reserved', index: 1 });
  // The move to sim-b is on record: sim-a's given back, sim-b's where an old worker looks.
  expect(await caps.releaseMarks('p1', 'EUR', [{ gateway: 'sim-a', index: 0 }], { gateway: 'sim-b', index: 1 })).toEqual(['sim-a']);
  const old = await asTheReleaseBefore(prefix, 'p1');
  expect(old.held).toBe(true);
  // Found by this release as well: not reserved again.
  expect(await caps.reserve('p1', [attempt('sim-b', 1000, 1)])).toMatchObject({ kind: 'already', index: 1 });
  await old.release();
  expect(await caps.peek([attempt('sim-a'), attempt('sim-b')])).toEqual([null, null]);
  expect(
    await caps.releaseMarks('p1', 'EUR', [
      { gateway: 'sim-a', index: 0 },
      { gateway: 'sim-b', index: 1 },
    ]),
  ).toEqual([]);
  expect(await caps.peek([attempt('sim-a'), attempt('sim-b')])).toEqual([null, null]);
});

test('an abandoned plan gives back only a reservation no other plan claims: the last to abandon gives it back, once; the claims move with the mark and go with it', async () => {
  const prefix = `${config.redis.keyPrefix}ca:`;
  const caps = new CapReservations(redis, prefix, [rule({ dailyCount: 1 }), rule({ name: 'sim-b', dailyCount: 1 })]);
  const sim = { gateway: 'sim-b', index: 1 };
  // Two plans of one operation (two workers' failovers) at sim-b: the first reserves, the second finds it.
  expect(await caps.reserve('a1', [attempt('sim-b', 1000, 1)], Date.now(), 'plan-1')).toMatchObject({ kind: 'reserved', index: 1 });
  expect(await caps.reserve('a1', [attempt('sim-b', 1000, 1)], Date.now(), 'plan-2')).toMatchObject({ kind: 'already', index: 1 });
  expect(await caps.releaseAbandoned('a1', 'EUR', sim, 'plan-1')).toEqual({ released: false, claimed: true });
  expect(await caps.releaseAbandoned('a1', 'EUR', sim, 'plan-1')).toEqual({ released: false, claimed: true });
  expect(await caps.peek([attempt('sim-b')])).toEqual([expect.objectContaining({ current: 1 })]);
  expect(await caps.releaseAbandoned('a1', 'EUR', sim, 'plan-2')).toEqual({ released: true, claimed: false });
  expect(await caps.releaseAbandoned('a1', 'EUR', sim, 'plan-2')).toEqual({ released: false, claimed: false });
  expect(await caps.peek([attempt('sim-b')])).toEqual([null]);
  expect(await redis.exists(`${prefix}{caps:EUR}:claims:a1`)).toBe(0);

  // At the gateway's own mark (the record's candidate holds the operation's), moved into the operation's once the move
  // is on record: the other plan's claim moves with it.
  expect(await caps.reserve('a2', [attempt('sim-a')], Date.now(), 'plan-0')).toMatchObject({ kind: 'reserved', index: 0 });
  expect(await caps.reserve('a2', [attempt('sim-b', 1000, 1)], Date.now(), 'plan-1')).toMatchObject({ kind: 'reserved', index: 1 });
  expect(await caps.reserve('a2', [attempt('sim-b', 1000, 1)], Date.now(), 'plan-2')).toMatchObject({ kind: 'already', index: 1 });
  expect(await caps.releaseMarks('a2', 'EUR', [{ gateway: 'sim-a', index: 0 }], sim)).toEqual(['sim-a']);
  expect(await redis.exists(`${prefix}{caps:EUR}:claims:a2@sim-b`)).toBe(0);
  expect(await caps.releaseAbandoned('a2', 'EUR', sim, 'plan-1')).toEqual({ released: false, claimed: true });
  expect(await caps.peek([attempt('sim-b')])).toEqual([expect.objectContaining({ current: 1 })]);
  // A FAIL gives it back whatever claims it, and its claims with it.
  expect(await caps.releaseMarks('a2', 'EUR', [sim])).toEqual(['sim-b']);
  expect(await caps.peek([attempt('sim-a'), attempt('sim-b')])).toEqual([null, null]);
  expect(await redis.exists(`${prefix}{caps:EUR}:claims:a2`)).toBe(0);
});

test("reclaiming drops the claims of plans decided on a record of fewer attempts than the record's now, and gives the reservation back once none stands: a claim of the record as it stands, or one of no attempts (the release before), is kept", async () => {
  const prefix = `${config.redis.keyPrefix}cr:`;
  const caps = new CapReservations(redis, prefix, [rule({ name: 'sim-b', dailyCount: 2 })]);
  const later = [{ gateway: 'sim-b', index: 1 }];
  // Two failover plans at sim-b: one decided on the record at 0 attempts (its worker died), one at 1 (live).
  expect(await caps.reserve('r1', [attempt('sim-b', 1000, 1)], Date.now(), '0:plan-dead')).toMatchObject({ kind: 'reserved', index: 1 });
  expect(await caps.reserve('r1', [attempt('sim-b', 1000, 1)], Date.now(), '1:plan-live')).toMatchObject({ kind: 'already', index: 1 });
  // The record at 1 attempt: the live plan may still go on record; the dead one's claim goes, the reservation stays.
  expect(await caps.reclaimDead('r1', 'EUR', later, 1)).toEqual([{ gateway: 'sim-b', claims: 1, released: false }]);
  expect(await caps.reclaimDead('r1', 'EUR', later, 1)).toEqual([]);
  expect(await caps.peek([attempt('sim-b')])).toEqual([null]);
  expect(await redis.smembers(`${prefix}{caps:EUR}:claims:r1`)).toEqual(['1:plan-live']);
  // The record moved on (2 attempts) without that plan: given back, once.
  expect(await caps.reclaimDead('r1', 'EUR', later, 2)).toEqual([{ gateway: 'sim-b', claims: 1, released: true }]);
  expect(await caps.reclaimDead('r1', 'EUR', later, 2)).toEqual([]);
  expect(await redis.exists(`${prefix}{caps:EUR}:res:r1`, `${prefix}{caps:EUR}:claims:r1`)).toBe(0);
  // A reservation with a claim of no attempts (a worker of the release before) or none at all is left to its TTL.
  expect(await caps.reserve('r2', [attempt('sim-b', 1000, 1)], Date.now(), 'plan-old')).toMatchObject({ kind: 'reserved' });
  expect(await caps.reserve('r3', [attempt('sim-b', 1000, 1)])).toMatchObject({ kind: 'reserved' });
  expect(await caps.reclaimDead('r2', 'EUR', later, 5)).toEqual([]);
  expect(await caps.reclaimDead('r3', 'EUR', later, 5)).toEqual([]);
  expect(await caps.peek([attempt('sim-b')])).toEqual([expect.objectContaining({ current: 2 })]);
});

test("a release with strays gives back the operation's mark where it names a gateway outside the route (a plan decided before a reload), or any gateway ('any': a FAIL); never one the route names", async () => {
  const prefix = `${config.redis.keyPrefix}cs:`;
  const caps = new CapReservations(redis, prefix, [rule({ dailyCount: 1 }), rule({ name: 'sim-c', dailyCount: 1 })]);
  // Decided at sim-a, then again (reloaded) on a route of sim-c alone: sim-c's reservation beside sim-a's.
  expect(await caps.reserve('s1', [attempt('sim-a')])).toMatchObject({ kind: 'reserved', index: 0 });
  expect(await caps.reserve('s1', [attempt('sim-c')])).toMatchObject({ kind: 'reserved', index: 0 });
  // Nothing to look for by candidate, and not asked to read: nothing read, nothing given back.
  expect(await caps.releaseMarks('s1', 'EUR', [], { gateway: 'sim-c', index: 0 }, { strays: ['sim-c'] })).toEqual([]);
  // sim-a is named by the route now: not a stray.
  expect(await caps.releaseMarks('s1', 'EUR', [], { gateway: 'sim-c', index: 0 }, { strays: ['sim-c', 'sim-a'], read: true })).toEqual([]);
  expect(await caps.releaseMarks('s1', 'EUR', [], { gateway: 'sim-c', index: 0 }, { strays: ['sim-c'], read: true })).toEqual(['sim-a']);
  // sim-c's reservation stands, moved into the operation's mark.
  expect(await caps.peek([attempt('sim-a'), attempt('sim-c')])).toEqual([null, expect.objectContaining({ current: 1 })]);
  expect(await redis.get(`${prefix}{caps:EUR}:res:s1`)).toMatch(/=sim-c(,|$)/);
  expect(await caps.releaseMarks('s1', 'EUR', [], undefined, { strays: ['sim-c'], read: true })).toEqual([]);
  // A FAIL: whatever gateway it names.
  expect(await caps.releaseMarks('s1', 'EUR', [{ gateway: 'sim-a', index: 0 }], undefined, { strays: 'any' })).toEqual(['sim-c']);
  expect(await caps.peek([attempt('sim-a'), attempt('sim-c')])).toEqual([null, null]);
});
