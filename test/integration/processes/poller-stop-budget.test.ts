/**
 * The poll role's stop while its pass waits for a status inquiry the PSP never answers (real Redis and the PSP
 * simulator, own namespace; the simulator holds every answer about the operation): the wait for the pass under way
 * is bounded by the process's shutdown budget (`shutdown.deadline_ms`) instead of the gateway's timeout, so the
 * stop ends within the deadline. The pass is abandoned (warn line, `pb_shutdown_inflight_abandoned_total`) and
 * recorded in Redis before the stop closes it, where another process's scrape shows it
 * (`pb_shutdown_inflight_abandoned`) after this one has gone; the operation stays due, for the next pass to ask
 * about again. A second stop returns the first one's promise.
 */
import { ShutdownBudget, abandonedCountsKey } from '../../../src/amqp/shutdown-budget';
import { setScrapeCollector } from '../../../src/metrics/scrape-gauges';
import { scrapeSnapshot } from '../../../src/processes/scrape-snapshot';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { PollerProcess, startPollerProcess } from '../../../src/processes/poll-process';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { Config } from '../../../src/config/config';
import { RedisClient } from '../../../src/redis/redis-connection';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { usePollerStack } from '../../support/poller-stack';
import { eventually } from '../../support/tcp-proxy';

jest.setTimeout(60_000);

const API_KEY = 'sim-poller-stop-key-abcdefghij';
/** The process's deadline: far less than the inquiry's own timeout. */
const DEADLINE_MS = 3000;

const stack = usePollerStack({ apiKey: API_KEY }, (url) => ({
  'shutdown.deadline_ms': DEADLINE_MS,
  gateways: { simulator: { type: 'simulator', base_url: url, api_key: API_KEY, timeout_ms: 30_000 } },
}));
let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
const pollers: PollerProcess[] = [];

beforeAll(() => {
  ({ sim, config, redis } = stack);
});

afterAll(async () => {
  setScrapeCollector(null);
  for (const p of pollers) await p.stop().catch(() => undefined);
});

it('stops within the deadline while a status inquiry never answers: the pass abandoned (warn line, counted), the operation still due', async () => {
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const command = channelCommand('authorize', {}, { gateway: 'simulator' });
  const id = command.payment.operation_reference as string;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
  await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
  sim.hold(id);
  const abandoned = await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'poller', work: 'poll_pass' });
  const logs = captureLogger('info');
  const inquiries = sim.counters().inquiries;
  const poller = await startPollerProcess(config, logs.logger, createGatewayClients(config), { monitoringPort: 0 });
  pollers.push(poller);
  // The start's pass asks about the operation, and waits for an answer that never comes.
  await eventually(() => sim.counters().inquiries > inquiries, 10_000);

  const started = Date.now();
  const stopping = poller.stop(ShutdownBudget.of(DEADLINE_MS));
  const outcome = await Promise.race([stopping.then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), DEADLINE_MS + 5000).unref())]);
  const tookMs = Date.now() - started;
  expect(outcome).toBe('stopped');
  expect(tookMs).toBeLessThan(DEADLINE_MS);
  const warn = logs.lines.find((l) => l.includes('poller stop: work under way abandoned at shutdown.deadline_ms'));
  expect(warn).toBeDefined();
  expect(JSON.parse(warn as string)).toMatchObject({ level: 'warn', work: ['poll_pass'] });
  expect(await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'poller', work: 'poll_pass' })).toBe(abandoned + 1);
  // Recorded in Redis before the stop closed it: the fleet's figure survives the process.
  expect(await redis.hgetall(abandonedCountsKey(config.redis.keyPrefix))).toEqual({ 'poller:poll_pass': '1' });
  // Another process's scrape (this one's collector is gone with its stop) shows it, and every other pair at 0.
  setScrapeCollector(scrapeSnapshot({ config, redis, queues: {} }));
  expect(await metricValue('pb_shutdown_inflight_abandoned', { role: 'poller', work: 'poll_pass' })).toBe(1);
  expect(await metricValue('pb_shutdown_inflight_abandoned', { role: 'worker', work: 'command' })).toBe(0);
  setScrapeCollector(null);
  // Nothing was decided: the operation waits for the next pass.
  expect(await ledger.get(id)).toMatchObject({ state: 'UNKNOWN', pollStep: 0 });
  // A second stop (a second signal, a clean-up) is the first: it does not wait again for the pass it abandoned, whose
  // inquiry is still held (on a Redis Cluster that pass would then wait on the closed client for good).
  const again = await Promise.race([poller.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), 1000).unref())]);
  expect(again).toBe('stopped');
  sim.release(id);
});
