/**
 * `npm run bench`: the whole flow's throughput, latency, memory and backlog behaviour on the local
 * RabbitMQ and Redis, against the targets in docs/BENCHMARKS.md (printed MET or MISSED, never enforced).
 *
 * Phases, in one run:
 * 1. raw AMQP baseline: ~600-byte persistent messages, confirms (window 500), one consumer (prefetch 200);
 * 2. saturation: a local stack (1 web, N workers, simulator without faults or latency, log level warn);
 *    authorize commands published straight to the commands exchange (confirms, window 500) until every
 *    terminal notification reached the bus twin: commands/s and its ratio to the raw AMQP rate;
 * 3. latency at an offered 500 commands/s for 10 s; the bridge's added latency is each command's end-to-end
 *    time minus its own PSP round trip as the worker timed it (from the ledger history); the PSP's round
 *    trip called directly at the same rate is printed for reference;
 * 4. Redis round trips and commands executed (including inside Lua scripts) per command (MONITOR on our
 *    key prefix over a short paced sample);
 * 5. backlog: workers stopped, warm-up commands then a small (then a large, then the small again) backlog
 *    published, workers started; the large backlog's steady drain rate (middle 80 % of its completions) is
 *    compared with the mean of the two small ones around it (the machine's speed drifts between them), and
 *    warm-up commands ahead of each keep the fresh workers' cold start (JIT, heap sizing) off the small ones;
 *    each backlog's CPU per command, every process, over the same middle 80 % says where a deep queue costs more;
 * 6. peak RSS (VmHWM) of every bridge process and of the stand-ins (this process; the bus twin and the PSP
 *    simulator, each run in a child process of its own so their heaps and GC pauses stay out of the publisher's);
 * 7. throughput at PSP latency: a fresh stack (1 web, N workers, default configuration) with the simulator
 *    answering in 200–300 ms (uniform): commands/s, each process's peak RSS over the phase, CPU and V8 heap
 *    allocation per command; then RabbitMQ alone at the phase's steady rate (harness/bench/broker-alone.ts),
 *    its CPU per message beside its CPU per command in the flow;
 * 8. scaling: 1, 2 and 4 workers (commands over AMQP) and 1 and 2 web processes (captures over HTTP), each
 *    at zero and at PSP latency, with the throughput gained per added process, on that second stack.
 * Cost per command (saturation, PSP latency and every scaling row): the workers' CPU time from /proc ÷
 * commands, and their V8 heap allocation ÷ commands from a probe preloaded into the roles
 * (harness/bench/allocation-probe.ts; PB_BENCH_ALLOCATION=0 leaves it out); beside them the stand-ins' CPU
 * (this process, the bus twin's and the simulator's: what measuring costs the machine, not the bridge).
 * Results go to stdout and to bench/results/<UTC time>.json and .md. The namespaces are purged at the end.
 *
 * Options (environment): PB_BENCH_WORKERS (default 2), PB_BENCH_COMMANDS (20 000), PB_BENCH_BACKLOG_SMALL
 * (10 000), PB_BENCH_BACKLOG_LARGE (100 000), PB_BENCH_BACKLOG_WARMUP (5 000), PB_BENCH_RAW_BYTES (600),
 * PB_BENCH_PSP_LATENCY_MS (200-300), PB_BENCH_PSP_COMMANDS (20 000), PB_BENCH_SCALING_WORKERS (1,2,4),
 * PB_BENCH_SCALING_WEBS (1,2; empty: no web rows), PB_BENCH_SCALING_WEB_WORKERS (2), PB_BENCH_TWIN_PROCESSES (1; 0 runs
 * the bus twin and the simulator in this process, as before 2026-11-30), PB_BENCH_SCALING_COMMANDS
 * (5 000), PB_BENCH_QUEUE_TYPE (classic; quorum for the first stack too), PB_BENCH_PHASES (all of raw,saturation,paced,redis,backlog,psp,scaling), PB_BENCH_QUICK=1
 * (2 000 commands, backlogs 2 000 / 5 000, 3 000 at PSP latency, 2 000 per scaling row), PB_BENCH_REDIS (single;
 * cluster: the PSP-latency and scaling stack on the local Redis Cluster, its six nodes' CPU in the Redis column, for
 * the raw, psp and scaling phases only), PB_BENCH_REPLICA_ACKS (0; redis.replica_acks on the cluster, refused on single).
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import Redis from 'ioredis';
import { allocationProbeArgs } from '../harness/bench/allocation-reader';
import { authorizeCommand, benchReference } from '../harness/bench/bench-commands';
import { BenchSection, toMarkdown, writeResults } from '../harness/bench/bench-output';
import { TargetInputs, checkTargets } from '../harness/bench/bench-targets';
import { publishPaced, publishWindowed } from '../harness/bench/command-publishing';
import { CpuCeiling, bridgeCpuCeiling, cpuCeiling } from '../harness/bench/cpu-ceiling';
import { MarkedWindowCost } from '../harness/bench/marked-window-cost';
import { ProcessCost, ServerPids, StandIn, WindowCost, alive } from '../harness/bench/process-cost';
import { pidListeningOn } from '../harness/bench/process-cpu';
import { peakRssMiB, rssMiB } from '../harness/bench/process-memory';
import { scrapeMetric, scrapeMetricByLabel } from '../harness/bench/metric-scrape';
import { pspRoundTrips } from '../harness/bench/psp-round-trip';
import { rawAmqpBaseline, RawAmqpResult } from '../harness/bench/raw-amqp-baseline';
import { brokerAlone } from '../harness/bench/broker-alone';
import { cpuTicks, speedProbe, stealPercent } from '../harness/bench/machine-speed';
import { configSchema } from '../src/config/config-schema';
import { BenchRedisChoice, benchRedisChoice, benchRedisParameters, benchRedisServers } from '../harness/bench/bench-redis';
import { commandStats, commandStatsDelta, monitorPrefix } from '../harness/bench/redis-command-count';
import { addedLatenciesMs, pspTimesMs } from '../harness/bench/psp-time';
import { ScalingRow, scalingPhase } from '../harness/bench/scaling-phase';
import { TerminalTracker, TrackedBatch, steadyRate } from '../harness/bench/terminal-tracker';
import { ThroughputResult, throughputRun } from '../harness/bench/throughput-run';
import { preciseNow } from '../harness/workload/precise-clock';
import { ChildProcessTwins, InProcessTwins, LocalStack, projectRoot, startLocalStack } from '../harness/twins/local-stack/local-stack';
import { RoleProcess } from '../harness/twins/local-stack/role-process';
import { ChannelPublisher } from '../harness/workload/channel-publisher';
import { LatencySummary, latencySummary } from '../harness/workload/flow-checks';
import { formatTable } from '../harness/workload/text-table';

const say = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const envInt = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const envList = (name: string, fallback: number[]) => {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  return raw
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .map(Number);
};

/** A role process starts in ~1 s on a quiet machine; a shared, loaded one has taken 30 s and more. */
const ROLE_READY_TIMEOUT_MS = 120_000;

/**
 * The commands queue type a deployment gets when parameters.yml names none (quorum): the PSP-latency and
 * scaling stack's, as the PSP target asks for the default configuration. Until 2026-12-01 that stack ran on
 * the local stack's classic queues (declared so for the tests), where RabbitMQ took ~110 µs more per command
 * at 200–300 ms PSP latency (docs/BENCHMARKS.md).
 */
const SHIPPED_QUEUE_TYPE = configSchema.properties['amqp.queue.type'].default;

