import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { headerValue } from '../../http/header-value';
import type { GatewayConfig } from '../gateway-config';
import { GatewayError } from '../../errors/gateway-error';
import { readPspCurrency } from '../../money/currencies';
import { withConfirmedMoney } from '../../money/psp-currency-table';
import { adyenConfirmedMoney } from './adyen-amount';
import { operationIdFromReference } from './adyen-references';
import { AdyenEventCode, AdyenNotice, eventNotice, eventOutcome, eventSettles, isAdyenEventCode, isModificationEvent } from './adyen-status-map';
import type { CommandType } from '../../contracts/payment-command';
import { AdyenLateFact, adyenLateFact } from './adyen-adjustments';
import { adyenSchemeRejection, adyenTechnicalIssue } from './adyen-declines';
import { adyenStoredCard, adyenStoredMethodId, adyenStoredToken } from './adyen-methods';
import { formatStoredToken } from './adyen-stored-token';
import type { StoredCard } from '../stored-card';
import { AdjustmentFact } from '../../adjustments/adjustment';
import { AUTHORIZATION_EXPIRED_REASON, GatewayOutcome, PspReversal, SkippedWebhookItem, WebhookAck, WebhookEvent } from '../gateway-adapter';
import { pspIsoTimeMs } from '../psp-time';
import { networkTransactionIdOf } from '../network-transaction-id';

/**
 * Adyen standard notifications (Webhooks v1): `{ live, notificationItems: [{ NotificationRequestItem }] }`.
 *
 * Two checks:
 * 1. HTTP Basic authentication, when configured: the username is the gateway's `key_id` and the password
 *    its `shared_secret` (the Adyen gateway has no other use for those two keys). Adyen's docs make Basic
 *    auth an optional extra set up on the webhook in the Customer Area, so with neither key set webhooks are
 *    accepted on their HMAC alone (a warning at start and in the doctor says so: `adyenWebhookAuthWarnings`).
 *    With either key set, Basic auth is required (with only one of them, nothing can pass it: every webhook
 *    is refused, and the warning says that too).
 * 2. Always, per item, the HMAC Adyen puts in `additionalData.hmacSignature`, its documented verification:
 *    base64 HMAC-SHA256, with the hex
 *    key `webhook_secret` (or `webhook_secret_previous` during a key rotation), over
 *    `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`,
 *    unescaped, byte for byte what Adyen's own libraries check. Only `merchantReference` may hold a `:`, so
 *    that the string splits into the fields one way only (`splitsOneWay`).
 *
 * The merchant account is not part of the verification: a company-level webhook brings, correctly signed,
 * the items of every merchant account of the company. An item naming another account than the gateway's
 * `merchant_account` is acknowledged and skipped when the notification is read (`other_account`); the
 * outcome worker's scope check still refuses any outcome naming another account (`outcome-scope.ts`). Nor is
 * the environment: a notification whose `live` ("Informs about the origin of the notification": "true" from
 * the live environment, "false" from the test one) is not the environment of the gateway's `base_url`
 * (`adyenEnvironment`) is acknowledged and its items skipped (`other_environment`).
 *
 * No freshness window: the signed fields carry no timestamp (eventDate is not signed), and Adyen retries
 * an unanswered notification for days, so an age limit would lose real outcomes. Replays are harmless:
 * events are deduplicated by `eventId` and state transitions only move forward.
 */

type Json = Record<string, unknown>;

/**
 * The eight values an item's HMAC covers, as `adyenSigningString` joins them. Adyen's libraries join the values as
 * sent (a number as its digits, an absent one empty), so an item of any shape has them.
 */
export interface AdyenSignedValues {
  pspReference: string;
  originalReference?: string;
  merchantAccountCode: string;
  merchantReference: string;
  amount: { value: number | string; currency: string | number };
  eventCode: string;
  success: string;
}

