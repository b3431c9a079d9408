/**
 * `npm run bench:reconcile`: reconciliation of 100,000 ledger operations against a 100,000-line simulator
 * report (every line matches), printing the time and the peak RSS of the run (target: at most 60 s and
 * 150 MB). The simulator runs in a child process, and so does the run itself (this script again, with
 * PB_BENCH_RECON_RUN), so neither the simulator's memory nor the seeding's is counted; the ledger is seeded
 * directly (pipelined), under a namespace of its own, deleted at the end. The run's peak RSS is its own
 * process's high-water mark, loading its modules included (`peak_rss_before_run_mb` is that part). Prints,
 * never asserts.
 *
 * Besides wall time it prints the run process's CPU seconds (user + system: robust to a loaded machine,
 * where wall time is not), the simulator's CPU seconds over the run (its report pages are not the run's
 * cost, but they share the cores), and the load average before and after.
 *
 * Options (environment): PB_BENCH_RECON_OPERATIONS (default 100 000), PB_REDIS_URL,
 * PB_BENCH_RECON_NODE_FLAGS (default: two runs, with V8's defaults as `payment-bridge reconcile` starts, and
 * with the roles' Node options as the poller's scheduled reconciliation runs; else node options for the run's process only, `NAME=value` for its environment, e.g. `--cpu-prof
 * --cpu-prof-dir=/tmp/prof` or `--heap-prof`; several sets separated by `|` are run in turn over the same
 * seeded data, to compare them), PB_BENCH_RECON_REPEAT (runs of each set, each in a fresh process, default 1), PB_BENCH_RECON_SNAPSHOT_AT (a
 * heap snapshot of the run's process once that many lines are judged; its file name is printed).
 */
import { shardKeysOf, shardOfPayment } from '../src/redis/key-layout';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { join } from 'node:path';
import { buildConfig } from '../src/config/load-config';
import { silentLogger } from '../src/logging/logger';
import { createRedis } from '../src/redis/redis-connection';
import { reconcile } from '../src/reconciliation-run/reconcile';
import type { ReconciliationProgress } from '../src/reconciliation-run/reconciliation-runner';
import { tuneHeap } from '../src/cli/heap-tuning';
import { roleNodeOptions } from '../src/cli/role-node-options';
import { processCpuMicros } from '../harness/bench/process-cpu';

