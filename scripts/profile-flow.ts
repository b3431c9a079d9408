/**
 * Profiles the whole flow: a local stack with PB_PROFILE_WORKERS workers (default 1) and a 0 ms
 * simulator; publishes PB_PROFILE_COMMANDS authorize commands (default 5000) to the commands exchange as
 * fast as the publisher confirms, and times until the bus twin holds a terminal notification for each.
 * Then paces PB_PROFILE_PACED commands (default 2500) at PB_PROFILE_RATE per second (default 500) and
 * prints the bridge-added latency (publish confirmed → notification received; the simulator adds 0 ms).
 * Also prints Redis calls per command (INFO commandstats delta; other users of the same Redis add noise)
 * and the RSS of each bridge process. PB_PROFILE_PSP_LATENCY_MS (`200-300`) gives the simulator a latency
 * range (then the paced latency includes it). Run: `node dist/scripts/profile-flow.js`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { RedisClient } from '../src/redis/redis-connection';
import { startLocalStack } from '../harness/twins/local-stack/local-stack';
import { ChannelPublisher } from '../harness/workload/channel-publisher';
import { preciseNow } from '../harness/workload/precise-clock';
import { createRedis } from '../src/redis/redis-connection';

const say = (line = '') => process.stdout.write(`${line}\n`);

function command(ref: string): Record<string, unknown> {
  return {
    version: 1,
    command: 'authorize',
    channel: 'web',
    received_at: new Date().toISOString(),
    payment: {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: 'pm_card_visa',
      amount: 1000,
      currency: 'EUR',
      order_id: `o-${ref}`,
      operation_reference: ref,
    },
  };
}

async function redisCalls(redis: RedisClient): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const calls = new Map<string, number>();
  for (const line of info.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m) calls.set(m[1], Number(m[2]));
  }
  return calls;
}

function rssMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) a process has used so far, ms; from /proc (Linux). */
function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (100/s)
  } catch {
    return 0;
  }
}

/** Pids of processes whose command name (comm) is `name`: RabbitMQ (beam.smp) and redis-server. */
function pidsNamed(name: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** `pb_command_stage_seconds` of a worker (PB_STAGE_TIMING=1): per stage, its cumulative buckets, sum and count. */
type StageFigures = Map<string, { buckets: [number, number][]; sum: number; count: number }>;

async function stageFigures(target: string | undefined): Promise<StageFigures> {
  const figures: StageFigures = new Map();
  if (!target) return figures;
  const text = await (await fetch(`http://${target}/metrics`)).text();
  const entry = (stage: string) => {
    let e = figures.get(stage);
    if (!e) figures.set(stage, (e = { buckets: [], sum: 0, count: 0 }));
    return e;
  };
  for (const line of text.split('\n')) {
    let m = /^pb_command_stage_seconds_bucket\{le="([^"]+)",stage="([^"]+)"\} (\S+)/.exec(line);
    if (m) {
      entry(m[2]).buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[3])]);
      continue;
    }
    m = /^pb_command_stage_seconds_(sum|count)\{stage="([^"]+)"\} (\S+)/.exec(line);
    if (m) entry(m[2])[m[1] as 'sum' | 'count'] = Number(m[3]);
  }
  return figures;
}

