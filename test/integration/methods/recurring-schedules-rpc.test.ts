/**
 * Creating, listing and cancelling recurring schedules: the bus's JSON-RPC methods on the real web process
 * (signed like commands, answered at once; bad params refused naming the field, with a dead-letter record)
 * and the operator's `payment-bridge recurring create|list|cancel` on the real Redis.
 */
import { PassThrough } from 'node:stream';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { silentLogger } from '../../../src/logging/logger';
import { openOps } from '../../../src/ops/ops-context';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { RecurringStore } from '../../../src/recurring/recurring-store';
import { recurringCancel, recurringCreate, recurringList } from '../../../src/cli/recurring-commands';
import { createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { sendSignedCommand } from '../../../harness/twins/bus-twin/signed-command-sender';
import { amqpClient } from '../../support/amqp-helpers';
import { testConfig } from '../../support/test-config';
import { signBody } from '../../../src/bus/x-signature';

jest.setTimeout(60_000);

let config: Config;
let web: WebProcess;
let amqp: Awaited<ReturnType<typeof amqpClient>>;
const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;

beforeAll(async () => {
  config = testConfig({
    gateways: {
      simulator: { type: 'simulator', base_url: 'http://127.0.0.1:9', api_key: 'sim-recurring-rpc-key-0123456789', webhook_secret: 'whsec-rr-0123456789' },
      stripe: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: 'sk_test_recurring_rpc_0123456789' },
      giftcards: { type: 'adyen-stored-value', base_url: 'http://127.0.0.1:9', api_key: 'adyen-sv-rpc-key-0123456789', merchant_account: 'AcmeEU' },
    },
  });
  amqp = await amqpClient(config);
  web = await startWebProcess(config, silentLogger(), { webhooks: createGatewayClients(config) });
});

afterAll(async () => {
  await web?.stop().catch(() => undefined);
  await amqp?.deleteNamespace().catch(() => undefined);
  await amqp?.close();
  await purgeNamespace(config).catch(() => undefined);
});

function call(method: string, params: Record<string, unknown>) {
  return sendSignedCommand({ url: web.intakeUrl, secret: config.serviceBus.secret, method, params, id: `rpc-${method}` });
}

function schedule(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    gateway: 'simulator',
    gateway_account: 'acme-eu',
    gateway_key: 'pm_card_visa',
    amount: 1500,
    currency: 'EUR',
    order_id: `SUB-${id}`,
    start_at: '2030-01-31T09:00:00Z',
    interval: { unit: 'month', count: 1 },
    max_cycles: 12,
    ...extra,
  };
}

/** A signed JSON-RPC notification (no `id`): the server must not reply to one. */
async function notify(method: string, params: Record<string, unknown>): Promise<{ status: number; body: string }> {
  const raw = JSON.stringify({ jsonrpc: '2.0', method, params });
  const res = await fetch(web.intakeUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
    body: raw,
  });
  return { status: res.status, body: await res.text() };
}

