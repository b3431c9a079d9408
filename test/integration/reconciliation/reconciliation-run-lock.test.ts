/**
 * A reconciliation run holds its window's lock (`recon:run:{…}:lock`, 120 s) and extends it with each page it
 * commits. The commit used to refresh the lock and write the page's totals in one MULTI whatever the refresh found:
 * an invocation whose lock had expired (a page read longer than the lock, a stall) and been taken by another
 * invocation of the window still added its page's lines, classes, fees and nets, which the other invocation, resuming
 * from the same committed cursor, adds again: a report counting a page twice. Now the commit writes only under its
 * own lock, and the invocation that lost it stops.
 */
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { Config } from '../../../src/config/config';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { ReconciliationRunner } from '../../../src/reconciliation-run/reconciliation-runner';
import { ReconciliationRunState } from '../../../src/reconciliation-run/reconciliation-run-state';
import type { PspRecord, PspRecordPage } from '../../../src/reconciliation/psp-record';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { testConfig } from '../../support/test-config';
import { transformerFor } from '../../../src/gateways/gateway-registry';

const HOUR = 3_600_000;
let redis: RedisClient;
let config: Config;
let eventsQueue: ReturnType<typeof createOmsEventsQueue>;

beforeAll(() => {
  config = testConfig();
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await eventsQueue.close();
  await unlinkMatching(redis, `${config.redis.keyPrefix}*`);
  redis.disconnect();
});

/** A line of the PSP's that names nothing of ours: judged and counted, nothing applied. */
function line(id: string, at: number): PspRecord {
  return { lineId: id, kind: 'other', status: 'succeeded', amount: 700, currency: 'EUR', fee: 25, net: 675, occurredAt: at, pspType: 'test' };
}

/** A runner over the simulator's gateway whose PSP lists `pages`, `between` awaited before each page is handed over. */
function runner(pages: PspRecordPage[], between: (i: number) => Promise<void>, extra: { lockMs?: number } = {}): ReconciliationRunner {
  const prefix = config.redis.keyPrefix;
  const logger = silentLogger();
  const ledger = new Ledger(redis, prefix);
  const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, prefix), eventsQueue, logger });
  return new ReconciliationRunner({
    redis,
    prefix,
    gateway: 'simulator',
    transformer: transformerFor('simulator'),
    reader: {
      read: (_window, cursor) =>
        (async function* (): AsyncGenerator<PspRecordPage> {
          for (const [i, page] of pages.entries()) {
            if (cursor !== undefined && Number(page.cursor) <= Number(cursor)) continue;
            await between(i);
            yield page;
          }
        })(),
    },
    source: 'two pages (test)',
    adjustments: new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, prefix), recorder, ledger, logger }),
    recorder,
    logger,
    ...extra,
  });
}

test('an invocation whose lock was taken by another mid-run commits nothing more and stops; the other counts every line once', async () => {
  const from = Date.now() - 2 * HOUR;
  const window = { from, to: from + HOUR };
  const pages: PspRecordPage[] = [
    { records: [line('ln-first', from + 1000)], cursor: '1' },
    { records: [line('ln-second', from + 2000)], cursor: '2' },
  ];
  const lock = `${config.redis.keyPrefix}recon:run:{simulator:${from}:${from + HOUR}}:lock`;
  // Before the second page: the first invocation's lock expired (its page read outlived it) and another took it.
  const first = runner(pages, async (i) => {
    if (i === 1) await redis.set(lock, 'another-invocation', 'PX', 120_000);
  });

  await expect(first.run({ window })).rejects.toThrow(/lock lost/);

  // The runner reads a page ahead: the lock was taken while it judged the first page, before that page's commit.
  const state = new ReconciliationRunState(redis, config.redis.keyPrefix, 'simulator', window, false, 3600);
  expect((await state.load()).lines).toBe(0);
  // Its end left the other invocation's lock alone.
  expect(await redis.get(lock)).toBe('another-invocation');

  await redis.del(lock); // the other invocation, resuming from the last committed page, in place of the one that took it
  const other = await runner(pages, async () => undefined).run({ window });

  expect(other.result).toBe('done');
  expect(other.lines).toBe(2);
  expect(other.fees).toEqual({ EUR: 50 });
});

