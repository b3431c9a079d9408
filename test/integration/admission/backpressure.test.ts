/**
 * Backpressure and the priority lane, on the real RabbitMQ and Redis: past `backpressure.max_backlog`
 * messages waiting in the commands queue the bus gets 503 + Retry-After for new authorizations while
 * captures, cancels and refunds are still accepted; and a capture does not wait behind a backlog of
 * authorizations (it rides `<commands queue>.priority`, consumed on a channel of its own).
 */
import axios from 'axios';
import { signBody } from '../../../src/bus/x-signature';
import { JSON_RPC } from '../../../src/bus/json-rpc';
import { Config } from '../../../src/config/config';
import { priorityQueueOf } from '../../../src/admission/command-priority';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { isTerminal } from '../../../src/ledger/operation-state';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, channelCommand, payment } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

jest.setTimeout(90_000);

const METHOD = (name: string) => `magento.payments.payments_management.${name}`;

function post(web: WebProcess, config: Config, body: unknown) {
  const raw = JSON.stringify(body);
  return axios.post(web.intakeUrl, raw, {
    headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
    validateStatus: () => true,
    transformRequest: [(d: unknown) => d],
  });
}

async function ready(web: WebProcess): Promise<void> {
  await eventually(async () => (await axios.get(`${web.server.url}/readyz`, { validateStatus: () => true })).status === 200);
}

describe('backpressure at the intake', () => {
  it('past the backlog answers 503 + Retry-After to a validate (JSON-RPC -32000, reason backlog), still accepts capture, cancel and refund on the priority lane, and accepts again once the backlog is gone', async () => {
    const config = testConfig({ 'backpressure.max_backlog': 5, 'backpressure.retry_after_s': 7, 'backpressure.depth_cache_ms': 50 });
    const client = await amqpClient(config);
    const web = await startWebProcess(config, captureLogger('error').logger);
    try {
      await ready(web);
      // No worker: ten authorizations wait in the commands queue.
      for (let i = 0; i < 10; i += 1) await client.publish('web.payment.authorize', channelCommand('authorize'));
      await new Promise((r) => setTimeout(r, 100));
      const refusedBefore = await metricValue('pb_backpressure_refusals_total', { command: 'validate' });
      const validate = await post(web, config, busCall(METHOD('validate'), payment(), 'rpc-validate'));
      expect(validate.status).toBe(503);
      expect(validate.headers['retry-after']).toBe('7');
      expect(validate.data).toMatchObject({ id: 'rpc-validate', error: { code: JSON_RPC.UNAVAILABLE, data: { reason: 'backlog', retry_after_s: 7 } } });
      expect(await metricValue('pb_backpressure_refusals_total', { command: 'validate' })).toBe(refusedBefore + 1);
      for (const name of ['capture', 'cancel', 'refund']) {
        const res = await post(web, config, busCall(METHOD(name), payment()));
        expect(res.status).toBe(200);
        expect(res.data.result).toEqual({});
      }
      // They went to the priority lane, not behind the ten authorizations.
      expect(await client.queueDepth(priorityQueueOf(config.amqp))).toBe(3);
      expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(10);
      await client.model.createChannel().then(async (ch) => {
        await ch.purgeQueue(config.amqp.commandsQueue);
        await ch.close();
      });
      await new Promise((r) => setTimeout(r, 200));
      // The cached depth is re-read in the background: the first call after the purge may still see it.
      await eventually(async () => (await post(web, config, busCall(METHOD('validate'), payment()))).status === 200, 3000, 100);
    } finally {
      await web.stop();
      await client.deleteNamespace();
      await client.close();
    }
  });
});

