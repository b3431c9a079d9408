import { reconcilableThrough, windowsPastMark } from '../../../src/reconciliation-run/reconciliation-schedule';

const HOUR = 3_600_000;
const noon = Date.UTC(2026, 11, 3, 12);

describe('what the reconciliation schedule may reach, and how far a mark is behind it', () => {
  it('reaches the end of the latest aligned window that ended at least lag_ms ago', () => {
    expect(reconcilableThrough(noon + 59 * 60_000, HOUR, 2 * HOUR)).toBe(noon - 2 * HOUR);
    expect(reconcilableThrough(noon + 2 * HOUR, HOUR, 2 * HOUR)).toBe(noon);
    expect(reconcilableThrough(noon + 5 * HOUR, 24 * HOUR, 0)).toBe(Date.UTC(2026, 11, 3));
  });

  it('counts whole windows between the mark and that end: 0 when caught up or ahead, a part window not counted', () => {
    expect(windowsPastMark(noon, noon, HOUR)).toBe(0);
    expect(windowsPastMark(noon + HOUR, noon, HOUR)).toBe(0);
    expect(windowsPastMark(noon - HOUR, noon, HOUR)).toBe(1);
    expect(windowsPastMark(noon - 9.5 * HOUR, noon, HOUR)).toBe(9);
  });
});
