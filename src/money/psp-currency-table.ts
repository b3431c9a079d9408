import { MoneyRefusalError } from '../errors/money-refusal-error';
import { counter } from '../metrics/metrics-registry';
import { currencyExponent, isKnownCurrency, readPspCurrency } from './currencies';
import { MAX_MINOR_AMOUNT } from './minor-units';

/**
 * How one PSP expresses amounts of one currency in its API. Our money is always ISO 4217 minor units
 * (`currencies.ts`); a PSP's unit can differ (Stripe: ISK and UGX in hundredths, MGA in whole ariary; Adyen:
 * CLP and ISK in hundredths, CVE and IDR whole), and some PSPs accept only some multiples.
 */
export interface PspCurrencyRule {
  /** Decimals of the PSP's API amount for this currency (its "minor unit"). */
  readonly exponent: number;
  /** The PSP's API amount must be a multiple of this (Stripe ISK/UGX: 100, three-decimal currencies: 10). Default 1. */
  readonly multipleOf?: number;
  /** Largest API amount the PSP accepts, in its own unit. Default: no limit beyond ours. */
  readonly maxValue?: number;
}

/** One PSP's currency table, built from that PSP's own documentation (`source`). */
export interface PspCurrencyTable {
  /** The PSP's name, for errors and metric labels (`stripe`, `adyen`, `cybersource`). */
  readonly psp: string;
  /** URL of the PSP documentation the table follows. */
  readonly source: string;
  /** Upper-case ISO 4217 code → rule. A currency absent here is refused as `currency_not_supported`. */
  readonly currencies: Readonly<Record<string, PspCurrencyRule>>;
}

const unreadable = counter(
  'pb_psp_amount_unreadable_total',
  'PSP answers whose amount or currency could not be read exactly into ISO minor units (reported without an amount)',
  ['psp', 'reason'],
);

/** Counts a PSP amount we could not read exactly (the outcome goes on without it). */
export function countUnreadable(psp: string, reason: string): void {
  unreadable.inc({ psp, reason });
}

/** The rule of `currency` at this PSP; throws `MoneyRefusalError(currency_not_supported)` naming `field`. */
export function pspCurrencyRule(table: PspCurrencyTable, currency: string, field = 'payment.currency'): PspCurrencyRule {
  const rule = Object.prototype.hasOwnProperty.call(table.currencies, currency) ? table.currencies[currency] : undefined;
  if (rule === undefined || !isKnownCurrency(currency)) {
    throw new MoneyRefusalError('currency_not_supported', table.psp, field, `${table.psp} does not list currency ${JSON.stringify(currency)}`);
  }
  return rule;
}

/** Whether the PSP's table lists `currency`. */
export function pspSupportsCurrency(table: PspCurrencyTable, currency: string): boolean {
  return isKnownCurrency(currency) && Object.prototype.hasOwnProperty.call(table.currencies, currency);
}

/** `value` moved from `from` to `to` decimals, exactly (integers only); undefined when a remainder would be lost. */
function shift(value: number, from: number, to: number): number | undefined {
  if (to >= from) {
    const out = value * 10 ** (to - from);
    return Number.isSafeInteger(out) ? out : undefined;
  }
  const divisor = 10 ** (from - to);
  return value % divisor === 0 ? value / divisor : undefined;
}

/**
 * The PSP's smallest step of `currency` in ISO minor units: every amount it takes is a multiple of it, and
 * every multiple is taken (below `maxValue`). 1 where each ISO minor unit goes; Adyen IDR and CVE, Stripe
 * MGA: 100 (whole units); Stripe's three-decimal currencies: 10. Exact: the PSP's step is `multipleOf` of
 * its unit, `multipleOf × 10^(iso − exponent)` ISO minor units, a fraction p/q in lowest terms, and an
 * integer n is a whole number of such steps exactly when p divides n. Throws like `pspCurrencyRule`.
 */
export function isoAmountStep(table: PspCurrencyTable, currency: string): number {
  const rule = pspCurrencyRule(table, currency);
  const iso = currencyExponent(currency);
  const num = BigInt(rule.multipleOf ?? 1) * 10n ** BigInt(Math.max(0, iso - rule.exponent));
  const den = 10n ** BigInt(Math.max(0, rule.exponent - iso));
  let [a, b] = [num, den];
  while (b !== 0n) [a, b] = [b, a % b];
  return Number(num / a);
}

/**
 * Our integer ISO minor units → the PSP's API amount (an integer in the PSP's unit). Exact or refused:
 * `amount_not_representable` when the amount is not a whole number of the PSP's unit, not a multiple the
 * PSP accepts, or above its maximum; `currency_not_supported` when the table lacks the currency.
 */
