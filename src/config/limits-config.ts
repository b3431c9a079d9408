import { CURRENCY_CODES } from '../money/currencies';
import { MAX_MINOR_AMOUNT } from '../money/minor-units';

/**
 * The `caps.*`, `risk.*` and `fx.*` blocks of the configuration (the orchestration's limits): schema, types
 * and mapping in one file, apart from the rest. Every default changes nothing: no caps, no risk rules, no
 * settlement currencies (so no conversion).
 */

/** Whose cap: a gateway as configured (`gateways.<name>`) or a merchant account (`payment.gateway_account`). */
export type CapScope = 'gateway' | 'merchant';

/** The counted limits of a cap rule. */
export const COUNTED_LIMITS = ['daily_volume', 'daily_count', 'monthly_volume', 'monthly_count'] as const;
export type CountedLimit = (typeof COUNTED_LIMITS)[number];
/** Every limit a rule can name; the first two are checked without Redis. */
export type CapLimit = 'min_amount' | 'max_amount' | CountedLimit;

/** One configured cap rule (`caps.rules[]`). Absent limits do not apply. Amounts in minor units of `currency`. */
export interface CapRule {
  readonly scope: CapScope;
  /** The gateway name (scope gateway) or the gateway_account (scope merchant). */
  readonly name: string;
  /** For a merchant rule: only on this gateway; `*` (default) = on every gateway. Ignored for gateway rules. */
  readonly gateway: string;
  /** ISO 4217 code: caps are per currency (the currency the gateway is asked to move, after any conversion). */
  readonly currency: string;
  readonly minAmount: number | null;
  readonly maxAmount: number | null;
  readonly dailyVolume: number | null;
  readonly dailyCount: number | null;
  readonly monthlyVolume: number | null;
  readonly monthlyCount: number | null;
}

/** What the rule set decides, least to most severe. */
export const RISK_ACTIONS = ['allow', 'psp_review', 'hold', 'decline'] as const;
export type RiskAction = (typeof RISK_ACTIONS)[number];

/** What velocity is counted by; the values come from `payment.custom_attributes` (token: `gateway_key`). */
export const VELOCITY_DIMENSIONS = ['customer', 'token', 'ip', 'email'] as const;
export type VelocityDimension = (typeof VELOCITY_DIMENSIONS)[number];

export const RISK_SIGNALS = [
  'high_amount',
  'velocity_customer',
  'velocity_token',
  'velocity_ip',
  'velocity_email',
  'country_mismatch',
  'new_token_high_amount',
] as const;
export type RiskSignal = (typeof RISK_SIGNALS)[number];

/** A velocity limit: more than `maxCount` authorizations by one value within `windowMs` fires `velocity_<by>`. */
export interface VelocityLimit {
  readonly by: VelocityDimension;
  /** Window length, milliseconds: a sliding window, the last `windowMs` before each count (never aligned on the epoch). */
  readonly windowMs: number;
  /** Authorizations allowed within any `windowMs`; the one after fires the signal. */
  readonly maxCount: number;
}

/** One rule: when every signal of `when` fires, `action`. */
export interface RiskRule {
  readonly name: string;
  readonly when: readonly RiskSignal[];
  readonly action: RiskAction;
}

/** The `risk.*` configuration. Empty rules: the stage does nothing (no Redis, no cost). */
export interface RiskConfig {
  readonly rules: readonly RiskRule[];
  /** `high_amount` fires at or above this many minor units, per ISO 4217 currency. Default none. */
  readonly amountThresholds: Readonly<Record<string, number>>;
  /** Velocity limits. Default none. */
  readonly velocity: readonly VelocityLimit[];
  /** `new_token_high_amount` fires for a token never seen before with an amount at or above this, per currency. Default none. */
  readonly newTokenAmounts: Readonly<Record<string, number>>;
  /** How long a token counts as seen (ms). Default 15552000000 (180 days). */
  readonly tokenMemoryMs: number;
  /** How long an authorization held for review waits for an operator before it is voided, ms. Default 86400000 (24 h). */
  readonly reviewWindowMs: number;
  /** HMAC key for the hashed values in Redis keys (e-mail, IP, customer, token). Empty: the bus secret. */
  readonly hashKey: string;
}

/** One configured rate (`fx.rates[]`): units of `to` per unit of `from`, as quoted at `asOf`. */
export interface ConfiguredRate {
  readonly from: string;
  readonly to: string;
  /** Exact decimal (or `num/den`) string; never a float. */
  readonly rate: string;
  /** When it was quoted, epoch ms. */
  readonly asOf: number;
}

export interface FxConfig {
  /**
   * Currencies each gateway (`<gateway>`) or gateway account (`<gateway>:<account>`, which wins) settles in.
   * An order in another currency is converted into the first of them. Absent: the gateway takes any
   * currency (no conversion). Default `{}`.
   */
  readonly settlementCurrencies: Readonly<Record<string, readonly string[]>>;
  /** Use the gateway's own rates where it offers them (Stripe's exchange rates API). Default true. */
  readonly gatewayRates: boolean;
  /** Configured rates, used when the gateway offers none (or `gatewayRates` is off). Default none. */
  readonly rates: readonly ConfiguredRate[];
  /** A rate older than this is refused (the payment fails with `FX_RATE_STALE`), ms. Default 3600000 (1 h). */
  readonly maxRateAgeMs: number;
  /** How long a gateway's rates are reused before they are fetched again, ms. Default 60000. */
  readonly cacheMs: number;
}

export interface LimitsConfig {
  /** Transaction caps (`caps.rules`); none by default. */
  readonly caps: { readonly rules: readonly CapRule[] };
  readonly risk: RiskConfig;
  readonly fx: FxConfig;
}

