import type { GatewayConfig } from '../gateway-config';
import { CommandValidationError } from '../../errors/command-validation-error';
import { Payment, PaymentLine } from '../../contracts/payment-command';
import { MethodType, methodTypeOf, wantsStoredToken } from '../../contracts/payment-method';
import { assertNever } from '../assert-never';
import { CustomerAction, ActionKind } from '../customer-action';
import { toAdyenAmount } from './adyen-amount';
import { GIFT_CARD_METHOD } from '../../contracts/stored-value';
import { formatStoredToken, parseStoredToken, shopperReferenceForNewToken } from './adyen-stored-token';
import { StoredCard, storedCardOf } from '../stored-card';

type Json = Record<string, unknown>;

/** Unused for server-to-server ContAuth payments (no shopper to redirect), but required by `/payments`. */
export const ADYEN_RETURN_URL = 'https://payment-bridge.invalid/adyen/return';

/** Klarna variants Adyen lists (`KlarnaDetails.type`), chosen by `method_details.submethod`; default `klarna` (pay later). */
const KLARNA_TYPES = ['klarna', 'klarna_paynow', 'klarna_account', 'klarna_b2b'] as const;

/**
 * Whether a shopper is there to act on a 3-D Secure challenge or a redirect: any one-time method, or a
 * stored card the OMS charges with the customer present (a `return_url`). A merchant-initiated charge on a
 * stored card has nobody to ask: a shopper-flow result code fails it.
 */
export function shopperPresent(payment: Payment): boolean {
  return methodTypeOf(payment) !== 'stored_card' || (payment.payment_method?.return_url !== undefined && payment.recurring === undefined);
}

function requiredToken(payment: Payment, what: string): string {
  const token = payment.payment_method?.token;
  if (!token) throw new CommandValidationError('payment.payment_method.token', `is required: ${what}`);
  return token;
}

/** Adyen's `recurringProcessingModel` for a merchant-initiated charge (`payment.recurring.model`) or a stored card without one. */
function recurringModel(payment: Payment): 'Subscription' | 'UnscheduledCardOnFile' | 'CardOnFile' {
  const model = payment.recurring?.model;
  if (model === 'subscription') return 'Subscription';
  if (model === 'unscheduled') return 'UnscheduledCardOnFile';
  // A stored card with the shopper present (return_url) is a cardholder-initiated card-on-file payment.
  return payment.payment_method?.return_url !== undefined ? 'CardOnFile' : 'UnscheduledCardOnFile';
}

/** The `paymentMethod` object of a one-time method (the token as Adyen's client side produced it). */
function oneTimeMethod(type: Exclude<MethodType, 'stored_card'>, payment: Payment): Json {
  switch (type) {
    case 'card':
      // The JWE of Adyen's client-side encryption: never a card number in clear.
      return { type: 'scheme', encryptedCard: requiredToken(payment, 'the encrypted card (encryptedCard) from Adyen Web') };
    case 'apple_pay':
      return { type: 'applepay', applePayToken: requiredToken(payment, 'the Apple Pay token') };
    case 'google_pay':
      return { type: 'googlepay', googlePayToken: requiredToken(payment, 'the Google Pay token') };
    case 'klarna': {
      const sub = payment.method_details?.submethod?.toLowerCase();
      const klarna = (KLARNA_TYPES as readonly string[]).includes(sub ?? '') ? sub : 'klarna';
      return { type: klarna };
    }
    case 'crypto':
      throw new CommandValidationError('payment.payment_method.type', 'Adyen documents no digital-currency payment method (use Stripe)');
    case 'gift_card':
      // Adyen Web's gift card component: the number and PIN each encrypted client-side, never in clear.
      return {
        type: 'giftcard',
        brand: giftCardBrand(payment),
        encryptedCardNumber: requiredToken(payment, 'the encrypted gift card number (encryptedCardNumber) from Adyen Web'),
        ...(payment.payment_method?.encrypted_security_code ? { encryptedSecurityCode: payment.payment_method.encrypted_security_code } : {}),
      };
    default:
      return assertNever(type, 'method type');
  }
}

/** The gift card's brand as Adyen names it (`givex`, `svs`, `valuelink`, an Intersolve type…): `method_details.submethod`. */
function giftCardBrand(payment: Payment): string {
  const brand = payment.method_details?.submethod;
  if (!brand) throw new CommandValidationError('payment.method_details.submethod', 'is required for a gift card: the brand Adyen names it by (givex, svs, …)');
  return brand;
}

/** Whether the payment redeems a gift card (`method_details.method: giftcard`). */
export function isGiftCardPayment(payment: Payment): boolean {
  return payment.method_details?.method === GIFT_CARD_METHOD || payment.payment_method?.type === 'gift_card';
}

