import { GetMessage } from 'amqplib';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { PAN_MASK } from '../../../src/logging/redact';
import { scanRedis } from '../../../harness/workload/card-data-scan';
import { PAN_STYLES, TEST_PANS, formatPan, panNeedles } from '../../../harness/drills/test-card-numbers';
import { marketplaceOrderExample, posSaleExample, webOrderCreatedExample, webPaymentIntentExample } from '../../../harness/workload/channel-contract-examples';
import { amqpClient, deadLettersUntil } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { testRedis } from '../../support/test-redis';

jest.setTimeout(120_000);

const RUN = `${process.pid.toString(36)}x${Date.now().toString(36)}`;
let n = 0;
// Fixed width: no run id is the start of another, so a dead letter holding one is that payload's (see deadLetterOf).
const run = () => `${RUN}-${String((n += 1)).padStart(4, '0')}`;
const RUN_ID = new RegExp(`${RUN}-[0-9]{4}`);

describe('channel contracts end to end: published to RabbitMQ, read by the consumer, recorded in the ledger', () => {
  let config: Config;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  let redis: RedisClient;
  const logs = captureLogger();

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    redis = testRedis(config);
    worker = await startIntakeProcess(config, logs.logger);
  });

  afterAll(async () => {
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
    redis.disconnect();
  });

  beforeEach(async () => {
    await client.drainDeadLetters();
  });

  /**
   * Publishes `body` and returns its dead letter: the one holding the payload's run id. Not the first one a count
   * of dead letters meets, which may be another test's confirmed late.
   */
  async function deadLetterOf(routingKey: string, body: object): Promise<{ headers: Record<string, unknown>; body: string }> {
    const id = RUN_ID.exec(JSON.stringify(body))?.[0];
    if (id === undefined) throw new Error('deadLetterOf: the payload holds no run() id to tell its dead letter by');
    const mine = (m: GetMessage) => m.content.toString('utf8').includes(id);
    const before = worker.consumer.stats.deadLettered;
    await client.publish(routingKey, body);
    // Counted once the consumer is done with it (metrics, log lines): its dead letter is in the queue a moment before.
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const dead = (await deadLettersUntil(client, (seen) => seen.some(mine))).filter(mine);
    expect(dead).toHaveLength(1);
    return { headers: dead[0].properties.headers ?? {}, body: dead[0].content.toString('utf8') };
  }

  it.each([
    [
      'web.order_created.v1',
      'web.order_created',
      () => webOrderCreatedExample(run()),
      'authorize',
      12990,
      (p: Record<string, unknown>) => `web-order.${(p.order as { order_id: string }).order_id}`,
    ],
    [
      'web.payment_intent.v1',
      'web.payment_intent',
      () => webPaymentIntentExample(run()),
      'sale',
      4500,
      (p: Record<string, unknown>) => `web-intent.${String(p.intent_id)}`,
    ],
    ['pos.sale.v1', 'pos.sale', () => posSaleExample(run()), 'sale', 2350, (p: Record<string, unknown>) => `pos.S042.T07.${String(p.transaction_number)}`],
    [
      'marketplace.order.v1',
      'marketplace.order',
      () => marketplaceOrderExample(run()),
      'authorize',
      10000,
      (p: Record<string, unknown>) => `mkp-order.${String(p.marketplace_order_id)}`,
    ],
  ])(
    '%s: a signed payload becomes one operation in the ledger (its command, amount, channel) and counts as accepted',
    async (contract, routingKey, make, command, amount, reference) => {
      const payload = make();
      const before = await metricValue('pb_channel_contract_messages_total', { contract, outcome: 'accepted' });
      await client.publish(routingKey, payload);
      const id = reference(payload);
      await eventually(async () => (await worker.ledger.get(id)) !== null);
      const record = await worker.ledger.get(id);
      expect(record).toMatchObject({ command, channel: contract.split('.')[0], state: 'RECEIVED', payment: { amount, currency: 'EUR' } });
      expect(await worker.deliveryQueue.getJob(id)).toBeDefined();
      expect(await metricValue('pb_channel_contract_messages_total', { contract, outcome: 'accepted' })).toBe(before + 1);
      if (contract === 'marketplace.order.v1') expect(record?.payment.splits).toHaveLength(3);
    },
  );

  it('the same order sent twice (a retried event with a new event id) is one operation', async () => {
    const first = webOrderCreatedExample(run());
    const again = { ...first, event_id: `${String(first.event_id)}-retry` };
    const accepted = worker.consumer.stats.accepted;
    const duplicates = worker.consumer.stats.duplicates;
    await client.publish('web.order_created', first);
    await client.publish('web.order_created', again);
    await eventually(() => worker.consumer.stats.duplicates > duplicates);
    expect(worker.consumer.stats.accepted).toBe(accepted + 1);
  });

  it('dead-letters a payload in no known contract with UNSUPPORTED_CONTRACT naming the contract field, and keeps consuming', async () => {
    const before = await metricValue('pb_channel_contract_messages_total', { contract: 'unknown', outcome: 'refused' });
    const { headers } = await deadLetterOf('web.order_created', { ...webOrderCreatedExample(run()), contract: 'web.order_created.v2' });
    expect(headers['x-pb-code']).toBe('UNSUPPORTED_CONTRACT');
    expect(headers['x-pb-field']).toBe('contract');
    expect(await metricValue('pb_channel_contract_messages_total', { contract: 'unknown', outcome: 'refused' })).toBe(before + 1);
    const raw = await deadLetterOf('web.checkout', { event: 'checkout.completed', cart: run(), total: 100 });
    expect(raw.headers['x-pb-code']).toBe('UNSUPPORTED_CONTRACT');
    const good = posSaleExample(run());
    await client.publish('pos.sale', good);
    await eventually(async () => (await worker.ledger.get(`pos.S042.T07.${String(good.transaction_number)}`)) !== null);
  });

  it('dead-letters a web contract signed with the POS key as a channel mismatch (a channel cannot publish another channel’s contract)', async () => {
    const payload = webOrderCreatedExample(run());
    const { headers } = await deadLetterOf('pos.order_created', payload);
    expect(headers['x-pb-code']).toBe('UNAUTHENTICATED_CHANNEL');
    expect(String(headers['x-pb-reason'])).toContain('channel_auth_channel_mismatch');
    expect(await worker.ledger.get(`web-order.${(payload.order as { order_id: string }).order_id}`)).toBeNull();
  });

  it('dead-letters a schema error naming the contract field, with the order id in the headers', async () => {
    const payload = webOrderCreatedExample(run());
    (payload.order as Record<string, unknown>).total_amount = 129.9;
    const { headers } = await deadLetterOf('web.order_created', payload);
    expect(headers['x-pb-code']).toBe('INVALID_PARAMS');
    expect(headers['x-pb-field']).toBe('order.total_amount');
    expect(headers['x-pb-order-id']).toBe((payload.order as { order_id: string }).order_id);
  });

  it('dead-letters a marketplace order whose splits do not add up, and triages it by the contract’s amount', async () => {
    const payload = marketplaceOrderExample(run(), { total_amount: 250000, marketplace_fee: 1200 });
    const before = await metricValue('pb_dead_letters_high_impact_total', { channel: 'marketplace', command: 'authorize', code: 'INVALID_PARAMS' });
    const { headers } = await deadLetterOf('marketplace.order', payload);
    expect(headers['x-pb-field']).toBe('splits');
    expect(await metricValue('pb_dead_letters_high_impact_total', { channel: 'marketplace', command: 'authorize', code: 'INVALID_PARAMS' })).toBe(before + 1);
  });

  it('dead-letters a split tender carrying order lines, naming the field (a web order with a gift_card; a canonical sale with tenders): no part goes without them', async () => {
    const before = await metricValue('pb_commands_dead_lettered_total', { reason: 'invalid_params' });
    const payload = webOrderCreatedExample(run(), {
      gift_card: { gateway: 'simulator', gateway_account: 'acme-eu', token: 'gc_demo_5000', brand: 'givex', amount: 3000 },
    });
    const web = await deadLetterOf('web.order_created', payload);
    expect(web.headers['x-pb-code']).toBe('INVALID_PARAMS');
    expect(web.headers['x-pb-field']).toBe('order.lines');
    expect(String(web.headers['x-pb-reason'])).toMatch(/is not carried by a split tender/);
    expect(await worker.ledger.get(`web-order.${(payload.order as { order_id: string }).order_id}`)).toBeNull();
    const id = `split-lines-${run()}`;
    const sale = {
      version: 1,
      command: 'sale',
      channel: 'web',
      received_at: new Date().toISOString(),
      payment: {
        gateway: 'simulator',
        gateway_account: 'acme-eu',
        gateway_key: 'pm_card_visa',
        amount: 10000,
        currency: 'EUR',
        order_id: `ORD-${id}`,
        operation_reference: id,
        lines: [{ line_number: 1, item_name: 'Blue mug', quantity: 2, unit_price_gross: 5000 }],
        tenders: [
          { type: 'gift_card', gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'gc_demo_5000', amount: 3000 },
          { type: 'card', gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'pm_card_visa' },
        ],
      },
    };
    const canonical = await deadLetterOf('web.payment.sale', sale);
    expect(canonical.headers['x-pb-field']).toBe('payment.lines');
    expect(await worker.ledger.get(id)).toBeNull();
    expect(await metricValue('pb_commands_dead_lettered_total', { reason: 'invalid_params' })).toBe(before + 2);
  });

  it('refuses a card number in a structured field (the POS token): CARD_DATA_REJECTED naming the field, the dead letter redacted', async () => {
    const pan = formatPan(TEST_PANS[1], 'dashes');
    const payload = posSaleExample(run());
    (payload.tender as Record<string, unknown>).token = `tok ${pan}`;
    const { headers, body } = await deadLetterOf('pos.sale', payload);
    expect(headers['x-pb-code']).toBe('CARD_DATA_REJECTED');
    expect(headers['x-pb-field']).toBe('tender.token');
    expect(body).not.toContain(pan);
  });

  it('accepts card numbers in free text in every written form, stores the masked text, and leaves none in Redis or the logs', async () => {
    const ids: string[] = [];
    for (const style of PAN_STYLES) {
      const pan = formatPan(TEST_PANS[0], style);
      const payload = marketplaceOrderExample(run(), { note: `gift card ${pan} inside`, custom_attributes: { wrap: `use ${pan}` } });
      await client.publish('marketplace.order', payload);
      ids.push(`mkp-order.${String(payload.marketplace_order_id)}`);
    }
    await eventually(async () => (await Promise.all(ids.map((id) => worker.ledger.get(id)))).every((r) => r !== null));
    const record = await worker.ledger.get(ids[0]);
    expect(record?.payment.custom_attributes).toMatchObject({ note: `gift card ${PAN_MASK} inside`, wrap: `use ${PAN_MASK}` });
    const found = await scanRedis(redis, config.redis.keyPrefix, panNeedles());
    expect(found.findings).toEqual([]);
    const needles = panNeedles();
    expect(logs.lines.filter((l) => needles.some((p) => l.includes(p)))).toEqual([]);
    expect(logs.lines.some((l) => l.includes('card data masked in free text') && l.includes('marketplace.order.v1'))).toBe(true);
  });
});

