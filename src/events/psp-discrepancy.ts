import { confirmsBalance } from '../contracts/stored-value';
import type { OperationRecord } from '../ledger/ledger';
import { confirmedOrAsked, routedPayment } from '../ledger/routing-record';

/** How what the PSP confirmed differs from what we asked: the event's `discrepancy` (and `reason` when it has none). */
export type PspDiscrepancy = 'amount_mismatch' | 'currency_mismatch';

/** Money as reported to the OMS: integer minor units of an upper-case ISO 4217 currency. */
export interface ReportedMoney {
  amount: number;
  currency: string;
}

/**
 * The difference between what was asked (`requested`) and what the PSP confirmed, or `null` when it
 * confirmed the same or said nothing. A different currency is the discrepancy even if the number matches
 * (amounts in two currencies are not comparable). A side the PSP did not state is not compared. Pure.
 */
export function pspDiscrepancy(requested: ReportedMoney, confirmed: { amount?: number; currency?: string }): PspDiscrepancy | null {
  if (confirmed.currency !== undefined && confirmed.currency.toUpperCase() !== requested.currency.toUpperCase()) return 'currency_mismatch';
  if (confirmed.amount !== undefined && confirmed.amount !== requested.amount) return 'amount_mismatch';
  return null;
}

/**
 * What the gateway was asked for an operation: a cancel that released what its authorization's captures left
 * (`cancelEffect` `remainder`) asked that remainder, whatever the command's amount; else a converted payment's
 * converted amount (its routing record), else the command's. Pure.
 */
export function askedMoney(op: Pick<OperationRecord, 'payment' | 'routing' | 'cancelEffect'>): ReportedMoney {
  const effect = op.cancelEffect;
  if (effect !== undefined && 'released' in effect && effect.released === 'remainder') return { amount: effect.amount, currency: effect.currency };
  const routed = routedPayment(op);
  return { amount: routed.amount, currency: routed.currency };
}

/**
 * What an operation's event reports: the amount and currency the PSP confirmed where it said so, else what
 * the gateway was asked; what the command asked (`requested`, before any currency conversion); and the
 * discrepancy between what the gateway was asked and what it confirmed, if any. Pure.
 */
export function reportedMoney(op: OperationRecord): { reported: ReportedMoney; requested: ReportedMoney; discrepancy: PspDiscrepancy | null } {
  const asked = askedMoney(op);
  const requested = { amount: op.payment.amount, currency: op.payment.currency };
  // A balance inquiry's confirmed figure is the card's balance (see `balanceOf`), not this operation's money.
  if (confirmsBalance(op.command)) return { reported: asked, requested, discrepancy: null };
  const confirmed = { amount: op.confirmedAmount, currency: op.confirmedCurrency };
  // A PSP currency whose amount could not be read: the asked money is reported, and the discrepancy says the PSP named another.
  return { reported: confirmedOrAsked(op, asked), requested, discrepancy: pspDiscrepancy(asked, confirmed) };
}

/**
 * The card balance a balance inquiry read (the PSP's figure, in ISO minor units), or undefined for any other
 * command or when the PSP named none. Pure.
 */
export function balanceOf(op: OperationRecord): ReportedMoney | undefined {
  if (!confirmsBalance(op.command) || op.confirmedAmount === undefined) return undefined;
  return { amount: op.confirmedAmount, currency: op.confirmedCurrency?.toUpperCase() ?? op.payment.currency };
}