/** A `NotificationRequestItem`, the fields we read. */
export interface AdyenNotificationItem extends AdyenSignedValues {
  /**
   * `currency` as sent: a number is kept (Adyen's libraries sign it as its digits) so that the item is refused
   * for its currency, naming the field, rather than its whole batch for its shape.
   */
  amount: { value: number; currency: string | number };
  reason?: string;
  hmacSignature?: string;
  /** ISO 8601 time of the event, as Adyen sends it (not signed). */
  eventDate?: string;
  /** Dispute notifications: the scheme's chargeback reason code (`additionalData.chargebackReasonCode`). */
  chargebackReasonCode?: string;
  /** CANCEL_OR_REFUND: what Adyen did, `cancel` or `refund` (`additionalData.modification.action`). */
  modificationAction?: string;
  /**
   * AUTHORISATION of a payment with token on first use: the stored method as `<shopperReference>:<id>`
   * (`additionalData` `tokenization.storedPaymentMethodId` / `recurring.recurringDetailReference` with
   * `tokenization.shopperReference` / `recurring.shopperReference`).
   */
  storedToken?: string;
  /** The stored method's id inside `storedToken` (Adyen's 16 characters, often all digits), with it. */
  storedTokenId?: string;
  /**
   * AUTHORISATION of a payment that stored its card (a stored method's id in `additionalData`): the card as
   * Adyen describes it (`cardSummary`, `expiryDate`, the item's `paymentMethod`), read as a /payments answer's.
   */
  storedCard?: StoredCard;
  /**
   * The card scheme's id of the payment (`additionalData.networkTxReference`, "The network transaction reference from
   * the scheme, when available"; sent when the webhook's additional settings include it), of an id's shape
   * (`networkTransactionIdOf`), else absent.
   */
  networkTxReference?: string;
  /** RECURRING_CONTRACT: "The `pspReference` of the initial payment" (its `originalReference` says the same). */
  originalPsp?: string;
  /**
   * RECURRING_CONTRACT: the shopper the token is filed under (`additionalData.shopperReference`, "the same as the
   * `shopperReference` used in the initial payment"; else `recurring.shopperReference`).
   */
  contractShopperReference?: string;
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function optionalString(o: Json, key: string): string | undefined {
  return typeof o[key] === 'string' ? (o[key] as string) : undefined;
}

/** The token an item's `additionalData` names, with the stored method's id inside it (see `AdyenNotificationItem.storedToken`). */
function webhookStoredToken(additional: Json): { storedToken?: string; storedTokenId?: string } {
  const shopper = optionalString(additional, 'tokenization.shopperReference') ?? optionalString(additional, 'recurring.shopperReference');
  const token = shopper ? adyenStoredToken(additional, shopper) : undefined;
  const id = adyenStoredMethodId(additional);
  return token !== undefined && id !== undefined ? { storedToken: token, storedTokenId: id } : {};
}

/** The card of an item that stored a method (its id present): the rest of Adyen's notifications describe a card used, not kept. */
function webhookStoredCard(n: Json, additional: Json): StoredCard | undefined {
  const stored = optionalString(additional, 'tokenization.storedPaymentMethodId') ?? optionalString(additional, 'recurring.recurringDetailReference');
  return stored ? adyenStoredCard(additional, n.paymentMethod) : undefined;
}

/** What {@link asSigned} gives a value no library can join: no signature Adyen makes covers it, so its item never verifies. */
const UNSIGNABLE = '\u0000unsignable';

/**
 * One value as Adyen's libraries join it into the signing string (`Array.prototype.join`: null or absent is
 * empty). A value the join itself fails on (an object with a `toString` member that is no function, arrays
 * nested thousands deep) is none Adyen sends or signs: {@link UNSIGNABLE}, so its item fails verification
 * (and, read, is skipped as unreadable) instead of the body failing with a TypeError or RangeError.
 */
function asSigned(value: unknown): string {
  try {
    return [value].join('');
  } catch {
    return UNSIGNABLE;
  }
}

/** The signed values of an item as sent, whatever their shape. */
function signedValues(n: Json): AdyenSignedValues {
  const amount = isObject(n.amount) ? n.amount : {};
  return {
    pspReference: asSigned(n.pspReference),
    originalReference: asSigned(n.originalReference),
    merchantAccountCode: asSigned(n.merchantAccountCode),
    merchantReference: asSigned(n.merchantReference),
    amount: { value: asSigned(amount.value), currency: asSigned(amount.currency) },
    eventCode: asSigned(n.eventCode),
    success: asSigned(n.success),
  };
}

/** A field of an item that cannot be read: its path within `NotificationRequestItem` and why, never its value. */
export interface AdyenUnreadableField {
  field: string;
  problem: string;
}

function missingOr(value: unknown, problem: string): string {
  return value === undefined || value === null ? 'is missing' : problem;
}

/** The first field of an item the bridge cannot read, in the order of the signing string; none: it reads. */
function unreadableField(n: Json): AdyenUnreadableField | undefined {
  for (const field of ['pspReference', 'merchantAccountCode', 'eventCode', 'success']) {
    if (typeof n[field] !== 'string') return { field, problem: missingOr(n[field], 'is not a string') };
  }
  for (const field of ['originalReference', 'merchantReference']) {
    const value = n[field];
    if (value !== undefined && value !== null && typeof value !== 'string') return { field, problem: 'is not a string' };
  }
  const amount = n.amount;
  if (!isObject(amount)) return { field: 'amount', problem: missingOr(amount, 'is not an object') };
  const value = amount.value;
  if (typeof value !== 'number') return { field: 'amount.value', problem: missingOr(value, 'is not a number') };
  // Money is integer minor units: a fraction, or an integer past 2^53 (not held exactly), is no amount.
  if (!Number.isInteger(value)) return { field: 'amount.value', problem: 'is not a whole number of minor units' };
  if (!Number.isSafeInteger(value)) return { field: 'amount.value', problem: 'is beyond the integers held exactly (2^53)' };
  const currency = amount.currency;
  if (typeof currency !== 'string' && typeof currency !== 'number')
    return { field: 'amount.currency', problem: missingOr(currency, 'is neither a string nor a number') };
  return undefined;
}

function readItem(n: Json, amount: { value: number; currency: string | number }): AdyenNotificationItem {
  const additional = isObject(n.additionalData) ? n.additionalData : {};
  return {
    pspReference: n.pspReference as string,
    originalReference: optionalString(n, 'originalReference'),
    merchantAccountCode: n.merchantAccountCode as string,
    merchantReference: optionalString(n, 'merchantReference') ?? '',
    amount,
    eventCode: n.eventCode as string,
    success: n.success as string,
    reason: optionalString(n, 'reason'),
    hmacSignature: optionalString(additional, 'hmacSignature'),
    eventDate: optionalString(n, 'eventDate'),
    chargebackReasonCode: optionalString(additional, 'chargebackReasonCode'),
    modificationAction: optionalString(additional, 'modification.action'),
    ...webhookStoredToken(additional),
    storedCard: webhookStoredCard(n, additional),
    networkTxReference: networkTransactionIdOf(additional.networkTxReference),
    originalPsp: optionalString(n, 'originalPsp'),
    contractShopperReference: optionalString(additional, 'shopperReference') ?? optionalString(additional, 'recurring.shopperReference'),
  };
}

/**
 * One item of a notification: its signed values and signature, checked whether it reads or not, and the item
 * read or the field it cannot be read for. An item Adyen signed as sent but of a shape we cannot read is refused
 * alone, naming the field: refusing its batch would have Adyen resend the batch, good items with it, for days.
 */
export interface AdyenEntry {
  signed: AdyenSignedValues;
  hmacSignature?: string;
  /** An unreadable item's names for its skip line; `pspReference` as {@link skipReference} gives it (never a token). */
  read: { item: AdyenNotificationItem } | (AdyenUnreadableField & { pspReference?: string; merchantAccountCode?: string; eventCode?: string });
}

/**
 * The reference a skip line names an item by (`SkippedWebhookItem.reference`, logged): its `pspReference`, except a
 * RECURRING_CONTRACT's, which is the stored token itself ("the same as the recurringDetailReference"): that one is
 * named by the payment it was stored with (`originalReference`, else `originalPsp`), or by nothing.
 */
function skipReference(n: { eventCode?: unknown; pspReference?: unknown; originalReference?: unknown; originalPsp?: unknown }): string | undefined {
  const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
  if (n.eventCode === 'RECURRING_CONTRACT') return text(n.originalReference) ?? text(n.originalPsp);
  return text(n.pspReference);
}

function toEntry(raw: unknown): AdyenEntry | undefined {
  if (!isObject(raw) || !isObject(raw.NotificationRequestItem)) return undefined;
  const n = raw.NotificationRequestItem;
  const signed = signedValues(n);
  const hmacSignature = isObject(n.additionalData) ? optionalString(n.additionalData, 'hmacSignature') : undefined;
  const unreadable = unreadableField(n);
  if (unreadable !== undefined) {
    const named = {
      pspReference: skipReference(n),
      merchantAccountCode: optionalString(n, 'merchantAccountCode'),
      eventCode: optionalString(n, 'eventCode'),
    };
    return { signed, hmacSignature, read: { ...unreadable, ...named } };
  }
  const amount = n.amount as { value: number; currency: string | number };
  return { signed, hmacSignature, read: { item: readItem(n, { value: amount.value, currency: amount.currency }) } };
}

/** A notification body: its items, and the environment it says it comes from (`live`), when it says. */
interface AdyenNotification {
  entries: AdyenEntry[];
  /** `live` read: "true" (a JSON true too) is live, "false" test; anything else says nothing. */
  environment?: AdyenEnvironment;
}

/** The notification in a body; `undefined` when the body is not one (no items, or one that is no item at all). */
function parseNotification(rawBody: Buffer): AdyenNotification | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(parsed) || !Array.isArray(parsed.notificationItems) || parsed.notificationItems.length === 0) return undefined;
  const entries: AdyenEntry[] = [];
  for (const raw of parsed.notificationItems) {
    const entry = toEntry(raw);
    if (!entry) return undefined;
    entries.push(entry);
  }
  const live = parsed.live;
  const environment = live === 'true' || live === true ? 'live' : live === 'false' || live === false ? 'test' : undefined;
  return environment === undefined ? { entries } : { entries, environment };
}