/**
 * Adyen `lineItems` from the command's lines (Klarna shows them to the customer; partial captures name
 * the shipped ones). Amounts are per unit, in Adyen's minor units; `taxPercentage` in minor units of a
 * percent (21 % = 2100).
 * @param amount the request's amount (ISO 4217 minor units), when given: the total of the one line of a
 *   fractional quantity whose `unit_price_gross × quantity` is no whole number of minor units (0.3 kg at
 *   10.75 is 3.225) is what the amount leaves after the other lines, when that is one of the two roundings
 *   of it (322 or 323); otherwise the item has no `amountIncludingTax`.
 */
export function adyenLineItems(lines: readonly PaymentLine[], currency: string, amount?: number): Json[] {
  const items = itemsOf(lines, currency);
  if (amount !== undefined) roundedLineTotal(lines, items, currency, amount);
  return items;
}

/**
 * Klarna approves a payment only when its `lineItems` add up to `amount.value`, and `amountIncludingTax` is
 * required there: a weighed line whose exact total has a fraction of a cent gets the merchant's rounding of
 * it, read from the amount, never one we choose. Only for a single such line with every other line priced.
 */
function roundedLineTotal(lines: readonly PaymentLine[], items: Json[], currency: string, amount: number): void {
  let open = -1;
  let rest = BigInt(amount);
  for (let i = 0; i < lines.length; i += 1) {
    const { quantity, unit_price_gross: unit } = lines[i];
    if (unit === undefined || quantity === undefined) return;
    if (Number.isSafeInteger(quantity)) rest -= BigInt(unit) * BigInt(quantity);
    else if (items[i].amountIncludingTax === undefined) {
      if (open >= 0) return;
      open = i;
    } else rest -= BigInt(exactProduct(unit, quantity) ?? 0);
  }
  if (open < 0) return;
  const bounds = productBounds(lines[open].unit_price_gross as number, lines[open].quantity as number);
  if (bounds === undefined || (rest !== bounds[0] && rest !== bounds[1])) return;
  items[open].amountIncludingTax = toAdyenAmount(Number(rest), currency, `payment.lines[${open}].unit_price_gross`).value;
}

function itemsOf(lines: readonly PaymentLine[], currency: string): Json[] {
  return lines.map((line, i) => {
    const item: Json = { id: line.item_sku ?? String(line.line_number ?? i + 1), description: line.item_name, quantity: line.quantity };
    if (line.quantity !== undefined && !Number.isSafeInteger(line.quantity)) Object.assign(item, { quantity: 1 }, wholeLineAmounts(line, currency, i));
    else {
      if (line.unit_price_gross !== undefined)
        item.amountIncludingTax = toAdyenAmount(line.unit_price_gross, currency, `payment.lines[${i}].unit_price_gross`).value;
      if (line.tax_rate !== undefined) item.taxPercentage = Math.round(line.tax_rate * 100);
      // tax_amount is the line's; Adyen wants it per unit: sent only when that is exact.
      if (line.tax_amount !== undefined && line.quantity !== undefined && line.quantity > 0 && line.tax_amount % line.quantity === 0) {
        item.taxAmount = toAdyenAmount(line.tax_amount / line.quantity, currency, `payment.lines[${i}].tax_amount`).value;
      }
    }
    if (line.item_sku) item.sku = line.item_sku;
    return item;
  });
}

/**
 * A line of a fractional quantity (2.5 kg) as one Adyen item: `LineItem.quantity` is an integer (int64) in
 * Adyen's Checkout API, and 2.5 there refuses the whole request (a card capture naming its shipment's lines
 * included). The item is the line itself: `amountIncludingTax` is the line's total, sent only when
 * `unit_price_gross × quantity` is a whole number of minor units exactly (computed on the decimal digits, not
 * in floating point), `taxAmount` the line's own `tax_amount`.
 */
function wholeLineAmounts(line: PaymentLine, currency: string, i: number): Json {
  const out: Json = {};
  const total = line.unit_price_gross === undefined || line.quantity === undefined ? undefined : exactProduct(line.unit_price_gross, line.quantity);
  if (total !== undefined) out.amountIncludingTax = toAdyenAmount(total, currency, `payment.lines[${i}].unit_price_gross`).value;
  if (line.tax_rate !== undefined) out.taxPercentage = Math.round(line.tax_rate * 100);
  if (line.tax_amount !== undefined) out.taxAmount = toAdyenAmount(line.tax_amount, currency, `payment.lines[${i}].tax_amount`).value;
  return out;
}

/** `integer × quantity` when it is an integer exactly, by the quantity's decimal digits (`2.5` → 25 / 10); else undefined. */
function exactProduct(integer: number, quantity: number): number | undefined {
  const bounds = productBounds(integer, quantity);
  return bounds !== undefined && bounds[0] === bounds[1] && bounds[0] <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(bounds[0]) : undefined;
}

