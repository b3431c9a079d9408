import { createHmac } from 'node:crypto';
import { purposeKey } from '../config/purpose-key';
import { IssuedTokenValues, cardLikeNetworkIdOf, cardLikeTokenOf, holdsCardNumber } from '../contracts/card-data-policy';
import type { GatewayConfig } from '../gateways/gateway-config';
import { gatewayVaults } from '../gateways/gateway-vaults';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import type { RedisConfig } from '../redis/redis-config';
import type { Ledger } from './ledger';
import { replicaShortfall, unreplicatedError } from './replica-acks';

/** What `purposeKey` derives the index's digest key for, from `service_bus.secret`. */
const PURPOSE = 'issued token index v1';
/**
 * The same for a network transaction id the bridge reported: another key, so an id and a stored token of the same
 * digits are two entries, and an id reported lets nothing through in `payment.gateway_key` (nor a token in the id's field).
 */
const NETWORK_ID_PURPOSE = 'reported network transaction id index v1';

const recorded = counter(
  'pb_issued_tokens_indexed_total',
  'Stored tokens, and network transaction ids the bridge reports, that read as a card number noted in the issued-token index as the bridge hands them to the OMS (so the intake accepts them back in payment.gateway_key, payment.recurring.network_transaction_id), by gateway',
  ['gateway'],
);

/** The bus secrets the index digests under: the current one, and the one before it while a rotation is under way. */
export interface IssuedTokenSecrets {
  readonly secret: string;
  /** '' when no rotation is under way. */
  readonly secretPrevious: string;
}

/**
 * The index of the stored tokens the bridge handed the OMS that read as a card number (an Adyen
 * `storedPaymentMethodId` of 16 digits passing the Luhn check, about one in ten), so the intake can tell such a
 * token, sent back in `payment.gateway_key`, from a card number, which it still refuses. Only those tokens are
 * noted (any other passes the card scan anyway), and never the token itself: the key is its HMAC-SHA-256 under a
 * key derived from `service_bus.secret` for this one purpose (an unkeyed digest of 16 digits is found by trying
 * them), the value its gateway. A rotation of the secret keeps the previous one as `secret_previous`: an entry
 * found under it is written again under the current one at its next use (docs/RUNBOOK.md).
 */
export class IssuedTokens {
  private readonly keys: readonly Buffer[];
  private readonly networkIdKeys: readonly Buffer[];

  /**
   * @param redis with `replica_acks`, an entry written is confirmed on that many replicas before `record` resolves: the
   *   entry lives in the digest's shard, on another node than the operation whose event later tells the OMS the token,
   *   and that event's own confirmation does not cover it.
   */
  constructor(
    private readonly ledger: Pick<Ledger, 'indexIssuedToken' | 'issuedTokenGateway' | 'dropIssuedToken'> &
      Partial<Pick<Ledger, 'issuedTokenAcknowledged' | 'issuedTokenGateways'>>,
    secrets: IssuedTokenSecrets,
    private readonly redis: Pick<RedisConfig, 'replicaAcks'> = {},
  ) {
    const current = [secrets.secret, secrets.secretPrevious].filter((s) => s !== '');
    this.keys = current.map((s) => purposeKey(s, PURPOSE));
    this.networkIdKeys = current.map((s) => purposeKey(s, NETWORK_ID_PURPOSE));
  }

  /** Whether `token` reads as a card number, so only the index lets it through the intake (the others never ask). */
  static cardLike(token: string): boolean {
    return holdsCardNumber(token);
  }

  /** The token's keyed digest (hex) under the current key, or under `keys[i]`; over its UTF-16 code units, lossless. */
  digest(token: string, i = 0): string {
    return createHmac('sha256', this.keys[i]).update(Buffer.from(token, 'utf16le')).digest('hex');
  }

