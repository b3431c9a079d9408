import { validateCommand } from '../../../src/contracts/command-validator';
import { withoutMethodToken } from '../../../src/contracts/payment-method';
import { adyenTransformer as t } from '../../../src/gateways/adyen';
import { GatewayConfig } from '../../../src/config/config';
import { redact } from '../../../src/logging/redact';

const gateway = { name: 'adyen', type: 'adyen', merchantAccount: 'Acme', baseUrl: 'https://checkout-test.adyen.com/v71' } as unknown as GatewayConfig;

describe('Adyen Checkout gift card redemption', () => {
  it('redeems a one-time gift card with its encrypted number and PIN only, accepted at intake, never echoed or logged', () => {
    const command = validateCommand({
      version: 1,
      command: 'sale',
      channel: 'web',
      received_at: '2026-11-29T19:00:00Z',
      payment: {
        gateway: 'adyen',
        gateway_account: 'Acme',
        gateway_key: 'gc-one-time',
        amount: 3000,
        currency: 'EUR',
        method_details: { method: 'giftcard', submethod: 'givex' },
        payment_method: { type: 'gift_card', token: 'adyenjs_0_1_25$number', encrypted_security_code: 'adyenjs_0_1_25$pin' },
      },
    });
    const body = JSON.parse(t.buildRequest({ operationId: 'op-gc-1', command: 'sale', payment: command.payment }, gateway).body ?? '{}') as Record<
      string,
      unknown
    >;
    expect(body.paymentMethod).toEqual({
      type: 'giftcard',
      brand: 'givex',
      encryptedCardNumber: 'adyenjs_0_1_25$number',
      encryptedSecurityCode: 'adyenjs_0_1_25$pin',
    });
    expect(JSON.stringify(withoutMethodToken(command.payment))).not.toContain('adyenjs');
    expect(JSON.stringify(redact(body))).not.toContain('$pin');
  });

  it('redeems a tokenized gift card by storedPaymentMethodId, and needs the brand', () => {
    const payment = { gateway: 'adyen', gateway_account: 'Acme', gateway_key: 'shopper-1:8416039902646539', amount: 3000, currency: 'EUR' };
    const body = JSON.parse(
      t.buildRequest(
        { operationId: 'op-gc-2', command: 'authorize', payment: { ...payment, method_details: { method: 'giftcard', submethod: 'svs' } } },
        gateway,
      ).body ?? '{}',
    ) as Record<string, unknown>;
    expect(body.paymentMethod).toEqual({ type: 'giftcard', brand: 'svs', storedPaymentMethodId: '8416039902646539' });
    expect(() =>
      t.buildRequest({ operationId: 'op-gc-3', command: 'authorize', payment: { ...payment, method_details: { method: 'giftcard' } } }, gateway),
    ).toThrow(expect.objectContaining({ field: 'payment.method_details.submethod' }) as Error);
  });
});
