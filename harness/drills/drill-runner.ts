import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sendSignedCommand } from '../twins/bus-twin/signed-command-sender';
import { LocalStack, startLocalStack } from '../twins/local-stack/local-stack';
import { SimulatorFaults } from '../twins/psp-simulator/simulator-faults';
import { FlowCheck } from '../workload/flow-checks';
import { PaymentScenario, buildScenarios, commandCount, seededRandom } from '../workload/payment-scenarios';
import { StepRecord, runWorkload } from '../workload/workload-driver';
import { DRILL_PARAMETERS } from './drill-parameters';
import { checkDrillInvariants, firstSuccessAfter, successRate } from './drill-invariants';
import { openResilientPublisher } from './resilient-publisher';

/** What a disruption sees while the workload runs. */
export interface DrillContext {
  stack: LocalStack;
  /** Resolves once `fraction` (0–1) of the commands were reported, or when the workload ended. */
  progress(fraction: number): Promise<void>;
  /** True once the workload has ended (a disruption due later has nothing to disturb). */
  finished(): boolean;
  /** Seeded random source (the same seed gives the same kill moments). */
  random: () => number;
  /** Records a line for the drill's report (what was done, when). */
  note(line: string): void;
  /** Processes the disruption killed on purpose (excluded from the "no process crashed" check). */
  killed: Set<number>;
}

/** One fault drill: its name, the simulator faults during it, and the disruption it plays. */
export interface DrillDefinition {
  name: string;
  /** Simulator faults for the whole drill. Default: none. */
  faults?: SimulatorFaults;
  /** Worker processes. Default 2. */
  workers?: number;
  /**
   * Plays the disruption while the workload runs; resolves with the moments (epoch ms) the dependency
   * was back, from which recovery to the first successful delivery is measured. An empty list: no
   * recovery to measure.
   */
  disrupt(context: DrillContext): Promise<number[]>;
  /** More `parameters.yml` keys for this drill's stack (on top of DRILL_PARAMETERS). */
  parameters?: Readonly<Record<string, unknown>>;
  /** Runs before the stack starts (e.g. starts the servers the drill's parameters point at). */
  prepare?: () => Promise<void>;
  /**
   * An open-loop workload instead of `commands` commands at a fixed concurrency: how many payments, how
   * many may be in flight, and when each may start (ms after the start).
   */
  workload?: { payments: number; concurrency: number; startAt: (index: number) => number };
  /** Checks and figures of the drill's own, from the records (e.g. latency by command class). */
  report?: (records: readonly StepRecord[]) => { checks: FlowCheck[]; figures: string[] };
}

/** The outcome of one drill, for the verdict line. */
export interface DrillResult {
  name: string;
  commands: number;
  /** Percent of commands that ended as planned. */
  successRate: number;
  /** Per dependency comeback, ms to the first success after it (null: none). */
  recoveries: (number | null)[];
  elapsedS: number;
  checks: FlowCheck[];
  notes: string[];
  /** The drill's own figures (its `report`), printed under its checks. */
  figures: string[];
  ok: boolean;
  logDir: string;
}

/** The recovery trace of a drill (see `runDrill`): one block per comeback moment. */
function recoveryTrace(stack: LocalStack, records: readonly StepRecord[], upAts: readonly number[]): string {
  const lines: string[] = [`logs: ${stack.dir}`];
  const notifications = stack.busTwin.notifications;
  for (const at of upAts) {
    const after = notifications.filter((n) => n.receivedAt > at).sort((a, b) => a.receivedAt - b.receivedAt);
    const before = notifications.filter((n) => n.receivedAt > at - 2000 && n.receivedAt <= at).length;
    lines.push(
      `at ${new Date(at).toISOString()}: first success +${String(firstSuccessAfter(notifications, at))} ms; ${before} notifications in the 2 s before, ${after.length} after`,
    );
    for (const n of after.slice(0, 6)) {
      const p = (n.params.payment ?? {}) as Record<string, unknown>;
      lines.push(`   +${(n.receivedAt - at).toFixed(0)} ms ${n.method} ${String(p.event_id)} ${String(p.status)}`);
    }
    const open = records.filter((r) => r.acceptedAt !== undefined && r.acceptedAt < at && (r.reportedAt === undefined || r.reportedAt > at));
    const late = (r: StepRecord) => (r.reportedAt === undefined ? Infinity : r.reportedAt - at);
    lines.push(
      `   ${open.length} accepted before and reported after, slowest first: ${[...open]
        .sort((a, b) => late(b) - late(a))
        .map((r) => `${r.operationId} +${r.reportedAt === undefined ? 'never' : late(r).toFixed(0)} ms`)
        .join(', ')}`,
    );
  }
  return lines.join('\n');
}

/** Scenarios adding up to about `commands` commands (a payment has 2.3 commands on average). */
export function scenariosForCommands(commands: number, seed: number, runId: string): PaymentScenario[] {
  let payments = Math.max(1, Math.ceil(commands / 2.3));
  let scenarios = buildScenarios(payments, { seed, runId });
  payments = Math.max(1, Math.round((payments * commands) / Math.max(1, commandCount(scenarios))));
  scenarios = buildScenarios(payments, { seed, runId });
  return scenarios;
}

