import { stepOutcomeOf } from '../../../src/split-tender/ledger-step-outcome';
import { OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { channelCommand } from '../../support/fixtures';

function cancel(extra: Partial<OperationRecord>): OperationRecord {
  const c = channelCommand('cancel', {}, { amount: 3000, currency: 'EUR' });
  return { ...draftRecord('_s1.gc-void', c, 0), ...extra };
}

describe("a split step's outcome from its ledger record (stepOutcomeOf)", () => {
  it('a void its PSP refused as captured carries what the PSP stated captured, in the order currency', () => {
    const refused = cancel({ state: 'FAILED', reason: 'authorization_captured', capturedAtPsp: { amount: 1200, currency: 'EUR' } });
    expect(stepOutcomeOf(refused)).toEqual({ state: 'FAILED', reason: 'authorization_captured', capturedAtPsp: { amount: 1200 } });
  });

  it('one stated in another currency, or with no amount, carries the refusal without an amount', () => {
    expect(stepOutcomeOf(cancel({ state: 'FAILED', capturedAtPsp: { amount: 1200, currency: 'USD' } }))).toEqual({ state: 'FAILED', capturedAtPsp: {} });
    expect(stepOutcomeOf(cancel({ state: 'FAILED', capturedAtPsp: {} }))).toEqual({ state: 'FAILED', capturedAtPsp: {} });
  });

  it('a void that failed otherwise carries nothing of a capture', () => {
    expect(stepOutcomeOf(cancel({ state: 'FAILED', reason: 'authorization_cancelled' }))).toEqual({ state: 'FAILED', reason: 'authorization_cancelled' });
  });
});
