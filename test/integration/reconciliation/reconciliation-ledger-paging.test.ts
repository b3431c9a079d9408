/**
 * The ledger phase of a reconciliation run reads every operation created in its window, once, whatever happens
 * to the creation indexes meanwhile: retention purging older operations (which shifted every rank after them
 * down, so pages by rank started past operations never read), or an operation written with a time before the
 * window (an import, a creating worker's slower clock: ranks shifted up, one operation read twice and the
 * window's last ones never). Pages of two over three shards, the index changed between pages from the sink.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config } from '../../../src/config/config';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { RetentionSweep } from '../../../src/data-lifecycle/retention-sweep';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { Ledger } from '../../../src/ledger/ledger';
import type { OperationState } from '../../../src/ledger/operation-state';
import { Logger, silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { ReconciliationRunner, ReconciliationRunOptions, ReconciliationSummary } from '../../../src/reconciliation-run/reconciliation-runner';
import { ReconciliationRunState } from '../../../src/reconciliation-run/reconciliation-run-state';
import type { PspRecordPage } from '../../../src/reconciliation/psp-record';
import type { LineVerdict } from '../../../src/reconciliation/reconciliation-class';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { shardOfAnchor } from '../../../src/redis/key-layout';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { transformerFor } from '../../../src/gateways/gateway-registry';

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** Ledger operations read per page: small, so the window takes several pages and the index changes between them. */
const PAGE = 2;
/** Shards holding the window's operations, and operations per shard (in the window, and older ones before it). */
const SHARDS = 3;
const PER_SHARD = 3;

let redis: RedisClient;
const prefixes: string[] = [];

beforeAll(() => {
  redis = createRedis(testConfig().redis, 'commands');
});

afterAll(async () => {
  for (const p of prefixes) await unlinkMatching(redis, `${p}*`);
  redis.disconnect();
});

/** `count` order ids in each of `shards` different ledger shards (an order's operations live in its shard). */
function ordersByShard(tag: string, shards: number, count: number): string[][] {
  const byShard = new Map<number, string[]>();
  for (let i = 0; [...byShard.values()].filter((o) => o.length === count).length < shards; i += 1) {
    const order = `${tag}-${i}`;
    const shard = shardOfAnchor(order);
    const orders = byShard.get(shard) ?? (byShard.size < shards ? [] : undefined);
    if (!orders || orders.length === count) continue;
    orders.push(order);
    byShard.set(shard, orders);
  }
  return [...byShard.values()];
}

/** A namespace of its own: its ledger, a runner of the simulator's gateway whose PSP lists nothing, retention. */
function setup() {
  const config: Config = testConfig({ 'retention.archive_dir': mkdtempSync(join(tmpdir(), 'pb-recon-paging-')) });
  const prefix = config.redis.keyPrefix;
  prefixes.push(prefix);
  const logger = silentLogger();
  const ledger = new Ledger(redis, prefix);
  const eventsQueue = createOmsEventsQueue(redis, prefix);
  const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, prefix), eventsQueue, logger });
  const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, prefix), recorder, ledger, logger });
  const runner = (log: Logger = logger) =>
    new ReconciliationRunner({
      redis,
      prefix,
      gateway: 'simulator',
      transformer: transformerFor('simulator'),
      // The PSP lists nothing: every SUCCEEDED sale of the window is `missing_at_psp`, found by the ledger phase only.
      reader: {
        read: () =>
          (async function* (): AsyncGenerator<PspRecordPage> {
            yield* [];
          })(),
      },
      source: 'no PSP lines (test)',
      adjustments,
      recorder,
      logger: log,
      ledgerPageSize: PAGE,
    });
  /** A sale created at `at`, `state` a millisecond later. Its id. */
  const sale = async (order: string, at: number, state: OperationState): Promise<string> => {
    const command = channelCommand('sale', {}, { order_id: order, amount: 1500 });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command, at, { event: 'attempt' });
    await ledger.transition(id, state, { event: 'outcome' }, {}, at + 1);
    return id;
  };
  /**
   * In each of three shards: three sales that failed a day before the window (retention's to expire), then three
   * that succeeded in it (the PSP lists none of them). The window's ids, and the window.
   */
  const seed = async (tag: string, from: number) => {
    const window = { from, to: from + HOUR };
    const inWindow: string[] = [];
    const byShard = ordersByShard(tag, SHARDS, 2 * PER_SHARD);
    for (const orders of byShard) {
      for (const [i, order] of orders.entries()) {
        if (i < PER_SHARD) await sale(order, from - DAY + i, 'FAILED');
        else inWindow.push(await sale(order, from + i * 1000, 'SUCCEEDED'));
      }
    }
    return { window, inWindow, shards: byShard.map(([order]) => shardOfAnchor(order)) };
  };
  /** Retention as the poller runs it, its cutoff a minute before the window: the older sales expire, the window's stay. */
  const purge = async (window: { from: number }) =>
    new RetentionSweep({ config, redis, logger, now: () => window.from - 60_000 + config.retention.expireAfterDays * DAY }).runOnce();
  /** Runs the window, `between` awaited at the ledger phase's first verdict (its first page read). The operations judged. */
  const run = async (
    window: { from: number; to: number },
    between: () => Promise<void> = async () => undefined,
    options: Partial<ReconciliationRunOptions> = {},
    log?: Logger,
  ): Promise<{ summary: ReconciliationSummary; judged: string[] }> => {
    const judged: string[] = [];
    let first = true;
    const sink = {
      verdict: async (v: LineVerdict) => {
        if (v.class !== 'missing_at_psp' || !v.ledger) return;
        judged.push(v.ledger.operationId);
        if (first) {
          first = false;
          await between();
        }
      },
    };
    const summary = await runner(log).run({ window, sink, ...options });
    return { summary, judged };
  };
  const close = () => eventsQueue.close();
  return { config, prefix, ledger, sale, seed, purge, run, close };
}

