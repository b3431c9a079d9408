import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../twins/local-stack/local-stack';
import { preciseNow } from '../workload/precise-clock';
import { StepRecord } from '../workload/workload-driver';
import { FlowCheck } from '../workload/flow-checks';
import { DrillContext, DrillDefinition } from './drill-runner';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The cluster's nodes as `scripts/rabbit-cluster.sh` starts them (PB_RABBIT_CLUSTER_PORT, default 5681). */
export function rabbitClusterUrls(): string[] {
  const base = Number(process.env.PB_RABBIT_CLUSTER_PORT ?? 5681);
  return [0, 1, 2].map((i) => `amqp://guest:guest@127.0.0.1:${base + i}`);
}

/** Runs `scripts/rabbit-cluster.sh <args>` (or services.sh for `start`); rejects with its stderr. */
export function rabbitCluster(args: string[], timeoutMs = 300_000): Promise<string> {
  const root = projectRoot();
  const [script, argv] = args[0] === 'start' ? ['services.sh', ['start-rabbit-cluster']] : ['rabbit-cluster.sh', args];
  return new Promise((resolve, reject) => {
    execFile('bash', [join(root, 'scripts', script), ...argv], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${script} ${argv.join(' ')} failed: ${err.message} ${stderr.trim()}`));
      resolve(stdout);
    });
  });
}

/**
 * `parameters:` keys putting a drill's stack on the local RabbitMQ cluster: every process knows the three nodes
 * (`amqp.url` + `amqp.urls`, starting on node 1), quorum queues dead-lettering at least once
 * (PB_RABBIT_DLX_STRATEGY=at-most-once compares with the quorum queues' default).
 */
export function rabbitClusterParameters(): Record<string, unknown> {
  const urls = rabbitClusterUrls();
  return {
    'amqp.url': urls[0],
    'amqp.urls': urls.slice(1),
    'amqp.queue.type': 'quorum',
    'amqp.queue.dead_letter_strategy': process.env.PB_RABBIT_DLX_STRATEGY === 'at-most-once' ? 'at-most-once' : 'at-least-once',
  };
}

/** Resolves with the moment (epoch ms) the port first refuses a connection, polling every 20 ms. */
export async function portClosed(port: number): Promise<number> {
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    if (refused) return preciseNow();
    await sleep(20);
  }
}

/** Moments of the disruption (epoch ms), filled in while the drill runs. */
interface NodeLossTimes {
  stoppedAt?: number;
  backAt?: number;
  /**
   * Wall-clock time (`Date.now()`) the kill was issued: what the processes' log timestamps are compared with.
   * Not `stoppedAt`: that is `preciseNow()` (monotonic, which drifts from the wall clock while NTP slews it),
   * and the port probe sees the node gone some milliseconds after the processes have already moved on.
   */
  killIssuedWallAt?: number;
  logDir?: string;
}

/**
 * Drill 9: the whole flow on the local 3-node RabbitMQ cluster (scripts/rabbit-cluster.sh) with quorum
 * queues (at-least-once dead-lettering): every process and the channel publishers know the three nodes
 * (`amqp.url` + `amqp.urls`) and start on node 1. A third of the way in, node 1 is stopped
 * (SIGKILL of its Erlang VM, or `rabbitmqctl stop_app` with PB_RABBIT_DRILL_MODE=stop_app): every connection and
 * the quorum queues' leaders were there. After PB_RABBIT_NODE_DOWN_S seconds (default 20) it comes back.
 * Invariants as every drill (nothing lost, nothing doubled), plus: the web and every worker reconnected to
 * a survivor, and the figures: recovery (from the stop to each process's reconnection, to the first command
 * accepted after it, and to the first success of a command published after it) and throughput (commands
 * reported per second) before, during and after the node's absence.
 */
export function rabbitNodeDrill(): DrillDefinition {
  const urls = rabbitClusterUrls();
  const downS = Number(process.env.PB_RABBIT_NODE_DOWN_S ?? 20);
  // SIGKILL by default: instant and the harsher loss. stop_app goes through the Erlang CLI, which on a loaded
  // machine can take a minute to act (the stop moment is taken when the node's port closes either way).
  const mode = process.env.PB_RABBIT_DRILL_MODE === 'stop_app' ? 'stop_app' : 'kill';
  const times: NodeLossTimes = {};
  return {
    name: `stop a RabbitMQ cluster node under load (3 nodes, quorum queues, ${mode === 'kill' ? 'SIGKILL' : 'stop_app'})`,
    faults: { latencyMs: { min: 2, max: 20 } },
    parameters: rabbitClusterParameters(),
    prepare: async () => {
      await rabbitCluster(['start']);
    },
    async disrupt(ctx: DrillContext) {
      times.logDir = ctx.stack.dir;
      await ctx.progress(0.3);
      if (ctx.finished()) return [];
      const port = Number(new URL(urls[0]).port);
      const closed = portClosed(port);
      times.killIssuedWallAt = Date.now();
      await rabbitCluster([mode === 'kill' ? 'kill-node' : 'stop-node', '1']);
      times.stoppedAt = await closed;
      ctx.note(
        `node pb-r1 (${urls[0].replace(/\/\/[^@]*@/, '//')}) ${mode === 'kill' ? 'killed' : 'stopped'}: every connection and the queues' leaders were there`,
      );
      await sleep(downS * 1000);
      const restart = preciseNow();
      await rabbitCluster(['start-node', '1']);
      times.backAt = preciseNow();
      ctx.note(`node pb-r1 back after ${((times.backAt - times.stoppedAt) / 1000).toFixed(1)} s (restart took ${Math.round(times.backAt - restart)} ms)`);
      // Recovery is measured from the node's loss: the survivors carry the load while it is away.
      return [times.stoppedAt];
    },
    report: (records) => nodeLossReport(records, times),
  };
}

