/**
 * Adaptive in-flight on a real worker (RabbitMQ, Redis, the PSP simulator over loopback HTTP): with slow
 * PSP answers and a backlog the limit grows past its start value, so more commands are in flight than a
 * fixed prefetch of that size would allow; over a memory budget it is cut to its minimum.
 */
import { priorityExchangeOf } from '../../../src/admission/command-priority';
import { channelSignatureHeaders } from '../../../src/channels/channel-signature';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(120_000);

const API_KEY = 'sim-adaptive-inflight-key-0123456789';

let sim: PspSimulator;
const configs: Config[] = [];
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  // As slow as a real PSP: every answer after 300 ms.
  sim = await startPspSimulator({ apiKey: API_KEY, faults: { latencyMs: { min: 300, max: 300 } } });
});

afterAll(async () => {
  for (const w of workers) await w.stop().catch(() => undefined);
  await sim.stop();
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

function config(inflight: Record<string, unknown>): Config {
  const c = testConfig({
    'inflight.interval_ms': 200,
    // The machine is shared and loaded: event-loop delay must not decide these tests.
    'inflight.lag_limit_ms': 5000,
    ...inflight,
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, timeout_ms: 10_000, warm_sockets: 0 } },
  });
  configs.push(c);
  return c;
}

async function worker(c: Config, logger = captureLogger('info').logger, routes = createGatewayClients(c)): Promise<WorkerProcess> {
  const w = await startWorkerProcess(c, logger, { routes, notifier: { notify: async () => undefined } });
  workers.push(w);
  return w;
}

