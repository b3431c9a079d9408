import { parseBoundedJson } from '../../../src/contracts/json-limits';
import { jsonTextProblem, repeatedMemberPath } from '../../../src/contracts/repeated-members';
import { channelCommand } from '../../support/fixtures';

const VISA = '4111111111111111';

describe('repeatedMemberPath', () => {
  it.each([
    ['{"a":1,"a":2}', 'a'],
    ['{"payment":{"amount":1999,"currency":"EUR","amount":5}}', 'payment.amount'],
    ['{"jsonrpc":"2.0","params":{"payment":{"amount":1999,"amount":5}}}', 'params.payment.amount'],
    ['{"payment":{"lines":[{"sku":"a"},{"sku":"b","sku":"c"}]}}', 'payment.lines[1].sku'],
    ['{"a":{"b":1},"c":{"b":1,"b":2}}', 'c.b'],
    ['[{}, "x", {"x":1,"x":2}]', '[2].x'],
    ['[[1,2],{"a":[{"b":{}}],"a":0}]', '[1].a'],
    [' { "a" : 1 , "a" : 2 } ', 'a'],
    ['{"a":"x\\"","a":1}', 'a'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['{"\\n":1,"\\u000a":2}', '\n'],
  ])('finds the repeated member of %s at %p', (text, path) => {
    expect(repeatedMemberPath(text)).toBe(path);
  });

  it.each([
    '{"a":{"x":1},"b":{"x":2}}',
    '[{"x":1},{"x":2}]',
    '{"a":"\\"a\\":1","b":"a"}',
    '{"a":"a","b":"x\\\\","c":1}',
    '{"\\\\":1,"\\\\\\\\":2}',
    '{"Aa":1,"BB":2}',
    '{"a":1,"A":2}',
    '{}',
    '[]',
    '"a"',
    '12',
    '{"a":[],"b":{},"c":[{}],"d":[[]]}',
  ])('finds none in %s', (text) => {
    expect(repeatedMemberPath(text)).toBeNull();
  });

  it('compares the names of a large object through a set, as it does a small one', () => {
    const names = Array.from({ length: 500 }, (_, i) => `"k${i}":${i}`);
    expect(repeatedMemberPath(`{"o":{${names.join(',')}}}`)).toBeNull();
    expect(repeatedMemberPath(`{"o":{${names.join(',')},"k3":0}}`)).toBe('o.k3');
    expect(repeatedMemberPath(`{"o":{${names.join(',')},"\\u006b7":0}}`)).toBe('o.k7');
    const many = Array.from({ length: 100_000 }, (_, i) => `"m${i}":0`).join(',');
    expect(repeatedMemberPath(`{${many},"m99999":1}`)).toBe('m99999');
  });

  it('keeps working after a refusal (its scratch state is reset at each call)', () => {
    expect(repeatedMemberPath('{"a":{"b":{"c":1,"c":2}}}')).toBe('a.b.c');
    expect(repeatedMemberPath('{"c":1,"d":{"c":2}}')).toBeNull();
  });

  it('never quotes a card number used as a repeated name, and bounds a long name', () => {
    const path = repeatedMemberPath(`{"payment":{"${VISA}":1,"${VISA}":2}}`);
    expect(path).toMatch(/^payment\./);
    expect(path).not.toContain(VISA);
    const long = 'n'.repeat(10_000);
    expect(repeatedMemberPath(`{"${long}":1,"${long}":2}`)).toBe(`${'n'.repeat(64)}…`);
  });
});

describe('repeatedMemberPath against a reference walk of random documents', () => {
  type Node = { kind: 'object'; members: [string, Node][] } | { kind: 'array'; items: Node[] } | { kind: 'leaf'; text: string };

  /** Park-Miller, so a failure replays. */
  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state * 48271) % 2147483647;
      return state / 2147483647;
    };
  }

  const NAMES = ['a', 'b', 'é', '"', '\\', 'Aa', 'BB'];
  const LEAVES = ['1', '"a"', '"\\\\"', '"x\\\\\\\\"', '"\\"b\\":1"', 'null', '{}', '[]', '"{[,:"'];

  function build(next: () => number, depth: number): Node {
    const r = next();
    if (depth === 0 || r < 0.3) return { kind: 'leaf', text: LEAVES[Math.floor(next() * LEAVES.length)] };
    const n = Math.floor(next() * 4);
    if (r < 0.55) return { kind: 'array', items: Array.from({ length: n }, () => build(next, depth - 1)) };
    return { kind: 'object', members: Array.from({ length: n }, () => [NAMES[Math.floor(next() * NAMES.length)], build(next, depth - 1)] as [string, Node]) };
  }

  /** A name written plainly or, at random, with every character as a \u escape. */
  function nameText(name: string, next: () => number): string {
    if (next() < 0.7) return JSON.stringify(name);
    return `"${[...name].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`;
  }

  function write(node: Node, next: () => number): string {
    if (node.kind === 'leaf') return node.text;
    if (node.kind === 'array') return `[${node.items.map((i) => write(i, next)).join(', ')}]`;
    return `{${node.members.map(([k, v]) => `${nameText(k, next)}:${write(v, next)}`).join(',')}}`;
  }

  /** The first repeated member in document order, by the same path rules (names here are short, never cards). */
  function reference(node: Node, path: string): string | null {
    if (node.kind === 'array') {
      for (let i = 0; i < node.items.length; i += 1) {
        const found = reference(node.items[i], `${path}[${i}]`);
        if (found !== null) return found;
      }
    } else if (node.kind === 'object') {
      const seen = new Set<string>();
      for (const [k, v] of node.members) {
        const at = path ? `${path}.${k}` : k;
        if (seen.has(k)) return at;
        seen.add(k);
        const found = reference(v, at);
        if (found !== null) return found;
      }
    }
    return null;
  }

  it('agrees on 3000 random documents (nesting, escapes, names in values, colliding hashes)', () => {
    const next = random(7);
    let repeated = 0;
    for (let n = 0; n < 3000; n += 1) {
      const tree = build(next, 5);
      const text = write(tree, next);
      expect(() => JSON.parse(text)).not.toThrow();
      const expected = reference(tree, '');
      if (expected !== null) repeated += 1;
      expect({ text, path: repeatedMemberPath(text) }).toEqual({ text, path: expected });
    }
    expect(repeated).toBeGreaterThan(100);
  });
});

