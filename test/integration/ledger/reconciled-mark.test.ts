import { RedisClient } from '../../../src/redis/redis-connection';
import { Ledger } from '../../../src/ledger/ledger';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { slotOf } from '../../support/single-slot';
import { testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * The reconciled-through mark (what retention waits for) says how far a gateway is reconciled without a gap: a
 * window with PSP lines not read is not reconciled, so the mark never moves to or past it, and the windows
 * reconciled after it count once it is.
 */
describe('Ledger.recordReconciledWindow', () => {
  const prefix = `${testNamespace()}:`;
  const H = 3_600_000;
  const T = Date.UTC(2026, 10, 29);
  const w = (n: number) => ({ from: T + n * H, to: T + (n + 1) * H });
  let redis: RedisClient;
  let ledger: Ledger;
  let gateway = '';
  let n = 0;

  beforeAll(() => {
    redis = testRedis();
    ledger = new Ledger(redis, prefix);
  });

  beforeEach(() => {
    n += 1;
    gateway = `psp-${n}`;
  });

  afterAll(async () => {
    await unlinkMatching(redis, `${prefix}*`);
    redis.disconnect();
  });

  const windows = async () => redis.zrange(ledger.reconciledWindowsKey(gateway), 0, -1);

  it('keeps its windows in the Redis Cluster slot of the mark', () => {
    expect(slotOf(ledger.reconciledWindowsKey('adyen'))).toBe(slotOf(ledger.reconciledThroughKey('adyen')));
  });

  it('a complete window moves the mark when it joins; one past a gap waits and joins when the gap is reconciled', async () => {
    expect(await ledger.recordReconciledWindow(gateway, w(0), true)).toEqual({ outcome: 'moved', before: null, through: w(0).to, joined: 0 });
    expect(await ledger.recordReconciledWindow(gateway, w(2), true)).toMatchObject({ outcome: 'gap', through: w(0).to });
    expect(await ledger.recordReconciledWindow(gateway, w(3), true)).toMatchObject({ outcome: 'gap', through: w(0).to });
    expect(await ledger.reconciledThrough(gateway)).toBe(w(0).to);
    // The two windows kept side by side joined as one span.
    expect(await ledger.recordReconciledWindow(gateway, w(1), true)).toEqual({ outcome: 'moved', before: w(0).to, through: w(3).to, joined: 1 });
    expect(await ledger.reconciledThrough(gateway)).toBe(w(3).to);
    expect(await windows()).toEqual([]);
    expect(await ledger.recordReconciledWindow(gateway, w(1), true)).toMatchObject({ outcome: 'covered', through: w(3).to });
  });

  it('a window with lines not read holds the mark at its start; the clean windows after it count once it is reconciled', async () => {
    await ledger.recordReconciledWindow(gateway, w(0), true);
    expect(await ledger.recordReconciledWindow(gateway, w(1), false)).toEqual({ outcome: 'held', before: w(0).to, through: w(0).to, joined: 0 });
    expect(await ledger.recordReconciledWindow(gateway, w(2), true)).toMatchObject({ outcome: 'gap', through: w(1).from });
    expect(await ledger.recordReconciledWindow(gateway, w(3), true)).toMatchObject({ outcome: 'gap', through: w(1).from });
    expect(await ledger.reconciledThrough(gateway)).toBe(w(1).from);
    // Run again once the PSP corrected its report: every line read.
    expect(await ledger.recordReconciledWindow(gateway, w(1), true)).toMatchObject({ outcome: 'moved', through: w(3).to, joined: 1 });
  });

  it("the first window of a gateway, held, starts the mark at its start: a later window's run never starts it past it", async () => {
    expect(await ledger.recordReconciledWindow(gateway, w(5), false)).toEqual({ outcome: 'held', before: null, through: w(5).from, joined: 0 });
    expect(await ledger.recordReconciledWindow(gateway, w(6), true)).toMatchObject({ outcome: 'gap', through: w(5).from });
    expect(await ledger.reconciledThrough(gateway)).toBe(w(5).from);
  });

  it('a window the mark had passed, run again with lines not read, puts the mark back to its start; the windows after it are kept and count again once it is reconciled', async () => {
    for (const i of [0, 1, 2, 3]) await ledger.recordReconciledWindow(gateway, w(i), true);
    expect(await ledger.reconciledThrough(gateway)).toBe(w(3).to);
    expect(await ledger.recordReconciledWindow(gateway, w(1), false)).toEqual({ outcome: 'held', before: w(3).to, through: w(1).from, joined: 0 });
    expect(await windows()).toEqual([`${w(2).from}:${w(3).to}`]);
    expect(await ledger.recordReconciledWindow(gateway, w(1), true)).toMatchObject({ outcome: 'moved', through: w(3).to, joined: 1 });
  });

  it('a window held that a kept window overlaps is cut out of it', async () => {
    await ledger.recordReconciledWindow(gateway, w(0), true);
    const wide = { from: w(2).from, to: w(5).to };
    expect(await ledger.recordReconciledWindow(gateway, wide, true)).toMatchObject({ outcome: 'gap' });
    expect(await ledger.recordReconciledWindow(gateway, w(3), false)).toMatchObject({ outcome: 'held', through: w(0).to });
    expect(await windows()).toEqual([`${w(2).from}:${w(3).from}`, `${w(3).to}:${w(5).to}`]);
    // The gap reconciled: the mark moves through what is left, up to the window not reconciled.
    expect(await ledger.recordReconciledWindow(gateway, w(1), true)).toMatchObject({ outcome: 'moved', through: w(3).from, joined: 1 });
    expect(await ledger.recordReconciledWindow(gateway, w(3), true)).toMatchObject({ outcome: 'moved', through: w(5).to, joined: 1 });
  });

  it('keeps the windows reconciled past a mark held for long as one span per stretch, not one member per window', async () => {
    await ledger.recordReconciledWindow(gateway, w(0), true);
    expect(await ledger.recordReconciledWindow(gateway, w(1), false)).toMatchObject({ outcome: 'held' });
    // The schedule goes on a window at a time while the window held waits for the PSP's correction.
    for (let i = 2; i < 50; i += 1) expect(await ledger.recordReconciledWindow(gateway, w(i), true)).toMatchObject({ outcome: 'gap' });
    expect(await windows()).toEqual([`${w(2).from}:${w(49).to}`]);
    // A window recorded again (a resumed run), one overlapping the span and one past a hole.
    await ledger.recordReconciledWindow(gateway, w(7), true);
    await ledger.recordReconciledWindow(gateway, { from: w(48).from, to: w(50).to }, true);
    await ledger.recordReconciledWindow(gateway, w(52), true);
    expect(await windows()).toEqual([`${w(2).from}:${w(50).to}`, `${w(52).from}:${w(52).to}`]);
    expect(await ledger.recordReconciledWindow(gateway, w(1), true)).toEqual({ outcome: 'moved', before: w(1).from, through: w(50).to, joined: 1 });
    expect(await windows()).toEqual([`${w(52).from}:${w(52).to}`]);
  });
});
