import { Payment, PaymentCommand } from '../../src/contracts/payment-command';

/** Test card numbers (Luhn-valid): Visa, Mastercard, Amex, and a 19-digit one. */
export const TEST_PANS = ['4111111111111111', '5555555555554444', '378282246310005', '6011000990139424', '4000056655665556'] as const;

let counter = 0;
// Base 36: no long digit runs in references (a 13-digit timestamp is Luhn-valid one time in ten).
const RUN = `${process.pid.toString(36)}x${Date.now().toString(36)}`;

/** A valid payment; pass overrides to vary it. Amounts are minor units. */
export function payment(overrides: Partial<Payment> = {}): Payment {
  counter += 1;
  return {
    gateway: 'simulator',
    gateway_account: 'acme-eu',
    gateway_key: `auth_${counter}`,
    amount: 1999,
    currency: 'EUR',
    order_id: `ORD-${counter}`,
    operation_reference: `opref-${RUN}-${counter}`,
    ...overrides,
  };
}

/** A canonical command as another channel (web, POS, marketplace) publishes it. */
export function channelCommand(
  command: PaymentCommand['command'],
  overrides: Partial<PaymentCommand> = {},
  paymentOverrides: Partial<Payment> = {},
): PaymentCommand {
  return {
    version: 1,
    command,
    channel: 'web',
    received_at: new Date().toISOString(),
    payment: payment(paymentOverrides),
    ...overrides,
  };
}

/** A JSON-RPC command as the bus sends it. */
export function busCall(method: string, p: Payment, id: string | number = `rpc-${++counter}`): Record<string, unknown> {
  return { jsonrpc: '2.0', id, method, params: { payment: p } };
}
