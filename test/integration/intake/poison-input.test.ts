import { ShardKeys, shardOfPayment } from '../../../src/redis/key-layout';
import axios from 'axios';
import { GetMessage } from 'amqplib';
import { RedisClient } from '../../../src/redis/redis-connection';
import { signBody } from '../../../src/bus/x-signature';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { amqpClient, deadLettersUntil, holding } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { busCall, channelCommand, payment } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';
import { testRedis } from '../../support/test-redis';

const CAPTURE = 'magento.payments.payments_management.capture';
const VISA = '4111111111111111';

/** `{"a":{"a":…"x"…}}` nested `levels` deep in place of `command`'s custom attribute `'@@'`. */
function deepCommandText(levels: number, command: object): string {
  return JSON.stringify(command).replace('"@@"', `${'{"a":'.repeat(levels)}"x"${'}'.repeat(levels)}`);
}

describe('poison input: no message wedges, crashes or spins the consumer', () => {
  let config: Config;
  let web: WebProcess;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let redis: RedisClient;
  const logs = captureLogger();

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    redis = testRedis(config);
    worker = await startIntakeProcess(config, logs.logger);
    web = await startWebProcess(config, logs.logger);
    await eventually(async () => (await axios.get(`${web.server.url}/readyz`, { validateStatus: () => true })).status === 200);
  });

  afterAll(async () => {
    await web.stop();
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
    redis.disconnect();
  });

  beforeEach(async () => {
    await client.drainDeadLetters();
  });

  /**
   * The dead letters of the command with operation reference `ref`, collected until one is there: the count a test
   * waited for may have been met by another test's dead letter confirmed late, and a single drain then misses its own.
   */
  async function deadLetterOf(ref: string | undefined): Promise<GetMessage[]> {
    return (await deadLettersUntil(client, (seen) => seen.some(holding(ref)))).filter(holding(ref));
  }

  it('dead-letters a command nested 5000 levels deep (reason names the limit) and keeps consuming behind it', async () => {
    const before = worker.consumer.stats.deadLettered;
    const deep = channelCommand('authorize', {}, { custom_attributes: { note: '@@' } });
    const good = channelCommand('capture');
    await client.publish('web.payment.authorize', Buffer.from(deepCommandText(5000, deep)));
    await client.publish('web.payment.capture', good);
    await eventually(async () => (await worker.deliveryQueue.getJob(good.payment.operation_reference!)) !== undefined);
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const [dead] = await deadLetterOf(deep.payment.operation_reference);
    expect(dead.properties.headers?.['x-pb-code']).toBe('INVALID_REQUEST');
    expect(String(dead.properties.headers?.['x-pb-reason'])).toMatch(/deeper than 32 levels/);
    expect(worker.consumer.stats.requeued).toBe(0);
  });

  it('answers a signed command nested 5000 levels deep with a JSON-RPC error naming the limit, never 200 result', async () => {
    const p = payment();
    const raw = JSON.stringify(busCall(CAPTURE, p)).replace(
      `"order_id":"${p.order_id}"`,
      `"order_id":"${p.order_id}","x":${'['.repeat(5000)}${']'.repeat(5000)}`,
    );
    const res = await axios.post(web.intakeUrl, raw, {
      headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
    });
    expect(res.data.result).toBeUndefined();
    expect(res.data.error.data.field).toBe('(root)');
    expect(res.data.error.message).toMatch(/deeper than 32 levels/);
    expect(await worker.ledger.get(p.operation_reference!)).toBeNull();
  });

  it('refuses a reference that collides with a ledger key name (<id>:interactions)', async () => {
    const existing = channelCommand('authorize');
    await client.publish('web.payment.authorize', existing);
    await eventually(async () => (await worker.ledger.get(existing.payment.operation_reference!)) !== null);
    const before = worker.consumer.stats.deadLettered;
    const squatter = channelCommand('authorize', {}, { operation_reference: `${existing.payment.operation_reference}:interactions` });
    await client.publish('web.payment.authorize', squatter);
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const [dead] = await deadLetterOf(squatter.payment.operation_reference);
    expect(dead.properties.headers?.['x-pb-field']).toBe('payment.operation_reference');
    expect((await worker.ledger.interactions(existing.payment.operation_reference!)).length).toBeGreaterThan(0);
  });

  it('queues a digits-only reference (BullMQ refuses integer job ids: it is written #<digits>)', async () => {
    const ref = String(Date.now()) + String(Math.floor(Math.random() * 1000));
    const command = channelCommand('capture', {}, { operation_reference: ref });
    await client.publish('web.payment.capture', command);
    await eventually(async () => (await worker.deliveryQueue.getJob(`#${ref}`)) !== undefined);
    expect((await worker.ledger.get(ref))?.state).toBe('RECEIVED');
  });

  it('dead-letters a message whose ledger write fails for a reason of its own (unexpected_error: ReplyError), not a requeue loop', async () => {
    const command = channelCommand('capture');
    const ref = command.payment.operation_reference!;
    // A key of the wrong type where the operation's hash goes: Redis answers WRONGTYPE, every time.
    await redis.set(new ShardKeys(config.redis.keyPrefix, shardOfPayment(command.payment)).op(ref), 'not a hash');
    const before = await metricValue('pb_commands_dead_lettered_total', { reason: 'unexpected_error' });
    const good = channelCommand('capture');
    await client.publish('web.payment.capture', command);
    await client.publish('web.payment.capture', good);
    await eventually(async () => (await metricValue('pb_commands_dead_lettered_total', { reason: 'unexpected_error' })) > before, 15000);
    const [dead] = await deadLetterOf(ref);
    expect(dead.properties.headers?.['x-pb-reason']).toBe('unexpected_error: ReplyError');
    expect(dead.properties.headers?.['x-pb-code']).toBe('UNEXPECTED_ERROR');
    expect(logs.lines.some((l) => l.includes('command dead-lettered after an unexpected error') && l.includes('ReplyError'))).toBe(true);
    await eventually(async () => (await worker.deliveryQueue.getJob(good.payment.operation_reference!)) !== undefined);
    expect(await client.queueDepth(config.amqp.commandsQueue)).toBe(0);
  });

  it('dead-letters a command with a card number as a key without the number, in the body and the logs', async () => {
    const before = worker.consumer.stats.deadLettered;
    const command = channelCommand('sale', {}, { custom_attributes: { [VISA]: 'gift', [`4111.1111.1111.1111`]: 'x' } });
    await client.publish('web.payment.sale', command);
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const [dead] = await deadLetterOf(command.payment.operation_reference);
    expect(dead.properties.headers?.['x-pb-code']).toBe('CARD_DATA_REJECTED');
    const everything = [dead.content.toString(), JSON.stringify(dead.properties.headers), ...logs.lines].join('\n');
    expect(everything).not.toContain(VISA);
    expect(everything).not.toContain('4111.1111.1111.1111');
  });

  it('dead-letters a command with a 150,000-character member name, naming it in a bounded field, and keeps consuming behind it', async () => {
    const before = worker.consumer.stats.deadLettered;
    const command = channelCommand('capture');
    const bad = command as unknown as Record<string, unknown>;
    bad['m'.repeat(150_000)] = 1;
    const good = channelCommand('capture');
    await client.publish('web.payment.capture', bad);
    await client.publish('web.payment.capture', good);
    await eventually(async () => (await worker.deliveryQueue.getJob(good.payment.operation_reference!)) !== undefined);
    // Its field went in the dead letter's headers: unbounded, the frame was refused and the message held for ever.
    await eventually(() => worker.consumer.stats.deadLettered > before, 5000);
    const [dead] = await deadLetterOf(command.payment.operation_reference);
    expect(dead.properties.headers).toMatchObject({ 'x-pb-code': 'INVALID_PARAMS', 'x-pb-field': `${'m'.repeat(32)}…(150000 characters)` });
    expect(worker.consumer.stats.requeued).toBe(0);
  });

  /** Posts signed bytes to the intake as they are. */
  async function postSigned(raw: Buffer | string): Promise<{ status: number; data: Record<string, any> }> {
    const res = await axios.post(web.intakeUrl, raw, {
      headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
    });
    return { status: res.status, data: res.data as Record<string, any> };
  }

  /** Posts a good capture and expects it accepted: a refusal before it wedged nothing. */
  async function expectNextCommandAccepted(): Promise<void> {
    const good = busCall(CAPTURE, payment());
    const res = await postSigned(JSON.stringify(good));
    expect(res.data).toEqual({ jsonrpc: '2.0', id: good.id, result: {} });
  }

  describe('the edge of the HTTP intake', () => {
    it('answers bytes that are not UTF-8 with a parse error (-32700, id null) naming the root, and two such ids never become one order', async () => {
      const p = payment();
      const text = JSON.stringify(busCall(CAPTURE, p));
      for (const bad of [0xff, 0xfe]) {
        const [head, tail] = text.split(`"order_id":"${p.order_id}"`);
        const raw = Buffer.concat([Buffer.from(`${head}"order_id":"ORD-`), Buffer.from([bad]), Buffer.from(`"${tail}`)]);
        const res = await postSigned(raw);
        expect(res.data).toMatchObject({ id: null, error: { code: -32700, data: { field: '(root)', reason: 'is not valid UTF-8' } } });
      }
      const letters = await client.drainDeadLetters();
      expect(letters.map((l) => [l.properties.headers?.['x-pb-code'], l.properties.headers?.['x-pb-reason']])).toEqual([
        ['PARSE_ERROR', 'is not valid UTF-8'],
        ['PARSE_ERROR', 'is not valid UTF-8'],
      ]);
      expect(await worker.ledger.get(p.operation_reference!)).toBeNull();
      await expectNextCommandAccepted();
    });

    it('refuses a 19-digit card number sent as a JSON number, naming the field, with nothing of it in the answer or the dead letter', async () => {
      const p = payment();
      const raw = JSON.stringify(busCall(CAPTURE, p)).replace(
        `"order_id":"${p.order_id}"`,
        `"order_id":"${p.order_id}","custom_attributes":{"n":4000123456789012343}`,
      );
      const res = await postSigned(raw);
      expect(res.data).toMatchObject({ error: { code: -32602, data: { field: 'payment.custom_attributes.n' } } });
      const [dead] = await client.drainDeadLetters();
      expect(dead.properties.headers?.['x-pb-code']).toBe('CARD_DATA_REJECTED');
      const everything = [JSON.stringify(res.data), dead.content.toString(), JSON.stringify(dead.properties.headers)].join('\n');
      expect(everything).not.toContain('4000123456789012');
      expect(await worker.ledger.get(p.operation_reference!)).toBeNull();
      await expectNextCommandAccepted();
    });

    it('refuses a command that gives its amount twice (the last would win) with -32600 naming params.payment.amount, executing nothing', async () => {
      const p = payment();
      const raw = JSON.stringify(busCall(CAPTURE, p)).replace(`"amount":${p.amount}`, `"amount":${p.amount},"amount":5`);
      const res = await postSigned(raw);
      expect(res.data).toMatchObject({ id: null, error: { code: -32600, data: { field: 'params.payment.amount' } } });
      const [dead] = await client.drainDeadLetters();
      expect(dead.properties.headers).toMatchObject({ 'x-pb-code': 'INVALID_REQUEST', 'x-pb-field': 'params.payment.amount' });
      expect(await worker.ledger.get(p.operation_reference!)).toBeNull();
      await expectNextCommandAccepted();
    });

    it('refuses an amount of 1999.9999999999999999 (JSON parsing makes it 2000) with -32600 naming params.payment.amount, executing nothing', async () => {
      const p = payment();
      const raw = JSON.stringify(busCall(CAPTURE, p)).replace(`"amount":${p.amount}`, `"amount":${p.amount - 1}.9999999999999999`);
      const res = await postSigned(raw);
      expect(res.data).toMatchObject({ id: null, error: { code: -32600, data: { field: 'params.payment.amount' } } });
      const [dead] = await client.drainDeadLetters();
      expect(dead.properties.headers).toMatchObject({ 'x-pb-code': 'INVALID_REQUEST', 'x-pb-field': 'params.payment.amount' });
      expect(await worker.ledger.get(p.operation_reference!)).toBeNull();
      await expectNextCommandAccepted();
    });

    it('refuses a bus call whose id holds a card number (-32600 naming id, id null), the number in neither the answer nor the dead letter', async () => {
      const p = payment();
      const raw = JSON.stringify(busCall(CAPTURE, p, `order ${VISA}`));
      const res = await postSigned(raw);
      expect(res.data).toMatchObject({ id: null, error: { code: -32600, data: { field: 'id' } } });
      const [dead] = await client.drainDeadLetters();
      expect(dead.properties.headers?.['x-pb-code']).toBe('CARD_DATA_REJECTED');
      expect([JSON.stringify(res.data), dead.content.toString(), JSON.stringify(dead.properties.headers)].join('\n')).not.toContain(VISA);
      expect(await worker.ledger.get(p.operation_reference!)).toBeNull();
      await expectNextCommandAccepted();
    });

    it.each(['9007199254740993', '1e400'])('refuses the JSON-RPC id %s (not carried exactly) with -32600 and a null id, executing nothing', async (idText) => {
      const p = payment();
      const raw = JSON.stringify(busCall(CAPTURE, p, 'x')).replace('"id":"x"', `"id":${idText}`);
      const res = await postSigned(raw);
      expect(res.data).toMatchObject({ id: null, error: { code: -32600, data: { field: 'id' } } });
      expect(await worker.ledger.get(p.operation_reference!)).toBeNull();
      await expectNextCommandAccepted();
    });
  });

  it.each([
    ['that gives its amount twice', (amount: number) => `"amount":${amount},"amount":5`],
    ['whose amount parsing would round (1999.0000000000001)', (amount: number) => `"amount":${amount}.0000000000001`],
  ])('dead-letters a channel command %s (INVALID_REQUEST naming payment.amount) and keeps consuming behind it', async (_case, amountText) => {
    const before = worker.consumer.stats.deadLettered;
    const bad = channelCommand('capture');
    const raw = Buffer.from(JSON.stringify(bad).replace(`"amount":${bad.payment.amount}`, amountText(bad.payment.amount)));
    const good = channelCommand('capture');
    await client.publish('web.payment.capture', raw);
    await client.publish('web.payment.capture', good);
    await eventually(async () => (await worker.deliveryQueue.getJob(good.payment.operation_reference!)) !== undefined);
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const [dead] = await deadLetterOf(bad.payment.operation_reference);
    expect(dead.properties.headers).toMatchObject({ 'x-pb-code': 'INVALID_REQUEST', 'x-pb-field': 'payment.amount' });
    expect(await worker.ledger.get(bad.payment.operation_reference!)).toBeNull();
  });

  it('dead-letters a channel message that is not UTF-8 (PARSE_ERROR, (root) is not valid UTF-8) and keeps consuming behind it', async () => {
    const before = worker.consumer.stats.deadLettered;
    const bad = channelCommand('capture');
    const text = JSON.stringify(bad);
    const raw = Buffer.concat([
      Buffer.from(text.slice(0, text.indexOf(bad.payment.order_id!))),
      Buffer.from([0xff]),
      Buffer.from(text.slice(text.indexOf(bad.payment.order_id!))),
    ]);
    const good = channelCommand('capture');
    await client.publish('web.payment.capture', raw);
    await client.publish('web.payment.capture', good);
    await eventually(async () => (await worker.deliveryQueue.getJob(good.payment.operation_reference!)) !== undefined);
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const [dead] = await deadLetterOf(bad.payment.operation_reference);
    expect(dead.properties.headers).toMatchObject({ 'x-pb-code': 'PARSE_ERROR', 'x-pb-field': '(root)', 'x-pb-reason': 'is not valid UTF-8' });
    expect(await worker.ledger.get(bad.payment.operation_reference!)).toBeNull();
  });

  it('answers 404 to a webhook path with a malformed percent escape, without an error in the log', async () => {
    const errorsBefore = logs.lines.filter((l) => l.includes('"level":"error"')).length;
    for (const path of ['/webhooks/%', '/webhooks/%E0%A4%A', '/webhooks/sim%zz']) {
      const res = await axios.post(`${web.server.url}${path}`, '{}', { validateStatus: () => true, headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(404);
    }
    expect(logs.lines.filter((l) => l.includes('"level":"error"')).length).toBe(errorsBefore);
  });
});
