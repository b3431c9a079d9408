import { Writable } from 'node:stream';
import winston from 'winston';
import { coalescedLines } from './log-line-coalescing';
import { SECRET_MASK, isSensitiveKey, redact, redactKey } from './redact';

/** The bridge's logger type: winston's, so `child({ operation_id })` gives a correlated logger. */
export type Logger = winston.Logger;

/** Winston format that redacts every field of a log entry (message, metadata, errors) before it is written. */
const redactFormat = winston.format((info) => {
  const fields = info as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    // Top-level metadata keys are the entry's own: mask sensitive ones here, as redact() does below them.
    const value = fields[key];
    const redacted = isSensitiveKey(key) && value !== null && value !== undefined && value !== '' ? SECRET_MASK : redact(value);
    // A card number used as a key is masked as it is below the top level (the first one keeps the masked key).
    const masked = redactKey(key);
    if (masked === key) {
      fields[key] = redacted;
    } else {
      delete fields[key];
      let free = masked;
      for (let n = 2; Object.hasOwn(fields, free); n += 1) free = `${masked}#${n}`;
      fields[free] = redacted;
    }
  }
  return info;
});

/** winston's key of an entry's finished line (triple-beam's `MESSAGE`). */
const MESSAGE = Symbol.for('message');

/**
 * One member of a line, as `JSON.stringify` writes it (none for a value it leaves out: undefined, a function),
 * or a note in its place when the value cannot be serialized (a throwing `toJSON`).
 */
function member(key: string, value: unknown): string | undefined {
  try {
    const json = JSON.stringify(value) as string | undefined;
    return json === undefined ? undefined : `${JSON.stringify(key)}:${json}`;
  } catch {
    return `${JSON.stringify(key)}:"[unserializable]"`;
  }
}

/**
 * winston's `json` format without its per-line cost: logform configures its serializer anew for every line
 * and runs it with a replacer (~3.7 KiB of garbage per line). The entry is redacted by then, and redaction
 * leaves no cycles and no BigInts, so the native serializer writes it. A value it still cannot write (a
 * throwing getter or `toJSON`, which logform's serializer threw on too) is written as `"[unserializable]"`,
 * member by member: the line is never lost and the caller never gets the exception.
 */
const jsonLine = winston.format((info) => {
  const line = info as unknown as Record<string | symbol, unknown>;
  try {
    line[MESSAGE] = JSON.stringify(info);
  } catch {
    line[MESSAGE] = `{${Object.keys(info)
      .map((key) => member(key, line[key]))
      .filter((written) => written !== undefined)
      .join(',')}}`;
  }
  return info;
});

/** Every line's time: this process's clock, always (logform's default keeps a `timestamp` the caller passed). */
const now = (): string => new Date().toISOString();

export interface LoggerOptions {
  /** Lowest level written. Default `info`. */
  level?: string;
  /** Process role (`web`, `worker`, …), added to every line. */
  service?: string;
  /** Where JSON lines go. Default stdout. Tests pass a stream to capture output. */
  stream?: Writable;
  /**
   * Hand the destination the lines of one turn of the event loop in one write (`log-line-coalescing.ts`), and
   * every line still held when the process exits. Default false: each line is written at once. The process
   * roles set it: a line a command on a file or pipe was one system call.
   */
  coalesce?: boolean;
}

/**
 * JSON-lines logger with redaction at the logger: no caller can forget it. An entry below the level returns
 * at once: winston itself builds the entry, merges its metadata and pushes it through its stream before its
 * transform drops it, which on the worker's hot path (an info line per outcome at level warn) cost more CPU
 * per command than the ledger's own work.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.stream ?? process.stdout;
  const logger = winston.createLogger({
    level: options.level ?? process.env.PB_LOG_LEVEL ?? 'info',
    defaultMeta: options.service ? { service: options.service } : undefined,
    // The timestamp after redaction: it is always this process's clock, and its 17 digits would send every
    // line through the card-number walk.
    format: winston.format.combine(winston.format.errors({ stack: true }), redactFormat(), winston.format.timestamp({ format: now }), jsonLine()),
    transports: [new winston.transports.Stream({ stream: destination })],
  });
  skipDisabledLevels(logger);
  writeLinesDirectly(logger, options.coalesce === true ? coalescedLines(destination) : (text) => destination.write(text));
  return logger;
}

/** winston's key of an entry's level (triple-beam's `LEVEL`). */
const LEVEL = Symbol.for('level');

/**
 * Makes the logger's `write`, where `log`, the level methods and child loggers all end, format the entry and
 * write its line to `destination` at once. winston's logger is a Transform stream piped into its transports:
 * each line went through a stream write, a transform, a push, the transport's own stream write and an
 * immediate for its `logged` event, around the one write to the destination. That plumbing cost ~9 µs of CPU a
 * line (harness/bench/log-line-bench.ts: 12.7 against 3.3-5.4 µs, the JSON text alone 2.3-3.8 µs), 1-2 % of a
 * worker's CPU at one line per outcome.
 * The format (redaction included), the level check the transport made and the one synchronous write are
 * kept; the transport stays in `logger.transports` for anything that looks, and is never written through.
 */
function writeLinesDirectly(logger: Logger, writeLine: (text: string) => void): void {
  logger.write = function (this: Logger, info: unknown): boolean {
    const self = this ?? logger;
    const entry = info as Record<string | symbol, unknown>;
    // What the transport dropped: a silent logger, an uncaught-exception entry (no transport handles them),
    // an entry below the level (`log('debug', …)` reaches here without the level methods' check).
    if (self.silent || entry.exception === true) return true;
    entry[LEVEL] ??= entry.level;
    const level = entry[LEVEL];
    if (typeof level !== 'string' || !levelEnabled(self, level)) return true;
    const line = self.format.transform(entry as winston.Logform.TransformableInfo, self.format.options) as Record<string | symbol, unknown> | false;
    if (line) writeLine(`${String(line[MESSAGE])}\n`);
    return true;
  } as Logger['write'];
}

type LevelMethod = (this: Logger, ...args: unknown[]) => Logger;

/**
 * Whether `level` is written now: winston's `isLevelEnabled` for a logger whose transports carry no level of
 * their own (createLogger's one transport never does), without its garbage: its `transports` getter builds
 * two arrays and it makes a closure on every call, i.e. on every line and every skipped debug call.
 */
function levelEnabled(self: Logger, level: string): boolean {
  const { levels } = self;
  const given = levels[level];
  const configured = levels[self.level];
  return given !== undefined && configured !== undefined && configured >= given;
}

/**
 * Answers `isLevelEnabled` with {@link levelEnabled}, and wraps each level's method (`info`, `debug`…) to
 * return before any work when the level is not enabled now (the level may change later; child loggers
 * inherit both and their parent's level).
 */
function skipDisabledLevels(logger: Logger): void {
  // The wrapped methods below and callers' own checks (`isLevelEnabled('debug')` before building a costly
  // line) take the same two lookups.
  logger.isLevelEnabled = function (this: Logger, level: string): boolean {
    return levelEnabled(this ?? logger, level);
  };
  const methods = logger as unknown as Record<string, LevelMethod>;
  for (const level of Object.keys(logger.levels)) {
    const write = methods[level];
    if (typeof write !== 'function') continue;
    methods[level] = function (this: Logger, ...args: unknown[]): Logger {
      const self = this ?? logger;
      return self.isLevelEnabled(level) ? write.apply(self, args) : self;
    };
  }
}

/** A logger that writes nothing; for library callers that pass none. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