/**
 * Runs one drill on a fresh local stack (bus twin, simulator, one `web` and `workers` worker processes,
 * DRILL_PARAMETERS): plays about `commands` commands from all four channels while `disrupt` runs, then
 * checks the invariants (checkDrillInvariants) and that no process died that the drill did not kill.
 * The stack is stopped and its namespace purged afterwards.
 *
 * @param options.concurrency payments in flight. Default 150.
 * @param options.namespace Redis/AMQP namespace. Default `chaos<random hex>`.
 */
export async function runDrill(
  definition: DrillDefinition,
  options: { commands: number; seed: number; concurrency?: number; namespace?: string; log?: (line: string) => void },
): Promise<DrillResult> {
  const runId = randomBytes(3).toString('hex');
  await definition.prepare?.();
  const stack = await startLocalStack({
    namespace: options.namespace ?? `chaos${runId}`,
    workers: definition.workers ?? 2,
    simulator: { seed: options.seed, faults: definition.faults ?? {} },
    // PB_DRILL_LOG_LEVEL=debug leaves a trail per operation in the logs when a drill needs explaining.
    parameters: {
      ...DRILL_PARAMETERS,
      ...(definition.parameters ?? {}),
      ...(process.env.PB_DRILL_LOG_LEVEL ? { 'log.level': process.env.PB_DRILL_LOG_LEVEL } : {}),
    },
  });
  let keep = false;
  const notes: string[] = [];
  const log = options.log ?? (() => undefined);
  const publisher = openResilientPublisher(stack.config);
  try {
    const scenarios = definition.workload
      ? buildScenarios(definition.workload.payments, { seed: options.seed, runId })
      : scenariosForCommands(options.commands, options.seed, runId);
    const total = commandCount(scenarios);
    let done = 0;
    let finished = false;
    const waits: { at: number; resolve: () => void }[] = [];
    const release = () => {
      for (let i = waits.length - 1; i >= 0; i -= 1) {
        if (finished || done >= waits[i].at) {
          waits[i].resolve();
          waits.splice(i, 1);
        }
      }
    };
    const started = Date.now();
    const context: DrillContext = {
      stack,
      progress: (fraction) =>
        new Promise<void>((resolve) => {
          waits.push({ at: Math.ceil(fraction * total), resolve });
          release();
        }),
      finished: () => finished,
      random: seededRandom(options.seed + 7),
      note: (line) => {
        const stamped = `+${((Date.now() - started) / 1000).toFixed(1)} s ${line}`;
        notes.push(stamped);
        log(`  ${stamped}`);
      },
      killed: new Set<number>(),
    };
    const disruption = definition.disrupt(context).catch((err: Error) => {
      context.note(`disruption failed: ${err.message}`);
      return [] as number[];
    });
    const sendBus = (method: string, params: Record<string, unknown>, id: string) =>
      sendSignedCommand({ url: stack.intakeUrl, secret: stack.busSecret, method, params, id });
    let records: StepRecord[];
    try {
      records = await runWorkload(
        scenarios,
        { config: stack.config, sendBus, publisher, notifications: () => stack.busTwin.notifications },
        {
          concurrency: definition.workload?.concurrency ?? options.concurrency ?? 150,
          ...(definition.workload ? { startAt: definition.workload.startAt } : {}),
          stepTimeoutMs: 90_000,
          resendRate: 0.02,
          random: seededRandom(options.seed + 1),
          onStep: () => {
            done += 1;
            if (done % 1000 === 0) log(`  ${done}/${total} commands reported`);
            release();
          },
        },
      );
    } finally {
      finished = true;
      release();
    }
    const upAts = await disruption;
    const elapsedS = (Date.now() - started) / 1000;
    // Late duplicates of notifications and refund notices settle after the last outcome.
    await new Promise((r) => setTimeout(r, 1500));
    const recoveries = upAts.map((at) => firstSuccessAfter(stack.busTwin.notifications, at));
    // What each recovery waited on: the first notifications after each comeback, and the commands accepted
    // before it and reported after it (with how long after). Written next to the roles' logs; printed too
    // with PB_DRILL_TRACE=1.
    const trace = recoveryTrace(stack, records, upAts);
    writeFileSync(join(stack.dir, 'recovery-trace.txt'), trace);
    if (process.env.PB_DRILL_TRACE) process.stderr.write(`${trace}\n`);
    const checks = await checkDrillInvariants({ stack, records, recoveries });
    const own = definition.report?.(records) ?? { checks: [], figures: [] };
    checks.push(...own.checks);
    const roles = [stack.web, ...stack.workers];
    const dead = roles.filter((p) => !context.killed.has(p.child.pid ?? -1) && (p.child.exitCode !== null || p.child.signalCode !== null));
    checks.push({
      name: 'no role process crashed',
      ok: dead.length === 0,
      detail:
        dead.length === 0
          ? `${roles.length - context.killed.size} alive (${context.killed.size} killed on purpose)`
          : `${dead.map((p) => `${p.name} exited ${String(p.child.exitCode ?? p.child.signalCode)}`).join(', ')}`,
    });
    const ok = checks.every((c) => c.ok);
    // A failed drill keeps its Redis keys and queues (namespace in the log directory's name) for inspection.
    keep = !ok;
    return {
      name: definition.name,
      commands: records.length,
      successRate: successRate(records),
      recoveries,
      elapsedS,
      checks,
      notes,
      figures: own.figures,
      ok,
      logDir: stack.dir,
    };
  } finally {
    await publisher.close();
    await stack.stop({ purge: !keep }).catch((err: Error) => log(`  stopping the stack failed: ${err.message}`));
  }
}
