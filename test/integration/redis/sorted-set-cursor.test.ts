/**
 * `entriesAfter`: a page of a sorted set after a place (score, member), in the set's own order, the place found
 * as the page is read, so entries removed or added before it shift nothing; `entriesBefore`, its mirror, highest
 * first. Single Redis and the local cluster.
 */
import { RedisClient } from '../../../src/redis/redis-connection';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { entriesAfter, entriesBefore } from '../../../src/redis/sorted-set-cursor';
import { testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

let redis: RedisClient;
const ns = `${testNamespace()}:`;
let n = 0;
/** A sorted set of its own. */
const key = () => `${ns}{cursor}:z${(n += 1)}`;

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  await unlinkMatching(redis, `${ns}*`);
  redis.disconnect();
});

/** Every member of `k` read page after page of `size`, each page starting after the last one's last entry. */
async function walk(k: string, size: number, between: (page: number) => Promise<void> = async () => undefined): Promise<string[]> {
  const out: string[] = [];
  let after = { score: Number.NEGATIVE_INFINITY, id: '' };
  for (let page = 0; ; page += 1) {
    const entries = await entriesAfter(redis, k, after, size);
    out.push(...entries.map((e) => e.id));
    if (entries.length < size) return out;
    after = entries[entries.length - 1];
    await between(page);
  }
}

describe('entriesAfter', () => {
  it('reads the set in its own order: by score, then the members of one score by their bytes (not by a locale)', async () => {
    const k = key();
    // One score for all: Redis orders them by bytes ('B' 0x42 before 'a' 0x61, 'a' before 'ab'); a locale would not.
    await redis.zadd(k, 5, 'a', 5, 'B', 5, 'ab', 5, 'é', 5, '_', 3, 'z', 9, 'A');
    const order = await redis.zrange(k, 0, -1);
    expect(order).toEqual(['z', 'B', '_', 'a', 'ab', 'é', 'A']);
    for (const size of [1, 2, 3, 7, 10]) expect(await walk(k, size)).toEqual(order);
  });

  it('starts after the place even when its member has gone, or never was in the set', async () => {
    const k = key();
    await redis.zadd(k, 1, 'm1', 2, 'm2', 2, 'm4', 2, 'm6', 3, 'm7');
    expect((await entriesAfter(redis, k, { score: 2, id: 'm3' }, 10)).map((e) => e.id)).toEqual(['m4', 'm6', 'm7']);
    expect((await entriesAfter(redis, k, { score: 2, id: 'm4' }, 10)).map((e) => e.id)).toEqual(['m6', 'm7']);
    expect((await entriesAfter(redis, k, { score: 2, id: '' }, 2)).map((e) => e.id)).toEqual(['m2', 'm4']);
    expect((await entriesAfter(redis, k, { score: 2, id: 'm9' }, 10)).map((e) => e.id)).toEqual(['m7']);
    expect(await entriesAfter(redis, k, { score: 3, id: 'm7' }, 10)).toEqual([]);
    expect(await entriesAfter(redis, k, { score: 0, id: '' }, 0)).toEqual([]);
    // Scores come back with the members; `max` is read as Redis reads a range's bound.
    expect((await entriesAfter(redis, k, { score: 1, id: 'm1' }, 10, '3')).map((e) => e.id)).toEqual(['m2', 'm4', 'm6', 'm7']);
    expect(await entriesAfter(redis, k, { score: 1, id: 'm1' }, 10, '(3')).toEqual([
      { id: 'm2', score: 2 },
      { id: 'm4', score: 2 },
      { id: 'm6', score: 2 },
    ]);
  });

  it('passes over no entry when those before the place are removed, or some added, between pages', async () => {
    const k = key();
    const members = Array.from({ length: 12 }, (_, i) => `op-${String(i).padStart(2, '0')}`);
    // Ties: two of each score.
    await redis.zadd(k, ...members.flatMap((m, i) => [100 + Math.floor(i / 2), m]));
    await redis.zadd(k, 1, 'old-1', 2, 'old-2', 3, 'old-3');
    const read = await walk(k, 3, async (page) => {
      // Read already: the page's place itself goes too.
      if (page === 0) await redis.zrem(k, 'old-1', 'old-2', 'old-3');
      if (page === 1) {
        await redis.zrem(k, 'op-00', 'op-02');
        // Behind the place (op-02 at 101): not read.
        await redis.zadd(k, 0, 'late-0', 101, 'op-01b');
      }
    });
    // Everything that was there throughout, once; what was added behind the place is not read.
    expect(read).toEqual(['old-1', 'old-2', 'old-3', ...members]);
  });
});

