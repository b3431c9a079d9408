import { MAX_FIELD_PATH_CHARS, boundedFieldPath } from '../../../src/errors/field-path';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { validateCommand } from '../../../src/contracts/command-validator';
import { thrownBy } from '../../support/thrown';
import { channelCommand } from '../../support/fixtures';

describe('field paths a refusal names are bounded (a member name may be of any length)', () => {
  it('keeps a path of ordinary names as it is', () => {
    for (const path of ['payment.amount', '(root)', 'payment.lines[3].item_name', `payment.custom_attributes.${'k'.repeat(64)}`]) {
      expect(boundedFieldPath(path)).toBe(path);
    }
  });

  it('keeps the start of a name too long and says how long it was', () => {
    expect(boundedFieldPath(`payment.${'k'.repeat(150_000)}.x`)).toBe(`payment.${'k'.repeat(32)}…(150000 characters).x`);
  });

  it('cuts a path of many names at its bound, never through a surrogate pair', () => {
    const path = Array.from({ length: 200 }, () => 'a😀b').join('.');
    const bounded = boundedFieldPath(path);
    expect(bounded.length).toBeLessThanOrEqual(MAX_FIELD_PATH_CHARS);
    expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(bounded)).toBe(false);
  });

  it('bounds the field of a CommandValidationError, and its message', () => {
    const err = new CommandValidationError(`payment.${'k'.repeat(150_000)}`, 'is not allowed');
    expect(err.field).toBe(`payment.${'k'.repeat(32)}…(150000 characters)`);
    expect(err.message.length).toBeLessThan(100);
  });

  it('names a 150,000-character member at the root of a command in a bounded field', () => {
    const command = channelCommand('capture') as unknown as Record<string, unknown>;
    command['m'.repeat(150_000)] = 1;
    const err = thrownBy(() => validateCommand(command), CommandValidationError);
    expect(err.field).toBe(`${'m'.repeat(32)}…(150000 characters)`);
  });
});
