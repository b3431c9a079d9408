import {
  SplitTenderPlan,
  refundIdOfPart,
  refundReferences,
  refundScopeField,
  splitIdOfStep,
  stepReferences,
} from '../../../src/split-tender/split-tender-plan';

describe('split tender references', () => {
  it('finds the refund a refund part names, in either naming, and nothing in a split step or another id', () => {
    for (const stepIds of ['namespaced', undefined] as const) {
      for (const part of Object.values(refundReferences({ refundId: 'r-1.a_b', stepIds }))) expect(refundIdOfPart(part)).toBe('r-1.a_b');
    }
    for (const step of Object.values(stepReferences({ id: 's-1', step_ids: 'namespaced' }))) expect(refundIdOfPart(step)).toBeNull();
    expect(refundIdOfPart('_r-1.refund-card')).toBe('r-1');
    expect(refundIdOfPart('r-1.refund-card')).toBeNull();
    expect(refundIdOfPart('_.refund-gc')).toBeNull();
    expect(refundIdOfPart('.card')).toBeNull();
    expect(refundIdOfPart('order-7')).toBeNull();
    // `<id>.card` of a split stored before its steps were namespaced reads as both: the records tell which it is.
    expect(refundIdOfPart('s-1.card')).toBe('s-1');
    expect(splitIdOfStep('s-1.card')).toBe('s-1');
    expect(splitIdOfStep('_r-1.refund-card')).toBeNull();
  });
});

describe('split refund scope', () => {
  const plan: SplitTenderPlan = {
    id: 's-1',
    channel: 'web',
    order_id: 'O-1',
    currency: 'EUR',
    total: 10000,
    gift_card: { gateway: 'adyen', gateway_account: 'Gifts', gateway_key: 'gc_tok', amount: 3000 },
    card: { gateway: 'stripe', gateway_account: 'acct_1', gateway_key: 'pm_1' },
  };

  it("takes a refund naming either tender's gateway and account, and the split's order or none", () => {
    expect(refundScopeField(plan, { gateway: 'stripe', gateway_account: 'acct_1', order_id: 'O-1' })).toBeNull();
    expect(refundScopeField(plan, { gateway: 'adyen', gateway_account: 'Gifts' })).toBeNull();
  });

  it('names the field of a refund outside the split: another gateway, account (or one of the other tender), order', () => {
    expect(refundScopeField(plan, { gateway: 'cybersource', gateway_account: 'acct_1' })).toBe('payment.gateway');
    expect(refundScopeField(plan, { gateway: 'stripe', gateway_account: 'acct_2' })).toBe('payment.gateway_account');
    expect(refundScopeField(plan, { gateway: 'stripe', gateway_account: 'Gifts' })).toBe('payment.gateway_account');
    expect(refundScopeField(plan, { gateway: 'stripe', gateway_account: 'acct_1', order_id: 'O-2' })).toBe('payment.order_id');
  });

  it("takes the gateway a tender was routed to, with that tender's account", () => {
    expect(refundScopeField(plan, { gateway: 'adyen', gateway_account: 'acct_1' })).toBe('payment.gateway_account');
    expect(refundScopeField(plan, { gateway: 'cybersource', gateway_account: 'acct_1' }, { card: 'cybersource' })).toBeNull();
    expect(refundScopeField(plan, { gateway: 'cybersource', gateway_account: 'Gifts' }, { card: 'cybersource' })).toBe('payment.gateway_account');
  });

  it('a split started without an order id (its own id stands for it) takes a refund naming any order, as an authorization without one does', () => {
    expect(refundScopeField({ ...plan, order_id: 's-1' }, { gateway: 'stripe', gateway_account: 'acct_1', order_id: 'O-9' })).toBeNull();
  });
});
