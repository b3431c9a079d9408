/**
 * Stripe's request bodies are `application/x-www-form-urlencoded` with bracket notation for nested
 * values (`metadata[operation_id]=…`, `automatic_payment_methods[enabled]=true`), as its own SDKs send.
 */

/** A form value: a scalar, or a nested map / list of them. Numbers must be integers (minor units). */
export type StripeFormValue = string | number | boolean | undefined | StripeFormValue[] | { [key: string]: StripeFormValue };

/** Pairs of a nested value, keys in insertion order; `undefined` values are left out. */
function flatten(prefix: string, value: StripeFormValue, out: Array<[string, string]>): void {
  if (value === undefined) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => flatten(`${prefix}[${i}]`, item, out));
  } else if (typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) flatten(prefix ? `${prefix}[${key}]` : key, item, out);
  } else {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new RangeError(`form field ${prefix} must be an integer`);
    out.push([prefix, String(value)]);
  }
}

/** Encodes `fields` as Stripe expects; brackets stay literal (Stripe's SDKs do the same). */
export function encodeStripeForm(fields: { [key: string]: StripeFormValue }): string {
  const pairs: Array<[string, string]> = [];
  flatten('', fields, pairs);
  const enc = (s: string): string => encodeURIComponent(s).replace(/%5B/g, '[').replace(/%5D/g, ']');
  return pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
}
