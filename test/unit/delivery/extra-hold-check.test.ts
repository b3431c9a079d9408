import { extraHoldChecksKey, needsExtraHoldCheck } from '../../../src/delivery/extra-hold-check';

describe('needsExtraHoldCheck', () => {
  const attempt = (n: number) => ({ event: 'attempt', attempt: n });

  it('is true for an authorize at a gateway whose resend is a new request when an earlier attempt under the key is unproven', () => {
    const history = [attempt(1), { event: 'send_error', kind: 'outcome_unknown' }, { event: 'inquiry_lag', found: false }, attempt(2)];
    expect(needsExtraHoldCheck(history, 'authorize', true)).toBe(true);
  });

  it('is false with no earlier attempt, one proven absent (not sent, an inquiry that found no trace), another command or a gateway replaying keys', () => {
    expect(needsExtraHoldCheck([attempt(1)], 'authorize', true)).toBe(false);
    expect(needsExtraHoldCheck([attempt(1), { event: 'send_error', kind: 'not_sent' }, attempt(2)], 'authorize', true)).toBe(false);
    expect(
      needsExtraHoldCheck([attempt(1), { event: 'send_error', kind: 'outcome_unknown' }, { event: 'inquiry', found: false }, attempt(2)], 'authorize', true),
    ).toBe(false);
    const unproven = [attempt(1), { event: 'send_error', kind: 'outcome_unknown' }, attempt(2)];
    expect(needsExtraHoldCheck(unproven, 'sale', true)).toBe(false);
    expect(needsExtraHoldCheck(unproven, 'authorize', false)).toBe(false);
  });
});

describe('extraHoldChecksKey', () => {
  it("is hash-tagged by the shard, as every ledger key of the operation's shard", () => {
    expect(extraHoldChecksKey('pb:', 3)).toBe('pb:{s:3}:extra-hold-checks');
  });
});