/** The items of a notification body; `undefined` when the body is not a notification (no items, or one that is no item at all). */
export function parseNotificationEntries(rawBody: Buffer): AdyenEntry[] | undefined {
  return parseNotification(rawBody)?.entries;
}

/** An Adyen environment: its test platform or its live one (separate accounts, keys and webhooks). */
export type AdyenEnvironment = 'test' | 'live';

/**
 * The Adyen environment a gateway's `base_url` sends payments to, or undefined when its host is none of Adyen's
 * (a local twin, a deployment's own forwarding host): test for `checkout-test.adyen.com`, `pal-test.adyen.com`
 * (any `*-test.adyen.com`); live for `<prefix>-checkout-live[-<region>].adyenpayments.com`,
 * `<prefix>-pal-live….adyenpayments.com` and the older `checkout-live.adyen.com`, `pal-live.adyen.com`.
 */
export function adyenEnvironment(baseUrl: string): AdyenEnvironment | undefined {
  let host: string;
  try {
    host = new URL(baseUrl).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  const label = host.split('.')[0];
  if (host.endsWith('.adyen.com') && label.endsWith('-test')) return 'test';
  if (host.endsWith('.adyenpayments.com') && /-live(?:-[a-z0-9]+)?$/.test(label)) return 'live';
  if (host.endsWith('.adyen.com') && label.endsWith('-live')) return 'live';
  return undefined;
}

/**
 * Adyen's signing string for one item: the eight values joined with `:`, unescaped, as Adyen signs them and
 * its own libraries check them (a missing `originalReference` is an empty field).
 */
export function adyenSigningString(item: AdyenSignedValues): string {
  return [
    item.pspReference,
    item.originalReference ?? '',
    item.merchantAccountCode,
    item.merchantReference,
    String(item.amount.value),
    String(item.amount.currency),
    item.eventCode,
    item.success,
  ].join(':');
}

/**
 * Whether the signed string splits into the item's fields one way only. `merchantReference`, the merchant's
 * free text, may hold `:` (a reference made outside the bridge); with the seven others free of it the three
 * before and the four after are fixed by their separators, so a signature cannot be moved to another split
 * of the same string (`A:B` + `` against `A` + `B`).
 */
function splitsOneWay(item: AdyenSignedValues): boolean {
  const others = [
    item.pspReference,
    item.originalReference ?? '',
    item.merchantAccountCode,
    String(item.amount.value),
    String(item.amount.currency),
    item.eventCode,
    item.success,
  ];
  return others.every((value) => !value.includes(':'));
}

function hmacKey(hex: string): Buffer | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) return undefined;
  return Buffer.from(hex, 'hex');
}

