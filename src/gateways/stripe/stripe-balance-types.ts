import type { PspRecordKind, PspRecordStatus } from '../../reconciliation/psp-record';

/**
 * What each Stripe balance transaction `type` (API 2023-08-16, the enum of `balance_transaction.type`;
 * https://docs.stripe.com/reports/balance-transaction-types) means for reconciliation. `dispute`: an
 * `adjustment` whose source is a dispute (funds withdrawn: chargeback; returned: chargeback reversed);
 * any other adjustment is `other`.
 */
export type StripeBalanceMapping = { kind: PspRecordKind; status: PspRecordStatus } | 'dispute';

export const STRIPE_BALANCE_TYPES = [
  'adjustment',
  'advance',
  'advance_funding',
  'anticipation_repayment',
  'application_fee',
  'application_fee_refund',
  'charge',
  'connect_collection_transfer',
  'contribution',
  'issuing_authorization_hold',
  'issuing_authorization_release',
  'issuing_dispute',
  'issuing_transaction',
  'obligation_inbound',
  'obligation_outbound',
  'obligation_payout',
  'obligation_payout_failure',
  'obligation_reversal_inbound',
  'obligation_reversal_outbound',
  'payment',
  'payment_failure_refund',
  'payment_refund',
  'payment_reversal',
  'payout',
  'payout_cancel',
  'payout_failure',
  'refund',
  'refund_failure',
  'reserve_transaction',
  'reserved_funds',
  'stripe_fee',
  'stripe_fx_fee',
  'tax_fee',
  'topup',
  'topup_reversal',
  'transfer',
  'transfer_cancel',
  'transfer_failure',
  'transfer_refund',
] as const;
export type StripeBalanceType = (typeof STRIPE_BALANCE_TYPES)[number];

const OTHER = { kind: 'other', status: 'succeeded' } as const;

/** Every documented type, mapped (the compiler refuses a missing one). */
export const STRIPE_BALANCE_TYPE_MAP: Readonly<Record<StripeBalanceType, StripeBalanceMapping>> = {
  // Money collected from a shopper: a card charge, or a payment of another method (bank debits, wallets).
  charge: { kind: 'capture', status: 'succeeded' },
  payment: { kind: 'capture', status: 'succeeded' },
  // Money given back.
  refund: { kind: 'refund', status: 'succeeded' },
  payment_refund: { kind: 'refund', status: 'succeeded' },
  // A refund that failed: the money came back to the merchant.
  refund_failure: { kind: 'refund_reversed', status: 'succeeded' },
  // A delayed-notification payment (ACH, SEPA debit) that failed after it was booked, or was reversed: the
  // capture did not hold.
  payment_failure_refund: { kind: 'capture', status: 'failed' },
  payment_reversal: { kind: 'capture', status: 'failed' },
  // Disputes are booked as adjustments on the dispute.
  adjustment: 'dispute',
  // No payment of ours: fees, payouts, transfers, Connect, Issuing, Capital, top-ups, reserves.
  advance: OTHER,
  advance_funding: OTHER,
  anticipation_repayment: OTHER,
  application_fee: OTHER,
  application_fee_refund: OTHER,
  connect_collection_transfer: OTHER,
  contribution: OTHER,
  issuing_authorization_hold: OTHER,
  issuing_authorization_release: OTHER,
  issuing_dispute: OTHER,
  issuing_transaction: OTHER,
  obligation_inbound: OTHER,
  obligation_outbound: OTHER,
  obligation_payout: OTHER,
  obligation_payout_failure: OTHER,
  obligation_reversal_inbound: OTHER,
  obligation_reversal_outbound: OTHER,
  payout: OTHER,
  payout_cancel: OTHER,
  payout_failure: OTHER,
  reserve_transaction: OTHER,
  reserved_funds: OTHER,
  stripe_fee: OTHER,
  stripe_fx_fee: OTHER,
  tax_fee: OTHER,
  topup: OTHER,
  topup_reversal: OTHER,
  transfer: OTHER,
  transfer_cancel: OTHER,
  transfer_failure: OTHER,
  transfer_refund: OTHER,
};

/** The mapping of a type string; undefined for a type Stripe added after 2023-08-16 (the caller reports it as `other`). */
export function stripeBalanceMapping(type: string): StripeBalanceMapping | undefined {
  return Object.prototype.hasOwnProperty.call(STRIPE_BALANCE_TYPE_MAP, type) ? STRIPE_BALANCE_TYPE_MAP[type as StripeBalanceType] : undefined;
}
