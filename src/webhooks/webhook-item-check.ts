import { GatewayConfig } from '../config/config';
import { holdsCardNumber } from '../contracts/card-data-policy';
import { ModificationReading, UnmarkedWebhookItem, WebhookEvent } from '../gateways/gateway-adapter';
import { withSafeReason } from '../gateways/outcome-text';
import { hasOperationIdShape } from '../ledger/operation-id';
import { HashDigest } from '../logging/hash-digest';
import { hasNetworkTransactionIdShape } from '../logging/network-transaction-id-field';
import { isIsoCurrencyCode } from '../money/currencies';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';
import { configuredAccount } from './outcome-scope';
import { WebhookDigestKeys, holdsCardNumberBeyond, webhookEventIdOf, webhookEventKey, webhookValueDigest } from './webhook-event-key';

/**
 * Why the route leaves out an item the gateway read (a label `reason` of `pb_webhook_items_skipped_total`,
 * beside the gateway's own reasons): an operation id of a shape we never make (`not_our_operation`), a
 * card number that is no identifier of ours (`card_number`), or a currency that is no upper-case ISO 4217
 * code (`unreadable`: each gateway refuses the PSP's field first; this holds for any gateway).
 */
export type WebhookItemRefusal = 'not_our_operation' | 'card_number' | 'unreadable';

/** What the route asks the ledger, only about an item with a card-number-like identifier. */
export interface WebhookOperationLookup {
  /** Whether operation `id` is in the ledger. */
  hasOperation(id: string): Promise<boolean>;
  /** The operation the reference index holds `reference` of `gateway` for, or null. */
  operationOfReference(gateway: string, reference: string): Promise<string | null>;
}

/** A verified item the route leaves out, with what its log line may say. */
export interface SkippedWebhookOutcome {
  kind: 'skip';
  reason: WebhookItemRefusal;
  /** Where the value that decided it is (`operationId`, `gatewayReference`, `outcome.currency`…), never the value. */
  field: string;
  /** The value's keyed digest (`webhookValueDigest`), for the log line (`value_hmac`). */
  digest: HashDigest;
  /** The event id as a key may hold it (see `webhookEventKey`). */
  eventKey: string;
}

/** What becomes of one item: its outcome job's data (its id made of `data.eventId`), or skipped. */
export type WebhookItemVerdict =
  | {
      kind: 'queue';
      data: GatewayOutcomeJobData;
      /**
       * The event id (as `data.eventId` is keyed) an earlier release queued this very notification under, for an event
       * told apart by its `eventIdSecret`: a job held under it is this notification's. Never in `data` (it holds an
       * unkeyed digest of the secret).
       */
      formerJobEventId?: string;
      /**
       * Set when a stored method's id the item carries (`WebhookEvent.storedTokenIds`) reads as a card number and was
       * taken as the PSP's, the item naming an operation of ours: the route counts it and says so on an info line.
       */
      cardLikeToken?: true;
    }
  | SkippedWebhookOutcome;

/** The PSP's references an event carries, by field. */
function pspReferences(event: WebhookEvent): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  const add = (field: string, value: string | undefined): void => {
    if (value !== undefined) found.push([field, value]);
  };
  add('gatewayReference', event.gatewayReference);
  add('outcome.gatewayReference', event.outcome.gatewayReference);
  add('outcome.newGatewayKey', event.outcome.newGatewayKey);
  add('adjustment.pspReference', event.adjustment?.pspReference);
  add('paymentReference', event.paymentReference);
  return found;
}

/** Whether the ledger indexed `reference` (a PSP's id) to an operation of gateway `name`. */
async function referenceIsOurs(lookup: WebhookOperationLookup, name: string, reference: string | undefined): Promise<boolean> {
  return reference !== undefined && (await lookup.operationOfReference(name, reference)) !== null;
}

/**
 * Whether an item about a PSP object that carries no mark of ours (`WebhookEvent.unmarked`) is about an operation of
 * ours all the same: the gateway's reference index holds one of its `references`, or its `requestKey` is an operation
 * id the ledger holds (asked only for a value of our ids' shape). One or two reads per such item; an item the gateway
 * marks as ours costs none. False: another integration's object, which the route skips (`not_ours`).
 */
export async function isUnmarkedItemOurs(unmarked: UnmarkedWebhookItem, name: string, lookup: WebhookOperationLookup): Promise<boolean> {
  for (const reference of unmarked.references) if (await referenceIsOurs(lookup, name, reference)) return true;
  const key = unmarked.requestKey;
  return key !== undefined && hasOperationIdShape(key) && (await lookup.hasOperation(key));
}

/**
 * The first string in `value` holding a card number beyond the `known` values, with its path, or null.
 * Strings only: the numbers here are amounts and times the transformers read, never a PSP's text.
 */
function cardNumberIn(value: unknown, known: readonly string[], path: string): { path: string; text: string } | null {
  if (typeof value === 'string') return holdsCardNumberBeyond(value, known) ? { path, text: value } : null;
  if (value === null || typeof value !== 'object') return null;
  const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((v) => ['[]', v]) : Object.entries(value);
  for (const [key, item] of entries) {
    const found = cardNumberIn(item, known, key === '[]' ? `${path}[]` : path ? `${path}.${key}` : key);
    if (found !== null) return found;
  }
  return null;
}

