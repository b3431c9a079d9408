import { ShardMemo } from '../../../src/redis/key-layout';

describe('ShardMemo', () => {
  it('keeps at most its capacity and always the newest half of it, forgetting older ids first', () => {
    const memo = new ShardMemo(4);
    for (const [i, id] of ['a', 'b', 'c', 'd', 'e'].entries()) memo.set(id, i);
    expect(memo.size).toBeLessThanOrEqual(4);
    expect([memo.get('d'), memo.get('e')]).toEqual([3, 4]);
    expect(memo.get('a')).toBeUndefined();
    for (let i = 0; i < 100; i++) {
      memo.set(`x${i}`, i % 16);
      expect(memo.size).toBeLessThanOrEqual(4);
      expect(memo.get(`x${i}`)).toBe(i % 16);
      if (i > 0) expect(memo.get(`x${i - 1}`)).toBe((i - 1) % 16);
    }
  });

  it('answers the shard set last for an id that moved shard, whichever generation held the old one', () => {
    const memo = new ShardMemo(4);
    memo.set('a', 1);
    memo.set('b', 2); // 'a' and 'b' are now the older generation
    memo.set('a', 5);
    expect(memo.get('a')).toBe(5);
    memo.set('c', 3);
    expect([memo.get('a'), memo.get('c')]).toEqual([5, 3]);
    expect(memo.size).toBeLessThanOrEqual(4);
  });

  it('holds at most 4 096 ids by default and always the newest 2 048, four times the largest in-flight limit per worker', () => {
    const memo = new ShardMemo();
    for (let i = 0; i < 10_000; i++) memo.set(`op_${i}`, i % 16);
    expect(memo.size).toBeLessThanOrEqual(4_096);
    expect(memo.size).toBeGreaterThanOrEqual(2_048);
    for (let i = 10_000 - 2_048; i < 10_000; i++) expect(memo.get(`op_${i}`)).toBe(i % 16);
    expect(memo.get('op_0')).toBeUndefined();
  });
});
