import type { GatewayConfig } from '../gateway-config';
import { GatewayRequest, GatewayResponse } from '../gateway-adapter';
import { toAdyenAmount } from './adyen-amount';

/** An order as Adyen's `POST /paymentMethods` is asked about it. Amount in ISO 4217 minor units. */
export interface AdyenMethodsQuery {
  amount: number;
  currency: string;
  /** ISO 3166 alpha-2; optional. */
  country?: string;
  /** Our channel; only `web` maps to one of Adyen's (`Web`): others send none. */
  channel?: string;
}

/** One method as Adyen lists it, in our words: `scheme` is `card`; `brands` for cards. */
export interface AdyenListedMethod {
  method: string;
  type: string;
  name?: string;
  brands?: string[];
}

/**
 * The Checkout API's `POST /paymentMethods` request (PaymentMethodsRequest: `merchantAccount` required;
 * `amount` {currency, value in Adyen's minor units}, `countryCode`, `channel` Web|iOS|Android). The amount
 * goes through the same conversion as `/payments` (Adyen's minor units differ from ISO's for CLP, CVE, ISK
 * and IDR), so Adyen filters its methods on the amount it would be asked to pay; an amount `/payments`
 * could not send is refused here too (`MoneyRefusalError`) before anything is sent.
 */
export function adyenPaymentMethodsRequest(query: AdyenMethodsQuery, gateway: GatewayConfig): GatewayRequest {
  const amount = toAdyenAmount(query.amount, query.currency, 'amount');
  const body: Record<string, unknown> = {
    merchantAccount: gateway.merchantAccount,
    amount: { currency: amount.currency, value: amount.value },
    ...(query.country ? { countryCode: query.country.toUpperCase() } : {}),
    ...(query.channel === 'web' ? { channel: 'Web' } : {}),
  };
  return { method: 'POST', path: '/paymentMethods', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body) };
}

/** The methods of a PaymentMethodsResponse (`paymentMethods[].type`, `name`, `brands`); stored ones are not listed. */
export function parseAdyenPaymentMethods(response: GatewayResponse): AdyenListedMethod[] {
  if (response.status < 200 || response.status >= 300) throw new Error(`Adyen /paymentMethods answered HTTP ${response.status}`);
  const json = JSON.parse(response.body) as unknown;
  const list = typeof json === 'object' && json !== null ? (json as { paymentMethods?: unknown }).paymentMethods : undefined;
  if (!Array.isArray(list)) return [];
  const out: AdyenListedMethod[] = [];
  for (const entry of list) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { type, name, brands } = entry as { type?: unknown; name?: unknown; brands?: unknown };
    if (typeof type !== 'string' || type.length === 0) continue;
    out.push({
      method: type === 'scheme' ? 'card' : type.toLowerCase(),
      type,
      ...(typeof name === 'string' ? { name } : {}),
      ...(Array.isArray(brands) ? { brands: brands.filter((b): b is string => typeof b === 'string') } : {}),
    });
  }
  return out;
}