describe('bus JSON-RPC', () => {
  const m = () => config.recurring.rpcMethods;

  it('carries out a create sent as a notification without a reply body, and refuses a bad one without one either', async () => {
    const id = `rpc-notify-${tag}`;
    expect(await notify(m().create, { schedule: schedule(id) })).toEqual({ status: 204, body: '' });
    expect((await call(m().list, { state: 'active' })).body).toMatchObject({
      result: { schedules: expect.arrayContaining([expect.objectContaining({ id })]) },
    });
    expect(await notify(m().create, { schedule: schedule(`${id}-bad`, { amount: -1 }) })).toEqual({ status: 204, body: '' });
    expect(await notify(config.routing.paymentMethods.rpcMethod, { currency: 'EUR', amount: 1000 })).toEqual({ status: 204, body: '' });
    await call(m().cancel, { id });
  });

  it('creates a schedule (idempotent by id), lists it and cancels it', async () => {
    const id = `rpc-${tag}`;
    const created = await call(m().create, { schedule: schedule(id) });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ result: { created: true, schedule: { id, state: 'active', cycle: 1, next_at: '2030-01-31T09:00:00.000Z' } } });
    // The same definition again: the same schedule, nothing new.
    expect((await call(m().create, { schedule: schedule(id) })).body).toMatchObject({ result: { created: false, schedule: { id } } });
    const listed = (await call(m().list, { state: 'active' })).body as { result: { schedules: Array<{ id: string }> } };
    expect(listed.result.schedules.map((s) => s.id)).toContain(id);
    expect((await call(m().cancel, { id })).body).toMatchObject({ result: { cancelled: true, schedule: { id, state: 'cancelled' } } });
    const redis = createRedis(config.redis, 'commands');
    expect(await new RecurringStore(redis, config.redis.keyPrefix).dueIds(Number.MAX_SAFE_INTEGER, 100)).not.toContain(id);
    redis.disconnect();
  });

  it.each([
    ['a non-integer amount', { amount: 15.5 }, 'params.schedule.amount'],
    ['an unknown gateway', { gateway: 'nope' }, 'params.schedule.gateway'],
    ['an unknown field', { amount_major: 15 }, 'params.schedule.amount_major'],
    ['a bad interval', { interval: { unit: 'year', count: 1 } }, 'params.schedule.interval'],
    ['a card number as the token', { gateway_key: '4111111111111111' }, 'params.schedule.gateway_key'],
    // Stripe charges a stored PaymentMethod without the customer only with its Customer: no cycle could be charged.
    ['a Stripe schedule without its Customer', { gateway: 'stripe', gateway_key: 'pm_1Nxyz' }, 'params.schedule.custom_attributes.stripe_customer'],
    // A stored value card gateway carries no sale: delivery would fail every cycle UNSUPPORTED_COMMAND.
    ['a schedule on a gateway that carries no sale', { gateway: 'giftcards', gateway_key: 'shopper-0042:8416039902646530' }, 'params.schedule.gateway'],
  ])('refuses %s naming the field, with a dead-letter record', async (_what, extra, field) => {
    await amqp.drainDeadLetters();
    const answer = await call(m().create, { schedule: schedule(`bad-${tag}`, extra) });
    expect(answer.body).toMatchObject({ error: { code: -32602, data: { field } } });
    const letters = await amqp.drainDeadLetters();
    expect(letters.map((l) => l.properties.headers?.['x-pb-field'])).toContain(field);
  });

  it.each([
    ['the schedule', (pan: string) => ({ [pan]: 'x' })],
    ['its interval', (pan: string) => ({ interval: { unit: 'month', count: 1, [pan]: 1 } })],
  ])('refuses a card number used as a key of %s without quoting it in the answer or the dead letter', async (_where, extra) => {
    const pan = '4111111111111111';
    await amqp.drainDeadLetters();
    const answer = await call(m().create, { schedule: schedule(`pankey-${tag}`, extra(pan)) });
    expect(answer.body).toMatchObject({ error: { code: -32602 } });
    const letters = await amqp.drainDeadLetters();
    expect(letters).toHaveLength(1);
    const text = [JSON.stringify(answer.body), ...letters.map((l) => JSON.stringify(l.properties.headers) + l.content.toString())].join('\n');
    expect(text).not.toContain(pan);
    expect(answer.body).toMatchObject({ error: { data: { reason: expect.stringMatching(/card/) as unknown } } });
  });

  it('refuses another definition under a known id, and a cancel of an unknown id, naming the field', async () => {
    const id = `twice-${tag}`;
    await call(m().create, { schedule: schedule(id) });
    expect((await call(m().create, { schedule: schedule(id, { amount: 9999 }) })).body).toMatchObject({ error: { data: { field: 'params.schedule.id' } } });
    expect((await call(m().cancel, { id: `missing-${tag}` })).body).toMatchObject({ error: { data: { field: 'params.id' } } });
  });
});

