import { EVENT_DISMISS_REASON_MAX, dismissReasonRefusal, keptDismissReason } from '../../../src/ops/event-dismiss';

/** A dismissal's reason: required, bounded, and kept without a card number in it. */
describe('a dismissal reason', () => {
  it('is refused blank or longer than the bound, taken otherwise (trimmed before it is measured)', () => {
    expect(dismissReasonRefusal(undefined)).toBe('missing');
    expect(dismissReasonRefusal(' \t ')).toBe('missing');
    expect(dismissReasonRefusal('x'.repeat(EVENT_DISMISS_REASON_MAX + 1))).toBe('too_long');
    expect(dismissReasonRefusal(` ${'x'.repeat(EVENT_DISMISS_REASON_MAX)} `)).toBeNull();
    expect(dismissReasonRefusal('the bus has no refund_management.updated')).toBeNull();
  });

  it('is kept trimmed, with card numbers masked, at most the bound', () => {
    expect(keptDismissReason('  bus answers -32601  ')).toBe('bus answers -32601');
    const kept = keptDismissReason('card 4111 1111 1111 1111 echoed by the bus');
    expect(kept).not.toMatch(/4111[ ]?1111[ ]?1111[ ]?1111/);
    expect(kept).toContain('echoed by the bus');
    expect(keptDismissReason('y'.repeat(EVENT_DISMISS_REASON_MAX * 2))).toHaveLength(EVENT_DISMISS_REASON_MAX);
  });
});