/**
 * The signature's bytes when `hmacSignature` is exactly the base64 text of a digest (what Adyen sends: "encode
 * the result using Base64"), else undefined. Node's decoder ignores whitespace, whatever follows the padding and
 * the unused bits of the last character, so other strings than the signature itself would decode to its bytes:
 * a string that is not the one the documented comparison matches is no signature.
 */
function signatureBytes(hmacSignature: string | undefined): Buffer | undefined {
  if (!hmacSignature) return undefined;
  const bytes = Buffer.from(hmacSignature, 'base64');
  return bytes.toString('base64') === hmacSignature ? bytes : undefined;
}

function signatureMatches(entry: AdyenEntry, keyHex: string): boolean {
  const key = hmacKey(keyHex);
  const received = signatureBytes(entry.hmacSignature);
  if (!key || !received) return false;
  const expected = createHmac('sha256', key).update(adyenSigningString(entry.signed), 'utf8').digest();
  return received.length === expected.length && timingSafeEqual(received, expected);
}

/** Whether one item carries a valid HMAC, over its values as sent, under the current or the previous key. */
export function verifyItemSignature(entry: AdyenEntry, gateway: GatewayConfig): boolean {
  if (!splitsOneWay(entry.signed)) return false;
  // Both keys are always checked, so timing does not tell which one matched.
  const current = signatureMatches(entry, gateway.webhookSecret);
  const previous = signatureMatches(entry, gateway.webhookSecretPrevious);
  return current || previous;
}

/** Whether the gateway asks for Basic auth on its webhooks: `key_id` or `shared_secret` set (see the file comment). */
export function basicAuthConfigured(gateway: GatewayConfig): boolean {
  return gateway.keyId !== '' || gateway.sharedSecret !== '';
}

/**
 * What an operator should know about the webhook authentication configured, `[key under gateways.<name>, what]`:
 * HMAC only (no Basic auth), or Basic auth half configured (every webhook refused). Logged at every start and
 * shown by check-config and the doctor.
 */
export function adyenWebhookAuthWarnings(gateway: GatewayConfig): Array<[string, string]> {
  if (!basicAuthConfigured(gateway)) {
    return [
      [
        'key_id',
        "and shared_secret are empty: webhooks are accepted on their HMAC signature alone, without Basic authentication (optional at Adyen); set both, as on the webhook in Adyen's Customer Area, to require it too",
      ],
    ];
  }
  if (gateway.keyId === '')
    return [['key_id', 'is empty while shared_secret is set: Basic authentication is required and cannot pass, so every webhook is refused']];
  if (gateway.sharedSecret === '')
    return [['shared_secret', 'is empty while key_id is set: Basic authentication is required and cannot pass, so every webhook is refused']];
  return [];
}

/** `Authorization` value Adyen sends when Basic auth is configured as described in the file comment. */
export function adyenWebhookAuthorization(gateway: GatewayConfig): string {
  return `Basic ${Buffer.from(`${gateway.keyId}:${gateway.sharedSecret}`, 'utf8').toString('base64')}`;
}

/** `Authorization: <scheme> <credentials>`: one or more spaces between them (RFC 7235 `1*SP`). */
const AUTHORIZATION = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +(\S+)$/;

/**
 * Constant-time check of the Basic credentials; false when they are not configured. The scheme name is
 * matched in any case (auth schemes are case-insensitive, RFC 7235 §2.1; it is no secret), the credentials
 * exactly and in constant time.
 */
export function verifyBasicAuth(headers: Record<string, string>, gateway: GatewayConfig): boolean {
  if (!gateway.keyId || !gateway.sharedSecret) return false;
  const received = headerValue(headers, 'authorization');
  if (received === undefined) return false;
  const parts = AUTHORIZATION.exec(received.trim());
  const isBasic = parts !== null && parts[1].toLowerCase() === 'basic';
  const expected = adyenWebhookAuthorization(gateway).slice('Basic '.length);
  // Digests make the lengths equal, as timingSafeEqual needs; compared even for another scheme, so the
  // time taken does not depend on what was sent.
  const a = createHash('sha256')
    .update(parts?.[2] ?? '', 'utf8')
    .digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && isBasic;
}

/**
 * Whether an item names the gateway's configured merchant account. Not configured: nothing matches (an
 * Adyen gateway without `merchant_account` cannot tell its notifications from another account's).
 */
