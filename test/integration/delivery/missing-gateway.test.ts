/**
 * A command naming a gateway the configuration lacks is our own mistake, not the payment's: the operation
 * is held (never sent, never failed) for `delivery.config_grace_ms`, then parked as a replayable dead
 * letter; a worker with the fixed configuration, the replay of that dead letter or the OMS re-sending the
 * same command delivers it, once.
 */
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WorkerProcess } from '../../../src/processes/worker-process';
import { Logger } from '../../../src/logging/logger';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { Note, notedWorker, statusesOf, useSimulatorWorkers } from '../../support/noted-worker';

jest.setTimeout(60_000);

const API_KEY = 'sim-missing-gateway-key-0123456789';

const stack = useSimulatorWorkers(API_KEY);
const { configs, workers } = stack;

/** The first configuration of a namespace (no `backup` gateway), and the fixed one of the same namespace. */
function configs2(graceMs: number): { broken: Config; fixed: Config } {
  const base = {
    'delivery.config_grace_ms': graceMs,
    'delivery.backoff_base_ms': 50,
    'delivery.backoff_max_ms': 200,
  };
  const simulator = { type: 'simulator', base_url: stack.sim.url, api_key: API_KEY, timeout_ms: 2000 };
  const broken = testConfig({ ...base, gateways: { simulator } });
  const same = {
    'redis.key_prefix': broken.redis.keyPrefix,
    'amqp.exchange.commands': broken.amqp.commandsExchange,
    'amqp.queue.commands': broken.amqp.commandsQueue,
    'amqp.exchange.dead_letter': broken.amqp.deadLetterExchange,
    'amqp.queue.dead_letter': broken.amqp.deadLetterQueue,
  };
  const fixed = testConfig({ ...base, ...same, gateways: { simulator, backup: simulator } });
  configs.push(broken);
  return { broken, fixed };
}

async function worker(config: Config, notes: Note[], logger?: Logger): Promise<WorkerProcess> {
  const w = await notedWorker(config, notes, { logger });
  workers.push(w);
  return w;
}

function backupCommand(): PaymentCommand {
  return channelCommand('authorize', {}, { gateway: 'backup', gateway_key: 'pm_card_visa' });
}

describe('a command for a gateway the configuration lacks', () => {
  it('is held, never failed nor sent, with an alert naming gateways.<name>; a worker restarted with that gateway delivers it', async () => {
    const { broken, fixed } = configs2(60_000);
    const client = await amqpClient(broken);
    const notes: Note[] = [];
    const logs = captureLogger('info');
    const heldBefore = await metricValue('pb_operations_held_total', { reason: 'gateway_not_configured' });
    const first = await worker(broken, notes, logs.logger);
    const command = backupCommand();
    const id = command.payment.operation_reference!;
    await client.publish('web.payment.authorize', command);
    await eventually(async () => (await first.ledger.get(id)) !== null);
    // Held and alerted on its first delivery try, which a loaded machine may run later than a fixed pause: waited
    // for; the pause after it is for what must not follow (a send, a FAIL, an alert per retry).
    const alerted = () => logs.lines.some((l) => l.includes('"level":"error"') && l.includes('gateways.backup'));
    await eventually(async () => (await metricValue('pb_operations_held_total', { reason: 'gateway_not_configured' })) > heldBefore && alerted(), 15_000);
    await new Promise((r) => setTimeout(r, 800));
    expect((await first.ledger.get(id))?.state).toBe('RECEIVED');
    expect(stack.sim.counters().effects[id]).toBeUndefined();
    expect(statusesOf(notes, id)).toEqual([]);
    expect(await metricValue('pb_operations_held_total', { reason: 'gateway_not_configured' })).toBe(heldBefore + 1);
    const alerts = logs.lines.filter((l) => l.includes('"level":"error"') && l.includes('gateways.backup'));
    expect(alerts.length).toBeGreaterThanOrEqual(1);
    // Rate-limited: retries every 50-200 ms, but not one alert per retry.
    expect(alerts.length).toBeLessThanOrEqual(2);

    await first.stop();
    const second = await worker(fixed, notes);
    await eventually(async () => (await second.ledger.get(id))?.state === 'SUCCEEDED', 15_000);
    expect(stack.sim.counters().effects[id]).toBe(1);
    await eventually(async () => statusesOf(notes, id).includes('SUCCESS'));
    expect(statusesOf(notes, id)).not.toContain('FAIL');
    await second.stop();
    await client.deleteNamespace();
    await client.close();
  });

  it('is parked past the grace period as a replayable dead letter (gateway_not_configured), the OMS told no FAIL; replaying it after the fix delivers it once', async () => {
    const { broken, fixed } = configs2(300);
    const client = await amqpClient(broken);
    const notes: Note[] = [];
    const first = await worker(broken, notes);
    const command = backupCommand();
    const id = command.payment.operation_reference!;
    await client.publish('web.payment.authorize', command);
    let dead: Awaited<ReturnType<typeof client.drainDeadLetters>> = [];
    await eventually(async () => (dead = dead.concat(await client.drainDeadLetters())).length > 0, 10_000);
    expect(dead).toHaveLength(1);
    const headers = dead[0].properties.headers as Record<string, unknown>;
    expect(headers['x-pb-code']).toBe('GATEWAY_NOT_CONFIGURED');
    expect(String(headers['x-pb-reason'])).toContain('gateway_not_configured');
    expect(String(headers['x-pb-reason'])).toContain('gateways.backup');
    expect(headers['x-pb-operation-id']).toBe(id);
    expect((await first.ledger.get(id))?.state).toBe('RECEIVED');
    expect(statusesOf(notes, id)).not.toContain('FAIL');
    // Parked: not dead-lettered again while it waits.
    await new Promise((r) => setTimeout(r, 600));
    expect(await client.drainDeadLetters()).toHaveLength(0);
    await first.stop();

    const second = await worker(fixed, notes);
    // The replay: the dead letter's body published back to the commands exchange with its routing key.
    await client.publish(String(headers['x-pb-routing-key']), dead[0].content);
    await eventually(async () => (await second.ledger.get(id))?.state === 'SUCCEEDED', 15_000);
    expect(stack.sim.counters().effects[id]).toBe(1);
    await eventually(async () => statusesOf(notes, id).includes('SUCCESS'));
    expect(statusesOf(notes, id)).not.toContain('FAIL');
    await second.stop();
    await client.deleteNamespace();
    await client.close();
  });

  it('an identical re-send by the OMS after the fix is delivered, not dropped as a duplicate; a third copy changes nothing', async () => {
    const { broken, fixed } = configs2(200);
    const client = await amqpClient(broken);
    const notes: Note[] = [];
    const first = await worker(broken, notes);
    const command = backupCommand();
    const id = command.payment.operation_reference!;
    await client.publish('web.payment.authorize', command);
    await eventually(async () => (await client.drainDeadLetters()).length > 0, 10_000);
    await first.stop();

    const second = await worker(fixed, notes);
    await client.publish('web.payment.authorize', command);
    await eventually(async () => (await second.ledger.get(id))?.state === 'SUCCEEDED', 15_000);
    await client.publish('web.payment.authorize', command);
    await new Promise((r) => setTimeout(r, 500));
    expect(stack.sim.counters().effects[id]).toBe(1);
    expect((await second.ledger.get(id))?.attempts).toBe(1);
    await eventually(async () => statusesOf(notes, id).includes('SUCCESS'));
    expect(statusesOf(notes, id).filter((s) => s === 'SUCCESS')).toHaveLength(1);
    await second.stop();
    await client.deleteNamespace();
    await client.close();
  });
});
