import { CURRENCY_CODES } from '../money/currencies';
import { COMMAND_TYPES } from '../contracts/payment-command';
import { AmountsByCurrency, amountBoundProblem, minorOrPerCurrencySchema, perCurrencyBound, perCurrencyBoundProblems } from './amount-bounds';

/**
 * The `routing.*` block of the configuration: routing rules, the merchant agreement table, failover and
 * payment method options. Schema, types, mapping and cross-field checks live here, in one file. Every
 * default changes nothing: no rules, no agreements, no failover, so each command goes to `payment.gateway`.
 */

const COMMAND_NAMES = COMMAND_TYPES;
const CHANNEL_NAMES = ['bus', 'web', 'pos', 'marketplace'] as const;
export const AGREEMENT_STATUSES = ['active', 'suspended', 'expired'] as const;
/** An agreement's status as configured. */
export type AgreementStatus = (typeof AGREEMENT_STATUSES)[number];
/**
 * An agreement's status at a given time: as configured, `expired` past `valid_until`, `pending` before
 * `valid_from`, `none` when the table has no agreement for the merchant and gateway.
 */
export type EffectiveAgreementStatus = AgreementStatus | 'pending' | 'none';
const EFFECTIVE_STATUSES = ['active', 'suspended', 'expired', 'pending', 'none'] as const;

/** The conditions of a routing rule; an absent (or empty) condition matches anything. */
export interface RoutingCondition {
  /** Command types. */
  readonly commands: readonly string[];
  /** ISO 4217 codes. */
  readonly currencies: readonly string[];
  /**
   * Smallest `payment.amount`, minor units, inclusive, for every currency (`min_amount: 500`); null: no
   * floor, or one per currency. Only with `currencies` named and of one minor-unit exponent (the configuration
   * refuses it otherwise).
   */
  readonly minAmount: number | null;
  /** Largest `payment.amount`, minor units, inclusive, for every currency; null: none or per currency. Same condition on `currencies`. */
  readonly maxAmount: number | null;
  /**
   * Smallest `payment.amount` per currency, each in its own minor units, inclusive (`min_amount: { EUR:
   * 500000, JPY: 500000 }`); null: not given per currency. A currency that neither side names does not match.
   */
  readonly minAmountByCurrency: AmountsByCurrency | null;
  /** Largest `payment.amount` per currency, each in its own minor units, inclusive; null: not given per currency. */
  readonly maxAmountByCurrency: AmountsByCurrency | null;
  readonly channels: readonly string[];
  /** ISO 3166 alpha-2 countries (upper case), read from `routing.country_attributes`; a command without a country does not match. */
  readonly countries: readonly string[];
  /** `payment.method_details.method` values (lower case); a command without one does not match. */
  readonly methods: readonly string[];
  /** `payment.gateway_account` values (the merchant). */
  readonly merchants: readonly string[];
  /** The command's own gateway (`payment.gateway`) values. */
  readonly gateways: readonly string[];
  /**
   * The merchant's agreement status with `agreementGateway` (default: the command's gateway) at the time of
   * the decision must be one of these (`active`, `suspended`, `expired`, `pending`, `none`).
   */
  readonly agreementStatus: readonly EffectiveAgreementStatus[];
  readonly agreementGateway: string | null;
}

/** One routing rule: the first rule whose conditions all hold decides the candidates. */
export interface RoutingRule {
  /** Its name, recorded with each decision it makes. */
  readonly name: string;
  readonly when: RoutingCondition;
  /** Gateway names in order of preference (the first is tried first; the rest are the failover order). */
  readonly gateways: readonly string[];
}

/** One row of the merchant agreement table. */
export interface MerchantAgreement {
  /** `payment.gateway_account` (the merchant), or `*` for every merchant without a row of its own. */
  readonly merchant: string;
  /** Configured gateway name. */
  readonly gateway: string;
  readonly status: AgreementStatus;
  /** Epoch ms from which it is valid; null: always was. */
  readonly validFrom: number | null;
  /** Epoch ms after which it is expired; null: never. */
  readonly validUntil: number | null;
}

export interface FailoverConfig {
  /** Whether authorizations and sales move to the next candidate of their route. Default false. */
  readonly enabled: boolean;
  /**
   * Decline codes (the gateway's own code, as the OMS receives it in `reason`, compared case-insensitively)
   * that mean "try elsewhere". Default none.
   */
  readonly declineCodes: readonly string[];
}

