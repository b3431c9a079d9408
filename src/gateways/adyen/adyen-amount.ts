import { currencyExponent } from '../../money/currencies';
import { MAX_MINOR_AMOUNT } from '../../money/minor-units';

/**
 * Adyen's `Amount` is an integer of minor units, but for four currencies Adyen's minor unit is not the
 * ISO 4217 one (Adyen "Currency codes" page: "for CLP, CVE, IDR and ISK the decimals in this table are
 * leading"). Our money is always ISO minor units, so this file is the one place that converts, exactly.
 */
const ADYEN_EXPONENT_OVERRIDES: Readonly<Record<string, number>> = Object.freeze({ CLP: 2, CVE: 0, IDR: 0, ISK: 2 });

/** Adyen's `{ value, currency }`; `value` in Adyen's minor units of `currency`. */
export interface AdyenAmount {
  value: number;
  currency: string;
}

/** Number of decimals Adyen uses for `currency` (ISO 4217 except CLP, CVE, IDR, ISK). Throws on an unknown code. */
export function adyenExponent(currency: string): number {
  const iso = currencyExponent(currency);
  return ADYEN_EXPONENT_OVERRIDES[currency] ?? iso;
}

/** Thrown when an amount cannot be expressed exactly in the other unit; callers classify it. */
export class AmountConversionError extends RangeError {}

function shift(value: number, from: number, to: number): number {
  if (!Number.isSafeInteger(value)) throw new AmountConversionError('amount must be an integer of minor units');
  if (to === from) return value;
  if (to > from) {
    const out = value * 10 ** (to - from);
    if (!Number.isSafeInteger(out)) throw new AmountConversionError('amount out of range');
    return out;
  }
  const divisor = 10 ** (from - to);
  // A fraction of the target's smallest unit cannot be charged: refuse instead of rounding money away.
  if (value % divisor !== 0) throw new AmountConversionError('amount has more precision than the gateway accepts');
  return value / divisor;
}

/** ISO minor units (our money) → Adyen's `Amount`. Exact, integers only; throws `AmountConversionError`. */
export function toAdyenAmount(minor: number, currency: string): AdyenAmount {
  if (Math.abs(minor) > MAX_MINOR_AMOUNT) throw new AmountConversionError('amount out of range');
  return { value: shift(minor, currencyExponent(currency), adyenExponent(currency)), currency };
}

/** Adyen's `Amount` → ISO minor units (our money). Exact, integers only; throws `AmountConversionError`. */
export function fromAdyenAmount(amount: AdyenAmount): number {
  return shift(amount.value, adyenExponent(amount.currency), currencyExponent(amount.currency));
}
