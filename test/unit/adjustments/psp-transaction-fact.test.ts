import { ADJUSTMENT_KINDS } from '../../../src/adjustments/adjustment';
import { oneReadingPerTransaction, readsTransactionSuccess } from '../../../src/adjustments/psp-transaction-fact';

describe('readsTransactionSuccess', () => {
  test('duplicate_after_failover and succeeded_after_failure read a transaction’s success; a chargeback or a failure does not', () => {
    expect(readsTransactionSuccess('duplicate_after_failover')).toBe(true);
    expect(readsTransactionSuccess('succeeded_after_failure')).toBe(true);
    expect(readsTransactionSuccess('chargeback')).toBe(false);
    expect(readsTransactionSuccess('capture_failed')).toBe(false);
  });
});

describe('oneReadingPerTransaction', () => {
  test('exactly the contradictions whose reference names their own transaction give one fact per transaction; disputes, alerts, lapses, mismatches and refund facts do not', () => {
    expect(ADJUSTMENT_KINDS.filter(oneReadingPerTransaction)).toEqual([
      'capture_failed',
      'refund_failed',
      'succeeded_after_failure',
      'failed_after_success',
      'duplicate_after_failover',
    ]);
  });
});
