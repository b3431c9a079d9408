import { RoleProcess } from '../twins/local-stack/role-process';
import { allocatedBytes } from './allocation-reader';
import { peakRssMiB, resetPeakRss } from './process-memory';
import { processCpuMicros, processesCpuMicros } from './process-cpu';

/** One process's readings at the start of a window. */
interface Reading {
  role: RoleProcess;
  cpuMicros: number | null;
  allocated: number | null;
}

/** What a window cost, per command, and the processes' peaks. */
export interface WindowCost {
  /** Sum of the workers' CPU time (user + system) over the window ÷ commands, µs. */
  workerCpuMicrosPerCommand: number | null;
  /**
   * The same less what the workers spend when idle (timers, sweeps, the in-process poller, BullMQ polls),
   * measured just before the window and scaled to its length; null when no idle sample was taken. At low
   * rates (a loaded machine) the idle share dominates the line above.
   */
  workerCpuMicrosPerCommandNetOfIdle: number | null;
  /** The workers' idle CPU, summed, in ms of CPU per second of wall time (null without an idle sample). */
  workerIdleCpuMsPerSecond: number | null;
  /** Each worker's CPU time over the window ÷ commands, µs (their sum is the line above). */
  workerCpuMicrosEach: Record<string, number | null>;
  /** The web processes' CPU time over the window ÷ commands, µs (≈0 when commands come over AMQP). */
  webCpuMicrosPerCommand: number | null;
  /**
   * The RabbitMQ and Redis servers' CPU over the window ÷ commands, µs: other users of those servers included; on a
   * Redis Cluster, all its nodes' (primaries and replicas).
   */
  rabbitmqCpuMicrosPerCommand: number | null;
  redisCpuMicrosPerCommand: number | null;
  /**
   * Sum of the workers' V8 heap allocation over the window ÷ commands, bytes; null when the roles run
   * without the allocation probe (`allocation-probe.ts`). Buffer contents are outside the V8 heap and not in it.
   */
  workerAllocatedBytesPerCommand: number | null;
  /** Peak RSS (`VmHWM`) of each process over the window (or its life when the kernel refused the reset), MiB. */
  peakRssMiB: Record<string, number | null>;
  /**
   * The stand-ins' CPU over the window ÷ commands, µs: the bench process (publisher, measurements) and the
   * twins' processes when they run apart (bus twin, PSP simulator), summed; null when one was unreadable.
   * Real peers run elsewhere: this is what measuring costs the machine, not what the bridge costs.
   */
  standInCpuMicrosPerCommand: number | null;
  /** Each stand-in's share of the line above, µs per command. */
  standInCpuMicrosEach: Record<string, number | null>;
}

/**
 * The servers' processes whose CPU a window reports: RabbitMQ's, and every `redis-server` the stack uses (the
 * single Redis's, or each node of a Redis Cluster, replicas included: their CPU is summed). `null` / empty when
 * unknown (their CPU is then not reported).
 */
export interface ServerPids {
  rabbitmq: number | null;
  redis: readonly number[];
}

/** A process standing in for a peer (or the bench itself); `pid` is this process's for the bench. */
export interface StandIn {
  name: string;
  pid: number;
}

/** CPU time of a stand-in so far, µs: this process's from `process.cpuUsage` (µs precise), others' from /proc. */
function standInCpuMicros(s: StandIn): number | null {
  if (s.pid === process.pid) {
    const u = process.cpuUsage();
    return u.user + u.system;
  }
  return processCpuMicros(s.pid);
}

/**
 * Measures what a window of work costs each bridge process: CPU time from /proc, V8 heap allocation from the
 * allocation probe over IPC, peak RSS reset at the start (`clear_refs`) and read at the end. `begin` before
 * the first command of the window, `end(commands)` after the last terminal notification; processes that
 * exit during the window are read as far as they got (their CPU is lost: stop none inside a window).
 */
export class ProcessCost {
  private readings: Reading[] = [];
  private startedAt = 0;
  private idleMicrosPerSecond: number | null = null;
  private infraBefore = { rabbitmq: null as number | null, redis: null as number | null };
  private standInsBefore: { standIn: StandIn; cpuMicros: number | null }[] = [];

  /**
   * @param infra the pids of the RabbitMQ and Redis servers the stack uses (`pidListeningOn(5672)`…; every node of
   * a Redis Cluster); default none (their CPU is then not reported).
   * @param standIns the bench process and the twins' processes (default: this process alone).
   */
  constructor(
    private readonly webs: () => RoleProcess[],
    private readonly workers: () => RoleProcess[],
    private readonly infra: ServerPids = { rabbitmq: null, redis: [] },
    private readonly standIns: () => StandIn[] = () => [{ name: 'bench', pid: process.pid }],
  ) {}

