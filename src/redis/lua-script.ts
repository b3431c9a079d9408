import { createHash } from 'node:crypto';
import { RedisClient } from './redis-connection';
import { sendEvalshaArgv } from './flat-args-command';

/**
 * Redis Lua scripts with named inputs. A script declares the names of its keys and arguments; its Lua reads
 * them as `K.<name>` and `A.<name>` (each replaced by its KEYS/ARGV position when the script is built; a body
 * that uses `K` or `A` otherwise gets a prelude building them as tables), and
 * `inputs()` lays the values out from objects keyed by the same names. So neither a script fragment nor a
 * caller counts positions, and fragments owned by different modules compose into one script (one round
 * trip) by merging their names: a name declared twice is refused when the script is built, at startup.
 */

/** The names a script (or a fragment of one) reads. Names are Lua identifiers, lower case. */
export interface LuaInputs<K extends string, A extends string> {
  readonly keys: readonly K[];
  readonly args: readonly A[];
}

/** Values for every name of a script's inputs. */
export interface LuaValues<K extends string, A extends string> {
  keys: Record<K, string>;
  args: Record<A, string | number>;
}

/** A piece of Lua owned by one module, with the inputs it reads; another module's script may embed it. */
export interface LuaFragment<K extends string, A extends string> {
  readonly inputs: LuaInputs<K, A>;
  /** Lua source (function definitions, typically) reading its inputs through `K.<name>` / `A.<name>`. */
  readonly lua: string;
}

/**
 * A fragment, the values for its inputs, and how to read what it returned: what a module hands to another
 * that runs it inside its own script (see `Ledger.transitionAndRecord`).
 */
export interface LuaStep<R> {
  fragment: LuaFragment<string, string>;
  /** Lua expression calling the fragment (e.g. `pb_record_event()`); its value is the step's reply. */
  call: string;
  values: LuaValues<string, string>;
  read(reply: unknown): R;
}

const NAME = /^[a-z][a-z0-9_]*$/;

/** Declares inputs; throws on a name that is not a Lua identifier or is declared twice. */
export function luaInputs<K extends string, A extends string>(keys: readonly K[], args: readonly A[]): LuaInputs<K, A> {
  const seen = new Set<string>();
  for (const name of [...keys, ...args]) {
    if (!NAME.test(name)) throw new Error(`Lua input name ${JSON.stringify(name)} is not a lower-case Lua identifier`);
    if (seen.has(name)) throw new Error(`Lua input ${JSON.stringify(name)} is declared twice`);
    seen.add(name);
  }
  return { keys, args };
}

/** The inputs of both, `a`'s first; throws when they share a name. */
export function mergeInputs<K1 extends string, A1 extends string, K2 extends string, A2 extends string>(
  a: LuaInputs<K1, A1>,
  b: LuaInputs<K2, A2>,
): LuaInputs<K1 | K2, A1 | A2> {
  return luaInputs<K1 | K2, A1 | A2>([...a.keys, ...b.keys], [...a.args, ...b.args]);
}

/** A script, its input layout, and how to run it (EVALSHA, EVAL once when Redis does not have it yet). */
export class LuaScript<K extends string, A extends string> {
  readonly lua: string;
  readonly numberOfKeys: number;
  private readonly sha: string;

  /**
   * @param body Lua reading `K.<name>` and `A.<name>`.
   * @param restArgs the script also takes a variable list of arguments after the named ones, which it reads
   *   from `ARGV[A_REST]` on (e.g. `unpack(ARGV, A_REST)`). Default none.
   */
  constructor(
    readonly inputs: LuaInputs<K, A>,
    body: string,
    restArgs = false,
  ) {
    const rest = restArgs ? `\nlocal A_REST = ${inputs.args.length + 1}` : '';
    // Extra keys (a variable number, after the named ones): \`XK(i)\` is the i-th (1-based).
    const extra = `\nlocal function XK(i) return KEYS[${inputs.keys.length} + i] end`;
    const inlined = inlineInputs(inputs, body);
    if (inlined !== null) {
      this.lua = `${rest.slice(1)}${rest ? '\n' : ''}${extra.slice(1)}\n${inlined}`;
    } else {
      const keys = inputs.keys.map((k, i) => `${k} = KEYS[${i + 1}]`).join(', ');
      const args = inputs.args.map((a, i) => `${a} = ARGV[${i + 1}]`).join(', ');
      this.lua = `local K = {${keys}}\nlocal A = {${args}}${rest}${extra}\n${body}`;
    }
    this.numberOfKeys = inputs.keys.length;
    this.sha = createHash('sha1').update(this.lua).digest('hex');
  }

