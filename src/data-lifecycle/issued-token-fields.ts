import type { GatewayConfig } from '../gateways/gateway-config';
import { IssuedTokenSecrets, IssuedTokens, issuedTokensOfRecord, sameVault } from '../ledger/issued-tokens';
import { Ledger } from '../ledger/ledger';
import { NETWORK_TRANSACTION_ID_FIELD, hasNetworkTransactionIdShape } from '../logging/network-transaction-id-field';
import { containsCardNumber } from '../logging/redact';
import { RedisClient } from '../redis/redis-connection';
import { OperationSnapshot } from './operation-snapshot';
import { ReferenceVouchers } from './reference-vouchers';

/**
 * What export, retention's archive and import ask the issued-token index with (`src/ledger/issued-tokens.ts`): the bus
 * secrets it is keyed with and the configured gateway entries (their vaults), as the command consumer has them.
 */
export interface IssuedTokenIndexOptions {
  secrets: IssuedTokenSecrets;
  /** Without them, a token is known only for its own gateway entry. */
  gateways?: Readonly<Record<string, GatewayConfig>>;
}

/** The issued-token index of one namespace, as the data lifecycle reads it (never writes it). */
export interface LineTokenIndex {
  readonly tokens: Pick<IssuedTokens, 'gatewaysOf' | 'networkIdGatewaysOf' | 'digest' | 'vouchingDigest' | 'record'>;
  readonly gateways?: Readonly<Record<string, GatewayConfig>>;
  /** Vouchers of card-like `gateway_reference` values, under the same bus secrets (`ReferenceVouchers`). */
  readonly references?: ReferenceVouchers;
}

/** The index of namespace `prefix` (undefined without `options`: every card-like value is masked, as before the index). */
export function lineTokenIndex(redis: RedisClient, prefix: string, options: IssuedTokenIndexOptions | undefined): LineTokenIndex | undefined {
  if (options === undefined) return undefined;
  return {
    tokens: new IssuedTokens(new Ledger(redis, prefix), options.secrets),
    gateways: options.gateways,
    references: new ReferenceVouchers(options.secrets),
  };
}

/** A string that reads as a card number as the line's scan would flag it (what `pspIdentifiersOf` also asks). */
function readsAsCardNumber(v: unknown): v is string {
  return typeof v === 'string' && v.length >= 12 && containsCardNumber(v);
}

/**
 * The PSP's identifiers a snapshot's record holds that read as card numbers: its `gateway_reference` and
 * `new_gateway_key` (Adyen's pspReference: 16 characters, no first-digit rule) and the id of its `stored_token` (after
 * the last `:`; Adyen's storedPaymentMethodId, often all digits), about one in ten of them Luhn-valid. The ledger
 * holds them as the PSP's (a webhook's only when its item names the operation: `webhooks/webhook-item-check.ts`), so
 * they are no card data, there or where the line repeats them (its reference entries, its events); the shopper
 * reference beside the id is not exempt. Empty for almost every line.
 * @param distrusted the record's card-like stored tokens and `gateway_reference` an import could not verify
 *   (`importedTokensOf`): neither they nor their id are exempt.
 */
export function pspIdentifiersOf(snap: OperationSnapshot, distrusted: ReadonlySet<string> = NONE): string[] {
  const record: Record<string, unknown> = snap.record ?? {};
  // A file's record may hold anything there (a number, an object): only a string is an identifier.
  const token = typeof record.stored_token !== 'string' || distrusted.has(record.stored_token) ? undefined : record.stored_token;
  const reference = typeof record.gateway_reference !== 'string' || distrusted.has(record.gateway_reference) ? undefined : record.gateway_reference;
  const newKey = typeof record.new_gateway_key !== 'string' || distrusted.has(record.new_gateway_key) ? undefined : record.new_gateway_key;
  const values = [reference, newKey, token?.slice(token.lastIndexOf(':') + 1)];
  return values.filter(readsAsCardNumber);
}

const NONE: ReadonlySet<string> = new Set();

