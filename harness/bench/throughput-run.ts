import { sendSignedCommand } from '../twins/bus-twin/signed-command-sender';
import { LatencySummary, latencySummary } from '../workload/flow-checks';
import { preciseNow } from '../workload/precise-clock';
import { authorizeCommand, benchReference } from './bench-commands';
import { ConfirmingPublisher, publishWindowed } from './command-publishing';
import { MarkedWindowCost } from './marked-window-cost';
import { ProcessCost, WindowCost } from './process-cost';
import { TerminalTracker, steadyRate } from './terminal-tracker';

/** How the commands of one run reach the bridge. */
export type CommandRoute =
  /** Published straight to the commands exchange with confirms, as the web, POS and marketplace channels do. */
  | { via: 'amqp'; publisher: ConfirmingPublisher; window: number }
  /**
   * Signed JSON-RPC over HTTP to the intake, as the bus sends them, `concurrency` requests at a time, spread
   * round-robin over `intakeUrls` (one per web process, as a load balancer would); a 429 or 503 is sent
   * again after its Retry-After, as the bus does, and counted. The bus has no authorize: `payment(i)` gives
   * command i's `payment` (a capture of an authorization made beforehand, say).
   */
  | { via: 'http'; intakeUrls: string[]; busSecret: string; method: string; concurrency: number; payment: (i: number) => Record<string, unknown> };

/** What one closed run measured. */
export interface ThroughputResult {
  commands: number;
  /** Terminal notifications other than SUCCESS (0 without faults). */
  failed: number;
  /** First publish (or request) → last terminal notification at the bus twin, seconds. */
  seconds: number;
  perSecond: number;
  /**
   * Rate over the middle 80 % of the completions, commands/s: a closed run's start (the in-flight limit
   * growing, connections opening) and its end (the last commands finishing with few in flight) left out.
   */
  steadyPerSecond: number;
  /** Rate in each tenth of the completions, first to last, commands/s. */
  byTenth: number[];
  /** Publish → terminal notification; in a closed run this is mostly queueing. */
  latencyMs: LatencySummary;
  /** Intake refusals sent again (HTTP route only). */
  refusals: { 429: number; 503: number };
  cost: WindowCost;
  /** The same over the steady rate's window (10 % to 90 % of the completions), when `steadyCost` was given. */
  steadyCost?: WindowCost;
  /** The PSP reference each command's terminal notification reported, by operation reference. */
  gatewayReferences: Map<string, string>;
  /**
   * The stand-ins' CPU ÷ commands, µs (`cost.standInCpuMicrosPerCommand`): the bench process (publisher or HTTP
   * client, tracking) and the bus twin and PSP simulator, in it or in processes of their own; null if unreadable.
   */
  benchCpuMicrosPerCommand: number | null;
}

/**
 * One closed throughput run: `commands` commands (references `<runId>-<phase>-<i>`; authorize over AMQP) sent as
 * fast as the route allows, timed until every terminal notification reached the bus twin, with what it
 * cost each process ({@link ProcessCost}: CPU, allocation, peak RSS over the run).
 */
export async function throughputRun(options: {
  runId: string;
  phase: string;
  commands: number;
  route: CommandRoute;
  tracker: TerminalTracker;
  cost: ProcessCost;
  timeoutMs?: number;
  onProgress?: (done: number) => void;
  /** Sample the workers' idle CPU for this long before the run (see `ProcessCost.begin`). Default 0. */
  idleSampleMs?: number;
  /** A second meter (same processes as `cost`) for the steady window; none by default. */
  steadyCost?: ProcessCost;
}): Promise<ThroughputResult> {
  const { runId, phase, commands, route, tracker } = options;
  await options.cost.begin({ idleSampleMs: options.idleSampleMs ?? 0 });
  tracker.begin();
  const refusals = { 429: 0, 503: 0 };
  const startedMs = preciseNow();
  let sending: Promise<unknown>;
  if (route.via === 'amqp') {
    sending = publishWindowed(route.publisher, commands, (i) => authorizeCommand(runId, phase, i), {
      window: route.window,
      before: (i) => tracker.published(benchReference(runId, phase, i)),
    });
  } else {
    let next = 0;
    const sendOne = async (i: number) => {
      const payment = route.payment(i);
      const url = route.intakeUrls[i % route.intakeUrls.length];
      tracker.published(benchReference(runId, phase, i));
      for (let attempt = 0; ; attempt += 1) {
        const answer = await sendSignedCommand({ url, secret: route.busSecret, method: route.method, params: { payment }, id: i }).catch(() => null);
        if (answer?.status === 200) return;
        if (answer && (answer.status === 429 || answer.status === 503)) refusals[answer.status] += 1;
        else if (answer) throw new Error(`intake answered HTTP ${answer.status} to ${benchReference(runId, phase, i)}`);
        if (attempt >= 100) throw new Error(`intake kept refusing ${benchReference(runId, phase, i)}`);
        const seconds = Number(answer?.retryAfter);
        await new Promise((r) => setTimeout(r, Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds * 1000, 5000) : 100));
      }
    };
    sending = Promise.all(
      Array.from({ length: Math.min(route.concurrency, commands) }, async () => {
        for (let i = next++; i < commands; i = next++) await sendOne(i);
      }),
    );
  }
  const steady = options.steadyCost && new MarkedWindowCost(options.steadyCost, () => tracker.completed(), commands * 0.1, commands * 0.9);
  const progress = (done: number) => {
    options.onProgress?.(done);
    steady?.onProgress(done);
  };
  // The tracker resolves once nothing it knows of is pending: wait for it only once every command is sent.
  const ticker = setInterval(() => progress(tracker.completed()), 250);
  await sending.finally(() => clearInterval(ticker));
  const batch = await tracker.waitAll({ timeoutMs: options.timeoutMs ?? 120_000, onProgress: progress });
  tracker.compact();
  const cost = await options.cost.end(batch.completed);
  const steadyCost = await steady?.result();
  const seconds = (batch.lastAt - startedMs) / 1000;
  const gatewayReferences = new Map<string, string>();
  batch.references.forEach((reference, k) => {
    const psp = batch.gatewayReferences[k];
    if (psp) gatewayReferences.set(reference, psp);
  });
  return {
    gatewayReferences,
    commands: batch.completed,
    failed: batch.failed,
    seconds,
    perSecond: batch.completed / seconds,
    steadyPerSecond: steadyRate(batch.completedAt) ?? batch.completed / seconds,
    byTenth: Array.from({ length: 10 }, (_, k) => steadyRate(batch.completedAt, k / 10, (k + 1) / 10) ?? 0),
    latencyMs: latencySummary(batch.latenciesMs),
    refusals,
    cost,
    steadyCost,
    benchCpuMicrosPerCommand: cost.standInCpuMicrosPerCommand,
  };
}