  /**
   * Notes `token` of `gateway`, before the bridge records it for the OMS (so a token the OMS holds is always
   * indexed). A token that does not read as a card number is not noted (no write).
   * @returns whether it was noted.
   */
  async record(token: string, gateway: string): Promise<boolean> {
    if (!IssuedTokens.cardLike(token)) return false;
    await this.note(this.digest(token), gateway);
    return true;
  }

  /** A reported network transaction id's keyed digest (hex) under the current key, or under `networkIdKeys[i]`. */
  networkIdDigest(id: string, i = 0): string {
    return createHmac('sha256', this.networkIdKeys[i]).update(Buffer.from(id, 'utf16le')).digest('hex');
  }

  /**
   * Notes `id`, the network transaction id a PSP of `gateway` named for a payment, before the bridge records it for the
   * OMS (its SUCCESS event's `payment.network_transaction_id`), so the OMS quoting it back in
   * `payment.recurring.network_transaction_id` is accepted. An id that does not read as a card number is not noted.
   * @returns whether it was noted.
   */
  async recordNetworkId(id: string, gateway: string): Promise<boolean> {
    if (!IssuedTokens.cardLike(id)) return false;
    await this.note(this.networkIdDigest(id), gateway);
    return true;
  }

  /** Writes the entry of `digest`, confirmed on the replicas `replica_acks` asks for, and counts it. */
  private async note(digest: string, gateway: string): Promise<void> {
    await this.ledger.indexIssuedToken(digest, gateway);
    await this.confirmReplicated(digest);
    recorded.inc({ gateway });
  }

  /**
   * With `redis.replica_acks`: the entry of `digest` on that many replicas, else a Redis outage thrown (the caller's
   * job retried, the record not yet given the token), as an outcome's move is confirmed before the OMS hears of it:
   * an entry a demoted primary dropped would leave the OMS holding a token the intake refuses as card data.
   */
  private async confirmReplicated(digest: string): Promise<void> {
    const acknowledged = this.ledger.issuedTokenAcknowledged?.bind(this.ledger);
    if (acknowledged === undefined) return;
    const short = await replicaShortfall(this.redis as RedisConfig, 'issued_token', (replicas, timeoutMs) => acknowledged(digest, replicas, timeoutMs));
    if (short) throw unreplicatedError('issued_token', 'an issued-token index entry', short);
  }

  /**
   * The gateway of `token` when the bridge issued it, else null: one GET, a second under the previous secret
   * during a rotation (then written again under the current one).
   */
  async gatewayOf(token: string): Promise<string | null> {
    return this.lookUp((i) => this.digest(token, i));
  }

  /** The gateway whose answer named network transaction id `id` when the bridge reported it, else null: as `gatewayOf`. */
  async networkIdGatewayOf(id: string): Promise<string | null> {
    return this.lookUp((i) => this.networkIdDigest(id, i));
  }

  /** One GET of `digestOf(0)`, a second of `digestOf(1)` during a rotation (then written again under the current key). */
  private async lookUp(digestOf: (i: number) => string): Promise<string | null> {
    const current = await this.ledger.issuedTokenGateway(digestOf(0));
    if (current !== null || this.keys.length < 2) return current;
    const previous = await this.ledger.issuedTokenGateway(digestOf(1));
    if (previous !== null) await this.ledger.indexIssuedToken(digestOf(0), previous);
    return previous;
  }

  /**
   * The gateway of each of `tokens` the bridge issued, else null, in the order asked: one batched read for all of them
   * (`Ledger.issuedTokenGateways`: one MGET per shard, sent together), under the current and the previous secret at
   * once. Reads only: an entry found under the previous secret is not written again (export and import read a page).
   */
  async gatewaysOf(tokens: readonly string[]): Promise<(string | null)[]> {
    return this.batchedLookUp(tokens, (token, i) => this.digest(token, i));
  }

  /**
   * The gateway whose answer named each of `ids` when the bridge reported it as a network transaction id, else null, in
   * the order asked: one batched read for all of them, as `gatewaysOf` (export and retention's archive read a page).
   */
  async networkIdGatewaysOf(ids: readonly string[]): Promise<(string | null)[]> {
    return this.batchedLookUp(ids, (id, i) => this.networkIdDigest(id, i));
  }

