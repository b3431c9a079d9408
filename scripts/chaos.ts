/**
 * `npm run chaos`: fault drills on the whole flow. Each drill runs on a fresh local stack (bus
 * twin and PSP simulator in this process, one `web` and two `worker` processes on the local RabbitMQ and
 * Redis) under a workload from all four channels, and prints a verdict line:
 *   1. kill -9 a worker 10 times at random moments (a replacement started each time);
 *   2. restart RabbitMQ under load;  3. restart Redis (AOF) under load;
 *   4. the PSP down (503) for 30 s;  5. PSP faults (20 % 5xx, 5 % commit-then-timeout, webhook chaos);
 *   6. the bus delegate down for 30 s;
 *   7. a spike: ten times the normal load for 60 s (harness/drills/spike-drill.ts), with the latency of
 *      captures/cancels/refunds printed next to authorizations';
 *   8. the disaster: Redis loses the namespace's data under load; restore from the last export into a fresh
 *      namespace and reconcile against the PSP (harness/drills/disaster-drill.ts), with RPO and RTO printed;
 *   9. a RabbitMQ cluster node stopped under load: the stack on the local 3-node cluster
 *      (scripts/rabbit-cluster.sh, started if needed) with quorum queues; node 1, where every connection and the
 *      queues' leaders are, stops for PB_RABBIT_NODE_DOWN_S (20) s (harness/drills/rabbit-node-drill.ts), with
 *      reconnection times and throughput before/during/after printed. SIGKILL; PB_RABBIT_DRILL_MODE=stop_app for stop_app;
 *  10. a Redis Cluster primary fails over under load: the stack on the local Redis Cluster (scripts/redis-cluster.sh,
 *      started if needed), the primary of the delivery queue's slot SIGKILLed (PB_REDIS_FAILOVER_MODE=failover: a
 *      CLUSTER FAILOVER instead), the cluster's failover time and the recovery printed
 *      (harness/drills/redis-failover-drill.ts).
 * Invariants after each: see harness/drills/drill-invariants.ts. Exit code 1 if any drill failed.
 *
 * On Redis Cluster: `PB_REDIS_CLUSTER=1 npm run chaos` runs every drill's stack on the local Redis Cluster
 * (scripts/redis-cluster.sh, started here when it is not running; `PB_REDIS_CLUSTER_NODES` names another)
 * instead of the single Redis; drill 3 then restarts every node of that cluster (AOF), never the single Redis.
 *
 * Options (environment): PB_CHAOS_COMMANDS (commands per drill, default 10 000), PB_CHAOS_OUTAGE_S
 * (PSP and delegate outage, default 30), PB_CHAOS_SEED (default 42), PB_CHAOS_DRILLS (comma-separated
 * drill numbers to run, default all; PB_CHAOS_DRILLS=7 runs the spike drill alone, 8 the disaster drill, 9 the RabbitMQ node loss, 10 the Redis Cluster failover). The spike drill's
 * shape: PB_SPIKE_BASE_RATE (normal payments/s, default 8), PB_SPIKE_FACTOR (10), PB_SPIKE_WARM_S (10),
 * PB_SPIKE_S (60), PB_SPIKE_COOL_S (10), PB_SPIKE_PRIORITY_P99_MS (5000), PB_SPIKE_MAX_BACKLOG (300).
 */
import { killWorkerDrill, delegateDownDrill, pspDownDrill, pspFaultsDrill, restartServiceDrill } from '../harness/drills/chaos-drills';
import { describeDrillParameters } from '../harness/drills/drill-parameters';
import { spikeDrill } from '../harness/drills/spike-drill';
import { rabbitNodeDrill } from '../harness/drills/rabbit-node-drill';
import { runDisasterDrill } from '../harness/drills/disaster-drill';
import { redisFailoverDrill } from '../harness/drills/redis-failover-drill';
import { ensureLocalRedisCluster, localRedisClusterNodes, onLocalRedisCluster } from '../harness/twins/local-stack/local-redis';
import { RECOVERY_TARGET_MS } from '../harness/drills/drill-invariants';
import { DrillDefinition, DrillResult, runDrill } from '../harness/drills/drill-runner';
import { formatTable } from '../harness/workload/text-table';

