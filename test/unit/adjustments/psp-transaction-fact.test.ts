import { readsTransactionSuccess } from '../../../src/adjustments/psp-transaction-fact';

describe('readsTransactionSuccess', () => {
  test('duplicate_after_failover and succeeded_after_failure read a transaction’s success; a chargeback or a failure does not', () => {
    expect(readsTransactionSuccess('duplicate_after_failover')).toBe(true);
    expect(readsTransactionSuccess('succeeded_after_failure')).toBe(true);
    expect(readsTransactionSuccess('chargeback')).toBe(false);
    expect(readsTransactionSuccess('capture_failed')).toBe(false);
  });
});
