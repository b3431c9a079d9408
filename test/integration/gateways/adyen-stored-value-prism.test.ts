import { CommandType } from '../../../src/contracts/payment-command';
import { adyenStoredValueGateway, adyenStoredValueTransformer } from '../../../src/gateways/adyen-stored-value';
import { GatewayRequest, OperationContext } from '../../../src/gateways/gateway-adapter';
import { usePrismGateway } from '../../support/prism';

/**
 * Every request the Adyen Stored Value transformer builds, authenticated, against Prism serving Adyen's own
 * Stored Value v46 spec (strict: `additionalProperties: false` everywhere, so an unknown field is a
 * violation), and the doctor's credential check. Prism keeps no state: only the shapes are checked.
 */

const suite = usePrismGateway('adyen-storedvalue-v46.json', {
  name: 'adyen-sv-prism',
  type: 'adyen-stored-value',
  apiKey: 'AQE-prism-key',
  merchantAccount: 'PrismMerchantAccount',
});
const send = (request: GatewayRequest) => suite.send(request);

const t = adyenStoredValueTransformer;

function ctxFor(command: CommandType, amount = 1234): OperationContext {
  return {
    operationId: `op-prism-sv-${command}-1`,
    command,
    payment: {
      gateway: 'adyen-sv-prism',
      gateway_account: 'X',
      gateway_key: command === 'cancel' ? '993617894903480A' : 'shopper-0042:8316039902646531',
      amount,
      currency: 'EUR',
      order_id: 'ORD-1',
      method_details: { method: 'giftcard', submethod: 'svs' },
      ...(command === 'merge_balance' ? { stored_value: { source_gateway_key: 'shopper-0042:8316039902646532' } } : {}),
    },
  };
}

describe('Adyen Stored Value requests against the Stored Value v46 spec', () => {
  it.each(t.supports.map((c) => [c]))('sends a %s request the spec accepts without violations, and reads its answer', async (command) => {
    const ctx = ctxFor(command);
    // An SVS issue is sent only for an integration that issued SVS cards before (`issue_svs`).
    const gateway = command === 'issue' ? { ...suite.gateway, issueSvs: true } : suite.gateway;
    const { status, violations, body } = await send(t.authenticate(t.buildRequest(ctx, gateway), gateway, new Date()));
    expect(violations).toBeUndefined();
    expect(status).toBe(200);
    const outcome = t.parseResponse(ctx, { status, headers: {}, body, elapsedMs: 0 }, suite.gateway);
    expect(['SUCCESS', 'FAIL']).toContain(outcome.status);
  });

  it('sends a balance inquiry without an amount (0: nothing to cover) the spec accepts', async () => {
    const request = t.authenticate(t.buildRequest(ctxFor('balance_inquiry', 0), suite.gateway), suite.gateway, new Date());
    expect(JSON.parse(request.body ?? '{}')).not.toHaveProperty('amount');
    const { status, violations } = await send(request);
    expect(violations).toBeUndefined();
    expect(status).toBe(200);
  });

  it('sends a status inquiry the spec accepts (the request again, same Idempotency-Key)', async () => {
    const ctx = ctxFor('reload');
    const request = t.buildStatusRequest(ctx, suite.gateway);
    expect(request.headers['Idempotency-Key']).toBe(ctx.operationId);
    const { violations } = await send(t.authenticate(request, suite.gateway, new Date()));
    expect(violations).toBeUndefined();
  });

  it('sends a Givex issue without an amount the spec accepts', async () => {
    const ctx = ctxFor('issue', 0);
    const givex = { ...ctx, payment: { ...ctx.payment, method_details: { method: 'giftcard', submethod: 'givex' } } };
    const { status, violations } = await send(t.authenticate(t.buildRequest(givex, suite.gateway), suite.gateway, new Date()));
    expect(violations).toBeUndefined();
    expect(status).toBe(200);
  });

  // Adyen's issue guide requires giftCardPromoCode for a Fiserv (ValueLink) card; the v46 spec does not list it.
  it("sends a Fiserv (ValueLink) issue whose one departure from the spec is the guide's giftCardPromoCode", async () => {
    const ctx = ctxFor('issue', 0);
    const valuelink = {
      ...ctx,
      payment: { ...ctx.payment, method_details: { method: 'giftcard', submethod: 'valuelink' }, custom_attributes: { giftcard_promo_code: '1324' } },
    };
    const request = t.authenticate(t.buildRequest(valuelink, suite.gateway), suite.gateway, new Date());
    const body = JSON.parse(request.body ?? '{}') as Record<string, unknown>;
    expect(body.giftCardPromoCode).toBe('1324');
    delete body.giftCardPromoCode;
    const { status, violations } = await send({ ...request, body: JSON.stringify(body) });
    expect(violations).toBeUndefined();
    expect(status).toBe(200);
  });

  it('sends the doctor credential check the spec accepts', async () => {
    const check = adyenStoredValueGateway.credentialCheck;
    const { status, violations } = await send(t.authenticate(check.request(suite.gateway), suite.gateway, new Date()));
    expect(violations).toBeUndefined();
    expect(status).toBe(200);
  });

  it('is told about a violation when the load has no amount (so the check is real)', async () => {
    const request = t.authenticate(t.buildRequest(ctxFor('reload'), suite.gateway), suite.gateway, new Date());
    const body = JSON.parse(request.body ?? '{}') as Record<string, unknown>;
    delete body.amount;
    const { status, violations } = await send({ ...request, body: JSON.stringify(body) });
    expect(violations).toBeDefined();
    expect(status).toBeGreaterThanOrEqual(400);
  });

  it('is refused with 401 when the API key is missing, so authenticate is what makes requests acceptable', async () => {
    const { status } = await send(t.buildRequest(ctxFor('reload'), suite.gateway));
    expect(status).toBe(401);
  });
});