export interface PaymentMethodsConfig {
  /** JSON-RPC method name on the intake (answered synchronously). Default `magento.payments.payments_management.payment_methods`. */
  readonly rpcMethod: string;
  /** How long an answer is cached per order shape, milliseconds. 0: never cached. Default 30000. */
  readonly cacheMs: number;
  /** Per gateway name: methods it offers when it has no list of its own to ask (e.g. `[card, paypal]`). Default `{}`. */
  readonly byGateway: Readonly<Record<string, readonly string[]>>;
  /** Timeout of a gateway's own list call (Adyen `/paymentMethods`), milliseconds. Default 3000. */
  readonly gatewayTimeoutMs: number;
}

export interface RoutingConfig {
  /** Ordered rules; none (default): every command goes to `payment.gateway`. */
  readonly rules: readonly RoutingRule[];
  /** The merchant agreement table; empty (default): agreements are not checked. */
  readonly agreements: readonly MerchantAgreement[];
  /**
   * Whether a gateway without a row for the merchant (status `none`) is refused as a candidate. Default
   * false: only `suspended`, `expired` and `pending` rows remove a candidate.
   */
  readonly requireAgreement: boolean;
  /** Custom attributes read, in order, for the order's country (ISO 3166 alpha-2). Default `country`, `billing_country`, `country_code`. */
  readonly countryAttributes: readonly string[];
  readonly failover: FailoverConfig;
  readonly paymentMethods: PaymentMethodsConfig;
}

const gatewayName = { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,31}$' } as const;
const isoTime = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})?)?$' } as const;

const conditionSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    commands: { type: 'array', items: { enum: COMMAND_NAMES }, default: [] },
    currencies: { type: 'array', items: { enum: CURRENCY_CODES }, default: [] },
    min_amount: minorOrPerCurrencySchema,
    max_amount: minorOrPerCurrencySchema,
    channels: { type: 'array', items: { enum: CHANNEL_NAMES }, default: [] },
    countries: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z]{2}$' }, default: [] },
    methods: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 }, default: [] },
    merchants: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
    gateways: { type: 'array', items: gatewayName, default: [] },
    agreement_status: { type: 'array', items: { enum: EFFECTIVE_STATUSES }, default: [] },
    agreement_gateway: gatewayName,
  },
} as const;

const ruleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'gateways'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
    when: conditionSchema,
    gateways: { type: 'array', items: gatewayName, minItems: 1, maxItems: 8 },
  },
} as const;

const agreementSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['merchant', 'gateway', 'status'],
  properties: {
    merchant: { type: 'string', minLength: 1 },
    gateway: gatewayName,
    status: { enum: AGREEMENT_STATUSES },
    valid_from: isoTime,
    valid_until: isoTime,
  },
} as const;

/** Schema properties of the `routing.*` keys (merged into the configuration schema). */
export const routingConfigSchema = {
  'routing.rules': { type: 'array', items: ruleSchema, default: [] },
  'routing.agreements': { type: 'array', items: agreementSchema, default: [] },
  'routing.require_agreement': { type: 'boolean', default: false },
  'routing.country_attributes': { type: 'array', items: { type: 'string', minLength: 1 }, default: ['country', 'billing_country', 'country_code'] },
  'routing.failover.enabled': { type: 'boolean', default: false },
  'routing.failover.decline_codes': { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 }, default: [] },
  'routing.payment_methods.rpc_method': { type: 'string', pattern: '^[A-Za-z0-9_.]+$', default: 'magento.payments.payments_management.payment_methods' },
  'routing.payment_methods.cache_ms': { type: 'integer', minimum: 0, default: 30000 },
  'routing.payment_methods.by_gateway': {
    type: 'object',
    default: {},
    propertyNames: gatewayName,
    additionalProperties: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 } },
  },
  'routing.payment_methods.gateway_timeout_ms': { type: 'integer', minimum: 1, default: 3000 },
} as const;

type Params = Record<string, unknown>;

const upper = (xs: unknown): string[] => (xs as string[]).map((x) => x.toUpperCase());
const lower = (xs: unknown): string[] => (xs as string[]).map((x) => x.toLowerCase());
const time = (v: unknown): number | null => (typeof v === 'string' ? Date.parse(v) : null);

