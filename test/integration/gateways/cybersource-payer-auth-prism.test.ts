import { NO_CREDENTIALS } from '../../support/gateway-credentials';
import { AxiosInstance } from 'axios';
import { GatewayConfig } from '../../../src/config/config';
import { Payment } from '../../../src/contracts/payment-command';
import { cybersourceTransformer as t } from '../../../src/gateways/cybersource';
import { GatewayRequest, OperationContext } from '../../../src/gateways/gateway-adapter';
import { createOutboundHttp } from '../../../src/http/axios-http';
import { PrismMock, PrismViolation, requestViolations, startPrism } from '../../support/prism';

/**
 * Cybersource Payer Authentication's two payment requests (CONSUMER_AUTHENTICATION, then
 * VALIDATE_CONSUMER_AUTHENTICATION) against the official 2020-02-17 spec in Prism. That spec predates
 * `actionList` and the authentication fields we send (`returnUrl`, `authenticationTransactionId`); its
 * schemas do not forbid extra properties, so this shows the rest of each request is valid, not that the
 * spec knows the new fields (docs/PAYMENT-METHODS.md). The challenge itself is played against a local
 * peer: test/integration/methods/cybersource-payer-auth.test.ts.
 */
const gatewayBase: Omit<GatewayConfig, 'baseUrl'> = {
  ...NO_CREDENTIALS,
  name: 'cybs-prism-3ds',
  type: 'cybersource',
  merchantId: 'prism_merchant',
  keyId: '08d6a0e4-7a4c-4d3e-9c43-1f0c2b7d9e10',
  sharedSecret: Buffer.from('prism-shared-secret-0123456789abcdef').toString('base64'),
  timeoutMs: 10000,
  maxSockets: 4,
  payerAuthentication: true,
};

function ctx(command: 'authorize' | 'sale', payment: Partial<Payment>, n: string): OperationContext {
  return {
    operationId: `op-prism-3ds-${n}`,
    command,
    payment: {
      gateway: gatewayBase.name,
      gateway_account: 'default',
      gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC',
      amount: 2599,
      currency: 'USD',
      ...payment,
    },
  };
}

let prism: PrismMock;
let http: AxiosInstance;
let gateway: GatewayConfig;

beforeAll(async () => {
  prism = await startPrism('cybersource-payments-2020-02-17.json', 120_000);
  gateway = { ...gatewayBase, baseUrl: prism.url };
  http = createOutboundHttp({ baseURL: prism.url, timeoutMs: 10000, maxSockets: 4 });
}, 150_000);

afterAll(async () => {
  await prism?.stop();
});

async function send(request: GatewayRequest): Promise<{ status: number; violations: PrismViolation[] | undefined }> {
  const signed = t.authenticate(request, gateway, new Date());
  const { host: _host, ...headers } = signed.headers;
  const res = await http.request({ method: signed.method, url: signed.path, headers, data: signed.body });
  return { status: res.status, violations: requestViolations(res.headers['sl-violations'] as string | undefined) };
}

describe('Cybersource Payer Authentication requests (Prism, 2020-02-17)', () => {
  it('the spec accepts the authorization asking for CONSUMER_AUTHENTICATION with a return URL and the device data collection reference', async () => {
    const request = t.buildRequest(
      ctx(
        'authorize',
        {
          payment_method: { type: 'stored_card', return_url: 'https://shop.example/3ds/return', three_ds_reference_id: 'fb5d9e40-9bb0-4cc6-9e5f-f5ec1f1e6c57' },
        },
        'p1',
      ),
      gateway,
    );
    expect(request.body).toContain('CONSUMER_AUTHENTICATION');
    const { status, violations } = await send(request);
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });

  it('the spec accepts the Flex-token sale asking for it by the command (three_ds: required)', async () => {
    const request = t.buildRequest(ctx('sale', { three_ds: 'required', payment_method: { type: 'card', token: 'eyJraWQiOiJ0cmFuc2llbnQifQ.e30.sig' } }, 'p2'), {
      ...gateway,
      payerAuthentication: false,
    });
    expect(request.body).toContain('CONSUMER_AUTHENTICATION');
    const { status, violations } = await send(request);
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });

  it('the spec accepts the completion with VALIDATE_CONSUMER_AUTHENTICATION and the authentication transaction id', async () => {
    const request = t.buildActionCompletionRequest!(ctx('authorize', {}, 'p1'), { authentication_transaction_id: 'hZ4yAg1Z3VbvH4qYkXm0' }, gateway);
    expect(request.body).toContain('VALIDATE_CONSUMER_AUTHENTICATION');
    const { status, violations } = await send(request);
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });
});
