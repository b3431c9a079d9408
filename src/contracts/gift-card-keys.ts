import { CommandValidationError } from '../errors/command-validation-error';
import { GIFT_CARD_METHOD, isStoredValueCommand } from './stored-value';

/**
 * A gift card number sent where its token goes. The card scan (`card-data-policy.ts`) finds payment card
 * numbers: 12 to 19 digits passing the Luhn check. A gift card number often fails it and may be longer (Adyen's
 * own examples: SVS `603628672882001915092`, 21 digits; Givex `6036283997595793321`, 19 digits, no check digit),
 * so as a card key it would be stored, sent on and logged. A gift card token is never such a run: Adyen's
 * recurringDetailReference is 16 characters, the simulator's is `gc_…`. Only the fields naming a gift card are
 * read (a card gateway's own long numeric key, e.g. a Cybersource subscription id, is its business).
 */

/**
 * Fewest digits of a card key read as a gift card number: one more than a token's 16 characters. A 12 to 16 digit
 * number failing the Luhn check passes: a 16-digit SVS or Fiserv number has the very shape of Adyen's numeric token
 * (`8415736344108917`), and Adyen's spec sets no minimum length for one (`storedPaymentMethodId`: at most 64
 * characters), so a shorter digit run is not known to be no token. A Luhn-valid one is the card scan's.
 */
export const MIN_GIFT_CARD_NUMBER_DIGITS = 17;

/**
 * Whether `key` (a `gateway_key`, or `<shopperReference>:<token>`) is a gift card number: its part after the
 * last `:` is digits only, spaces and dashes between them allowed, at least {@link MIN_GIFT_CARD_NUMBER_DIGITS}.
 */
