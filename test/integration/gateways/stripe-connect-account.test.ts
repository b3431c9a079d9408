import http from 'node:http';
import { AddressInfo } from 'node:net';
import { CommandType } from '../../../src/contracts/payment-command';
import { checkGatewayCredentials } from '../../../src/doctor/credential-checks';
import { OperationContext } from '../../../src/gateways/gateway-adapter';
import { GatewayClient } from '../../../src/gateways/gateway-client';
import { GatewayConfig } from '../../../src/gateways/gateway-config';
import { stripeGateway } from '../../../src/gateways/stripe/stripe-gateway';
import { buildExchangeRateRequest } from '../../../src/gateways/stripe/stripe-exchange-rates';
import { stripeRecordReader } from '../../../src/gateways/stripe/stripe-reconciliation';
import { createOutboundHttp } from '../../../src/http/axios-http';
import { createReconciliationHttp } from '../../../src/reconciliation-run/reconciliation-http';
import { NO_CREDENTIALS } from '../../support/gateway-credentials';

/**
 * Stripe Connect, direct charges: with `merchant_account`, the webhook scope check accepts only the events of
 * that connected account, so every call must act on it too (`Stripe-Account`, "Making API calls for connected
 * accounts"), or the platform key creates the PaymentIntents on the platform, whose events name no account.
 * A local Stripe stand-in records the header of every call the bridge makes: each command's request and status
 * inquiry (through the gateway client, as delivery and the poller send them), the exchange rate read, the
 * reconciliation lists and the doctor's balance read.
 */

const ACCOUNT = 'acct_1NconnectTest01';
const seen: { call: string; account: string | undefined; version: string | undefined }[] = [];
let server: http.Server;
let baseUrl: string;
const closers: { close(): void }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const account = req.headers['stripe-account'];
      const version = req.headers['stripe-version'];
      seen.push({
        call: `${req.method} ${url.pathname}`,
        account: typeof account === 'string' ? account : undefined,
        version: typeof version === 'string' ? version : undefined,
      });
      // Lists answer empty; anything else a bare object: only the requests matter here.
      const list = url.pathname === '/v1/balance_transactions' || url.pathname === '/v1/payment_intents' || url.pathname === '/v1/refunds';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(list && req.method === 'GET' ? { object: 'list', url: url.pathname, has_more: false, data: [] } : { id: 'x', object: 'unknown' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const c of closers) c.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function gateway(merchantAccount: string): GatewayConfig {
  return {
    ...NO_CREDENTIALS,
    name: 'stripe-connect',
    type: 'stripe',
    baseUrl,
    apiKey: 'sk_test_connect_platform_0123',
    merchantAccount,
    timeoutMs: 5000,
    maxSockets: 4,
  };
}

function context(command: CommandType): OperationContext {
  const byMethod = command === 'authorize' || command === 'sale' || command === 'tokenize';
  return {
    operationId: `op-connect-${command}`,
    command,
    payment: {
      gateway: 'stripe-connect',
      gateway_account: 'default',
      gateway_key: byMethod ? 'pm_1NconnectMethod01' : 'pi_3NconnectIntent01',
      amount: 1250,
      currency: 'EUR',
      order_id: 'ORD-CONNECT-1',
      custom_attributes: { stripe_customer: 'cus_ConnectTest01', stripe_payment_method: 'pm_1NconnectMethod01' },
    },
  };
}

const COMMANDS = stripeGateway.transformer.supports;

/** Every kind of call the bridge makes to Stripe, each as the product sends it. */
async function callEverything(g: GatewayConfig): Promise<void> {
  const client = new GatewayClient(g, stripeGateway.transformer, { proxy: { host: '', port: 0 } });
  for (const command of COMMANDS) {
    await client.send(stripeGateway.transformer.buildRequest(context(command), g));
    await client.send(stripeGateway.transformer.buildStatusRequest(context(command), g));
  }
  await client.send(buildExchangeRateRequest('EUR'));
  const recon = createReconciliationHttp(g, stripeGateway.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 5000 });
  closers.push(recon);
  for await (const _page of stripeRecordReader(g, recon).read({ from: Date.UTC(2023, 7, 17), to: Date.UTC(2023, 7, 18) })) {
    // Both passes read to the end.
  }
  const doctor = await checkGatewayCredentials(g, createOutboundHttp({ timeoutMs: 5000, maxSockets: 2 }), 'gateway stripe-connect', true);
  expect(doctor.status).toBe('OK');
}

describe('Stripe with a Connect merchant_account', () => {
  it('sends Stripe-Account with that account on every call: commands, status inquiries, exchange rates, reconciliation reads, the doctor', async () => {
    seen.length = 0;
    await callEverything(gateway(ACCOUNT));
    const calls = new Set(seen.map((s) => s.call));
    // The set covers creation, capture, cancel, refund, retrieval, search, the lists and the balance.
    for (const call of [
      'POST /v1/payment_intents',
      'POST /v1/payment_intents/pi_3NconnectIntent01/capture',
      'POST /v1/payment_intents/pi_3NconnectIntent01/cancel',
      'POST /v1/refunds',
      'POST /v1/setup_intents',
      'GET /v1/payment_intents/search',
      'GET /v1/payment_intents/pi_3NconnectIntent01',
      'GET /v1/refunds',
      'GET /v1/payment_methods/pm_1NconnectMethod01',
      'GET /v1/exchange_rates/eur',
      'GET /v1/balance_transactions',
      'GET /v1/payment_intents',
      'GET /v1/balance',
    ]) {
      expect(calls).toContain(call);
    }
    expect(seen.filter((s) => s.account !== ACCOUNT)).toEqual([]);
  });

  // "Stripe-Version" (API reference, versioning): a request without it is answered in the account's default version,
  // which an upgrade in the Dashboard moves; every call the bridge reads pins the version its readers are written to.
  it("pins Stripe-Version 2023-08-16 on every call, the doctor's balance read included", async () => {
    seen.length = 0;
    await callEverything(gateway(''));
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((s) => s.version !== '2023-08-16').map((s) => s.call)).toEqual([]);
  });

  it("sends no Stripe-Account without one: the key's own account", async () => {
    seen.length = 0;
    await callEverything(gateway(''));
    expect(seen.length).toBeGreaterThan(COMMANDS.length * 2);
    expect(seen.filter((s) => s.account !== undefined)).toEqual([]);
  });
});
