import { NO_CREDENTIALS } from '../../support/gateway-credentials';
import { AxiosInstance } from 'axios';
import { GatewayConfig } from '../../../src/config/config';
import { CommandType, Payment } from '../../../src/contracts/payment-command';
import { GatewayRequest, GatewayTransformer, OperationContext } from '../../../src/gateways/gateway-adapter';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { cybersourceTransformer } from '../../../src/gateways/cybersource';
import { stripeTransformer } from '../../../src/gateways/stripe';
import { createOutboundHttp } from '../../../src/http/axios-http';
import { withPspRiskFields } from '../../../src/risk/psp-risk-fields';
import { RiskDecision } from '../../../src/risk/risk-rules';
import { PrismMock, startPrism, requestViolations } from '../../support/prism';

/**
 * "Ask the PSP's own risk engine": an authorization and a sale with the risk fields each PSP documents
 * (Stripe Radar, Adyen riskData, Cybersource Decision Manager) still pass each PSP's official spec (Prism).
 */
const decision: RiskDecision = {
  action: 'psp_review',
  rule: 'big-and-foreign',
  signals: [
    { signal: 'high_amount', detail: 'amount 250000 >= 100000 EUR' },
    { signal: 'country_mismatch', detail: 'billing country DE vs ip country NG' },
  ],
};
const riskAttributes = {
  ip_address: '203.0.113.9',
  email: 'shopper@example.com',
  device_fingerprint: 'dfp-0123456789abcdef',
  radar_session: 'rse_1NgB1q2eZvKYlo2C',
  billing_country: 'DE',
  ip_country: 'NG',
};

const base = {
  ...NO_CREDENTIALS,
  timeoutMs: 10000,
  maxSockets: 4,
};
const cases: Array<{
  spec: string;
  transformer: GatewayTransformer;
  gateway: (url: string) => GatewayConfig;
  payment: (command: CommandType) => Payment;
  expectInBody: (body: string) => void;
}> = [
  {
    spec: 'stripe-payments-2023-08-16.prism.json',
    transformer: stripeTransformer,
    gateway: (url) => ({
      ...base,
      name: 'stripe-prism',
      type: 'stripe',
      baseUrl: url,
      apiKey: 'sk_test_prism_0123456789',
      merchantAccount: '',
      merchantId: '',
      keyId: '',
      sharedSecret: '',
    }),
    payment: () => ({
      gateway: 'stripe-prism',
      gateway_account: 'default',
      gateway_key: 'pm_1NgB1q2eZvKYlo2CmTlPgL8w',
      amount: 250000,
      currency: 'EUR',
      order_id: 'ORD-RISK-1',
      custom_attributes: riskAttributes,
    }),
    expectInBody: (body) => {
      const form = new URLSearchParams(body);
      expect(form.get('radar_options[session]')).toBe('rse_1NgB1q2eZvKYlo2C');
      expect(form.get('metadata[risk_rule]')).toBe('big-and-foreign');
      expect(form.get('metadata[risk_signals]')).toBe('high_amount country_mismatch');
    },
  },
  {
    spec: 'adyen-checkout-v71.json',
    transformer: adyenTransformer,
    gateway: (url) => ({
      ...base,
      name: 'adyen-prism',
      type: 'adyen',
      baseUrl: url,
      apiKey: 'AQE-prism-key',
      merchantAccount: 'PrismMerchantAccount',
      merchantId: '',
      keyId: '',
      sharedSecret: '',
    }),
    payment: () => ({
      gateway: 'adyen-prism',
      gateway_account: 'X',
      gateway_key: 'shopper-0042:8416039902646530',
      amount: 250000,
      currency: 'EUR',
      order_id: 'ORD-RISK-1',
      custom_attributes: riskAttributes,
    }),
    expectInBody: (body) => {
      const json = JSON.parse(body) as Record<string, unknown>;
      expect(json).toMatchObject({
        shopperIP: '203.0.113.9',
        deviceFingerprint: 'dfp-0123456789abcdef',
        shopperEmail: 'shopper@example.com',
        riskData: { customFields: { risk_rule: 'big-and-foreign', risk_signals: 'high_amount country_mismatch' } },
      });
    },
  },
  {
    spec: 'cybersource-payments-2020-02-17.json',
    transformer: cybersourceTransformer,
    gateway: (url) => ({
      ...base,
      name: 'cybs-prism',
      type: 'cybersource',
      baseUrl: url,
      apiKey: '',
      merchantAccount: '93B32398-AD51-4CC2-A682-EA3E93614EB1',
      merchantId: 'testrest',
      keyId: '08c94330-f618-42a3-b09d-e1e43be5efda',
      sharedSecret: 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=',
    }),
    payment: () => ({
      gateway: 'cybs-prism',
      gateway_account: 'default',
      gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC',
      amount: 250000,
      currency: 'USD',
      method_details: { method: 'card', card: { brand: 'visa', expiration_month: 12, expiration_year: 2031 } },
      custom_attributes: riskAttributes,
    }),
    expectInBody: (body) => {
      const json = JSON.parse(body) as Record<string, unknown>;
      expect(json).toMatchObject({
        deviceInformation: { ipAddress: '203.0.113.9', fingerprintSessionId: 'dfp-0123456789abcdef' },
        riskInformation: {
          auxiliaryData: [
            { key: 'risk_rule', value: 'big-and-foreign' },
            { key: 'risk_signals', value: 'high_amount country_mismatch' },
          ],
        },
      });
      // Personal data never goes into Decision Manager's auxiliary fields.
      expect(JSON.stringify(json.riskInformation)).not.toMatch(/example\.com|203\.0\.113/);
    },
  },
];

describe.each(cases.map((c) => [c.transformer.constructor.name || c.spec, c] as const))('%s', (_name, c) => {
  let prism: PrismMock;
  let http: AxiosInstance;
  let gateway: GatewayConfig;
  beforeAll(async () => {
    prism = await startPrism(c.spec);
    gateway = c.gateway(prism.url);
    http = createOutboundHttp({ baseURL: prism.url, timeoutMs: 10000, maxSockets: 4 });
  }, 120_000);
  afterAll(async () => {
    await prism?.stop();
  }, 60_000);

  async function send(request: GatewayRequest): Promise<{ status: number; violations: unknown }> {
    const signed = c.transformer.authenticate(request, gateway, new Date());
    const res = await http.request({ method: signed.method, url: signed.path, headers: signed.headers, data: signed.body });
    return { status: res.status, violations: requestViolations(res.headers['sl-violations'] as string | undefined) };
  }

  it.each([['authorize'], ['sale']] as const)(`a %s with the PSP risk-engine fields passes ${c.spec}`, async (command) => {
    const ctx: OperationContext = { operationId: `op-risk-${command}`, command, payment: c.payment(command) };
    const request = withPspRiskFields(gateway.type, c.transformer.buildRequest(ctx, gateway), ctx.payment, decision);
    c.expectInBody(request.body ?? '');
    const { status, violations } = await send(request);
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });
});
