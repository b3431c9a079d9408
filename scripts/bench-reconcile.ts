/**
 * `npm run bench:reconcile`: reconciliation of 100,000 ledger operations against a 100,000-line simulator
 * report (every line matches), printing the time and the peak RSS of this process (target: at most 60 s
 * and 150 MB). The simulator runs in a child process so its own memory is not counted; the ledger is
 * seeded directly (pipelined), under a namespace of its own, deleted at the end. Prints, never asserts.
 *
 * Options (environment): PB_BENCH_RECON_OPERATIONS (default 100 000), PB_REDIS_URL.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildConfig } from '../src/config/load-config';
import { silentLogger } from '../src/logging/logger';
import { createRedis } from '../src/redis/redis-connection';
import { reconcile } from '../src/reconciliation-run/reconcile';
import { purgeNamespace } from '../harness/twins/local-stack/local-stack';

async function main(): Promise<void> {
  const total = Number(process.env.PB_BENCH_RECON_OPERATIONS ?? 100_000);
  const ns = `benchrecon${randomBytes(3).toString('hex')}`;
  const apiKey = `sim-${randomBytes(12).toString('hex')}`;
  const child = spawn(process.execPath, [join(__dirname, '../harness/twins/psp-simulator/main.js'), '--api-key', apiKey], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve((JSON.parse(d.toString().split('\n')[0]) as { url: string }).url));
    child.once('exit', () => reject(new Error('simulator exited')));
  });
  const config = buildConfig({
    'service_bus.url': 'http://127.0.0.1:1',
    'service_bus.endpoint_name': 'payment-bridge-bench',
    'service_bus.secret': `bus-${randomBytes(12).toString('hex')}`,
    'service_bus.public_url': 'http://127.0.0.1:1/bus',
    'mom_client.client_id': 'payment-bridge-bench',
    'mom_client.client_secret': 'unused-in-this-benchmark',
    'mom_client.oauth_server_url': 'http://127.0.0.1:1',
    'amqp.url': process.env.PB_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    'amqp.exchange.commands': `${ns}.commands`,
    'amqp.queue.commands': `${ns}:payment:command`,
    'amqp.exchange.dead_letter': `${ns}.dead-letter`,
    'amqp.queue.dead_letter': `${ns}:payment:dead-letter`,
    'amqp.queue.type': 'classic',
    'redis.url': process.env.PB_REDIS_URL ?? 'redis://127.0.0.1:6379',
    'redis.key_prefix': `${ns}:`,
    'security.allow_insecure_http': true,
    gateways: {
      simulator: { type: 'simulator', base_url: url, api_key: apiKey, webhook_secret: `whsec-${randomBytes(12).toString('hex')}`, timeout_ms: 30000 },
    },
  });
  const redis = createRedis(config.redis.url, 'commands');
  const from = Date.now() - 3_600_000;
  const to = from + 3_600_000;
  const prefix = config.redis.keyPrefix;
  try {
    // The ledger: `total` captures SUCCEEDED, created across the window, as the create script lays them out.
    for (let start = 0; start < total; start += 5000) {
      const p = redis.pipeline();
      for (let i = start; i < Math.min(total, start + 5000); i += 1) {
        const id = `bench-recon-${i}`;
        const at = Math.floor(from + (i * 3_600_000) / total);
        const payment = {
          gateway: 'simulator',
          gateway_account: 'acct',
          gateway_key: `auth_syn${i.toString(36)}`,
          amount: 1500,
          currency: 'EUR',
          order_id: `O-${i}`,
        };
        p.hset(
          `${prefix}op:${id}`,
          'id',
          id,
          'command',
          'capture',
          'channel',
          'bus',
          'state',
          'SUCCEEDED',
          'payment',
          JSON.stringify(payment),
          'received_at',
          at,
          'created_at',
          at,
          'updated_at',
          at,
          'attempts',
          1,
        );
        p.zadd(`${prefix}ops:created`, at, id);
      }
      await p.exec();
    }
    const seeded = await fetch(`${url}/_control/report/synthesize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: total, prefix: 'bench-recon-', amount: 1500, currency: 'EUR', from, to }),
    });
    if (!seeded.ok) throw new Error(`simulator refused the report: ${seeded.status}`);
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const started = performance.now();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to }, logger: silentLogger(), redis });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    process.stdout.write(
      `${JSON.stringify({ operations: total, lines: summary.lines, matched: summary.classes.matched, seconds: Number(seconds.toFixed(1)), lines_per_s: Math.round(summary.lines / seconds), peak_rss_mb: Math.round(peak / 1048576) })}\n`,
    );
  } finally {
    redis.disconnect();
    child.kill('SIGTERM');
    await purgeNamespace(config).catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-reconcile: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
