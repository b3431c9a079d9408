/**
 * The floor of the bridge's flow shape on this machine: what the cheapest possible worker reaches when it does only
 * the round trips one command needs and nothing else (no parsing beyond JSON, no validation, no ledger logic, no
 * logging, no metrics), next to the raw AMQP baseline measured in the same run, to say how far the "end to end at
 * least 20 % of raw AMQP" target of the bench is reachable by any Node worker of this shape.
 *
 * Each message (a 600-byte command, persistent, published with confirms as the bench publishes) is consumed by one
 * worker process (prefetch 200) that: runs `redisRoundTrips` tiny Lua scripts on the local Redis (the bridge makes 4
 * round trips a command: record, outcome, event, delivered; the "1" row is a lower bound), POSTs the command to a PSP
 * stand-in and the outcome to a bus stand-in (one HTTP server process, keep-alive, undici as the bridge uses), then
 * acks. Rows: the raw AMQP baseline (publish+confirm, consume+ack), the floor with 1 and with 4 Redis round trips.
 * Prints messages/s, the ratio to raw, and CPU per message of every process. It asserts nothing.
 *
 * Run: `node dist/harness/bench/flow-floor-bench.js` (PB_FLOOR_MESSAGES, default 20000; needs the local RabbitMQ and
 * Redis of scripts/services.sh).
 */
import { ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import amqplib from 'amqplib';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { commandSizedBody, publishConfirmed, rawAmqpBaseline } from './raw-amqp-baseline';
import { pidListeningOn, processCpuMicros } from './process-cpu';

const AMQP_URL = process.env.PB_AMQP_URL ?? 'amqp://127.0.0.1:5672';
const REDIS_URL = process.env.PB_REDIS_URL ?? 'redis://127.0.0.1:6379';
const say = (line = '') => process.stdout.write(`${line}\n`);

/** A record write of the size a command's is: a hash of a few fields and an index entry, in one script. */
const SCRIPT = `redis.call('HSET', KEYS[1], 'state', ARGV[1], 'body', ARGV[2]) redis.call('ZADD', KEYS[2], ARGV[3], KEYS[1]) return 1`;

/** Role: the PSP and bus stand-in, one HTTP server answering every POST with a small JSON body. */
function standIn(): void {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"AUTHORIZED","id":"psp_ref_0123456789"}');
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
}

/** Role: the floor worker. */
async function worker(queue: string, port: number, roundTrips: number, prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  const sha = String(await redis.script('LOAD', SCRIPT));
  const agent = new Agent({ connections: 256, keepAliveTimeout: 60_000 });
  const connection = await amqplib.connect(AMQP_URL);
  const channel = await connection.createChannel();
  await channel.prefetch(200);
  const post = async (path: string, body: string): Promise<void> => {
    const res = await request(`http://127.0.0.1:${port}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
    await res.body.text();
  };
  let n = 0;
  await channel.consume(queue, (msg) => {
    if (!msg) return;
    void (async () => {
      const command = JSON.parse(msg.content.toString('utf8')) as { pad: string };
      const id = `${prefix}op:${n++}`;
      for (let i = 0; i < roundTrips; i += 1) await redis.evalsha(sha, 2, id, `${prefix}index`, `s${i}`, command.pad.slice(0, 64), Date.now());
      await post('/psp/payments', msg.content.toString('utf8'));
      await post('/bus/delegate', JSON.stringify({ id, status: 'SUCCESS' }));
      channel.ack(msg);
    })();
  });
  process.send?.({ ready: true });
}

interface Row {
  label: string;
  perS: number;
  cpu: Record<string, number>;
}

function start(role: string, args: string[]): ChildProcess {
  return fork(__filename, [role, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function message<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve) => child.once('message', (m) => resolve(m as T)));
}

async function floorRow(label: string, messages: number, roundTrips: number, port: number, standInPid: number | undefined): Promise<Row> {
  const queue = `pb-floor-${randomBytes(4).toString('hex')}`;
  const prefix = `pbfloor-${randomBytes(4).toString('hex')}:`;
  const connection = await amqplib.connect(AMQP_URL);
  const channel = await connection.createConfirmChannel();
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
  const child = start('worker', [queue, String(port), String(roundTrips), prefix]);
  await message(child);
  const body = commandSizedBody(600);
  // Warm-up: JIT, connections.
  await publishConfirmed(channel, queue, body, 2000, 500);
  while ((await channel.checkQueue(queue)).messageCount > 0) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  const pids: Record<string, number | undefined> = {
    worker: child.pid,
    'stand-in': standInPid,
    bench: process.pid,
    rabbitmq: pidListeningOn(Number(new URL(AMQP_URL).port || 5672)) ?? undefined,
    redis: pidListeningOn(Number(new URL(REDIS_URL).port || 6379)) ?? undefined,
  };
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processCpuMicros(pid) ?? 0]));
  const started = performance.now();
  await publishConfirmed(channel, queue, body, messages, 500);
  // Drained when the queue is empty and nothing is unacked.
  for (;;) {
    const q = await channel.checkQueue(queue);
    if (q.messageCount === 0) {
      await new Promise((r) => setTimeout(r, 20));
      const again = await channel.checkQueue(queue);
      if (again.messageCount === 0) break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, ((processCpuMicros(pid) ?? 0) - before[k]) / messages]));
  child.kill('SIGKILL');
  await channel.deleteQueue(queue);
  await connection.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  redis.disconnect();
  return { label, perS: messages / seconds, cpu };
}

async function main(): Promise<void> {
  const messages = Number(process.env.PB_FLOOR_MESSAGES ?? 20_000);
  const standInChild = start('stand-in', []);
  const { port } = await message<{ port: number }>(standInChild);
  try {
    const raw = await rawAmqpBaseline({ url: AMQP_URL, queue: `pb-floor-raw-${randomBytes(4).toString('hex')}`, messages });
    const rows: Row[] = [];
    for (const trips of [1, 4]) {
      rows.push(await floorRow(`floor worker: ${trips} Redis round trip${trips > 1 ? 's' : ''}, 2 HTTP POSTs`, messages, trips, port, standInChild.pid));
    }
    say(`Flow floor on this machine (${messages} messages of 600 B each, 1 worker process, prefetch 200, classic queue)`);
    const header = ['flow', 'messages/s', 'of raw AMQP', 'CPU per message: worker / RabbitMQ / Redis / stand-in / bench (publisher) = all'];
    const µs = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '?' : v.toFixed(0));
    const table = [
      [`raw AMQP (publish+confirm → consume+ack)`, raw.perSecond.toFixed(0), '100 %', 'n/a'],
      ...rows.map((r) => [
        r.label,
        r.perS.toFixed(0),
        `${((100 * r.perS) / raw.perSecond).toFixed(1)} %`,
        `${µs(r.cpu.worker)} / ${µs(r.cpu.rabbitmq)} / ${µs(r.cpu.redis)} / ${µs(r.cpu['stand-in'])} / ${µs(r.cpu.bench)} = ${µs(
          Object.values(r.cpu).reduce((a, b) => a + b, 0),
        )} µs`,
      ]),
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
    say(line(header));
    say(line(widths.map((w) => '─'.repeat(w))));
    for (const t of table) say(line(t));
  } finally {
    standInChild.kill('SIGKILL');
  }
}

const [role, ...args] = process.argv.slice(2);
if (role === 'stand-in') standIn();
else if (role === 'worker') void worker(args[0], Number(args[1]), Number(args[2]), args[3]);
else
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
