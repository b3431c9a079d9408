import { WriteStream, createWriteStream } from 'node:fs';
import { histogram } from './metrics-registry';

/**
 * Where a command's time goes inside the worker, stage by stage, for a latency investigation: with the
 * environment variable `PB_STAGE_TIMING=1` (read once at load) the consumer and the delivery mark each
 * command's stages and `pb_command_stage_seconds{stage}` gets the time between consecutive marks (the
 * stage is named by the mark that ends it). Off (the default) every call returns at its first test: no
 * clock read, no allocation. Not a product metric to keep on: it costs a map entry and a dozen clock reads
 * per command.
 *
 * Marks, in order (a command skips the ones its path does not take):
 * `delivered` (the AMQP delivery reached the consumer), `started` (it had an in-flight slot), `admitted`
 * (authenticated, parsed, validated, rate-limited), `created` (the ledger create returned), `psp_start`,
 * `psp_end` (the PSP call), `recorded` (the outcome transition and its event returned), `notify_start`,
 * `notify_end` (the bus notification), `acked` (the consumer handed the message to its ack batcher), and
 * `ack_sent` (the ack frame went out).
 *
 * With `PB_STAGE_TIMING_FILE=<path>` as well, each finished message's marks are also appended to
 * `<path>.<pid>` as one line of `mark=ms` pairs (ms since the previous mark), `delivered` first with its epoch
 * time: exact percentiles offline, and the traces of a chosen window (the last N lines).
 */
export const STAGE_TIMING = process.env.PB_STAGE_TIMING === '1';

const traceFile: WriteStream | null =
  STAGE_TIMING && process.env.PB_STAGE_TIMING_FILE ? createWriteStream(`${process.env.PB_STAGE_TIMING_FILE}.${process.pid}`, { flags: 'a' }) : null;

export type StageMark =
  'delivered' | 'started' | 'admitted' | 'created' | 'psp_start' | 'psp_end' | 'recorded' | 'notify_start' | 'notify_end' | 'acked' | 'ack_sent';

/** One command's marks so far: the time of the last one, epoch ms with sub-millisecond precision. */
interface Trace {
  first: number;
  last: number;
  /** `mark=ms` pairs, only with a trace file. */
  line?: string;
}

const byOperation = new Map<string, Trace>();
/** Traces of messages whose operation id is not known yet, by the message (its delivery tag is per channel). */
const byMessage = new WeakMap<object, Trace>();
/** Bounds the map when commands never reach their last mark (a crash path, a duplicate). */
const MAX_TRACES = 10_000;

function clock(): number {
  return performance.timeOrigin + performance.now();
}

function stageHistogram() {
  return histogram(
    'pb_command_stage_seconds',
    'Time a command spent in each stage of the worker, named by the mark that ends it (only with PB_STAGE_TIMING=1)',
    ['stage'] as const,
    // Sub-millisecond for the worker's own stages; up to 30 s for psp_end and total, a PSP call being allowed
    // gateways.<name>.timeout_ms (10 s by default), as pb_gateway_request_duration_seconds.
    [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1, 2.5, 5, 10, 30],
  );
}

function observe(trace: Trace, mark: StageMark): void {
  const now = clock();
  stageHistogram().observe({ stage: mark }, (now - trace.last) / 1000);
  if (traceFile) trace.line += ` ${mark}=${(now - trace.last).toFixed(3)}`;
  trace.last = now;
}

/** The first mark of a message, before its operation id is known. */
export function markDelivered(msg: object): void {
  if (!STAGE_TIMING) return;
  const now = clock();
  byMessage.set(msg, traceFile ? { first: now, last: now, line: `delivered=${now.toFixed(3)}` } : { first: now, last: now });
}

/** A mark of a message whose operation id is not known yet. */
export function markMessage(msg: object, mark: StageMark): void {
  if (!STAGE_TIMING) return;
  const trace = byMessage.get(msg);
  if (trace) observe(trace, mark);
}

/** From now on the message's trace is found by its operation id. */
export function bindOperation(msg: object, operationId: string): void {
  if (!STAGE_TIMING) return;
  const trace = byMessage.get(msg);
  if (!trace) return;
  if (byOperation.size >= MAX_TRACES) byOperation.clear();
  byOperation.set(operationId, trace);
}

/** A mark of an operation being traced (no-op for one that is not: a retry from the queue, a webhook). */
export function markOperation(operationId: string, mark: StageMark): void {
  if (!STAGE_TIMING) return;
  const trace = byOperation.get(operationId);
  if (trace) observe(trace, mark);
}

/** The operation's marks are over (its message is being acked): later marks of the id are not this message's. */
export function unbindOperation(operationId: string | null): void {
  if (!STAGE_TIMING || operationId === null) return;
  byOperation.delete(operationId);
}

/** The message's last mark, and its whole time from delivery as stage `total`. */
export function markDone(msg: object, mark: StageMark): void {
  if (!STAGE_TIMING) return;
  const trace = byMessage.get(msg);
  if (!trace) return;
  observe(trace, mark);
  stageHistogram().observe({ stage: 'total' }, (trace.last - trace.first) / 1000);
  if (traceFile) traceFile.write(`${trace.line} total=${(trace.last - trace.first).toFixed(3)}\n`);
  byMessage.delete(msg);
}