export function namesOurMerchantAccount(account: string | undefined, gateway: GatewayConfig): boolean {
  return gateway.merchantAccount !== '' && account === gateway.merchantAccount;
}

/**
 * Basic auth when configured (`basicAuthConfigured`; else any `Authorization` header is ignored), then every
 * item's HMAC over its values as sent, read or not: true only when both hold for the whole batch (an item not
 * signed is no item of Adyen's, and nothing in its batch is taken on its word).
 */
export function verifyAdyenWebhook(rawBody: Buffer, headers: Record<string, string>, gateway: GatewayConfig): boolean {
  const authorised = basicAuthConfigured(gateway) ? verifyBasicAuth(headers, gateway) : true;
  const entries = parseNotificationEntries(rawBody);
  if (!entries) return false;
  let allSigned = true;
  for (const entry of entries) allSigned = verifyItemSignature(entry, gateway) && allSigned;
  return authorised && allSigned;
}

/**
 * The events of a verified notification: one per item that is the outcome of something we send or a late
 * fact about a payment (disputes, a capture or refund failing later: `adjustment`, see
 * `adyenLateFact`); items about payouts, reports… are left out. Adyen wants every notification accepted
 * before any business logic and retries an unaccepted batch whole, so an item with an event code outside
 * the spec's list, or a field the bridge cannot read (a success flag other than "true"/"false", an amount
 * that is no integer, a reference that is no string…), is reported to `skipped` and left out on its own,
 * naming the field: the other items of its batch still count; so is an item for another merchant account (a
 * company-level webhook), and every item of a notification from the other Adyen environment (`live`). Throws
 * only for a body that is not a notification.
 */