async function main(): Promise<void> {
  // Loaded here, not at the top: the run's own process (this file again) must not carry the harness's modules.
  const { purgeNamespace } = await import('../harness/twins/local-stack/local-stack');
  const total = Number(process.env.PB_BENCH_RECON_OPERATIONS ?? 100_000);
  const ns = `benchrecon${randomBytes(3).toString('hex')}`;
  const apiKey = `sim-${randomBytes(12).toString('hex')}`;
  const child = spawn(process.execPath, [join(__dirname, '../harness/twins/psp-simulator/main.js'), '--api-key', apiKey], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve((JSON.parse(d.toString().split('\n')[0]) as { url: string }).url));
    child.once('exit', () => reject(new Error('simulator exited')));
  });
  const parameters = {
    'service_bus.url': 'http://127.0.0.1:1',
    'service_bus.endpoint_name': 'payment-bridge-bench',
    'service_bus.secret': `bus-${randomBytes(12).toString('hex')}`,
    'service_bus.public_url': 'http://127.0.0.1:1/bus',
    'mom_client.client_id': 'payment-bridge-bench',
    'mom_client.client_secret': 'unused-in-this-benchmark',
    'mom_client.oauth_server_url': 'http://127.0.0.1:1',
    'amqp.url': process.env.PB_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    'amqp.exchange.commands': `${ns}.commands`,
    'amqp.queue.commands': `${ns}:payment:command`,
    'amqp.exchange.dead_letter': `${ns}.dead-letter`,
    'amqp.queue.dead_letter': `${ns}:payment:dead-letter`,
    'amqp.queue.type': 'classic',
    'redis.url': process.env.PB_REDIS_URL ?? 'redis://127.0.0.1:6379',
    'redis.key_prefix': `${ns}:`,
    'security.allow_insecure_http': true,
    gateways: {
      simulator: { type: 'simulator', base_url: url, api_key: apiKey, webhook_secret: `whsec-${randomBytes(12).toString('hex')}`, timeout_ms: 30000 },
    },
  };
  const config = buildConfig(parameters);
  const redis = createRedis(config.redis, 'commands');
  const from = Date.now() - 3_600_000;
  const to = from + 3_600_000;
  const prefix = config.redis.keyPrefix;
  try {
    // The ledger: `total` captures SUCCEEDED, created across the window, as the create script lays them out
    // (each in its order's shard, src/redis/key-layout.ts; one pipeline per shard).
    for (let start = 0; start < total; start += 5000) {
      const pipelines = shardKeysOf(prefix).map(() => redis.pipeline());
      for (let i = start; i < Math.min(total, start + 5000); i += 1) {
        const id = `bench-recon-${i}`;
        const at = Math.floor(from + (i * 3_600_000) / total);
        const payment = {
          gateway: 'simulator',
          gateway_account: 'acct',
          gateway_key: `auth_syn${i.toString(36)}`,
          amount: 1500,
          currency: 'EUR',
          order_id: `O-${i}`,
        };
        const keys = shardKeysOf(prefix)[shardOfPayment(payment)];
        const p = pipelines[keys.shard];
        p.hset(
          keys.op(id),
          'id',
          id,
          'command',
          'capture',
          'channel',
          'bus',
          'state',
          'SUCCEEDED',
          'payment',
          JSON.stringify(payment),
          'received_at',
          at,
          'created_at',
          at,
          'updated_at',
          at,
          'attempts',
          1,
        );
        p.zadd(keys.created, at, id);
      }
      await Promise.all(pipelines.map((p) => p.exec()));
    }
    const seeded = await fetch(`${url}/_control/report/synthesize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: total, prefix: 'bench-recon-', amount: 1500, currency: 'EUR', from, to }),
    });
    if (!seeded.ok) throw new Error(`simulator refused the report: ${seeded.status}`);
    // The run itself in a process of its own: its peak RSS is the runner's, not the seeding's. Each repeat
    // is a fresh process over the same data (a finished run's state is dropped first, so it runs again).
    const repeat = Math.max(1, Number(process.env.PB_BENCH_RECON_REPEAT ?? 1));
    // By default the run twice: as `payment-bridge reconcile` starts (V8's defaults) and as the poller's
    // scheduled reconciliation runs (the roles' Node options, src/cli/role-node-options.ts).
    const variants =
      process.env.PB_BENCH_RECON_NODE_FLAGS === undefined
        ? [[], [...roleNodeOptions('poll')]]
        : process.env.PB_BENCH_RECON_NODE_FLAGS.split('|').map((v) => v.split(' ').filter((f) => f.length > 0));
    for (let n = 0; n < repeat * variants.length; n += 1) {
      const flags = variants[n % variants.length];
      await redis.del(...(await redis.keys(`${prefix}recon:run:*`)), `${prefix}recon:none`);
      const load = loadavg()[0];
      const simulatorCpu = processCpuMicros(child.pid);
      const line = await runInChild({ parameters, from, to }, flags);
      const simulatorCpuAfter = processCpuMicros(child.pid);
      process.stdout.write(
        `${JSON.stringify({
          operations: total,
          node_flags: flags.join(' '),
          target: `<= 60 s ${line.seconds <= 60 ? 'MET' : 'MISSED'}, <= 150 MB ${line.peak_rss_mb <= 150 ? 'MET' : 'MISSED'}`,
          ...line,
          simulator_cpu_s: simulatorCpu !== null && simulatorCpuAfter !== null ? Number(((simulatorCpuAfter - simulatorCpu) / 1e6).toFixed(1)) : null,
          load_before: Number(load.toFixed(1)),
          load_after: Number(loadavg()[0].toFixed(1)),
        })}\n`,
      );
    }
  } finally {
    redis.disconnect();
    child.kill('SIGTERM');
    await purgeNamespace(config).catch(() => undefined);
  }
}

/** What the child process measured. */
interface RunFigures {
  lines: number;
  matched: number;
  seconds: number;
  /** Of which the PSP phase (the report's lines); the rest is the ledger phase (operations no line named). */
  psp_phase_seconds: number;
  /** The run process's CPU time over the run, user + system, seconds. */
  cpu_s: number;
  cpu_user_s: number;
  cpu_system_s: number;
  lines_per_s: number;
  peak_rss_mb: number;
  /** The process's RSS once loaded, before the run (modules, connections), and its peak so far (loading). */
  rss_before_run_mb: number;
  peak_rss_before_run_mb: number;
  /** V8's young generation (semi-spaces), peak size. */
  new_space_mb: number;
  /** `PB_HEAP_GROWING_PERCENT` as applied (null: V8's own heuristic). */
  heap_growing_percent: number | null;
  heap_total_mb: number;
  heap_used_mb: number;
  external_mb: number;
  array_buffers_mb: number;
  /** The heap snapshot written mid-run (PB_BENCH_RECON_SNAPSHOT_AT), if any. */
  heap_snapshot?: string;
}

/** Runs `reconcile()` in a fresh Node process (this script with PB_BENCH_RECON_RUN) and returns its figures. */
async function runInChild(run: { parameters: Record<string, unknown>; from: number; to: number }, flags: readonly string[]): Promise<RunFigures> {
  // `NAME=value` among the flags is an environment variable of the run's process (PB_HEAP_GROWING_PERCENT=0).
  const env = Object.fromEntries(flags.filter((f) => /^[A-Z_]+=/.test(f)).map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]));
  const options = flags.filter((f) => !/^[A-Z_]+=/.test(f));
  const worker = spawn(process.execPath, [...options, __filename], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env, PB_BENCH_RECON_RUN: JSON.stringify(run) },
  });
  let out = '';
  worker.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => worker.once('exit', resolve));
  if (code !== 0) throw new Error(`the reconcile run exited ${code}`);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as RunFigures;
}

/** The child: one `reconcile()` over the seeded window; peak RSS is the process's own high-water mark. */
async function runOnly(spec: string): Promise<void> {
  // As `payment-bridge reconcile` does (src/cli/reconcile-command.ts): the roles' old-generation growth cap.
  const heapGrowingPercent = tuneHeap();
  const { parameters, from, to } = JSON.parse(spec) as { parameters: Record<string, unknown>; from: number; to: number };
  const config = buildConfig(parameters);
  const redis = createRedis(config.redis, 'commands');
  // Where the memory is, sampled through the run: V8's heap (live + garbage not yet collected), and what
  // lives outside it (Buffers: sockets, HTTP bodies). Peaks, MB.
  const peaks = { heap_total_mb: 0, heap_used_mb: 0, new_space_mb: 0, external_mb: 0, array_buffers_mb: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (young) peaks.new_space_mb = Math.max(peaks.new_space_mb, Math.round(young.space_size / 1048576));
    peaks.heap_total_mb = Math.max(peaks.heap_total_mb, Math.round(m.heapTotal / 1048576));
    peaks.heap_used_mb = Math.max(peaks.heap_used_mb, Math.round(m.heapUsed / 1048576));
    peaks.external_mb = Math.max(peaks.external_mb, Math.round(m.external / 1048576));
    peaks.array_buffers_mb = Math.max(peaks.array_buffers_mb, Math.round(m.arrayBuffers / 1048576));
  };
  const sampler = setInterval(sample, 250);
  const rssAtStart = Math.round(process.memoryUsage().rss / 1048576);
  const peakAtStart = Math.round(process.resourceUsage().maxRSS / 1024);
  try {
    const started = performance.now();
    const cpu = process.cpuUsage();
    // When the ledger phase began (the PSP phase's share of the time), and an optional heap snapshot mid-run.
    let ledgerPhaseAt: number | null = null;
    const snapshotAt = Number(process.env.PB_BENCH_RECON_SNAPSHOT_AT ?? 0);
    let snapshot: string | null = null;
    const onProgress = (p: ReconciliationProgress): void => {
      if (p.phase === 'ledger' && ledgerPhaseAt === null) ledgerPhaseAt = performance.now();
      if (snapshotAt > 0 && snapshot === null && p.judged >= snapshotAt) snapshot = writeHeapSnapshot();
    };
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to }, logger: silentLogger(), redis, onProgress });
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const figures: RunFigures = {
      lines: summary.lines,
      matched: summary.classes.matched,
      seconds: Number(seconds.toFixed(1)),
      psp_phase_seconds: Number((((ledgerPhaseAt ?? performance.now()) - started) / 1000).toFixed(1)),
      cpu_s: Number(((used.user + used.system) / 1e6).toFixed(1)),
      cpu_user_s: Number((used.user / 1e6).toFixed(1)),
      cpu_system_s: Number((used.system / 1e6).toFixed(1)),
      lines_per_s: Math.round(summary.lines / seconds),
      // maxRSS: kilobytes, the process's peak resident set since it started.
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      rss_before_run_mb: rssAtStart,
      peak_rss_before_run_mb: peakAtStart,
      heap_growing_percent: heapGrowingPercent,
      ...peaks,
      ...(snapshot ? { heap_snapshot: snapshot } : {}),
    };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    clearInterval(sampler);
    redis.disconnect();
  }
}

const runSpec = process.env.PB_BENCH_RECON_RUN;
(runSpec ? runOnly(runSpec) : main()).catch((err: unknown) => {
  process.stderr.write(`bench-reconcile: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
