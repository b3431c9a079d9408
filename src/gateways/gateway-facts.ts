import type { AdjustmentKind } from '../adjustments/adjustment';
import type { CommandType } from '../contracts/payment-command';
import type { OutcomeStatus } from './gateway-adapter';

/**
 * A row of a gateway's fact table in `docs/gateways/<name>.md`: a PSP fact, where it comes from and what the
 * gateway's own status map makes of it. Each gateway builds its rows by calling its status maps
 * (`<name>-facts.ts`), so the page cannot drift from the code.
 */

/** What a status map makes of a fact: an outcome, or a documented non-outcome. */
export type FactMeaning = OutcomeStatus | 'ignore' | 'retry';

export interface FactRow {
  /** The PSP fact, e.g. "PaymentIntent `requires_capture`". */
  fact: string;
  /** response, status inquiry, webhook. */
  source: string;
  /** The commands it answers; empty: whichever operation it names. */
  commands: readonly CommandType[];
  meaning: FactMeaning;
  /** A late fact about money: the adjustment kind it is recorded as (see docs/EVENTS.md). */
  adjustment?: AdjustmentKind;
  /**
   * A fact that is no outcome (`meaning` `ignore`: the ledger state unchanged, no outcome event) but still does
   * something for the payment it names: what, for the fact table's notification cell.
   */
  notice?: string;
}

/** The status-map source label most rows share. */
export const RESPONSE_OR_INQUIRY = 'response, status inquiry';