describe('the ledger phase of a reconciliation run', () => {
  it('reads every operation of the window once when retention purges older operations from the creation index between its pages', async () => {
    const bed = setup();
    try {
      const { window, inWindow } = await bed.seed('PAGING-PURGE', 1_400_000_000_000);
      let expired = -1;
      const readBefore = await metricValue('pb_reconciliation_ledger_operations_read_total', { gateway: 'simulator' });
      const { summary, judged } = await bed.run(window, async () => {
        expired = (await bed.purge(window)).expired;
      });

      expect(expired).toBe(SHARDS * PER_SHARD);
      expect(summary.result).toBe('done');
      expect([...judged].sort()).toEqual([...inWindow].sort());
      expect(summary.classes.missing_at_psp).toBe(inWindow.length);
      expect((await metricValue('pb_reconciliation_ledger_operations_read_total', { gateway: 'simulator' })) - readBefore).toBe(inWindow.length);
    } finally {
      await bed.close();
    }
  });

  it('reads every operation of the window once when one is written with an earlier creation time between its pages (an import, a slower clock)', async () => {
    const bed = setup();
    try {
      const { window, inWindow, shards } = await bed.seed('PAGING-EARLIER', 1_400_100_000_000);
      // Before the window, in the first shard the run reads (shards in order): every rank of that shard's window moves up.
      const first = Math.min(...shards);
      let late = 0;
      while (shardOfAnchor(`PAGING-EARLIER-LATE-${late}`) !== first) late += 1;
      const order = `PAGING-EARLIER-LATE-${late}`;
      const { summary, judged } = await bed.run(window, async () => {
        await bed.sale(order, window.from - HOUR, 'SUCCEEDED');
      });

      expect(summary.result).toBe('done');
      expect(judged).toHaveLength(inWindow.length);
      expect([...judged].sort()).toEqual([...inWindow].sort());
    } finally {
      await bed.close();
    }
  });

  it('stopped after a page, resumes after the last operation it read though retention purged older ones meanwhile', async () => {
    const bed = setup();
    try {
      const { window, inWindow } = await bed.seed('PAGING-RESUME', 1_400_200_000_000);
      const controller = new AbortController();
      const first = await bed.run(window, undefined, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'ledger') controller.abort();
        },
      });
      expect(first.summary.result).toBe('stopped');
      expect(first.judged).toHaveLength(PAGE);
      expect((await bed.purge(window)).expired).toBe(SHARDS * PER_SHARD);

      const second = await bed.run(window);
      expect(second.summary).toMatchObject({ result: 'done', resumed: true });
      expect([...first.judged, ...second.judged].sort()).toEqual([...inWindow].sort());
      expect(second.summary.classes.missing_at_psp).toBe(inWindow.length);
    } finally {
      await bed.close();
    }
  });

  it("reads the window again from its start when an older release stored the phase's position as a rank, and says so", async () => {
    const bed = setup();
    try {
      const { window, inWindow } = await bed.seed('PAGING-RANK', 1_400_300_000_000);
      const state = new ReconciliationRunState(redis, bed.prefix, 'simulator', window, false, 3600);
      await redis.hset(state.key, 'status', 'running', 'phase', 'ledger', 'ledger_rank', '5');
      const logs = captureLogger('info');
      const { summary, judged } = await bed.run(window, undefined, {}, logs.logger);

      expect(summary).toMatchObject({ result: 'done', resumed: true });
      expect([...judged].sort()).toEqual([...inWindow].sort());
      expect(logs.lines.some((l) => l.includes("ledger phase read again from the window's start") && l.includes('"ledger_rank":5'))).toBe(true);
    } finally {
      await bed.close();
    }
  });
});