  /**
   * Runs the script: one round trip (EVALSHA), plus one EVAL the first time a Redis server is asked
   * (NOSCRIPT: it does not hold the script yet), as ioredis's own `defineCommand` does.
   * @returns the script's reply, as Redis converted it (numbers, strings, nested arrays).
   */
  run(redis: RedisClient, values: LuaValues<K, A>, rest: readonly (string | number)[] = [], extraKeys: readonly string[] = []): Promise<unknown> {
    let argv: string[];
    try {
      argv = this.argv(values, rest, extraKeys);
    } catch (err) {
      // A missing value rejects, as it did when this was an async function.
      return Promise.reject(err);
    }
    return this.send(redis, argv, this.numberOfKeys + extraKeys.length);
  }

  /**
   * `run` with the values in parts (each name in one of them, looked up in order): what a composed script's
   * caller passes instead of merging its parts into one object. A merged object of some fifty names is a
   * dictionary-mode object V8 builds one property at a time, a measurable share of the worker's allocation
   * per command.
   */
  runParts(
    redis: RedisClient,
    keyParts: readonly Readonly<Partial<Record<K, string>>>[],
    argParts: readonly Readonly<Partial<Record<A, string | number>>>[],
  ): Promise<unknown> {
    let argv: string[];
    try {
      argv = this.argvParts(keyParts, argParts);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.send(redis, argv, this.numberOfKeys);
  }

  /** @param argv `[sha, numberOfKeys, ...keys, ...args]`, as `argv` and `argvParts` build it. */
  private async send(redis: RedisClient, argv: string[], numberOfKeys: number): Promise<unknown> {
    checkKeys?.(this, argv.slice(2, 2 + numberOfKeys));
    try {
      return await sendEvalshaArgv(redis, argv);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    }
    // A burst of first uses (a thousand concurrent commands after a restart) sends the script's text once:
    // the others wait for that EVAL, then ask by SHA again (EVAL only if that server still lacks it).
    const loading = this.loading.get(redis);
    if (loading) {
      await loading.catch(() => undefined);
      try {
        return await sendEvalshaArgv(redis, argv);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      }
    }
    const evaluated = redis.eval(this.lua, numberOfKeys, ...argv.slice(2));
    this.loading.set(redis, evaluated);
    try {
      return await evaluated;
    } finally {
      if (this.loading.get(redis) === evaluated) this.loading.delete(redis);
    }
  }

  /** The EVAL in flight per connection that loads this script (see `run`). */
  private readonly loading = new WeakMap<RedisClient, Promise<unknown>>();

  /**
   * KEYS (the named ones, then `extraKeys`) then ARGV as the script reads them, then `rest`, as the text sent
   * (numbers in decimal). Throws on a missing value (a composition mistake).
   */
  layout(values: LuaValues<K, A>, rest: readonly (string | number)[] = [], extraKeys: readonly string[] = []): string[] {
    return this.argv(values, rest, extraKeys).slice(2);
  }

  /** `layout` of values given in parts (see `runParts`); throws on a name no part holds. */
  layoutParts(keyParts: readonly Readonly<Partial<Record<K, string>>>[], argParts: readonly Readonly<Partial<Record<A, string | number>>>[]): string[] {
    return this.argvParts(keyParts, argParts).slice(2);
  }

  /*
   * `argv` and `argvParts` write EVALSHA's whole argument list (SHA, key count, then `layout`'s) into one array
   * of its final size, which the command keeps: built by `push` and then copied with the SHA in front, a
   * transition's fifty-odd values made ~1.6 KB of garbage a call (the array re-grown three times, then copied)
   * against ~0.4 KB, four script calls a payment command.
   */

  private argv(values: LuaValues<K, A>, rest: readonly (string | number)[], extraKeys: readonly string[]): string[] {
    const { keys, args } = this.inputs;
    const out = new Array<string>(2 + keys.length + extraKeys.length + args.length + rest.length);
    out[0] = this.sha;
    out[1] = String(keys.length + extraKeys.length);
    let at = 2;
    for (let i = 0; i < keys.length; i += 1) out[at++] = present(values.keys[keys[i]], keys[i]);
    for (let i = 0; i < extraKeys.length; i += 1) out[at++] = extraKeys[i];
    for (let i = 0; i < args.length; i += 1) out[at++] = text(present(values.args[args[i]], args[i]));
    for (let i = 0; i < rest.length; i += 1) out[at++] = text(rest[i]);
    return out;
  }

  private argvParts(keyParts: readonly Readonly<Partial<Record<K, string>>>[], argParts: readonly Readonly<Partial<Record<A, string | number>>>[]): string[] {
    const { keys, args } = this.inputs;
    const out = new Array<string>(2 + keys.length + args.length);
    out[0] = this.sha;
    out[1] = String(keys.length);
    let at = 2;
    for (let i = 0; i < keys.length; i += 1) out[at++] = present(fromParts(keyParts, keys[i]), keys[i]);
    for (let i = 0; i < args.length; i += 1) out[at++] = text(present(fromParts(argParts, args[i]), args[i]));
    return out;
  }
}

/** A value as Redis receives it: numbers in decimal, as ioredis writes them. */
function text(value: string | number): string {
  return typeof value === 'string' ? value : String(value);
}

/** The value of `name` in the first of `parts` that holds it. */
function fromParts<N extends string, V>(parts: readonly Readonly<Partial<Record<N, V>>>[], name: N): V | undefined {
  for (let i = 0; i < parts.length; i += 1) {
    const value = parts[i][name];
    if (value !== undefined) return value;
  }
  return undefined;
}

/** `K.<name>` or `A.<name>` in Lua source, not itself a field of something else (`x.K.op`). */
const NAMED_INPUT = /(?<![.\w])([KA])\.([a-z][a-z0-9_]*)\b/g;
/** `K` or `A` used otherwise (indexed by a computed name, passed along): then the tables are needed. */
const BARE_INPUT = /(?<![.\w])[KA](?![\w.])|(?<![.\w])[KA]\.(?![a-z])/;

/**
 * `body` with every `K.<name>` / `A.<name>` replaced by its `KEYS[i]` / `ARGV[i]`, or null when the body
 * uses `K` or `A` otherwise (or names an input it does not declare): then the prelude builds the two tables.
 * Why: Redis keeps no Lua state between calls, so the tables were built on every call (a transition's two
 * tables of some twenty entries each were about 4 % of Redis' instructions per command).
 */
function inlineInputs(inputs: LuaInputs<string, string>, body: string): string | null {
  const keyAt = new Map(inputs.keys.map((k, i) => [k, i + 1]));
  const argAt = new Map(inputs.args.map((a, i) => [a, i + 1]));
  let unknown = false;
  const inlined = body.replace(NAMED_INPUT, (whole, table: string, name: string) => {
    const at = (table === 'K' ? keyAt : argAt).get(name);
    if (at === undefined) {
      unknown = true;
      return whole;
    }
    return table === 'K' ? `KEYS[${at}]` : `ARGV[${at}]`;
  });
  if (unknown || BARE_INPUT.test(inlined)) return null;
  return inlined;
}

/** A check of every script run's keys (tests: all in one Redis Cluster slot); none by default. */
let checkKeys: ((script: LuaScript<string, string>, keys: readonly string[]) => void) | undefined;

/**
 * Installs `check` to see the keys of every script run from now on (`undefined` removes it). For tests:
 * test/support/single-slot.ts asserts that every script's keys hash to one Redis Cluster slot.
 */
export function watchScriptKeys(check: ((script: LuaScript<string, string>, keys: readonly string[]) => void) | undefined): void {
  checkKeys = check;
}

function present<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new Error(`Lua input ${name} has no value`);
  return value;
}