/**
 * An item's modification reading as it may be queued: its outcome's free text masked, and the operation id it names
 * held to the item's own rule (of our ids' shape; holding a card number only when it is an operation of ours, then
 * added to `known`). A reading whose id fails that is left out, the item kept: the outcome worker then applies the
 * item's outcome to the operation it names, as without a reading.
 */
async function modificationReading(event: WebhookEvent, lookup: WebhookOperationLookup, known: string[]): Promise<ModificationReading | undefined> {
  return event.modification === undefined ? undefined : checkedReading(event.modification, lookup, known);
}

/** `reading` as it may be queued (see `modificationReading`), and each of its `others` alike (one failing is left out). */
async function checkedReading(reading: ModificationReading, lookup: WebhookOperationLookup, known: string[]): Promise<ModificationReading | undefined> {
  const id = reading.operationId;
  if (id !== undefined && !hasOperationIdShape(id)) return undefined;
  if (id !== undefined && holdsCardNumber(id)) {
    if (!(await lookup.hasOperation(id))) return undefined;
    known.push(id);
  }
  const checked: ModificationReading = { ...reading, outcome: withSafeReason(reading.outcome) };
  if (reading.others !== undefined) {
    const others: ModificationReading[] = [];
    for (const other of reading.others) {
      const kept = await checkedReading(other, lookup, known);
      if (kept !== undefined) others.push(kept);
    }
    checked.others = others;
  }
  return checked;
}

/**
 * Decides, before anything is queued (Redis), whether a verified item the gateway read becomes an outcome
 * job, with which data and id. A card number is never written there, but a PSP's reference cannot be
 * dropped for looking like one: Adyen's pspReference is 16 characters with no documented first-digit rule,
 * so a real one can start with 2 to 6 and pass the Luhn check. So:
 * - an operation id (ours, echoed by the PSP) not of our ids' shape (`hasOperationIdShape`) names no
 *   operation of ours: skipped, `not_our_operation`; unless the item is a refund naming its payment
 *   (`paymentReference`): then the id is dropped (never queued) and the payment is found by its reference;
 * - an operation id, or a PSP reference, holding a card number is kept only when the item names an
 *   operation of ours: its operation id is in the ledger, or its reference in the reference index (where
 *   the PSP's synchronous answer put it). The number is then the PSP's reference for our operation (or the
 *   digits of our own id), and the item goes on as any other; otherwise it is skipped, `card_number`;
 * - so is the id of a method the PSP stored (`storedTokenIds`: Adyen's `storedPaymentMethodId` /
 *   `recurringDetailReference`, 16 characters, often all digits) that reads as a card number: taken as the PSP's
 *   inside the token (`storedToken`, `outcome.storedToken`) on an item naming an operation of ours (`cardLikeToken`),
 *   a card number on any other, which the scan below then skips (`card_number`, the token's field). Only the id: a
 *   card number elsewhere in the token (its shopper reference) still skips the item;
 * - so is the scheme's id of the payment the gateway read into its own field (`outcome.networkTransactionId`: Adyen's
 *   AUTHORISATION `networkTxReference`; a Visa id is 15 digits and may pass the Luhn check): kept whole in that field
 *   on an item naming an operation of ours (the outcome recorder writes it as the PSP's, and the log redactor passes
 *   only that), a card number on any other (`card_number`, `outcome.networkTransactionId`); only that field: the same
 *   digits in any other field are scanned as ever;
 * - the event id, with the keyed digest of its `eventIdSecret` (`webhookEventIdOf`), becomes `webhookEventKey` (a
 *   digest when it holds a card number beyond those references, a lone surrogate, or is very long);
 * - the job's data, the PSP's free text masked (`withSafeReason`), must then hold no card number beyond
 *   those references, those stored method ids and the gateway's own account (a currency, an account, a token holding one):
 *   otherwise skipped, `card_number`;
 * - a modification reading naming an operation id that fails the rules above is left out (`modificationReading`);
 * - an outcome's, adjustment's or modification's currency that is no upper-case ISO 4217 code: skipped, `unreadable`.
 * The ledger is asked only about an item with a card-number-like identifier or stored method id (`holdsCardNumber` first
 * checks for 12 digits), so the ordinary item costs no round trip. `keys` ({@link webhookDigestKeys}) key the digests.
 */
