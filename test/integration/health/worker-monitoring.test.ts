/**
 * The worker's monitoring port: /metrics with the outcome counters, the scrape-time gauges (operations by
 * state, queue depths, event lag), /healthz and /readyz with the checks an operator needs (started, Redis,
 * consumer attached, event lag, breakers, configuration problems such as refused credentials).
 */
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { configProblems } from '../../../src/health/config-problems';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WorkerProcess, startWorkerProcess } from '../../../src/processes/worker-process';
import { freePort } from '../../../harness/twins/local-stack/local-stack';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { useSimulatorWorkers } from '../../support/noted-worker';

jest.setTimeout(60_000);

const API_KEY = 'sim-monitoring-key-0123456789';
const stack = useSimulatorWorkers(API_KEY);
const { configs, workers } = stack;

afterAll(() => {
  configProblems.reset();
});

async function worker(apiKey: string, logs = captureLogger('info')): Promise<{ w: WorkerProcess; config: Config; url: string }> {
  const config = testConfig({
    'delivery.backoff_base_ms': 50,
    'delivery.backoff_max_ms': 200,
    gateways: { simulator: { type: 'simulator', base_url: stack.sim.url, api_key: apiKey, timeout_ms: 2000 } },
  });
  configs.push(config);
  const w = await startWorkerProcess(config, logs.logger, {
    routes: createGatewayClients(config),
    notifier: { notify: async () => undefined },
    monitoringPort: await freePort(),
  });
  workers.push(w);
  return { w, config, url: w.monitoring!.url };
}

/** A metric's value in a Prometheus text exposition, for one exact label set. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('the worker monitoring port', () => {
  it('serves /metrics with outcomes, gateway calls, operations by state and queue depths, and /readyz ready with every check ok', async () => {
    const logs = captureLogger('info');
    const { w, config, url } = await worker(API_KEY, logs);
    const client = await amqpClient(config);
    const before = await metricValue('pb_commands_total', { channel: 'pos', command: 'authorize', outcome: 'succeeded' });
    const okBefore = await metricValue('pb_gateway_requests_total', { gateway: 'simulator', call: 'send', result: 'ok' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const command = channelCommand('authorize', { channel: 'pos' }, { gateway_key: 'pm_card_visa' });
      ids.push(command.payment.operation_reference!);
      await client.publish('pos.payment.authorize', command);
    }
    await eventually(async () => (await Promise.all(ids.map((id) => w.ledger.get(id)))).every((op) => op?.state === 'SUCCEEDED'), 15_000);
    // An outcome is counted just after its state is written.
    await eventually(async () => (await metricValue('pb_commands_total', { channel: 'pos', command: 'authorize', outcome: 'succeeded' })) === before + 5);
    expect(await metricValue('pb_gateway_requests_total', { gateway: 'simulator', call: 'send', result: 'ok' })).toBe(okBefore + 5);
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(sample(text, 'pb_operations', 'state="SUCCEEDED"')).toBe(5);
    expect(sample(text, 'pb_operations', 'state="UNKNOWN"')).toBe(0);
    expect(sample(text, 'pb_queue_depth', 'queue="commands",state="ready"')).toBe(0);
    expect(sample(text, 'pb_queue_depth', 'queue="gateway-delivery",state="failed"')).toBe(0);
    expect(sample(text, 'pb_gateway_breaker_state', 'gateway="simulator"')).toBe(0);
    expect(sample(text, 'pb_event_send_lag_seconds', '')).toBe(0);
    expect(text).toMatch(/pb_command_e2e_seconds_count\{channel="pos",outcome="succeeded"\} [1-9]/);

    const lines = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === 'operation outcome');
    expect(lines.filter((l) => ids.includes(String(l.operation_id)))).toHaveLength(5);
    expect(lines[0]).toMatchObject({ level: 'info', gateway: 'simulator', command: 'authorize', channel: 'pos', state: 'SUCCEEDED', attempts: 1 });
    expect(lines[0].order_id).toEqual(expect.stringMatching(/^ORD-/));
    expect(typeof lines[0].latency_ms).toBe('number');

    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { started: 'ok', redis: 'ok', consumer: 'ok', event_lag: 'ok', gateways: 'ok', configuration: 'ok' },
    });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await client.deleteNamespace();
    await client.close();
    await w.stop();
    // Stopped: the port is closed.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('says refused credentials are a configuration problem naming the key, and /readyz is not ready (configuration down)', async () => {
    const logs = captureLogger('info');
    const { w, config, url } = await worker('wrong-key-0123456789abcdef', logs);
    const client = await amqpClient(config);
    const command = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa' });
    await client.publish('web.payment.authorize', command);
    await eventually(() => logs.lines.some((l) => l.includes('configuration problem: credentials refused')), 10_000);
    const line = JSON.parse(logs.lines.find((l) => l.includes('configuration problem'))!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'error', key: 'gateways.simulator.api_key', problem: 'credentials_refused', http_status: 401 });
    await new Promise((r) => setTimeout(r, 600)); // several retries meanwhile: still one line
    expect(logs.lines.filter((l) => l.includes('configuration problem'))).toHaveLength(1);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: Record<string, string> }).checks.configuration).toBe('down');
    expect(await metricValue('pb_config_problems', { kind: 'credentials_refused' })).toBe(1);
    await client.deleteNamespace();
    await client.close();
    await w.stop();
    configProblems.reset();
  });
});
