import { Config } from '../../../src/config/config';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { reconcile } from '../../../src/reconciliation-run/reconcile';
import { ReconciliationSchedule } from '../../../src/reconciliation-run/reconciliation-schedule';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-schedule-test-key-0123456789';
const HOUR = 3_600_000;

let sim: PspSimulator;
let redis: RedisClient;
const configs: Config[] = [];

/** A namespace of its own with the schedule on, hourly windows, no lag, over one simulator gateway. */
function scheduleConfig(): { config: Config; ledger: Ledger } {
  const config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-schedule-test-0123456789', timeout_ms: 5000 } },
    'reconciliation.schedule': 'on',
    'reconciliation.window_ms': HOUR,
    'reconciliation.interval_ms': HOUR,
    'reconciliation.lag_ms': 0,
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  return { config, ledger: new Ledger(redis, config.redis.keyPrefix) };
}

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
});

afterAll(async () => {
  redis.disconnect();
  await sim.stop();
  for (const config of configs) await purgeNamespace(config).catch(() => undefined);
});

describe('the reconciliation schedule (real Redis, the PSP simulator)', () => {
  it("reconciles the latest complete window first, starts the gateway's reconciled-through mark with it, and reports no unreconciled window", async () => {
    const { config, ledger } = scheduleConfig();
    const now = Math.floor(Date.now() / HOUR) * HOUR + 60_000;
    const { logger, lines } = captureLogger('warn');
    const report = await new ReconciliationSchedule({ config, redis, logger, now: () => now }).runOnce();
    const latestEnd = now - 60_000;
    expect(report.runs.filter((r) => r.gateway === 'simulator')).toEqual([
      expect.objectContaining({ window: { from: latestEnd - HOUR, to: latestEnd }, result: 'done' }),
    ]);
    expect(await ledger.reconciledThrough('simulator')).toBe(latestEnd);
    expect(await metricValue('pb_reconciliation_unreconciled_windows', { gateway: 'simulator' })).toBe(0);
    expect(lines).toEqual([]);
  });

  it('says when the schedule runs but covers nothing: windows that never join a mark an old manual run left are counted and named in a warn line', async () => {
    const { config, ledger } = scheduleConfig();
    const now = Math.floor(Date.now() / HOUR) * HOUR + 60_000;
    const latestEnd = now - 60_000;
    // A manual run of a window ten hours back, before the schedule was on, started the gateway's mark there.
    await reconcile(config, {
      gateway: 'simulator',
      window: { from: latestEnd - 10 * HOUR, to: latestEnd - 9 * HOUR },
      redis,
      logger: captureLogger('error').logger,
    });
    const capture = captureLogger('warn');
    // The schedule's first pass starts with the latest complete window, past the gap.
    const report = await new ReconciliationSchedule({ config, redis, logger: capture.logger, now: () => now }).runOnce();
    expect(report.runs.filter((r) => r.gateway === 'simulator')).toEqual([expect.objectContaining({ result: 'done' })]);
    expect(await ledger.reconciledThrough('simulator')).toBe(latestEnd - 9 * HOUR);
    expect(await metricValue('pb_reconciliation_unreconciled_windows', { gateway: 'simulator' })).toBe(9);
    const warn = capture.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('reconciliation is behind'));
    expect(warn).toMatchObject({ gateway: 'simulator', windows: 9, reconciled_through: new Date(latestEnd - 9 * HOUR).toISOString() });
  });
});
