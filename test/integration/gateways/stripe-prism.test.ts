import { COMMAND_TYPES, CommandType } from '../../../src/contracts/payment-command';
import { GatewayRequest, OperationContext } from '../../../src/gateways/gateway-adapter';
import { buildExchangeRateRequest, stripeTransformer as t } from '../../../src/gateways/stripe';
import { PrismViolation, requestViolations, usePrismGateway } from '../../support/prism';

/**
 * Every request the Stripe transformer builds, authenticated, against Prism serving the official
 * 2023-08-16 spec subset: no `sl-violations` header means the request has the shape the spec describes.
 * Prism validates top-level form fields only, hence the unit tests beside it.
 */

const suite = usePrismGateway('stripe-payments-2023-08-16.prism.json', {
  name: 'stripe-prism',
  type: 'stripe',
  apiKey: 'sk_test_prism_0123456789',
  webhookSecret: 'whsec_prism',
});

async function send(request: GatewayRequest): Promise<{ status: number; violations: PrismViolation[] | undefined }> {
  const answer = await suite.send(t.authenticate(request, suite.gateway, new Date()));
  return { status: answer.status, violations: requestViolations(answer.violations) };
}

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

const commands = COMMAND_TYPES.filter((c) => t.supports.includes(c)).map((c) => [c] as const);

describe('Stripe requests against the official spec (Prism)', () => {
  it.each(commands)('sends a %s request the spec accepts', async (command) => {
    const { status, violations } = await send(t.buildRequest(ctx(command), suite.gateway));
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });

  it.each(commands)('sends the %s status inquiry the spec accepts', async (command) => {
    const { status, violations } = await send(t.buildStatusRequest(ctx(command), suite.gateway));
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });

  // Stripe lists a PaymentIntent's refunds 100 a page: the inquiry reads on from the last refund of a page (`starting_after`).
  it("sends the next page of a refund's status inquiry the spec accepts", async () => {
    const page = { object: 'list', url: '/v1/refunds', has_more: true, data: [{ id: 're_3NgB1r2eZvKYlo2C0pQrStUv', object: 'refund', metadata: {} }] };
    const next = t.nextStatusPage?.(ctx('refund'), { status: 200, headers: {}, body: JSON.stringify(page), elapsedMs: 1 }, suite.gateway);
    expect(next?.path).toContain('starting_after=re_3NgB1r2eZvKYlo2C0pQrStUv');
    const { status, violations } = await send(next!);
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });

  it('sends an exchange rate request the spec accepts', async () => {
    const { status, violations } = await send(buildExchangeRateRequest('USD'));
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });

  it('gets violations back for a PaymentIntent without its required amount', async () => {
    const good = t.buildRequest(ctx('authorize'), suite.gateway);
    const body = new URLSearchParams(good.body);
    body.delete('amount');
    const { status, violations } = await send({ ...good, body: body.toString() });
    expect(violations?.some((v) => v.message.includes('amount'))).toBe(true);
    expect(status).toBeGreaterThanOrEqual(400);
  });

  it('gets violations back for an amount that is not an integer', async () => {
    const good = t.buildRequest(ctx('refund'), suite.gateway);
    const body = new URLSearchParams(good.body);
    body.set('amount', 'ten');
    const { violations } = await send({ ...good, body: body.toString() });
    expect(violations?.map((v) => v.location.join('.'))).toContain('request.body.amount');
  });

  it('is refused as unauthorized without the bearer key authenticate() adds', async () => {
    const good = t.buildRequest(ctx('validate'), suite.gateway);
    const res = await suite.send({ method: good.method, path: good.path, headers: good.headers });
    expect(res.status).toBe(401);
  });
});
