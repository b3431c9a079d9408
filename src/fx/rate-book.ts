import type { FxConfig } from '../config/limits-config';
import type { GatewaySender } from '../gateways/gateway-route';
import { buildExchangeRateRequest, parseExchangeRates } from '../gateways/stripe/stripe-exchange-rates';
import { ExactRate, invertRate, parseRate } from './exact-rate';

/** A rate as quoted: the exact value, where it came from, and when it was quoted (epoch ms). */
export interface RateQuote {
  rate: ExactRate;
  /** `gateway:<name>` (the PSP's own rates) or `configured` (`fx.rates`). */
  source: string;
  at: number;
}

/** Why no usable rate: none anywhere, or only one older than `fx.max_rate_age_ms`. */
export type RateRefusal = 'FX_RATE_UNAVAILABLE' | 'FX_RATE_STALE';

/** A gateway whose PSP publishes rates we can read: its type and its client. */
export interface RateGateway {
  type: string;
  client: GatewaySender;
}

/**
 * Exchange rates for conversions: the gateway's own where it has them (Stripe's exchange rates API,
 * `GET /v1/exchange_rates/{currency}`, read as exact decimals), cached `fx.cache_ms`; otherwise (or when the
 * gateway's fetch fails) the configured `fx.rates` (direct, or inverted exactly). A rate older than
 * `fx.max_rate_age_ms` is never used.
 */
export class RateBook {
  private readonly cache = new Map<string, { rates: Record<string, string>; at: number }>();

  constructor(
    private readonly config: FxConfig,
    private readonly gateways: ReadonlyMap<string, RateGateway>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The quote without I/O: a fresh cached gateway rate or a fresh configured one; undefined when a fetch is needed. */
  quoteNow(gateway: string, from: string, to: string): RateQuote | RateRefusal | undefined {
    const g = this.gateways.get(gateway);
    if (this.config.gatewayRates && g && hasOwnRates(g.type)) {
      const cached = this.cache.get(`${gateway}:${from}`);
      if (!cached || this.now() - cached.at > this.config.cacheMs) return undefined;
      const quoted = gatewayQuote(cached.rates[to], gateway, cached.at);
      if (quoted !== undefined) return quoted;
    }
    return this.configured(from, to);
  }

  /** The quote, fetching the gateway's rates when the cache is empty or old. Throws a GatewayError when the fetch fails and no configured rate exists. */
  async quote(gateway: string, from: string, to: string): Promise<RateQuote | RateRefusal> {
    const now = this.quoteNow(gateway, from, to);
    if (now !== undefined) return now;
    const g = this.gateways.get(gateway);
    if (!g) return this.configured(from, to);
    let fetched: { rates: Record<string, string>; at: number };
    try {
      const response = await g.client.send(buildExchangeRateRequest(from));
      fetched = { rates: parseExchangeRates(response, gateway).rates, at: this.now() };
    } catch (err) {
      const fallback = this.configured(from, to);
      if (fallback !== 'FX_RATE_UNAVAILABLE') return fallback;
      const cached = this.cache.get(`${gateway}:${from}`);
      const quoted = cached && this.now() - cached.at <= this.config.maxRateAgeMs ? gatewayQuote(cached.rates[to], gateway, cached.at) : undefined;
      if (quoted !== undefined) return quoted;
      throw err;
    }
    this.cache.set(`${gateway}:${from}`, fetched);
    return gatewayQuote(fetched.rates[to], gateway, fetched.at) ?? this.configured(from, to);
  }

  /** A configured rate (direct or inverted), refused when stale. */
  private configured(from: string, to: string): RateQuote | RateRefusal {
    const direct = this.config.rates.find((r) => r.from === from && r.to === to);
    const inverse = direct ? undefined : this.config.rates.find((r) => r.from === to && r.to === from);
    const found = direct ?? inverse;
    if (!found) return 'FX_RATE_UNAVAILABLE';
    if (this.now() - found.asOf > this.config.maxRateAgeMs) return 'FX_RATE_STALE';
    const rate = parseRate(found.rate);
    return { rate: direct ? rate : invertRate(rate), source: 'configured', at: found.asOf };
  }
}

/**
 * The gateway's rate for one currency as a quote, or undefined when it has none or one that is no rate (0, a
 * negative or unreadable number): then the configured rates decide, as when the gateway lists none.
 */
function gatewayQuote(text: string | undefined, gateway: string, at: number): RateQuote | undefined {
  if (text === undefined) return undefined;
  try {
    return { rate: parseRate(text), source: `gateway:${gateway}`, at };
  } catch {
    return undefined;
  }
}

/** Gateway types whose PSP publishes exchange rates we read. */
export function hasOwnRates(type: string): boolean {
  return type === 'stripe';
}
