import { refundIdOfPart, refundReferences, splitIdOfStep, stepReferences } from '../../../src/split-tender/split-tender-plan';

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
