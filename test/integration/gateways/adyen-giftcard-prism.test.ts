import { Payment } from '../../../src/contracts/payment-command';
import { adyenTransformer as t } from '../../../src/gateways/adyen';
import { GatewayRequest, OperationContext } from '../../../src/gateways/gateway-adapter';
import { usePrismGateway } from '../../support/prism';

/**
 * Gift card redemption through Adyen Checkout (`paymentMethod.type: giftcard` with its `brand`), against
 * Prism serving Adyen's Checkout v71 spec: a gift card Adyen tokenized (`storedPaymentMethodId`) and a
 * one-time gift card from Adyen Web's gift card component (`encryptedCardNumber`, `encryptedSecurityCode`:
 * encrypted client-side, never a number or PIN in clear); then the void and the refund of a redemption.
 */

const suite = usePrismGateway('adyen-checkout-v71.json', {
  name: 'adyen-prism',
  type: 'adyen',
  apiKey: 'AQE-prism-key',
  merchantAccount: 'PrismMerchantAccount',
});
const send = (request: GatewayRequest) => suite.send(request);

const JWE_NUMBER = 'adyenjs_0_1_25$prism-encrypted-gift-card-number';
const JWE_PIN = 'adyenjs_0_1_25$prism-encrypted-gift-card-pin';

function ctx(command: OperationContext['command'], extra: Partial<Payment> = {}): OperationContext {
  return {
    operationId: `op-prism-gc-${command}-1`,
    command,
    payment: {
      gateway: 'adyen-prism',
      gateway_account: 'X',
      gateway_key: 'shopper-0042:8416039902646539',
      amount: 3000,
      currency: 'EUR',
      order_id: 'ORD-GC-1',
      method_details: { method: 'giftcard', submethod: 'givex' },
      ...extra,
    },
  };
}

describe('Adyen Checkout gift card redemption against the Checkout v71 spec', () => {
  it.each([
    ['a tokenized gift card (authorize)', ctx('authorize')],
    ['a tokenized gift card (sale)', ctx('sale')],
    [
      'a one-time encrypted gift card',
      ctx('sale', { gateway_key: 'gc-one-time', payment_method: { type: 'gift_card', token: JWE_NUMBER, encrypted_security_code: JWE_PIN } }),
    ],
  ])('redeems %s with paymentMethod.type giftcard and its brand, which the spec accepts', async (_name, c) => {
    const request = t.authenticate(t.buildRequest(c, suite.gateway), suite.gateway, new Date());
    const body = JSON.parse(request.body ?? '{}') as { paymentMethod: Record<string, string> };
    expect(body.paymentMethod.type).toBe('giftcard');
    expect(body.paymentMethod.brand).toBe('givex');
    const { status, violations, body: answer } = await send(request);
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
    expect(['SUCCESS', 'FAIL', 'PENDING', 'ACTION_REQUIRED']).toContain(
      t.parseResponse(c, { status, headers: {}, body: answer, elapsedMs: 0 }, suite.gateway).status,
    );
  });

  it.each([['cancel'], ['refund']] as const)('reverses a redemption with %s by its pspReference, which the spec accepts', async (command) => {
    const c = ctx(command, { gateway_key: '993617894903480A', method_details: undefined });
    const { status, violations } = await send(t.authenticate(t.buildRequest(c, suite.gateway), suite.gateway, new Date()));
    expect(violations).toBeUndefined();
    expect(status).toBeLessThan(400);
  });
});
