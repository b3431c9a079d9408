import { GATEWAY_CREDENTIAL_FIELDS, GatewayCredentials } from '../../src/gateways/gateway-config';
/**
 * Placeholder values for the credentials a gateway type requires (its definition's `required` settings), so
 * a test about something else can configure a gateway in one spread: `{ type: 'adyen', base_url, ...requiredCredentials('adyen') }`.
 * Values are fake; a test about credentials sets its own.
 */
export function requiredCredentials(type: 'simulator' | 'stripe' | 'adyen' | 'cybersource'): Record<string, string> {
  switch (type) {
    case 'stripe':
      return { api_key: 'sk_test_placeholder_0123456789' };
    case 'adyen':
      return { api_key: 'adyen-placeholder-api-key-0123', merchant_account: 'PlaceholderMerchant' };
    case 'cybersource':
      return {
        merchant_id: 'placeholder_merchant',
        key_id: '00000000-0000-4000-8000-000000000000',
        shared_secret: Buffer.from('placeholder-shared-secret-32byte').toString('base64'),
      };
    case 'simulator':
      return {};
  }
}

/**
 * Every credential field of a gateway configuration, empty: what a gateway that declares no such setting
 * holds. Spread it first and set what the test needs (`{ ...NO_CREDENTIALS, apiKey: 'sk_test_…' }`), so a
 * credential field added later does not touch every fixture.
 */
export const NO_CREDENTIALS: Readonly<GatewayCredentials> = Object.freeze(
  Object.fromEntries(GATEWAY_CREDENTIAL_FIELDS.map((field) => [field, ''])) as unknown as GatewayCredentials,
);