const minor = { type: 'integer', minimum: 0, maximum: MAX_MINOR_AMOUNT } as const;
const currency = { enum: CURRENCY_CODES } as const;
const byCurrency = { type: 'object', default: {}, propertyNames: currency, additionalProperties: minor } as const;

const capRuleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['scope', 'name', 'currency'],
  properties: {
    scope: { enum: ['gateway', 'merchant'] },
    name: { type: 'string', minLength: 1 },
    gateway: { type: 'string', minLength: 1, default: '*' },
    currency,
    min_amount: minor,
    max_amount: minor,
    daily_volume: minor,
    daily_count: { type: 'integer', minimum: 0 },
    monthly_volume: minor,
    monthly_count: { type: 'integer', minimum: 0 },
  },
} as const;

/** Schema properties of the `caps.*`, `risk.*` and `fx.*` keys (merged into the configuration schema). */
export const limitsConfigSchema = {
  'caps.rules': { type: 'array', items: capRuleSchema, default: [] },

  'risk.rules': {
    type: 'array',
    default: [],
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'when', 'action'],
      properties: {
        name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
        when: { type: 'array', minItems: 1, items: { enum: RISK_SIGNALS } },
        action: { enum: RISK_ACTIONS },
      },
    },
  },
  'risk.amount_thresholds': byCurrency,
  'risk.velocity': {
    type: 'array',
    default: [],
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['by', 'window_ms', 'max_count'],
      properties: { by: { enum: VELOCITY_DIMENSIONS }, window_ms: { type: 'integer', minimum: 1000 }, max_count: { type: 'integer', minimum: 0 } },
    },
  },
  'risk.new_token_amounts': byCurrency,
  'risk.token_memory_ms': { type: 'integer', minimum: 1, default: 15552000000 },
  'risk.review_window_ms': { type: 'integer', minimum: 1, default: 86400000 },
  'risk.hash_key': { type: 'string', default: '' },

  'fx.settlement_currencies': {
    type: 'object',
    default: {},
    propertyNames: { pattern: '^[a-z][a-z0-9_-]*(:.+)?$' },
    additionalProperties: { type: 'array', minItems: 1, items: currency },
  },
  'fx.gateway_rates': { type: 'boolean', default: true },
  'fx.rates': {
    type: 'array',
    default: [],
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['from', 'to', 'rate', 'as_of'],
      properties: {
        from: currency,
        to: currency,
        rate: { type: 'string', pattern: '^(\\d+(\\.\\d+)?|\\d+/\\d+)$' },
        as_of: { type: 'string', minLength: 10 },
      },
    },
  },
  'fx.max_rate_age_ms': { type: 'integer', minimum: 1, default: 3600000 },
  'fx.cache_ms': { type: 'integer', minimum: 0, default: 60000 },
} as const;

type Params = Record<string, unknown>;
const orNull = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** The typed block from validated parameters (defaults applied). */
export function toLimitsConfig(p: Params): LimitsConfig {
  const rules = (p['caps.rules'] as Params[]).map((r): CapRule => ({
    scope: r.scope as CapRule['scope'],
    name: r.name as string,
    gateway: r.gateway as string,
    currency: r.currency as string,
    minAmount: orNull(r.min_amount),
    maxAmount: orNull(r.max_amount),
    dailyVolume: orNull(r.daily_volume),
    dailyCount: orNull(r.daily_count),
    monthlyVolume: orNull(r.monthly_volume),
    monthlyCount: orNull(r.monthly_count),
  }));
  return {
    caps: { rules },
    risk: {
      rules: (p['risk.rules'] as Params[]).map((r): RiskRule => ({
        name: r.name as string,
        when: r.when as RiskRule['when'],
        action: r.action as RiskRule['action'],
      })),
      amountThresholds: p['risk.amount_thresholds'] as Record<string, number>,
      velocity: (p['risk.velocity'] as Params[]).map((v): VelocityLimit => ({
        by: v.by as VelocityLimit['by'],
        windowMs: v.window_ms as number,
        maxCount: v.max_count as number,
      })),
      newTokenAmounts: p['risk.new_token_amounts'] as Record<string, number>,
      tokenMemoryMs: p['risk.token_memory_ms'] as number,
      reviewWindowMs: p['risk.review_window_ms'] as number,
      hashKey: p['risk.hash_key'] as string,
    },
    fx: {
      settlementCurrencies: p['fx.settlement_currencies'] as Record<string, string[]>,
      gatewayRates: p['fx.gateway_rates'] as boolean,
      rates: (p['fx.rates'] as Params[]).map((r) => ({
        from: r.from as string,
        to: r.to as string,
        rate: r.rate as string,
        asOf: Date.parse(r.as_of as string),
      })),
      maxRateAgeMs: p['fx.max_rate_age_ms'] as number,
      cacheMs: p['fx.cache_ms'] as number,
    },
  };
}

/** Cross-field problems of the block, `[key, problem]`. */
export function limitsConfigProblems(c: LimitsConfig): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  c.caps.rules.forEach((r, i) => {
    if (r.minAmount !== null && r.maxAmount !== null && r.minAmount > r.maxAmount)
      out.push([`caps.rules[${i}].min_amount`, `(${r.minAmount}) must not exceed max_amount (${r.maxAmount})`]);
  });
  c.fx.rates.forEach((r, i) => {
    if (Number.isNaN(r.asOf)) out.push([`fx.rates[${i}].as_of`, 'is not an ISO 8601 time']);
    if (r.from === r.to) out.push([`fx.rates[${i}].to`, 'must differ from from']);
  });
  return out;
}