export function parseAdyenWebhook(rawBody: Buffer, gateway: GatewayConfig, skipped: (item: SkippedWebhookItem) => void = () => undefined): WebhookEvent[] {
  const notification = parseNotification(rawBody);
  if (!notification) throw new GatewayError('invalid_request', gateway.name, 'not an Adyen notification body');
  const { entries } = notification;
  // From the other environment than base_url's (a test webhook pointed at a live endpoint, or the reverse): about
  // no payment of this gateway. Acknowledged and skipped, every item: Adyen delivers a webhook's queue in order,
  // so a refusal would hold back every later notification of that endpoint while it retries for 30 days.
  const ours = adyenEnvironment(gateway.baseUrl);
  if (ours !== undefined && notification.environment !== undefined && notification.environment !== ours) {
    for (const { read } of entries) {
      const names = 'item' in read ? read.item : read;
      skipped({
        reason: 'other_environment',
        eventType: names.eventCode,
        reference: 'item' in read ? skipReference(read.item) : read.pspReference,
        account: names.merchantAccountCode,
        field: 'live',
        problem: `is "${notification.environment === 'live'}" (Adyen's ${notification.environment} environment) while base_url is Adyen's ${ours} environment`,
      });
    }
    return [];
  }
  const events: WebhookEvent[] = [];
  for (const [index, { read }] of entries.entries()) {
    const path = `notificationItems[${index}].NotificationRequestItem`;
    if (!('item' in read)) {
      const names = { eventType: read.eventCode, reference: read.pspReference, account: read.merchantAccountCode };
      if (read.merchantAccountCode !== undefined && !namesOurMerchantAccount(read.merchantAccountCode, gateway)) skipped({ reason: 'other_account', ...names });
      else skipped({ reason: 'unreadable', ...names, field: `${path}.${read.field}`, problem: read.problem });
      continue;
    }
    const item = read.item;
    const code = item.eventCode;
    if (!namesOurMerchantAccount(item.merchantAccountCode, gateway)) {
      skipped({ reason: 'other_account', eventType: code, reference: skipReference(item), account: item.merchantAccountCode });
      continue;
    }
    if (!isAdyenEventCode(code)) {
      skipped({ reason: 'unknown_event_type', eventType: code, reference: skipReference(item), account: item.merchantAccountCode });
      continue;
    }
    if (item.success !== 'true' && item.success !== 'false') {
      skipped({
        reason: 'unreadable',
        eventType: code,
        reference: skipReference(item),
        account: item.merchantAccountCode,
        field: `${path}.success`,
        problem: 'is neither "true" nor "false"',
      });
      continue;
    }
    const status = eventOutcome(code, item.success === 'true');
    const late = adyenLateFact(code, item.success === 'true');
    const notice = eventNotice(code, item.success === 'true');
    if (status === 'ignore' && late === null && notice === null) continue;
    // Every item we act on states its money: a currency that is no ISO 4217 code reaches no outcome or adjustment.
    const currency = readPspCurrency(item.amount.currency);
    if ('problem' in currency) {
      skipped({
        reason: 'unreadable',
        eventType: code,
        reference: skipReference(item),
        account: item.merchantAccountCode,
        field: `${path}.amount.currency`,
        problem: currency.problem,
      });
      continue;
    }
    if (status === 'ignore') {
      if (late !== null) events.push(disputeEvent(item, late));
      const noticed = notice !== null ? noticeEvent(item, notice, path, skipped) : undefined;
      if (noticed !== undefined) events.push(noticed);
      continue;
    }
    const reference = outcomeReference(item);
    const outcome: GatewayOutcome = { status, gatewayStatus: item.eventCode, gatewayReference: reference, settles: outcomeSettles(item, code) };
    // merchantReference may name the payment rather than the modification this is the outcome of (Adyen sends the
    // payment's reference when the modification's is not passed on): its pspReference, the modification's own, then finds it.
    if (isModificationEvent(code)) outcome.referenceIsModification = true;
    // A cancel or refund Adyen made itself (case management cancelling a payment its review rejected, or refunding
    // it when captured) names the payment: what it did, for when no operation of ours claims it.
    const reversal = status === 'SUCCESS' ? pspReversalOf(item) : undefined;
    if (reversal !== undefined) outcome.pspReversal = reversal;
    // amount.value/currency as Adyen confirmed them, in ISO minor units (an inexact one is left out: the outcome still counts).
    withConfirmedMoney(outcome, adyenConfirmedMoney(item.amount));
    if (status === 'FAIL') outcome.reason = item.reason && item.reason !== 'null' ? item.reason : item.eventCode;
    // The scheme rejected the capture as expired: final, and nothing is left of the authorization to capture.
    if (status === 'FAIL' && isExpiredCapture(item)) outcome.reason = AUTHORIZATION_EXPIRED_REASON;
    // A rejection for the account's configuration at Adyen names the scheme's own message: its decline by its ending.
    const rejection = status === 'FAIL' ? adyenSchemeRejection(outcome.reason) : undefined;
    if (rejection !== undefined) outcome.decline = rejection;
    // A capture or refund Adyen retries itself (a technical issue): it may still be done, so its amount stays held, and
    // its decline is that row's (nothing for the OMS to do) however the reason is spelled.
    const technical = status === 'FAIL' && RETRIED_BY_ADYEN.has(code) ? adyenTechnicalIssue(outcome.reason) : undefined;
    if (technical !== undefined) {
      outcome.retriedByPsp = true;
      outcome.decline = technical;
    }
    if (status === 'SUCCESS' && item.eventCode === 'AUTHORISATION' && item.storedToken) outcome.storedToken = item.storedToken;
    // Kept only for an operation that stores its card (the outcome recorder's check), as an answer's is.
    if (status === 'SUCCESS' && item.eventCode === 'AUTHORISATION' && item.storedCard) outcome.storedCard = item.storedCard;
    // The scheme's id of an authorisation settled by this notification (an asynchronous or 3-D Secure one, or an answer
    // lost), recorded and reported as a /payments answer's; the route takes a card-like one as Adyen's only on an item
    // naming an operation of ours (`checkWebhookItem`).
    if (status === 'SUCCESS' && item.eventCode === 'AUTHORISATION' && item.networkTxReference !== undefined)
      outcome.networkTransactionId = item.networkTxReference;
    // When Adyen did it ("the time when the event was generated"), however late the notification came: an
    // authorisation's validity counts from it, and a success is ordered by it against a dated failure of the same
    // modification (a plain CAPTURE against a CAPTURE_FAILED, as a re-capture is), whichever arrives first or again;
    // a refusal (success false) of an operation recorded SUCCEEDED is ordered by it against that success.
    const at = status === 'SUCCESS' || status === 'FAIL' ? eventTime(item) : undefined;
    if (at !== undefined) outcome.occurredAt = at;
    if (at !== undefined && status === 'SUCCESS' && item.eventCode === 'AUTHORISATION') outcome.authorizedAt = at;
    const former = formerOutcomeEventId(item);
    const event: WebhookEvent = {
      eventId: outcomeEventId(item),
      ...(former !== undefined ? { formerEventId: former } : {}),
      gatewayReference: reference,
      account: item.merchantAccountCode,
      outcome,
    };
    // Its id may pass the Luhn check: the route takes it as Adyen's only on an item naming an operation of ours.
    if (outcome.storedToken !== undefined && item.storedTokenId !== undefined) event.storedTokenIds = [item.storedTokenId];
    if (late !== null) event.adjustment = adjustmentFact(item, late);
    if (isRecapture(item)) {
      const recapturedAt = eventTime(item);
      event.recapture = recapturedAt !== undefined ? { occurredAt: recapturedAt } : {};
    }
    // A refund names the payment it refunds (`originalReference`): what it is found by when nothing of ours names it
    // (a refund in the Customer Area, Adyen's own cancel-or-refund), to be told as a refund outside the bridge; so does
    // that refund's later failure or reversal, to be told as that refund's (`webhooks/outside-refund.ts`).
    if (REFUND_EVENTS.has(code) && item.originalReference) event.paymentReference = item.originalReference;
    const operationId = operationIdFromReference(item.merchantReference);
    if (operationId) event.operationId = operationId;
    events.push(event);
  }
  return events;
}

/** The scheme rejections of a capture or refund, which Adyen retries itself when the reason is a technical issue. */
const RETRIED_BY_ADYEN: ReadonlySet<AdyenEventCode> = new Set<AdyenEventCode>(['CAPTURE_FAILED', 'REFUND_FAILED']);

/**
 * The notifications about money given back to the shopper, which name the payment refunded (`originalReference`): a
 * refund, a cancel-or-refund, and a refund's failure (`REFUND_FAILED`) or reversal (`REFUNDED_REVERSED`), whose
 * `pspReference` is the refund's.
 */
const REFUND_EVENTS: ReadonlySet<AdyenEventCode> = new Set<AdyenEventCode>(['REFUND', 'CANCEL_OR_REFUND', 'REFUND_FAILED', 'REFUNDED_REVERSED']);

