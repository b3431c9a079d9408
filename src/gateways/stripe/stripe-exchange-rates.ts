import { GatewayError } from '../../errors/gateway-error';
import { withoutTrailingZeros } from '../../money/minor-units';
import { GatewayRequest, GatewayResponse } from '../gateway-adapter';
import { stripeCurrency } from './stripe-amount';
import { classifyStripeError } from './stripe-errors';
import { STRIPE_API_VERSION } from './stripe-requests';

/** Stripe's rates from one base currency, each an exact decimal string as Stripe wrote it. */
export interface StripeExchangeRates {
  /** Upper-case ISO 4217 code of the base currency. */
  base: string;
  /** Upper-case currency code → units of that currency per one unit of `base`, e.g. `"0.912"`. */
  rates: Record<string, string>;
}

/** `GET /v1/exchange_rates/{currency}`; authenticate() adds the key as for any request. */
export function buildExchangeRateRequest(currency: string): GatewayRequest {
  return { method: 'GET', path: `/v1/exchange_rates/${stripeCurrency(currency)}`, headers: { 'stripe-version': STRIPE_API_VERSION } };
}

/** Largest exponent a rate is read with: the rates of real currencies are within 10^±10 of each other. */
const MAX_RATE_EXPONENT = 30;

/**
 * A JSON number literal as a plain decimal string (`1.2e-3` → `"0.0012"`), by string arithmetic only. An
 * exponent beyond ±{@link MAX_RATE_EXPONENT} is refused (RangeError): `1e-100000` would be 100 000 digits.
 */
export function plainDecimal(literal: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m) throw new RangeError(`not a number literal: ${literal}`);
  const [, sign, int, frac = '', expText = '0'] = m;
  const exp = Number(expText);
  if (!(Math.abs(exp) <= MAX_RATE_EXPONENT)) throw new RangeError(`exponent beyond ±${MAX_RATE_EXPONENT}: ${literal.slice(0, 40)}`);
  let digits = int + frac;
  let point = int.length + exp;
  if (point <= 0) {
    digits = '0'.repeat(1 - point) + digits;
    point = 1;
  } else if (point > digits.length) {
    digits = digits.padEnd(point, '0');
  }
  const whole = digits.slice(0, point).replace(/^0+(?=\d)/, '');
  const fraction = withoutTrailingZeros(digits.slice(point));
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

/**
 * The rates of an exchange_rate object. Read from the raw text, not through JSON.parse: a rate such as
 * 0.1 would come back as the nearest float, and money arithmetic downstream must start exact.
 */
export function parseExchangeRates(response: GatewayResponse, gateway = 'stripe'): StripeExchangeRates {
  if (response.status < 200 || response.status >= 300) throw classifyStripeError(response, gateway, 'read');
  let json: unknown;
  try {
    json = JSON.parse(response.body) as unknown;
  } catch (cause) {
    throw new GatewayError('server_error', gateway, 'exchange rates body is not JSON', { cause });
  }
  const id = typeof json === 'object' && json !== null ? (json as Record<string, unknown>).id : undefined;
  const ratesStart = /"rates"\s*:\s*\{/.exec(response.body);
  if (typeof id !== 'string' || ratesStart === null) throw new GatewayError('server_error', gateway, 'not an exchange_rate object');
  const rest = response.body.slice(ratesStart.index + ratesStart[0].length);
  const end = rest.indexOf('}');
  const section = end < 0 ? rest : rest.slice(0, end);
  const rates: Record<string, string> = {};
  const pair = /"([A-Za-z]{3})"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  for (let m = pair.exec(section); m !== null; m = pair.exec(section)) {
    try {
      rates[m[1].toUpperCase()] = plainDecimal(m[2]);
    } catch (cause) {
      throw new GatewayError('server_error', gateway, `exchange rate of ${m[1].toUpperCase()} is not a usable number`, { cause });
    }
  }
  return { base: id.toUpperCase(), rates };
}
