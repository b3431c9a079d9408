import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Payment, PaymentCommand } from '../../../src/contracts/payment-command';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';
import { openBreaker } from '../../support/fleet-workers';

/**
 * Routing and failover between Stripe entries, against a local Stripe stand-in that keeps two accounts as
 * Stripe does: account A (its secret key and a restricted key, one vault the configuration cannot show)
 * holds Customer cus_A, account B (another secret key) does not. A Customer is an object of one account
 * (src/routing/method-binding.ts): a payment naming cus_A never reaches account B, where it would be
 * "No such customer". Entries declared one vault (`gateways.<name>.vault`) take each other's tokens and
 * Customers on a failover.
 */
const SK_A = 'sk_test_vaults_account_a_0123456789';
const RK_A = 'rk_test_vaults_account_a_0123456789';
const SK_B = 'sk_test_vaults_account_b_0123456789';
const HOOK = 'whsec_vaults_account_0123456789';
const ACCOUNT_OF_KEY: Record<string, string> = { [SK_A]: 'A', [RK_A]: 'A', [SK_B]: 'B' };
const CUSTOMERS: Record<string, readonly string[]> = { A: ['cus_A'], B: [] };

/** Every PaymentIntent asked for: the account whose key made the call, and its Customer. */
const calls: { account: string; customer: string | null; key: string }[] = [];
let server: http.Server;
let baseUrl: string;
const stacks = useDeliveryStacks();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const json = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const account = ACCOUNT_OF_KEY[String(req.headers.authorization).replace(/^Bearer /, '')];
      if (account === undefined) return json(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
      if (req.method === 'POST' && req.url === '/v1/payment_intents') {
        const form = new URLSearchParams(body);
        const customer = form.get('customer');
        calls.push({ account, customer, key: String(req.headers['idempotency-key']) });
        if (customer !== null && !CUSTOMERS[account].includes(customer)) {
          return json(400, {
            error: { type: 'invalid_request_error', code: 'resource_missing', param: 'customer', message: `No such customer: '${customer}'` },
          });
        }
        return json(200, {
          id: `pi_vaults_${calls.length}`,
          object: 'payment_intent',
          status: 'requires_capture',
          amount: Number(form.get('amount')),
          amount_capturable: Number(form.get('amount')),
          amount_received: 0,
          currency: form.get('currency'),
          capture_method: 'manual',
          customer,
          metadata: { operation_id: form.get('metadata[operation_id]') },
        });
      }
      json(404, { error: { type: 'invalid_request_error', code: 'resource_missing' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}, 60_000);

const entry = (key: string, extra: Record<string, unknown> = {}) => ({
  type: 'stripe',
  base_url: baseUrl,
  api_key: key,
  webhook_secret: HOOK,
  timeout_ms: 800,
  ...extra,
});

/** `stri_a` (account A's secret key), `stri_rk` (A's restricted key), `stri_b` (account B); the rule tries them in that order. */
function setup(vault: boolean, rules?: unknown[]): DeliveryStack {
  const declared = vault ? { vault: 'acme-stripe' } : {};
  return stacks.build(
    testConfig({
      'delivery.breaker_failure_threshold': 3,
      'delivery.breaker_open_ms': 60_000,
      'routing.rules': rules ?? [{ name: 'a-rk-b', when: { commands: ['authorize', 'sale'] }, gateways: ['stri_a', 'stri_rk', 'stri_b'] }],
      'routing.failover.enabled': true,
      gateways: { stri_a: entry(SK_A, declared), stri_rk: entry(RK_A, declared), stri_b: entry(SK_B) },
    }),
  );
}

async function record(ledger: Ledger, payment: Partial<Payment>): Promise<string> {
  const command: PaymentCommand = channelCommand('authorize', {}, { gateway: 'stri_a', currency: 'EUR', amount: 1000, ...payment });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

const customer = { custom_attributes: { stripe_customer: 'cus_A' } };

describe('a Stripe Customer stays in its account', () => {
  it('a rule that leaves only account B: FAILED unsent, the OMS event naming payment.custom_attributes.stripe_customer', async () => {
    const { service, ledger, events } = setup(false, [{ name: 'to-b', when: { commands: ['authorize'] }, gateways: ['stri_b'] }]);
    const before = calls.length;
    const id = await record(ledger, { gateway_key: 'ORDER-KLARNA-1', payment_method: { type: 'klarna' }, ...customer });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(calls.length).toBe(before);
    expect(await ledger.get(id)).toMatchObject({ reason: 'METHOD_BOUND_TO_GATEWAY', reasonField: 'payment.custom_attributes.stripe_customer' });
    const event = await events.load(`${id}.FAILED`);
    expect(event?.params.payment).toMatchObject({ status: 'FAIL', reason: 'METHOD_BOUND_TO_GATEWAY', field: 'payment.custom_attributes.stripe_customer' });
  });

  it('failover on a route recorded before (account B still a candidate) skips it: the payment waits for account A', async () => {
    const stack = setup(false);
    const { service, ledger } = stack;
    const skippedBefore = (await metricValue('pb_routing_candidates_dropped_total', { step: 'failover', reason: 'method_bound', gateway: 'stri_b' })) ?? 0;
    openBreaker(stack, 'stri_a');
    const command = channelCommand(
      'authorize',
      {},
      { gateway: 'stri_a', gateway_key: 'ORDER-KLARNA-2', currency: 'EUR', payment_method: { type: 'klarna' }, ...customer },
    );
    const id = command.payment.operation_reference!;
    const candidates = ['stri_a', 'stri_b'];
    await ledger.create(id, command, Date.now(), undefined, {
      routing: {
        gateway: 'stri_a',
        requested: 'stri_a',
        candidates,
        index: 0,
        rule: 'a-rk-b',
        decisions: [{ stage: 'route', outcome: 'routed', reasons: ['rule:a-rk-b'], candidates }],
      },
    });
    const before = calls.length;
    expect(await service.deliver(id)).toMatchObject({ kind: 'wait', reason: 'circuit open for stri_a' });
    expect(calls.length).toBe(before);
    expect(await metricValue('pb_routing_candidates_dropped_total', { step: 'failover', reason: 'method_bound', gateway: 'stri_b' })).toBe(skippedBefore + 1);
  });
});

describe('gateway entries declared one vault (gateways.<name>.vault)', () => {
  it('undeclared, the restricted key of the same account is another vault: the route keeps account A only', async () => {
    const stack = setup(false);
    const { service, ledger } = stack;
    openBreaker(stack, 'stri_a');
    const before = calls.length;
    const id = await record(ledger, { gateway_key: 'pm_vaults_stored', ...customer });
    expect(await service.deliver(id)).toMatchObject({ kind: 'wait', reason: 'circuit open for stri_a' });
    expect(calls.length).toBe(before);
    // Sent once account A's entry is back, with the route that left the restricted key out on record.
    service.breaker('stri_a').success();
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(calls.slice(before)).toEqual([{ account: 'A', customer: 'cus_A', key: id }]);
    expect((await ledger.get(id))?.routing).toMatchObject({
      gateway: 'stri_a',
      candidates: ['stri_a'],
      decisions: [{ stage: 'route', reasons: ['rule:a-rk-b', 'method_bound:stri_rk', 'method_bound:stri_b'] }],
    });
  });

  it('declared, a stored PaymentMethod and its Customer fail over to the restricted key, never to account B', async () => {
    const stack = setup(true);
    const { service, ledger } = stack;
    openBreaker(stack, 'stri_a');
    const before = calls.length;
    const id = await record(ledger, { gateway_key: 'pm_vaults_stored', ...customer });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(calls.slice(before)).toEqual([{ account: 'A', customer: 'cus_A', key: `${id}.failover1` }]);
    expect((await ledger.get(id))?.routing).toMatchObject({
      gateway: 'stri_rk',
      candidates: ['stri_a', 'stri_rk'],
      decisions: [{ stage: 'route', reasons: ['rule:a-rk-b', 'method_bound:stri_b'] }],
      failovers: [{ from: 'stri_a', to: 'stri_rk', trigger: 'breaker_open' }],
    });
  });
});
