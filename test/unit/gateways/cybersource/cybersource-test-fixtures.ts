import { GatewayConfig } from '../../../../src/config/config';
import { CommandType, Payment } from '../../../../src/contracts/payment-command';
import { GatewayResponse, OperationContext } from '../../../../src/gateways/gateway-adapter';

/** The ids of the webhook digital signature keys (`keyInformation.keyId`), as the Webhooks guide's examples spell them. */
export const WEBHOOK_KEY_ID = 'bf44c857-b182-bb05-e053-34b8d30a7a72';
export const PREVIOUS_WEBHOOK_KEY_ID = 'bdc0fe52-091e-b0d6-e053-34b8d30a0504';

/** Shared inputs for the Cybersource unit tests. */
export const gateway: GatewayConfig = {
  name: 'cybs-test',
  type: 'cybersource',
  baseUrl: 'https://apitest.cybersource.com',
  apiKey: '',
  webhookSecret: Buffer.from('current-webhook-key-for-tests-32b').toString('base64'),
  webhookSecretPrevious: Buffer.from('previous-webhook-key-for-tests-3').toString('base64'),
  merchantAccount: '93B32398-AD51-4CC2-A682-EA3E93614EB1',
  merchantId: 'testrest',
  keyId: '08c94330-f618-42a3-b09d-e1e43be5efda',
  sharedSecret: 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=',
  reportUsername: '',
  reportPassword: '',
  reportBaseUrl: '',
  authorisationType: '',
  webhookPrivateKey: '',
  webhookKeyId: WEBHOOK_KEY_ID,
  webhookKeyIdPrevious: PREVIOUS_WEBHOOK_KEY_ID,
  timeoutMs: 10000,
  maxSockets: 256,
};

/** 22-digit payment id with no Luhn-valid 12–19 digit window (see the conformance fixture). */
export const PAYMENT_ID = '6381278241084565908266';
export const TMS_TOKEN = 'AB695DA801DD1BB6E05341588E0A3BDC';

export function ctx(command: CommandType, payment: Partial<Payment> = {}, operationId = `op-${command}-1`): OperationContext {
  return {
    operationId,
    command,
    payment: {
      gateway: gateway.name,
      gateway_account: 'default',
      gateway_key: ['authorize', 'sale', 'revalidate'].includes(command) ? TMS_TOKEN : PAYMENT_ID,
      amount: 10221,
      currency: 'USD',
      method_details: { method: 'card', card: { brand: 'Visa', expiration_month: 9, expiration_year: 2031 } },
      ...payment,
    },
  };
}

export function response(status: number, body: unknown, headers: Record<string, string> = {}): GatewayResponse {
  return {
    status,
    headers: { 'content-type': 'application/hal+json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    elapsedMs: 5,
  };
}

export function bodyOf(body: string | undefined): Record<string, unknown> {
  return JSON.parse(body ?? 'null') as Record<string, unknown>;
}
