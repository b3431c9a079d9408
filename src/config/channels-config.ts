import { DEFAULT_FREE_TEXT_FIELDS } from '../contracts/free-text-fields';
import { COMMAND_TYPES } from '../contracts/payment-command';
import { CURRENCY_CODES } from '../money/currencies';
import { MAX_MINOR_AMOUNT } from '../money/minor-units';
import {
  AmountsByCurrency,
  amountBoundProblem,
  minorOrPerCurrencySchema,
  perCurrencyBound,
  perCurrencyBoundProblems,
  unpairedBoundProblems,
} from './amount-bounds';

/**
 * The `channels.*` block of the configuration: per-channel credentials, validation profiles, the card-data
 * policy for free text, and the triage of high-impact dead letters. Schema, types and mapping live here, in
 * one file, so the block stays apart from the rest of the configuration.
 */

/** Channels that publish to the commands exchange themselves (the bus comes through the intake). */
export const PUBLISHING_CHANNELS = ['web', 'pos', 'marketplace'] as const;
export type PublishingChannel = (typeof PUBLISHING_CHANNELS)[number];

/** Command types, as the canonical command spells them. */
const COMMAND_NAMES = COMMAND_TYPES;
const ALL_CHANNELS = ['bus', 'web', 'pos', 'marketplace'] as const;

/** One signing key of a channel. */
export interface ChannelKey {
  /** Sent in the `x-pb-key-id` header; unique across channels. */
  readonly keyId: string;
  /** HMAC-SHA256 key (the UTF-8 bytes of the string), at least 32 characters. */
  readonly secret: string;
}

/** What happens to card data found in a free-text field: masked and carried on (default), or refused. */
export type FreeTextCardData = 'mask' | 'refuse';

/** A validation profile: rules added on top of the base contract for one channel (and account). */
export interface ValidationProfile {
  /** The channel it applies to. */
  readonly channel: (typeof ALL_CHANNELS)[number];
  /** The `payment.gateway_account` it applies to; `*` (default) = every account of the channel. */
  readonly account: string;
  /** Dotted paths that must be present and non-empty, e.g. `payment.order_id`. Default none. */
  readonly requiredFields: readonly string[];
  /**
   * Smallest `payment.amount`, minor units, for commands that open a payment (authorize, sale; not a partial
   * capture or refund), for every currency (`min_amount: 500`). Default none. Only with `currencies` named
   * and of one minor-unit exponent, except 0 (the configuration refuses it otherwise).
   */
  readonly minAmount: number | null;
  /**
   * Largest `payment.amount`, minor units, for commands that move money (authorize, sale, capture, refund),
   * for every currency. Default none. Same condition on `currencies`.
   */
  readonly maxAmount: number | null;
  /**
   * Smallest `payment.amount` per currency, each in its own minor units (`min_amount: { EUR: 100, JPY: 100 }`),
   * for the commands `minAmount` applies to; null: not given per currency. A money-moving command in a
   * currency neither side names is refused. When both sides are per currency they name the same currencies
   * (the configuration refuses a currency with a ceiling and no floor, or a floor and no ceiling).
   */
  readonly minAmountByCurrency: AmountsByCurrency | null;
  /** Largest `payment.amount` per currency, each in its own minor units, for money-moving commands; null: not given per currency. */
  readonly maxAmountByCurrency: AmountsByCurrency | null;
  /** ISO 4217 codes accepted; empty (default) = every currency the base contract accepts. */
  readonly currencies: readonly string[];
  /** Command types accepted; empty (default) = all. */
  readonly commands: readonly string[];
  /** Card data in free text: `mask` (default) or `refuse`. Structured fields always refuse. */
  readonly freeTextCardData: FreeTextCardData;
  /** Extra free-text field paths for this profile (added to `channels.free_text_fields`). Default none. */
  readonly freeTextFields: readonly string[];
}

/** Which dead letters are high-impact (priority triage queue, alert). */
export interface TriageConfig {
  /** A dead letter whose amount is at least this many minor units is high-impact. Default 100000. */
  readonly minAmount: number;
  /** `minAmount` per ISO 4217 currency (minor units), overriding it. Default `{}`. */
  readonly minAmountByCurrency: Readonly<Record<string, number>>;
  /** Command types whose dead letters are always high-impact. Default `capture`, `refund`. */
  readonly commands: readonly string[];
  /** Channels whose dead letters are always high-impact. Default none. */
  readonly channels: readonly string[];
  /** Most dead letters kept in the impact index (the lowest-impact ones drop out first). Default 10000. */
  readonly indexSize: number;
  /** How long a dead letter's summary stays in the impact index, milliseconds. Default 2592000000 (30 days). */
  readonly retentionMs: number;
}

export interface ChannelsConfig {
  /**
   * Signing keys per publishing channel, current first, then the previous ones still accepted during a
   * rotation. A channel without keys cannot publish (its messages are dead-lettered). Default `{}`.
   */
  readonly credentials: Readonly<Partial<Record<PublishingChannel, readonly ChannelKey[]>>>;
  /** Dotted paths of free-text fields (`[]` = any index), where card data is masked instead of refused. */
  readonly freeTextFields: readonly string[];
  /** Validation profiles; the most specific match (channel and account, then channel and `*`) applies. Default none. */
  readonly profiles: readonly ValidationProfile[];
  readonly triage: TriageConfig;
}

const minor = { type: 'integer', minimum: 0, maximum: MAX_MINOR_AMOUNT } as const;
const fieldPath = { type: 'string', pattern: '^[a-z_][a-z0-9_]*(\\[\\])?(\\.[A-Za-z_][A-Za-z0-9_]*(\\[\\])?)*$' } as const;

const keySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['key_id', 'secret'],
  properties: {
    key_id: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
    secret: { type: 'string', minLength: 32 },
  },
} as const;

const profileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['channel'],
  properties: {
    channel: { enum: ALL_CHANNELS },
    account: { type: 'string', minLength: 1, default: '*' },
    required_fields: { type: 'array', items: fieldPath, default: [] },
    min_amount: minorOrPerCurrencySchema,
    max_amount: minorOrPerCurrencySchema,
    currencies: { type: 'array', items: { enum: CURRENCY_CODES }, default: [] },
    commands: { type: 'array', items: { enum: COMMAND_NAMES }, default: [] },
    free_text_card_data: { enum: ['mask', 'refuse'], default: 'mask' },
    free_text_fields: { type: 'array', items: fieldPath, default: [] },
  },
} as const;

/** Schema properties of the `channels.*` keys (merged into the configuration schema). */
export const channelsConfigSchema = {
  'channels.credentials': {
    type: 'object',
    default: {},
    propertyNames: { enum: PUBLISHING_CHANNELS },
    additionalProperties: { type: 'array', minItems: 1, maxItems: 3, items: keySchema },
  },
  'channels.free_text_fields': { type: 'array', items: fieldPath, default: DEFAULT_FREE_TEXT_FIELDS },
  'channels.profiles': { type: 'array', items: profileSchema, default: [] },
  'channels.triage.min_amount': { ...minor, default: 100000 },
  'channels.triage.min_amount_by_currency': { type: 'object', default: {}, propertyNames: { enum: CURRENCY_CODES }, additionalProperties: minor },
  'channels.triage.commands': { type: 'array', items: { enum: COMMAND_NAMES }, default: ['capture', 'refund'] },
  'channels.triage.channels': { type: 'array', items: { enum: ALL_CHANNELS }, default: [] },
  'channels.triage.index_size': { type: 'integer', minimum: 1, default: 10000 },
  'channels.triage.retention_ms': { type: 'integer', minimum: 1, default: 2592000000 },
} as const;

type Params = Record<string, unknown>;

/** The typed `channels` block from validated parameters (defaults applied). */
export function toChannelsConfig(p: Params): ChannelsConfig {
  const credentials: Partial<Record<PublishingChannel, ChannelKey[]>> = {};
  for (const [channel, keys] of Object.entries(p['channels.credentials'] as Record<string, Array<{ key_id: string; secret: string }>>)) {
    credentials[channel as PublishingChannel] = keys.map((k) => ({ keyId: k.key_id, secret: k.secret }));
  }
  const profiles = (p['channels.profiles'] as Params[]).map((r): ValidationProfile => ({
    channel: r.channel as ValidationProfile['channel'],
    account: r.account as string,
    requiredFields: r.required_fields as string[],
    minAmount: typeof r.min_amount === 'number' ? r.min_amount : null,
    maxAmount: typeof r.max_amount === 'number' ? r.max_amount : null,
    minAmountByCurrency: perCurrencyBound(r.min_amount),
    maxAmountByCurrency: perCurrencyBound(r.max_amount),
    currencies: r.currencies as string[],
    commands: r.commands as string[],
    freeTextCardData: r.free_text_card_data as FreeTextCardData,
    freeTextFields: r.free_text_fields as string[],
  }));
  return {
    credentials,
    freeTextFields: p['channels.free_text_fields'] as string[],
    profiles,
    triage: {
      minAmount: p['channels.triage.min_amount'] as number,
      minAmountByCurrency: p['channels.triage.min_amount_by_currency'] as Record<string, number>,
      commands: p['channels.triage.commands'] as string[],
      channels: p['channels.triage.channels'] as string[],
      indexSize: p['channels.triage.index_size'] as number,
      retentionMs: p['channels.triage.retention_ms'] as number,
    },
  };
}

/**
 * Cross-field problems of the block, `[key, problem]`: duplicate key ids, duplicate profiles, inverted
 * limits, a one-number amount limit without currencies (or, other than 0, over currencies of different
 * minor-unit exponents), a per-currency limit naming an unknown code or a currency the profile does not
 * accept, a currency with a per-currency limit on one side only.
 */
export function channelsConfigProblems(c: ChannelsConfig): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const seen = new Map<string, string>();
  for (const [channel, keys] of Object.entries(c.credentials)) {
    for (const key of keys ?? []) {
      const other = seen.get(key.keyId);
      if (other !== undefined) out.push([`channels.credentials.${channel}`, `key_id "${key.keyId}" is also a key of ${other}: key ids must be unique`]);
      seen.set(key.keyId, channel);
    }
  }
  const profiles = new Set<string>();
  c.profiles.forEach((p, i) => {
    const id = `${p.channel} ${p.account}`;
    if (profiles.has(id)) out.push([`channels.profiles[${i}]`, `is a second profile for channel ${p.channel} and account ${p.account}`]);
    profiles.add(id);
    if (p.minAmount !== null && p.maxAmount !== null && p.minAmount > p.maxAmount)
      out.push([`channels.profiles[${i}].min_amount`, `(${p.minAmount}) must not exceed max_amount (${p.maxAmount})`]);
    const unscaled = amountBoundProblem(p, `channels.profiles[${i}]`, `channels.profiles[${i}].currencies`);
    if (unscaled) out.push(unscaled);
    out.push(...perCurrencyBoundProblems(p, `channels.profiles[${i}]`, `channels.profiles[${i}].currencies`));
    out.push(...unpairedBoundProblems(p, `channels.profiles[${i}]`));
  });
  return out;
}
