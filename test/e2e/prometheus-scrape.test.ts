/**
 * A real Prometheus (Debian's `prometheus` package, scrape interval 1 s, loopback, its own storage) scrapes
 * a running local stack (web and two workers with their monitoring ports) while a known workload runs, and
 * its HTTP API gives back the workload's counts.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStack, startLocalStack } from '../../harness/twins/local-stack/local-stack';
import { PrometheusServer, startPrometheus } from '../../harness/twins/local-stack/prometheus-server';
import { ChannelPublisher } from '../../harness/workload/channel-publisher';
import { channelCommand } from '../support/fixtures';
import { eventually } from '../support/tcp-proxy';
import { testNamespace } from '../support/test-config';

jest.setTimeout(120_000);

let stack: LocalStack;
let prometheus: PrometheusServer;
let publisher: ChannelPublisher;

beforeAll(async () => {
  stack = await startLocalStack({ namespace: testNamespace(), workers: 2, monitoring: true, simulator: { seed: 11 }, register: false });
  prometheus = await startPrometheus({ dir: mkdtempSync(join(tmpdir(), 'pb-prometheus-')), targets: stack.metricsTargets, scrapeIntervalMs: 1000 });
  publisher = await ChannelPublisher.open(stack.config);
});

afterAll(async () => {
  await publisher?.close();
  await prometheus?.stop();
  await stack?.stop({ purge: true });
});

describe('Prometheus scraping a running stack', () => {
  it('names the workers it started together apart, each with its own log (the bench keys its per-process rows by name)', () => {
    expect(stack.workers.map((w) => w.name)).toEqual(['worker-1', 'worker-2']);
    expect(new Set(stack.workers.map((w) => stack.monitoringTargetOf(w))).size).toBe(2);
    expect(existsSync(join(stack.dir, 'worker-1.log')) && existsSync(join(stack.dir, 'worker-2.log'))).toBe(true);
  });

  it('scrapes web and both workers and counts a known workload: 20 POS authorizations, all succeeded', async () => {
    expect(stack.metricsTargets).toHaveLength(3);
    await eventually(async () => (await prometheus.query('up{job="payment-bridge"} == 1')).length === 3, 20_000, 500);

    for (let i = 0; i < 20; i += 1) await publisher.publish(channelCommand('authorize', { channel: 'pos' }, { gateway_key: 'pm_card_visa' }));

    const succeeded = 'sum(pb_commands_total{channel="pos",command="authorize",outcome="succeeded"})';
    await eventually(async () => (await prometheus.scalar(succeeded)) === 20, 60_000, 500);
    expect(await prometheus.scalar('sum(pb_commands_total{outcome!="succeeded"})')).toBe(0);
    // Every outcome event reached the bus (twin) and its end-to-end latency was observed.
    await eventually(async () => (await prometheus.scalar('sum(pb_command_e2e_seconds_count{channel="pos",outcome="succeeded"})')) === 20, 20_000, 500);
    expect(await prometheus.scalar('sum(pb_gateway_requests_total{gateway="simulator",call="send",result="ok"})')).toBeGreaterThanOrEqual(20);
    // Scrape-time gauges: both workers report the ledger's figure; max gives it once.
    await eventually(async () => (await prometheus.scalar('max(pb_operations{state="SUCCEEDED"})')) === 20, 10_000, 500);
    expect(await prometheus.scalar('max(pb_queue_depth{queue="commands",state="ready"})')).toBe(0);
    expect(await prometheus.scalar('max(pb_gateway_breaker_state)')).toBe(0);
    // The KPI query of the README answers 1 (every command decided by the PSP).
    // increase() needs two samples of the series in its window: wait for the scrape after the one that first saw it.
    const kpi = 'sum(increase(pb_commands_total{outcome=~"succeeded|declined"}[1m])) / sum(increase(pb_commands_total[1m]))';
    await eventually(async () => Number.isFinite((await prometheus.query(kpi))[0]?.value), 10_000, 500);
    const rate = await prometheus.query(kpi);
    expect(rate[0]?.value).toBeCloseTo(1, 5);
  });
});