  /**
   * @param options.idleSampleMs sample the workers' CPU for this long first, with nothing sent (default 0:
   *   no sample, no net-of-idle figure).
   */
  async begin(options: { resetPeaks?: boolean; idleSampleMs?: number } = {}): Promise<void> {
    this.idleMicrosPerSecond = null;
    if ((options.idleSampleMs ?? 0) > 0) {
      const workers = this.workers().filter(alive);
      const before = workers.map((w) => processCpuMicros(w.child.pid));
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, options.idleSampleMs));
      const seconds = (performance.now() - t0) / 1000;
      const deltas = workers.map((w, i) => {
        const now = processCpuMicros(w.child.pid);
        const was = before[i];
        return now !== null && was !== null ? now - was : null;
      });
      if (deltas.every((d) => d !== null)) this.idleMicrosPerSecond = deltas.reduce<number>((a, b) => a + (b ?? 0), 0) / seconds;
    }
    const roles = [...this.webs(), ...this.workers()].filter(alive);
    if (options.resetPeaks ?? true) for (const role of roles) resetPeakRss(role.child.pid);
    this.readings = await Promise.all(
      roles.map(async (role) => ({ role, allocated: await allocatedBytes(role.child), cpuMicros: processCpuMicros(role.child.pid) })),
    );
    this.startedAt = performance.now();
    this.infraBefore = this.serversCpuMicros();
    this.standInsBefore = this.standIns().map((standIn) => ({ standIn, cpuMicros: standInCpuMicros(standIn) }));
  }

  private serversCpuMicros(): { rabbitmq: number | null; redis: number | null } {
    return { rabbitmq: processCpuMicros(this.infra.rabbitmq ?? undefined), redis: processesCpuMicros(this.infra.redis) };
  }

  async end(commands: number): Promise<WindowCost> {
    const standInCpu = this.standInsBefore.map(({ standIn, cpuMicros }) => {
      const now = standInCpuMicros(standIn);
      return [standIn.name, cpuMicros !== null && now !== null ? now - cpuMicros : null] as const;
    });
    const windowSeconds = (performance.now() - this.startedAt) / 1000;
    const isWorker = new Set(this.workers());
    const after = await Promise.all(
      this.readings.map(async (r) => ({
        ...r,
        cpuAfter: processCpuMicros(r.role.child.pid),
        allocatedAfter: await allocatedBytes(r.role.child),
        peak: peakRssMiB(r.role.child.pid),
      })),
    );
    const perCommand = (v: number) => (commands > 0 ? v / commands : 0);
    const cpuOf = (x: (typeof after)[number]) => (x.cpuMicros !== null && x.cpuAfter !== null ? x.cpuAfter - x.cpuMicros : null);
    const sum = (values: (number | null)[]) => (values.length > 0 && values.every((v) => v !== null) ? values.reduce<number>((a, b) => a + (b ?? 0), 0) : null);
    const workers = after.filter((x) => isWorker.has(x.role));
    const webs = after.filter((x) => !isWorker.has(x.role));
    const workerCpu = sum(workers.map(cpuOf));
    const webCpu = sum(webs.map(cpuOf));
    const allocated = sum(workers.map((x) => (x.allocated !== null && x.allocatedAfter !== null ? x.allocatedAfter - x.allocated : null)));
    const serversNow = this.serversCpuMicros();
    const infra = (name: 'rabbitmq' | 'redis') => {
      const before = this.infraBefore[name];
      const now = serversNow[name];
      return before !== null && now !== null ? perCommand(now - before) : null;
    };
    return {
      workerCpuMicrosPerCommand: workerCpu === null ? null : perCommand(workerCpu),
      workerCpuMicrosPerCommandNetOfIdle:
        workerCpu === null || this.idleMicrosPerSecond === null ? null : perCommand(Math.max(0, workerCpu - this.idleMicrosPerSecond * windowSeconds)),
      workerIdleCpuMsPerSecond: this.idleMicrosPerSecond === null ? null : this.idleMicrosPerSecond / 1000,
      workerCpuMicrosEach: Object.fromEntries(workers.map((x) => [x.role.name, cpuOf(x) === null ? null : perCommand(cpuOf(x) ?? 0)])),
      webCpuMicrosPerCommand: webCpu === null ? null : perCommand(webCpu),
      rabbitmqCpuMicrosPerCommand: infra('rabbitmq'),
      redisCpuMicrosPerCommand: infra('redis'),
      workerAllocatedBytesPerCommand: allocated === null ? null : perCommand(allocated),
      peakRssMiB: Object.fromEntries(after.map((x) => [x.role.name, x.peak])),
      standInCpuMicrosPerCommand: ((total) => (total === null ? null : perCommand(total)))(sum(standInCpu.map(([, v]) => v))),
      standInCpuMicrosEach: Object.fromEntries(standInCpu.map(([name, v]) => [name, v === null ? null : perCommand(v)])),
    };
  }
}

/** Whether a role process is still running. */
export function alive(role: RoleProcess): boolean {
  return role.child.exitCode === null && role.child.signalCode === null;
}