describe('channel contracts are rate-limited like any command (by the channel and the account the adapter maps)', () => {
  it('holds POS sales over the account limit of their tender’s account until tokens come: all recorded, none dead-lettered', async () => {
    const config = testConfig({ 'rate_limits.by_account': { 'simulator:acme-pos': { per_s: 5, burst: 2 } }, 'rate_limits.lease_tokens': 1 });
    const client = await amqpClient(config);
    const worker = await startIntakeProcess(config, captureLogger('error').logger, { rateLimits: true });
    try {
      const sales = Array.from({ length: 6 }, () => {
        const sale = posSaleExample(run());
        (sale.tender as Record<string, unknown>).gateway_account = 'acme-pos';
        return sale;
      });
      for (const s of sales) await client.publish('pos.sale', s);
      await eventually(
        async () => (await Promise.all(sales.map((s) => worker.ledger.get(`pos.S042.T07.${String(s.transaction_number)}`)))).every((r) => r !== null),
        30_000,
      );
      expect(worker.consumer.stats.rateLimited).toBeGreaterThan(0);
      expect(worker.consumer.stats.deadLettered).toBe(0);
      expect(await client.drainDeadLetters()).toHaveLength(0);
    } finally {
      await worker.stop();
      await client.deleteNamespace();
      await client.close();
    }
  });
});
