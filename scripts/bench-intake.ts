/**
 * `npm run bench:intake`: how many signed bus commands per second the intake accepts (verify X-Signature,
 * validate, publish with a broker confirm, answer), on the local RabbitMQ, with one web process in this
 * process and a keep-alive client. Nothing consumes the queue; the namespace is deleted at the end.
 *
 * Options (environment): PB_BENCH_INTAKE_COMMANDS (default 20 000), PB_BENCH_INTAKE_CONCURRENCY (64).
 */
import { randomBytes } from 'node:crypto';
import { buildConfig } from '../src/config/load-config';
import { silentLogger } from '../src/logging/logger';
import { startWebProcess } from '../src/processes/web-process';
import { sendSignedCommand } from '../harness/twins/bus-twin/signed-command-sender';
import { purgeNamespace } from '../harness/twins/local-stack/local-stack';
import { latencySummary } from '../harness/workload/flow-checks';
import { formatTable } from '../harness/workload/text-table';

async function main(): Promise<void> {
  const total = Number(process.env.PB_BENCH_INTAKE_COMMANDS ?? 20_000);
  const concurrency = Number(process.env.PB_BENCH_INTAKE_CONCURRENCY ?? 64);
  const ns = `benchintake${randomBytes(3).toString('hex')}`;
  const secret = `bus-${randomBytes(12).toString('hex')}`;
  const config = buildConfig({
    'service_bus.url': 'http://127.0.0.1:1',
    'service_bus.endpoint_name': 'payment-bridge-bench',
    'service_bus.secret': secret,
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
    'http.host': '127.0.0.1',
    'http.port': 0,
    'security.allow_insecure_http': true,
  });
  const web = await startWebProcess(config, silentLogger());
  const method = config.serviceBus.methods.commands.capture;
  const latencies: number[] = [];
  let next = 0;
  let refused = 0;
  const send = async (i: number) => {
    const payment = {
      gateway: 'simulator',
      gateway_account: 'acme-eu',
      gateway_key: `auth_${i}`,
      amount: 1000 + (i % 500),
      currency: 'EUR',
      order_id: `ORD-${ns}-${i}`,
      operation_reference: `${ns}-${i}`,
    };
    for (;;) {
      const t0 = process.hrtime.bigint();
      const answer = await sendSignedCommand({ url: web.intakeUrl, secret, method, params: { payment }, id: i });
      if (answer.status === 503) continue; // broker connecting: the bus would resend
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (answer.status !== 200 || (answer.body as { error?: unknown }).error) refused += 1;
      return;
    }
  };
  // Warm-up: connections, JIT, the broker channel.
  for (let i = 0; i < 200; i += 1) await send(total + i);
  latencies.length = 0;
  refused = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) await send(i);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await web.stop();
  await purgeNamespace(config);
  const l = latencySummary(latencies);
  process.stdout.write(
    `${formatTable(
      ['intake (signed JSON-RPC → confirmed publish)', 'value'],
      [
        ['commands', `${total} (${refused} refused)`],
        ['concurrency (keep-alive client)', String(concurrency)],
        ['throughput', `${Math.round(total / seconds)} commands/s`],
        ['latency p50 / p95 / p99', `${l.p50.toFixed(2)} / ${l.p95.toFixed(2)} / ${l.p99.toFixed(2)} ms`],
      ],
    )}\n`,
  );
  if (refused > 0) process.exitCode = 1;
}

main().catch((err: Error) => {
  process.stderr.write(`bench:intake failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