test('a commit under a lock that is not its token writes nothing; under its own it writes and extends the lock', async () => {
  const from = Date.now() - 5 * HOUR;
  const window = { from, to: from + HOUR };
  const state = new ReconciliationRunState(redis, config.redis.keyPrefix, 'simulator', window, false, 3600);
  const delta = {
    phase: 'psp' as const,
    cursor: '9',
    lines: 3,
    classes: {},
    adjusted: 0,
    settled: 0,
    wouldApply: 0,
    lookups: 0,
    fees: { EUR: 12345678901234 },
    net: {},
    seen: ['op-a'],
    unreadable: [],
    held: [],
  };
  expect(await state.lock('mine', 60_000)).toBe(true);
  await redis.set(`${config.redis.keyPrefix}recon:run:{simulator:${from}:${from + HOUR}}:lock`, 'theirs', 'PX', 60_000);

  expect(await state.commit(delta, { token: 'mine', ms: 60_000 })).toBe(false);
  expect((await state.load()).lines).toBe(0);

  expect(await state.commit(delta, { token: 'theirs', ms: 90_000 })).toBe(true);
  const stored = await state.load();
  expect(stored.lines).toBe(3);
  expect(stored.cursor).toBe('9');
  expect(stored.fees).toEqual({ EUR: 12345678901234 });
  expect(await redis.pttl(`${config.redis.keyPrefix}recon:run:{simulator:${from}:${from + HOUR}}:lock`)).toBeGreaterThan(60_000);
});

test('an invocation whose lock was taken after its last page neither starts the ledger phase, moves the reconciled-through mark, nor marks the run done', async () => {
  const from = Date.now() - 9 * HOUR;
  const window = { from, to: from + HOUR };
  const pages: PspRecordPage[] = [{ records: [line('ln-only', from + 1000)], cursor: '1' }];
  const lock = `${config.redis.keyPrefix}recon:run:{simulator:${from}:${from + HOUR}}:lock`;
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  await redis.del(ledger.reconciledThroughKey('simulator'), ledger.reconciledWindowsKey('simulator'));
  await ledger.markReconciledThrough('simulator', from);

  // After the last page's commit (its own, under its lock): the lock expired, another invocation of the window took it.
  const onProgress = (): void => void redis.set(lock, 'another-invocation', 'PX', 120_000);
  await expect(runner(pages, async () => undefined).run({ window, onProgress })).rejects.toThrow(/lock lost/);

  const state = new ReconciliationRunState(redis, config.redis.keyPrefix, 'simulator', window, false, 3600);
  const stored = await state.load();
  expect(stored.lines).toBe(1);
  expect(stored.status).toBe('running');
  expect(stored.phase).toBe('psp');
  expect(await ledger.reconciledThrough('simulator')).toBe(from);
  expect(await redis.get(lock)).toBe('another-invocation');
  await redis.del(lock);
});

test("a run's finish writes only under its own lock", async () => {
  const from = Date.now() - 11 * HOUR;
  const window = { from, to: from + HOUR };
  const state = new ReconciliationRunState(redis, config.redis.keyPrefix, 'simulator', window, false, 3600);
  await state.start(Date.now());
  await redis.sadd(state.seenKey, 'op-seen');
  await redis.set(`${state.key}:lock`, 'theirs', 'PX', 60_000);

  expect(await state.finish(Date.now(), undefined, { token: 'mine', ms: 60_000 })).toBe(false);
  expect((await state.load()).status).toBe('running');
  expect(await redis.sismember(state.seenKey, 'op-seen')).toBe(1);

  expect(await state.finish(Date.now(), { outcome: 'moved', through: from + HOUR }, { token: 'theirs', ms: 60_000 })).toBe(true);
  const done = await state.load();
  expect(done.status).toBe('done');
  expect(done.mark).toEqual({ outcome: 'moved', through: from + HOUR });
  expect(await redis.exists(state.seenKey)).toBe(0);
  await redis.del(`${state.key}:lock`);
});

test('a page the PSP takes longer than the lock to hand over does not cost the run its lock: nobody else took it, the run finishes', async () => {
  const from = Date.now() - 13 * HOUR;
  const window = { from, to: from + HOUR };
  const pages: PspRecordPage[] = [
    { records: [line('ln-slow-a', from + 1000)], cursor: '1' },
    { records: [line('ln-slow-b', from + 2000)], cursor: '2' },
  ];
  const lockMs = 300;
  // The second page comes after three lock lifetimes (a slow report download, a PSP answering slowly).
  const slow = runner(pages, (i) => (i === 1 ? new Promise((r) => setTimeout(r, lockMs * 3)) : Promise.resolve()), { lockMs });

  const summary = await slow.run({ window });

  expect(summary.result).toBe('done');
  expect(summary.lines).toBe(2);
});
