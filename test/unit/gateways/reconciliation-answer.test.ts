import { safeReference } from '../../../src/gateways/reconciliation-answer';
import { PAN_STYLES, TEST_PANS, formatPan } from '../../../harness/drills/test-card-numbers';

describe('safeReference: a reference copied into a reconciliation record', () => {
  it('keeps none holding a card number in any written form, full-width and other scripts included', () => {
    for (const pan of TEST_PANS) {
      for (const style of PAN_STYLES) expect(safeReference(`ORD ${formatPan(pan, style)}`)).toBeUndefined();
    }
    // Arabic-Indic digits.
    expect(safeReference('٤١١١١١١١١١١١١١١١')).toBeUndefined();
  });

  it('keeps an ordinary reference, and a long number that is no card number', () => {
    expect(safeReference('op-cap-1')).toBe('op-cap-1');
    expect(safeReference('ORD-2026-000123')).toBe('ORD-2026-000123');
    expect(safeReference('')).toBeUndefined();
  });
});
