import { OperationRecord } from '../ledger/ledger';
import { SplitTenderState } from './split-tender-decision';
import { TenderPart, splitIdOfStep, stepReferences } from './split-tender-plan';
import { SplitTenderStore } from './split-tender-store';

/** A split tender's part that FAILED: the split it belongs to, which part, and the split's state as read. */
export interface FailedSplitStep {
  splitId: string;
  tender: TenderPart;
  /** The split's stored state (ROLLING_BACK, ROLLED_BACK, FAILED, REVERSAL_FAILED; CHARGING_CARD or REDEEMING until its sweep reads the failure). */
  state: SplitTenderState;
}

/**
 * Whether `op` is the redemption or the card part of a split tender (`_<id>.gc`, `_<id>.card`, as the split's plan
 * names them) and FAILED, and which split: null otherwise. Such a split never completes (a failed part rolls it
 * back, or fails it before any card is charged), and the OMS is told the order failed, so a success the PSP reports
 * for that part afterwards is money nothing will capture or keep. The step is recognised by the split's own record
 * (its plan names that reference), never by the custom attributes a channel could set; a DONE split (it cannot be,
 * with a failed part) is not taken. One Redis read of the split's record, only for a failed authorize or sale
 * whose reference has a step's shape.
 */
export async function failedSplitStepOf(store: Pick<SplitTenderStore, 'plan' | 'state'>, op: OperationRecord): Promise<FailedSplitStep | null> {
  if (op.state !== 'FAILED' || (op.command !== 'authorize' && op.command !== 'sale') || op.channel === 'bridge') return null;
  const splitId = splitIdOfStep(op.id);
  if (splitId === null) return null;
  const plan = await store.plan(splitId);
  if (!plan) return null;
  const refs = stepReferences(plan);
  const tender: TenderPart | null = op.id === refs.card ? 'card' : op.id === refs.giftCard ? 'gift_card' : null;
  if (tender === null) return null;
  const state = (await store.state(splitId)) ?? 'REDEEMING';
  if (state === 'DONE') return null;
  return { splitId, tender, state };
}