/** The typed `routing` block from validated parameters (defaults applied). */
export function toRoutingConfig(p: Params): RoutingConfig {
  const rules = (p['routing.rules'] as Params[]).map((r): RoutingRule => {
    const w = (r.when ?? {}) as Params;
    return {
      name: r.name as string,
      gateways: r.gateways as string[],
      when: {
        commands: (w.commands ?? []) as string[],
        currencies: (w.currencies ?? []) as string[],
        minAmount: typeof w.min_amount === 'number' ? w.min_amount : null,
        maxAmount: typeof w.max_amount === 'number' ? w.max_amount : null,
        minAmountByCurrency: perCurrencyBound(w.min_amount),
        maxAmountByCurrency: perCurrencyBound(w.max_amount),
        channels: (w.channels ?? []) as string[],
        countries: upper(w.countries ?? []),
        methods: lower(w.methods ?? []),
        merchants: (w.merchants ?? []) as string[],
        gateways: (w.gateways ?? []) as string[],
        agreementStatus: (w.agreement_status ?? []) as EffectiveAgreementStatus[],
        agreementGateway: typeof w.agreement_gateway === 'string' ? w.agreement_gateway : null,
      },
    };
  });
  const agreements = (p['routing.agreements'] as Params[]).map((a): MerchantAgreement => ({
    merchant: a.merchant as string,
    gateway: a.gateway as string,
    status: a.status as AgreementStatus,
    validFrom: time(a.valid_from),
    validUntil: time(a.valid_until),
  }));
  return {
    rules,
    agreements,
    requireAgreement: p['routing.require_agreement'] as boolean,
    countryAttributes: p['routing.country_attributes'] as string[],
    failover: {
      enabled: p['routing.failover.enabled'] as boolean,
      declineCodes: p['routing.failover.decline_codes'] as string[],
    },
    paymentMethods: {
      rpcMethod: p['routing.payment_methods.rpc_method'] as string,
      cacheMs: p['routing.payment_methods.cache_ms'] as number,
      byGateway: p['routing.payment_methods.by_gateway'] as Record<string, string[]>,
      gatewayTimeoutMs: p['routing.payment_methods.gateway_timeout_ms'] as number,
    },
  };
}

/**
 * Cross-field problems of the block, `[key, problem]`: a gateway that is not configured, duplicate rule
 * names, inverted amount ranges or validity dates, a candidate named twice in one rule, a one-number amount
 * bound without currencies (or over currencies of different minor-unit exponents) to give it one meaning, a
 * per-currency bound naming an unknown code or a currency the rule does not list.
 */
export function routingConfigProblems(c: RoutingConfig, configuredGateways: ReadonlySet<string>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const names = new Set<string>();
  c.rules.forEach((r, i) => {
    const key = `routing.rules[${i}]`;
    if (names.has(r.name)) out.push([`${key}.name`, `"${r.name}" is the name of an earlier rule: rule names must be unique`]);
    names.add(r.name);
    r.gateways.forEach((g, j) => {
      if (!configuredGateways.has(g)) out.push([`${key}.gateways[${j}]`, `gateway "${g}" is not configured (gateways.${g})`]);
    });
    if (new Set(r.gateways).size !== r.gateways.length) out.push([`${key}.gateways`, 'names a gateway twice']);
    const { minAmount, maxAmount } = r.when;
    if (minAmount !== null && maxAmount !== null && minAmount > maxAmount)
      out.push([`${key}.when.min_amount`, `(${minAmount}) must not exceed max_amount (${maxAmount})`]);
    const unscaled = amountBoundProblem(r.when, `${key}.when`, `${key}.when.currencies`);
    if (unscaled) out.push(unscaled);
    out.push(...perCurrencyBoundProblems(r.when, `${key}.when`, `${key}.when.currencies`));
  });
  c.agreements.forEach((a, i) => {
    const key = `routing.agreements[${i}]`;
    if (!configuredGateways.has(a.gateway)) out.push([`${key}.gateway`, `gateway "${a.gateway}" is not configured (gateways.${a.gateway})`]);
    if (a.validFrom !== null && Number.isNaN(a.validFrom)) out.push([`${key}.valid_from`, 'is not a date']);
    if (a.validUntil !== null && Number.isNaN(a.validUntil)) out.push([`${key}.valid_until`, 'is not a date']);
    if (a.validFrom !== null && a.validUntil !== null && a.validFrom > a.validUntil) out.push([`${key}.valid_from`, 'must not be after valid_until']);
  });
  const seen = new Set<string>();
  c.agreements.forEach((a, i) => {
    const id = `${a.merchant}\u001f${a.gateway}`;
    if (seen.has(id)) out.push([`routing.agreements[${i}]`, `is a second row for merchant ${a.merchant} and gateway ${a.gateway}`]);
    seen.add(id);
  });
  return out;
}
