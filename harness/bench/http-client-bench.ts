/**
 * Microbenchmark of the outbound HTTP client: CPU per request of `OutboundClient.send` (the gateways' and
 * the bus's client) against a local keep-alive HTTP server in a child process, so the CPU measured here is
 * the client's alone. Requests look like a simulator authorize (JSON POST, four headers, ~150-byte body,
 * ~300-byte JSON answer). For comparison it also times a bare `http.request` (the floor of Node's client)
 * and, when `PB_HTTP_BENCH_UNDICI` names an installed undici package directory, undici's `Pool.request`.
 *
 * Run: `node dist/harness/bench/http-client-bench.js` (PB_HTTP_BENCH_REQUESTS, default 20000;
 * PB_HTTP_BENCH_CONCURRENCY, default 32; PB_HTTP_BENCH_ROUNDS, default 3). Prints µs of CPU per request;
 * it asserts nothing.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { OutboundClient } from '../../src/http/outbound-request';

const say = (line = '') => process.stdout.write(`${line}\n`);

const ANSWER = JSON.stringify({
  id: 'auth_0123456789abcdef',
  object: 'authorization',
  status: 'authorized',
  amount: 1000,
  currency: 'EUR',
  reference: 'op-0123456789abcdef0123456789abcdef',
  payment_method: 'pm_card_visa',
  created: 1764480000,
  livemode: false,
  captured: false,
  metadata: {},
});

function serve(): void {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
      res.end(ANSWER);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.(typeof address === 'object' && address ? address.port : 0);
  });
}

function body(i: number): string {
  return JSON.stringify({ amount: 1000, currency: 'EUR', payment_method: 'pm_card_visa', reference: `op-${i}-0123456789abcdef`, capture: false });
}

function headers(i: number): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json',
    'idempotency-key': `op-${i}-0123456789abcdef`,
    authorization: 'Bearer sk_test_0123456789abcdef0123456789',
  };
}

type OneRequest = (i: number) => Promise<unknown>;

async function run(name: string, one: OneRequest, total: number, concurrency: number): Promise<number> {
  let next = 0;
  const lane = async () => {
    while (next < total) await one(next++);
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, lane));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const perRequest = (cpu.user + cpu.system) / total;
  say(`${name.padEnd(28)} ${perRequest.toFixed(1).padStart(7)} µs CPU/request  ${Math.round((total * 1000) / wall)} req/s`);
  return perRequest;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve();
  const total = Number(process.env.PB_HTTP_BENCH_REQUESTS ?? 20000);
  const concurrency = Number(process.env.PB_HTTP_BENCH_CONCURRENCY ?? 32);
  const rounds = Number(process.env.PB_HTTP_BENCH_ROUNDS ?? 3);
  const child = fork(__filename, ['serve'], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(Number(m))));
  const url = `http://127.0.0.1:${port}/v1/authorizations`;

  const client = new OutboundClient({ timeoutMs: 10_000, connectTimeoutMs: 2_000, maxSockets: 64 });
  await client.warm(`http://127.0.0.1:${port}/`, concurrency);
  const outbound: OneRequest = (i) => client.send({ method: 'POST', url, headers: headers(i), body: body(i) });

  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const target = new URL(url);
  const bare: OneRequest = (i) =>
    new Promise((resolve, reject) => {
      const payload = body(i);
      const req = http.request(
        {
          hostname: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          agent,
          headers: { ...headers(i), 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  const variants: [string, OneRequest][] = [
    ['OutboundClient.send', outbound],
    ['bare http.request', bare],
  ];
  const undiciDir = process.env.PB_HTTP_BENCH_UNDICI;
  if (undiciDir) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const undici = require(undiciDir) as {
      Pool: new (
        origin: string,
        opts: Record<string, unknown>,
      ) => { request(o: Record<string, unknown>): Promise<{ statusCode: number; headers: unknown; body: { text(): Promise<string> } }> };
    };
    const pool = new undici.Pool(`http://127.0.0.1:${port}`, { connections: 64, connectTimeout: 2_000, headersTimeout: 10_000, bodyTimeout: 10_000 });
    variants.push([
      'undici Pool.request',
      async (i) => {
        const res = await pool.request({ method: 'POST', path: '/v1/authorizations', headers: headers(i), body: body(i) });
        return res.body.text();
      },
    ]);
  }
  // Warm every variant's JIT and pool first.
  for (const [, one] of variants) await run('(warm-up)', one, Math.min(2000, total), concurrency);
  const sums = new Map<string, number>();
  for (let round = 1; round <= rounds; round++) {
    say(`round ${round}`);
    for (const [name, one] of variants) sums.set(name, (sums.get(name) ?? 0) + (await run(name, one, total, concurrency)));
  }
  say('mean');
  for (const [name, sum] of sums) say(`${name.padEnd(28)} ${(sum / rounds).toFixed(1).padStart(7)} µs CPU/request`);
  client.close();
  agent.destroy();
  child.kill();
  process.exit(0);
}

void main();
