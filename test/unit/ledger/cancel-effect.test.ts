import { parseCancelEffect } from '../../../src/ledger/cancel-effect';

describe('parseCancelEffect', () => {
  it("reads a void's effect with what became of the authorization's hold, and one recorded before holds were followed", () => {
    expect(parseCancelEffect({ voided: 'c1', command: 'capture' })).toEqual({ voided: 'c1', command: 'capture' });
    expect(parseCancelEffect({ voided: 'c1', command: 'capture', hold: 'left' })).toEqual({ voided: 'c1', command: 'capture', hold: 'left' });
    expect(parseCancelEffect({ voided: 's1', command: 'sale', hold: 'releasing', reversal: '_a1-after-void.void' })).toEqual({
      voided: 's1',
      command: 'sale',
      hold: 'releasing',
      reversal: '_a1-after-void.void',
    });
  });

  it('reads the void of a capture or refund a cancel named by its own id, which concerns no hold', () => {
    expect(parseCancelEffect({ voided: 'r1', command: 'refund' })).toEqual({ voided: 'r1', command: 'refund' });
  });

  it('drops a hold it does not know, and a reversal without a release', () => {
    expect(parseCancelEffect({ voided: 'c1', command: 'capture', hold: 'released' })).toEqual({ voided: 'c1', command: 'capture' });
    expect(parseCancelEffect({ voided: 'c1', command: 'capture', hold: 'left', reversal: 'x' })).toEqual({ voided: 'c1', command: 'capture', hold: 'left' });
  });
});
