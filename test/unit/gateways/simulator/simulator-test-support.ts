import { GatewayConfig } from '../../../../src/config/config';
import { CommandType } from '../../../../src/contracts/payment-command';
import { GatewayResponse, OperationContext } from '../../../../src/gateways/gateway-adapter';

export const gateway: GatewayConfig = {
  name: 'sim-unit',
  type: 'simulator',
  baseUrl: 'http://127.0.0.1:1',
  apiKey: 'sk_test_unit_secret',
  webhookSecret: 'whsec_current',
  webhookSecretPrevious: 'whsec_previous',
  merchantAccount: '',
  merchantId: '',
  keyId: '',
  sharedSecret: '',
  reportUsername: '',
  reportPassword: '',
  reportBaseUrl: '',
  authorisationType: '',
  webhookPrivateKey: '',
  webhookKeyId: '',
  webhookKeyIdPrevious: '',
  timeoutMs: 1000,
  maxSockets: 4,
};

export function ctx(command: CommandType, overrides: Partial<OperationContext['payment']> = {}): OperationContext {
  return {
    operationId: `op-${command}-42`,
    command,
    payment: {
      gateway: gateway.name,
      gateway_account: 'default',
      gateway_key: command === 'authorize' || command === 'sale' || command === 'tokenize' ? 'pm_card_visa' : 'auth_abc123',
      amount: 2550,
      currency: 'EUR',
      ...overrides,
    },
  };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): GatewayResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), elapsedMs: 1 };
}

export function authorization(fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'auth_abc123',
    object: 'authorization',
    status: 'authorized',
    amount: 2550,
    amount_captured: 0,
    amount_refunded: 0,
    currency: 'EUR',
    reference: 'op-authorize-42',
    ...fields,
  };
}
