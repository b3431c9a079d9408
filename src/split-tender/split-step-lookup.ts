import type { OperationRecord } from '../ledger/ledger';
import { BRIDGE_ID_PREFIX } from '../ledger/operation-id';
import type { SplitOfStep, SplitTenderSteps } from '../delivery/split-step-wait';
import { FINAL_SPLIT_STATES } from './split-tender-decision';
import { splitIdOfStep, stepReferences } from './split-tender-plan';
import type { SplitTenderStore } from './split-tender-store';

/**
 * What delivery asks before a capture, cancel or refund of one of our authorizations (`SplitTenderSteps`): whether it
 * is a split tender's redemption or card part, and where that split stands. Known by the split's own record (its plan
 * names the step's reference, and the step carries the split's id), never by custom attributes alone, which a channel
 * could send on any payment.
 */
export class SplitStepLookup implements SplitTenderSteps {
  constructor(private readonly store: Pick<SplitTenderStore, 'planAndState'>) {}

  async splitOf(auth: OperationRecord): Promise<SplitOfStep | null> {
    const attributes = auth.payment.custom_attributes;
    const splitId = attributes && !Array.isArray(attributes) ? (attributes as Record<string, unknown>).split_tender_id : undefined;
    // Syntactic first, no read: an authorization whose id is no split step's (`_<id>.gc`, `_<id>.card`) naming that split.
    if (typeof splitId !== 'string' || splitIdOfStep(auth.id) !== splitId) return null;
    // One read of the split's hash (plan and state).
    const split = await this.store.planAndState(splitId);
    if (!split) return null;
    const { plan, state } = split;
    const refs = stepReferences(plan);
    if (auth.id !== refs.giftCard && auth.id !== refs.card) return null;
    const standing = state === 'DONE' ? 'done' : FINAL_SPLIT_STATES.has(state) ? 'undone' : 'open';
    const reversals = auth.id === refs.giftCard ? [refs.giftCardVoid, refs.giftCardRefund] : [refs.cardVoid, refs.cardRefund];
    return { splitId, state, standing, steps: Object.values(refs), reversals };
  }

  reversesStep(opId: string, stepId: string): boolean {
    if (!opId.startsWith(BRIDGE_ID_PREFIX) || !stepId.startsWith(BRIDGE_ID_PREFIX)) return false;
    const splitId = splitIdOfStep(stepId);
    if (splitId === null) return false;
    const refs = stepReferences({ id: splitId, step_ids: 'namespaced' });
    if (stepId === refs.giftCard) return opId === refs.giftCardVoid || opId === refs.giftCardRefund;
    return stepId === refs.card && (opId === refs.cardVoid || opId === refs.cardRefund);
  }
}