const say = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const commands = Number(process.env.PB_CHAOS_COMMANDS ?? 10_000);
  const outageS = Number(process.env.PB_CHAOS_OUTAGE_S ?? 30);
  const seed = Number(process.env.PB_CHAOS_SEED ?? 42);
  const drills: DrillDefinition[] = [
    killWorkerDrill(10),
    restartServiceDrill('rabbitmq'),
    restartServiceDrill('redis'),
    pspDownDrill(outageS),
    pspFaultsDrill(),
    delegateDownDrill(outageS),
    spikeDrill(),
  ];
  // Drill 8 (the disaster) runs its own stack and phases rather than a disruption beside one workload.
  const DISASTER = 8;
  // Drills numbered after the disaster, each with its number (9: a RabbitMQ node stops; 10: a Redis Cluster primary fails over).
  const later = new Map<number, DrillDefinition>([
    [9, rabbitNodeDrill()],
    [10, redisFailoverDrill()],
  ]);
  const last = Math.max(DISASTER, ...later.keys());
  const selected = (process.env.PB_CHAOS_DRILLS ?? Array.from({ length: last }, (_, i) => i + 1).join(','))
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => n >= 1 && n <= last);
  // PB_REDIS_CLUSTER=1: every stack on the local Redis Cluster (harness/twins/local-stack/local-redis.ts).
  ensureLocalRedisCluster();
  say(`payment-bridge chaos drills: ${commands} commands per drill, outages ${outageS} s, seed ${seed}`);
  say(`redis: ${onLocalRedisCluster() ? `Redis Cluster ${localRedisClusterNodes().join(', ')}` : 'single Redis'} (drill 10 always on the local cluster)`);
  say(`recovery parameters: ${describeDrillParameters()}`);
  const results: DrillResult[] = [];
  for (const n of selected) {
    say('');
    let result: DrillResult;
    if (n === DISASTER) {
      say(`drill ${n}: disaster: Redis data lost under load, restore from the last export, reconcile against the PSP`);
      result = await runDisasterDrill({ commands, seed: seed + n, log: say });
    } else {
      const drill = later.get(n) ?? drills[n - 1];
      // The Redis failover drill runs on the local Redis Cluster (started here when it is not running).
      if (n === 10) ensureLocalRedisCluster({ ...process.env, PB_REDIS_CLUSTER: '1' });
      say(`drill ${n}: ${drill.name}`);
      result = await runDrill(drill, { commands, seed: seed + n, log: say });
    }
    results.push(result);
    for (const c of result.checks) say(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    for (const line of result.figures) say(`  ${line}`);
    say(
      `  verdict ${result.ok ? 'PASS' : 'FAIL'}: ${result.commands} commands in ${result.elapsedS.toFixed(1)} s, success ${result.successRate.toFixed(2)} %, recovery ${recoveryText(result)}${result.ok ? '' : ` (logs in ${result.logDir})`}`,
    );
  }
  say('');
  say(
    formatTable(
      ['#', 'drill', 'commands', 'success', 'recovery', 'verdict'],
      results.map((r, i) => [String(selected[i]), r.name, String(r.commands), `${r.successRate.toFixed(2)} %`, recoveryText(r), r.ok ? 'PASS' : 'FAIL']),
    ),
  );
  const failed = results.filter((r) => !r.ok).length;
  say('');
  say(
    failed === 0
      ? `chaos OK: ${results.length} drills passed (recovery target ≤ ${RECOVERY_TARGET_MS} ms, KPI < 3000 ms)`
      : `chaos FAILED: ${failed} of ${results.length} drills failed`,
  );
  return failed === 0 ? 0 : 1;
}

/** Worst recovery of a drill ("n/a" when it has nothing to recover from). */
function recoveryText(r: DrillResult): string {
  if (r.recoveries.length === 0) return 'n/a';
  if (r.recoveries.some((x) => x === null)) return 'none';
  const values = r.recoveries as number[];
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return values.length === 1
    ? ms(values[0])
    : `max ${ms(Math.max(...values))} (median ${ms([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)])})`;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`chaos failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
