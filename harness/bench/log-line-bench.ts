/**
 * Microbenchmark of one log line: CPU and V8 heap allocation per `logger.info(message, meta)` of the product's
 * logger (`createLogger`: redaction, timestamp, JSON line), for the worker's line per outcome, written to a
 * stream that discards it, so what is measured is the logger's own work and not the destination's write. For
 * comparison it also times the floor: `JSON.stringify` of the same fields.
 *
 * Each case runs twice, each time in a child process of its own: once with the roles' Node options
 * (`ROLE_NODE_OPTIONS`) for the CPU, once with a young generation emptied by a full collection just before the
 * measured lines and large enough that no scavenge runs during them, for the allocation (the young
 * generation's growth; n/a if it shrank, a scavenge having run anyway). The large young generation is not
 * used for the CPU: first touching its pages costs more than the lines themselves.
 *
 * Run: `node dist/harness/bench/log-line-bench.js` (PB_LOG_BENCH_LINES, default 20000 a round;
 * PB_LOG_BENCH_ROUNDS, default 3). Prints µs of CPU and bytes allocated per line; it asserts nothing.
 */
import { fork } from 'node:child_process';
import { Writable } from 'node:stream';
import { getHeapSpaceStatistics } from 'node:v8';
import { ROLE_NODE_OPTIONS } from '../../src/cli/role-node-options';
import { createLogger } from '../../src/logging/logger';

const say = (line = '') => process.stdout.write(`${line}\n`);

type Case = 'logger' | 'json-floor';
const CASES: readonly Case[] = ['logger', 'json-floor'];

/** The fields of the worker's line per outcome (src/metrics/outcome-metrics.ts), as one command has them. */
function outcomeFields(i: number): Record<string, unknown> {
  return {
    operation_id: `op-bench-${i}`,
    order_id: `o-bench-${i}`,
    gateway: 'simulator',
    command: 'authorize',
    channel: 'web',
    state: 'SUCCEEDED',
    outcome: 'succeeded',
    attempts: 1,
    latency_ms: 150 + (i % 100),
  };
}

/** Runs `lines` lines of `which` (after a warm-up) and reports CPU and allocation per line to the parent. */
function measure(which: Case, lines: number): void {
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const logger = createLogger({ service: 'worker', stream: sink, level: 'info' });
  const line =
    which === 'logger'
      ? (i: number) => void logger.info('operation outcome', outcomeFields(i))
      : (i: number) =>
          void sink.write(
            `${JSON.stringify({ service: 'worker', ...outcomeFields(i), level: 'info', message: 'operation outcome', timestamp: new Date().toISOString() })}\n`,
          );
  for (let i = 0; i < 20_000; i += 1) line(i);
  (globalThis as { gc?: () => void }).gc?.();
  const youngBefore = youngUsed();
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < lines; i += 1) line(i);
  const cpu = process.cpuUsage(cpuBefore);
  const grown = youngUsed() - youngBefore;
  process.send?.({ cpuMicros: (cpu.user + cpu.system) / lines, bytes: grown > 0 ? grown / lines : null });
}

/** Bytes in use in V8's young generation. */
function youngUsed(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_used_size ?? 0;
}

type Mode = 'cpu' | 'bytes';

function runCase(which: Case, mode: Mode, lines: number): Promise<{ cpuMicros: number; bytes: number | null }> {
  const execArgv = mode === 'cpu' ? [...ROLE_NODE_OPTIONS] : ['--max-semi-space-size=256', '--min-semi-space-size=256', '--expose-gc'];
  return new Promise((resolve, reject) => {
    const child = fork(__filename, [which, String(lines)], { execArgv });
    child.once('message', (result) => resolve(result as { cpuMicros: number; bytes: number | null }));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`${which} exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const lines = Number(process.env.PB_LOG_BENCH_LINES ?? 20_000);
  const rounds = Number(process.env.PB_LOG_BENCH_ROUNDS ?? 3);
  say(`log line: ${lines} lines a round, ${rounds} rounds, each case in a child process of its own`);
  for (let round = 1; round <= rounds; round += 1) {
    for (const which of CASES) {
      const { cpuMicros } = await runCase(which, 'cpu', lines);
      const { bytes } = await runCase(which, 'bytes', lines);
      say(
        `round ${round}  ${which.padEnd(10)}  ${cpuMicros.toFixed(2)} µs of CPU a line  ${bytes === null ? 'n/a' : `${Math.round(bytes)} B`} allocated a line`,
      );
    }
  }
}

const [which, count] = process.argv.slice(2);
if (which === 'logger' || which === 'json-floor') measure(which, Number(count));
else
  main().catch((err: unknown) => {
    say(`log-line-bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