/** The drill's own checks and figures from the records, the moments and the processes' logs. */
function nodeLossReport(records: readonly StepRecord[], times: NodeLossTimes): { checks: FlowCheck[]; figures: string[] } {
  const { stoppedAt, backAt } = times;
  if (stoppedAt === undefined || backAt === undefined) {
    return { checks: [{ name: 'a node was stopped under load', ok: false, detail: 'the workload ended before the disruption' }], figures: [] };
  }
  const reconnects = reconnectionsAfter(times.logDir ?? '', times.killIssuedWallAt ?? stoppedAt);
  const roles = reconnects.length;
  const missing = reconnects.filter((r) => r.ms === null);
  const checks: FlowCheck[] = [
    {
      name: 'web and workers reconnected to a surviving node',
      ok: roles > 0 && missing.length === 0,
      detail:
        roles === 0
          ? 'no process log found'
          : missing.length === 0
            ? `${roles} processes, each on another node`
            : `${missing.map((r) => r.role).join(', ')} never logged a connection to another node`,
    },
  ];
  const figures: string[] = [];
  const ms = (v: number | null) => (v === null ? 'never' : `${Math.round(v)} ms`);
  figures.push(`reconnected to a survivor (from the kill): ${reconnects.map((r) => `${r.role} ${ms(r.ms)}`).join(', ') || 'n/a'}`);
  const acceptedAfter = records.filter((r) => r.acceptedAt !== undefined && r.sentAt >= stoppedAt).map((r) => r.acceptedAt as number);
  const firstAccepted = acceptedAfter.length > 0 ? Math.min(...acceptedAfter) - stoppedAt : null;
  const newSuccess = records.filter((r) => r.sentAt >= stoppedAt && r.status === 'SUCCESS' && r.reportedAt !== undefined).map((r) => r.reportedAt as number);
  const firstSuccess = newSuccess.length > 0 ? Math.min(...newSuccess) - stoppedAt : null;
  figures.push(`first command sent after the stop accepted: ${ms(firstAccepted)}; its first success reported to the bus: ${ms(firstSuccess)}`);
  const early = records.filter((r) => r.sentAt >= stoppedAt && r.sentAt < stoppedAt + 5000 && r.acceptedAt !== undefined);
  const worstAccept = early.length > 0 ? Math.max(...early.map((r) => (r.acceptedAt as number) - r.sentAt)) : null;
  const retried = early.reduce((sum, r) => sum + r.intakeRetries, 0);
  figures.push(`commands sent in the 5 s after the stop: ${early.length}, slowest accepted in ${ms(worstAccept)}, ${retried} intake retries`);
  const reported = records.filter((r) => r.reportedAt !== undefined).map((r) => r.reportedAt as number);
  const start = Math.min(...records.map((r) => r.sentAt));
  const end = reported.length > 0 ? Math.max(...reported) : backAt;
  const rate = (from: number, to: number) => {
    const n = reported.filter((t) => t >= from && t < to).length;
    const s = Math.max(0.001, (to - from) / 1000);
    return `${(n / s).toFixed(0)}/s (${n} in ${s.toFixed(1)} s)`;
  };
  figures.push(
    `throughput (commands reported): before ${rate(start, stoppedAt)}, node away ${rate(stoppedAt, backAt)}, after ${end > backAt ? rate(backAt, end + 1) : 'n/a (the workload ended first)'}`,
  );
  return { checks, figures };
}

/**
 * Per role log (web.log, worker-N.log): ms from `since` (wall clock, as the logs' timestamps) to its first
 * "connected to another broker node" line at or after it.
 */
function reconnectionsAfter(dir: string, since: number): { role: string; ms: number | null }[] {
  const out: { role: string; ms: number | null }[] = [];
  for (const role of ['web', ...Array.from({ length: 16 }, (_, i) => `worker-${i + 1}`)]) {
    const path = join(dir, `${role}.log`);
    if (!dir || !existsSync(path)) continue;
    let first: number | null = null;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.includes('amqp connected to another broker node')) continue;
      try {
        const at = Date.parse((JSON.parse(line) as { timestamp?: string }).timestamp ?? '');
        if (at >= since && (first === null || at < first)) first = at;
      } catch {
        // a torn last line
      }
    }
    out.push({ role, ms: first === null ? null : first - since });
  }
  return out;
}
