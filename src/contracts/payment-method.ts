/**
 * How the OMS says what pays: `payment.payment_method` (which kind of method, the PSP's client-side token
 * for a one-time method, whether to store it, where a redirect comes back) and `payment.recurring` (a
 * merchant-initiated charge on a stored credential). Both are optional: a command without them is what it
 * always was, a charge on a stored card (`gateway_key` is the PSP's token). See docs/PAYMENT-METHODS.md.
 *
 * No card data ever: a one-time method is the PSP's own client-side result (a Stripe PaymentMethod id, an
 * Adyen encrypted card JWE, an Apple Pay or Google Pay token as the wallet hands it over, encrypted for
 * the PSP), never a card number.
 */
import { Payment } from './payment-command';

/**
 * - `stored_card` (default): `gateway_key` is a token the PSP stored earlier (reusable, merchant-initiated).
 * - `card`: a one-time card from the PSP's client-side fields (Stripe `pm_…` in `gateway_key`; Adyen
 *   encrypted card JWE in `payment_method.token`; Cybersource Flex transient token JWT in `payment_method.token`).
 * - `apple_pay`, `google_pay`: a wallet token (Stripe: the `pm_…` or `tok_…` Stripe.js made of it; Adyen: the
 *   wallet's token in `payment_method.token`).
 * - `klarna`: buy now, pay later; the customer approves at Klarna (a redirect, see ACTION_REQUIRED).
 * - `crypto`: stablecoin payment (Stripe's `crypto` payment method type; the customer pays in a wallet
 *   on Stripe's page, a redirect).
 */
export const METHOD_TYPES = ['stored_card', 'card', 'apple_pay', 'google_pay', 'klarna', 'crypto', 'gift_card'] as const;
export type MethodType = (typeof METHOD_TYPES)[number];

/** Who pays, as BNPL needs it (Klarna wants an e-mail, a country and a name). No card data. */
export interface Shopper {
  /** The OMS's id of the customer: Adyen `shopperReference`, stored tokens are filed under it. */
  reference?: string;
  email?: string;
  /** ISO 3166-1 alpha-2. */
  country?: string;
  /** BCP 47, e.g. `de-DE`. */
  locale?: string;
  first_name?: string;
  last_name?: string;
  telephone?: string;
  billing_address?: {
    street?: string;
    house_number?: string;
    postal_code?: string;
    city?: string;
    /** ISO 3166-1 alpha-2. */
    country?: string;
  };
}

/** `payment.payment_method`. */
export interface PaymentMethodSpec {
  /** Default `stored_card`. */
  type?: MethodType;
  /**
   * The PSP's client-side result when it does not fit `gateway_key` (Adyen encrypted card, wallet tokens,
   * Cybersource transient token). At most 16 KiB. Never echoed on events.
   */
  token?: string;
  /**
   * Token on first use: store the method at the PSP and report the reusable key on the event (`token`).
   * Only where the gateway's configuration allows it (`gateways.<name>.store_payment_methods`).
   */
  store?: boolean;
  /**
   * `gift_card` (a one-time gift card from Adyen's client-side gift card component): the encrypted security
   * code (PIN), `encryptedSecurityCode`; the encrypted card number is `token`. Never a PIN in clear; never
   * echoed on events.
   */
  encrypted_security_code?: string;
  /** Where the customer comes back after a redirect or a 3-D Secure challenge (https). */
  return_url?: string;
  /**
   * Cybersource Payer Authentication: the `consumerAuthenticationInformation.referenceId` the storefront got from
   * `POST /risk/v1/authentication-setups` and used for the browser's device data collection; sent with the
   * enrollment check so the issuer sees that data (letters, digits, `-`, `_`, `.`, at most 50 characters).
   * Other gateways ignore it.
   */
  three_ds_reference_id?: string;
  shopper?: Shopper;
}

/** How often a stored credential is charged without the customer: the schemes' two MIT kinds. */
export const RECURRING_MODELS = ['subscription', 'unscheduled'] as const;
export type RecurringModel = (typeof RECURRING_MODELS)[number];

/**
 * `payment.recurring`: a merchant-initiated transaction on a stored credential (`stored_card`), or, on a
 * one-time method stored with this payment (`payment_method.store: true`), the agreement the stored
 * credential is for: the customer-initiated first payment, which the PSP flags as the first of that kind
 * ({@link isMerchantInitiatedCharge} tells the two apart).
 */
