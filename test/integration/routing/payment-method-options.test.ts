import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { MethodsQueryError, PaymentMethodOptions, methodsQueryOf } from '../../../src/routing/payment-method-options';
import { formatMethodsAnswer } from '../../../src/cli/payment-methods-command';
import { specPath } from '../../support/prism';
import { testConfig } from '../../support/test-config';
import { RedisClient } from '../../../src/redis/redis-connection';
import { createRedis } from '../../../src/redis/redis-connection';
import { CapReservations } from '../../../src/caps/cap-reservations';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';

/**
 * Payment method options against a real local HTTP server answering Adyen's `POST /paymentMethods` with the
 * example the official Checkout v71 spec documents ("filtered": country and amount), recording each request.
 */
const spec = JSON.parse(readFileSync(specPath('adyen-checkout-v71.json'), 'utf8')) as { components: { examples: Record<string, { value: unknown }> } };
const FILTERED = JSON.stringify(spec.components.examples['post-paymentMethods-filtered-200'].value);

let server: Server;
let url: string;
const received: Array<{ path: string; apiKey: string | undefined; body: Record<string, unknown> }> = [];
let failing = false;

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void body(req).then((text) => {
      received.push({ path: req.url ?? '', apiKey: req.headers['x-api-key'] as string | undefined, body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(failing ? 500 : 200, { 'content-type': 'application/json' });
      res.end(failing ? '{"status":500,"errorCode":"905","message":"down","errorType":"internal"}' : FILTERED);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

const namespaces: Config[] = [];
let redis: RedisClient | undefined;

afterAll(async () => {
  await new Promise((r) => server.close(r));
  for (const c of namespaces) await purgeNamespace(c).catch(() => undefined);
  redis?.disconnect();
});

function config(overrides: Record<string, unknown> = {}): Config {
  return testConfig({
    gateways: {
      adyen: {
        type: 'adyen',
        base_url: url,
        api_key: 'adyen-methods-key-0123456789',
        merchant_account: 'AcmeEU',
        webhook_secret: '00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF',
        timeout_ms: 2000,
      },
      stripe: { type: 'stripe', base_url: 'http://127.0.0.1:9', api_key: 'sk_test_methods_0123456789', webhook_secret: 'whsec_methodsTest0123456789abcdefXYZ' },
      sim: { type: 'simulator', base_url: 'http://127.0.0.1:9', api_key: 'sim-methods-key-0123456789', webhook_secret: 'whsec-methods-test-0123456789' },
    },
    'routing.rules': [
      { name: 'eu', when: { currencies: ['EUR'], countries: ['NL', 'DE'] }, gateways: ['adyen', 'stripe'] },
      { name: 'us', when: { currencies: ['USD'] }, gateways: ['stripe', 'sim'] },
    ],
    'routing.payment_methods.by_gateway': { stripe: ['card', 'klarna'] },
    ...overrides,
  });
}

function options(c: Config, now?: () => number): PaymentMethodOptions {
  return new PaymentMethodOptions({ config: c, routes: createGatewayClients(c), now });
}

describe('payment method options', () => {
  it("merges Adyen's own list (asked with merchant account, amount, country, channel) with the configured list of the next candidate", async () => {
    received.length = 0;
    const answer = await options(config()).list(
      methodsQueryOf({ order: { amount: 1000, currency: 'EUR', country: 'nl', gateway_account: 'acme', channel: 'web' } }),
    );
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      path: '/paymentMethods',
      apiKey: 'adyen-methods-key-0123456789',
      body: { merchantAccount: 'AcmeEU', amount: { currency: 'EUR', value: 1000 }, countryCode: 'NL', channel: 'Web' },
    });
    const card = answer.methods.find((m) => m.method === 'card');
    // Adyen's `scheme` is our card; Stripe (configured) offers card too: both, in routing order.
    expect(card?.gateways).toEqual(['adyen', 'stripe']);
    expect(answer.methods.find((m) => m.method === 'ideal')?.gateways).toEqual(['adyen']);
    // The documented example lists Klarna too: Adyen's and Stripe's configured lists merge.
    expect(answer.methods.find((m) => m.method === 'klarna')?.gateways).toEqual(['adyen', 'stripe']);
    expect(answer.explanation).toMatchObject({
      rule: 'eu',
      candidates: ['adyen', 'stripe'],
      gateways: [
        { gateway: 'adyen', source: 'gateway' },
        { gateway: 'stripe', source: 'config', methods: ['card', 'klarna'] },
      ],
    });
    expect(answer.cached).toBe(false);
  });

  it('caches an answer per order shape for routing.payment_methods.cache_ms', async () => {
    let now = 1_000_000;
    const o = options(config({ 'routing.payment_methods.cache_ms': 1000 }), () => now);
    const q = methodsQueryOf({ amount: 1000, currency: 'EUR', country: 'DE', gateway_account: 'acme' });
    received.length = 0;
    await o.list(q);
    expect((await o.list(q)).cached).toBe(true);
    expect(received).toHaveLength(1);
    now += 1001;
    expect((await o.list(q)).cached).toBe(false);
    expect(received).toHaveLength(2);
  });

  it("a gateway's list that cannot be read falls back to its configured or default list, and says why", async () => {
    failing = true;
    try {
      const answer = await options(config()).list(methodsQueryOf({ amount: 1000, currency: 'EUR', country: 'NL', gateway_account: 'acme' }));
      expect(answer.explanation.gateways[0]).toMatchObject({ gateway: 'adyen', source: 'default', methods: ['card'] });
      expect(answer.explanation.gateways[0].error).toMatch(/500/);
      expect(answer.methods.find((m) => m.method === 'card')?.gateways).toEqual(['adyen', 'stripe']);
    } finally {
      failing = false;
    }
  });

  it('agreements remove gateways: a suspended one offers nothing', async () => {
    const c = config({ 'routing.agreements': [{ merchant: 'acme', gateway: 'stripe', status: 'suspended' }] });
    const answer = await options(c).list(methodsQueryOf({ amount: 500, currency: 'USD', gateway_account: 'acme' }));
    expect(answer.explanation).toMatchObject({ rule: 'us', candidates: ['sim'], dropped: ['agreement_suspended:stripe'] });
    expect(answer.methods).toEqual([{ method: 'card', gateways: ['sim'] }]);
    expect(formatMethodsAnswer(answer)).toContain('dropped agreement_suspended:stripe');
  });

  it('per-transaction caps remove gateways: one whose maximum this amount breaks offers nothing', async () => {
    const c = config({ 'caps.rules': [{ scope: 'gateway', name: 'stripe', currency: 'USD', max_amount: 400 }] });
    const answer = await options(c).list(methodsQueryOf({ amount: 500, currency: 'USD', gateway_account: 'acme' }));
    expect(answer.explanation).toMatchObject({ rule: 'us', candidates: ['sim'], dropped: ['cap_max_amount:stripe'] });
    expect(answer.methods).toEqual([{ method: 'card', gateways: ['sim'] }]);
    const under = await options(c).list(methodsQueryOf({ amount: 300, currency: 'USD', gateway_account: 'acme' }));
    expect(under.explanation.candidates).toEqual(['stripe', 'sim']);
  });

  it('daily and monthly cap counters remove gateways: one whose daily count or monthly volume for this merchant is used up offers nothing, naming the cap', async () => {
    const c = config({
      'caps.rules': [
        { scope: 'gateway', name: 'stripe', currency: 'USD', daily_count: 2 },
        { scope: 'merchant', name: 'acme', gateway: 'sim', currency: 'USD', monthly_volume: 1000 },
      ],
    });
    namespaces.push(c);
    redis ??= createRedis(c.redis, 'commands');
    const caps = new CapReservations(redis, c.redis.keyPrefix, c.limits.caps.rules);
    const withCounters = () => new PaymentMethodOptions({ config: c, routes: createGatewayClients(c), redis });
    const usd = (amount: number) => methodsQueryOf({ amount, currency: 'USD', gateway_account: 'acme' });
    expect((await withCounters().list(usd(300))).explanation.candidates).toEqual(['stripe', 'sim']);

    // Two authorizations at stripe today (its daily count), 800 of acme's 1000 a month at sim.
    for (const id of ['cap-opt-1', 'cap-opt-2']) await caps.reserve(id, [{ index: 0, gateway: 'stripe', account: 'other', amount: 100, currency: 'USD' }]);
    await caps.reserve('cap-opt-3', [{ index: 0, gateway: 'sim', account: 'acme', amount: 800, currency: 'USD' }]);

    const over = await withCounters().list(usd(300));
    expect(over.explanation).toMatchObject({ rule: 'us', candidates: [], dropped: ['cap_daily_count:stripe', 'cap_monthly_volume:sim'] });
    expect(over.methods).toEqual([]);
    // 200 still fits acme's monthly volume at sim; stripe's daily count is used up whatever the amount.
    const under = await withCounters().list(usd(200));
    expect(under.explanation).toMatchObject({ candidates: ['sim'], dropped: ['cap_daily_count:stripe'] });
    // Another merchant is not held to acme's counter.
    const other = await withCounters().list(methodsQueryOf({ amount: 300, currency: 'USD', gateway_account: 'globex' }));
    expect(other.explanation.candidates).toEqual(['sim']);
    // A released reservation gives the room back.
    await caps.release('cap-opt-1', 'USD', { gateway: 'stripe', index: 0 });
    expect((await withCounters().list(usd(200))).explanation.candidates).toEqual(['stripe', 'sim']);
  });

  it('no rule and no gateway named: every configured gateway the merchant may use', async () => {
    const answer = await options(config({ 'routing.rules': [] })).list(
      methodsQueryOf({ amount: 500, currency: 'GBP', gateway_account: 'acme', channel: 'pos' }),
    );
    expect(answer.explanation.candidates.sort()).toEqual(['adyen', 'sim', 'stripe']);
  });

  it('a bad query names the field', () => {
    expect(() => methodsQueryOf({ amount: 10.5, currency: 'EUR', gateway_account: 'a' })).toThrow(MethodsQueryError);
    expect(() => methodsQueryOf({ order: { amount: 10, currency: 'EUR' } })).toThrow(/order\.gateway_account/);
    expect(() => methodsQueryOf({ amount: 10, currency: 'XXX1', gateway_account: 'a' })).toThrow(/currency/);
  });
});