/**
 * The log level a deployment gets when parameters.yml names none (info: one line per outcome), for the same
 * stack and the same reason. Until 2026-12-01 that stack ran at warn, as the first stack still does (its
 * figures stay comparable with every earlier run); a line per outcome costs a worker ~20 µs (docs/BENCHMARKS.md).
 */
const SHIPPED_LOG_LEVEL = configSchema.properties['log.level'].default;

/** The phases of a run, in order; PB_BENCH_PHASES picks some (comma-separated). */
const PHASES = ['raw', 'saturation', 'paced', 'redis', 'backlog', 'psp', 'scaling'] as const;
type Phase = (typeof PHASES)[number];

interface Settings {
  phases: ReadonlySet<Phase>;
  workers: number;
  commands: number;
  backlogSmall: number;
  backlogLarge: number;
  /** Commands queued ahead of each backlog to warm the fresh workers up; not in its drain rate. */
  backlogWarmup: number;
  pacedRate: number;
  pacedSeconds: number;
  window: number;
  /** Raw AMQP message size, bytes: the benchmark's "~600 bytes", a command with lines and attributes. */
  rawBytes: number;
  /** The simulator's answer latency in the PSP-latency and scaling phases, ms, uniform in [min, max]. */
  pspLatencyMs: [number, number];
  /** Commands of the PSP-latency phase. */
  pspCommands: number;
  scalingWorkers: number[];
  scalingWebs: number[];
  scalingWebWorkers: number;
  scalingCommands: number;
  /** Concurrent HTTP requests of the web rows (the bus's delegate sends many at once). */
  httpConcurrency: number;
  /** Preload the allocation probe into the role processes. */
  allocation: boolean;
  /**
   * Commands queue type of the first stack (saturation, paced, Redis, backlog): classic, as in every run
   * before 2026-12-01 (`PB_BENCH_QUEUE_TYPE=quorum`: the shipped default, whose log is written and synced
   * before a message is delivered, adding milliseconds of latency on this machine).
   */
  flowQueueType: 'quorum' | 'classic';
  /** The bus twin and the simulator each in a child process (default) rather than in this one. */
  twinProcesses: boolean;
  /**
   * The Redis of the PSP-latency and scaling stack: the single local Redis (default) or the local Redis Cluster
   * (`PB_BENCH_REDIS=cluster`, with `redis.replica_acks` = `PB_BENCH_REPLICA_ACKS`, default 0).
   */
  redis: BenchRedisChoice;
  quick: boolean;
}

function settings(): Settings {
  const quick = process.env.PB_BENCH_QUICK === '1';
  const chosen = (process.env.PB_BENCH_PHASES ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const p of chosen)
    if (!(PHASES as readonly string[]).includes(p)) throw new Error(`PB_BENCH_PHASES: unknown phase "${p}" (known: ${PHASES.join(', ')})`);
  const [latMin, latMax = latMin] = (process.env.PB_BENCH_PSP_LATENCY_MS ?? '200-300').split('-').map(Number);
  if (!(latMin >= 0 && latMax >= latMin)) throw new Error('PB_BENCH_PSP_LATENCY_MS must be "min-max" in ms, 0 <= min <= max');
  const flowQueueType = process.env.PB_BENCH_QUEUE_TYPE ?? 'classic';
  if (flowQueueType !== 'classic' && flowQueueType !== 'quorum') throw new Error(`PB_BENCH_QUEUE_TYPE: "${flowQueueType}" is neither classic nor quorum`);
  const phases = new Set<Phase>(chosen.length > 0 ? (chosen as Phase[]) : PHASES);
  return {
    quick,
    phases,
    workers: envInt('PB_BENCH_WORKERS', 2),
    commands: envInt('PB_BENCH_COMMANDS', quick ? 2_000 : 20_000),
    backlogSmall: envInt('PB_BENCH_BACKLOG_SMALL', quick ? 2_000 : 10_000),
    backlogLarge: envInt('PB_BENCH_BACKLOG_LARGE', quick ? 5_000 : 100_000),
    backlogWarmup: envInt('PB_BENCH_BACKLOG_WARMUP', quick ? 1_000 : 5_000),
    pacedRate: 500,
    pacedSeconds: 10,
    window: 500,
    rawBytes: envInt('PB_BENCH_RAW_BYTES', 600),
    pspLatencyMs: [latMin, latMax],
    pspCommands: envInt('PB_BENCH_PSP_COMMANDS', quick ? 3_000 : 20_000),
    scalingWorkers: envList('PB_BENCH_SCALING_WORKERS', [1, 2, 4]),
    scalingWebs: envList('PB_BENCH_SCALING_WEBS', [1, 2]),
    scalingWebWorkers: envInt('PB_BENCH_SCALING_WEB_WORKERS', 2),
    scalingCommands: envInt('PB_BENCH_SCALING_COMMANDS', quick ? 2_000 : 5_000),
    httpConcurrency: envInt('PB_BENCH_HTTP_CONCURRENCY', 64),
    allocation: process.env.PB_BENCH_ALLOCATION !== '0',
    flowQueueType,
    twinProcesses: process.env.PB_BENCH_TWIN_PROCESSES !== '0',
    redis: benchRedisChoice(process.env, [...phases]),
  };
}

/** A progress bar in the demo's style; `update(n)` also shows the running rate. */
function progress(label: string, total: number): { update: (n: number) => void; stop: () => void } {
  const bar = new SingleBar(
    { format: `  ${label.padEnd(22)} {bar} {value}/{total} · {rate}/s`, hideCursor: true, clearOnComplete: false },
    Presets.shades_classic,
  );
  const started = Date.now();
  bar.start(total, 0, { rate: 0 });
  return {
    update: (n) => bar.update(n, { rate: Math.round(n / Math.max(0.001, (Date.now() - started) / 1000)) }),
    stop: () => bar.stop(),
  };
}

/** Versions of the servers and the machine, for the results file (best effort: "?" when unreadable). */
function machine(redisVersion: string): Record<string, string> {
  const run = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 15_000 }).trim();
    } catch {
      return '?';
    }
  };
  return {
    cpus: String(cpus().length),
    cpuModel: cpus()[0]?.model ?? '?',
    memoryMiB: String(Math.round(totalmem() / 1024 / 1024)),
    node: process.version,
    rabbitmq: run('rabbitmqctl', ['version']).split('\n').pop() ?? '?',
    redis: redisVersion,
  };
}

/** What a group of phases adds to the report. */
interface PhaseOutput {
  sections: BenchSection[];
  inputs: TargetInputs;
  json: Record<string, unknown>;
}

/** Formatting helpers shared by the sections. */
const ms = (v: number) => `${v.toFixed(1)} ms`;
const f2 = (v: number) => v.toFixed(2);
const lat = (l: LatencySummary) => `${f2(l.p50)} / ${f2(l.p95)} / ${f2(l.p99)} ms (max ${f2(l.max)})`;
const micros = (v: number | null) => (v === null ? 'n/a' : `${Math.round(v)} µs`);
/** A window's CPU ceiling on this machine's cores (undefined when a process's CPU was unreadable). */
const machineCeiling = (cost: WindowCost) => cpuCeiling(cost, cpus().length) ?? undefined;
/** The same without the stand-ins: the bridge and its servers alone, as with a remote bus and PSPs. */
const bridgeCeiling = (cost: WindowCost) => bridgeCpuCeiling(cost, cpus().length) ?? undefined;
const ceilingCell = (c: CpuCeiling | undefined) => (c === undefined ? 'n/a' : `${micros(c.cpuMicrosPerCommand)} → ${Math.round(c.perS)} commands/s`);
const kib = (v: number | null) => (v === null ? 'n/a (no probe)' : `${(v / 1024).toFixed(1)} KiB`);
const mib = (v: number | null | undefined) => (v === null || v === undefined ? '?' : v.toFixed(1));

