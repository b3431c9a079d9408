import { GatewayConfig } from '../../src/gateways/gateway-config';

/**
 * An Adyen gateway whose settlement reports the reconciliation HTTP tests download (report user and password set, every
 * other secret empty): `overrides` name what a test varies (base URL, timeouts, name).
 */
export function adyenReportGateway(overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  return {
    name: 'adyen-recon',
    type: 'adyen',
    baseUrl: 'https://checkout-test.adyen.com/v71',
    apiKey: 'AQE-test',
    webhookSecret: '',
    webhookSecretPrevious: '',
    merchantAccount: 'Acme',
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: 'report@Company.Acme',
    reportPassword: 'secret',
    reportBaseUrl: '',
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 10000,
    maxSockets: 4,
    ...overrides,
  };
}
