import type { GatewayConfig } from '../gateway-config';
import { CommandValidationError } from '../../errors/command-validation-error';
import { Payment } from '../../contracts/payment-command';
import { isMerchantInitiatedCharge, methodTypeOf, wantsStoredToken } from '../../contracts/payment-method';
import { assertNever } from '../assert-never';
import { StripeFormValue } from './stripe-form';
import { stripeCustomer, stripeId } from './stripe-references';

type Fields = { [key: string]: StripeFormValue };

/** What of the gateway's configuration the method fields read. */
export type StripeMethodGateway = Pick<GatewayConfig, 'name' | 'storePaymentMethods'>;

/** Without a gateway configuration (tests of the plain commands): no token storage. */
export const STRIPE_DEFAULT_GATEWAY: StripeMethodGateway = { name: 'stripe', storePaymentMethods: false };

/** Stripe's one-time card token (`tok_…`), as Apple Pay and Google Pay through Stripe.js may hand one over. */
const CARD_TOKEN = /^tok_[A-Za-z0-9_]{3,250}$/;

/**
 * The Customer a merchant-initiated charge (`payment.recurring` on a stored PaymentMethod) is made for:
 * Stripe charges a saved PaymentMethod off-session only with the Customer it is saved to ("Charge the saved
 * payment method later": `customer` and `payment_method`, `off_session`, `confirm`), and refuses the
 * PaymentIntent otherwise. Refused before any call, and a recurring schedule at its creation
 * (`GatewayDefinition.checkMerchantInitiatedCharge`).
 * @throws CommandValidationError naming `payment.custom_attributes.stripe_customer`.
 */
export function merchantInitiatedCustomer(payment: Payment): string {
  const customer = stripeCustomer(payment);
  if (customer === undefined)
    throw new CommandValidationError(
      'payment.custom_attributes.stripe_customer',
      'is required: Stripe charges a stored PaymentMethod without the customer (payment.recurring) only with the Customer it is saved to (cus_…)',
    );
  return customer;
}

/**
 * What a PaymentIntent carries for the payment's method type (docs/PAYMENT-METHODS.md), on top of amount,
 * currency, capture and metadata:
 * - `stored_card`: the stored PaymentMethod (`gateway_key`) with its Customer (required with `recurring`:
 *   {@link merchantInitiatedCustomer}); `recurring` sends `off_session: true` (a merchant-initiated charge: Stripe then declines rather than asks for 3-D Secure,
 *   `authentication_required`, which the OMS's dunning retries on-session). Never the first payment's network
 *   transaction id (`recurring.network_transaction_id`): `payment_method_options[card][mit_exemption][network_transaction_id]`
 *   is not in the API version pinned here (2023-08-16: `payment_method_options.card` has no `mit_exemption`,
 *   test/fixtures/specs/), Stripe enables it per account on request only (others get "Received unknown parameter"), and it
 *   is for card data brought from another processor; a PaymentMethod Stripe saved carries its own chain (docs/PAYMENT-METHODS.md).
 * - `card`, `apple_pay`, `google_pay`: the one-time PaymentMethod Stripe.js made (`gateway_key`, `pm_…`)
 *   or, for a wallet, a card token (`payment_method.token`, `tok_…`) as `payment_method_data[card][token]`.
 *   Cards may need 3-D Secure: `requires_action` hands `next_action` and the client secret to the storefront.
 * - `klarna`, `crypto`: `payment_method_types` names the method and `payment_method_data` creates it with
 *   the billing details each requires (Klarna: e-mail and country; the customer approves on Klarna's or
 *   Stripe's page, a redirect to `return_url`).
 * Token on first use (`payment_method.store`): `setup_future_usage: off_session` with the Customer it is
 *   saved to (custom attribute `stripe_customer`), only where the gateway allows it.
 */
export function stripeMethodFields(payment: Payment, gateway: StripeMethodGateway, capture: 'manual' | 'automatic', forcedOffSession: boolean): Fields {
  const type = methodTypeOf(payment);
  const returnUrl = payment.payment_method?.return_url;
  const fields: Fields = {};
  const customer = stripeCustomer(payment);
  switch (type) {
    case 'stored_card':
      fields.payment_method = stripeId(payment.gateway_key, 'payment.gateway_key');
      fields.customer = isMerchantInitiatedCharge(payment) ? merchantInitiatedCustomer(payment) : customer;
      if (forcedOffSession || payment.recurring) fields.off_session = true;
      // A server confirm has no return_url: Stripe refuses one that might redirect without it.
      fields.automatic_payment_methods = { enabled: true, allow_redirects: 'never' };
      break;
    case 'card':
    case 'apple_pay':
    case 'google_pay': {
      const token = payment.payment_method?.token;
      if (type !== 'card' && token !== undefined && !payment.gateway_key.startsWith('pm_')) {
        if (!CARD_TOKEN.test(token)) throw new CommandValidationError('payment.payment_method.token', 'is not a Stripe card token (tok_…) of the wallet');
        fields.payment_method_data = { type: 'card', card: { token } };
      } else {
        fields.payment_method = stripeId(payment.gateway_key, 'payment.gateway_key');
      }
      fields.customer = customer;
      if (returnUrl) fields.return_url = returnUrl;
      else fields.automatic_payment_methods = { enabled: true, allow_redirects: 'never' };
      break;
    }
    case 'klarna': {
      const shopper = payment.payment_method?.shopper;
      const name = [shopper?.first_name, shopper?.last_name].filter(Boolean).join(' ');
      const address = shopper?.billing_address;
      fields.payment_method_types = ['klarna'];
      fields.payment_method_data = {
        type: 'klarna',
        billing_details: {
          email: shopper?.email,
          name: name || undefined,
          phone: shopper?.telephone,
          address: {
            country: address?.country ?? shopper?.country,
            city: address?.city,
            postal_code: address?.postal_code,
            line1: address?.street ? [address.street, address.house_number].filter(Boolean).join(' ') : undefined,
          },
        },
      };
      fields.customer = customer;
      fields.return_url = returnUrl;
      break;
    }
    case 'crypto':
      // Stablecoin payments settle at once: Stripe offers no manual capture for them.
      if (capture === 'manual')
        throw new CommandValidationError('payment.payment_method.type', 'crypto is paid at once on Stripe: send a sale, not an authorization');
      fields.payment_method_types = ['crypto'];
      fields.payment_method_data = { type: 'crypto' };
      fields.customer = customer;
      fields.return_url = returnUrl;
      break;
    case 'gift_card':
      throw new CommandValidationError('payment.payment_method.type', 'Stripe carries no gift cards (use Adyen or the simulator)');
    default:
      return assertNever(type, 'method type');
  }
  if (wantsStoredToken(payment)) {
    if (gateway.storePaymentMethods !== true) {
      throw new CommandValidationError(
        'payment.payment_method.store',
        `token storage is not enabled on gateway ${gateway.name} (gateways.${gateway.name}.store_payment_methods)`,
      );
    }
    if (type === 'stored_card') throw new CommandValidationError('payment.payment_method.store', 'the method is stored already (stored_card)');
    if (customer === undefined)
      throw new CommandValidationError('payment.custom_attributes.stripe_customer', 'a stored PaymentMethod is saved to a Stripe Customer');
    fields.setup_future_usage = 'off_session';
  }
  return fields;
}