/**
 * The stand-ins of a stack whose twins run in processes of their own: this process (publisher, tracking,
 * measurements), the bus twin and the PSP simulator. Their CPU is the bench's overhead on this machine.
 */
function standInsOf(stack: BenchStack): () => StandIn[] {
  const twins = stack.busTwin;
  const simulator = stack.simulator;
  // PB_BENCH_TWIN_PROCESSES=0: the twins run in this process, and its CPU is theirs too.
  if (!('pid' in twins) || !('pid' in simulator)) return () => [{ name: 'bench', pid: process.pid }];
  return () => [
    { name: 'bench', pid: process.pid },
    { name: 'bus twin', pid: twins.pid },
    { name: 'simulator', pid: simulator.pid },
  ];
}

/** A stack of the bench: twins in processes of their own (default) or in this one (PB_BENCH_TWIN_PROCESSES=0). */
type BenchStack = LocalStack<InProcessTwins | ChildProcessTwins>;

/** Peak RSS (VmHWM) of each stand-in, MiB, the highest seen over the run (read before each stack stops). */
const standInPeakRss: Record<string, number | null> = {};
function noteStandInPeaks(standIns: StandIn[]): void {
  for (const { name, pid } of standIns) {
    const v = peakRssMiB(pid);
    if (v !== null) standInPeakRss[name] = Math.max(v, standInPeakRss[name] ?? 0);
    else if (!(name in standInPeakRss)) standInPeakRss[name] = null;
  }
}

/** The rows of a "cost per command" table for one measured window. */
function costRows(label: string, result: ThroughputResult | { cost: WindowCost }): string[][] {
  const c = result.cost;
  return [
    [
      label,
      `${micros(c.workerCpuMicrosPerCommand)} (${Object.entries(c.workerCpuMicrosEach)
        .map(([n, v]) => `${n} ${micros(v)}`)
        .join(', ')})`,
      c.workerCpuMicrosPerCommandNetOfIdle === null
        ? 'n/a'
        : `${micros(c.workerCpuMicrosPerCommandNetOfIdle)} (idle ${c.workerIdleCpuMsPerSecond?.toFixed(1) ?? '?'} ms/s)`,
      micros(c.webCpuMicrosPerCommand),
      `${micros(c.rabbitmqCpuMicrosPerCommand)} / ${micros(c.redisCpuMicrosPerCommand)}`,
      `${micros(c.standInCpuMicrosPerCommand)} (${Object.entries(c.standInCpuMicrosEach)
        .map(([n, v]) => `${n} ${micros(v)}`)
        .join(', ')})`,
      kib(c.workerAllocatedBytesPerCommand),
      ceilingCell(machineCeiling(c)),
      ceilingCell(bridgeCeiling(c)),
    ],
  ];
}

const COST_HEADER = [
  'window',
  'worker CPU per command (sum of workers)',
  'same, less the workers’ idle CPU',
  'web CPU',
  'RabbitMQ / Redis CPU (shared servers)',
  'stand-ins CPU (bench process, bus twin, simulator; not the bridge’s)',
  'worker V8 heap allocation per command',
  'all processes’ CPU per command → the rate it allows on this machine’s cores (CPU ceiling)',
  'same without the stand-ins (the bridge and its servers alone, as with a remote bus and PSPs)',
];

