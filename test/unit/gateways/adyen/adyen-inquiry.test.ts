import { adyenTransformer } from '../../../../src/gateways/adyen';
import { inquirySupport } from '../../../../src/gateways/gateway-adapter';

describe('Adyen inquiry capability', () => {
  it.each(['capture', 'cancel', 'refund', 'validate'] as const)('declares %s webhook-only: Adyen answers "received" and settles it by webhook', (command) => {
    expect(inquirySupport(adyenTransformer, command)).toBe('webhook-only');
  });

  it.each(['authorize', 'sale', 'revalidate', 'tokenize'] as const)('can ask about %s (the idempotent replay returns the final answer)', (command) => {
    expect(inquirySupport(adyenTransformer, command)).toBe('supported');
  });
});
