/**
 * A worker's stop against a broker gone silent (real RabbitMQ, Redis and the PSP simulator, own namespace; a TCP
 * proxy that stops forwarding what the worker sends: the connection stays open, nothing is answered), with the
 * process's shutdown budget: the broker steps (the consumer's and the redactor's cancels and closes, the connection's
 * close) share `shutdown.deadline_ms` rather than each waiting its own `amqp.publish_timeout_ms` one after another
 * (the connection's close alone waits 5 s), so the stop ends within the deadline instead of the process exiting
 * through the deadline's timer with code 1. Nothing is lost: the messages under way (worked on, their acks never
 * read) and those delivered after the stop began (left unacked) are in the queue again once the silent node's
 * connections go, delivered again once the broker answers, and each operation is carried out once.
 */
import { ShutdownBudget } from '../../../src/amqp/shutdown-budget';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { operationIdOf } from '../../../src/ledger/operation-id';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { createRedis, RedisClient } from '../../../src/redis/redis-connection';
import { silentLogger } from '../../../src/logging/logger';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { TcpProxy, eventually, startTcpProxy } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(60_000);

const API_KEY = 'sim-shutdown-budget-key-abcdefgh';
/** Each broker step's own bound. */
const BOUND_MS = 1000;
/** The process's deadline: fewer than the steps' bounds added up (four of them, and the connection's 5 s close). */
const DEADLINE_MS = 4000;
/** What the PSP takes per call: the commands are under way when the broker goes silent. */
const PSP_MS = 800;

describe('a worker stop with a silent broker shares the shutdown deadline (real RabbitMQ, Redis, PSP simulator)', () => {
  let sim: PspSimulator;
  let proxy: TcpProxy;
  let config: Config;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let redis: RedisClient;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    sim = await startPspSimulator({ apiKey: API_KEY, faults: { latencyMs: { min: PSP_MS, max: PSP_MS } } });
    proxy = await startTcpProxy(Number(new URL(process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672').port || 5672));
    config = testConfig({
      'amqp.url': proxy.url('amqp', 'guest:guest'),
      'amqp.publish_timeout_ms': BOUND_MS,
      'amqp.reconnect_ms': 50,
      'shutdown.deadline_ms': DEADLINE_MS,
      gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, timeout_ms: 5000 } },
    });
    client = await amqpClient(config);
    redis = createRedis(config.redis, 'commands', silentLogger());
  });

  afterAll(async () => {
    proxy.release();
    for (const w of workers) await w.stop().catch(() => undefined);
    await proxy.close();
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

  it('stops within the deadline, the steps it cut named in a warn line; what was under way or delivered meanwhile is delivered again once the broker answers, each operation carried out once', async () => {
    const logs = captureLogger('info');
    const first = await worker(logs.logger);
    const underWay = [1, 2, 3].map(() => channelCommand('authorize'));
    for (const command of underWay) await client.publish('web.payment.authorize', command);
    // The PSP calls are under way: their acks come after the broker went silent.
    await eventually(() => sim.counters().requests >= underWay.length, 10_000);
    proxy.hold();
    const started = Date.now();
    const stopping = first.stop(ShutdownBudget.of(DEADLINE_MS));
    // Delivered after the stop began (the broker never read the cancel): left unacked, never worked on.
    const late = [1, 2].map(() => channelCommand('authorize'));
    for (const command of late) await client.publish('web.payment.authorize', command);
    const outcome = await Promise.race([stopping.then(() => 'stopped'), new Promise((r) => setTimeout(() => r('hung'), 20_000).unref())]);
    const tookMs = Date.now() - started;
    expect(outcome).toBe('stopped');
    expect(tookMs).toBeLessThan(DEADLINE_MS);
    const cut = logs.lines.find((l) => l.includes('worker stop: broker steps cut short to stay within shutdown.deadline_ms'));
    expect(cut).toContain('amqp_connection');
    // The worker finished the PSP calls under way (their outcomes recorded, SUCCEEDED) before it stopped.
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    for (const command of underWay) expect((await ledger.get(operationIdOf(command)))?.state).toBe('SUCCEEDED');
    for (const command of late) expect(await ledger.get(operationIdOf(command))).toBeNull();
    expect(sim.counters().totalEffects).toBe(underWay.length);

    // The silent node's connections go without what the worker sent meanwhile (the acks of the work under way among
    // it): the broker requeues every message that connection held unacked; then it answers again.
    proxy.cut();
    proxy.restore();
    const all = [...underWay, ...late];
    await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === all.length, 10_000);
    const second = await worker();
    await eventually(async () => {
      for (const command of all) if ((await ledger.get(operationIdOf(command)))?.state !== 'SUCCEEDED') return false;
      return true;
    }, 20_000);
    await eventually(async () => (await client.queueDepth(config.amqp.commandsQueue)) === 0, 10_000);
    // Each operation was carried out once at the PSP: the under-way ones came back as duplicates, the late ones as new.
    const counters = sim.counters();
    expect(counters.totalEffects).toBe(all.length);
    expect(counters.maxEffectsPerKey).toBe(1);
    expect(second.consumer.stats).toMatchObject({ accepted: late.length, duplicates: underWay.length, deadLettered: 0 });
  });

  it("a stop the broker answers in time names no step cut short, even when the budget is less than a step's own bound (the connection close's 5 s)", async () => {
    const logs = captureLogger('info');
    const w = await worker(logs.logger);
    // 3 s left: less than the connection close's own 5 s, more than every step needs with a broker that answers.
    const budget = ShutdownBudget.of(DEADLINE_MS);
    await w.stop(budget);
    expect(budget.leftMs()).toBeGreaterThan(0);
    expect(budget.cut).toEqual([]);
    expect(logs.lines.filter((l) => l.includes('broker steps cut short'))).toEqual([]);
  });
});
