import type { PspRecordKind } from '../../reconciliation/psp-record';

/**
 * The record types (journal types) of Adyen's Settlement details report, column `Type`, as Adyen
 * documents them ("Settlement detail report structure" and "Journal types",
 * https://docs.adyen.com/reporting/settlement-detail-report), and what each means for reconciliation.
 * Every line of the report is money booked in a settlement batch, so every record is `succeeded`.
 */
export const ADYEN_SETTLEMENT_TYPES = [
  'Settled',
  'Refunded',
  'Chargeback',
  'SecondChargeback',
  'ChargebackReversed',
  'RefundedReversed',
  'Fee',
  'MiscCosts',
  'MerchantPayout',
  'DepositCorrection',
  'InvoiceDeduction',
  'MatchedStatement',
  'ManualCorrected',
  'AuthorisationSchemeFee',
  'BankInstructionReturned',
  'InternalCompanyPayout',
  'EpaPaid',
  'Balancetransfer',
  'PaymentCost',
  'PaidOut',
  'PaidOutReversed',
  // Older reports (before Adyen retired them in 2019): a capture or refund booked in bulk.
  'SettledBulk',
  'RefundedBulk',
] as const;
export type AdyenSettlementType = (typeof ADYEN_SETTLEMENT_TYPES)[number];

/** Every documented type, mapped (the compiler refuses a missing one). */
export const ADYEN_SETTLEMENT_TYPE_MAP: Readonly<Record<AdyenSettlementType, PspRecordKind>> = {
  // Credit for a payment captured (SentForSettle).
  Settled: 'capture',
  SettledBulk: 'capture',
  // Debit for a payment refunded (SentForRefund).
  Refunded: 'refund',
  RefundedBulk: 'refund',
  // Debit for a payment reversed by the bank, scheme or shopper.
  Chargeback: 'chargeback',
  // Debit again after the defence had the first one reversed: a fact of its own (Adyen's SECOND_CHARGEBACK).
  SecondChargeback: 'second_chargeback',
  // Credit of a chargeback defended (or re-paid by the shopper).
  ChargebackReversed: 'chargeback_reversed',
  // Credit of a refund the scheme or bank could not deliver, or the shopper returned.
  RefundedReversed: 'refund_reversed',
  // Batch-level bookings: no payment of ours.
  Fee: 'other',
  MiscCosts: 'other',
  MerchantPayout: 'other',
  DepositCorrection: 'other',
  InvoiceDeduction: 'other',
  MatchedStatement: 'other',
  ManualCorrected: 'other',
  AuthorisationSchemeFee: 'other',
  BankInstructionReturned: 'other',
  InternalCompanyPayout: 'other',
  EpaPaid: 'other',
  Balancetransfer: 'other',
  PaymentCost: 'other',
  PaidOut: 'other',
  PaidOutReversed: 'other',
};

/** The kind of a `Type`; undefined for one Adyen added since (the caller reports it as `other`). */
export function adyenSettlementKind(type: string): PspRecordKind | undefined {
  return Object.prototype.hasOwnProperty.call(ADYEN_SETTLEMENT_TYPE_MAP, type) ? ADYEN_SETTLEMENT_TYPE_MAP[type as AdyenSettlementType] : undefined;
}

/**
 * UTC offsets (minutes) of the time-zone abbreviations an account's time zone setting writes in the
 * report's `TimeZone` column. Ambiguous abbreviations (IST, CST outside the US) are not guessed: a report in
 * one of them is refused, naming the column, until it is added here.
 */
export const ADYEN_TIME_ZONES: Readonly<Record<string, number>> = {
  UTC: 0,
  GMT: 0,
  WET: 0,
  WEST: 60,
  BST: 60,
  CET: 60,
  CEST: 120,
  EET: 120,
  EEST: 180,
  MSK: 180,
  GST: 240,
  SGT: 480,
  HKT: 480,
  AWST: 480,
  JST: 540,
  KST: 540,
  AEST: 600,
  AEDT: 660,
  NZST: 720,
  NZDT: 780,
  BRT: -180,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
};
