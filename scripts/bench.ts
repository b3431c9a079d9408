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
 * 5. backlog: workers stopped, warm-up commands then a small (then a large) backlog published, workers
 *    started; the backlog's steady drain rate (middle 80 % of its completions) is compared, so the fresh
 *    workers' cold start (JIT, heap sizing) does not weigh 10× more on the small one;
 * 6. peak RSS (VmHWM) of every bridge process and of this process.
 * Results go to stdout and to bench/results/<UTC time>.json and .md. The namespace is purged at the end.
 *
 * Options (environment): PB_BENCH_WORKERS (default 2), PB_BENCH_COMMANDS (20 000), PB_BENCH_BACKLOG_SMALL
 * (10 000), PB_BENCH_BACKLOG_LARGE (100 000), PB_BENCH_BACKLOG_WARMUP (5 000), PB_BENCH_RAW_BYTES (600), PB_BENCH_QUICK=1 (2 000 commands, backlogs 2 000 / 5 000).
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import Redis from 'ioredis';
import { authorizeCommand, benchReference } from '../harness/bench/bench-commands';
import { BenchSection, toMarkdown, writeResults } from '../harness/bench/bench-output';
import { checkTargets } from '../harness/bench/bench-targets';
import { publishPaced, publishWindowed } from '../harness/bench/command-publishing';
import { peakRssMiB } from '../harness/bench/process-memory';
import { pspRoundTrips } from '../harness/bench/psp-round-trip';
import { rawAmqpBaseline } from '../harness/bench/raw-amqp-baseline';
import { commandStats, commandStatsDelta, monitorPrefix } from '../harness/bench/redis-command-count';
import { addedLatenciesMs, pspTimesMs } from '../harness/bench/psp-time';
import { TerminalTracker, TrackedBatch, steadyRate } from '../harness/bench/terminal-tracker';
import { preciseNow } from '../harness/workload/precise-clock';
import { LocalStack, projectRoot, startLocalStack } from '../harness/twins/local-stack/local-stack';
import { RoleProcess } from '../harness/twins/local-stack/role-process';
import { ChannelPublisher } from '../harness/workload/channel-publisher';
import { LatencySummary, latencySummary } from '../harness/workload/flow-checks';
import { formatTable } from '../harness/workload/text-table';

const say = (line = '') => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const envInt = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);

interface Settings {
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
  quick: boolean;
}