  /** `values`' entries under `digestOf(value, i)` for every key i, in one batched read; reads only. */
  private async batchedLookUp(values: readonly string[], digestOf: (value: string, i: number) => string): Promise<(string | null)[]> {
    if (values.length === 0) return [];
    const digests = this.keys.flatMap((_k, i) => values.map((value) => digestOf(value, i)));
    const batched = this.ledger.issuedTokenGateways?.bind(this.ledger);
    const found = batched ? await batched(digests) : await Promise.all(digests.map((d) => this.ledger.issuedTokenGateway(d)));
    return values.map((_v, n) => this.keys.map((_k, i) => found[i * values.length + n]).find((g) => g !== null) ?? null);
  }

  /**
   * Which of `digests` (hex, from an export line: `OperationSnapshot.issued_tokens`) is `token`'s keyed digest under the
   * current or the previous secret, if any: only an export made with this deployment's bus secret can name it, never a
   * file edited to hold a card number as a token. One HMAC a key, whatever the number of digests.
   */
  vouchingDigest(token: string, digests: ReadonlySet<string>): string | undefined {
    return this.keys.map((_k, i) => this.digest(token, i)).find((d) => digests.has(d));
  }

  /** Drops `token`'s entry, under every key (erasure). @returns whether one was there. */
  async drop(token: string): Promise<boolean> {
    let dropped = false;
    for (let i = 0; i < this.keys.length; i += 1) if (await this.ledger.dropIssuedToken(this.digest(token, i))) dropped = true;
    return dropped;
  }
}

/** `pb_card_like_tokens_accepted_total{gateway,step}`. */
function acceptedTotal() {
  return counter(
    'pb_card_like_tokens_accepted_total',
    "Commands accepted with a stored token in payment.gateway_key, or a network transaction id in payment.recurring.network_transaction_id, that reads as a card number but that the bridge issued (its issued-token index holds it), by the token's gateway and the step (intake: the bus's HTTP intake; consumer: the command consumer; schedule: a recurring schedule created naming it)",
    ['gateway', 'step'] as const,
  );
}

/** What the issued-token index says about a message's card-like token (see {@link issuedTokenOf}). */
export interface IssuedTokenLookup {
  /** The values the card-data policy lets through in the token fields; undefined: none (the policy refuses as ever). */
  readonly values?: IssuedTokenValues;
  /** The issued token's gateway, for the metric and the log line. */
  readonly gateway?: string;
}

/** No card-like token, or none the index holds: the policy refuses card data as ever. */
export const NO_ISSUED_TOKEN: IssuedTokenLookup = {};
const NONE = NO_ISSUED_TOKEN;

/**
 * Whether `message` has a card-like `payment.gateway_key`, so {@link issuedTokenOf} would ask the index: checked
 * synchronously first on the hot path, so the ordinary command makes no async call, closure or promise for it.
 */
export function asksIssuedTokenIndex(message: unknown): boolean {
  return cardLikeTokenOf(message) !== undefined || cardLikeNetworkIdOf(message) !== undefined;
}

/**
 * Asks the issued-token index about `message`'s `payment.gateway_key` only when it reads as a card number (one
 * GET then; the ordinary command asks Redis nothing). Without an index, nothing is let through; nor is a token
 * issued at a gateway of another vault than the one the command names (`payment.gateway`,
 * src/gateways/gateway-vaults.ts): a token of one PSP account is never handed to another (src/routing/method-binding.ts).
 * @param gateways the configured gateway entries (without them, only the token's own gateway entry is its vault).
 */
