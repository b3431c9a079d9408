import { cybersourceReasonStatus } from '../../../../src/gateways/cybersource/cybersource-reason-codes';
import { cybersourceStatusMeaning } from '../../../../src/gateways/cybersource/cybersource-status-map';

describe('cybersourceReasonStatus', () => {
  it.each([
    ['480', undefined, 'PENDING_REVIEW'],
    ['200', undefined, 'AUTHORIZED_PENDING_REVIEW'],
    ['230', undefined, 'AUTHORIZED_PENDING_REVIEW'],
    ['110', undefined, 'PARTIAL_AUTHORIZED'],
    [undefined, 'DREVIEW', 'PENDING_REVIEW'],
    [undefined, 'DAVSNO', 'AUTHORIZED_PENDING_REVIEW'],
    [undefined, 'DCV', 'AUTHORIZED_PENDING_REVIEW'],
  ] as const)('reads reason code %s / reply flag %s as the REST status %s', (reasonCode, rFlag, status) => {
    expect(cybersourceReasonStatus(reasonCode, rFlag)).toBe(status);
  });

  it('leaves every other reason code, and a bare SOK flag, to the rCode', () => {
    expect(cybersourceReasonStatus('100', 'SOK')).toBeUndefined();
    expect(cybersourceReasonStatus('203', 'DCARDREFUSED')).toBeUndefined();
    expect(cybersourceReasonStatus(undefined, 'SOK')).toBeUndefined();
    expect(cybersourceReasonStatus(undefined, undefined)).toBeUndefined();
  });

  it('lets a reason code given decide alone, whatever flag is beside it', () => {
    expect(cybersourceReasonStatus('100', 'DAVSNO')).toBeUndefined();
  });

  it('makes a review hold and a soft decline PENDING, as a synchronous AUTHORIZED_PENDING_REVIEW is', () => {
    for (const code of ['480', '200', '230']) expect(cybersourceStatusMeaning(cybersourceReasonStatus(code, undefined)!)).toBe('PENDING');
  });
});