async function main(): Promise<void> {
  const s = settings();
  const startedAt = new Date();
  // The machine may be shared (other builds, tests): the load average says how much the figures suffer; the
  // speed probe and the hypervisor's steal say how fast the host lets it run this hour.
  const loadAtStart = loadavg()[0];
  const speedAtStart = speedProbe();
  const ticksAtStart = cpuTicks();
  const runId = `bench${randomBytes(3).toString('hex')}`;
  const amqpUrl = process.env.PB_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  const redisUrl = process.env.PB_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const sample = authorizeCommand(runId, 'sat', 0);
  const commandBytes = Buffer.byteLength(JSON.stringify(sample));
  const has = (p: Phase) => s.phases.has(p);
  say(
    `payment-bridge bench${s.quick ? ' (quick)' : ''}: phases ${[...s.phases].join(',')}; ${s.commands} commands, ${s.workers} workers, backlogs ${s.backlogSmall} / ${s.backlogLarge}, ${s.pspCommands} at ${s.pspLatencyMs[0]}–${s.pspLatencyMs[1]} ms PSP latency, scaling ${s.scalingWorkers.join('/')} workers and ${s.scalingWebs.join('/') || 'no'} web × ${s.scalingCommands}, ${s.redis.kind === 'single' ? 'single Redis' : `Redis Cluster, redis.replica_acks ${s.redis.replicaAcks}`}, namespace ${runId}`,
  );
  // The single Redis, for the first stack's phases (on the cluster they are refused: settings()); connected on first use.
  const redis = new Redis(redisUrl, { lazyConnect: true });
  // A shared Redis may be restarted by someone else mid-run; ioredis reconnects, the error is not ours to log.
  redis.on('error', () => undefined);
  const redisServers = await benchRedisServers(s.redis, { client: redis, url: redisUrl });
  const redisVersion = redisServers.version;
  // The servers' own processes, for their CPU per command (other servers of the same kind may run beside them).
  const infra: ServerPids = { rabbitmq: pidListeningOn(Number(new URL(amqpUrl).port || 5672)), redis: redisServers.pids };
  const roleNodeArgs = s.allocation ? allocationProbeArgs(projectRoot()) : [];
  const outputs: PhaseOutput[] = [];
  let raw: RawAmqpResult | null = null;
  try {
    // 1. The broker's ceiling for our message shape, before anything else loads the machine.
    if (has('raw')) {
      say('1. raw AMQP baseline (persistent, confirms window 500, one consumer prefetch 200)');
      const rawBar = progress('raw AMQP acked', s.commands);
      raw = await rawAmqpBaseline({
        url: amqpUrl,
        queue: `${runId}:bench:raw`,
        messages: s.commands,
        messageBytes: s.rawBytes,
        window: s.window,
        prefetch: 200,
        onProgress: rawBar.update,
      });
      rawBar.stop();
      outputs.push({
        sections: [
          {
            title: 'Raw AMQP baseline',
            header: ['measure', 'value'],
            rows: [
              [
                'raw AMQP (publish+confirm → consume+ack)',
                `${Math.round(raw.perSecond)} messages/s (${raw.messages} × ${raw.messageBytes} B in ${raw.seconds.toFixed(2)} s; publish side ${Math.round(raw.publishPerSecond)}/s)`,
              ],
            ],
          },
        ],
        inputs: { rawAmqpPerS: raw.perSecond },
        json: { raw },
      });
    }

    if (has('saturation') || has('paced') || has('redis') || has('backlog')) {
      say(`starting the local stack: 1 web, ${s.workers} workers, simulator without faults or latency…`);
      const stack = await startLocalStack({
        namespace: runId,
        workers: s.workers,
        simulator: { seed: 1, asyncRate: 0, faults: {} },
        // As in production under load: warnings and errors only (roles report readiness over IPC).
        parameters: { 'log.level': 'warn', 'amqp.queue.type': s.flowQueueType },
        roleNodeArgs,
        readyTimeoutMs: ROLE_READY_TIMEOUT_MS,
        // Each twin in a process of its own: its heap and GC pauses are not the publisher's or the tracker's.
        twinProcesses: s.twinProcesses,
      });
      try {
        outputs.push(await runFlowPhases(stack, s, runId, raw, redis, redisUrl, infra));
      } finally {
        noteStandInPeaks(standInsOf(stack)());
        await stack.stop({ purge: true });
      }
    }

    if (has('psp') || has('scaling')) {
      const ns = `${runId}p`;
      say(
        `starting a fresh stack for the PSP-latency phases: 1 web, ${s.workers} workers, default configuration${s.redis.kind === 'cluster' ? ` on the Redis Cluster (redis.replica_acks ${s.redis.replicaAcks})` : ''}, simulator answering in ${s.pspLatencyMs[0]}–${s.pspLatencyMs[1]} ms…`,
      );
      const stack = await startLocalStack({
        namespace: ns,
        workers: s.workers,
        simulator: { seed: 1, asyncRate: 0, faults: { latencyMs: { min: s.pspLatencyMs[0], max: s.pspLatencyMs[1] } } },
        parameters: { 'log.level': SHIPPED_LOG_LEVEL, 'amqp.queue.type': SHIPPED_QUEUE_TYPE, ...benchRedisParameters(s.redis) },
        // Each worker's /metrics, for the in-flight limit it settled on.
        monitoring: true,
        roleNodeArgs,
        readyTimeoutMs: ROLE_READY_TIMEOUT_MS,
        twinProcesses: s.twinProcesses,
      });
      try {
        outputs.push(await runPspPhases(stack, s, ns, infra));
      } finally {
        noteStandInPeaks(standInsOf(stack)());
        await stack.stop({ purge: true });
      }
    }
  } finally {
    redis.disconnect();
  }

  noteStandInPeaks([{ name: 'bench', pid: process.pid }]);
  const benchRss = standInPeakRss.bench ?? null;
  const inputs: TargetInputs = Object.assign({}, ...outputs.map((o) => o.inputs)) as TargetInputs;
  const targets = checkTargets(inputs);
  const sections: BenchSection[] = [
    ...outputs.flatMap((o) => o.sections),
    {
      title: 'Stand-ins (the bench process and the twins’ processes; not judged)',
      header: ['process', 'peak RSS (VmHWM) over the run, MiB'],
      rows: [
        ['bench (publisher, tracking, measurements)', mib(benchRss)],
        ...Object.entries(standInPeakRss)
          .filter(([name]) => name !== 'bench')
          .map(([name, v]) => [name, mib(v)]),
      ],
    },
  ];
  const host = machine(redisVersion);
  const speedAtEnd = speedProbe();
  const steal = stealPercent(ticksAtStart, cpuTicks());
  const preamble = [
    `run ${startedAt.toISOString()}, namespace ${runId}${s.quick ? ', QUICK' : ''}, phases ${[...s.phases].join(',')}`,
    `machine: ${host.cpus} CPUs (${host.cpuModel}), ${host.memoryMiB} MiB; node ${host.node}, RabbitMQ ${host.rabbitmq}, Redis ${host.redis}`,
    `1-minute load average: ${loadAtStart.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end (other work on the machine)`,
    `machine speed probe (a command through JSON 20 000 times; fastest / median of ${speedAtStart.runs}): ${speedAtStart.minMs} / ${speedAtStart.medianMs} ms at start, ${speedAtEnd.minMs} / ${speedAtEnd.medianMs} ms at end; hypervisor steal ${steal === null ? 'not readable' : `${steal} % of the CPUs' time`} over the run`,
    `Redis of the ${s.redis.kind === 'single' ? 'stacks' : 'PSP-latency and scaling stack'}: ${redisServers.label}`,
    `git ${gitHead()}; bench command ${commandBytes} B of JSON${raw ? `, raw AMQP message ${raw.messageBytes} B` : ''}; allocation probe ${s.allocation ? 'on' : 'off'}; commands queue: ${s.flowQueueType} for saturation, paced, Redis and backlog, ${SHIPPED_QUEUE_TYPE} (the shipped default) for PSP latency and scaling, classic for the raw baseline; log level warn for the first stack, ${SHIPPED_LOG_LEVEL} (the shipped default) for PSP latency and scaling`,
  ];
  say('');
  for (const line of preamble) say(line);
  for (const section of sections) {
    say('');
    say(section.title);
    say(formatTable(section.header, section.rows));
  }
  say('');
  say(
    formatTable(
      ['target', 'measured', 'result'],
      targets.map((t) => [t.target, t.measured, t.met ? 'MET' : 'MISSED']),
    ),
  );
  const json = {
    startedAt: startedAt.toISOString(),
    namespace: runId,
    settings: { ...s, phases: [...s.phases] },
    machine: host,
    git: gitHead(),
    loadAverage1m: { start: loadAtStart, end: loadavg()[0] },
    machineSpeedMs: { start: speedAtStart, end: speedAtEnd },
    stealPercent: steal,
    commandBytes,
    redisServers: { label: redisServers.label, pids: redisServers.pids },
    ...Object.assign({}, ...outputs.map((o) => o.json)),
    benchPeakRssMiB: benchRss,
    standInsPeakRssMiB: standInPeakRss,
    targets,
  };
  const paths = writeResults(
    join(projectRoot(), 'bench', 'results'),
    startedAt,
    json,
    toMarkdown(`payment-bridge bench ${startedAt.toISOString()}`, preamble, sections, targets),
  );
  say('');
  say(`results: ${paths.json} and ${paths.markdown}`);
}

/**
 * Commands the workers' rate limiter has held so far (`pb_rate_limited_total`, every label, summed over the live
 * workers; a worker without the series counts 0). A phase whose figure moves was paced by `rate_limits.*`, not
 * by what the flow can carry.
 */
