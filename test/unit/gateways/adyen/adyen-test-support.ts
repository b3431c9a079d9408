import { readFileSync } from 'node:fs';
import { GatewayConfig } from '../../../../src/config/config';
import { CommandType, Payment } from '../../../../src/contracts/payment-command';
import { GatewayResponse, OperationContext } from '../../../../src/gateways/gateway-adapter';
import { specPath } from '../../../support/prism';

/** Shared fixtures of the Adyen unit tests: a gateway, contexts, and the spec's own example answers. */

export const gateway: GatewayConfig = Object.freeze({
  name: 'adyen-unit',
  type: 'adyen',
  baseUrl: 'https://checkout-test.adyen.com/v71',
  apiKey: 'AQE-unit-api-key',
  webhookSecret: '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056',
  webhookSecretPrevious: 'A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90',
  merchantAccount: 'UnitMerchantAccount',
  merchantId: '',
  keyId: 'adyen-hook',
  sharedSecret: 'hook-password',
  reportUsername: '',
  reportPassword: '',
  reportBaseUrl: '',
  authorisationType: '',
  webhookPrivateKey: '',
  webhookKeyId: '',
  webhookKeyIdPrevious: '',
  timeoutMs: 10000,
  maxSockets: 8,
});

export const STORED_CARD = 'shopper-0042:8416039902646530';
export const PSP_REFERENCE = '993617894903480A';
export const JWE = 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.unit-jwe';

export function ctxFor(command: CommandType, payment: Partial<Payment> = {}, operationId = `op-${command}-1`): OperationContext {
  const key = command === 'tokenize' ? JWE : ['authorize', 'sale', 'revalidate'].includes(command) ? STORED_CARD : PSP_REFERENCE;
  return { operationId, command, payment: { gateway: 'adyen-unit', gateway_account: 'X', gateway_key: key, amount: 2000, currency: 'EUR', ...payment } };
}

export function response(status: number, body: unknown, headers: Record<string, string> = {}): GatewayResponse {
  return { status, headers, body: typeof body === 'string' ? body : JSON.stringify(body), elapsedMs: 5 };
}

interface Spec {
  paths: Record<
    string,
    { post: { responses: Record<string, { content?: Record<string, { examples?: Record<string, { $ref?: string; value?: unknown }> }> }> } }
  >;
  components: { examples: Record<string, { value: unknown }> };
}

let spec: Spec | undefined;

/** The `value` of a documented example answer of the Checkout v71 spec. */
export function specExample(path: string, status: string, name: string): unknown {
  spec ??= JSON.parse(readFileSync(specPath('adyen-checkout-v71.json'), 'utf8')) as Spec;
  const entry = spec.paths[path].post.responses[status].content?.['application/json']?.examples?.[name];
  if (!entry) throw new Error(`no example ${name} for ${status} ${path}`);
  if (entry.$ref) return spec.components.examples[entry.$ref.split('/').pop() as string].value;
  return entry.value;
}

export function body(request: { body?: string }): Record<string, unknown> {
  return JSON.parse(request.body ?? '{}') as Record<string, unknown>;
}

/** Every `action.type` the Checkout spec names (its `Checkout…Action` schemas' `type` enums). */
export function specActionTypes(): string[] {
  const doc = JSON.parse(readFileSync(specPath('adyen-checkout-v71.json'), 'utf8')) as {
    components: { schemas: Record<string, { properties?: { type?: { enum?: string[] } } }> };
  };
  return Object.entries(doc.components.schemas)
    .filter(([name]) => /^Checkout\w*Action$/.test(name))
    .flatMap(([, schema]) => schema.properties?.type?.enum ?? []);
}