describe('parseBoundedJson refuses repeated member names', () => {
  it('refuses a command whose amount is given twice (the last would win), naming payment.amount', () => {
    const text = JSON.stringify(channelCommand('sale')).replace('"amount":1999', '"amount":1999,"amount":5');
    expect(() => parseBoundedJson(text)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST', field: 'payment.amount' }));
  });

  it('parses a command without repeated names as before', () => {
    const command = channelCommand('sale');
    expect(parseBoundedJson(JSON.stringify(command))).toEqual(command);
  });
});

describe('jsonTextProblem: a number whose fraction parsing rounds away into an integer', () => {
  it.each([
    ['{"amount":1999.0000000000001}', 'amount'],
    ['{"amount":1999.99999999999999999}', 'amount'],
    ['{"amount":-1999.0000000000001}', 'amount'],
    ['{"amount":1e-400}', 'amount'],
    ['{"amount":1.99900000000000000001e3}', 'amount'],
    ['{"payment":{"lines":[{"quantity":1},{"refund_amount":2.00000000000000001}]}}', 'payment.lines[1].refund_amount'],
    ['{"a":[1,2,3.00000000000000001]}', 'a[2]'],
    ['3.00000000000000001', '(root)'],
  ])('finds %s rounded, at %p', (text, path) => {
    expect(jsonTextProblem(text)).toEqual({ path, problem: 'rounded_number' });
    // Only the rounding is new: a repeated name stays the one thing repeatedMemberPath reports.
    expect(repeatedMemberPath(text)).toBeNull();
  });

  it.each([
    '{"amount":1999}',
    '{"amount":1.0}',
    '{"amount":1e2}',
    '{"amount":19990e-1}',
    '{"amount":1.5e1}',
    '{"amount":-0.0}',
    '{"amount":0.0e-5}',
    '{"amount":12.5}',
    '{"tax_rate":19.6,"quantity":0.5}',
    '{"amount":1e400}',
    '{"note":"1.00000000000000001","ok":[true,false,null]}',
  ])('finds nothing in %s (an integer as written, or a fraction parsing keeps)', (text) => {
    expect(jsonTextProblem(text)).toBeNull();
  });

  it('reports what comes first in the text: a repeated name or a rounded number', () => {
    expect(jsonTextProblem('{"a":1,"a":1.00000000000000001}')).toEqual({ path: 'a', problem: 'repeated_member' });
    expect(jsonTextProblem('{"a":1.00000000000000001,"a":1}')).toEqual({ path: 'a', problem: 'rounded_number' });
  });
});

describe('parseBoundedJson refuses a fraction parsing would round into an integer', () => {
  it('refuses a command whose amount is 1999.9999999999999999 (parsed, 2000), naming payment.amount', () => {
    const text = JSON.stringify(channelCommand('sale')).replace('"amount":1999', '"amount":1999.9999999999999999');
    expect(JSON.parse(text)).toMatchObject({ payment: { amount: 2000 } });
    expect(() => parseBoundedJson(text)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST', field: 'payment.amount' }));
  });

  it('parses an amount written 1999.0 or 1.999e3, which is the integer 1999, as before', () => {
    for (const written of ['1999.0', '1.999e3', '19990e-1']) {
      const text = JSON.stringify(channelCommand('sale')).replace('"amount":1999', `"amount":${written}`);
      expect(parseBoundedJson(text)).toMatchObject({ payment: { amount: 1999 } });
    }
  });
});