/** `integer × quantity` rounded down and up (equal when it is an integer), by the quantity's decimal digits; undefined for a quantity not written in them. */
function productBounds(integer: number, quantity: number): [bigint, bigint] | undefined {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(quantity));
  if (!m) return undefined;
  const fraction = m[2] ?? '';
  const scale = fraction.length - Number(m[3] ?? '0');
  const digits = BigInt(m[1] + fraction) * BigInt(integer);
  if (scale <= 0) return [digits * 10n ** BigInt(-scale), digits * 10n ** BigInt(-scale)];
  const unit = 10n ** BigInt(scale);
  const floor = digits / unit;
  return [floor, digits % unit === 0n ? floor : floor + 1n];
}

/** Klarna's shopper fields (`shopperEmail`, `countryCode`, `shopperLocale`, `shopperName`, `billingAddress`, `telephoneNumber`). */
function shopperFields(payment: Payment): Json {
  const shopper = payment.payment_method?.shopper;
  if (!shopper) return {};
  const out: Json = {};
  if (shopper.email) out.shopperEmail = shopper.email;
  if (shopper.country) out.countryCode = shopper.country;
  if (shopper.locale) out.shopperLocale = shopper.locale.replace('_', '-');
  if (shopper.first_name || shopper.last_name) out.shopperName = { firstName: shopper.first_name ?? '', lastName: shopper.last_name ?? '' };
  if (shopper.telephone) out.telephoneNumber = shopper.telephone;
  const a = shopper.billing_address;
  if (a?.street && a.city && a.postal_code && (a.country ?? shopper.country)) {
    out.billingAddress = {
      street: a.street,
      houseNumberOrName: a.house_number ?? '',
      postalCode: a.postal_code,
      city: a.city,
      country: a.country ?? shopper.country,
    };
  }
  return out;
}

/**
 * The method part of a `/payments` body (docs/PAYMENT-METHODS.md): `paymentMethod`, `shopperReference`,
 * `shopperInteraction`, `recurringProcessingModel`, `storePaymentMethod`, `returnUrl`, Klarna's lines and
 * shopper fields.
 * - `stored_card`: `storedPaymentMethodId` with its shopper, `ContAuth`, the recurring model of
 *   `payment.recurring` (`Subscription` | `UnscheduledCardOnFile`; `CardOnFile` when the shopper is there). Never the
 *   first payment's network transaction id (`payment.recurring.network_transaction_id`): Checkout v71 documents
 *   `additionalData.networkTxReference` for an MIT only "if you are not tokenizing card details with Adyen" ("required
 *   for token-based transactions where Adyen does not tokenize the card", AdditionalDataCommon), and every stored card
 *   here is an Adyen token (`storedPaymentMethodId`), whose chain Adyen links itself.
 * - one-time methods: `Ecommerce`, the shopper's `returnUrl`.
 * - token on first use: `storePaymentMethod: true` with the `shopperReference` it is filed under and the
 *   recurring model it will be used with (`UnscheduledCardOnFile` unless `recurring` says subscription).
 */
export function adyenMethodFields(
  ctx: { operationId: string; payment: Payment },
  gateway: Pick<GatewayConfig, 'name' | 'storePaymentMethods'>,
  storedKey: string,
): Json {
  const { payment } = ctx;
  const type = methodTypeOf(payment);
  const returnUrl = payment.payment_method?.return_url ?? ADYEN_RETURN_URL;
  if (type === 'stored_card') {
    if (wantsStoredToken(payment)) throw new CommandValidationError('payment.payment_method.store', 'the method is stored already (stored_card)');
    const token = parseStoredToken(storedKey, payment, gateway.name);
    // A gift card Adyen tokenized (`<shopperReference>:<storedPaymentMethodId>`): Checkout's giftcard method.
    const giftCard = isGiftCardPayment(payment);
    return {
      paymentMethod: giftCard
        ? { type: 'giftcard', brand: giftCardBrand(payment), storedPaymentMethodId: token.storedPaymentMethodId }
        : { type: 'scheme', storedPaymentMethodId: token.storedPaymentMethodId },
      shopperReference: token.shopperReference,
      shopperInteraction: 'ContAuth',
      recurringProcessingModel: recurringModel(payment),
      returnUrl,
    };
  }
  const fields: Json = { paymentMethod: oneTimeMethod(type, payment), shopperInteraction: 'Ecommerce', channel: 'Web', returnUrl };
  if (type === 'klarna') {
    Object.assign(fields, shopperFields(payment));
    fields.lineItems = adyenLineItems(payment.lines ?? [], payment.currency, payment.amount);
  }
  const named = payment.payment_method?.shopper?.reference;
  if (named) fields.shopperReference = named;
  if (wantsStoredToken(payment)) {
    if (gateway.storePaymentMethods !== true) {
      throw new CommandValidationError(
        'payment.payment_method.store',
        `token storage is not enabled on gateway ${gateway.name} (gateways.${gateway.name}.store_payment_methods)`,
      );
    }
    fields.storePaymentMethod = true;
    fields.shopperReference = named ?? shopperReferenceForNewToken(payment, ctx.operationId);
    fields.recurringProcessingModel = payment.recurring?.model === 'subscription' ? 'Subscription' : 'UnscheduledCardOnFile';
  }
  return fields;
}