/** Per stage over the paced run (after minus before): count, mean and bucket-interpolated p50/p90/p99, ms. */
function stageTable(before: StageFigures, after: StageFigures): string[] {
  const order = ['started', 'admitted', 'created', 'psp_start', 'psp_end', 'recorded', 'notify_start', 'notify_end', 'acked', 'ack_sent', 'total'];
  const lines: string[] = [];
  for (const stage of order) {
    const a = after.get(stage);
    if (!a) continue;
    const b = before.get(stage);
    const count = a.count - (b?.count ?? 0);
    if (count <= 0) continue;
    const buckets = a.buckets.map(([le, n], i) => [le, n - (b?.buckets[i]?.[1] ?? 0)] as [number, number]);
    const q = (p: number) => {
      const want = p * count;
      let prevLe = 0;
      let prevN = 0;
      for (const [le, n] of buckets) {
        if (n >= want) {
          if (!Number.isFinite(le)) return `>${prevLe * 1000}`;
          return ((prevLe + ((le - prevLe) * (want - prevN)) / Math.max(1, n - prevN)) * 1000).toFixed(2);
        }
        prevLe = le;
        prevN = n;
      }
      return '?';
    };
    const mean = (((a.sum - (b?.sum ?? 0)) / count) * 1000).toFixed(2);
    lines.push(`  ${stage.padEnd(13)} n=${count} mean ${mean} p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)}`);
  }
  return lines;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const total = Number(process.env.PB_PROFILE_COMMANDS ?? 5000);
  const paced = Number(process.env.PB_PROFILE_PACED ?? 2500);
  const rate = Number(process.env.PB_PROFILE_RATE ?? 500);
  const workers = Number(process.env.PB_PROFILE_WORKERS ?? 1);
  // PB_PROFILE_PSP_LATENCY_MS: the simulator's answer latency, `min-max` or one value in ms (default 0).
  const [latMin, latMax = latMin] = (process.env.PB_PROFILE_PSP_LATENCY_MS ?? '0').split('-').map(Number);
  const runId = randomBytes(3).toString('hex');
  const stack = await startLocalStack({
    namespace: `prof${runId}`,
    workers,
    simulator: { seed: 1, faults: { latencyMs: { min: latMin, max: latMax } } },
    // PB_PROFILE_PARAMETERS: extra parameters as JSON, e.g. '{"amqp.prefetch": 50}'.
    monitoring: process.env.PB_STAGE_TIMING === '1',
    parameters: { 'log.level': 'warn', ...(JSON.parse(process.env.PB_PROFILE_PARAMETERS ?? '{}') as Record<string, unknown>) },
  });
  const redis = createRedis(stack.config.redis, 'commands');
  try {
    const publisher = await ChannelPublisher.open(stack.config);
    // Warm-up: connections, JIT, Lua script loading.
    await Promise.all(Array.from({ length: 200 }, (_, i) => publisher.publish(command(`w${runId}-${i}`))));
    await stack.busTwin.waitForNotifications(200, 30000);

    const pids = stack.workers.map((w) => w.child.pid);
    const rabbit = pidsNamed('beam.smp');
    const infra = [...rabbit, ...pidsNamed('redis-server')];
    const infraBefore = infra.map(cpuMs);
    const cpuBefore = pids.map(cpuMs);
    const selfBefore = process.cpuUsage();
    const before = await redisCalls(redis);
    const base = stack.busTwin.notifications.length;
    const t0 = Date.now();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total; i += 1) {
      inFlight.push(publisher.publish(command(`t${runId}-${i}`)));
      if (inFlight.length >= 500) await Promise.all(inFlight.splice(0));
    }
    await Promise.all(inFlight);
    const published = Date.now() - t0;
    await stack.busTwin.waitForNotifications(base + total, 300000);
    const elapsed = Date.now() - t0;
    const after = await redisCalls(redis);
    const cpuWorkers = pids.map((pid, i) => cpuMs(pid) - cpuBefore[i]);
    const self = process.cpuUsage(selfBefore);
    const infraCpu = infra.reduce((sum, pid, i) => sum + cpuMs(pid) - infraBefore[i], 0);
    const rabbitCpu = rabbit.reduce((sum, pid, i) => sum + cpuMs(pid) - infraBefore[i], 0);
    let calls = 0;
    const byCmd: string[] = [];
    for (const [name, n] of after) {
      const d = n - (before.get(name) ?? 0);
      calls += d;
      if (d / total >= 0.05) byCmd.push(`${name}=${(d / total).toFixed(2)}`);
    }
    say(
      `throughput: ${total} commands in ${elapsed} ms = ${Math.round((total * 1000) / elapsed)} commands/s (published in ${published} ms), workers=${workers}`,
    );
    const perCmd = (ms: number) => ((ms * 1000) / total).toFixed(0);
    say(
      `CPU per command, µs: workers ${cpuWorkers.map(perCmd).join(' + ')} · this process (publisher, bus twin, simulator) ${perCmd((self.user + self.system) / 1000)} · RabbitMQ ${perCmd(rabbitCpu)} + Redis ${perCmd(infraCpu - rabbitCpu)} (shared with other users)`,
    );
    say(`redis calls per command: ${(calls / total).toFixed(2)} (${byCmd.join(' ')})`);

    // Paced run: latency at `rate` commands/s.
    const stagesBefore = await Promise.all(stack.workers.map((w) => stageFigures(stack.monitoringTargetOf(w))));
    const sentAt = new Map<string, number>();
    const base2 = stack.busTwin.notifications.length;
    const interval = 1000 / rate;
    const start = Date.now();
    const pubs: Promise<void>[] = [];
    for (let i = 0; i < paced; i += 1) {
      const due = start + i * interval;
      const wait = due - Date.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const ref = `p${runId}-${i}`;
      const at = preciseNow();
      pubs.push(publisher.publish(command(ref)).then(() => void sentAt.set(ref, at)));
    }
    await Promise.all(pubs);
    await stack.busTwin.waitForNotifications(base2 + paced, 120000);
    const lat: number[] = [];
    for (const n of stack.busTwin.notifications.slice(base2)) {
      const p = n.params.payment as Record<string, unknown> | undefined;
      const ref = p ? String(p.operation_reference) : '';
      const at = sentAt.get(ref);
      if (at !== undefined) lat.push(n.receivedAt - at);
    }
    lat.sort((a, b) => a - b);
    say(
      `latency at ${rate}/s (${lat.length} commands, publish → notification, ms): p50 ${pct(lat, 50)} p90 ${pct(lat, 90)} p99 ${pct(lat, 99)} max ${lat[lat.length - 1]}`,
    );
    if (process.env.PB_STAGE_TIMING === '1') {
      for (const [i, w] of stack.workers.entries()) {
        say(`worker ${i} stages over the paced run (time since the previous mark, ms; PB_STAGE_TIMING=1):`);
        for (const line of stageTable(stagesBefore[i], await stageFigures(stack.monitoringTargetOf(w)))) say(line);
      }
    }
    const rss = stack.workers.map((w) => rssMb(w.child.pid));
    say(`peak RSS MB: workers ${rss.join(', ')} · web ${rssMb(stack.web.child.pid)}`);
    await publisher.close();
  } finally {
    redis.disconnect();
    await stack.stop({ purge: true });
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
