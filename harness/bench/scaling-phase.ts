import { ChildProcessTwins, InProcessTwins, LocalStack } from '../twins/local-stack/local-stack';
import { SimulatorFaults } from '../twins/psp-simulator/simulator-faults';
import { authorizeCommand, benchReference } from './bench-commands';
import { ConfirmingPublisher } from './command-publishing';
import { ProcessCost, ServerPids, StandIn, alive } from './process-cost';
import { ThroughputResult, throughputRun } from './throughput-run';
import { TerminalTracker } from './terminal-tracker';

/** How long the workers' idle CPU is sampled before each measured row, ms. */
const IDLE_SAMPLE_MS = 2000;

/** One measured configuration of the scaling phase. */
export interface ScalingRow {
  /** `workers` rows publish over AMQP; `web` rows send signed JSON-RPC over HTTP to the web processes. */
  kind: 'workers' | 'web';
  workers: number;
  webs: number;
  /** PSP latency range of the simulator, ms ([0, 0] = none). */
  pspLatencyMs: [number, number];
  result: ThroughputResult;
  /** Throughput ÷ the processes this row scales (workers for `workers` rows, web processes for `web` rows). */
  perProcess: number;
  /**
   * Throughput gained per process added since the previous row of the same kind and latency:
   * (rate − previous rate) ÷ (processes − previous processes); the first row's gain is its rate ÷ processes.
   */
  gainPerAddedProcess: number;
}

/** What the scaling phase runs. */
export interface ScalingSettings {
  /** Worker counts to measure, commands over AMQP (e.g. [1, 2, 4]). */
  workerCounts: number[];
  /** Web process counts to measure, commands over HTTP (e.g. [1, 2]); empty skips the web rows. */
  webCounts: number[];
  /** Workers behind the web rows. */
  webRowWorkers: number;
  /** Commands per row. */
  commands: number;
  /** Commands before each row, not measured (fresh workers compile and size their heaps on them). */
  warmup: number;
  /** The PSP latency range of the latency rows, ms. */
  pspLatencyMs: [number, number];
  /** AMQP publisher window and HTTP concurrency. */
  window: number;
  httpConcurrency: number;
}

/**
 * Measures throughput with 1, 2, 4… workers (authorize commands over AMQP) and 1, 2 web processes
 * (captures over HTTP to the intake, the bus having no authorize; their authorizations are made first,
 * over AMQP at 0 ms PSP latency, and not measured), each at zero PSP latency and at the PSP latency range, on one running stack whose
 * worker and web processes it adds or stops (SIGTERM, between rows) as each row needs. Rows come back in
 * the order measured; `say` gets one line per row as it finishes.
 */