/** `text`'s `payment` member when it holds a JSON object with one (a record's `payment` is the object itself). */
function paymentOf(text: string | undefined, nested: boolean): Record<string, unknown> | undefined {
  if (typeof text !== 'string' || text.charCodeAt(0) !== 0x7b) return undefined;
  try {
    const parsed = JSON.parse(text) as Record<string, unknown> | null;
    const payment = nested ? parsed?.payment : parsed;
    return payment !== null && typeof payment === 'object' && !Array.isArray(payment) ? (payment as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The values of a line's fields where a stored token belongs: the command's `payment.gateway_key` (a charge of a
 * stored token, a recurring schedule's charge), and in its events' params the payment's `gateway_key`, `token` (the
 * token handed over, the stored-token event's too) and `new_gateway_key`.
 */
function tokenFieldValues(snap: OperationSnapshot): string[] {
  const values: unknown[] = [paymentOf(snap.record?.payment, false)?.gateway_key];
  for (const event of snap.events ?? []) {
    const payment = paymentOf(event.hash?.params, true);
    if (payment) values.push(payment.gateway_key, payment.token, payment.new_gateway_key);
  }
  return values.filter((v): v is string => typeof v === 'string');
}

/**
 * The card-like values of a line's `payment.recurring.network_transaction_id` (a recurring cycle quoting its first
 * payment's id): in its command's payment and in its events' params' payment. That one field only: the same digits
 * anywhere else are never asked about.
 */
export function recurringNetworkIdsOf(snap: OperationSnapshot): string[] {
  const payments = [paymentOf(snap.record?.payment, false), ...(snap.events ?? []).map((event) => paymentOf(event.hash?.params, true))];
  const ids = payments.map((payment) => {
    const recurring = payment?.recurring;
    return recurring !== null && typeof recurring === 'object' && !Array.isArray(recurring)
      ? (recurring as Record<string, unknown>)[NETWORK_TRANSACTION_ID_FIELD]
      : undefined;
  });
  return [...new Set(ids.filter((id): id is string => hasNetworkTransactionIdShape(id) && readsAsCardNumber(id)))];
}

/** `text` parsed when it holds a JSON object (a history entry, an event's params), else undefined. */
function objectOf(text: string | undefined): Record<string, unknown> | undefined {
  if (typeof text !== 'string' || text.charCodeAt(0) !== 0x7b) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The card-like values (`IssuedTokens.cardLike`) of a line's network transaction ids where the bridge writes a PSP's
 * own: the record's `network_transaction_id`, an `outcome` history entry's, its events' `payment.network_transaction_id`.
 * Export keeps those whole (the bridge wrote them); an import asks the index about them (`importedTokensOf`).
 */
export function ownNetworkIdsOf(snap: OperationSnapshot): string[] {
  const ids: unknown[] = [snap.record?.[NETWORK_TRANSACTION_ID_FIELD]];
  // Only a text naming the field is parsed (an outcome entry or an event of a success with an id: few of a line's).
  const names = (text: unknown): text is string => typeof text === 'string' && text.includes(NETWORK_TRANSACTION_ID_FIELD);
  for (const entry of snap.history ?? []) {
    const parsed = names(entry) ? objectOf(entry) : undefined;
    if (parsed?.event === 'outcome') ids.push(parsed[NETWORK_TRANSACTION_ID_FIELD]);
  }
  for (const event of snap.events ?? []) {
    const params = event.hash?.params;
    if (names(params)) ids.push(paymentOf(params, true)?.[NETWORK_TRANSACTION_ID_FIELD]);
  }
  return [...new Set(ids.filter((id): id is string => hasNetworkTransactionIdShape(id) && IssuedTokens.cardLike(id)))];
}

/** The gateway entries the line's operation names: its command's, and the one it was routed to. */
function lineGateways(snap: OperationSnapshot): string[] {
  const gateways: string[] = [];
  for (const field of ['payment', 'routing']) {
    const gateway = paymentOf(snap.record?.[field], false)?.gateway;
    if (typeof gateway === 'string' && gateway !== '') gateways.push(gateway);
  }
  return gateways;
}

/** What the issued-token index holds of one line's card-like stored tokens (`issuedTokensOfLines`). */
export interface LineTokens {
  /** Card-like values of its token fields (`tokenFieldValues`) held for the line's vault: kept whole, not card data. */
  kept: string[];
  /** Those and the record's own card-like tokens (`issuedTokensOfRecord`) held for the line's vault, with their entry's gateway. */
  issued: { token: string; gateway: string }[];
  /**
   * Card-like values of its `payment.recurring.network_transaction_id` (`recurringNetworkIdsOf`) the index holds as
   * network transaction ids the bridge reported (at any gateway: a scheme's id is bound to no vault, as the intake
   * accepts it): the bridge's own, kept whole there and not card data.
   */
  networkIds: string[];
}

/**
 * A card-like stored token's keyed digest (the issued-token index's, under the exporting deployment's current bus
 * secret: never the token, never an unkeyed digest) on an export line, with the gateway the index held it for: an
 * import under that secret (current or previous) notes the token as issued again (`importedTokensOf`).
 */
export interface IssuedTokenVoucher {
  digest: string;
  gateway: string;
}

/**
 * For each line of a page, the card-like values in its token fields (`tokenFieldValues`) that the bridge issued at
 * the line's gateway or an entry of its vault (as the consumer's `issuedTokenOf` checks a command): those are stored
 * tokens, no card data; and its record's own card-like tokens the index holds so. Only token-field values the line's
 * own PSP identifiers do not already explain are asked about, all of the page's in one batched read of the index
 * (`IssuedTokens.gatewaysOf`); a page without any asks Redis nothing. Without an index: none.
 */
export async function issuedTokensOfLines(index: LineTokenIndex | undefined, snaps: readonly OperationSnapshot[]): Promise<LineTokens[]> {
  const asked = snaps.map((snap) => {
    if (index === undefined) return { fields: [], own: [], ids: [] };
    const identifiers = pspIdentifiersOf(snap);
    const left = (v: string) => identifiers.reduce((text, id) => text.split(id).join('~'), v);
    const fields = [...new Set(tokenFieldValues(snap).filter((v) => readsAsCardNumber(v) && readsAsCardNumber(left(v))))];
    return { fields, own: snap.record ? issuedTokensOfRecord(snap.record).tokens : [], ids: recurringNetworkIdsOf(snap) };
  });
  const all = [...new Set(asked.flatMap((a) => [...a.fields, ...a.own]))];
  const allIds = [...new Set(asked.flatMap((a) => a.ids))];
  if (index === undefined || all.length + allIds.length === 0) return asked.map(() => ({ kept: [], issued: [], networkIds: [] }));
  // Both batched reads of the page at once; a page without a card-like value of either kind asks Redis nothing.
  const [found, foundIds] = await Promise.all([index.tokens.gatewaysOf(all), index.tokens.networkIdGatewaysOf(allIds)]);
  const gatewayOf = new Map(all.map((token, i) => [token, found[i]]));
  const reported = new Set(allIds.filter((_id, i) => foundIds[i] !== null));
  return asked.map(({ fields, own, ids }, n) => {
    const gateways = lineGateways(snaps[n]);
    const issuedAt = (token: string) => {
      const at = gatewayOf.get(token);
      return typeof at === 'string' && gateways.some((g) => sameVault(at, g, index.gateways)) ? at : undefined;
    };
    const kept = fields.filter((token) => issuedAt(token) !== undefined);
    const issued = [...new Set([...own, ...kept])].flatMap((token) => {
      const gateway = issuedAt(token);
      return gateway === undefined ? [] : [{ token, gateway }];
    });
    return { kept, issued, networkIds: ids.filter((id) => reported.has(id)) };
  });
}

/**
 * `snap` as an export or archive line: with the vouchers (`IssuedTokenVoucher`) of the card-like stored tokens the
 * index holds for it (`LineTokens.issued`), so an import after the index was lost notes them again. Unchanged without.
 */
export function withIssuedTokenVouchers(snap: OperationSnapshot, index: LineTokenIndex | undefined, tokens: LineTokens): OperationSnapshot {
  if (index === undefined) return snap;
  // The record's card-like PSP reference gets the export's voucher (`ReferenceVouchers`), which import checks.
  const reference = snap.record?.gateway_reference;
  const voucher = index.references && readsAsCardNumber(reference) ? { reference_voucher: index.references.voucher(snap.id, reference) } : {};
  if (tokens.issued.length === 0) return { ...snap, ...voucher };
  return { ...snap, issued_tokens: tokens.issued.map(({ token, gateway }) => ({ digest: index.tokens.digest(token), gateway })), ...voucher };
}

/** What an import does with one line's card-like stored tokens (`importedTokensOf`). */
export interface ImportedTokens {
  /** Set aside while the line is scanned (kept whole, not card data): the index holds them, or the line vouches for them. */
  kept: string[];
  /** Tokens to note in the namespace's index before the line is written: vouched for by the line, not yet held. */
  toIndex: { token: string; gateway: string }[];
  /**
   * The record's card-like stored tokens neither held nor vouched for, and its card-like `gateway_reference` without
   * the export's voucher (`ReferenceVouchers`): masked and counted as card data.
   */
  distrusted: ReadonlySet<string>;
  /** Whether its card-like `gateway_reference` is among `distrusted` (the import's `gatewayReferencesMasked`). */
  referenceDistrusted: boolean;
  /** How many of `kept` are values of its token fields, not the record's own tokens (`issued_tokens_kept`). */
  fieldsKept: number;
  /**
   * Card-like values of its `payment.recurring.network_transaction_id` the namespace's index holds as network ids the
   * bridge reported (`LineTokens.networkIds`): kept whole in that field only. A line cannot vouch for one.
   */
  networkIds: string[];
  /**
   * Card-like values of its own network transaction id fields (`ownNetworkIdsOf`) the namespace's index holds as ids the
   * bridge reported: kept whole there. Any other card-like value there is masked and counted (a file may have been
   * edited to carry a card number in them); one of no card number's shape is kept whatever the index holds.
   */
  ownNetworkIds: string[];
}

/**
 * The vouchers of an import line, as far as they have the shape export writes (a file may hold anything): a gateway
 * name of a configuration's shape, which must still be the line's gateway or of its vault (`importedTokensOf`).
 */
function vouchersOf(snap: OperationSnapshot): IssuedTokenVoucher[] {
  const raw = (snap as { issued_tokens?: unknown }).issued_tokens;
  if (!Array.isArray(raw)) return [];
  return raw.filter((v): v is IssuedTokenVoucher => {
    const { digest, gateway } = (v ?? {}) as Partial<Record<keyof IssuedTokenVoucher, unknown>>;
    return typeof digest === 'string' && typeof gateway === 'string' && GATEWAY_NAME.test(gateway);
  });
}

const GATEWAY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * For each line of an import batch: the card-like stored tokens kept (held by the namespace's index for the line's
 * vault: `issuedTokensOfLines`; or vouched for by the line, the token's keyed digest under the importing deployment's
 * current or previous bus secret, which only an export by the bridge with that secret can name), the ones to note in
 * the index again (vouched for, not held: a restore after Redis lost the index), and the record's own card-like
 * tokens that are neither (a file edited to hold a card number as a token): those are no PSP identifier of the line.
 * And the card-like `payment.recurring.network_transaction_id` values the namespace's index holds as ids the bridge
 * reported (`LineTokens.networkIds`: the index's word only, never the file's), and so the card-like values of its own
 * network transaction id fields (`ImportedTokens.ownNetworkIds`). Without an index (no secrets), nothing is kept and every
 * card-like stored token of a record is distrusted.
 */
export async function importedTokensOf(index: LineTokenIndex | undefined, snaps: readonly OperationSnapshot[]): Promise<ImportedTokens[]> {
  const ownIds = index === undefined ? [] : snaps.map(ownNetworkIdsOf);
  const askedIds = [...new Set(ownIds.flat())];
  // The batch's own ids in one batched read beside the page's (almost every batch has none, and asks nothing for them).
  const [held, foundIds] = await Promise.all([
    issuedTokensOfLines(index, snaps),
    index === undefined || askedIds.length === 0 ? Promise.resolve([]) : index.tokens.networkIdGatewaysOf(askedIds),
  ]);
  const reportedIds = new Set(askedIds.filter((_id, i) => foundIds[i] !== null));
  return snaps.map((snap, n) => {
    const own = snap.record ? issuedTokensOfRecord(snap.record).tokens : [];
    // A card-like PSP reference is kept only with the export's voucher for it: a file may have been edited to hold a card number there.
    const reference = snap.record?.gateway_reference;
    const referenceDistrusted = readsAsCardNumber(reference) && !(index?.references?.vouches(snap.id, reference, snap.reference_voucher) ?? false);
    const unvouched = referenceDistrusted ? [reference] : [];
    if (index === undefined) {
      return { kept: [], toIndex: [], distrusted: new Set([...own, ...unvouched]), referenceDistrusted, fieldsKept: 0, networkIds: [], ownNetworkIds: [] };
    }
    const known = new Set(held[n].issued.map((t) => t.token));
    const vouchers = vouchersOf(snap);
    const candidates = [...new Set([...own, ...tokenFieldValues(snap).filter(readsAsCardNumber)])].filter((t) => !known.has(t));
    // A voucher names the line's gateway or one of its vault (a token is noted only where the line's operation was).
    const gateways = lineGateways(snap);
    const gatewayOf = new Map(vouchers.filter((v) => gateways.some((g) => sameVault(v.gateway, g, index.gateways))).map((v) => [v.digest, v.gateway]));
    const digests = new Set(gatewayOf.keys());
    const toIndex = candidates.flatMap((token) => {
      const digest = digests.size === 0 ? undefined : index.tokens.vouchingDigest(token, digests);
      return digest === undefined ? [] : [{ token, gateway: gatewayOf.get(digest)! }];
    });
    const vouched = new Set(toIndex.map((t) => t.token));
    const kept = [...new Set([...held[n].kept, ...own.filter((t) => known.has(t)), ...vouched])];
    const distrusted = new Set([...own.filter((t) => !known.has(t) && !vouched.has(t)), ...unvouched]);
    const ownNetworkIds = ownIds[n].filter((id) => reportedIds.has(id));
    return {
      kept,
      toIndex,
      distrusted,
      referenceDistrusted,
      fieldsKept: kept.filter((t) => !own.includes(t)).length,
      networkIds: held[n].networkIds,
      ownNetworkIds,
    };
  });
}
