import { amountWithUnitForBus } from '../money/bus-amount-text';
import { CommandValidationError } from '../errors/command-validation-error';
import { isKnownCurrency } from '../money/currencies';
import { MAX_MINOR_AMOUNT, currencyDecimalsText, decimalMajorToMinor, minorToDecimalMajor } from '../money/minor-units';
import type { ScheduleView } from '../recurring/recurring-management';

/**
 * Amounts a bus configured with `service_bus.amount_units: major` sends, in every call the intake takes from it
 * (commands, recurring schedules, payment method options), and amounts the intake answers it with. Inside the
 * bridge money is always ISO 4217 minor units; one amount left in the bus's unit would be charged 100 times
 * too small (EUR), or 1000 times (KWD).
 */

/**
 * A money field of a bus call (a payment command's `payment.amount` or a line's `unit_price_gross`, a recurring
 * schedule's `schedule.amount`) from a bus configured with `service_bus.amount_units: major`, in minor units. The MIB payment specification types these amounts as floats
 * (`"amount": 12.99`): decimal major units, read exactly ({@link decimalMajorToMinor}). Anything that is no finite
 * number, or is of a currency we do not know, comes back as it came: the command's validation refuses it naming
 * the field.
 * @throws CommandValidationError naming `field`: more decimals than the currency has (never rounded: a sub-minor
 *   amount cannot be charged), or past `MAX_MINOR_AMOUNT` in minor units.
 */
export function busPaymentAmountInMinor(value: unknown, currency: unknown, field: string): unknown {
  if (typeof value !== 'number' || !Number.isFinite(value) || typeof currency !== 'string' || !isKnownCurrency(currency)) return value;
  try {
    return decimalMajorToMinor(value, currency);
  } catch (err) {
    const tooPrecise = err instanceof RangeError && /decimals/.test(err.message);
    throw new CommandValidationError(
      field,
      tooPrecise
        ? `must have at most ${currencyDecimalsText(currency)} in ${currency} (major units)`
        : `must be at most ${amountWithUnitForBus(MAX_MINOR_AMOUNT, currency, 'major')}`,
    );
  }
}

/**
 * The params of a bus's `recurring.rpc_method.create` with `schedule.amount` in minor units: decimal major units
 * read exactly as a payment command's are ({@link busPaymentAmountInMinor}: 19.99 EUR is 1999, 1.234 KWD 1234);
 * a schedule without an amount, or that is no object, as it came.
 * @throws CommandValidationError `schedule.amount`: more decimals than the currency has, or too large.
 */
export function scheduleParamsInMinor(params: Record<string, unknown>): Record<string, unknown> {
  const schedule = params.schedule;
  if (schedule === null || typeof schedule !== 'object' || Array.isArray(schedule) || !Object.hasOwn(schedule, 'amount')) return params;
  const s = schedule as Record<string, unknown>;
  return { ...params, schedule: { ...s, amount: busPaymentAmountInMinor(s.amount, s.currency, 'schedule.amount') } };
}

/**
 * A schedule's view as the bus is answered: with `units` major, the definition's amount in decimal major units
 * (1999 EUR is 19.99, 1234 KWD 1.234, 1500 JPY 1500: formatted from the integer, never divided as a float) and
 * `amount_units: "major"`; a currency whose exponent we do not know (none a schedule can be created in) leaves the
 * amount in minor units and says `"minor"`. Minor units: as it is.
 */
export function scheduleViewInBusUnits(view: ScheduleView, units: 'minor' | 'major'): ScheduleView {
  if (units === 'minor') return view;
  const { amount, currency } = view.definition;
  if (!isKnownCurrency(currency) || !Number.isSafeInteger(amount)) return { ...view, amount_units: 'minor' };
  return { ...view, amount_units: 'major', definition: { ...view.definition, amount: minorToDecimalMajor(amount, currency) } };
}
