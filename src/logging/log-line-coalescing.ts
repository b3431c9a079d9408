import type { Writable } from 'node:stream';

/** Past this many characters held, the lines are written at once rather than at the end of the turn. */
const MAX_HELD_CHARS = 64 * 1024;

/** One buffer per destination, so two loggers writing to stdout keep their lines in the order they logged them. */
const buffers = new WeakMap<Writable, (text: string) => void>();

/** The buffers' flushes, run synchronously when the process exits (an `exit` listener may not wait). */
const flushes = new Set<() => void>();
let exitHooked = false;

/**
 * A writer of log lines to `destination` that hands it every line of one turn of the event loop in one write:
 * the first line of a turn schedules an immediate that writes them all (sooner once 64 KiB are held), and
 * whatever is held when the process exits is written from its `exit` event (process.exit after a fatal line
 * included). Lines keep their order.
 *
 * Why: a worker logs a line an outcome, and Node writes stdout to a file or a pipe synchronously, one
 * `write(2)` a line: ~7 µs of a worker's CPU a command on the bench host (docs/BENCHMARKS.md), where the lines of
 * a busy turn now share one. The cost: a kill -9 loses the lines of the turn it interrupts (never anything of a
 * command: the ledger and the broker hold those), as an asynchronous logger such as pino's does.
 */
export function coalescedLines(destination: Writable): (text: string) => void {
  const known = buffers.get(destination);
  if (known) return known;
  let held = '';
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (held === '') return;
    const text = held;
    held = '';
    destination.write(text);
  };
  const onImmediate = (): void => {
    if (scheduled) flush();
  };
  const write = (text: string): void => {
    held += text;
    if (held.length >= MAX_HELD_CHARS) flush();
    else if (!scheduled) {
      scheduled = true;
      // Referenced: an unreferenced immediate does not stop the loop from waiting in poll, so an idle process
      // would hold its last lines until its next timer or socket event. It keeps a process alive one turn at most.
      setImmediate(onImmediate);
    }
  };
  buffers.set(destination, write);
  flushes.add(flush);
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const f of flushes) f();
    });
  }
  return write;
}
