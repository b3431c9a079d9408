import { ShardMemo } from '../../../src/redis/key-layout';

describe('ShardMemo', () => {
  it('keeps at most its capacity, forgetting the id remembered longest ago first', () => {
    const memo = new ShardMemo(3);
    memo.set('a', 1);
    memo.set('b', 2);
    memo.set('c', 3);
    memo.set('d', 4);
    expect(memo.size).toBe(3);
    expect(memo.get('a')).toBeUndefined();
    expect([memo.get('b'), memo.get('c'), memo.get('d')]).toEqual([2, 3, 4]);
  });

  it('counts an id that moved shard as remembered last', () => {
    const memo = new ShardMemo(2);
    memo.set('a', 1);
    memo.set('b', 2);
    memo.set('a', 5);
    memo.set('c', 3);
    expect(memo.get('b')).toBeUndefined();
    expect([memo.get('a'), memo.get('c')]).toEqual([5, 3]);
  });

  it('holds 4 096 ids by default, eight times the largest in-flight limit per worker', () => {
    const memo = new ShardMemo();
    for (let i = 0; i < 10_000; i++) memo.set(`op_${i}`, i % 16);
    expect(memo.size).toBe(4_096);
    expect(memo.get('op_9999')).toBe(9999 % 16);
    expect(memo.get(`op_${10_000 - 4_097}`)).toBeUndefined();
  });
});