/**
 * The commands an outcome item settles (`eventSettles`), narrowed for a `CANCEL_OR_REFUND` to what Adyen says it did:
 * a cancel or refund cancels a payment not yet captured and refunds one that is (Adyen's cancel-or-refund docs), and
 * `additionalData.modification.action` (`cancel` or `refund`) says which. A refund is then never reported as a
 * cancel (an authorization released), nor a cancel as a refund; without the field, either may be settled.
 */
function outcomeSettles(item: AdyenNotificationItem, code: AdyenEventCode): readonly CommandType[] {
  const settles = eventSettles(code);
  if (code !== 'CANCEL_OR_REFUND') return settles;
  const action = item.modificationAction?.trim().toLowerCase();
  return action === 'cancel' || action === 'refund' ? [action] : settles;
}

/**
 * What a successful CANCELLATION or CANCEL_OR_REFUND did to the payment: a CANCELLATION cancels; a CANCEL_OR_REFUND
 * cancels a payment not captured and refunds one that is, `additionalData.modification.action` saying which (without
 * it, `cancel_or_refund`: either). Undefined for every other event.
 */
function pspReversalOf(item: AdyenNotificationItem): PspReversal | undefined {
  if (item.eventCode === 'CANCELLATION') return 'cancel';
  if (item.eventCode !== 'CANCEL_OR_REFUND') return undefined;
  const action = item.modificationAction?.trim().toLowerCase();
  return action === 'cancel' || action === 'refund' ? action : 'cancel_or_refund';
}

/**
 * The PSP reference of what an outcome item settles. Its `pspReference` for every outcome but a
 * `TECHNICAL_CANCEL`: that one is the outcome of a cancel by merchant reference (`POST /cancels`), its
 * `pspReference` the cancel request's own, and the payment it cancels is its `originalReference` ("For
 * modifications, this field corresponds to the payment request assigned to the original payment", Webhooks
 * v1), which is what the payment's operation holds and is found by.
 */
function outcomeReference(item: AdyenNotificationItem): string {
  return item.eventCode === 'TECHNICAL_CANCEL' && item.originalReference ? item.originalReference : item.pspReference;
}

/**
 * The id of an outcome item, what Adyen's resends of the same notification share (the webhook route drops a
 * repeat by it): pspReference, eventCode and success. A re-capture (`CAPTURE`, success true, reason "Transaction
 * Recaptured" or "Transaction Auto-recaptured", after `CAPTURE_FAILED`) may name the capture's pspReference again:
 * it also carries its eventDate, or it would read as a repeat of the capture's first success and be dropped. So
 * does a dated `CAPTURE_FAILED`: a capture Adyen re-captured may fail again, under the same pspReference, and that
 * second failure is no resend of the first.
 */
function outcomeEventId(item: AdyenNotificationItem): string {
  const id = `${item.pspReference}:${item.eventCode}:${item.success}`;
  if (isRecapture(item)) return `${id}:recaptured:${item.eventDate ?? ''}`;
  return item.eventCode === 'CAPTURE_FAILED' && item.eventDate ? `${id}:${item.eventDate}` : id;
}

/**
 * The id releases before dated `CAPTURE_FAILED` ids gave the same item (`<pspReference>:CAPTURE_FAILED:<success>`,
 * without its eventDate), when that differs from {@link outcomeEventId}'s: an adjustment an earlier release recorded
 * for it stands under that id, and a resend of it after the upgrade must find it (`WebhookEvent.formerEventId`).
 */
function formerOutcomeEventId(item: AdyenNotificationItem): string | undefined {
  return item.eventCode === 'CAPTURE_FAILED' && item.eventDate ? `${item.pspReference}:${item.eventCode}:${item.success}` : undefined;
}

/**
 * Whether the item is a capture the card scheme rejected because it came too late (`CAPTURE_FAILED`, or a `CAPTURE`
 * refused, whose reason Adyen gives as "Capture rejected by card scheme: <the scheme's message> (capture expired)"):
 * Adyen says such a capture "is final, you can't recapture it" (its help centre, "What is my capture expired?"). Read as
 * the capture's failure `authorization_expired` while it is open; once it SUCCEEDED it stays a `capture_failed`
 * adjustment with Adyen's own text.
 */
function isExpiredCapture(item: AdyenNotificationItem): boolean {
  return (item.eventCode === 'CAPTURE_FAILED' || item.eventCode === 'CAPTURE') && /\(capture expired\)/i.test(item.reason ?? '');
}

/** Adyen capturing again, itself, a capture it reported failed: `CAPTURE`, success true, reason "Transaction (Auto-)Recaptured". */
function isRecapture(item: AdyenNotificationItem): boolean {
  return item.eventCode === 'CAPTURE' && item.success === 'true' && /recaptured/i.test(item.reason ?? '');
}

/** The adjustment part of a late fact: amounts as Adyen reported them, its reason code and time. */
function adjustmentFact(item: AdyenNotificationItem, late: AdyenLateFact): AdjustmentFact {
  // In ISO minor units (Adyen's own minor units differ for a few currencies); an inexact amount is left out.
  const money = adyenConfirmedMoney(item.amount);
  const fact: AdjustmentFact = { ...late, pspReference: item.pspReference };
  if (money.amount !== undefined) fact.amount = money.amount;
  if (money.currency !== undefined) fact.currency = money.currency;
  const code = item.chargebackReasonCode?.trim();
  const reason = code ? code : item.reason && item.reason !== 'null' ? item.reason : undefined;
  if (reason !== undefined) fact.reason = reason;
  const at = eventTime(item);
  if (at !== undefined) fact.occurredAt = at;
  return fact;
}