/** Every member of `k` read page after page of `size`, highest first, each page ending before the last one's last entry. */
async function walkDown(k: string, size: number, between: (page: number) => Promise<void> = async () => undefined): Promise<string[]> {
  const out: string[] = [];
  let before: { score: number; id: string } | undefined;
  for (let page = 0; ; page += 1) {
    const entries = await entriesBefore(redis, k, before, size);
    out.push(...entries.map((e) => e.id));
    if (entries.length < size) return out;
    before = entries[entries.length - 1];
    await between(page);
  }
}

describe('entriesBefore', () => {
  it('reads the set highest first as ZREVRANGE does: ties by their bytes, descending (not by a locale)', async () => {
    const k = key();
    await redis.zadd(k, 5, 'a', 5, 'B', 5, 'ab', 5, 'é', 5, '_', 3, 'z', 9, 'A');
    const order = await redis.zrevrange(k, 0, -1);
    expect(order).toEqual(['A', 'é', 'ab', 'a', '_', 'B', 'z']);
    for (const size of [1, 2, 3, 7, 10]) expect(await walkDown(k, size)).toEqual(order);
  });

  it('ends before the place even when its member has gone, or never was in the set; a bare score reads below it', async () => {
    const k = key();
    await redis.zadd(k, 1, 'm1', 2, 'm2', 2, 'm4', 2, 'm6', 3, 'm7');
    expect(await entriesBefore(redis, k, undefined, 2)).toEqual([
      { id: 'm7', score: 3 },
      { id: 'm6', score: 2 },
    ]);
    expect((await entriesBefore(redis, k, { score: 2, id: 'm5' }, 10)).map((e) => e.id)).toEqual(['m4', 'm2', 'm1']);
    expect((await entriesBefore(redis, k, { score: 2, id: 'm4' }, 10)).map((e) => e.id)).toEqual(['m2', 'm1']);
    expect((await entriesBefore(redis, k, { score: 2, id: 'm9' }, 2)).map((e) => e.id)).toEqual(['m6', 'm4']);
    expect((await entriesBefore(redis, k, { score: 2, id: '' }, 10)).map((e) => e.id)).toEqual(['m1']);
    expect((await entriesBefore(redis, k, { score: 7, id: '' }, 10)).map((e) => e.id)).toEqual(['m7', 'm6', 'm4', 'm2', 'm1']);
    expect(await entriesBefore(redis, k, { score: 1, id: 'm1' }, 10)).toEqual([]);
    expect(await entriesBefore(redis, k, undefined, 0)).toEqual([]);
    expect(await entriesBefore(redis, key(), undefined, 10)).toEqual([]);
  });

  it('passes over no entry when newer ones are added above the place, or some removed, between pages', async () => {
    const k = key();
    const members = Array.from({ length: 12 }, (_, i) => `op-${String(i).padStart(2, '0')}`);
    await redis.zadd(k, ...members.flatMap((m, i) => [100 + Math.floor(i / 2), m]));
    const read = await walkDown(k, 3, async (page) => {
      // Newer entries enter at the top: a read by rank would show the last page's entries again.
      if (page === 0) await redis.zadd(k, 200, 'new-1', 201, 'new-2', 202, 'new-3');
      if (page === 1) {
        // Read already (op-06 is the place): a read by rank would skip as many.
        await redis.zrem(k, 'op-11', 'op-08', 'op-06');
        await redis.zadd(k, 103, 'op-06b');
      }
    });
    expect(read).toEqual([...members].reverse());
  });
});
