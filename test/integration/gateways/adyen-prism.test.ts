import { CommandType } from '../../../src/contracts/payment-command';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { GatewayRequest, OperationContext } from '../../../src/gateways/gateway-adapter';
import { usePrismGateway } from '../../support/prism';

/**
 * Every request the Adyen transformer builds, authenticated, against Prism serving Adyen's own Checkout
 * v71 spec (strict: unknown fields are violations). Prism keeps no state: only the request shape is checked.
 */

const suite = usePrismGateway('adyen-checkout-v71.json', {
  name: 'adyen-prism',
  type: 'adyen',
  apiKey: 'AQE-prism-key',
  merchantAccount: 'PrismMerchantAccount',
  // Pre-authorisations: every supported command is then sent, validate included (amountUpdates).
  authorisationType: 'PreAuth',
  webhookPrivateKey: '',
  webhookKeyId: '',
  webhookKeyIdPrevious: '',
});
const send = (request: GatewayRequest) => suite.send(request);

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

describe('Adyen requests against the Checkout v71 spec', () => {
  it.each(t.supports.map((c) => [c]))('sends a %s request the spec accepts without violations', async (command) => {
    const ctx = ctxFor(command);
    const { status, violations, body } = await send(t.authenticate(t.buildRequest(ctx, suite.gateway), suite.gateway, new Date()));
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
    // Prism answers with one of the spec's examples: the transformer must read it.
    const outcome = t.parseResponse(ctx, { status, headers: {}, body, elapsedMs: 0 }, suite.gateway);
    expect(['SUCCESS', 'PENDING', 'FAIL']).toContain(outcome.status);
  });

  it('sends a status inquiry the spec accepts without violations', async () => {
    const ctx = ctxFor('capture');
    const { violations } = await send(t.authenticate(t.buildStatusRequest(ctx, suite.gateway), suite.gateway, new Date()));
    expect(violations).toBeUndefined();
  });

  it('is told about a violation when a required field is missing', async () => {
    const request = t.authenticate(t.buildRequest(ctxFor('capture'), suite.gateway), suite.gateway, new Date());
    const body = JSON.parse(request.body ?? '{}') as Record<string, unknown>;
    delete body.amount;
    const { status, violations } = await send({ ...request, body: JSON.stringify(body) });
    expect(violations).toBeDefined();
    expect(status).toBeGreaterThanOrEqual(400);
  });

  it('is told about a violation when the amount is not an integer', async () => {
    const request = t.authenticate(t.buildRequest(ctxFor('authorize'), suite.gateway), suite.gateway, new Date());
    const body = JSON.parse(request.body ?? '{}') as Record<string, unknown>;
    body.amount = { value: '12.34', currency: 'EUR' };
    const { violations } = await send({ ...request, body: JSON.stringify(body) });
    expect(violations).toBeDefined();
  });

  it('is refused with 401 when the API key is missing, so authenticate is what makes requests acceptable', async () => {
    const { status } = await send(t.buildRequest(ctxFor('refund'), suite.gateway));
    expect(status).toBe(401);
  });
});