export function isoToPspAmount(table: PspCurrencyTable, minor: number, currency: string, field = 'payment.amount'): number {
  const rule = pspCurrencyRule(table, currency);
  if (!Number.isSafeInteger(minor)) {
    throw new MoneyRefusalError('amount_not_representable', table.psp, field, 'must be an integer of minor units');
  }
  const iso = currencyExponent(currency);
  const value = shift(minor, iso, rule.exponent);
  if (value === undefined) {
    throw new MoneyRefusalError(
      'amount_not_representable',
      table.psp,
      field,
      `${table.psp} takes ${currency} with ${rule.exponent} decimals; the amount has a remainder below that`,
    );
  }
  const step = rule.multipleOf ?? 1;
  if (value % step !== 0) {
    const unit = shift(step, rule.exponent, iso);
    throw new MoneyRefusalError(
      'amount_not_representable',
      table.psp,
      field,
      `${table.psp} accepts ${currency} only in multiples of ${unit ?? step} ISO minor units`,
    );
  }
  if (rule.maxValue !== undefined && Math.abs(value) > rule.maxValue) {
    throw new MoneyRefusalError('amount_not_representable', table.psp, field, `above the largest ${currency} amount ${table.psp} accepts`);
  }
  return value;
}

/**
 * The currency field beside a PSP's amount field, as every PSP answer we read places it: `amount` →
 * `currency`, `source.amount` → `source.currency`, `amount.value` → `amount.currency`.
 */
export function currencyFieldBeside(amountField: string): string {
  const dot = amountField.lastIndexOf('.');
  return dot < 0 ? 'currency' : `${amountField.slice(0, dot)}.currency`;
}

/**
 * The PSP's API amount (integer in the PSP's unit) → our ISO minor units. Exact or refused with
 * `amount_not_representable` (a fraction of the ISO minor unit, or beyond `MAX_MINOR_AMOUNT` either way:
 * more than any command may ask, and a 15 to 19 digit number may be a card number) naming `field`, or
 * `currency_not_supported` naming the currency field beside it (`currencyFieldBeside`): the currency is at
 * fault, not the amount.
 */
export function pspToIsoAmount(table: PspCurrencyTable, value: number, currency: string, field: string): number {
  const rule = pspCurrencyRule(table, currency, currencyFieldBeside(field));
  if (!Number.isSafeInteger(value)) throw new MoneyRefusalError('amount_not_representable', table.psp, field, 'not an integer');
  const minor = shift(value, rule.exponent, currencyExponent(currency));
  if (minor === undefined) {
    throw new MoneyRefusalError('amount_not_representable', table.psp, field, `not a whole number of ${currency} ISO minor units`);
  }
  if (Math.abs(minor) > MAX_MINOR_AMOUNT)
    throw new MoneyRefusalError('amount_not_representable', table.psp, field, 'beyond the largest amount the bridge handles');
  return minor;
}

/** The PSP-confirmed amount and currency of an answer, as `GatewayOutcome` carries them. */
export interface ConfirmedMoney {
  /** ISO minor units of `currency`; absent when the answer's amount could not be read exactly. */
  amount?: number;
  /** Upper-case ISO 4217 code. */
  currency?: string;
}

/**
 * Reads what a PSP answer confirms, for an outcome: never throws (an answer we cannot read exactly still
 * settles the operation; it just carries no amount, and `pb_psp_amount_unreadable_total` counts it).
 * `currency` as the PSP spells it (any case); `value` in the PSP's unit.
 */
export function readConfirmedMoney(table: PspCurrencyTable, value: unknown, currency: unknown, field: string): ConfirmedMoney {
  if (typeof currency !== 'string' || currency.length === 0) return {};
  // A currency that is no ISO 4217 code confirms nothing: reported as it came, it would read as the PSP's
  // confirmed currency and put a discrepancy against a currency that does not exist in the OMS's event.
  const read = readPspCurrency(currency);
  if ('problem' in read) {
    unreadable.inc({ psp: table.psp, reason: 'currency_not_iso' });
    return {};
  }
  const code = read.code;
  if (value === undefined || value === null) return { currency: code };
  if (typeof value !== 'number') {
    unreadable.inc({ psp: table.psp, reason: 'amount_not_representable' });
    return { currency: code };
  }
  try {
    return confirmedAmount(table.psp, pspToIsoAmount(table, value, code, field), code);
  } catch (err) {
    if (!(err instanceof MoneyRefusalError)) throw err;
    unreadable.inc({ psp: table.psp, reason: err.refusal });
    return { currency: code };
  }
}

/**
 * An amount a PSP confirms for an operation (what it authorized, captured, refunded, a card's balance, a
 * disputed sum): never below zero, whatever the direction of the money (an adjustment's direction says that).
 * A negative one is no amount of the operation: reported without it (`amount_negative`, counted), never as a
 * discrepancy of a negative sum or an adjustment that would move money the other way; nor is one beyond
 * `MAX_MINOR_AMOUNT` (`amount_not_representable`).
 */
export function confirmedAmount(psp: string, amount: number, currency: string): ConfirmedMoney {
  if (amount > MAX_MINOR_AMOUNT) {
    // More than any command may ask, and digits that may be a card number's: kept nowhere (see `pspToIsoAmount`).
    unreadable.inc({ psp, reason: 'amount_not_representable' });
    return { currency };
  }
  if (amount >= 0) return { amount: amount === 0 ? 0 : amount, currency };
  unreadable.inc({ psp, reason: 'amount_negative' });
  return { currency };
}

/** Sets `amount` / `currency` on an outcome from what `readConfirmedMoney` found (absent stays absent). */
export function withConfirmedMoney<T extends { amount?: number; currency?: string }>(outcome: T, money: ConfirmedMoney): T {
  if (money.amount !== undefined) outcome.amount = money.amount;
  if (money.currency !== undefined) outcome.currency = money.currency;
  return outcome;
}
