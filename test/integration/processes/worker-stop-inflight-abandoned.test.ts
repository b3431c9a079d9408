/**
 * A worker's stop while its PSP calls never answer (real RabbitMQ, Redis and the PSP simulator, own namespace; the
 * simulator holds every answer about the operations: they land, nothing comes back): the wait for the work in flight
 * is bounded by the process's shutdown budget (`shutdown.deadline_ms`), so the stop ends within the deadline instead
 * of the supervisor's SIGKILL. What is still in flight is abandoned: left unacked (the channel's close returns it to
 * its queue), named in a warn line, counted in `pb_shutdown_inflight_abandoned_total` and recorded in Redis before the
 * stop closes it (the fleet's `pb_shutdown_inflight_abandoned`, read by the other processes' scrapes). Redelivered, each goes out
 * again under the same idempotency key, so the PSP performs it once and the ledger records one outcome.
 */
import { ShutdownBudget, abandonedCountsKey } from '../../../src/amqp/shutdown-budget';
import { ensureDelivery } from '../../../src/delivery/requeue-delivery';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { operationIdOf } from '../../../src/ledger/operation-id';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { silentLogger } from '../../../src/logging/logger';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

// Above the sum of the first test's waits: 10 s + the stop's hang guard + 2 × BROKER_MS + 20 s, and the hooks'.
jest.setTimeout(120_000);

const API_KEY = 'sim-inflight-abandon-key-abcdefgh';
/** The process's deadline: far less than the PSP call's own timeout. */
const DEADLINE_MS = 3000;
/**
 * A wait for what RabbitMQ (another process) does with the messages a stop left unacked: generous, as CI runs this
 * file beside others on a loaded machine. The stop's own bound is asserted on its own (`tookMs`), never through it.
 */
const BROKER_MS = 15_000;

