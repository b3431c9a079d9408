import type { GatewayConfig } from '../gateways/gateway-config';
import { IssuedTokenSecrets, IssuedTokens, sameVault } from '../ledger/issued-tokens';
import { Ledger } from '../ledger/ledger';
import { containsCardNumber } from '../logging/redact';
import { RedisClient } from '../redis/redis-connection';
import { OperationSnapshot } from './operation-snapshot';

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
  readonly tokens: Pick<IssuedTokens, 'gatewaysOf'>;
  readonly gateways?: Readonly<Record<string, GatewayConfig>>;
}

/** The index of namespace `prefix` (undefined without `options`: every card-like value is masked, as before the index). */
export function lineTokenIndex(redis: RedisClient, prefix: string, options: IssuedTokenIndexOptions | undefined): LineTokenIndex | undefined {
  if (options === undefined) return undefined;
  return { tokens: new IssuedTokens(new Ledger(redis, prefix), options.secrets), gateways: options.gateways };
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
 */
export function pspIdentifiersOf(snap: OperationSnapshot): string[] {
  const record: Record<string, string> = snap.record ?? {};
  const token = record.stored_token;
  const values = [record.gateway_reference, record.new_gateway_key, token?.slice(token.lastIndexOf(':') + 1)];
  return values.filter(readsAsCardNumber);
}

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

/** The gateway entries the line's operation names: its command's, and the one it was routed to. */
function lineGateways(snap: OperationSnapshot): string[] {
  const gateways: string[] = [];
  for (const field of ['payment', 'routing']) {
    const gateway = paymentOf(snap.record?.[field], false)?.gateway;
    if (typeof gateway === 'string' && gateway !== '') gateways.push(gateway);
  }
  return gateways;
}

/**
 * For each line of a page, the card-like values in its token fields (`tokenFieldValues`) that the bridge issued at
 * the line's gateway or an entry of its vault (as the consumer's `issuedTokenOf` checks a command): those are stored
 * tokens, no card data. Only values the line's own PSP identifiers do not already explain are asked about, all of the
 * page's in one batched read of the index (`IssuedTokens.gatewaysOf`); a page without any asks Redis nothing.
 * Without an index: none.
 */
export async function issuedTokensOfLines(index: LineTokenIndex | undefined, snaps: readonly OperationSnapshot[]): Promise<string[][]> {
  const asked = snaps.map((snap) => {
    const identifiers = pspIdentifiersOf(snap);
    const left = (v: string) => identifiers.reduce((text, id) => text.split(id).join('~'), v);
    return index === undefined ? [] : [...new Set(tokenFieldValues(snap).filter((v) => readsAsCardNumber(v) && readsAsCardNumber(left(v))))];
  });
  const all = [...new Set(asked.flat())];
  if (index === undefined || all.length === 0) return asked.map(() => []);
  const found = await index.tokens.gatewaysOf(all);
  const gatewayOf = new Map(all.map((token, i) => [token, found[i]]));
  return asked.map((tokens, n) => {
    const gateways = lineGateways(snaps[n]);
    return tokens.filter((token) => {
      const issuedAt = gatewayOf.get(token);
      return typeof issuedAt === 'string' && gateways.some((g) => sameVault(issuedAt, g, index.gateways));
    });
  });
}
