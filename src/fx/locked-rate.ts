import type { Payment } from '../contracts/payment-command';
import type { OperationRecord } from '../ledger/record-fields';
import { FxLock, atLockedRate, lockFromDetails } from './fx-lock';

/** The conversion locked with an operation (its FX decision, kept in its routing record), if it was converted. */
export function fxLockOf(op: Pick<OperationRecord, 'routing'>): FxLock | null {
  const decisions = op.routing?.decisions ?? [];
  for (let i = decisions.length - 1; i >= 0; i--) {
    const lock = lockFromDetails(decisions[i].details);
    if (lock) return lock;
  }
  return null;
}

/**
 * A capture, cancel or refund of `auth` as its gateway must see it: when `auth` was converted, the amount
 * (in the order's currency, as the OMS sends it) converted at the authorization's locked rate into the
 * currency the PSP holds, so a refund goes out at the original rate. Otherwise `payment` unchanged.
 * A command in another currency than the order's is left as it is (the currency check refuses it).
 */
export function atAuthorizationRate(auth: Pick<OperationRecord, 'routing'>, payment: Payment): Payment {
  const lock = fxLockOf(auth);
  if (!lock || payment.currency !== lock.from.currency) return payment;
  return { ...payment, amount: atLockedRate(lock, payment.amount), currency: lock.to.currency };
}