describe('a worker stop with PSP calls that never answer is bounded by shutdown.deadline_ms (real RabbitMQ, Redis, PSP simulator)', () => {
  let sim: PspSimulator;
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let redis: RedisClient;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    sim = await startPspSimulator({ apiKey: API_KEY });
    config = testConfig({
      'shutdown.deadline_ms': DEADLINE_MS,
      // A PSP call outlives the deadline many times over: only the budget can end the stop in time.
      gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, timeout_ms: 30_000 } },
    });
    client = await amqpClient(config);
    redis = createRedis(config.redis, 'commands', silentLogger());
  });

  afterAll(async () => {
    for (const w of workers) await w.stop().catch(() => undefined);
    await sim.stop();
    redis.disconnect();
    await client.deleteNamespace();
    await client.close();
    await purgeNamespace(config).catch(() => undefined);
  });

  async function worker(logger = captureLogger('info').logger): Promise<WorkerProcess> {
    const w = await startWorkerProcess(config, logger, { routes: createGatewayClients(config), notifier: { notify: async () => undefined } });
    workers.push(w);
    return w;
  }

  /** What the stops recorded in Redis for `field` (`<role>:<work>`). */
  async function recordedAbandons(field: string): Promise<number> {
    return Number((await redis.hget(abandonedCountsKey(config.redis.keyPrefix), field)) ?? 0);
  }

  it('stops within the deadline, the work in flight left unacked (warn line with its operation ids, counted); redelivered, each operation is carried out once', async () => {
    const logs = captureLogger('info');
    const first = await worker(logs.logger);
    const blackHoled = [1, 2].map(() => channelCommand('authorize'));
    const ids = blackHoled.map((c) => operationIdOf(c));
    for (const id of ids) sim.hold(id);
    const abandoned = await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'worker', work: 'command' });
    const recorded = await recordedAbandons('worker:command');
    for (const command of blackHoled) await client.publish('web.payment.authorize', command);
    // Both PSP calls landed and wait for an answer that never comes.
    await eventually(() => sim.counters().totalEffects >= blackHoled.length, 10_000);

    const started = Date.now();
    const stopping = first.stop(ShutdownBudget.of(DEADLINE_MS));
    const outcome = await Promise.race([stopping.then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), DEADLINE_MS + 5000).unref())]);
    const tookMs = Date.now() - started;
    // Stopped once: a second stop, unbounded, would wait for the abandoned calls' own timeout.
    workers.splice(workers.indexOf(first), 1);
    expect(outcome).toBe('stopped');
    expect(tookMs).toBeLessThan(DEADLINE_MS);
    const warn = logs.lines.find((l) => l.includes('work in flight abandoned'));
    expect(warn).toBeDefined();
    const line = JSON.parse(warn as string) as { level: string; abandoned: number; operation_ids: string[] };
    expect(line.level).toBe('warn');
    expect(line.abandoned).toBe(blackHoled.length);
    expect([...line.operation_ids].sort()).toEqual([...ids].sort());
    expect(await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'worker', work: 'command' })).toBe(abandoned + blackHoled.length);
    // Recorded in Redis before the stop closed it: the fleet's figure outlives the process.
    expect(await recordedAbandons('worker:command')).toBe(recorded + blackHoled.length);
    // Left unacked: the channel's close gave them back to the broker.
    await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === blackHoled.length, BROKER_MS);
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    for (const id of ids) expect((await ledger.get(id))?.state).toBe('SENT');

    // The PSP answers again (the stopped worker's calls get their answers too, after its stop: they write nothing).
    for (const id of ids) sim.release(id);
    const second = await worker();
    await eventually(async () => {
      for (const id of ids) if ((await ledger.get(id))?.state !== 'SUCCEEDED') return false;
      return true;
    }, 20_000);
    await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === 0, BROKER_MS);
    // Sent again under the same idempotency key: the PSP replayed its answer, nothing was performed twice.
    const counters = sim.counters();
    expect(counters.totalEffects).toBe(blackHoled.length);
    expect(counters.maxEffectsPerKey).toBe(1);
    expect(second.consumer.stats).toMatchObject({ duplicates: blackHoled.length, deadLettered: 0 });
    // One outcome each: one outcome entry in the history (written with the outcome's one move and its event).
    for (const id of ids) {
      const outcomes = (await ledger.interactions(id)).filter((h) => h.event === 'outcome');
      expect(outcomes).toHaveLength(1);
    }
  });
  it('stops within the deadline while a delivery job (the retry path) waits for a PSP that never answers: the job abandoned (warn line, counted), run again by another worker once its lock lapses, carried out once', async () => {
    // Only the workers of this test: one left running would take the job.
    for (const w of workers.splice(0)) await w.stop();
    const logs = captureLogger('info');
    const first = await worker(logs.logger);
    const command = channelCommand('authorize');
    const id = operationIdOf(command);
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    await ledger.create(id, command, Date.now());
    sim.hold(id);
    const effects = sim.counters().totalEffects;
    const abandoned = await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'worker', work: 'queue_job' });
    const recorded = await recordedAbandons('worker:queue_job');
    await ensureDelivery(first.deliveryQueue, id, 0);
    // The job's PSP call landed and waits for an answer that never comes.
    await eventually(() => sim.counters().totalEffects > effects, 10_000);

    const started = Date.now();
    const stopping = first.stop(ShutdownBudget.of(DEADLINE_MS));
    const outcome = await Promise.race([stopping.then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), DEADLINE_MS + 5000).unref())]);
    const tookMs = Date.now() - started;
    workers.splice(workers.indexOf(first), 1);
    expect(outcome).toBe('stopped');
    expect(tookMs).toBeLessThan(DEADLINE_MS);
    const warn = logs.lines.find((l) => l.includes('worker stop: queue jobs abandoned at shutdown.deadline_ms'));
    expect(warn).toBeDefined();
    expect(JSON.parse(warn as string)).toMatchObject({ level: 'warn', abandoned: 1 });
    expect(await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'worker', work: 'queue_job' })).toBe(abandoned + 1);
    expect(await recordedAbandons('worker:queue_job')).toBe(recorded + 1);
    expect((await ledger.get(id))?.state).toBe('SENT');

    // Its lock lapses (nothing renews it once the stop closed Redis); another worker's stalled-job check runs it again.
    sim.release(id);
    await worker();
    await eventually(async () => (await ledger.get(id))?.state === 'SUCCEEDED', 20_000);
    expect(sim.counters().maxEffectsPerKey).toBe(1);
    expect(sim.counters().totalEffects).toBe(effects + 1);
    expect((await ledger.interactions(id)).filter((h) => h.event === 'outcome')).toHaveLength(1);
  });
  it('stops within the deadline while its in-process poll pass waits for a status inquiry that never answers: the pass abandoned (warn line, counted), the operation still due', async () => {
    for (const w of workers.splice(0)) await w.stop();
    // A config of its own (own namespace) that runs the periodic jobs in the worker.
    const polling = testConfig({
      'shutdown.deadline_ms': DEADLINE_MS,
      'poller.in_process_interval_ms': 200,
      gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, timeout_ms: 30_000 } },
    });
    const own = await amqpClient(polling);
    const ledger = new Ledger(redis, polling.redis.keyPrefix);
    const command = channelCommand('authorize');
    const id = operationIdOf(command);
    await ledger.create(id, command, Date.now());
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
    await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
    sim.hold(id);
    const abandoned = await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'worker', work: 'poll_pass' });
    const logs = captureLogger('info');
    const inquiries = sim.inquiriesOf(id);
    const w = await startWorkerProcess(polling, logs.logger, { routes: createGatewayClients(polling), notifier: { notify: async () => undefined } });
    try {
      // Its own inquiry, not any: the global count moves with any other operation's.
      await eventually(() => sim.inquiriesOf(id) > inquiries, 10_000);
      const started = Date.now();
      const stopping = w.stop(ShutdownBudget.of(DEADLINE_MS));
      const outcome = await Promise.race([stopping.then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), DEADLINE_MS + 5000).unref())]);
      expect(outcome).toBe('stopped');
      expect(Date.now() - started).toBeLessThan(DEADLINE_MS);
      expect(logs.lines.some((l) => l.includes('worker stop: poll pass abandoned at shutdown.deadline_ms') && l.includes('"level":"warn"'))).toBe(true);
      expect(await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'worker', work: 'poll_pass' })).toBe(abandoned + 1);
      expect(await ledger.get(id)).toMatchObject({ state: 'UNKNOWN', pollStep: 0 });
    } finally {
      sim.release(id);
      await own.deleteNamespace();
      await own.close();
      await purgeNamespace(polling).catch(() => undefined);
    }
  });
});