describe('the priority lane', () => {
  let sim: PspSimulator;
  const API_KEY = 'sim-priority-lane-key-0123456789';

  beforeAll(async () => {
    sim = await startPspSimulator({ apiKey: API_KEY, faults: { latencyMs: { min: 25, max: 25 } } });
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('a backlog of 300 authorizations does not delay a capture sent after them: it is terminal while the whole backlog still waits', async () => {
    const config = testConfig({
      'amqp.prefetch': 4,
      // A fixed window of 4 keeps the backlog waiting long enough to be overtaken (adaptive in-flight would drain it).
      'inflight.adaptive': false,
      gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, timeout_ms: 5000 } },
    });
    const client = await amqpClient(config);
    const notes: Array<{ method: string; params: Record<string, unknown> }> = [];
    const logger = captureLogger('error').logger;
    // The backlog's PSP calls wait at a gate the test opens once the capture is terminal: the order is then the
    // lanes' doing, not a race between two independent paths on a loaded machine (a capture behind the backlog
    // would never be terminal while the gate is shut).
    const backlog = Array.from({ length: 300 }, () => channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' }));
    const backlogIds = new Set(backlog.map((c) => c.payment.operation_reference!));
    let openGate = () => {};
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let gated = 0;
    const routes = createGatewayClients(config);
    const simulator = routes.get('simulator')!.client;
    const send = simulator.send.bind(simulator);
    jest.spyOn(simulator, 'send').mockImplementation(async (request) => {
      const reference = request.body === undefined ? undefined : (JSON.parse(request.body) as { reference?: unknown }).reference;
      if (typeof reference === 'string' && backlogIds.has(reference)) {
        gated += 1;
        await gate;
      }
      return send(request);
    });
    let worker: WorkerProcess | undefined;
    const web = await startWebProcess(config, logger);
    try {
      worker = await startWorkerProcess(config, logger, {
        routes,
        notifier: {
          notify: async (method, params) => {
            notes.push({ method, params });
          },
        },
      });
      await ready(web);
      // An authorization to capture later, settled before the backlog.
      const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
      await client.publish('web.payment.authorize', auth);
      await eventually(async () => (await worker!.ledger.get(auth.payment.operation_reference!))?.state === 'SUCCEEDED', 10_000);
      const reference = (await worker.ledger.get(auth.payment.operation_reference!))?.gatewayReference;
      expect(reference).toBeTruthy();
      // 300 authorizations, 4 at a time; the capture is sent once the first of them holds a slot of the commands lane.
      await Promise.all(backlog.map((c) => client.publish('web.payment.authorize', c)));
      await eventually(async () => gated > 0, 30_000, 10);
      const capture = payment({ gateway_key: String(reference), amount: auth.payment.amount, order_id: auth.payment.order_id });
      expect((await post(web, config, busCall(METHOD('capture'), capture))).status).toBe(200);
      await eventually(
        async () => {
          const op = await worker!.ledger.get(capture.operation_reference!);
          return op !== null && isTerminal(op.state);
        },
        30_000,
        10,
      );
      const records = await Promise.all(backlog.map((c) => worker!.ledger.get(c.payment.operation_reference!)));
      const backlogDone = records.filter((r) => r !== null && isTerminal(r.state)).length;
      expect((await worker.ledger.get(capture.operation_reference!))?.state).toBe('SUCCEEDED');
      // Behind the backlog it would have waited for all 300; on the priority lane it is not queued behind them.
      // (Wall-clock bounds are left to the spike drill: this machine is shared; the order is what matters here.)
      expect(backlogDone).toBe(0);
      // The commands lane was full meanwhile: at most its window of 4 taken, the rest still queued.
      expect(gated).toBeGreaterThan(0);
      expect(gated).toBeLessThanOrEqual(4);
      expect(await client.queueDepth(config.amqp.commandsQueue)).toBeGreaterThanOrEqual(300 - 4);
      openGate();
      await eventually(
        async () => (await Promise.all(backlog.map((c) => worker!.ledger.get(c.payment.operation_reference!)))).every((r) => r !== null && isTerminal(r.state)),
        30_000,
        200,
      );
    } finally {
      openGate();
      await web.stop();
      await worker?.stop();
      await client.deleteNamespace();
      await client.close();
    }
  });
});
