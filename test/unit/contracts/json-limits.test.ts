import { MAX_JSON_DEPTH, decodeJsonText, exceedsDepth, jsonDepth, parseBoundedJson } from '../../../src/contracts/json-limits';
import { malformedUnicodeField, validateCommand } from '../../../src/contracts/command-validator';
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

describe('decodeJsonText', () => {
  const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

  it('refuses bytes that are not UTF-8 as a parse error of the root, instead of replacing them with U+FFFD', () => {
    for (const bad of [bytes('{"order_id":"ORD-', [0xff], '"}'), bytes('"', [0xc3], '"'), bytes('"', [0xed, 0xa0, 0x80], '"'), bytes('"', [0xc0, 0xaf], '"')]) {
      expect(() => decodeJsonText(bad)).toThrow(expect.objectContaining({ code: 'PARSE_ERROR', field: '(root)', reason: 'is not valid UTF-8' }));
    }
  });

  it('keeps two ids that differ in invalid bytes from becoming one', () => {
    const ids = [bytes('ORD-', [0xff]), bytes('ORD-', [0xfe])].map((b) => {
      try {
        return decodeJsonText(b);
      } catch {
        return 'refused';
      }
    });
    expect(ids).toEqual(['refused', 'refused']);
  });

  it('decodes valid UTF-8 of every length as it is, and keeps a byte order mark (JSON.parse refuses it, as before)', () => {
    const text = '{"note":"Grüße, 東京 😀"}';
    expect(decodeJsonText(Buffer.from(text))).toBe(text);
    expect(decodeJsonText(new Uint8Array(0))).toBe('');
    expect(decodeJsonText(bytes([0xef, 0xbb, 0xbf], '{}'))).toBe('\ufeff{}');
    expect(() => parseBoundedJson(decodeJsonText(bytes([0xef, 0xbb, 0xbf], '{}')))).toThrow(expect.objectContaining({ code: 'PARSE_ERROR' }));
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

describe('exceedsDepth and malformedUnicodeField walk own enumerable keys only', () => {
  it('does not read an inherited or hidden member', () => {
    const deep = deepValue(MAX_JSON_DEPTH + 5);
    const value = Object.create({ inherited: deep, bad: '\ud800' }) as Record<string, unknown>;
    Object.defineProperty(value, 'hidden', { value: deep, enumerable: false });
    value.own = { ok: 'fine' };
    expect(exceedsDepth(value)).toBe(false);
    expect(malformedUnicodeField(value)).toBeNull();
    value.later = { bad: '\udc00' };
    expect(malformedUnicodeField(value)).toBe('later.bad');
    expect(exceedsDepth({ own: deep })).toBe(true);
  });
});
