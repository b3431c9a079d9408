/**
 * `npm run drill:money -- --seed 7 --payments 500 --faults 0.05`: the money-truth drill
 * (harness/drills/money-truth-drill.ts). Random adversarial payment lifecycles from the seed, played mostly
 * concurrently on a fresh local stack, then every event the OMS received checked against the PSP simulator's
 * books; prints one line per invariant and exits 1 when any broke (the namespace and logs are then kept).
 *
 * Options: `--seed` (default 7), `--payments` (default 500), `--faults` (share of PSP requests that fail, 0–1,
 * default 0), `--concurrency` (payments in flight, default 100), `--workers` (default 2), `--kill-workers <ms>`
 * (SIGKILL a worker, round robin, every <ms> to 1.5 × <ms> during the play, each replaced; default none) and
 * `--kill-web` (with `--kill-workers`: the web process takes its turn too). Several seeds: `--seeds 1,2,3` runs
 * one drill per seed, one after the other.
 *
 * Infrastructure failover (docs/BENCHMARKS.md, "Under infrastructure failover"): `--redis-cluster-failover <ms>`
 * plays on the local Redis Cluster (scripts/redis-cluster.sh) and fails over a primary, each shard in turn, every
 * <ms> to 1.5 × <ms> (`--redis-failover-mode kill`, default: SIGKILL, the node back as a replica before the next;
 * `failover`: CLUSTER FAILOVER; `pause`: SIGSTOP until its replica took over, then SIGCONT); `--rabbit-node-stop <ms>` plays on the local 3-node RabbitMQ cluster with quorum
 * queues (scripts/rabbit-cluster.sh) and stops a node, round robin, every <ms> to 1.5 × <ms>, for
 * `--rabbit-node-down <ms>` (default 5000) before starting it again (`--rabbit-node-mode kill`, default, or
 * `stop_app`). Both may be combined, and with the kills.
 */
import { formatMoneyTruthReport, runMoneyTruthDrill } from '../harness/drills/money-truth-drill';

function option(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i !== -1 && i + 1 < argv.length) return argv[i + 1];
  return argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function numberOption(argv: readonly string[], name: string, fallback: number, valid: (n: number) => boolean): number {
  const text = option(argv, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || !valid(n)) throw new Error(`--${name} ${text} is not valid`);
  return n;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const whole = (n: number) => Number.isSafeInteger(n) && n > 0;
  const seeds = (option(argv, 'seeds') ?? String(numberOption(argv, 'seed', 7, Number.isSafeInteger))).split(',').map((s) => Number(s.trim()));
  if (!seeds.every(Number.isSafeInteger)) throw new Error('--seeds must be integers separated by commas');
  const payments = numberOption(argv, 'payments', 500, whole);
  const faults = numberOption(argv, 'faults', 0, (n) => n >= 0 && n <= 1);
  const concurrency = numberOption(argv, 'concurrency', 100, whole);
  const workers = numberOption(argv, 'workers', 2, whole);
  const killEveryMs = numberOption(argv, 'kill-workers', 0, whole);
  const killWeb = argv.includes('--kill-web');
  if (killWeb && killEveryMs === 0) throw new Error('--kill-web needs --kill-workers <ms>');
  const redisEveryMs = numberOption(argv, 'redis-cluster-failover', 0, whole);
  const redisMode = option(argv, 'redis-failover-mode') ?? 'kill';
  if (redisMode !== 'kill' && redisMode !== 'failover' && redisMode !== 'pause') throw new Error('--redis-failover-mode must be kill, failover or pause');
  const rabbitEveryMs = numberOption(argv, 'rabbit-node-stop', 0, whole);
  const rabbitDownMs = numberOption(argv, 'rabbit-node-down', 5000, whole);
  const rabbitMode = option(argv, 'rabbit-node-mode') ?? 'kill';
  if (rabbitMode !== 'kill' && rabbitMode !== 'stop_app') throw new Error('--rabbit-node-mode must be kill or stop_app');
  let failed = 0;
  for (const seed of seeds) {
    const result = await runMoneyTruthDrill({
      seed,
      payments,
      faults,
      concurrency,
      workers,
      killEveryMs,
      killWeb,
      ...(redisEveryMs > 0 ? { redisCluster: { everyMs: redisEveryMs, mode: redisMode } } : {}),
      ...(rabbitEveryMs > 0 ? { rabbitCluster: { everyMs: rabbitEveryMs, downMs: rabbitDownMs, mode: rabbitMode } } : {}),
      log: (line) => process.stdout.write(`${line}\n`),
    });
    process.stdout.write(`${formatMoneyTruthReport(result)}\n\n`);
    if (!result.ok) failed += 1;
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
