import type { Payment } from '../contracts/payment-command';
import type { OperationRecord } from '../ledger/record-fields';
import type { StageDecision } from '../ledger/routing-record';
import { convertLines } from './converted-lines';
import { parseRate } from './exact-rate';
import { FxLock, PartsBefore, atLockedRateAfter, lockFromDetails, orderAmountWithin } from './fx-lock';

/** The conversion locked with an operation (its FX decision, kept in its routing record), if it was converted. */
export function fxLockOf(op: Pick<OperationRecord, 'routing'>): FxLock | null {
  return fxLockOfDecisions(op.routing?.decisions ?? []);
}

/**
 * The conversion a plan's decisions lock (the last decision carrying one: only an FX decision does), if it converted.
 * The one rule for a plan being decided (the caps stage's fallback step) and for one on record (`fxLockOf`).
 */
export function fxLockOfDecisions(decisions: readonly Pick<StageDecision, 'details'>[]): FxLock | null {
  for (let i = decisions.length - 1; i >= 0; i--) {
    const lock = lockFromDetails(decisions[i].details);
    if (lock) return lock;
  }
  return null;
}

/**
 * What a converted authorization (or sale) holds in the order's currency, minor units: the amount the OMS
 * asked, unless the PSP approved less than the converted amount (a partial approval, confirmed in the
 * converted currency): then the largest order amount whose conversion at the locked rate that confirmed
 * amount covers (`orderAmountWithin`), so captures and refunds checked against it are never sent for more
 * than the PSP holds, and none is refused that it covers. A confirmed amount in the order's currency counts as
 * it is; one in any other currency is not comparable and leaves the amount asked (the PSP decides, as before).
 */
export function heldInOrderCurrency(auth: Pick<OperationRecord, 'payment' | 'confirmedAmount' | 'confirmedCurrency'>, lock: FxLock): number {
  const asked = auth.payment.amount;
  const confirmed = auth.confirmedAmount;
  if (confirmed === undefined) return asked;
  const currency = (auth.confirmedCurrency ?? lock.to.currency).toUpperCase();
  if (currency === lock.from.currency.toUpperCase()) return Math.min(asked, confirmed);
  if (currency !== lock.to.currency.toUpperCase() || confirmed >= lock.to.amount) return asked;
  return Math.min(asked, orderAmountWithin(lock, confirmed));
}

/**
 * A capture, cancel or refund of `auth` as its gateway must see it: when `auth` was converted, the amount
 * (in the order's currency, as the OMS sends it) converted at the authorization's locked rate into the
 * currency the PSP holds, so a refund goes out at the original rate; its lines too (`convertedPayment`).
 * Otherwise `payment` unchanged. A command in another currency than the order's is left as it is (the
 * currency check refuses it).
 * @param before what earlier captures (for a capture) or refunds (for a refund) of `auth` took, in the
 *   order's currency, and what they were sent for: the part is converted as the conversion of their running
 *   total with it less what they were sent for (`atLockedRateAfter`), so the parts sent add up to exactly the
 *   converted total, never more through rounding. The result may be 0 or less: the caller refuses it.
 */
export function atAuthorizationRate(auth: Pick<OperationRecord, 'routing'>, payment: Payment, before: number | PartsBefore = 0): Payment {
  const lock = fxLockOf(auth);
  if (!lock || payment.currency !== lock.from.currency) return payment;
  return convertedPayment(payment, lock, atLockedRateAfter(lock, payment.amount, before));
}

/**
 * `payment` converted at `lock`'s rate into `amount` of the lock's target currency, with its lines in that
 * currency too, adding up as before (`convertLines`); when they cannot, without lines: a line in the order's
 * currency must never reach the PSP labelled with the converted one. `linesOmitted` tells the caller to say so.
 */
export function convertedPayment(payment: Payment, lock: FxLock, amount: number): Payment {
  const { lines, ...rest } = payment;
  const converted: Payment = { ...rest, amount, currency: lock.to.currency };
  if (!lines || lines.length === 0) return lines ? { ...converted, lines } : converted;
  const to = { amount, currency: lock.to.currency };
  const moved = convertLines(lines, { amount: payment.amount, currency: payment.currency }, to, parseRate(lock.rate), lock.step ?? 1);
  return moved ? { ...converted, lines: moved } : converted;
}

/** Whether a conversion of `original` left its lines out (they could not be converted to add up). */
export function linesOmitted(original: Payment, converted: Payment): boolean {
  return (original.lines?.length ?? 0) > 0 && converted.lines === undefined;
}