async function rateLimitHolds(stack: BenchStack): Promise<number> {
  const counts = await Promise.all(
    stack.workers.filter(alive).map(async (w) => {
      const target = stack.monitoringTargetOf(w);
      return target ? ((await scrapeMetric(target, 'pb_rate_limited_total')) ?? 0) : 0;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** Phases 2–6 on the first stack (simulator at 0 ms): saturation, latency at 500/s, Redis per command, backlogs, peak RSS. */
async function runFlowPhases(
  stack: BenchStack,
  s: Settings,
  runId: string,
  raw: RawAmqpResult | null,
  redis: Redis,
  redisUrl: string,
  infra: ServerPids,
): Promise<PhaseOutput> {
  const has = (p: Phase) => s.phases.has(p);
  const publisher = await ChannelPublisher.open(stack.config);
  const tracker = new TerminalTracker(() => stack.busTwin.notifications);
  const sections: BenchSection[] = [];
  const inputs: TargetInputs = {};
  const json: Record<string, unknown> = {};
  const peakRss: Record<string, number | null> = {};
  const notePeak = (p: RoleProcess) => {
    const v = peakRssMiB(p.child.pid);
    if (v !== null) peakRss[p.name] = Math.max(v, peakRss[p.name] ?? 0);
  };
  const cost = new ProcessCost(
    () => [stack.web],
    () => stack.workers.filter(alive),
    infra,
    standInsOf(stack),
  );
  /** Publishes `count` commands of `phase` in a window, waiting for every terminal notification. */
  const windowedBatch = async (phase: string, count: number, label: string): Promise<{ batch: TrackedBatch; startedMs: number; publishSeconds: number }> => {
    tracker.begin();
    const bar = progress(label, count);
    const startedMs = preciseNow();
    const publishSeconds = await publishWindowed(publisher, count, (i) => authorizeCommand(runId, phase, i), {
      window: s.window,
      before: (i) => tracker.published(benchReference(runId, phase, i)),
      onConfirmed: (n) => n % 250 === 0 && bar.update(tracker.completed()),
    });
    const batch = await tracker.waitAll({ timeoutMs: 120_000, onProgress: bar.update });
    bar.stop();
    tracker.compact();
    return { batch, startedMs, publishSeconds };
  };

  try {
    // Warm-up: connections, JIT, BullMQ scripts loaded; not measured.
    say('warm-up (500 commands, not measured)');
    await windowedBatch('warm', 500, 'warm-up reported');
    const prefix = stack.config.redis.keyPrefix;

    // 2. Saturation, with what it cost each process (peaks are the run's, not reset here).
    if (has('saturation')) {
      say(`2. whole flow at saturation: ${s.commands} commands published with confirms, window ${s.window}`);
      await cost.begin({ resetPeaks: false, idleSampleMs: 2000 });
      const statsBefore = await commandStats(redis);
      const heldBefore = await rateLimitHolds(stack);
      const sat = await windowedBatch('sat', s.commands, 'terminal notifications');
      const satRateLimited = (await rateLimitHolds(stack)) - heldBefore;
      const satCost = await cost.end(sat.batch.completed);
      const statsAfter = await commandStats(redis);
      const satSeconds = (sat.batch.lastAt - sat.startedMs) / 1000;
      const satPerS = sat.batch.completed / satSeconds;
      const satLatency = latencySummary(sat.batch.latenciesMs);
      const redisPerCommandGlobal = commandStatsDelta(statsBefore, statsAfter) / s.commands;
      const satPsp = await pspTimesMs(redis, prefix, sat.batch.references);
      const satAddedAll = latencySummary(addedLatenciesMs(sat.batch.references, sat.batch.latenciesMs, satPsp));
      const satAdded = { p50: satAddedAll.p50, p95: satAddedAll.p95, p99: satAddedAll.p99 };
      const benchCpuMicrosPerCommand = satCost.standInCpuMicrosPerCommand;
      inputs.endToEndPerS = satPerS;
      inputs.endToEndCeiling = machineCeiling(satCost);
      sections.push({
        title: 'Throughput at saturation (simulator at 0 ms)',
        header: ['measure', 'value'],
        rows: [
          [
            'whole flow, end to end',
            `${Math.round(satPerS)} commands/s (${sat.batch.completed} in ${satSeconds.toFixed(2)} s; published in ${sat.publishSeconds.toFixed(2)} s; ${sat.batch.failed} not SUCCESS)`,
          ],
          ['end to end / raw AMQP (same run)', raw ? `${((100 * satPerS) / raw.perSecond).toFixed(1)} %` : 'n/a (raw phase not run)'],
          ['workers', String(s.workers)],
          [
            `latency at saturation (${sat.batch.completed} commands; queueing behind the publisher)`,
            `${lat(satLatency)}; added ${ms(satAdded.p50)} / ${ms(satAdded.p95)} / ${ms(satAdded.p99)} (${satAddedAll.count} commands)`,
          ],
          ['Redis: INFO commandstats delta over the phase / commands (shared Redis: includes other clients)', redisPerCommandGlobal.toFixed(1)],
          ['commands a rate limit held (pb_rate_limited_total, workers; 0: rate_limits.* did not pace the phase)', String(satRateLimited)],
        ],
      });
      sections.push({
        title: 'Cost per command at saturation (CPU from /proc ÷ commands; allocation from the probe)',
        header: COST_HEADER,
        rows: costRows(`saturation, ${s.workers} workers, ${sat.batch.completed} commands`, { cost: satCost }),
      });
      json.saturation = {
        commands: sat.batch.completed,
        seconds: satSeconds,
        perSecond: satPerS,
        publishSeconds: sat.publishSeconds,
        failed: sat.batch.failed,
        ratioToRaw: raw ? satPerS / raw.perSecond : null,
        latencyMs: satLatency,
        addedMs: satAdded,
        cost: satCost,
        benchCpuMicrosPerCommand,
        redisPerCommandCommandstatsShared: redisPerCommandGlobal,
        rateLimited: satRateLimited,
      };
    }

    // 3. Latency at an offered 500/s, then the PSP's own round trip at the same rate.
    if (has('paced')) {
      await sleep(1000);
      say(`3. latency at an offered ${s.pacedRate} commands/s for ${s.pacedSeconds} s`);
      tracker.begin();
      const pacedTotal = s.pacedRate * s.pacedSeconds;
      const pacedBar = progress('paced reported', pacedTotal);
      const ticker = setInterval(() => pacedBar.update(tracker.completed()), 200);
      const pacedStarted = performance.now();
      await publishPaced(publisher, s.pacedRate, s.pacedSeconds, (i) => authorizeCommand(runId, 'paced', i), {
        before: (i) => tracker.published(benchReference(runId, 'paced', i)),
      });
      // The rate actually offered (timer jitter on a loaded machine can stretch the schedule).
      const offeredPerS = (s.pacedRate * s.pacedSeconds) / ((performance.now() - pacedStarted) / 1000);
      const paced = await tracker.waitAll({ timeoutMs: 60_000 });
      clearInterval(ticker);
      pacedBar.update(paced.completed);
      pacedBar.stop();
      tracker.compact();
      const pacedLatency = latencySummary(paced.latenciesMs);
      // Added latency, command by command: end to end minus that command's own PSP round trip as the worker
      // timed it (ledger history, sub-millisecond). The direct PSP round trip below is for reference.
      const pacedPsp = await pspTimesMs(redis, prefix, paced.references);
      const pacedAddedAll = latencySummary(addedLatenciesMs(paced.references, paced.latenciesMs, pacedPsp));
      const pspInFlow = latencySummary([...pacedPsp.values()]);
      say(`   PSP round trip: direct authorize calls to the simulator at ${s.pacedRate}/s for 5 s (keep-alive)`);
      const gateway = stack.config.gateways.simulator;
      const psp = latencySummary(
        await pspRoundTrips({ baseUrl: gateway.baseUrl, apiKey: gateway.apiKey, referencePrefix: `${runId}-psp`, ratePerS: s.pacedRate, durationS: 5 }),
      );
      const pacedAdded = { p50: pacedAddedAll.p50, p95: pacedAddedAll.p95, p99: pacedAddedAll.p99 };
      inputs.addedP50Ms = pacedAdded.p50;
      inputs.addedP99Ms = pacedAdded.p99;
      sections.push({
        title: 'Latency (publish → terminal notification at the bus twin)',
        header: ['load', 'p50 / p95 / p99', "added p50 / p95 / p99 (minus each command's PSP time)"],
        rows: [
          [
            `offered ${s.pacedRate}/s for ${s.pacedSeconds} s (${paced.completed} commands, achieved ${Math.round(offeredPerS)}/s)`,
            lat(pacedLatency),
            `${ms(pacedAdded.p50)} / ${ms(pacedAdded.p95)} / ${ms(pacedAdded.p99)} (${pacedAddedAll.count} commands)`,
          ],
          [`PSP round trip in the flow at ${s.pacedRate}/s, as the workers timed it`, lat(pspInFlow), '—'],
          [`PSP round trip, direct from the bench, ${s.pacedRate}/s (${psp.count} calls)`, lat(psp), '—'],
        ],
      });
      json.paced = {
        offeredPerSecond: s.pacedRate,
        achievedPerSecond: offeredPerS,
        seconds: s.pacedSeconds,
        commands: paced.completed,
        latencyMs: pacedLatency,
        addedMs: pacedAdded,
      };
      json.pspRoundTripMs = { inFlow: pspInFlow, direct: psp };
    }

    // 4. Redis round trips and executed commands per command, on our prefix only (MONITOR), idle subtracted.
    if (has('redis')) {
      await sleep(1000);
      const monitorCount = s.quick ? 300 : 1000;
      say(`4. Redis commands per command: MONITOR on "${prefix}" over ${monitorCount} commands at 200/s`);
      const monitor = await monitorPrefix(redisUrl, prefix);
      await sleep(2000);
      const idlePerS = monitor.total() / 2;
      const idleRoundTripsPerS = monitor.roundTrips() / 2;
      const idleByCommand = monitor.byCommand();
      const monitorStarted = Date.now();
      const atStart = monitor.total();
      const roundTripsAtStart = monitor.roundTrips();
      const atStartByCommand = monitor.byCommand();
      tracker.begin();
      await publishPaced(publisher, 200, monitorCount / 200, (i) => authorizeCommand(runId, 'mon', i), {
        before: (i) => tracker.published(benchReference(runId, 'mon', i)),
      });
      await tracker.waitAll({ timeoutMs: 60_000 });
      tracker.compact();
      await sleep(1000); // job clean-up after the notification (completion, removal) still belongs to the command
      const monitorSeconds = (Date.now() - monitorStarted) / 1000;
      const monitored = monitor.total() - atStart - idlePerS * monitorSeconds;
      const roundTripsPerCommand = (monitor.roundTrips() - roundTripsAtStart - idleRoundTripsPerS * monitorSeconds) / monitorCount;
      const byCommandNow = monitor.byCommand();
      const lost = monitor.lost();
      await monitor.stop();
      const redisPerCommand = monitored / monitorCount;
      const redisBreakdown = [...byCommandNow.entries()]
        .map(([name, n]) => [name, (n - (atStartByCommand.get(name) ?? 0) - ((idleByCommand.get(name) ?? 0) / 2) * monitorSeconds) / monitorCount] as const)
        .filter(([, v]) => v >= 0.05)
        .sort((a, b) => b[1] - a[1]);
      if (lost) say(`   MONITOR connection lost (${lost}): the Redis counts below are incomplete`);
      sections.push({
        title: 'Redis per command',
        header: ['measure', 'value'],
        rows: [
          ...(lost ? [['MONITOR connection lost: counts incomplete', lost]] : []),
          [`round trips (commands a client sent; MONITOR on our prefix, ${monitorCount} commands at 200/s, idle subtracted)`, roundTripsPerCommand.toFixed(1)],
          [`commands executed, including inside Lua scripts (same sample; idle ${idlePerS.toFixed(1)}/s subtracted)`, redisPerCommand.toFixed(1)],
          ...redisBreakdown.map(([name, v]) => [`  of which ${name}`, v.toFixed(2)]),
        ],
      });
      json.redis = {
        ...(lost ? { monitorLost: lost } : {}),
        roundTripsPerCommand,
        perCommandMonitor: redisPerCommand,
        idlePerSecond: idlePerS,
        byCommand: Object.fromEntries(redisBreakdown),
      };
    }

    // 5. Backlogs: stop the workers, publish, start them again, measure the drain.
    if (has('backlog')) {
      const backlog = async (phase: string, count: number) => {
        say(`5. backlog of ${count}: stopping the workers, publishing ${s.backlogWarmup} warm-up commands ahead of it, starting ${s.workers} workers`);
        const running = stack.workers.filter(alive);
        for (const w of running) notePeak(w);
        await Promise.all(running.map((w) => w.kill('SIGTERM')));
        tracker.begin();
        // The warm-up commands queue ahead of the backlog: fresh workers compile (JIT) and size their heaps on
        // them, a cost that would otherwise weigh 10x more on the small backlog than on the large one.
        const warmPhase = `${phase}w`;
        await publishWindowed(publisher, s.backlogWarmup, (i) => authorizeCommand(runId, warmPhase, i), {
          window: s.window,
          before: (i) => tracker.published(benchReference(runId, warmPhase, i)),
        });
        const pubBar = progress('backlog published', count);
        await publishWindowed(publisher, count, (i) => authorizeCommand(runId, phase, i), {
          window: s.window,
          before: (i) => tracker.published(benchReference(runId, phase, i)),
          onConfirmed: (n) => n % 500 === 0 && pubBar.update(n),
        });
        pubBar.update(count);
        pubBar.stop();
        const startMs = preciseNow();
        await Promise.all(Array.from({ length: s.workers }, () => stack.startWorker()));
        const bar = progress('backlog drained', count + s.backlogWarmup);
        // What each process spends per command between the 10 % and 90 % marks of the completions (the steady
        // rate's window; the warm-up commands finish first): where a deep queue's extra cost goes, if any.
        const drainCost = new MarkedWindowCost(
          cost,
          () => tracker.completed(),
          s.backlogWarmup + Math.floor(count * 0.1),
          s.backlogWarmup + Math.floor(count * 0.9),
        );
        const onProgress = (done: number) => {
          bar.update(done);
          drainCost.onProgress(done);
        };
        const batch = await tracker.waitAll({ timeoutMs: 120_000, onProgress });
        bar.stop();
        // The workers started for this backlog: their counters hold this drain's holds alone.
        const rateLimited = await rateLimitHolds(stack);
        tracker.compact();
        const refPrefix = benchReference(runId, phase, 0).slice(0, -1);
        const measured = batch.completedAt.filter((_, i) => batch.references[i].startsWith(refPrefix));
        const first = measured.reduce((a, b) => Math.min(a, b), Infinity);
        const last = measured.reduce((a, b) => Math.max(a, b), -Infinity);
        const drainS = (last - first) / 1000;
        // The compared figure: the steady rate over the middle 80 % of the backlog's completions.
        const steady = steadyRate(measured) ?? (measured.length - 1) / drainS;
        // Rate in each tenth of the completions: a deep queue that slows the flow shows as a rising curve,
        // a burst of other work on the machine as a dip anywhere.
        const byTenth = Array.from({ length: 10 }, (_, k) => steadyRate(measured, k / 10, (k + 1) / 10) ?? 0);
        return {
          count,
          cost: await drainCost.result(),
          perS: steady,
          byTenth,
          firstToLastPerS: (measured.length - 1) / drainS,
          withStartPerS: batch.completed / ((batch.lastAt - startMs) / 1000),
          drainSeconds: drainS,
          failed: batch.failed,
          rateLimited,
        };
      };
      // The small backlog drains once before the large one and once after: a 10 s drain samples this shared
      // machine's speed, which moves by tens of percent within minutes, so the large one is compared with the
      // mean of the two around it (2026-11-30: one small drain alone gave ratios 1.27 and 0.87 an hour apart).
      const small = await backlog('bsmall', s.backlogSmall);
      const large = await backlog('blarge', s.backlogLarge);
      const smallAfter = await backlog('bsmall2', s.backlogSmall);
      const mean = (pick: (b: typeof small) => number) => (pick(small) + pick(smallAfter)) / 2;
      inputs.backlogSmallPerS = mean((b) => b.perS);
      inputs.backlogLargePerS = large.perS;
      const drains: [string, typeof small][] = [
        [`${small.count} (before the large one)`, small],
        [String(large.count), large],
        [`${smallAfter.count} (after it)`, smallAfter],
      ];
      sections.push(
        {
          title: 'Backlog drain',
          header: [
            'backlog',
            'steady drain rate (middle 80 %)',
            'first → last notification',
            'with warm-up, from worker start',
            'drain time',
            'held by a rate limit (pb_rate_limited_total)',
          ],
          rows: [
            ...drains.map(([label, b]) => [
              label,
              `${Math.round(b.perS)} commands/s`,
              `${Math.round(b.firstToLastPerS)} commands/s`,
              `${Math.round(b.withStartPerS)} commands/s`,
              `${b.drainSeconds.toFixed(2)} s`,
              String(b.rateLimited),
            ]),
            [
              'ratio large / mean of the two small ones',
              (large.perS / mean((b) => b.perS)).toFixed(3),
              (large.firstToLastPerS / mean((b) => b.firstToLastPerS)).toFixed(3),
              (large.withStartPerS / mean((b) => b.withStartPerS)).toFixed(3),
              '',
              '',
            ],
          ],
        },
        {
          title: 'Backlog drain rate by tenth of its completions',
          header: ['backlog', 'commands/s in each tenth, first to last'],
          rows: drains.map(([label, b]) => [label, b.byTenth.map((r) => String(Math.round(r))).join(' · ')]),
        },
        {
          title: 'Cost per command in each backlog (from the 10 % to the 90 % mark of its completions; no idle sample)',
          header: COST_HEADER,
          rows: drains.flatMap(([label, b]) => (b.cost === undefined ? [] : costRows(label, { cost: b.cost }))),
        },
      );
      json.backlog = { small, large, smallAfter, ratio: large.perS / mean((b) => b.perS) };
    }

    // 6. Peak RSS of every process over the run (stopped workers were read before they stopped).
    notePeak(stack.web);
    for (const w of stack.workers) notePeak(w);
    inputs.bridgeRssMiB = peakRss;
    sections.push({
      title: 'Peak RSS (VmHWM) over the run, simulator at 0 ms',
      header: ['process', 'MiB'],
      rows: Object.entries(peakRss).map(([name, v]) => [name, mib(v)]),
    });
    json.peakRssMiB = peakRss;
    return { sections, inputs, json };
  } finally {
    await publisher.close();
  }
}

/** Phases 7 and 8 on a fresh stack: throughput at PSP latency with the default configuration, then scaling. */
async function runPspPhases(stack: BenchStack, s: Settings, runId: string, infra: ServerPids): Promise<PhaseOutput> {
  const has = (p: Phase) => s.phases.has(p);
  const publisher = await ChannelPublisher.open(stack.config);
  const tracker = new TerminalTracker(() => stack.busTwin.notifications);
  const sections: BenchSection[] = [];
  const inputs: TargetInputs = {};
  const json: Record<string, unknown> = {};
  const [minMs, maxMs] = s.pspLatencyMs;
  const latencyLabel = `${minMs}–${maxMs} ms`;
  // Where the stack's Redis is not the single one, every table of the phase says so (a table may be quoted alone).
  const onRedis = s.redis.kind === 'cluster' ? `, Redis Cluster, redis.replica_acks ${s.redis.replicaAcks}` : '';
  // Two meters over the same processes: the whole run, and its steady window.
  const meter = () =>
    new ProcessCost(
      () => [stack.web, ...stack.extraWebs].filter(alive),
      () => stack.workers.filter(alive),
      infra,
      standInsOf(stack),
    );
  const cost = meter();
  const steadyCost = meter();
  const amqp = { via: 'amqp' as const, publisher, window: s.window };
  try {
    if (has('psp')) {
      say(`7. throughput at ${latencyLabel} PSP latency: ${s.workers} workers, default configuration, ${s.pspCommands} commands (500 warm-up first)`);
      // Each role's RSS on the fresh, idle stack: the memory a process holds before any work.
      const idleRss = [stack.web, ...stack.workers].map((p) => [p.name, rssMiB(p.child.pid)] as const);
      await stack.simulator.setFaults({ latencyMs: { min: minMs, max: maxMs } });
      await throughputRun({ runId, phase: 'pspw', commands: 500, route: amqp, tracker, cost });
      // The controller's decision of every interval over the phase: what held the limit, if anything did.
      const decisionsNow = async () =>
        new Map(
          await Promise.all(
            stack.workers.filter(alive).map(async (w) => {
              const target = stack.monitoringTargetOf(w);
              return [w.name, target ? await scrapeMetricByLabel(target, 'pb_worker_inflight_decisions_total', 'reason') : new Map<string, number>()] as const;
            }),
          ),
        );
      const decisionsBefore = await decisionsNow();
      const heldBefore = await rateLimitHolds(stack);
      const bar = progress('terminal notifications', s.pspCommands);
      // The workers' in-flight limit (adaptive, where the build has it) and in-flight count, sampled each second.
      const inflight = new Map<string, { limitMax: number; inflightMax: number }>();
      const sampleInflight = async () => {
        for (const w of stack.workers.filter(alive)) {
          const target = stack.monitoringTargetOf(w);
          if (!target) continue;
          const [limit, now] = await Promise.all([scrapeMetric(target, 'pb_worker_inflight_limit'), scrapeMetric(target, 'pb_worker_inflight')]);
          if (limit === null && now === null) continue;
          const seen = inflight.get(w.name) ?? { limitMax: 0, inflightMax: 0 };
          inflight.set(w.name, { limitMax: Math.max(seen.limitMax, limit ?? 0), inflightMax: Math.max(seen.inflightMax, now ?? 0) });
        }
      };
      const sampler = setInterval(() => void sampleInflight(), 1000);
      const result = await throughputRun({
        runId,
        phase: 'psp',
        commands: s.pspCommands,
        route: amqp,
        tracker,
        cost,
        idleSampleMs: 2000,
        steadyCost,
        onProgress: bar.update,
      }).finally(() => clearInterval(sampler));
      bar.stop();
      const pspRateLimited = (await rateLimitHolds(stack)) - heldBefore;
      const decisions = new Map<string, Record<string, number>>();
      for (const [name, after] of await decisionsNow()) {
        const before = decisionsBefore.get(name) ?? new Map<string, number>();
        const counts = Object.fromEntries([...after].map(([reason, n]) => [reason, n - (before.get(reason) ?? 0)] as const).filter(([, n]) => n > 0));
        decisions.set(name, counts);
      }
      // RabbitMQ alone at the phase's steady rate, held and acked as the workers do: the same traffic, no bridge.
      say(`   RabbitMQ alone at ${Math.round(result.steadyPerSecond)} messages/s (the same traffic, no bridge)…`);
      const alone = await brokerAlone({
        url: stack.config.amqp.url,
        queue: `${runId}:bench:broker-alone`,
        queueType: stack.config.amqp.queueType,
        messages: Math.min(s.pspCommands, 10_000),
        perSecond: Math.max(1, Math.round(result.steadyPerSecond)),
        consumers: s.workers,
        window: s.window,
        holdMs: [minMs, maxMs],
        rabbitmqPid: infra.rabbitmq,
      });
      inputs.pspLatency = {
        minMs,
        maxMs,
        workers: s.workers,
        perS: result.perSecond,
        steadyPerS: result.steadyPerSecond,
        rssMiB: result.cost.peakRssMiB,
        ceiling: machineCeiling(result.cost),
        bridgeCeiling: bridgeCeiling(result.cost),
      };
      sections.push(
        {
          title: `Throughput at ${latencyLabel} PSP latency (default configuration${onRedis}, ${s.workers} workers; peaks reset at the phase start)`,
          header: ['measure', 'value'],
          rows: [
            [
              'whole flow, end to end',
              `${Math.round(result.perSecond)} commands/s (${result.commands} in ${result.seconds.toFixed(2)} s; ${result.failed} not SUCCESS)`,
            ],
            ['per worker', `${Math.round(result.perSecond / s.workers)} commands/s`],
            [
              'steady rate (middle 80 % of the completions) · by tenth of the completions, first to last',
              `${Math.round(result.steadyPerSecond)} commands/s · ${result.byTenth.map((r) => String(Math.round(r))).join(' · ')}`,
            ],
            ['latency, publish → terminal notification (closed run: mostly queueing)', lat(result.latencyMs)],
            [
              'in flight per worker: by Little’s law (rate × mean PSP latency)',
              `${Math.round(((result.perSecond / s.workers) * (minMs + maxMs)) / 2 / 1000)} commands`,
            ],
            [
              'in-flight limit / in flight, highest sampled (pb_worker_inflight_limit, pb_worker_inflight)',
              inflight.size === 0
                ? 'n/a (no such metric in this build)'
                : [...inflight.entries()].map(([name, v]) => `${name} ${v.limitMax} / ${v.inflightMax}`).join(', '),
            ],
            [
              'in-flight decisions over the phase, intervals by reason (pb_worker_inflight_decisions_total)',
              decisions.size === 0 || [...decisions.values()].every((c) => Object.keys(c).length === 0)
                ? 'n/a (no such metric in this build)'
                : [...decisions.entries()]
                    .map(
                      ([name, c]) =>
                        `${name}: ${Object.entries(c)
                          .sort((a, b) => b[1] - a[1])
                          .map(([reason, n]) => `${reason} ${n}`)
                          .join(', ')}`,
                    )
                    .join('; '),
            ],
            ['commands a rate limit held (pb_rate_limited_total, workers; 0: rate_limits.* did not pace the phase)', String(pspRateLimited)],
            ['idle RSS on the fresh stack, before the warm-up (VmRSS)', idleRss.map(([name, v]) => `${name} ${mib(v)} MiB`).join(', ')],
            ...Object.entries(result.cost.peakRssMiB).map(([name, v]) => [`peak RSS ${name}`, `${mib(v)} MiB`]),
          ],
        },
        {
          title: `Cost per command at ${latencyLabel} PSP latency${onRedis ? ` (${onRedis.slice(2)})` : ''}`,
          header: COST_HEADER,
          rows: [
            ...costRows(`${latencyLabel} PSP, ${s.workers} workers, ${result.commands} commands`, result),
            ...(result.steadyCost
              ? costRows('same, 10 % to 90 % of the completions (the steady rate’s window; no idle sample)', { cost: result.steadyCost })
              : []),
          ],
        },
        {
          title: `RabbitMQ alone at the steady rate (the same traffic, no bridge: ${stack.config.amqp.queueType} queue, persistent messages published with confirms as the run's were, ${s.workers} consumers, each message held ${latencyLabel} before its ack)`,
          header: ['measure', 'value'],
          rows: [
            [
              'drain rate sized for (prefetch per consumer) / achieved',
              `${alone.offeredPerSecond} messages/s (prefetch ${alone.prefetch}) / ${Math.round(alone.perSecond)} messages/s (${alone.messages} messages)`,
            ],
            [
              'RabbitMQ CPU per message alone (first publish to last ack) · per command in the flow, whole run · steady window',
              `${micros(alone.rabbitmqCpuMicrosPerMessage)} · ${micros(result.cost.rabbitmqCpuMicrosPerCommand)} · ${micros(result.steadyCost?.rabbitmqCpuMicrosPerCommand ?? null)}`,
            ],
          ],
        },
      );
      json.pspLatency = {
        pspLatencyMs: [minMs, maxMs],
        workers: s.workers,
        ...result,
        gatewayReferences: undefined,
        inflight: Object.fromEntries(inflight),
        inflightDecisions: Object.fromEntries(decisions),
        rateLimited: pspRateLimited,
        idleRssMiB: Object.fromEntries(idleRss),
        brokerAlone: alone,
      };
    }

    if (has('scaling')) {
      say(
        `8. scaling: ${s.scalingWorkers.join(', ')} workers (AMQP) and ${s.scalingWebs.join(', ') || 'no'} web processes (HTTP, ${s.scalingWebWorkers} workers), each at 0 ms and ${latencyLabel} PSP latency, ${s.scalingCommands} commands per row`,
      );
      const rows = await scalingPhase({
        stack,
        runId,
        publisher,
        tracker,
        infra,
        standIns: standInsOf(stack),
        say,
        settings: {
          workerCounts: s.scalingWorkers,
          webCounts: s.scalingWebs,
          webRowWorkers: s.scalingWebWorkers,
          commands: s.scalingCommands,
          warmup: s.quick ? 200 : 500,
          pspLatencyMs: s.pspLatencyMs,
          window: s.window,
          httpConcurrency: s.httpConcurrency,
        },
      });
      sections.push(scalingSection(rows, onRedis), {
        title: 'Cost per command in each scaling row',
        header: COST_HEADER,
        rows: rows.flatMap((r) => costRows(rowLabel(r), r.result)),
      });
      json.scaling = rows.map((r) => ({ ...r, result: { ...r.result, gatewayReferences: undefined } }));
      inputs.scalingRssMiB = Object.fromEntries(
        rows.flatMap((r) => Object.entries(r.result.cost.peakRssMiB).map(([name, v]) => [`${name} (${rowLabel(r)})`, v])),
      );
    }
    return { sections, inputs, json };
  } finally {
    await stack.simulator.setFaults({});
    await publisher.close();
  }
}

function rowLabel(r: ScalingRow): string {
  const latency = r.pspLatencyMs[1] > 0 ? `${r.pspLatencyMs[0]}–${r.pspLatencyMs[1]} ms` : '0 ms';
  return r.kind === 'web' ? `${r.webs} web (HTTP captures), ${r.workers} workers, PSP ${latency}` : `${r.workers} workers (AMQP authorize), PSP ${latency}`;
}

/** The scaling table: one row per configuration, with throughput per process and per added process. */
function scalingSection(rows: ScalingRow[], onRedis: string): BenchSection {
  return {
    title: `Scaling: throughput per process and per added process (each row its own closed run${onRedis})`,
    header: [
      'configuration',
      'commands/s',
      'steady (10–90 % of completions)',
      'per process',
      'gain per added process',
      'worker CPU / command (net of idle)',
      'peak RSS (MiB)',
      'refused 429/503',
    ],
    rows: rows.map((r) => [
      rowLabel(r),
      String(Math.round(r.result.perSecond)),
      // A short row spends much of its run ramping up; the steady rate shows what an added process carries once warm.
      String(Math.round(r.result.steadyPerSecond)),
      String(Math.round(r.perProcess)),
      `${r.gainPerAddedProcess >= 0 ? '+' : ''}${Math.round(r.gainPerAddedProcess)}`,
      `${micros(r.result.cost.workerCpuMicrosPerCommand)} (${micros(r.result.cost.workerCpuMicrosPerCommandNetOfIdle)})`,
      Object.entries(r.result.cost.peakRssMiB)
        .map(([name, v]) => `${name} ${mib(v)}`)
        .join(', '),
      r.kind === 'web' ? `${r.result.refusals[429]}/${r.result.refusals[503]}` : '—',
    ]),
  };
}

function gitHead(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
