/**
 * Microbenchmark of commands held by a rate limit: what a worker spends while a backlog waits on an account
 * limit below what the flow could carry (an operator's `rate_limits.by_account` set to a PSP's contract). Each
 * case holds `waiters` commands at once, as a worker with that many messages in flight does, each taking a
 * token the way the command consumer does (`take`, then `waitForToken` when refused), against the product's
 * `RateLimiter` on the local Redis (lease of 8, the worker's default), for a few seconds. It prints the rate
 * let through, the CPU the process spent each second and per command let through, and the Redis takes.
 *
 * Run: `node dist/harness/bench/rate-limit-hold-bench.js` (PB_RL_BENCH_SECONDS, default 5; PB_RL_BENCH_CASES,
 * default `100x512,1000x512,100x50`: limit per second × commands held). It asserts nothing.
 */
import { randomBytes } from 'node:crypto';
import { RateLimiter } from '../../src/admission/rate-limiter';
import { buildConfig } from '../../src/config/load-config';
import { createLogger } from '../../src/logging/logger';
import { metricValue } from '../../src/metrics/metrics-registry';
import { createRedis } from '../../src/redis/redis-connection';
import { unlinkMatching } from '../../src/redis/key-scan';

const say = (line = '') => process.stdout.write(`${line}\n`);

interface Case {
  perS: number;
  waiters: number;
}

function casesFromEnv(): Case[] {
  const spec = process.env.PB_RL_BENCH_CASES ?? '100x512,1000x512,100x50';
  return spec.split(',').map((c) => {
    const [perS, waiters] = c.split('x').map(Number);
    if (!(perS > 0 && waiters > 0)) throw new Error(`PB_RL_BENCH_CASES: "${c}" is not <per_s>x<waiters>`);
    return { perS, waiters };
  });
}

async function runCase(c: Case, seconds: number): Promise<string[]> {
  const prefix = `pbbench-rl-${randomBytes(4).toString('hex')}:`;
  const config = buildConfig({
    'service_bus.url': 'https://bus.example.com/',
    'service_bus.endpoint_name': 'payment-bridge',
    'service_bus.secret': 'a-strong-bus-secret-0123',
    'service_bus.public_url': 'https://payments.example.com/bus',
    'mom_client.client_id': 'pb',
    'mom_client.client_secret': 'client-secret',
    'mom_client.oauth_server_url': 'https://bus.example.com',
    'amqp.url': 'amqp://127.0.0.1:5672',
    'redis.url': process.env.PB_REDIS_URL ?? 'redis://127.0.0.1:6379',
    'redis.key_prefix': prefix,
    // A burst of a tenth of a second's tokens: the bucket binds within the warm-up, as under a long backlog.
    'rate_limits.by_account': { 'simulator:bench': { per_s: c.perS, burst: Math.max(1, Math.round(c.perS / 10)) } },
  });
  const logger = createLogger({ level: 'error' });
  const redis = createRedis(config.redis, 'commands', logger);
  const limiter = new RateLimiter({ config, redis, logger, where: 'consumer', lease: config.rateLimits.leaseTokens });
  const subject = { channel: 'web' as const, gateway: 'simulator', account: 'bench' };
  let running = true;
  let admitted = 0;
  const holder = async (): Promise<void> => {
    while (running) {
      const decision = await limiter.take(subject);
      if (!decision.allowed) {
        try {
          await limiter.waitForToken(subject, decision, () => running);
        } catch {
          return; // let go at the end of the case
        }
      }
      if (running) admitted += 1;
    }
  };
  // Warm the JIT and the connection, then measure.
  const holders = Array.from({ length: c.waiters }, () => holder());
  await new Promise((r) => setTimeout(r, 1000));
  const admittedAtStart = admitted;
  const takesAtStart = await metricValue('pb_rate_limit_takes_total', { where: 'consumer' });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const elapsedS = (performance.now() - t0) / 1000;
  const let_through = admitted - admittedAtStart;
  const takes = (await metricValue('pb_rate_limit_takes_total', { where: 'consumer' })) - takesAtStart;
  running = false;
  await Promise.all(holders);
  await unlinkMatching(redis, `${prefix}*`);
  redis.disconnect();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return [
    `${c.perS}/s`,
    String(c.waiters),
    `${(let_through / elapsedS).toFixed(0)}/s`,
    `${(cpuMs / elapsedS).toFixed(1)} ms/s`,
    let_through > 0 ? `${((cpuMs * 1000) / let_through).toFixed(0)} µs` : 'n/a',
    `${(takes / elapsedS).toFixed(0)}/s`,
  ];
}

async function main(): Promise<void> {
  const seconds = Number(process.env.PB_RL_BENCH_SECONDS ?? 5);
  const header = ['account limit', 'commands held', 'let through', 'CPU of the process', 'CPU per command let through', 'Redis takes'];
  const rows: string[][] = [];
  for (const c of casesFromEnv()) rows.push(await runCase(c, seconds));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((v, i) => v.padEnd(widths[i])).join('  ');
  say(`Commands held by a rate limit (${seconds} s a case, the default rate_limits.lease_tokens, one process, local Redis)`);
  say(line(header));
  say(line(widths.map((w) => '─'.repeat(w))));
  for (const r of rows) say(line(r));
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
