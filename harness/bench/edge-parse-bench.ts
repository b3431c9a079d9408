/**
 * Microbenchmark of what every command pays at the edge before it is validated: strict UTF-8 decoding
 * (`decodeJsonText`, against `Buffer#toString`), the repeated-member scan (`repeatedMemberPath`, against
 * `JSON.parse` of the same text as the floor) and the whole bounded parse (`decodeJsonText` +
 * `parseBoundedJson`: size, depth, parse, repeated members), for a typical command (~300 bytes) and one of
 * 4 KiB (a sale with its order lines).
 *
 * Each case runs in a child process of its own, twice: with the roles' Node options for the CPU, and with a
 * young generation emptied just before and large enough that no scavenge runs, for the V8 heap allocated
 * (n/a if a scavenge ran anyway).
 *
 * Run: `node dist/harness/bench/edge-parse-bench.js` (PB_EDGE_BENCH_COMMANDS, default 200000 a round;
 * PB_EDGE_BENCH_ROUNDS, default 3). Prints µs of CPU and bytes allocated per command; it asserts nothing.
 */
import { fork } from 'node:child_process';
import { getHeapSpaceStatistics } from 'node:v8';
import { ROLE_NODE_OPTIONS } from '../../src/cli/role-node-options';
import { decodeJsonText, parseBoundedJson } from '../../src/contracts/json-limits';
import { repeatedMemberPath } from '../../src/contracts/repeated-members';

const say = (line = '') => process.stdout.write(`${line}\n`);

const CASES = ['to-string', 'strict-decode', 'json-parse', 'repeated-members', 'bounded-parse'] as const;
type Case = (typeof CASES)[number];
const SIZES = ['typical', '4KiB'] as const;
type Size = (typeof SIZES)[number];

/** A canonical sale as a channel sends it; with order lines up to 4 KiB for the larger size. */
function commandBytes(size: Size): Buffer {
  const payment: Record<string, unknown> = {
    gateway: 'simulator',
    gateway_account: 'acme-eu',
    gateway_key: 'pm_card_visa',
    amount: 1999,
    currency: 'EUR',
    order_id: 'ORD-100045',
    operation_reference: 'web-ORD-100045-sale-1',
    custom_attributes: { note: 'Grüße' },
  };
  const command = { version: 1, command: 'sale', channel: 'web', received_at: '2026-01-31T09:00:00.000Z', payment };
  if (size === '4KiB') {
    const lines: Record<string, unknown>[] = [];
    payment.lines = lines;
    for (let i = 0; Buffer.byteLength(JSON.stringify(command)) < 4096 - 160; i += 1) {
      lines.push({ sku: `SKU-${1000 + i}`, item_name: `Mug, blue, 350 ml (${i})`, quantity: 1 + (i % 3), unit_amount: 999, amount: 999 * (1 + (i % 3)) });
    }
  }
  return Buffer.from(JSON.stringify(command));
}

function operation(which: Case, bytes: Buffer): () => unknown {
  const text = bytes.toString('utf8');
  switch (which) {
    case 'to-string':
      return () => bytes.toString('utf8');
    case 'strict-decode':
      return () => decodeJsonText(bytes);
    case 'json-parse':
      return () => JSON.parse(text) as unknown;
    case 'repeated-members':
      return () => repeatedMemberPath(text);
    case 'bounded-parse':
      return () => parseBoundedJson(decodeJsonText(bytes));
  }
}

/** Runs `count` operations of `which` (after a warm-up) and reports CPU and allocation per command to the parent. */
function measure(which: Case, size: Size, count: number): void {
  const op = operation(which, commandBytes(size));
  let sink = 0;
  for (let i = 0; i < 50_000; i += 1) sink += op() === undefined ? 0 : 1;
  (globalThis as { gc?: () => void }).gc?.();
  const youngBefore = youngUsed();
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < count; i += 1) sink += op() === undefined ? 0 : 1;
  const cpu = process.cpuUsage(cpuBefore);
  const grown = youngUsed() - youngBefore;
  process.send?.({ cpuMicros: (cpu.user + cpu.system) / count, bytes: grown > 0 ? grown / count : null, sink });
}

function youngUsed(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_used_size ?? 0;
}

function runCase(which: Case, size: Size, mode: 'cpu' | 'bytes', count: number): Promise<{ cpuMicros: number; bytes: number | null }> {
  const execArgv = mode === 'cpu' ? [...ROLE_NODE_OPTIONS] : ['--max-semi-space-size=256', '--min-semi-space-size=256', '--expose-gc'];
  // The allocation run stays within the young generation it was given.
  const n = mode === 'cpu' ? count : Math.min(count, 20_000);
  return new Promise((resolve, reject) => {
    const child = fork(__filename, [which, size, String(n)], { execArgv });
    child.once('message', (result) => resolve(result as { cpuMicros: number; bytes: number | null }));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`${which} exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const count = Number(process.env.PB_EDGE_BENCH_COMMANDS ?? 200_000);
  const rounds = Number(process.env.PB_EDGE_BENCH_ROUNDS ?? 3);
  say(`edge parse: ${count} commands a round, ${rounds} rounds, each case in a child process of its own`);
  for (const size of SIZES) say(`  ${size}: ${commandBytes(size).length} bytes`);
  for (let round = 1; round <= rounds; round += 1) {
    for (const size of SIZES) {
      for (const which of CASES) {
        const { cpuMicros } = await runCase(which, size, 'cpu', count);
        const { bytes } = await runCase(which, size, 'bytes', count);
        say(
          `round ${round}  ${size.padEnd(7)}  ${which.padEnd(16)}  ${cpuMicros.toFixed(2)} µs of CPU a command  ${bytes === null ? 'n/a' : `${Math.round(bytes)} B`} allocated a command`,
        );
      }
    }
  }
}

const [which, size, count] = process.argv.slice(2);
if ((CASES as readonly string[]).includes(which) && (SIZES as readonly string[]).includes(size)) measure(which as Case, size as Size, Number(count));
else
  main().catch((err: unknown) => {
    say(`edge-parse-bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