function settings(): Settings {
  const quick = process.env.PB_BENCH_QUICK === '1';
  return {
    quick,
    workers: envInt('PB_BENCH_WORKERS', 2),
    commands: envInt('PB_BENCH_COMMANDS', quick ? 2_000 : 20_000),
    backlogSmall: envInt('PB_BENCH_BACKLOG_SMALL', quick ? 2_000 : 10_000),
    backlogLarge: envInt('PB_BENCH_BACKLOG_LARGE', quick ? 5_000 : 100_000),
    backlogWarmup: envInt('PB_BENCH_BACKLOG_WARMUP', quick ? 1_000 : 5_000),
    pacedRate: 500,
    pacedSeconds: 10,
    window: 500,
    rawBytes: envInt('PB_BENCH_RAW_BYTES', 600),
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

async function main(): Promise<void> {
  const s = settings();
  const startedAt = new Date();
  // The machine may be shared (other builds, tests): the load average says how much the figures suffer.
  const loadAtStart = loadavg()[0];
  const runId = `bench${randomBytes(3).toString('hex')}`;
  const amqpUrl = process.env.PB_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
  const redisUrl = process.env.PB_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const sample = authorizeCommand(runId, 'sat', 0);
  const commandBytes = Buffer.byteLength(JSON.stringify(sample));
  say(
    `payment-bridge bench${s.quick ? ' (quick)' : ''}: ${s.commands} commands, ${s.workers} workers, backlogs ${s.backlogSmall} / ${s.backlogLarge}, namespace ${runId}`,
  );

  // 1. The broker's ceiling for our message shape, before anything else loads the machine.
  say('1. raw AMQP baseline (persistent, confirms window 500, one consumer prefetch 200)');
  const rawBar = progress('raw AMQP acked', s.commands);
  const raw = await rawAmqpBaseline({
    url: amqpUrl,
    queue: `${runId}:bench:raw`,
    messages: s.commands,
    messageBytes: s.rawBytes,
    window: s.window,
    prefetch: 200,
    onProgress: rawBar.update,
  });
  rawBar.stop();

  say(`starting the local stack: 1 web, ${s.workers} workers, simulator without faults…`);
  const stack = await startLocalStack({
    namespace: runId,
    workers: s.workers,
    simulator: { seed: 1, asyncRate: 0, faults: {} },
    // As in production under load: warnings and errors only (roles report readiness over IPC).
    parameters: { 'log.level': 'warn' },
  });
  try {
    await runPhases(stack, s, runId, startedAt, raw, commandBytes, redisUrl, loadAtStart);
  } finally {
    await stack.stop({ purge: true });
  }
}

async function runPhases(
  stack: LocalStack,
  s: Settings,
  runId: string,
  startedAt: Date,
  raw: Awaited<ReturnType<typeof rawAmqpBaseline>>,
  commandBytes: number,
  redisUrl: string,
  loadAtStart: number,
): Promise<void> {
  const publisher = await ChannelPublisher.open(stack.config);
  const tracker = new TerminalTracker(() => stack.busTwin.notifications);
  const redis = new Redis(redisUrl);
  // A shared Redis may be restarted by someone else mid-run; ioredis reconnects, the error is not ours to log.
  redis.on('error', () => undefined);
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
  const peakRss: Record<string, number | null> = {};
  const notePeak = (p: RoleProcess) => {
    const v = peakRssMiB(p.child.pid);
    if (v !== null) peakRss[p.name] = Math.max(v, peakRss[p.name] ?? 0);
  };
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

    // 2. Saturation.
    say(`2. whole flow at saturation: ${s.commands} commands published with confirms, window ${s.window}`);
    const statsBefore = await commandStats(redis);
    const sat = await windowedBatch('sat', s.commands, 'terminal notifications');
    const statsAfter = await commandStats(redis);
    const satSeconds = (sat.batch.lastAt - sat.startedMs) / 1000;
    const satPerS = sat.batch.completed / satSeconds;
    const satLatency = latencySummary(sat.batch.latenciesMs);
    const redisPerCommandGlobal = commandStatsDelta(statsBefore, statsAfter) / s.commands;

    // 3. Latency at an offered 500/s, then the PSP's own round trip at the same rate.
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
    const prefix = stack.config.redis.keyPrefix;
    const pacedPsp = await pspTimesMs(redis, prefix, paced.references);
    const satPsp = await pspTimesMs(redis, prefix, sat.batch.references);
    const pacedAddedAll = latencySummary(addedLatenciesMs(paced.references, paced.latenciesMs, pacedPsp));
    const satAddedAll = latencySummary(addedLatenciesMs(sat.batch.references, sat.batch.latenciesMs, satPsp));
    const pspInFlow = latencySummary([...pacedPsp.values()]);
    say(`   PSP round trip: direct authorize calls to the simulator at ${s.pacedRate}/s for 5 s (keep-alive)`);
    const gateway = stack.config.gateways.simulator;
    const psp = latencySummary(
      await pspRoundTrips({ baseUrl: gateway.baseUrl, apiKey: gateway.apiKey, referencePrefix: `${runId}-psp`, ratePerS: s.pacedRate, durationS: 5 }),
    );
    const pacedAdded = { p50: pacedAddedAll.p50, p95: pacedAddedAll.p95, p99: pacedAddedAll.p99 };
    const satAdded = { p50: satAddedAll.p50, p95: satAddedAll.p95, p99: satAddedAll.p99 };

    // 4. Redis round trips and executed commands per command, on our prefix only (MONITOR), idle subtracted.
    await sleep(1000);
    const monitorCount = s.quick ? 300 : 1000;
    say(`4. Redis commands per command: MONITOR on "${stack.config.redis.keyPrefix}" over ${monitorCount} commands at 200/s`);
    const monitor = await monitorPrefix(redisUrl, stack.config.redis.keyPrefix);
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
    await monitor.stop();
    const redisPerCommand = monitored / monitorCount;
    const redisBreakdown = [...byCommandNow.entries()]
      .map(([name, n]) => [name, (n - (atStartByCommand.get(name) ?? 0) - ((idleByCommand.get(name) ?? 0) / 2) * monitorSeconds) / monitorCount] as const)
      .filter(([, v]) => v >= 0.05)
      .sort((a, b) => b[1] - a[1]);

    // 5. Backlogs: stop the workers, publish, start them again, measure the drain.
    const backlog = async (phase: string, count: number) => {
      say(`5. backlog of ${count}: stopping the workers, publishing ${s.backlogWarmup} warm-up commands ahead of it, starting ${s.workers} workers`);
      const running = stack.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
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
      const batch = await tracker.waitAll({ timeoutMs: 120_000, onProgress: bar.update });
      bar.stop();
      tracker.compact();
      const prefix = benchReference(runId, phase, 0).slice(0, -1);
      const measured = batch.completedAt.filter((_, i) => batch.references[i].startsWith(prefix));
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
        perS: steady,
        byTenth,
        firstToLastPerS: (measured.length - 1) / drainS,
        withStartPerS: batch.completed / ((batch.lastAt - startMs) / 1000),
        drainSeconds: drainS,
        failed: batch.failed,
      };
    };
    const small = await backlog('bsmall', s.backlogSmall);
    const large = await backlog('blarge', s.backlogLarge);

    // 6. Peak RSS of every process (killed workers were read before they stopped).
    notePeak(stack.web);
    for (const w of stack.workers) notePeak(w);
    const benchRss = peakRssMiB(process.pid);

    const targets = checkTargets({
      endToEndPerS: satPerS,
      rawAmqpPerS: raw.perSecond,
      addedP50Ms: pacedAdded.p50,
      addedP99Ms: pacedAdded.p99,
      bridgeRssMiB: peakRss,
      backlogSmallPerS: small.perS,
      backlogLargePerS: large.perS,
    });
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    const f2 = (v: number) => v.toFixed(2);
    const lat = (l: LatencySummary) => `${f2(l.p50)} / ${f2(l.p95)} / ${f2(l.p99)} ms (max ${f2(l.max)})`;
    const sections: BenchSection[] = [
      {
        title: 'Throughput',
        header: ['measure', 'value'],
        rows: [
          [
            'raw AMQP (publish+confirm → consume+ack)',
            `${Math.round(raw.perSecond)} messages/s (${raw.messages} × ${raw.messageBytes} B in ${raw.seconds.toFixed(2)} s; publish side ${Math.round(raw.publishPerSecond)}/s)`,
          ],
          [
            'whole flow, end to end',
            `${Math.round(satPerS)} commands/s (${sat.batch.completed} in ${satSeconds.toFixed(2)} s; published in ${sat.publishSeconds.toFixed(2)} s; ${sat.batch.failed} not SUCCESS)`,
          ],
          ['end to end / raw AMQP', `${((100 * satPerS) / raw.perSecond).toFixed(1)} %`],
          ['workers', String(s.workers)],
        ],
      },
      {
        title: 'Latency (publish → terminal notification at the bus twin)',
        header: ['load', 'p50 / p95 / p99', "added p50 / p95 / p99 (minus each command's PSP time)"],
        rows: [
          [
            `offered ${s.pacedRate}/s for ${s.pacedSeconds} s (${paced.completed} commands, achieved ${Math.round(offeredPerS)}/s)`,
            lat(pacedLatency),
            `${ms(pacedAdded.p50)} / ${ms(pacedAdded.p95)} / ${ms(pacedAdded.p99)} (${pacedAddedAll.count} commands)`,
          ],
          [
            `saturation (${sat.batch.completed} commands)`,
            lat(satLatency),
            `${ms(satAdded.p50)} / ${ms(satAdded.p95)} / ${ms(satAdded.p99)} (${satAddedAll.count} commands)`,
          ],
          [`PSP round trip in the flow at ${s.pacedRate}/s, as the workers timed it`, lat(pspInFlow), '—'],
          [`PSP round trip, direct from the bench, ${s.pacedRate}/s (${psp.count} calls)`, lat(psp), '—'],
        ],
      },
      {
        title: 'Backlog drain',
        header: ['backlog', 'steady drain rate (middle 80 %)', 'first → last notification', 'with warm-up, from worker start', 'drain time'],
        rows: [
          [
            String(small.count),
            `${Math.round(small.perS)} commands/s`,
            `${Math.round(small.firstToLastPerS)} commands/s`,
            `${Math.round(small.withStartPerS)} commands/s`,
            `${small.drainSeconds.toFixed(2)} s`,
          ],
          [
            String(large.count),
            `${Math.round(large.perS)} commands/s`,
            `${Math.round(large.firstToLastPerS)} commands/s`,
            `${Math.round(large.withStartPerS)} commands/s`,
            `${large.drainSeconds.toFixed(2)} s`,
          ],
          [
            'ratio large / small',
            (large.perS / small.perS).toFixed(3),
            (large.firstToLastPerS / small.firstToLastPerS).toFixed(3),
            (large.withStartPerS / small.withStartPerS).toFixed(3),
            '',
          ],
        ],
      },
      {
        title: 'Backlog drain rate by tenth of its completions',
        header: ['backlog', 'commands/s in each tenth, first to last'],
        rows: [small, large].map((b) => [String(b.count), b.byTenth.map((r) => String(Math.round(r))).join(' · ')]),
      },
      {
        title: 'Peak RSS (VmHWM)',
        header: ['process', 'MiB'],
        rows: [
          ...Object.entries(peakRss).map(([name, v]) => [name, v === null ? '?' : v.toFixed(1)]),
          ['bench process (bus twin, simulator, publisher)', benchRss === null ? '?' : benchRss.toFixed(1)],
        ],
      },
      {
        title: 'Redis per command',
        header: ['measure', 'value'],
        rows: [
          [`round trips (commands a client sent; MONITOR on our prefix, ${monitorCount} commands at 200/s, idle subtracted)`, roundTripsPerCommand.toFixed(1)],
          [`commands executed, including inside Lua scripts (same sample; idle ${idlePerS.toFixed(1)}/s subtracted)`, redisPerCommand.toFixed(1)],
          ...redisBreakdown.map(([name, v]) => [`  of which ${name}`, v.toFixed(2)]),
          ['INFO commandstats delta over the saturation phase / commands (shared Redis: includes other clients)', redisPerCommandGlobal.toFixed(1)],
        ],
      },
    ];
    const host = machine(redisVersion);
    const preamble = [
      `run ${startedAt.toISOString()}, namespace ${runId}${s.quick ? ', QUICK' : ''}`,
      `machine: ${host.cpus} CPUs (${host.cpuModel}), ${host.memoryMiB} MiB; node ${host.node}, RabbitMQ ${host.rabbitmq}, Redis ${host.redis}`,
      `1-minute load average: ${loadAtStart.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end (other work on the machine)`,
      `git ${gitHead()}; bench command ${commandBytes} B of JSON, raw AMQP message ${raw.messageBytes} B`,
    ];
    say('');
    for (const line of preamble) say(line);
    for (const section of sections) {
      say('');
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
      settings: s,
      machine: host,
      git: gitHead(),
      loadAverage1m: { start: loadAtStart, end: loadavg()[0] },
      commandBytes,
      raw,
      saturation: {
        commands: sat.batch.completed,
        seconds: satSeconds,
        perSecond: satPerS,
        publishSeconds: sat.publishSeconds,
        failed: sat.batch.failed,
        ratioToRaw: satPerS / raw.perSecond,
        latencyMs: satLatency,
        addedMs: satAdded,
      },
      paced: {
        offeredPerSecond: s.pacedRate,
        achievedPerSecond: offeredPerS,
        seconds: s.pacedSeconds,
        commands: paced.completed,
        latencyMs: pacedLatency,
        addedMs: pacedAdded,
      },
      pspRoundTripMs: { inFlow: pspInFlow, direct: psp },
      backlog: { small, large, ratio: large.perS / small.perS },
      peakRssMiB: { ...peakRss, bench: benchRss },
      redis: {
        roundTripsPerCommand,
        perCommandMonitor: redisPerCommand,
        idlePerSecond: idlePerS,
        byCommand: Object.fromEntries(redisBreakdown),
        perCommandCommandstatsShared: redisPerCommandGlobal,
      },
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
  } finally {
    redis.disconnect();
    await publisher.close();
  }
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
