import { CommandValidationError } from '../errors/command-validation-error';
import { isKnownCurrency } from '../money/currencies';
import { MAX_MINOR_AMOUNT, currencyDecimalsText, decimalMajorToMinor, majorToMinor, minorToWholeMajor } from '../money/minor-units';
import type { ScheduleView } from '../recurring/recurring-management';

/**
 * Amounts a bus configured with `service_bus.amount_units: major` sends, in every call the intake takes from it
 * (commands, recurring schedules, payment method options), and amounts the intake answers it with. Inside the
 * bridge money is always ISO 4217 minor units; one amount left in the bus's unit would be charged 100 times
 * too small (EUR), or 1000 times (KWD).
 */

/**
 * `value`, whole major units of `currency`, in minor units. Anything that is not a safe integer, or is of a
 * currency we do not know, comes back as it came: the call's validation refuses it naming the field.
 * @throws CommandValidationError naming `field` when the amount in minor units would pass `MAX_MINOR_AMOUNT`
 *   (left as it is, it would pass as minor units).
 */
export function busAmountInMinor(value: unknown, currency: unknown, field: string): unknown {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || typeof currency !== 'string' || !isKnownCurrency(currency)) return value;
  try {
    return majorToMinor(value, currency);
  } catch {
    throw new CommandValidationError(field, `must be at most ${MAX_MINOR_AMOUNT} in minor units`);
  }
}

/**
 * A payment command's money field (`payment.amount`, a line's `unit_price_gross`…) from a bus configured with
 * `service_bus.amount_units: major`, in minor units. The MIB payment specification types these amounts as floats
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
      tooPrecise ? `must have at most ${currencyDecimalsText(currency)} in ${currency} (major units)` : `must be at most ${MAX_MINOR_AMOUNT} in minor units`,
    );
  }
}

/**
 * The params of a bus's `recurring.rpc_method.create` with `schedule.amount` in minor units (see
 * {@link busAmountInMinor}); a schedule without an amount, or that is no object, as it came.
 * @throws CommandValidationError `schedule.amount`.
 */
export function scheduleParamsInMinor(params: Record<string, unknown>): Record<string, unknown> {
  const schedule = params.schedule;
  if (schedule === null || typeof schedule !== 'object' || Array.isArray(schedule) || !Object.hasOwn(schedule, 'amount')) return params;
  const s = schedule as Record<string, unknown>;
  return { ...params, schedule: { ...s, amount: busAmountInMinor(s.amount, s.currency, 'schedule.amount') } };
}

/**
 * A schedule's view as the bus is answered: with `units` major, the definition's amount in whole major units
 * and `amount_units: "major"`; an amount that is no whole number of major units (a schedule an operator created
 * in minor units) is never rounded: it stays in minor units and the view says `"minor"`. Minor units: as it is.
 */
export function scheduleViewInBusUnits(view: ScheduleView, units: 'minor' | 'major'): ScheduleView {
  if (units === 'minor') return view;
  const { amount, currency } = view.definition;
  const major = isKnownCurrency(currency) ? minorToWholeMajor(amount, currency) : undefined;
  if (major === undefined) return { ...view, amount_units: 'minor' };
  return { ...view, amount_units: 'major', definition: { ...view.definition, amount: major } };
}
