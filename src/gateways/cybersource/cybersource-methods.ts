import type { GatewayConfig } from '../gateway-config';
import { CommandValidationError } from '../../errors/command-validation-error';
import { Payment } from '../../contracts/payment-command';
import { methodTypeOf, wantsStoredToken } from '../../contracts/payment-method';
import { assertNever } from '../assert-never';

type Json = Record<string, unknown>;

/** The TMS token types a token on first use creates (the payment instrument's customer owns it). */
export const TOKEN_CREATE_TYPES = ['customer', 'paymentInstrument', 'instrumentIdentifier'] as const;

/**
 * The stored-credential flags of a merchant-initiated charge (Cybersource's "Merchant-Initiated
 * Transactions"): `authorizationOptions.initiator.type: merchant` with `storedCredentialUsed: true`, the
 * first payment's network transaction id when known (`merchantInitiatedTransaction.previousTransactionId`),
 * and `commerceIndicator` `recurring` for a subscription (an unscheduled card-on-file charge stays `internet`).
 */
function merchantInitiated(payment: Payment, revalidate: boolean): { processing: Json } | null {
  const recurring = payment.recurring;
  if (!recurring && !revalidate) return null;
  const initiator: Json = { type: 'merchant', storedCredentialUsed: true };
  if (recurring?.network_transaction_id) initiator.merchantInitiatedTransaction = { previousTransactionId: recurring.network_transaction_id };
  return {
    processing: {
      ...(recurring ? { commerceIndicator: recurring.model === 'subscription' ? 'recurring' : 'internet' } : {}),
      authorizationOptions: { initiator },
    },
  };
}

/**
 * The method part of `POST /pts/v2/payments` (docs/PAYMENT-METHODS.md):
 * - `stored_card`: `paymentInformation.customer.customerId` = the TMS token (`gateway_key`); a recurring or
 *   revalidate charge carries the merchant-initiated flags.
 * - `card`: the Flex Microform transient token (`payment_method.token`) as `tokenInformation.transientTokenJwt`.
 *   With token on first use: `processingInformation.actionList: ["TOKEN_CREATE"]` and `actionTokenTypes`
 *   (customer, payment instrument, instrument identifier) and, the credential being stored for later
 *   merchant-initiated use, `authorizationOptions.initiator.credentialStoredOnFile: true`; the first payment
 *   of a subscription (`recurring.model` subscription) adds `recurringOptions.firstRecurringPayment: true`.
 * Wallets, BNPL and crypto go through Stripe or Adyen: refused here, naming the field.
 */
export function cybersourceMethodFields(
  payment: Payment,
  gateway: Pick<GatewayConfig, 'name' | 'storePaymentMethods'>,
  revalidate: boolean,
): { processing: Json; body: Json } {
  const type = methodTypeOf(payment);
  switch (type) {
    case 'stored_card': {
      if (wantsStoredToken(payment)) throw new CommandValidationError('payment.payment_method.store', 'the method is stored already (stored_card)');
      const mit = merchantInitiated(payment, revalidate);
      return { processing: mit?.processing ?? {}, body: { paymentInformation: { customer: { customerId: payment.gateway_key } } } };
    }
    case 'card': {
      const token = payment.payment_method?.token;
      if (!token) throw new CommandValidationError('payment.payment_method.token', 'is required: the Flex Microform transient token');
      const processing: Json = {};
      if (wantsStoredToken(payment)) {
        if (gateway.storePaymentMethods !== true) {
          throw new CommandValidationError(
            'payment.payment_method.store',
            `token storage is not enabled on gateway ${gateway.name} (gateways.${gateway.name}.store_payment_methods)`,
          );
        }
        processing.actionList = ['TOKEN_CREATE'];
        processing.actionTokenTypes = [...TOKEN_CREATE_TYPES];
        processing.authorizationOptions = { initiator: { credentialStoredOnFile: true } };
        // The first, customer-initiated payment of a subscription ("Customer-Initiated Recurring Payment
        // with TMS": `recurringOptions.firstRecurringPayment: true`); its cycles follow as `recurring`.
        if (payment.recurring?.model === 'subscription') processing.recurringOptions = { firstRecurringPayment: true };
      }
      return { processing, body: { tokenInformation: { transientTokenJwt: token } } };
    }
    case 'apple_pay':
    case 'google_pay':
    case 'klarna':
    case 'crypto':
    case 'gift_card':
      throw new CommandValidationError('payment.payment_method.type', `${type} is not offered through Cybersource here (use Stripe or Adyen)`);
    default:
      return assertNever(type, 'method type');
  }
}

/**
 * Token on first use: the TMS customer Cybersource created with the payment (`tokenInformation.customer.id`):
 * what a later command sends as `gateway_key` (`paymentInformation.customer.customerId`).
 */
export function cybersourceStoredToken(body: Json): string | undefined {
  const info = body.tokenInformation;
  if (info === null || typeof info !== 'object' || Array.isArray(info)) return undefined;
  const customer = (info as Json).customer;
  if (customer === null || typeof customer !== 'object' || Array.isArray(customer)) return undefined;
  const id = (customer as Json).id;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}