/**
 * An item's `eventDate` as epoch ms, when it reads as a time: Webhooks v1 gives "ISO 8601; yyyy-MM-DDThh:mm:ssTZD"
 * (e.g. `2021-07-17T13:42:40+01:00`), read strictly (`pspIsoTimeMs`): anything else is no time, nothing is ordered by it.
 */
function eventTime(item: AdyenNotificationItem): number | undefined {
  return pspIsoTimeMs(item.eventDate);
}

/**
 * A dispute notification: about the disputed payment (its `merchantReference`, and `originalReference`
 * its pspReference), never applied as the payment's outcome (the `outcome` here is informational).
 */
function disputeEvent(item: AdyenNotificationItem, late: AdyenLateFact): WebhookEvent {
  const paymentReference = item.originalReference ?? item.pspReference;
  const event: WebhookEvent = {
    eventId: `${item.pspReference}:${item.eventCode}:${item.success}`,
    gatewayReference: paymentReference,
    account: item.merchantAccountCode,
    outcome: { status: 'PENDING', gatewayStatus: item.eventCode, gatewayReference: paymentReference },
    adjustment: adjustmentFact(item, late),
  };
  const operationId = operationIdFromReference(item.merchantReference);
  if (operationId) event.operationId = operationId;
  return event;
}

/**
 * A notice about a payment (`AdyenNotice`): its manual review decided, or the token it stored (RECURRING_CONTRACT).
 * Named as Adyen names the payment: `merchantReference` (our operation id), `originalReference` its pspReference
 * (RECURRING_CONTRACT also `originalPsp`). Its outcome is informational (PENDING, settling nothing): a review's decision
 * moves no money by itself, and a recurring contract is no outcome of the payment. A RECURRING_CONTRACT's own
 * `pspReference` is the token: it is kept out of the event id and of every reference (which reach logs and history),
 * the event naming the payment's pspReference instead. Skipped, naming the field, when a token has no shopper
 * reference to be charged with, or names no payment.
 */
function noticeEvent(item: AdyenNotificationItem, notice: AdyenNotice, path: string, skipped: (item: SkippedWebhookItem) => void): WebhookEvent | undefined {
  const operationId = operationIdFromReference(item.merchantReference);
  const names = { eventType: item.eventCode, account: item.merchantAccountCode };
  if (notice === 'stored_token') {
    const payment = item.originalReference || item.originalPsp || undefined;
    const shopper = item.contractShopperReference?.trim();
    if (!shopper) {
      skipped({
        reason: 'unreadable',
        ...names,
        reference: payment,
        field: `${path}.additionalData.shopperReference`,
        problem: 'is missing: Adyen charges a stored token only with the shopper it is filed under',
      });
      return undefined;
    }
    if (payment === undefined && operationId === undefined) {
      skipped({
        reason: 'unreadable',
        ...names,
        field: `${path}.originalReference`,
        problem: 'is missing, as are originalPsp and a merchantReference of ours: the token names no payment',
      });
      return undefined;
    }
    // Another contract for the same payment is another fact: told apart by its token, which the route digests with a
    // key (`eventIdSecret`), never written. Releases before this one appended an unkeyed digest of it, which a token of
    // digits does not hide: that id is the former one, so a resend of a notification they queued is still found.
    const eventId = `${payment ?? operationId}:${item.eventCode}:${item.success}`;
    const unkeyedDigest = createHash('sha256').update(item.pspReference).digest('hex').slice(0, 16);
    const event: WebhookEvent = {
      eventId,
      eventIdSecret: item.pspReference,
      formerEventId: `${eventId}:${unkeyedDigest}`,
      account: item.merchantAccountCode,
      outcome: { status: 'PENDING', gatewayStatus: item.eventCode, settles: [] },
      storedToken: formatStoredToken({ shopperReference: shopper, storedPaymentMethodId: item.pspReference }),
      // Often all digits, so it may pass the Luhn check: the route takes it as Adyen's only on an item naming an operation of ours.
      storedTokenIds: [item.pspReference],
    };
    if (payment !== undefined) {
      event.gatewayReference = payment;
      event.outcome.gatewayReference = payment;
    }
    if (operationId) event.operationId = operationId;
    return event;
  }
  const payment = item.originalReference || item.pspReference;
  const event: WebhookEvent = {
    eventId: `${item.pspReference}:${item.eventCode}:${item.success}`,
    gatewayReference: payment,
    account: item.merchantAccountCode,
    outcome: { status: 'PENDING', gatewayStatus: item.eventCode, gatewayReference: payment, settles: [] },
    reviewDecision: notice === 'review_accepted' ? 'accepted' : 'rejected',
  };
  if (operationId) event.operationId = operationId;
  return event;
}

/** Adyen expects HTTP 200 with the body `[accepted]`. */
export function adyenWebhookAck(): WebhookAck {
  return { status: 200, body: '[accepted]', contentType: 'text/plain' };
}
