import { notePspWait, takePspWaits } from '../../../src/admission/psp-wait';

describe('psp-wait', () => {
  it('averages the PSP call times noted since the last take, then starts over (NaN when none)', () => {
    takePspWaits();
    notePspWait(200);
    notePspWait(300);
    expect(takePspWaits()).toEqual({ calls: 2, meanMs: 250 });
    const empty = takePspWaits();
    expect(empty.calls).toBe(0);
    expect(empty.meanMs).toBeNaN();
  });
});
