import { guardedBySplit, heldBySplit } from '../../../src/delivery/split-step-wait';
import { OperationRecord } from '../../../src/ledger/ledger';
import { SplitStepLookup } from '../../../src/split-tender/split-step-lookup';
import { SplitTenderPlan, stepReferences } from '../../../src/split-tender/split-tender-plan';
import { SplitTenderState } from '../../../src/split-tender/split-tender-decision';

/** Which authorizations delivery takes for a split's step, and which commands wait for their split. */

const plan: SplitTenderPlan = {
  id: 'ORD-1.pay',
  step_ids: 'namespaced',
  channel: 'web',
  order_id: 'ORD-1',
  currency: 'EUR',
  total: 10000,
  gift_card: { gateway: 'sim', gateway_account: 'acme', gateway_key: 'gc_token', amount: 3000 },
  card: { gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_card_visa' },
};
const refs = stepReferences(plan);

/** The split's store: its plan and `state` (REDEEMING when none is stored), counting its reads. */
function store(state: SplitTenderState | null, known = true) {
  const s = {
    reads: 0,
    planAndState: async (id: string) => {
      s.reads += 1;
      return known && id === plan.id ? { plan, state: state ?? 'REDEEMING' } : null;
    },
  };
  return s;
}

function auth(id: string, attributes: Record<string, unknown> | undefined): OperationRecord {
  return {
    id,
    command: 'authorize',
    payment: { gateway: 'sim', gateway_account: 'acme', gateway_key: 'gc_token', amount: 3000, currency: 'EUR', custom_attributes: attributes },
  } as OperationRecord;
}

describe('SplitStepLookup', () => {
  it("names a split's redemption and card part with where the split stands and the step's own reversals", async () => {
    const open = store('CHARGING_CARD');
    const lookup = new SplitStepLookup(open);
    expect(await lookup.splitOf(auth(refs.giftCard, { split_tender_id: plan.id, tender: 'gift_card' }))).toEqual({
      splitId: plan.id,
      state: 'CHARGING_CARD',
      standing: 'open',
      steps: Object.values(refs),
      reversals: [refs.giftCardVoid, refs.giftCardRefund],
    });
    // One read of the split's hash per step looked up.
    expect(open.reads).toBe(1);
    expect(await lookup.splitOf(auth(refs.card, { split_tender_id: plan.id, tender: 'card' }))).toMatchObject({ reversals: [refs.cardVoid, refs.cardRefund] });
    expect(await new SplitStepLookup(store('DONE')).splitOf(auth(refs.giftCard, { split_tender_id: plan.id }))).toMatchObject({ standing: 'done' });
    expect(await new SplitStepLookup(store('ROLLED_BACK')).splitOf(auth(refs.giftCard, { split_tender_id: plan.id }))).toMatchObject({ standing: 'undone' });
    expect(await new SplitStepLookup(store('REVERSAL_FAILED')).splitOf(auth(refs.giftCard, { split_tender_id: plan.id }))).toMatchObject({
      standing: 'undone',
    });
  });

  it('takes no payment for a step on its custom attributes alone, nor a step of a split whose record is gone', async () => {
    const reads = store('CHARGING_CARD');
    const lookup = new SplitStepLookup(reads);
    // A channel's own authorization carrying the attribute: not a step's id. An ordinary authorization: no attribute.
    // Neither costs a read: a capture of an ordinary authorization pays no Redis round trip for the split check.
    expect(await lookup.splitOf(auth('ORD-1.other', { split_tender_id: plan.id }))).toBeNull();
    expect(await lookup.splitOf(auth('ORD-1.pay', { color: 'red' }))).toBeNull();
    expect(await lookup.splitOf(auth('ORD-1.pay', undefined))).toBeNull();
    expect(await lookup.splitOf(auth('_ORD-1.pay-gb.void', { split_tender_id: plan.id }))).toBeNull();
    expect(reads.reads).toBe(0);
    // A step's id naming another split than its attribute.
    expect(await lookup.splitOf(auth(refs.giftCard, { split_tender_id: 'ORD-2.pay' }))).toBeNull();
    // A reversal is no step a capture names.
    expect(await lookup.splitOf(auth(refs.giftCardVoid, { split_tender_id: plan.id }))).toBeNull();
    expect(await lookup.splitOf(auth(refs.giftCard, undefined))).toBeNull();
    expect(await new SplitStepLookup(store(null, false)).splitOf(auth(refs.giftCard, { split_tender_id: plan.id }))).toBeNull();
  });
});

describe('guardedBySplit', () => {
  it("holds the OMS's captures, cancels and refunds, never the bridge's own commands nor other commands", () => {
    expect(guardedBySplit({ id: 'cap-1', command: 'capture' })).toBe(true);
    expect(guardedBySplit({ id: 'can-1', command: 'cancel' })).toBe(true);
    expect(guardedBySplit({ id: 'ref-1', command: 'refund' })).toBe(true);
    expect(guardedBySplit({ id: 'rev-1', command: 'revalidate' })).toBe(false);
    expect(guardedBySplit({ id: refs.giftCardVoid, command: 'cancel' })).toBe(false);
    expect(guardedBySplit({ id: '_R-1.refund-gc', command: 'refund' })).toBe(false);
  });
});

describe("a split's own reversal of its step", () => {
  it('is known by its id alone (no read): the void or refund of that very step, bridge ids only', () => {
    const lookup = new SplitStepLookup({ planAndState: () => Promise.reject(new Error('no read')) });
    expect(lookup.reversesStep(refs.giftCardVoid, refs.giftCard)).toBe(true);
    expect(lookup.reversesStep(refs.giftCardRefund, refs.giftCard)).toBe(true);
    expect(lookup.reversesStep(refs.cardVoid, refs.card)).toBe(true);
    expect(lookup.reversesStep(refs.cardRefund, refs.card)).toBe(true);
    // Another step's reversal, another split's, the OMS's own command, a split stored before bridge ids.
    expect(lookup.reversesStep(refs.cardVoid, refs.giftCard)).toBe(false);
    expect(lookup.reversesStep(stepReferences({ id: 'ORD-2.pay', step_ids: 'namespaced' }).giftCardVoid, refs.giftCard)).toBe(false);
    expect(lookup.reversesStep('cancel-1', refs.giftCard)).toBe(false);
    const legacy = stepReferences({ id: plan.id });
    expect(lookup.reversesStep(legacy.giftCardVoid, legacy.giftCard)).toBe(false);
  });

  it("leaves out only the OMS's commands not yet sent: one sent may move money and is waited for as before", () => {
    expect(heldBySplit({ id: 'cap-1', command: 'capture', state: 'RECEIVED' })).toBe(true);
    expect(heldBySplit({ id: 'ref-1', command: 'refund', state: 'RECEIVED' })).toBe(true);
    expect(heldBySplit({ id: 'cap-1', command: 'capture', state: 'SENT' })).toBe(false);
    expect(heldBySplit({ id: 'cap-1', command: 'capture', state: 'UNKNOWN' })).toBe(false);
    expect(heldBySplit({ id: refs.giftCardVoid, command: 'cancel', state: 'RECEIVED' })).toBe(false);
  });
});
