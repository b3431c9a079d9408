import type { AdjustmentKind, MoneyDirection } from '../adjustments/adjustment';
import type { OperationState } from '../ledger/operation-state';
import type { CommandType } from '../contracts/payment-command';
import type { PspRecord } from './psp-record';

/**
 * What reconciliation concludes about one PSP line (or one ledger operation no line names). Closed set:
 * every consumer (metrics, report, runner) switches over it exhaustively.
 */
export const RECONCILIATION_CLASSES = [
  /** The PSP and the ledger agree: same operation, state, amount and currency. */
  'matched',
  /** Both say the money moved, in the same currency, but not the same amount. */
  'amount_mismatch',
  /** Both say the money moved, in different currencies. */
  'currency_mismatch',
  /** They disagree on what happened: the PSP captured what the ledger says failed, or the reverse, or one side still waits. */
  'state_mismatch',
  /** The PSP moved money (or tried to) that the ledger has no operation for: never asked for, or lost track of. */
  'missing_in_ledger',
  /** The ledger holds an operation of the window that moved money, and the PSP lists no line for it. */
  'missing_at_psp',
  /** A PSP line about no payment of ours (a fee, a payout, a transfer): context for the report, never matched. */
  'not_a_payment',
] as const;
export type ReconciliationClass = (typeof RECONCILIATION_CLASSES)[number];

/** How a PSP line was tied to a ledger operation, strongest first. */
export type MatchMethod = 'operation_id' | 'modification_reference' | 'psp_reference' | 'merchant_reference';

/**
 * What the runner does about a verdict. The PSP is authoritative for what it did: `adjust` records the
 * difference as an adjustment (idempotent by the PSP line id) with its OMS event; `settle` gives a
 * not-yet-terminal operation (UNRESOLVED, PENDING, UNKNOWN, SENT) the PSP's outcome; `report` leaves it to
 * a person (it is in the report); `none` for agreement.
 */
export type ReconciliationAction =
  | { type: 'none' }
  | { type: 'report' }
  | { type: 'settle'; status: 'SUCCESS' | 'FAIL' }
  | { type: 'adjust'; kind: AdjustmentKind; direction: MoneyDirection; amount: number; currency: string; reason: string };

/** The ledger side of a verdict, as the report shows it. */
export interface LedgerSide {
  operationId: string;
  command: CommandType;
  state: OperationState;
  /** What the PSP confirmed when it said, else what was asked; minor units of `currency`. */
  amount: number;
  currency: string;
  orderId?: string;
  gatewayReference?: string;
  createdAt: number;
}

/**
 * What a line showing as done an operation the ledger holds SUCCEEDED and marked undone comes to: `redone` (the
 * line is after the fact that undid it: a `succeeded_after_failure` clears the mark), `stands` (the line is before
 * it: the success that fact undid), `unclear` (which came first cannot be told: a person looks).
 */
export type UndoneLineOutcome = 'redone' | 'stands' | 'unclear';

/** One classified line: the PSP's line (absent for `missing_at_psp`), the ledger operation it was matched to, and what to do. */
export interface LineVerdict {
  class: ReconciliationClass;
  record?: PspRecord;
  ledger?: LedgerSide;
  matchedBy?: MatchMethod;
  action: ReconciliationAction;
  /** One sentence for a person: what differs. */
  note: string;
  /**
   * A late-fact line found recorded by an adjustment no line accounted for yet (a webhook's): the runner ties
   * that adjustment to this line, so that it accounts for no other (a second chargeback of the same amount).
   */
  ties?: { adjustmentId: string; by: 'psp_reference' | 'kind_and_amount' };
  /** A line about an operation marked undone (`undone_by`): the adjustment that marked it, and what the line comes to. */
  undone?: { adjustmentId: string; outcome: UndoneLineOutcome };
}