export async function checkWebhookItem(
  event: WebhookEvent,
  name: string,
  gateway: GatewayConfig,
  lookup: WebhookOperationLookup,
  keys: WebhookDigestKeys,
): Promise<WebhookItemVerdict> {
  const skip = (reason: WebhookItemRefusal, field: string, value: string): SkippedWebhookOutcome => ({
    kind: 'skip',
    reason,
    field,
    digest: webhookValueDigest(keys, value),
    eventKey: webhookEventKey(keys, webhookEventIdOf(keys, event)),
  });
  // A refund names its payment too (`paymentReference`): a merchant reference no operation id can be (typed in the
  // PSP's back office) names nothing of ours, and the payment is found by its reference instead of the item skipped.
  const shapeless = event.operationId !== undefined && !hasOperationIdShape(event.operationId);
  const operationId = shapeless && event.paymentReference !== undefined ? undefined : event.operationId;
  if (operationId !== undefined && !hasOperationIdShape(operationId)) return skip('not_our_operation', 'operationId', operationId);
  let ours: Promise<boolean> | undefined;
  const operationIsOurs = (): Promise<boolean> => (ours ??= operationId === undefined ? Promise.resolve(false) : lookup.hasOperation(operationId));
  const ownId = operationId !== undefined && holdsCardNumber(operationId);
  if (ownId && !(await operationIsOurs())) return skip('card_number', 'operationId', operationId);
  const suspects = pspReferences(event).filter(([, value]) => holdsCardNumber(value));
  // The PSP's id of a method it stored (Adyen's 16 characters, often all digits) that reads as a card number, and the
  // scheme's id of the payment the gateway read into its own field (a Visa one is 15 digits and may pass the Luhn check).
  const tokenIds = (event.storedTokenIds ?? []).filter((id) => holdsCardNumber(id));
  const networkId = event.outcome.networkTransactionId;
  const networkIds = networkId !== undefined && hasNetworkTransactionIdShape(networkId) && holdsCardNumber(networkId) ? [networkId] : [];
  let named = false;
  if (suspects.length > 0 || tokenIds.length > 0 || networkIds.length > 0) {
    named =
      (await operationIsOurs()) ||
      (await referenceIsOurs(lookup, name, event.gatewayReference)) ||
      (await referenceIsOurs(lookup, name, event.paymentReference));
    if (!named && suspects.length > 0) return skip('card_number', suspects[0][0], suspects[0][1]);
  }
  const known = suspects.map(([, value]) => value);
  // Taken as the PSP's only for an item naming an operation of ours; elsewhere the scan below finds it and skips the
  // item. Kept out of `known` for the event key: an event id holding a token in clear is still digested (it is logged).
  const tokens = named ? tokenIds : [];
  // The scheme's id is the PSP's in its own field only (never a `known` value, which would pass the same digits
  // anywhere in the item: a 16-digit card number holding a 15-digit id).
  const ownNetworkId = named && networkIds.length > 0;
  if (ownId) known.push(operationId);
  const modification = await modificationReading(event, lookup, known);
  const eventId = webhookEventKey(keys, webhookEventIdOf(keys, event), known);
  const data: GatewayOutcomeJobData = {
    gateway: name,
    eventId,
    // Keyed as an earlier release keyed it (`webhookEventKey` is the same for the same id), so it names its adjustment;
    // except a former id holding a card number, which releases before the keyed digest wrote as `sha256:`.
    ...(event.formerEventId !== undefined && event.eventIdSecret === undefined ? { formerEventId: webhookEventKey(keys, event.formerEventId, known) } : {}),
    operationId,
    gatewayReference: event.gatewayReference,
    ...(event.paymentReference !== undefined ? { paymentReference: event.paymentReference } : {}),
    account: event.account,
    // The PSP's free text is masked before it is queued (Redis), stored and sent on.
    outcome: withSafeReason(event.outcome),
    ...(event.adjustment ? { adjustment: withSafeReason(event.adjustment) } : {}),
    ...(event.recapture ? { recapture: event.recapture } : {}),
    ...(modification ? { modification } : {}),
    ...(event.reviewDecision !== undefined ? { reviewDecision: event.reviewDecision } : {}),
    ...(event.storedToken !== undefined ? { storedToken: event.storedToken } : {}),
  };
  // The event id was decided above (a digest's hex is no text to scan); the gateway's own account is ours.
  const scanned = { ...data, eventId: '', formerEventId: '', ...(ownNetworkId ? { outcome: { ...data.outcome, networkTransactionId: '' } } : {}) };
  const found = cardNumberIn(scanned, [...known, ...tokens, configuredAccount(gateway)], '');
  if (found !== null) return skip('card_number', found.path, found.text);
  // Money in a currency that is no ISO 4217 code reaches no outcome, adjustment or event.
  const currencies: Array<readonly [string, unknown]> = [
    ['outcome.currency', data.outcome.currency],
    ['adjustment.currency', data.adjustment?.currency],
    ['modification.outcome.currency', data.modification?.outcome.currency],
    ...(data.modification?.others ?? []).map((o, k) => [`modification.others[${k}].outcome.currency`, o.outcome.currency] as const),
  ];
  for (const [field, currency] of currencies) {
    if (currency !== undefined && !(typeof currency === 'string' && isIsoCurrencyCode(currency))) return skip('unreadable', field, String(currency));
  }
  const cardLike = tokens.length > 0 ? { cardLikeToken: true as const } : {};
  if (event.eventIdSecret !== undefined && event.formerEventId !== undefined) {
    return { kind: 'queue', data, formerJobEventId: webhookEventKey(keys, event.formerEventId, known), ...cardLike };
  }
  return { kind: 'queue', data, ...cardLike };
}
