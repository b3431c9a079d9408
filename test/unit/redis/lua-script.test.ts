import { LuaScript, luaInputs, mergeInputs } from '../../../src/redis/lua-script';

describe('Lua scripts with named inputs', () => {
  const script = new LuaScript(luaInputs(['op', 'log'], ['id', 'now']), 'return {K.op, A.now}', true);

  it('replaces every name by its KEYS/ARGV position (no tables built per call), and counts the keys', () => {
    expect(script.numberOfKeys).toBe(2);
    expect(script.lua).not.toContain('local K =');
    expect(script.lua).not.toContain('local A =');
    expect(script.lua).toContain('local A_REST = 3');
    expect(script.lua.endsWith('return {KEYS[1], ARGV[2]}')).toBe(true);
  });

  it('inlines names only where K and A are read by name: a field of another table and another identifier stay', () => {
    const s = new LuaScript(luaInputs(['op'], ['id']), "return {t.K.op, XK(1), K.op, A.id, 'x'}");
    expect(s.lua.endsWith("return {t.K.op, XK(1), KEYS[1], ARGV[1], 'x'}")).toBe(true);
  });

  it('builds K and A as tables when the body uses them otherwise: a computed name, passed along, or an undeclared name', () => {
    for (const body of ['return K[ARGV[1]]', 'return f(K, A)', 'return A.undeclared']) {
      const s = new LuaScript(luaInputs(['op', 'log'], ['id', 'now']), body);
      expect(s.lua).toContain('local K = {op = KEYS[1], log = KEYS[2]}');
      expect(s.lua).toContain('local A = {id = ARGV[1], now = ARGV[2]}');
      expect(s.lua.endsWith(body)).toBe(true);
    }
  });

  it('lays out keys then arguments in declared order from objects, whatever order the caller writes them in, then the rest', () => {
    // As sent: numbers in decimal text, as ioredis writes them.
    expect(script.layout({ args: { now: 5, id: 'x' }, keys: { log: 'L', op: 'O' } }, ['f', 'v', 7])).toEqual(['O', 'L', 'x', '5', 'f', 'v', '7']);
  });

  it('sends EVALSHA with the SHA, the key count (extra keys included) and the layout, in one command', async () => {
    const sent: unknown[][] = [];
    const redis = {
      options: {},
      sendCommand: (command: { name: string; args: unknown[]; resolve(value: unknown): void }) => {
        sent.push([command.name, ...command.args]);
        command.resolve('ran');
      },
    } as unknown as Parameters<typeof script.run>[0];
    await expect(script.run(redis, { keys: { op: '{s}O', log: '{s}L' }, args: { id: 'x', now: 5 } }, ['r', 9], ['{s}X1'])).resolves.toBe('ran');
    const sha = sent[0][1];
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(sent).toEqual([['evalsha', sha, '3', '{s}O', '{s}L', '{s}X1', 'x', '5', 'r', '9']]);
  });

  it('loads the script with EVAL (its text, the key count, the same layout) when the server answers NOSCRIPT', async () => {
    const evaluated: unknown[][] = [];
    const redis = {
      options: {},
      sendCommand: (command: { reject(err: Error): void }) => command.reject(new Error('NOSCRIPT No matching script.')),
      eval: (...args: unknown[]) => {
        evaluated.push(args);
        return Promise.resolve('loaded');
      },
    } as unknown as Parameters<typeof script.run>[0];
    await expect(script.run(redis, { keys: { op: '{s}O', log: '{s}L' }, args: { id: 'x', now: 5 } }, ['r'])).resolves.toBe('loaded');
    expect(evaluated).toEqual([[script.lua, 2, '{s}O', '{s}L', 'x', '5', 'r']]);
  });

  it('refuses a value missing at run time (a composition mistake) instead of shifting every position after it', () => {
    const values = { keys: { op: 'O' }, args: { id: 'x', now: 1 } } as unknown as Parameters<typeof script.layout>[0];
    expect(() => script.layout(values)).toThrow(/log has no value/);
  });

  it('refuses a name declared twice, within one fragment or across merged ones, and a name that is not a Lua identifier', () => {
    expect(() => luaInputs(['a', 'a'], [])).toThrow(/declared twice/);
    expect(() => mergeInputs(luaInputs(['op'], ['now']), luaInputs([], ['now']))).toThrow(/"now" is declared twice/);
    expect(() => luaInputs(['event-key'], [])).toThrow(/not a lower-case Lua identifier/);
  });
});

describe('Lua script values given in parts', () => {
  const script = new LuaScript(luaInputs(['op', 'log', 'ref'], ['id', 'now']), 'return 1');

  it('lays out each name from the first part that holds it, in declared order, as the merged object would', () => {
    const keyParts = [{ log: 'L' }, { ref: 'R', op: 'O' }];
    const argParts = [{ now: 5 }, { id: 'x' }];
    expect(script.layoutParts(keyParts, argParts)).toEqual(['O', 'L', 'R', 'x', '5']);
    expect(script.layoutParts(keyParts, argParts)).toEqual(script.layout({ keys: { op: 'O', log: 'L', ref: 'R' }, args: { id: 'x', now: 5 } }));
  });

  it('refuses a name no part holds, and rejects (never throws) when run with one missing', async () => {
    expect(() => script.layoutParts([{ op: 'O' }, { ref: 'R' }], [{ id: 'x', now: 1 }])).toThrow(/log has no value/);
    // A client that answers every command it is sent with 'ran' (EVALSHA goes through sendCommand).
    const redis = { options: {}, sendCommand: (command: { resolve(value: unknown): void }) => command.resolve('ran') } as unknown as Parameters<
      typeof script.run
    >[0];
    const run = script.runParts(redis, [{ op: '{s}O' }], [{ id: 'x', now: 1 }]);
    await expect(run).rejects.toThrow(/log has no value/);
    await expect(script.runParts(redis, [{ op: '{s}O', log: '{s}L' }, { ref: '{s}R' }], [{ id: 'x', now: 1 }])).resolves.toBe('ran');
  });
});
