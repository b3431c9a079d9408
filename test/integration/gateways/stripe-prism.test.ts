import { AxiosInstance } from 'axios';
import { GatewayConfig } from '../../../src/config/config';
import { COMMAND_TYPES, CommandType } from '../../../src/contracts/payment-command';
import { GatewayRequest, OperationContext } from '../../../src/gateways/gateway-adapter';
import { buildExchangeRateRequest, stripeTransformer as t } from '../../../src/gateways/stripe';
import { createOutboundHttp } from '../../../src/http/axios-http';
import { PrismMock, startPrism, PrismViolation, requestViolations } from '../../support/prism';

/**
 * Every request the Stripe transformer builds, authenticated, against Prism serving the official
 * 2023-08-16 spec subset: no `sl-violations` header means the request has the shape the spec describes.
 * Prism validates top-level form fields only, hence the unit tests beside it.
 */
let prism: PrismMock;
let http: AxiosInstance;
let gateway: GatewayConfig;

function ctx(command: CommandType): OperationContext {
  const onMethod = command === 'authorize' || command === 'sale' || command === 'tokenize';
  return {
    operationId: `op-prism-${command}`,
    command,
    payment: {
      gateway: 'stripe-prism',
      gateway_account: 'default',
      gateway_key: onMethod ? 'pm_1NgB1q2eZvKYlo2CmTlPgL8w' : 'pi_3NgB1r2eZvKYlo2C0kLq4ZxY',
      amount: 2599,
      currency: 'EUR',
      order_id: 'ORD-PRISM-1',
      custom_attributes: { stripe_customer: 'cus_OTbK4yAhPz9Xr1', stripe_payment_method: 'pm_1NgB1q2eZvKYlo2CmTlPgL8w' },
    },
  };
}

async function send(request: GatewayRequest): Promise<{ status: number; violations: PrismViolation[] | undefined }> {
  const signed = t.authenticate(request, gateway, new Date());
  const res = await http.request({ method: signed.method, url: signed.path, headers: signed.headers, data: signed.body });
  return { status: res.status, violations: requestViolations(res.headers['sl-violations'] as string | undefined) };
}

beforeAll(async () => {
  prism = await startPrism('stripe-payments-2023-08-16.prism.json');
  gateway = {
    name: 'stripe-prism',
    type: 'stripe',
    baseUrl: prism.url,
    apiKey: 'sk_test_prism_0123456789',
    webhookSecret: 'whsec_prism',
    webhookSecretPrevious: '',
    merchantAccount: '',
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: '',
    reportPassword: '',
    reportBaseUrl: '',
    timeoutMs: 10000,
    maxSockets: 4,
  };
  http = createOutboundHttp({ baseURL: prism.url, timeoutMs: 10000, maxSockets: 4 });
  // A large spec takes Prism a few seconds to load, more on a loaded machine.
}, 120_000);

afterAll(async () => {
  await prism?.stop();
});

const commands = COMMAND_TYPES.filter((c) => t.supports.includes(c)).map((c) => [c] as const);

describe('Stripe requests against the official spec (Prism)', () => {
  it.each(commands)('sends a %s request the spec accepts', async (command) => {
    const { status, violations } = await send(t.buildRequest(ctx(command), gateway));
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });

  it.each(commands)('sends the %s status inquiry the spec accepts', async (command) => {
    const { status, violations } = await send(t.buildStatusRequest(ctx(command), gateway));
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });

  it('sends an exchange rate request the spec accepts', async () => {
    const { status, violations } = await send(buildExchangeRateRequest('USD'));
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });

  it('gets violations back for a PaymentIntent without its required amount', async () => {
    const good = t.buildRequest(ctx('authorize'), gateway);
    const body = new URLSearchParams(good.body);
    body.delete('amount');
    const { status, violations } = await send({ ...good, body: body.toString() });
    expect(violations?.some((v) => v.message.includes('amount'))).toBe(true);
    expect(status).toBeGreaterThanOrEqual(400);
  });

  it('gets violations back for an amount that is not an integer', async () => {
    const good = t.buildRequest(ctx('refund'), gateway);
    const body = new URLSearchParams(good.body);
    body.set('amount', 'ten');
    const { violations } = await send({ ...good, body: body.toString() });
    expect(violations?.map((v) => v.location.join('.'))).toContain('request.body.amount');
  });

  it('is refused as unauthorized without the bearer key authenticate() adds', async () => {
    const good = t.buildRequest(ctx('validate'), gateway);
    const res = await http.request({ method: good.method, url: good.path, headers: good.headers });
    expect(res.status).toBe(401);
  });
});
