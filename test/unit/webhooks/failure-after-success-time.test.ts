import { OperationRecord } from '../../../src/ledger/record-fields';
import { olderThanRecordedSuccess } from '../../../src/webhooks/failure-after-success';

/** A capture as the ledger holds it, with the PSP's time of its success when given. */
function capture(state: OperationRecord['state'], pspSucceededAt?: number): OperationRecord {
  return {
    id: 'op-capture-1',
    command: 'capture',
    channel: 'web',
    state,
    payment: { gateway: 'adyen', gateway_account: 'acct-1', gateway_key: 'op-auth-1', amount: 5000, currency: 'EUR' },
    receivedAt: 1,
    createdAt: 1,
    updatedAt: 1,
    attempts: 1,
    ...(pspSucceededAt !== undefined ? { pspSucceededAt } : {}),
  };
}

describe('a failure ordered by the PSP against the success recorded on its operation', () => {
  const succeededAt = Date.parse('2026-12-05T10:00:00Z');

  it('is older only when the PSP dates it strictly before that success: the same second cannot be told older', () => {
    expect(olderThanRecordedSuccess(capture('SUCCEEDED', succeededAt), succeededAt - 1000)).toBe(true);
    expect(olderThanRecordedSuccess(capture('SUCCEEDED', succeededAt), succeededAt)).toBe(false);
    expect(olderThanRecordedSuccess(capture('SUCCEEDED', succeededAt), succeededAt + 1000)).toBe(false);
  });

  it('is never older when either time is missing or no time at all, or when the operation did not succeed', () => {
    expect(olderThanRecordedSuccess(capture('SUCCEEDED'), succeededAt - 1000)).toBe(false);
    expect(olderThanRecordedSuccess(capture('SUCCEEDED', succeededAt), undefined)).toBe(false);
    // A time the PSP gave that is none (before 1970, not a whole number) orders nothing.
    expect(olderThanRecordedSuccess(capture('SUCCEEDED', succeededAt), -1000)).toBe(false);
    expect(olderThanRecordedSuccess(capture('SUCCEEDED', succeededAt), Number.NaN)).toBe(false);
    expect(olderThanRecordedSuccess(capture('FAILED', succeededAt), succeededAt - 1000)).toBe(false);
  });
});
