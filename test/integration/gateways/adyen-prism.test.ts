import http from 'node:http';
import { AxiosInstance } from 'axios';
import { GatewayConfig } from '../../../src/config/config';
import { CommandType } from '../../../src/contracts/payment-command';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { GatewayRequest, OperationContext } from '../../../src/gateways/gateway-adapter';
import { createOutboundHttp } from '../../../src/http/axios-http';
import { PrismMock, startPrism } from '../../support/prism';

/**
 * Every request the Adyen transformer builds, authenticated, against Prism serving Adyen's own Checkout
 * v71 spec (strict: unknown fields are violations). Prism keeps no state: only the request shape is checked.
 */

let prism: PrismMock;
let client: AxiosInstance;
let gateway: GatewayConfig;

const t = adyenTransformer;

function ctxFor(command: CommandType): OperationContext {
  const key =
    command === 'tokenize'
      ? 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.prism-jwe'
      : ['authorize', 'sale', 'revalidate'].includes(command)
        ? 'shopper-0042:8416039902646530'
        : '993617894903480A';
  return {
    operationId: `op-prism-${command}-1`,
    command,
    payment: { gateway: 'adyen-prism', gateway_account: 'X', gateway_key: key, amount: 1234, currency: 'EUR', order_id: 'ORD-1' },
  };
}

async function send(request: GatewayRequest): Promise<{ status: number; violations: string | undefined; body: string }> {
  const res = await client.request<string>({ method: request.method, url: request.path, headers: request.headers, data: request.body });
  const violations = res.headers['sl-violations'];
  return { status: res.status, violations: typeof violations === 'string' ? violations : undefined, body: res.data };
}

beforeAll(async () => {
  prism = await startPrism('adyen-checkout-v71.json');
  gateway = {
    name: 'adyen-prism',
    type: 'adyen',
    baseUrl: prism.url,
    apiKey: 'AQE-prism-key',
    webhookSecret: '',
    webhookSecretPrevious: '',
    merchantAccount: 'PrismMerchantAccount',
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: '',
    reportPassword: '',
    reportBaseUrl: '',
    timeoutMs: 10000,
    maxSockets: 4,
  };
  client = createOutboundHttp({ baseURL: gateway.baseUrl, timeoutMs: gateway.timeoutMs, maxSockets: gateway.maxSockets });
}, 90000);

afterAll(async () => {
  (client?.defaults.httpAgent as http.Agent | undefined)?.destroy();
  await prism?.stop();
  // A large spec takes Prism a few seconds to load, more on a loaded machine.
}, 120_000);

describe('Adyen requests against the Checkout v71 spec', () => {
  it.each(t.supports.map((c) => [c]))('sends a %s request the spec accepts without violations', async (command) => {
    const ctx = ctxFor(command);
    const { status, violations, body } = await send(t.authenticate(t.buildRequest(ctx, gateway), gateway, new Date()));
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
    // Prism answers with one of the spec's examples: the transformer must read it.
    const outcome = t.parseResponse(ctx, { status, headers: {}, body, elapsedMs: 0 }, gateway);
    expect(['SUCCESS', 'PENDING', 'FAIL']).toContain(outcome.status);
  });

  it('sends a status inquiry the spec accepts without violations', async () => {
    const ctx = ctxFor('capture');
    const { violations } = await send(t.authenticate(t.buildStatusRequest(ctx, gateway), gateway, new Date()));
    expect(violations).toBeUndefined();
  });

  it('is told about a violation when a required field is missing', async () => {
    const request = t.authenticate(t.buildRequest(ctxFor('capture'), gateway), gateway, new Date());
    const body = JSON.parse(request.body ?? '{}') as Record<string, unknown>;
    delete body.amount;
    const { status, violations } = await send({ ...request, body: JSON.stringify(body) });
    expect(violations).toBeDefined();
    expect(status).toBeGreaterThanOrEqual(400);
  });

  it('is told about a violation when the amount is not an integer', async () => {
    const request = t.authenticate(t.buildRequest(ctxFor('authorize'), gateway), gateway, new Date());
    const body = JSON.parse(request.body ?? '{}') as Record<string, unknown>;
    body.amount = { value: '12.34', currency: 'EUR' };
    const { violations } = await send({ ...request, body: JSON.stringify(body) });
    expect(violations).toBeDefined();
  });

  it('is refused with 401 when the API key is missing, so authenticate is what makes requests acceptable', async () => {
    const { status } = await send(t.buildRequest(ctxFor('refund'), gateway));
    expect(status).toBe(401);
  });
});