export function isGiftCardNumberKey(key: string): boolean {
  let digits = 0;
  for (let i = key.lastIndexOf(':') + 1; i < key.length; i += 1) {
    const c = key.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digits += 1;
    else if (c !== 0x20 && c !== 0x2d) return false;
  }
  return digits >= MIN_GIFT_CARD_NUMBER_DIGITS;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * Commands whose `gateway_key` names the earlier authorization they act on (our operation id, any
 * `operation_reference`, digits only too, or the PSP's reference), never a card, even on a gift card payment.
 * A `refund` is one of them only when its key is not in a card token's form ({@link refundNamesOperation}).
 */
const NAMES_AN_AUTHORIZATION: ReadonlySet<string> = new Set(['capture', 'cancel', 'validate', 'revalidate']);

/** An operation id's alphabet (`operation_reference`, `op-…`, the bridge's `_…`) and an Adyen pspReference's: never `:` or a space. */
const OPERATION_KEY = /^[A-Za-z0-9._-]+$/;

/**
 * Whether a gift card `refund`'s `gateway_key` names the payment it refunds (our operation id, or the PSP's
 * reference) rather than the card a refund to the card loads. That card is named in a token's form:
 * `<shopperReference>:<token>`, or a bare token with `custom_attributes.shopper_reference` (Adyen Stored Value
 * charges a stored card with both); a key with a space is no operation id either. Any of those is read as a card.
 * So is a run of {@link MIN_GIFT_CARD_NUMBER_DIGITS} digits or more, even where an all-digit operation id could
 * be meant: taken, a card number sent there would be queued, stored, and echoed in the refusal's event before
 * delivery could tell (the redemption is named by its pspReference, 16 characters, or a shorter id instead).
 */
function refundNamesOperation(payment: Record<string, unknown>): boolean {
  const key = payment.gateway_key;
  return typeof key === 'string' && OPERATION_KEY.test(key) && !isGiftCardNumberKey(key) && !namesShopper(payment.custom_attributes);
}

/**
 * Whether a gift card `refund`'s `payment` names the card it loads (a refund to the card: Adyen Stored Value's
 * `/load` with `loadType: merchandiseReturn`, a Stored Value transaction) rather than the payment it refunds (a
 * refund of a redemption, a payment refund no Stored Value void undoes). See {@link refundNamesOperation}.
 */
export function refundNamesCard(payment: object): boolean {
  return !refundNamesOperation(payment as Record<string, unknown>);
}

/** Whether `custom_attributes` (an object, or a list of `{attribute_code | code | name | key, value}`) holds a `shopper_reference`. */
function namesShopper(attributes: unknown): boolean {
  if (Array.isArray(attributes)) {
    return attributes.some((a: unknown) => {
      const entry = record(a);
      return entry !== undefined && [entry.attribute_code, entry.code, entry.name, entry.key].includes('shopper_reference') && entry.value !== undefined;
    });
  }
  return record(attributes)?.shopper_reference !== undefined;
}

/** A string field of a command that names a gift card by its key: the object holding it, its name, its path. */
interface GiftCardKeyPlace {
  holder: Record<string, unknown>;
  key: string;
  field: string;
}

/**
 * The fields of `payment` naming a gift card by its key (see {@link refuseGiftCardNumberKeys}). `command`
 * undefined (not known, e.g. a JSON-RPC call whose method was not read): the card key itself is left out, as
 * it may name an authorization.
 */
function giftCardKeyPlaces(payment: Record<string, unknown>, command: string | undefined): GiftCardKeyPlace[] {
  const places: GiftCardKeyPlace[] = [];
  const method = record(payment.payment_method);
  const giftCard = record(payment.method_details)?.method === GIFT_CARD_METHOD || method?.type === 'gift_card';
  const namesOperation = command !== undefined && (NAMES_AN_AUTHORIZATION.has(command) || (command === 'refund' && refundNamesOperation(payment)));
  if (command !== undefined && (isStoredValueCommand(command) || (giftCard && !namesOperation))) {
    places.push({ holder: payment, key: 'gateway_key', field: 'payment.gateway_key' });
  }
  if (method?.type === 'gift_card') places.push({ holder: method, key: 'token', field: 'payment.payment_method.token' });
  const storedValue = record(payment.stored_value);
  if (storedValue) places.push({ holder: storedValue, key: 'source_gateway_key', field: 'payment.stored_value.source_gateway_key' });
  if (Array.isArray(payment.tenders)) {
    payment.tenders.forEach((tender: unknown, i) => {
      const t = record(tender);
      if (t?.type === 'gift_card') places.push({ holder: t, key: 'gateway_key', field: `payment.tenders[${i}].gateway_key` });
    });
  }
  return places;
}

function holdsGiftCardNumber(place: GiftCardKeyPlace): boolean {
  const value = place.holder[place.key];
  return typeof value === 'string' && isGiftCardNumberKey(value);
}

/**
 * Refuses a command naming a gift card by its number (see the file comment): the card key of a stored value
 * command or of a gift card redemption or its refund to the card (in a token's form, {@link refundNamesOperation};
 * `method_details.method: giftcard`, or a one-time
 * `payment_method.type: gift_card`, whose `token` is Adyen's encrypted card number, never digits), a balance
 * merge's source card, a split's `gift_card` tender. Reads the message as decoded (before the schema), so
 * nothing later holds it.
 * @throws CommandValidationError `CARD_DATA_REJECTED` naming the field, never quoting its value.
 */
export function refuseGiftCardNumberKeys(message: unknown): void {
  const envelope = record(message);
  const payment = record(envelope?.payment);
  if (!envelope || !payment) return;
  const found = giftCardKeyPlaces(payment, typeof envelope.command === 'string' ? envelope.command : '').find(holdsGiftCardNumber);
  if (found) throw new CommandValidationError(found.field, "holds a gift card number; send the card's token, never its number or PIN", 'CARD_DATA_REJECTED');
}

/**
 * Masks (in place, with `mask`) every gift card number in a field {@link refuseGiftCardNumberKeys} reads, for a
 * message refused before that check ran (its signature, its envelope, the broker): `payment` of a command,
 * `command` its type, undefined when not known. Only those fields: a long number elsewhere is not card data.
 * @returns whether anything was masked.
 */
export function maskGiftCardNumberKeys(payment: Record<string, unknown>, command: string | undefined, mask: string): boolean {
  let masked = false;
  for (const place of giftCardKeyPlaces(payment, command)) {
    if (!holdsGiftCardNumber(place)) continue;
    place.holder[place.key] = mask;
    masked = true;
  }
  return masked;
}