/** Publishes `count` authorizations; `beforePublish` sees their operation ids first. */
async function backlog(c: Config, count: number, beforePublish: (ids: string[]) => void = () => undefined): Promise<void> {
  const client = await amqpClient(c);
  try {
    const commands = Array.from({ length: count }, () => channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    beforePublish(commands.map((command) => command.payment.operation_reference!));
    await Promise.all(commands.map((command) => client.publish('web.payment.authorize', command)));
  } finally {
    await client.close();
  }
}

describe('adaptive in-flight', () => {
  it('grows the limit past its start value while slow PSP answers leave work waiting, and works on more commands at once than it started with', async () => {
    const c = config({ 'inflight.initial': 8, 'inflight.min': 4, 'inflight.max': 200, 'inflight.memory_budget_mib': 100_000 });
    const w = await worker(c);
    expect(w.inflight?.gate.limit).toBe(8);

    await backlog(c, 1500);

    let peak = 0;
    await eventually(
      () => {
        peak = Math.max(peak, w.inflight?.gate.inFlight ?? 0);
        return (w.inflight?.gate.limit ?? 0) >= 40 && peak > 8;
      },
      90_000,
      20,
    );
    expect(peak).toBeGreaterThan(8);
    expect(await metricValue('pb_worker_inflight_limit')).toBeGreaterThanOrEqual(40);
    expect(await metricValue('pb_worker_inflight_adjustments_total', { reason: 'grow' })).toBeGreaterThan(0);
    // The delivery notes each PSP call's time, so the controller sees the worker's own share of a command.
    await eventually(() => Number.isFinite(w.inflight?.last?.workerTimeMs ?? Number.NaN), 10_000, 20);
    expect(w.inflight?.last?.workerTimeMs).toBeGreaterThanOrEqual(0);
    await w.stop();
  });

  it('over a memory budget no process fits in: cuts with a warning, then holds (memory_floor) with one warning naming the budget, since the cut did not lower RSS', async () => {
    // A budget under any process's floor: RSS does not follow the in-flight limit, so cutting down to min
    // would only cost throughput. The first cut comes at once; after the settling time (10 intervals, 2 s
    // here) the limit holds instead of being cut again.
    const c = config({ 'inflight.initial': 16, 'inflight.min': 6, 'inflight.max': 200, 'inflight.memory_budget_mib': 1 });
    const logs = captureLogger('info');
    const w = await worker(c, logs.logger);

    await backlog(c, 400);

    await eventually(async () => (await metricValue('pb_worker_inflight_decisions_total', { reason: 'memory_floor' })) > 0, 90_000, 20);
    expect(await metricValue('pb_worker_inflight_adjustments_total', { reason: 'memory' })).toBeGreaterThan(0);
    // Between the cut and the floor the limit held while RSS had time to follow: no cut every interval.
    expect(await metricValue('pb_worker_inflight_decisions_total', { reason: 'memory_wait' })).toBeGreaterThan(0);
    const lines = logs.lines.map((l) => JSON.parse(l) as { message?: string; level?: string; memory_budget_mib?: number; limit?: number });
    const cuts = lines.filter((l) => l.message === 'in-flight limit cut (memory)');
    expect(cuts.length).toBeGreaterThan(0);
    expect(cuts[0].level).toBe('warn');
    const floor = lines.filter((l) => l.message?.startsWith('in-flight limit held over the memory budget'));
    expect(floor).toHaveLength(1);
    expect(floor[0]).toMatchObject({ level: 'warn', memory_budget_mib: 1 });
    expect(floor[0].limit).toBeGreaterThan(6);
    await w.stop();
  });
});

describe('the priority lane under the adaptive in-flight limit', () => {
  /** Publishes captures to the priority exchange, signed as the web channel signs; `beforePublish` sees each id first. */
  async function publishPriority(c: Config, count: number, beforePublish: (id: string) => void = () => undefined): Promise<string[]> {
    const client = await amqpClient(c);
    const channel = await client.model.createConfirmChannel();
    const refs: string[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const command = channelCommand('capture', {}, { gateway_key: `pi_priority_${i}` });
        refs.push(command.payment.operation_reference!);
        beforePublish(command.payment.operation_reference!);
        const content = Buffer.from(JSON.stringify(command));
        channel.publish(priorityExchangeOf(c.amqp), 'web.payment.capture', content, {
          persistent: true,
          headers: channelSignatureHeaders(content, c.channels.credentials.web![0]),
        });
      }
      await channel.waitForConfirms();
    } finally {
      await channel.close().catch(() => undefined);
      await client.close();
    }
    return refs;
  }

  it('works on as many captures at once as the adaptive limit allows, not the fixed amqp.prefetch', async () => {
    // A fixed limit of 24; amqp.prefetch 2 is what bounded the priority lane before it shared the gate.
    const c = config({ 'inflight.initial': 24, 'inflight.min': 24, 'inflight.max': 24, 'amqp.prefetch': 2, 'inflight.memory_budget_mib': 100_000 });
    const w = await worker(c);
    await publishPriority(c, 60);

    let peak = 0;
    await eventually(
      () => {
        peak = Math.max(peak, w.inflight?.gate.inFlight ?? 0);
        return peak >= 12;
      },
      30_000,
      10,
    );
    expect(peak).toBeGreaterThanOrEqual(12);
    expect(peak).toBeLessThanOrEqual(24);
    await w.stop();
  });

  it('starts a capture at the next free slot, ahead of the authorizations waiting in the worker, never above the limit', async () => {
    // A limit of 4 that holds (no interval ends within the test); the prefetch (inflight.max) lets the rest wait in the worker.
    const c = config({ 'inflight.initial': 4, 'inflight.min': 4, 'inflight.max': 64, 'inflight.interval_ms': 600_000, 'inflight.memory_budget_mib': 100_000 });
    // The PSP calls wait at a gate the test opens one call at a time: which command takes the slot freed is then
    // the worker's choice alone, not a race between the backlog's pace and the capture's arrival on a loaded machine.
    const authorizations = new Set<string>();
    let capture = '';
    let authorizationsStarted = 0;
    let captureStarted = false;
    const heldCalls: Array<() => void> = [];
    let gateOpen = false;
    const routes = createGatewayClients(c);
    const simulator = routes.get('simulator')!.client;
    const send = simulator.send.bind(simulator);
    jest.spyOn(simulator, 'send').mockImplementation(async (request) => {
      const reference = request.body === undefined ? undefined : (JSON.parse(request.body) as { reference?: unknown }).reference;
      if (typeof reference === 'string' && authorizations.has(reference)) authorizationsStarted += 1;
      else if (reference === capture) captureStarted = true;
      else return send(request);
      if (!gateOpen) await new Promise<void>((resolve) => heldCalls.push(resolve));
      return send(request);
    });
    const w = await worker(c, undefined, routes);
    const priorityWaiting = () => (w.inflight?.gate as unknown as { priorityWaiters: unknown[] } | undefined)?.priorityWaiters.length ?? 0;
    const redis = createRedis(c.redis, 'commands');
    const ledger = new Ledger(redis, c.redis.keyPrefix);
    try {
      await backlog(c, 40, (ids) => ids.forEach((id) => authorizations.add(id)));
      // Four authorizations hold the four slots at the gate; the 36 others wait in the worker.
      await eventually(() => authorizationsStarted === 4 && (w.inflight?.gate.waiting ?? 0) === 36, 30_000, 10);
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, w.inflight?.gate.inFlight ?? 0)), 5);
      try {
        // The capture is published once its id is known to the gate (its call is held too: it keeps its slot).
        const [published] = await publishPriority(c, 1, (id) => (capture = id));
        expect(published).toBe(capture);
        // The capture waits for a slot too (the gate's priority line, reached into: the one sign that it is the
        // capture waiting, not one more authorization); then one authorization's call goes on and frees its slot.
        await eventually(() => priorityWaiting() === 1, 30_000, 10);
        heldCalls.shift()!();
        await eventually(() => captureStarted, 30_000, 10);
        expect(await ledger.get(capture)).not.toBeNull();
      } finally {
        clearInterval(sampler);
      }
      // The freed slot went to the capture: no waiting authorization started before it, and most still wait.
      expect(authorizationsStarted).toBe(4);
      expect(w.inflight?.gate.waiting ?? 0).toBeGreaterThan(10);
      expect(peak).toBeLessThanOrEqual(4);
    } finally {
      gateOpen = true;
      for (const release of heldCalls.splice(0)) release();
      redis.disconnect();
      await w.stop();
    }
  });
});
