import { keysMatching } from '../../../src/redis/key-scan';
import axios from 'axios';
import { signBody } from '../../../src/bus/x-signature';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, channelCommand, payment } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';

const CAPTURE = 'magento.payments.payments_management.capture';

describe('idempotency conflicts: a reused operation_reference with different money fields is refused, never dropped', () => {
  let config: Config;
  let web: WebProcess;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const logs = captureLogger();

  const post = (body: unknown) => {
    const raw = JSON.stringify(body);
    return axios.post(web.intakeUrl, raw, {
      headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
    });
  };

  /** The conflict events recorded for operation `id` (their ids differ from the operation's own events). */
  const conflictEvents = async (id: string) => {
    const keys = await keysMatching(worker.redis, `${config.redis.keyPrefix}{s:*}:event:${id}.*`);
    const ids = keys.map((k) => k.slice(k.indexOf(':event:') + ':event:'.length)).filter((e) => e.includes('idempotency-conflict') && !e.endsWith(':sending'));
    return Promise.all(ids.map(async (e) => (await worker.events.load(e))!));
  };

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    worker = await startIntakeProcess(config, logs.logger);
    web = await startWebProcess(config, logs.logger);
    await eventually(async () => (await axios.get(`${web.server.url}/readyz`, { validateStatus: () => true })).status === 200);
  });

  afterAll(async () => {
    await web.stop();
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
  });

  it('answers the bus a JSON-RPC -32602 naming operation_reference when the ledger holds it with other money fields', async () => {
    const first = payment({ amount: 1000 });
    expect((await post(busCall(CAPTURE, first, 'conf-1'))).data).toEqual({ jsonrpc: '2.0', id: 'conf-1', result: {} });
    await eventually(async () => (await worker.ledger.get(first.operation_reference!)) !== null);
    const before = await metricValue('pb_idempotency_conflicts_total', { channel: 'bus' });
    await client.drainDeadLetters();

    const res = await post(busCall(CAPTURE, { ...first, amount: 2000 }, 'conf-2'));
    expect(res.status).toBe(200);
    expect(res.data.id).toBe('conf-2');
    expect(res.data.error.code).toBe(-32602);
    expect(res.data.error.data).toMatchObject({
      field: 'payment.operation_reference',
      code: 'IDEMPOTENCY_CONFLICT',
      operation_reference: first.operation_reference,
    });
    expect(await metricValue('pb_idempotency_conflicts_total', { channel: 'bus' })).toBe(before + 1);
    await eventually(async () => (await client.drainDeadLetters()).some((m) => m.properties.headers?.['x-pb-code'] === 'IDEMPOTENCY_CONFLICT'));
    // The original is untouched.
    expect((await worker.ledger.get(first.operation_reference!))?.payment.amount).toBe(1000);
  });

  it('still answers result {} to an identical repeat (a harmless duplicate), even with another JSON-RPC id', async () => {
    const first = payment({ amount: 1000 });
    await post(busCall(CAPTURE, first, 'same-1'));
    await eventually(async () => (await worker.ledger.get(first.operation_reference!)) !== null);
    const res = await post(busCall(CAPTURE, first, 'same-2'));
    expect(res.data).toEqual({ jsonrpc: '2.0', id: 'same-2', result: {} });
  });

  it('dead-letters a conflicting AMQP command with reason idempotency_conflict, sends a FAIL event of its own and logs a warning', async () => {
    const original = channelCommand('capture', {}, { amount: 1000 });
    const id = original.payment.operation_reference!;
    await client.publish('web.payment.capture', original);
    await eventually(async () => (await worker.ledger.get(id)) !== null);
    await client.drainDeadLetters();
    const before = await metricValue('pb_idempotency_conflicts_total', { channel: 'web' });

    const conflicting = { ...original, payment: { ...original.payment, amount: 2000 } };
    await client.publish('web.payment.capture', conflicting);
    let dead: Awaited<ReturnType<typeof client.drainDeadLetters>> = [];
    await eventually(async () => {
      dead = dead.concat(await client.drainDeadLetters());
      return dead.some((m) => m.properties.headers?.['x-pb-code'] === 'IDEMPOTENCY_CONFLICT');
    });
    const letter = dead.find((m) => m.properties.headers?.['x-pb-code'] === 'IDEMPOTENCY_CONFLICT')!;
    expect(letter.properties.headers?.['x-pb-reason']).toMatch(/^idempotency_conflict/);
    expect(letter.properties.headers?.['x-pb-field']).toBe('payment.operation_reference');
    expect(JSON.parse(letter.content.toString()).payment.amount).toBe(2000);

    // The event, the metric and the log line follow the dead letter, before the ack.
    await eventually(async () => (await metricValue('pb_idempotency_conflicts_total', { channel: 'web' })) > before);
    const events = await conflictEvents(id);
    expect(events).toHaveLength(1);
    const event = events[0];
    expect(event.eventId).not.toBe(`${id}.FAILED`);
    expect(event.method).toBe(config.serviceBus.methods.notifications.captured);
    expect(event.params.payment).toMatchObject({
      status: 'FAIL',
      reason: 'idempotency_conflict',
      operation_reference: id,
      amount: 2000,
      event_id: event.eventId,
    });

    expect(logs.lines.some((l) => l.includes('idempotency conflict') && l.includes(id) && l.includes('"warn"'))).toBe(true);
    expect(await metricValue('pb_idempotency_conflicts_total', { channel: 'web' })).toBe(before + 1);
    // The original operation is untouched: same amount, same state, one `received` entry, no event of its own.
    const record = await worker.ledger.get(id);
    expect(record).toMatchObject({ state: 'RECEIVED', payment: { amount: 1000 } });
    expect((await worker.ledger.interactions(id)).filter((i) => i.event === 'received')).toHaveLength(1);
    expect(await worker.events.load(`${id}.FAILED`)).toBeNull();
  });

  it('treats an identical AMQP repeat as a duplicate: no dead letter, no event', async () => {
    const original = channelCommand('refund', {}, { amount: 500, lines: [{ line_number: 1, refund_amount: 500 }] });
    const id = original.payment.operation_reference!;
    await client.publish('web.payment.refund', original);
    await eventually(async () => (await worker.ledger.get(id)) !== null);
    // The consumer's verdict on this repeat itself (the ledger's create finds the operation with the same digest):
    // the duplicates count alone can be moved by another test's copy (the bus's identical repeat above) first.
    let repeatFound: Awaited<ReturnType<typeof worker.ledger.create>> | undefined;
    const create = worker.ledger.create.bind(worker.ledger);
    const spy = jest.spyOn(worker.ledger, 'create').mockImplementation(async (...args) => {
      const result = await create(...args);
      if (args[0] === id) repeatFound = result;
      return result;
    });
    try {
      const dups = worker.consumer.stats.duplicates;
      await client.drainDeadLetters();
      await client.publish('web.payment.refund', { ...original, received_at: new Date(Date.now() + 1000).toISOString() });
      await eventually(() => repeatFound !== undefined && worker.consumer.stats.duplicates > dups);
    } finally {
      spy.mockRestore();
    }
    expect(repeatFound).toMatchObject({ created: false, conflict: false, state: 'RECEIVED' });
    expect(await client.drainDeadLetters()).toHaveLength(0);
    expect(await conflictEvents(id)).toHaveLength(0);
  });
});