export async function issuedTokenOf(
  tokens: (Pick<IssuedTokens, 'gatewayOf'> & Partial<Pick<IssuedTokens, 'networkIdGatewayOf'>>) | undefined,
  message: unknown,
  gateways?: Readonly<Record<string, GatewayConfig>>,
): Promise<IssuedTokenLookup> {
  if (tokens === undefined) return NONE;
  const token = cardLikeTokenOf(message);
  // A card-like `payment.recurring.network_transaction_id`: one GET more, accepted when the bridge reported it (a
  // scheme's id, not bound to a vault: any gateway may quote it).
  const networkId = tokens.networkIdGatewayOf === undefined ? undefined : cardLikeNetworkIdOf(message);
  if (token === undefined && networkId === undefined) return NONE;
  let tokenGateway: string | undefined;
  if (token !== undefined) {
    const gateway = await tokens.gatewayOf(token);
    if (gateway !== null && sameVault(gateway, namedGatewayOf(message), gateways)) tokenGateway = gateway;
  }
  const networkIdGateway = networkId === undefined ? null : await tokens.networkIdGatewayOf!(networkId);
  // The policy lets a value through in every token field holding it: one value in both fields passes only as both.
  const values = new Set<string>();
  if (token !== undefined && tokenGateway !== undefined && (token !== networkId || networkIdGateway !== null)) values.add(token);
  if (networkId !== undefined && networkIdGateway !== null && (networkId !== token || tokenGateway !== undefined)) values.add(networkId);
  if (values.size === 0) return NONE;
  return { values, gateway: tokenGateway ?? networkIdGateway ?? undefined };
}

/** `message.payment.gateway` when it is a string. */
function namedGatewayOf(message: unknown): string | undefined {
  const payment = (message as { payment?: { gateway?: unknown } } | null)?.payment;
  return typeof payment?.gateway === 'string' ? payment.gateway : undefined;
}

/** Whether entries `a` and `b` are one vault (the same entry, or configured as one: `gatewayVaults`). */
export function sameVault(a: string, b: string | undefined, gateways?: Readonly<Record<string, GatewayConfig>>): boolean {
  if (b === undefined) return false;
  if (a === b) return true;
  if (gateways === undefined) return false;
  const { vaultOf } = gatewayVaults(gateways);
  const vault = vaultOf.get(a);
  return vault !== undefined && vault === vaultOf.get(b);
}

/**
 * The metric and the info line of a command accepted with a card-like token the bridge issued: names the field and the
 * token's gateway, never the token (which the logger would mask anyway).
 */
export function reportIssuedToken(
  logger: Logger,
  step: 'intake' | 'consumer' | 'schedule',
  lookup: IssuedTokenLookup,
  issued: readonly string[],
  details: Record<string, unknown>,
): void {
  if (issued.length === 0 || lookup.gateway === undefined) return;
  acceptedTotal().inc({ gateway: lookup.gateway, step });
  logger.info('card-like stored token the bridge issued accepted in a token field', { step, fields: issued, token_gateway: lookup.gateway, ...details });
}

/**
 * The tokens a stored record (its Redis hash, as export and erasure read it) handed the OMS, with their gateway: its
 * `stored_token`, and a tokenize's `new_gateway_key`. Only those reading as a card number: the ones the index holds.
 */
export function issuedTokensOfRecord(record: Readonly<Record<string, string>>): { tokens: string[]; gateway: string } {
  const tokens = [record.stored_token, record.command === 'tokenize' ? record.new_gateway_key : undefined].filter(
    (t): t is string => typeof t === 'string' && IssuedTokens.cardLike(t),
  );
  return { tokens, gateway: tokens.length === 0 ? '' : recordGateway(record) };
}

/** The gateway a stored record's operation is at: its routing's, else its payment's (`gatewayOf` on the raw hash). */
function recordGateway(record: Readonly<Record<string, string>>): string {
  for (const field of ['routing', 'payment']) {
    try {
      const gateway = (JSON.parse(record[field] ?? 'null') as { gateway?: unknown } | null)?.gateway;
      if (typeof gateway === 'string' && gateway !== '') return gateway;
    } catch {
      // Unreadable: the next source.
    }
  }
  return 'unknown';
}
