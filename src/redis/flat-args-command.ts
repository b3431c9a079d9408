import { Command } from 'ioredis';
import type { RedisClient } from './redis-connection';
import { encodeCommand } from './resp-encoding';

/** The empty list the base constructor flattens. */
const NO_ARGS: never[] = [];

/**
 * An ioredis `Command` built from an argument list that is already flat and all strings. ioredis's own
 * constructor copies every command's arguments with `Array.prototype.flat`, a generic builtin that costs
 * about 80 ns an element: 4.4 µs for the 50-odd inputs of one ledger script, three scripts per payment
 * command (measured beside the whole constructor, 7.2 µs; CPU profile of a worker at PSP latency: the
 * constructor was 3.7 % of its busy time). Everything else is ioredis's: the reply promise, the timeouts,
 * the key positions (read from `args` when a cluster or a check asks), the offline queue and the write. Its
 * bytes on the wire are built into one Buffer (`encodeCommand`) instead of ioredis's concatenated string.
 */
class FlatArgsCommand extends Command {
  constructor(name: string, args: string[]) {
    // The base constructor flattens and stringifies an empty list; the real one, already flat strings, is
    // set after it (no keyPrefix on our connections, so the constructor reads no key).
    super(name, NO_ARGS, { replyEncoding: 'utf8' });
    this.args = args;
  }

  /** The RESP bytes, as ioredis's would be, in one Buffer outside the V8 heap (see `encodeCommand`). */
  override toWritable(): Buffer {
    return encodeCommand(this.name, this.args as string[]);
  }
}

/**
 * `EVALSHA sha numberOfKeys ...keysThenArgs` on `redis`, as `redis.evalsha(...)` sends it (utf8 replies),
 * without ioredis's per-command copy of the arguments. `argv` is the whole argument list already built:
 * `[sha, numberOfKeys, ...keysThenArgs]`, all strings (what `LuaScript` lays out, so a script's fifty-odd
 * values are put in one array once). The command keeps `argv` as its arguments: the caller must not change it
 * afterwards (sending it again is fine). A connection that auto-pipelines, prefixes keys or keeps friendly
 * error stacks takes ioredis's own path, which does those (none of ours does).
 */
export function sendEvalshaArgv(redis: RedisClient, argv: readonly string[]): Promise<unknown> {
  if (takesIoredisPath(redis)) return redis.evalsha(argv[0], argv[1], ...argv.slice(2));
  return sendCommandArgs(redis, 'evalsha', argv);
}

/**
 * Command `name` with `args` (all strings, already flat) on `redis`, as `redis.call(name, ...args)` sends it
 * (utf8 replies), without ioredis's copy of the arguments and its command text built by concatenation: the same
 * bytes on the wire (`encodeCommand`), about 0.9 KB of V8 heap less for a five-argument `SET` (docs/BENCHMARKS.md,
 * "What a payment command allocates, by site"). For a command on the hot path that ioredis has no cheaper form for
 * (an id claim's `SET NX EX`). `args` is kept as the command's arguments: the caller must not change it afterwards.
 * A connection that auto-pipelines, prefixes keys or keeps friendly error stacks takes ioredis's own path.
 */
export function sendFlatArgs(redis: RedisClient, name: string, args: readonly string[]): Promise<unknown> {
  if (takesIoredisPath(redis)) return redis.call(name, ...args);
  return sendCommandArgs(redis, name, args);
}

/** Whether `redis` needs what only ioredis's own command path does (auto-pipelining, a key prefix, friendly stacks). */
function takesIoredisPath(redis: RedisClient): boolean {
  return Boolean(redis.options.enableAutoPipelining || redis.options.keyPrefix || redis.options.showFriendlyErrorStack);
}

function sendCommandArgs(redis: RedisClient, name: string, args: readonly string[]): Promise<unknown> {
  const command = new FlatArgsCommand(name, args as string[]);
  redis.sendCommand(command);
  return command.promise;
}