describe('the JSON-RPC envelope of the recurring and payment-methods calls', () => {
  const m = () => config.recurring.rpcMethods;

  /** Posts `body` as signed JSON text, whatever its envelope. */
  async function post(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const raw = JSON.stringify(body);
    const res = await fetch(web.intakeUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
      body: raw,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function activeIds(): Promise<string[]> {
    const listed = (await call(m().list, { state: 'active' })).body as { result: { schedules: Array<{ id: string }> } };
    return listed.result.schedules.map((s) => s.id);
  }

  it.each([
    ['jsonrpc "1.0"', { jsonrpc: '1.0', id: 'e-1' }, -32600, 'jsonrpc', 'e-1'],
    ['an object id', { jsonrpc: '2.0', id: { a: 1 } }, -32600, 'id', null],
    ['an id beyond 2^53', { jsonrpc: '2.0', id: 2 ** 60 }, -32600, 'id', null],
  ])('refuses a create with %s, creating nothing, and leaves a dead letter naming the member', async (_label, envelope, code, field, id) => {
    await amqp.drainDeadLetters();
    const scheduleId = `envelope-${field}-${tag}`;
    const answer = await post({ ...envelope, method: m().create, params: { schedule: schedule(scheduleId) } });
    expect(answer.body).toMatchObject({ id, error: { code, data: { field } } });
    expect(await activeIds()).not.toContain(scheduleId);
    const letters = await amqp.drainDeadLetters();
    expect(letters.map((l) => l.properties.headers?.['x-pb-field'])).toContain(field);
  });

  it('refuses a create whose params are an array (-32602 naming params), and a cancel under jsonrpc "1.0" leaves the schedule active', async () => {
    const keep = `envelope-keep-${tag}`;
    expect((await call(m().create, { schedule: schedule(keep) })).body).toMatchObject({ result: { created: true } });
    expect((await post({ jsonrpc: '2.0', id: 'e-2', method: m().create, params: [schedule(`envelope-array-${tag}`)] })).body).toMatchObject({
      id: 'e-2',
      error: { code: -32602, data: { field: 'params' } },
    });
    expect((await post({ jsonrpc: '1.0', id: 'e-3', method: m().cancel, params: { id: keep } })).body).toMatchObject({
      error: { code: -32600, data: { field: 'jsonrpc' } },
    });
    const ids = await activeIds();
    expect(ids).toContain(keep);
    expect(ids).not.toContain(`envelope-array-${tag}`);
    // The next good call is carried out.
    expect((await call(m().cancel, { id: keep })).body).toMatchObject({ result: { cancelled: true } });
  });

  it('refuses a payment-methods query with jsonrpc "1.0", an object id or array params, as a command would be', async () => {
    const method = config.routing.paymentMethods.rpcMethod;
    const query = { currency: 'EUR', amount: 1000 };
    expect((await post({ jsonrpc: '1.0', id: 'q-1', method, params: query })).body).toMatchObject({
      id: 'q-1',
      error: { code: -32600, data: { field: 'jsonrpc' } },
    });
    expect((await post({ jsonrpc: '2.0', id: { a: 1 }, method, params: query })).body).toMatchObject({
      id: null,
      error: { code: -32600, data: { field: 'id' } },
    });
    expect((await post({ jsonrpc: '2.0', id: 'q-2', method, params: [query] })).body).toMatchObject({
      id: 'q-2',
      error: { code: -32602, data: { field: 'params' } },
    });
  });
});

describe('payment-bridge recurring', () => {
  it('create, list and cancel from the CLI, with the interval in words; a bad flag names the field (exit 2)', async () => {
    const redis = createRedis(config.redis, 'commands');
    const ctx = openOps(config, silentLogger(), { service: 'ops', redis, auditStream: new PassThrough() });
    const out = new PassThrough();
    const err = new PassThrough();
    const io = { out, err, actor: 'test-operator' };
    const read = (s: PassThrough) => String(s.read() ?? '');
    const id = `cli-${tag}`;
    const base = { id, gateway: 'simulator', merchant: 'acme-eu', token: 'pm_card_visa', amount: '990', currency: 'EUR', start: 'now', every: '2 weeks' };
    expect(await recurringCreate(ctx, io, { ...base, json: true })).toBe(0);
    expect(JSON.parse(read(out))).toMatchObject({ created: true, schedule: { id, definition: { interval: { unit: 'week', count: 2 }, amount: 990 } } });
    expect(await recurringList(ctx, io, { json: true })).toBe(0);
    expect((JSON.parse(read(out)) as { schedules: Array<{ id: string }> }).schedules.map((s) => s.id)).toContain(id);
    expect(await recurringCancel(ctx, io, { id })).toBe(0);
    expect(read(out)).toMatch(/^cancelled: /);
    expect(await recurringCancel(ctx, io, { id })).toBe(1);
    expect(await recurringCreate(ctx, io, { ...base, id: `cli2-${tag}`, amount: '9.90' })).toBe(2);
    expect(read(err)).toContain('schedule.amount');
    await ctx.close();
    redis.disconnect();
  });
});