export async function scalingPhase(options: {
  stack: LocalStack<InProcessTwins | ChildProcessTwins>;
  runId: string;
  publisher: ConfirmingPublisher;
  tracker: TerminalTracker;
  infra: ServerPids;
  /** The bench process and the twins' processes, for the stand-ins' CPU (default: this process). */
  standIns?: () => StandIn[];
  settings: ScalingSettings;
  say: (line: string) => void;
}): Promise<ScalingRow[]> {
  const { stack, settings: s, say } = options;
  const liveWorkers = () => stack.workers.filter(alive);
  const liveWebs = () => [stack.web, ...stack.extraWebs].filter(alive);
  const webUrls: string[] = [stack.intakeUrl];
  const cost = new ProcessCost(liveWebs, liveWorkers, options.infra, options.standIns);
  const setWorkers = async (n: number) => {
    const running = liveWorkers();
    if (running.length > n) await Promise.all(running.slice(n).map((w) => w.kill('SIGTERM')));
    else await Promise.all(Array.from({ length: n - running.length }, () => stack.startWorker()));
  };
  const setWebs = async (n: number) => {
    while (webUrls.length < n) webUrls.push((await stack.startWeb()).intakeUrl);
  };
  const latencies: [number, number][] = [
    [0, 0],
    [s.pspLatencyMs[0], s.pspLatencyMs[1]],
  ];
  const faults = (l: [number, number]): SimulatorFaults => (l[1] > 0 ? { latencyMs: { min: l[0], max: l[1] } } : {});
  const rows: ScalingRow[] = [];
  let seq = 0;
  const amqp = { via: 'amqp' as const, publisher: options.publisher, window: s.window };
  /** Commands of `phase` over the row's route; a web row first authorizes (over AMQP, 0 ms PSP, not measured) what it captures. */
  const rowRun = async (kind: 'workers' | 'web', phase: string, commands: number, latency: [number, number], measured: boolean): Promise<ThroughputResult> => {
    const common = { runId: options.runId, tracker: options.tracker, cost, idleSampleMs: measured ? IDLE_SAMPLE_MS : 0 };
    if (kind === 'workers') {
      await stack.simulator.setFaults(faults(latency));
      return throughputRun({ ...common, phase, commands, route: amqp });
    }
    await stack.simulator.setFaults({});
    const auth = await throughputRun({ ...common, idleSampleMs: 0, phase: `${phase}a`, commands, route: amqp });
    await stack.simulator.setFaults(faults(latency));
    return throughputRun({
      ...common,
      phase,
      commands,
      route: {
        via: 'http',
        intakeUrls: [...webUrls],
        busSecret: stack.busSecret,
        method: stack.config.serviceBus.methods.commands.capture,
        concurrency: s.httpConcurrency,
        payment: (i) => {
          const authorization = authorizeCommand(options.runId, `${phase}a`, i).payment;
          return {
            ...authorization,
            gateway_key: auth.gatewayReferences.get(benchReference(options.runId, `${phase}a`, i)) ?? 'missing-reference',
            operation_reference: benchReference(options.runId, phase, i),
          };
        },
      },
    });
  };
  const run = async (kind: 'workers' | 'web', latency: [number, number]) => {
    const workers = liveWorkers().length;
    const webs = kind === 'web' ? webUrls.length : liveWebs().length;
    seq += 1;
    if (s.warmup > 0) await rowRun(kind, `scw${seq}`, s.warmup, latency, false);
    const result = await rowRun(kind, `sc${seq}`, s.commands, latency, true);
    const processes = kind === 'web' ? webs : workers;
    const gain = gainPerAddedProcess(rows, { kind, processes, latencyMaxMs: latency[1], perSecond: result.perSecond });
    const row: ScalingRow = { kind, workers, webs, pspLatencyMs: latency, result, perProcess: result.perSecond / processes, gainPerAddedProcess: gain };
    rows.push(row);
    say(
      `   ${kind === 'web' ? `${webs} web (HTTP), ${workers} workers` : `${workers} workers (AMQP)`}, PSP ${latency[1] > 0 ? `${latency[0]}–${latency[1]} ms` : '0 ms'}: ${Math.round(result.perSecond)} commands/s, +${Math.round(gain)}/s per added process`,
    );
  };
  for (const n of [...s.workerCounts].sort((a, b) => a - b)) {
    await setWorkers(n);
    for (const latency of latencies) await run('workers', latency);
  }
  if (s.webCounts.length > 0) {
    await setWorkers(s.webRowWorkers);
    for (const n of [...s.webCounts].sort((a, b) => a - b)) {
      await setWebs(n);
      for (const latency of latencies) await run('web', latency);
    }
  }
  await stack.simulator.setFaults({});
  return rows;
}

/**
 * Throughput gained per process added since the previous measured row of the same kind and PSP latency:
 * (rate − previous rate) ÷ (processes − previous processes); with no previous row (or no more processes
 * than it had), the row's own rate ÷ its processes.
 */
export function gainPerAddedProcess(
  previousRows: readonly Pick<ScalingRow, 'kind' | 'workers' | 'webs' | 'pspLatencyMs' | 'result'>[],
  row: { kind: 'workers' | 'web'; processes: number; latencyMaxMs: number; perSecond: number },
): number {
  const previous = [...previousRows].reverse().find((r) => r.kind === row.kind && r.pspLatencyMs[1] === row.latencyMaxMs);
  const previousProcesses = previous ? (row.kind === 'web' ? previous.webs : previous.workers) : 0;
  if (!previous || row.processes <= previousProcesses) return row.perSecond / row.processes;
  return (row.perSecond - previous.result.perSecond) / (row.processes - previousProcesses);
}
