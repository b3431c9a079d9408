/**
 * A bus configured with `service_bus.amount_units: major` sends major units in every call to the intake,
 * not only in payment commands: a recurring schedule's `amount` and a payment method query's `amount` are
 * converted to minor units too (the schedule is stored and charged in minor units, the caps compare minor
 * units), and the schedules the bus is answered with are in its unit again. Real intake over HTTP, the real
 * recurring store on Redis (own namespace), the real payment method options.
 */
import axios from 'axios';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import { DeadLetterWriter } from '../../../src/amqp/dead-letter-writer';
import { signBody } from '../../../src/bus/x-signature';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { IntakeRoute } from '../../../src/intake/intake-route';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RecurringManagement } from '../../../src/recurring/recurring-management';
import { RecurringStore } from '../../../src/recurring/recurring-store';
import { ScheduleDefinition } from '../../../src/recurring/recurring-schedule';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { PaymentMethodOptions } from '../../../src/routing/payment-method-options';
import { WebServer, startWebServer } from '../../../src/web/web-server';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { testConfig } from '../../support/test-config';
import { PaymentCommand } from '../../../src/contracts/payment-command';

describe('intake: a bus that counts in major units, in its recurring and payment method calls', () => {
  let config: Config;
  let server: WebServer;
  let redis: RedisClient;
  let store: RecurringStore;
  let url: string;
  const deadLettered: Array<{ field: string }> = [];
  const published: PaymentCommand[] = [];

  const call = async (method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const raw = JSON.stringify({ jsonrpc: '2.0', id: `rpc-${method}`, method, params });
    const res = await axios.post(url, raw, {
      headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, config.serviceBus.secret) },
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
    });
    return res.data as Record<string, unknown>;
  };

  const schedule = (id: string, amount: number, currency: string): Record<string, unknown> => ({
    id,
    gateway: 'simulator',
    gateway_account: 'acme-eu',
    gateway_key: 'pm_card_visa',
    amount,
    currency,
    start_at: '2030-01-31T09:00:00Z',
    interval: { unit: 'month', count: 1 },
  });

  beforeAll(async () => {
    config = testConfig({
      'service_bus.amount_units': 'major',
      gateways: { simulator: { type: 'simulator', base_url: 'http://127.0.0.1:9', api_key: 'sim-major-units-key-0123456789' } },
      // 50.00 EUR at most per transaction at the simulator.
      'caps.rules': [{ scope: 'gateway', name: 'simulator', currency: 'EUR', max_amount: 5000 }],
      // The bus's commands for one merchant: 5000.00 EUR at most (500000 minor units, as the configuration says it).
      'channels.profiles': [{ channel: 'bus', account: 'acme-capped', max_amount: { EUR: 500000 } }],
      // A rule for small EUR payments of another merchant: 15.00 EUR at most (1500 minor units). Its amount bound is
      // checked before its merchant, so a query of this file's merchant reads why it missed; none matches either way.
      'routing.rules': [{ name: 'small-eu', when: { merchants: ['acme-small'], max_amount: { EUR: 1500 } }, gateways: ['simulator'] }],
    });
    redis = createRedis(config.redis, 'commands', silentLogger());
    store = new RecurringStore(redis, config.redis.keyPrefix);
    const publisher = {
      publish: (_exchange: string, _key: string, content: Buffer) =>
        Promise.resolve(void published.push(JSON.parse(content.toString('utf8')) as PaymentCommand)),
    } as unknown as ConfirmPublisher;
    const deadLetters = {
      write: (_raw: Buffer, why: { field: string }) => Promise.resolve(void deadLettered.push(why)),
    } as unknown as DeadLetterWriter;
    const intake = new IntakeRoute({
      config,
      publisher,
      deadLetters,
      logger: silentLogger(),
      paymentMethods: new PaymentMethodOptions({ config, routes: createGatewayClients(config) }),
      recurring: new RecurringManagement({ config, store, logger: silentLogger() }),
    });
    server = await startWebServer([intake], { host: '127.0.0.1', port: 0, logger: silentLogger() });
    url = `${server.url}${config.http.intakePath}`;
  });

  afterAll(async () => {
    await server.close();
    await purgeNamespace(config).catch(() => undefined);
    redis.disconnect();
  });

  it.each([
    ['EUR', 15, 1500, 'whole'],
    ['EUR', 19.99, 1999, 'cents'],
    ['KWD', 2, 2000, 'whole'],
    ['KWD', 1.234, 1234, 'fils'],
    ['JPY', 1500, 1500, 'whole'],
    ['CLF', 3, 30000, 'whole'],
  ])('stores a schedule of %s %p (major) as %i minor units, and answers it in major units (%s)', async (currency, major, minor, kind) => {
    const id = `major-${currency.toLowerCase()}-${kind}`;
    const answer = await call(config.recurring.rpcMethods.create, { schedule: schedule(id, major, currency) });
    expect(answer.result).toMatchObject({ created: true, schedule: { id, amount_units: 'major', definition: { amount: major, currency } } });
    expect((await store.get(id))?.definition.amount).toBe(minor);
    // The same definition again is the same schedule (compared in minor units).
    expect((await call(config.recurring.rpcMethods.create, { schedule: schedule(id, major, currency) })).result).toMatchObject({ created: false });
    const listed = (await call(config.recurring.rpcMethods.list, {})).result as { schedules: Array<Record<string, unknown>> };
    expect(listed.schedules.find((s) => s.id === id)).toMatchObject({ amount_units: 'major', definition: { amount: major } });
  });

  it('answers a schedule an operator created in minor units (1999 EUR) in decimal major units, 19.99', async () => {
    await store.add(schedule('minor-eur', 1999, 'EUR') as unknown as ScheduleDefinition);
    const answer = await call(config.recurring.rpcMethods.cancel, { id: 'minor-eur' });
    expect(answer.result).toMatchObject({ cancelled: true, schedule: { amount_units: 'major', definition: { amount: 19.99 } } });
  });

  it('refuses a schedule of 19.999 EUR naming params.schedule.amount (never rounded), and stores nothing', async () => {
    const refusedBefore = await metricValue('pb_recurring_schedule_requests_total', { action: 'create', result: 'refused' });
    const answer = await call(config.recurring.rpcMethods.create, { schedule: schedule('major-sub-cent', 19.999, 'EUR') });
    // Counted as the schedule management's refusal, as any other refused definition is.
    expect(await metricValue('pb_recurring_schedule_requests_total', { action: 'create', result: 'refused' })).toBe(refusedBefore + 1);
    expect(answer.error).toMatchObject({
      code: -32602,
      data: { field: 'params.schedule.amount', reason: 'must have at most 2 decimals in EUR (major units)' },
    });
    expect(deadLettered.at(-1)).toMatchObject({ field: 'params.schedule.amount' });
    expect(await store.get('major-sub-cent')).toBeNull();
  });

  it('refuses a schedule whose amount in minor units passes the largest amount, naming params.schedule.amount', async () => {
    const answer = await call(config.recurring.rpcMethods.create, { schedule: schedule('major-huge', 99_999_999_999_999, 'EUR') });
    expect(answer.error).toMatchObject({ code: -32602, data: { field: 'params.schedule.amount', reason: 'must be at most 999999999999.99 EUR' } });
    expect(deadLettered.at(-1)).toMatchObject({ field: 'params.schedule.amount' });
    expect(await store.get('major-huge')).toBeNull();
  });

  it('reads a payment method query in major units: 100 EUR is over the 50.00 EUR cap, 40 EUR is not', async () => {
    const over = (await call(config.routing.paymentMethods.rpcMethod, { amount: 100, currency: 'EUR', gateway_account: 'acme-eu', gateway: 'simulator' }))
      .result as { explanation: { candidates: string[]; dropped: string[] } };
    expect(over.explanation).toMatchObject({ candidates: [], dropped: ['cap_max_amount:simulator'] });
    const under = (await call(config.routing.paymentMethods.rpcMethod, { amount: 40, currency: 'EUR', gateway_account: 'acme-eu', gateway: 'simulator' }))
      .result as { explanation: { candidates: string[] } };
    expect(under.explanation.candidates).toEqual(['simulator']);
    // Decimal major units, read exactly: 50.01 EUR is one cent over the cap, 50.00 is not.
    const cent = (await call(config.routing.paymentMethods.rpcMethod, { amount: 50.01, currency: 'EUR', gateway_account: 'acme-eu', gateway: 'simulator' }))
      .result as { explanation: { dropped: string[] } };
    expect(cent.explanation.dropped).toEqual(['cap_max_amount:simulator']);
    const at = (await call(config.routing.paymentMethods.rpcMethod, { amount: 50, currency: 'EUR', gateway_account: 'acme-eu', gateway: 'simulator' }))
      .result as { explanation: { candidates: string[] } };
    expect(at.explanation.candidates).toEqual(['simulator']);
  });

  it("tells a routing rule's amount bound in major units in a payment method answer: 19.99 EUR > 15.00 EUR", async () => {
    const answer = (await call(config.routing.paymentMethods.rpcMethod, { amount: 19.99, currency: 'EUR', gateway_account: 'acme-eu', gateway: 'simulator' }))
      .result as { explanation: { rules: Array<Record<string, unknown>>; candidates: string[] } };
    expect(answer.explanation.rules).toEqual([
      { rule: 'small-eu', matched: false, why: 'amount 19.99 EUR > max_amount.EUR 15.00 EUR', bound: 'max_amount.EUR' },
    ]);
    expect(answer.explanation.candidates).toEqual(['simulator']);
    // Asked again, the answer comes from the cache: told in major units all the same.
    const again = (await call(config.routing.paymentMethods.rpcMethod, { amount: 19.99, currency: 'EUR', gateway_account: 'acme-eu', gateway: 'simulator' }))
      .result as { explanation: { rules: Array<Record<string, unknown>> } };
    expect(again.explanation.rules[0]?.why).toBe('amount 19.99 EUR > max_amount.EUR 15.00 EUR');
  });

  it('refuses a payment method query of 19.999 EUR naming params.amount', async () => {
    const refusedBefore = await metricValue('pb_payment_methods_requests_total', { result: 'refused' });
    const answer = await call(config.routing.paymentMethods.rpcMethod, { amount: 19.999, currency: 'EUR', gateway_account: 'acme-eu' });
    expect(await metricValue('pb_payment_methods_requests_total', { result: 'refused' })).toBe(refusedBefore + 1);
    expect(answer.error).toMatchObject({ code: -32602, data: { field: 'params.amount' } });
    expect(answer.error).toMatchObject({ message: 'amount must have at most 2 decimals in EUR (major units)' });
  });

  // The MIB payment specification types the payment's amounts as floats: a capture of 19.99 EUR, as the bus sends it.
  it('takes a capture of 19.99 EUR with decimal line amounts, answers result {} and queues 1999 minor units', async () => {
    const payment = {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: 'auth_major_1',
      amount: 19.99,
      currency: 'EUR',
      order_id: 'ORD-MAJOR-1',
      operation_reference: 'major-capture-1',
      lines: [{ line_number: 1, item_sku: 'SKU1', quantity: 2, unit_price_gross: 9.995, tax_amount: 3.47, tax_rate: 21 }],
    };
    const refused = await call(config.serviceBus.methods.commands.capture, { payment });
    expect(refused.error).toMatchObject({ code: -32602, data: { field: 'payment.lines[0].unit_price_gross' } });
    payment.lines[0].unit_price_gross = 9.99;
    const answer = await call(config.serviceBus.methods.commands.capture, { payment });
    expect(answer).toEqual({ jsonrpc: '2.0', id: `rpc-${config.serviceBus.methods.commands.capture}`, result: {} });
    expect(published.at(-1)?.payment).toMatchObject({
      amount: 1999,
      currency: 'EUR',
      lines: [{ quantity: 2, unit_price_gross: 999, tax_amount: 347, tax_rate: 21 }],
    });
  });

  // A refusal's reason quotes amounts as the bus sent them: 20.00 EUR, not 2000 (docs/EVENTS.md, "Units").
  it('refuses a refund of 20.00 EUR whose lines add to 19.99 with a reason in major units, naming the field, and queues nothing', async () => {
    const queued = published.length;
    const payment = {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: 'cap_major_1',
      amount: 20,
      currency: 'EUR',
      order_id: 'ORD-MAJOR-2',
      operation_reference: 'major-refund-lines',
      lines: [
        { line_number: 1, item_sku: 'SKU1', quantity: 1, refund_amount: 9.99 },
        { line_number: 2, item_sku: 'SKU2', quantity: 1, refund_amount: 10 },
      ],
    };
    const answer = await call(config.serviceBus.methods.commands.refund, { payment });
    expect(answer.error).toMatchObject({
      code: -32602,
      data: { field: 'payment.lines[].refund_amount', reason: 'add up to 19.99 EUR, not payment.amount (20.00)' },
    });
    expect(JSON.stringify(answer.error)).not.toMatch(/1999|2000|minor units/);
    expect(deadLettered.at(-1)).toMatchObject({ field: 'payment.lines[].refund_amount' });
    expect(published).toHaveLength(queued);
  });

  it("refuses a capture over the bus profile's cap saying the cap in major units, 5000.00 EUR, with the same code and field", async () => {
    const payment = {
      gateway: 'simulator',
      gateway_account: 'acme-capped',
      gateway_key: 'auth_major_capped',
      amount: 5000.01,
      currency: 'EUR',
      order_id: 'ORD-MAJOR-3',
      operation_reference: 'major-capped',
    };
    const answer = await call(config.serviceBus.methods.commands.capture, { payment });
    expect(answer.error).toMatchObject({
      code: -32602,
      data: { field: 'payment.amount', reason: 'must be at most 5000.00 EUR (profile bus/acme-capped)' },
    });
    expect(JSON.stringify(answer.error)).not.toMatch(/500000|minor units/);
    // 5000.00 EUR is the cap itself: taken.
    expect((await call(config.serviceBus.methods.commands.capture, { payment: { ...payment, amount: 5000 } })).result).toEqual({});
  });

  it('refuses a payment method query whose amount in minor units passes the largest amount, naming it', async () => {
    const answer = await call(config.routing.paymentMethods.rpcMethod, { amount: 99_999_999_999_999, currency: 'EUR', gateway_account: 'acme-eu' });
    // The largest amount in the bus's units, not 99999999999999 minor units.
    expect(answer.error).toMatchObject({ code: -32602, message: 'amount must be at most 999999999999.99 EUR', data: { field: 'params.amount' } });
  });
});
