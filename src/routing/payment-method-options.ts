import { BusAmountUnits, amountBoundWhyForBus, amountWithUnitForBus } from '../money/bus-amount-text';
import type { Config } from '../config/config';
import type { Channel } from '../contracts/payment-command';
import { GatewayRoute } from '../gateways/gateway-route';
import { adyenPaymentMethodsRequest, parseAdyenPaymentMethods } from '../gateways/adyen/adyen-payment-methods';
import type { RuleEvaluation } from '../ledger/routing-record';
import type { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { isKnownCurrency } from '../money/currencies';
import { MAX_MINOR_AMOUNT, currencyDecimalsText, decimalMajorToMinor } from '../money/minor-units';
import { RoutingTable } from './routing-rules';
import { amountRefusal, applicableRules } from '../caps/cap-rules';
import { CapReservations } from '../caps/cap-reservations';
import { RedisClient } from '../redis/redis-connection';

/** An order as the checkout asks about it. Amount in ISO 4217 minor units. */
export interface MethodsQuery {
  amount: number;
  currency: string;
  /** The merchant: `gateway_account`. */
  merchant: string;
  /** ISO 3166 alpha-2; optional (rules on countries then do not match). */
  country?: string;
  /** Default `web`. */
  channel: Channel;
  /** The gateway the order would name (`payment.gateway`); absent: every configured gateway when no rule matches. */
  gateway?: string;
}

/** One method on offer, with the gateways (in routing order) that can take it. */
export interface MethodOption {
  method: string;
  gateways: string[];
  /** A display name, where a gateway gave one. */
  name?: string;
  /** Card brands, where a gateway listed them. */
  brands?: string[];
}

/** What each candidate gateway contributed, and how it was learnt (`gateway`: asked it; `config`: `routing.payment_methods.by_gateway`; `default`: card). */
export interface GatewayMethods {
  gateway: string;
  source: 'gateway' | 'config' | 'default';
  methods: string[];
  /** The gateway's own list could not be read (timeout, HTTP error): the configured or default list stands in. */
  error?: string;
}

/** The answer: methods on offer, and why (the routing decision, each gateway's contribution). */
export interface MethodsAnswer {
  methods: MethodOption[];
  explanation: {
    rule: string | null;
    rules: RuleEvaluation[];
    candidates: string[];
    dropped: string[];
    gateways: GatewayMethods[];
  };
  /** Whether this answer came from the cache (`routing.payment_methods.cache_ms`). */
  cached: boolean;
}

/**
 * An answer as a bus reads it: the routing rules' `why` in its units ({@link amountBoundWhyForBus}: "amount 19.99 EUR >
 * max_amount.EUR 15.00 EUR" to a major-unit bus, for "amount 1999 > max_amount.EUR 1500"), in `currency`, the
 * query's. Everything else, and every answer to a minor-unit bus, as it is; a cached answer is never changed.
 */
export function methodsAnswerInBusUnits(answer: MethodsAnswer, currency: string, units: BusAmountUnits): MethodsAnswer {
  if (units === 'minor') return answer;
  const rules = answer.explanation.rules.map((r) => (r.why === undefined ? r : { ...r, why: amountBoundWhyForBus(r.why, currency, units) }));
  return { ...answer, explanation: { ...answer.explanation, rules } };
}

/** A query the caller got wrong: the field and why. */
export class MethodsQueryError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

const answersTotal = counter('pb_payment_methods_requests_total', 'Payment method option requests, by result (fresh, cached, refused)', ['result']);
const gatewayListTotal = counter('pb_payment_methods_gateway_lists_total', "Gateways' own payment method lists asked, by gateway and result", [
  'gateway',
  'result',
]);

const CHANNELS: readonly Channel[] = ['bus', 'web', 'pos', 'marketplace'];

/**
 * A query from JSON-RPC params or CLI flags; throws `MethodsQueryError` naming the field.
 * @param amountUnits the unit of `amount`: `minor` (default, the CLI's: an integer), or `major` for a bus configured
 *   with `service_bus.amount_units: major`: decimal major units as the MIB types amounts (`19.99`), read exactly
 *   (`decimalMajorToMinor`: 1999 EUR, never a float multiplication), more decimals than the currency has refused.
 *   The query is answered in minor units either way: the caps and the gateways' lists read them.
 */
export function methodsQueryOf(params: Record<string, unknown>, amountUnits: 'minor' | 'major' = 'minor'): MethodsQuery {
  try {
    return readMethodsQuery(params, amountUnits);
  } catch (err) {
    // `pb_payment_methods_requests_total{result="refused"}`: a query the caller got wrong (an amount too precise included).
    if (err instanceof MethodsQueryError) answersTotal.inc({ result: 'refused' });
    throw err;
  }
}

/** {@link methodsQueryOf}'s reading, uncounted. */
function readMethodsQuery(params: Record<string, unknown>, amountUnits: 'minor' | 'major'): MethodsQuery {
  const order = (typeof params.order === 'object' && params.order !== null ? params.order : params) as Record<string, unknown>;
  const at = (f: string) => (order === params ? f : `order.${f}`);
  const { amount, currency, country, channel, gateway } = order;
  const merchant = order.gateway_account ?? order.merchant;
  if (amountUnits === 'minor' && (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 0 || amount > MAX_MINOR_AMOUNT))
    throw new MethodsQueryError(at('amount'), 'must be an integer of minor units');
  if (amountUnits === 'major' && (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0))
    throw new MethodsQueryError(at('amount'), 'must be a number of major units, at least 0');
  if (typeof currency !== 'string' || !isKnownCurrency(currency.toUpperCase())) throw new MethodsQueryError(at('currency'), 'must be an ISO 4217 code');
  if (typeof merchant !== 'string' || merchant.length === 0 || merchant.length > 128)
    throw new MethodsQueryError(at('gateway_account'), 'is required (the merchant account)');
  if (country !== undefined && (typeof country !== 'string' || !/^[A-Za-z]{2}$/.test(country)))
    throw new MethodsQueryError(at('country'), 'must be ISO 3166 alpha-2');
  if (channel !== undefined && !CHANNELS.includes(channel as Channel)) throw new MethodsQueryError(at('channel'), `must be one of ${CHANNELS.join(', ')}`);
  if (gateway !== undefined && (typeof gateway !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(gateway)))
    throw new MethodsQueryError(at('gateway'), 'is not a gateway name');
  const code = currency.toUpperCase();
  let minor = amount as number;
  if (amountUnits === 'major') {
    try {
      minor = decimalMajorToMinor(minor, code);
    } catch (err) {
      const tooPrecise = err instanceof RangeError && /decimals/.test(err.message);
      throw new MethodsQueryError(
        at('amount'),
        tooPrecise
          ? `must have at most ${currencyDecimalsText(code)} in ${code} (major units)`
          : `must be at most ${amountWithUnitForBus(MAX_MINOR_AMOUNT, code, 'major')}`,
      );
    }
  }
  return {
    amount: minor,
    currency: code,
    merchant,
    channel: (channel as Channel | undefined) ?? 'web',
    ...(typeof country === 'string' ? { country: country.toUpperCase() } : {}),
    ...(typeof gateway === 'string' ? { gateway } : {}),
  };
}

/**
 * The payment methods an order can be paid with: the gateways the routing rules, the merchant agreements
 * and the transaction caps (per-transaction bounds; daily and monthly volume and count, read from their
 * Redis counters when given Redis) leave for it (an authorization of that amount, currency, country and channel), each with its
 * methods: its own list where it has one (Adyen `POST /paymentMethods`), else `routing.payment_methods.
 * by_gateway`, else card. Merged by method, gateways in routing order. Answers are cached per order shape
 * for `routing.payment_methods.cache_ms`. Never sees card data: the query has none.
 */
export class PaymentMethodOptions {
  private readonly table: RoutingTable;
  private readonly cache = new Map<string, { at: number; answer: MethodsAnswer }>();
  private readonly caps: CapReservations | null;

  constructor(
    private readonly deps: {
      config: Config;
      routes: ReadonlyMap<string, GatewayRoute>;
      logger?: Logger;
      now?: () => number;
      /** Redis, to read the daily and monthly cap counters; without it only per-transaction caps apply. */
      redis?: RedisClient;
    },
  ) {
    this.table = new RoutingTable(deps.config.routing);
    const rules = deps.config.limits.caps.rules;
    this.caps = deps.redis && rules.length > 0 ? new CapReservations(deps.redis, deps.config.redis.keyPrefix, rules) : null;
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  async list(query: MethodsQuery): Promise<MethodsAnswer> {
    const { cacheMs } = this.deps.config.routing.paymentMethods;
    const key = JSON.stringify([query.amount, query.currency, query.merchant, query.country ?? '', query.channel, query.gateway ?? '']);
    const hit = this.cache.get(key);
    if (hit && this.now() - hit.at < cacheMs) {
      answersTotal.inc({ result: 'cached' });
      return { ...hit.answer, cached: true };
    }
    const answer = await this.compute(query);
    if (cacheMs > 0) {
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, { at: this.now(), answer });
    }
    answersTotal.inc({ result: 'fresh' });
    return answer;
  }

  private async compute(query: MethodsQuery): Promise<MethodsAnswer> {
    const configured = Object.keys(this.deps.config.gateways);
    const payment = {
      gateway: query.gateway ?? '',
      gateway_account: query.merchant,
      gateway_key: '',
      amount: query.amount,
      currency: query.currency,
      ...(query.country ? { custom_attributes: { [this.deps.config.routing.countryAttributes[0] ?? 'country']: query.country } } : {}),
    };
    const decided = this.table.decide({ command: 'authorize', channel: query.channel, payment }, this.now());
    let candidates = decided.candidates;
    const dropped = [...decided.dropped];
    if (decided.rule === undefined && query.gateway === undefined) {
      // No gateway named and no rule: every configured gateway the merchant may use.
      candidates = configured.filter((g) => {
        const again = this.table.decide({ command: 'authorize', channel: query.channel, payment: { ...payment, gateway: g } }, this.now());
        dropped.push(...again.dropped);
        return again.candidates.includes(g);
      });
    }
    candidates = candidates.filter((g) => configured.includes(g));
    // Transaction caps: a gateway whose per-transaction bounds refuse this amount for this merchant, or whose
    // daily or monthly volume or count (gateway's or merchant's) this payment would overrun, is no option.
    // The counters are read, not reserved: the payment reserves atomically when it comes.
    const attempts = candidates.map((g) => ({ gateway: g, account: query.merchant, amount: query.amount, currency: query.currency }));
    const refusals = this.caps
      ? await this.caps.peek(attempts, this.now())
      : attempts.map((a) => amountRefusal(applicableRules(this.deps.config.limits.caps.rules, a), a));
    refusals.forEach((refusal, i) => {
      if (refusal) dropped.push(`cap_${refusal.limit}:${candidates[i]}`);
    });
    candidates = candidates.filter((_, i) => refusals[i] === null);
    const gateways = await Promise.all(candidates.map((g) => this.methodsOf(g, query)));
    const byMethod = new Map<string, MethodOption>();
    for (const [i, g] of gateways.entries()) {
      for (const m of g.listed) {
        const option = byMethod.get(m.method) ?? { method: m.method, gateways: [] };
        option.gateways.push(candidates[i]);
        if (m.name && option.name === undefined) option.name = m.name;
        if (m.brands) option.brands = [...new Set([...(option.brands ?? []), ...m.brands])];
        byMethod.set(m.method, option);
      }
    }
    return {
      methods: [...byMethod.values()],
      explanation: { rule: decided.rule ?? null, rules: decided.evaluated, candidates, dropped, gateways: gateways.map((g) => g.summary) },
      cached: false,
    };
  }

  private async methodsOf(
    gateway: string,
    query: MethodsQuery,
  ): Promise<{ listed: Array<{ method: string; name?: string; brands?: string[] }>; summary: GatewayMethods }> {
    const { byGateway, gatewayTimeoutMs } = this.deps.config.routing.paymentMethods;
    const fallback = byGateway[gateway];
    const standIn = (error?: string) => {
      const methods = fallback ? [...fallback] : ['card'];
      return {
        listed: methods.map((method) => ({ method })),
        summary: { gateway, source: fallback ? ('config' as const) : ('default' as const), methods, ...(error ? { error } : {}) },
      };
    };
    const route = this.deps.routes.get(gateway);
    if (!route || route.gateway.type !== 'adyen') return standIn();
    try {
      const request = adyenPaymentMethodsRequest(query, route.gateway);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${gatewayTimeoutMs} ms`)), gatewayTimeoutMs);
      });
      const response = await Promise.race([route.client.send(request), timeout]).finally(() => clearTimeout(timer));
      const listed = parseAdyenPaymentMethods(response);
      gatewayListTotal.inc({ gateway, result: 'ok' });
      return { listed, summary: { gateway, source: 'gateway', methods: listed.map((m) => m.method) } };
    } catch (err) {
      gatewayListTotal.inc({ gateway, result: 'error' });
      const error = (err as Error).message;
      this.deps.logger?.warn("payment methods: a gateway's own list could not be read; its configured list stands in", { gateway, error });
      return standIn(error);
    }
  }
}

/** Most order shapes kept in the cache (oldest dropped first). */
const MAX_CACHED = 1000;
