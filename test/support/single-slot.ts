import calculateSlot from 'cluster-key-slot';
import { Command, Pipeline, Redis } from 'ioredis';
import { LuaScript, watchScriptKeys } from '../../src/redis/lua-script';

/** One script run whose keys were not all in one Redis Cluster slot. */
export interface SlotViolation {
  /** The script's first line after its prelude (enough to find it). */
  script: string;
  keys: string[];
  slots: number[];
}

/** The Redis Cluster slot of `key` (hash tags honoured), as ioredis' Cluster client routes it. */
export function slotOf(key: string): number {
  return calculateSlot(key);
}

/** The distinct slots of `keys`. */
export function slotsOf(keys: readonly string[]): number[] {
  return [...new Set(keys.map(slotOf))];
}

/** The script runs found breaking the rule in this test file (one list, whoever installed the check). */
const scriptViolations: SlotViolation[] = [];

/**
 * Checks the keys of every Lua script run through `LuaScript` from now on: all in one slot, as Redis Cluster
 * requires of a script. A run that breaks it throws (the script is not sent) and is recorded in the list
 * returned (the same list on every call), which the suite's setup checks after each test file
 * (test/support/single-slot-setup.ts).
 */
export function installSingleSlotCheck(): SlotViolation[] {
  const violations = scriptViolations;
  watchScriptKeys((script: LuaScript<string, string>, keys: readonly string[]) => {
    const slots = slotsOf(keys);
    if (slots.length <= 1) return;
    const body = script.lua
      .split('\n')
      .find(
        (line) =>
          line.trim() !== '' &&
          !line.startsWith('local K =') &&
          !line.startsWith('local A =') &&
          !line.startsWith('local function XK') &&
          !line.startsWith('local A_REST'),
      );
    const violation = { script: body ?? '', keys: [...keys], slots };
    violations.push(violation);
    throw new Error(`CROSSSLOT: a Lua script's keys span ${slots.length} Redis Cluster slots: ${keys.join(', ')}`);
  });
  return violations;
}

/** One command, pipeline or transaction sent by src/ whose keys were not all in one Redis Cluster slot. */
export interface CommandSlotViolation {
  /** `MGET`, `EVALSHA`…, or `pipeline` / `multi` for a batch. */
  command: string;
  keys: string[];
  slots: number[];
  /** The src/ file (and line) that sent it: the innermost src/ frame of the call. */
  sentBy: string;
}

/**
 * Modules of src/ that only pass a command on to ioredis (the worker connection's write coalescing, EVALSHA
 * with its arguments already flat): the sender is the src/ frame below them.
 */
const PASS_THROUGH = ['src/redis/command-write-coalescing.ts', 'src/redis/flat-args-command.ts'];

/** The innermost frame of the call stack in the product's sources (src/), or null when src/ is not on it. */
function senderInSrc(): string | null {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 80;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  for (const line of stack.split('\n')) {
    const m = /[(\s]([^()\s]*\/src\/[^()\s]*\.ts):(\d+)/.exec(line);
    if (!m || m[1].includes('/node_modules/')) continue;
    const file = m[1].slice(m[1].lastIndexOf('/src/') + 1);
    if (!PASS_THROUGH.includes(file)) return `${file}:${m[2]}`;
  }
  return null;
}

/**
 * Modules allowed to send one command or batch over keys of several slots, because they send it to one
 * server that holds all of them: the key walks, to the server they just scanned (src/redis/key-scan.ts), and
 * the shard probes, only when the client is a single Redis (src/redis/shard-probe.ts; on a cluster they send
 * one command per key, which the cluster pass of the suite checks).
 */
const NODE_SENDERS = ['src/redis/key-scan.ts', 'src/redis/shard-probe.ts'];

const checkedCommands = new WeakSet<Command>();
/** The sends found breaking the rule in this test file (one list, whoever installed the check). */
const allCommandViolations: CommandSlotViolation[] = [];
let commandViolations: CommandSlotViolation[] | null = null;
let patched = false;

function record(command: string, keys: readonly (string | Buffer)[]): void {
  if (!commandViolations || keys.length < 2) return;
  const names = keys.map((k) => k.toString());
  const slots = slotsOf(names);
  if (slots.length <= 1) return;
  const sentBy = senderInSrc();
  // Test and harness code sets up and inspects as it likes; only the product is held to the rule.
  if (sentBy === null || NODE_SENDERS.some((f) => sentBy.startsWith(`${f}:`))) return;
  commandViolations.push({ command, keys: names, slots, sentBy });
  throw new Error(`CROSSSLOT: ${command} from ${sentBy} spans ${slots.length} Redis Cluster slots: ${names.join(', ')}`);
}

/**
 * Checks every Redis command src/ sends through ioredis from now on, as Redis Cluster would refuse it: a
 * command's keys in one slot (MGET, multi-key DEL, EVAL/EVALSHA of any script, `defineCommand`'s too), and
 * every key of a pipeline or a MULTI transaction in one slot (ioredis' Cluster sends a pipeline to one node
 * only, and a transaction must be single-slot). Only the sends whose stack goes through src/ count; the
 * modules of NODE_SENDERS, which send to one node that holds all the keys, are exempt. A send that
 * breaks it throws (CROSSSLOT, as on a cluster) and is recorded in the list returned (the same list on every call).
 */
export function installCommandSlotCheck(): CommandSlotViolation[] {
  const violations = allCommandViolations;
  commandViolations = violations;
  if (!patched) {
    patched = true;
    const proto = Redis.prototype as unknown as { sendCommand(this: Redis, command: Command, ...rest: unknown[]): unknown };
    const send = proto.sendCommand;
    proto.sendCommand = function (this: Redis, command: Command, ...rest: unknown[]): unknown {
      if (!checkedCommands.has(command)) {
        checkedCommands.add(command);
        try {
          record(command.name.toUpperCase(), command.getKeys());
        } catch (err) {
          command.reject(err as Error);
          return command.promise;
        }
      }
      return send.call(this, command, ...rest);
    };
    const pipelineProto = Pipeline.prototype as unknown as { exec(this: Pipeline, ...args: unknown[]): Promise<unknown> };
    const exec = pipelineProto.exec;
    pipelineProto.exec = function (this: Pipeline, ...args: unknown[]): Promise<unknown> {
      const self = this as unknown as { _queue?: Command[]; promise: Promise<unknown>; reject(err: Error): void };
      // A MULTI runs through exec twice (ioredis' transaction wrapper): checked once, refused every time.
      let refused = refusedPipelines.get(this);
      if (refused === undefined) {
        const queue = self._queue ?? [];
        refused = null;
        try {
          record(
            queue.some((c) => c.name === 'multi') ? 'multi' : 'pipeline',
            queue.flatMap((c) => c.getKeys()),
          );
        } catch (err) {
          refused = err as Error;
          self.reject(refused);
        }
        refusedPipelines.set(this, refused);
      }
      if (refused) return self.promise;
      return exec.apply(this, args);
    };
  }
  return violations;
}

/** Pipelines checked, and the error each was refused with (null: allowed). */
const refusedPipelines = new WeakMap<Pipeline, Error | null>();
