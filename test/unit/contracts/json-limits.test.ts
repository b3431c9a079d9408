import { MAX_JSON_DEPTH, exceedsDepth, jsonDepth, parseBoundedJson } from '../../../src/contracts/json-limits';
import { validateCommand } from '../../../src/contracts/command-validator';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { channelCommand } from '../../support/fixtures';

const deepText = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

function deepValue(levels: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < levels; i += 1) v = { a: v };
  return v;
}

describe('jsonDepth', () => {
  it('counts nesting of objects and arrays, ignoring brackets inside strings and escapes', () => {
    expect(jsonDepth('{"a":[1,{"b":2}]}')).toBe(3);
    expect(jsonDepth('{"a":"[[[[{{{{\\"[[["}')).toBe(1);
    expect(jsonDepth('"just a string"')).toBe(0);
  });

  it('stops counting once the limit is passed', () => {
    expect(jsonDepth(deepText(100_000), 32)).toBe(33);
  });
});

describe('parseBoundedJson', () => {
  it('refuses text nested deeper than the limit, naming the limit', () => {
    expect(() => parseBoundedJson(deepText(MAX_JSON_DEPTH + 1))).toThrow(new RegExp(`deeper than ${MAX_JSON_DEPTH} levels`));
    try {
      parseBoundedJson(deepText(5000));
    } catch (err) {
      expect(err).toBeInstanceOf(CommandValidationError);
      expect((err as CommandValidationError).field).toBe('(root)');
      expect((err as CommandValidationError).code).toBe('INVALID_REQUEST');
    }
  });

  it('accepts text at the limit', () => {
    expect(parseBoundedJson(deepText(MAX_JSON_DEPTH))).toBeDefined();
  });

  it('refuses text larger than maxBytes, counting UTF-8 bytes', () => {
    expect(() => parseBoundedJson(JSON.stringify('é'.repeat(600)), { maxBytes: 1000 })).toThrow(/larger than 1000 bytes/);
    expect(parseBoundedJson(JSON.stringify('e'.repeat(600)), { maxBytes: 1000 })).toHaveLength(600);
  });

  it('answers PARSE_ERROR for text that is not JSON', () => {
    expect(() => parseBoundedJson('{broken')).toThrow(expect.objectContaining({ code: 'PARSE_ERROR' }));
  });
});

describe('depth of decoded values', () => {
  it('exceedsDepth walks without recursion', () => {
    expect(exceedsDepth(deepValue(200_000), 32)).toBe(true);
    expect(exceedsDepth(deepValue(10), 32)).toBe(false);
  });

  it('validateCommand refuses a command nested 200 000 levels deep with a validation error, not a stack overflow', () => {
    const command = channelCommand('authorize', {}, { custom_attributes: { note: deepValue(200_000) } as never });
    expect(() => validateCommand(command)).toThrow(CommandValidationError);
    expect(() => validateCommand(command)).toThrow(/deeper than 32 levels/);
  });
});