export interface RecurringSpec {
  model: RecurringModel;
  /** The schedule this charge belongs to (set by the bridge's schedule runner). */
  schedule_id?: string;
  /** The billing cycle number, from 1 (set by the bridge's schedule runner). */
  cycle?: number;
  /** The scheme's transaction id of the first, customer-initiated payment, when the OMS has it (Cybersource `previousTransactionId`). */
  network_transaction_id?: string;
}

/** The payment's method type; `stored_card` when it names none. */
export function methodTypeOf(payment: Payment): MethodType {
  return payment.payment_method?.type ?? 'stored_card';
}

/**
 * Whether the payment is a merchant-initiated charge: `recurring` on a stored credential. `recurring` on a
 * one-time method being stored is the agreement's customer-initiated first payment: the customer is there.
 */
export function isMerchantInitiatedCharge(payment: Payment): boolean {
  return payment.recurring !== undefined && methodTypeOf(payment) === 'stored_card';
}

/** Whether the command asks to store its one-time method (token on first use). */
export function wantsStoredToken(payment: Payment): boolean {
  return payment.payment_method?.store === true;
}

/** Methods the customer must approve on another page or app: they need a `return_url`. */
export const REDIRECT_METHODS: ReadonlySet<MethodType> = new Set(['klarna', 'crypto']);

/** Whether the payment carries one-time method data (`token`, `encrypted_security_code`): only the PSP may read it. */
export function holdsOneTimeMethodData(payment: Payment): boolean {
  const method = payment.payment_method;
  return method !== undefined && (method.token !== undefined || method.encrypted_security_code !== undefined);
}

/**
 * Event/log copy of a payment without its one-time method data: the PSP's, kept in the ledger only until the
 * operation ends (the ledger then drops it too).
 */
export function withoutMethodToken(payment: Payment): Payment {
  const method = payment.payment_method;
  if (!method || !holdsOneTimeMethodData(payment)) return payment;
  const copy: PaymentMethodSpec = { ...method };
  delete copy.token;
  delete copy.encrypted_security_code;
  return { ...payment, payment_method: copy };
}

/**
 * A command field whose value a PSP issued for one of its accounts (src/routing/method-binding.ts): a stored
 * card's token in `gateway_key` (a Stripe `pm_…`, an Adyen `storedPaymentMethodId`, a Cybersource TMS token),
 * client-side data encrypted for that PSP in `payment_method.token` (an Adyen encrypted card or wallet token,
 * a Cybersource Flex transient token, a Stripe.js `tok_…`), the encrypted PIN beside an Adyen gift card, or
 * a custom attribute naming an object of that account (a Stripe Customer, `stripe_customer`).
 */
export type BoundMethodField =
  'payment.gateway_key' | 'payment.payment_method.token' | 'payment.payment_method.encrypted_security_code' | 'payment.custom_attributes.stripe_customer';

/**
 * Method types no PSP issues anything for: the PSP creates the method at the payment from the shopper's
 * details (Stripe `payment_method_data[type]=klarna|crypto`, Adyen `paymentMethod: {type: klarna}`), and
 * `gateway_key` is not read. Any other type names the PSP's own token in `gateway_key` or `token`.
 */
const PORTABLE_METHOD_TYPES: ReadonlySet<MethodType> = new Set(['klarna', 'crypto']);

/**
 * The field of `payment` holding method data only the PSP account it was issued by can use, or null when
 * the payment carries none (Klarna, crypto: portable to any gateway that offers the method). What a real
 * PSP's transformer reads: `payment_method.token` first (it is sent instead of `gateway_key` when given),
 * then `gateway_key` for a stored card, a one-time card and a wallet (`stored_card` is the default type).
 */
export function pspBoundMethodField(payment: Payment): BoundMethodField | null {
  const method = payment.payment_method;
  if (method?.token !== undefined) return 'payment.payment_method.token';
  if (method?.encrypted_security_code !== undefined) return 'payment.payment_method.encrypted_security_code';
  return PORTABLE_METHOD_TYPES.has(methodTypeOf(payment)) ? null : 'payment.gateway_key';
}