/** The shopperReference a payment's new token is filed under (what `adyenMethodFields` sent). */
export function newTokenShopperReference(payment: Payment, operationId: string): string {
  return payment.payment_method?.shopper?.reference ?? shopperReferenceForNewToken(payment, operationId);
}

/**
 * The stored method's id Adyen reports in `additionalData` (`tokenization.storedPaymentMethodId`, older accounts
 * `recurring.recurringDetailReference`): the id part of {@link adyenStoredToken}'s key, or undefined when there is none.
 */
export function adyenStoredMethodId(additionalData: unknown): string | undefined {
  if (additionalData === null || typeof additionalData !== 'object' || Array.isArray(additionalData)) return undefined;
  const data = additionalData as Json;
  const id = data['tokenization.storedPaymentMethodId'] ?? data['recurring.recurringDetailReference'];
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

/**
 * Token on first use: the stored method's id Adyen reports (`additionalData['tokenization.storedPaymentMethodId']`,
 * older accounts `recurring.recurringDetailReference`), as the key the OMS keeps (`<shopperReference>:<id>`).
 */
export function adyenStoredToken(additionalData: unknown, shopperReference: string): string | undefined {
  const id = adyenStoredMethodId(additionalData);
  if (id === undefined) return undefined;
  const data = additionalData as Json;
  const shopper = data['tokenization.shopperReference'] ?? data['recurring.shopperReference'];
  return formatStoredToken({ shopperReference: typeof shopper === 'string' && shopper.length >= 3 ? shopper : shopperReference, storedPaymentMethodId: id });
}

/**
 * The card Adyen stored, from the `additionalData` of a /payments answer or of an AUTHORISATION notification
 * (both carry the same keys): `cardSummary` (last four), `expiryDate` (`M/YYYY`), and the brand from `brand`
 * (the answer's `paymentMethod.brand`, the notification's `paymentMethod`), else `additionalData.paymentMethod`.
 * Adyen sends the card fields only when the merchant account's (or the webhook's) additional data settings
 * include them. `undefined` when no last four digits or expiry read as such.
 */
export function adyenStoredCard(additionalData: unknown, brand: unknown): StoredCard | undefined {
  const data = additionalData !== null && typeof additionalData === 'object' && !Array.isArray(additionalData) ? (additionalData as Json) : {};
  const expiry = typeof data.expiryDate === 'string' ? /^(\d{1,2})\/(\d{4})$/.exec(data.expiryDate.trim()) : null;
  const card = storedCardOf({ brand: brand ?? data.paymentMethod, lastFour: data.cardSummary, expiryMonth: expiry?.[1], expiryYear: expiry?.[2] });
  // A brand alone is no card: Adyen's `paymentMethod` names every method so (`ach`, `ideal`…).
  return card && (card.lastFour !== undefined || card.expiryMonth !== undefined || card.expiryYear !== undefined) ? card : undefined;
}

/**
 * The kind of an Adyen `action.type`: the Checkout v71 spec's (`redirect`, `nativeRedirect`, `threeDS2`,
 * `delegatedAuthentication`, `sdk`, `wechatpaySDK`, `qrCode`, `voucher`, `bankTransfer`, `await`), and
 * `bank` (older answers' bank transfer).
 */
function actionKind(type: unknown): ActionKind {
  switch (type) {
    case 'redirect':
    case 'nativeRedirect':
      return 'redirect';
    case 'threeDS2':
    case 'delegatedAuthentication':
      return 'three_ds';
    case 'sdk':
    case 'wechatpaySDK':
    case 'qrCode':
      return 'sdk';
    case 'voucher':
    case 'bankTransfer':
    case 'bank':
      return 'voucher';
    case 'await':
      return 'await';
    default:
      return 'other';
  }
}

/** What the storefront hands to Adyen Checkout's `createFromAction`: the `action` object verbatim. */
export function adyenAction(action: unknown): CustomerAction {
  if (action === null || typeof action !== 'object' || Array.isArray(action)) return { kind: 'other' };
  const a = action as Json;
  const url = typeof a.url === 'string' ? a.url : undefined;
  return { kind: actionKind(a.type), ...(url ? { url } : {}), psp_action: a };
}
