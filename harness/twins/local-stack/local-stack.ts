import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import amqplib from 'amqplib';
import { stringify } from 'yaml';
import { Config } from '../../../src/config/config';
import { buildConfig } from '../../../src/config/load-config';
import { brokerRejectedQueueOf, triageQueueOf } from '../../../src/amqp/topology';
import { priorityExchangeOf, priorityQueueOf } from '../../../src/admission/command-priority';
import { BusTwin, startBusTwin } from '../bus-twin/bus-twin';
import { PspSimulator, PspSimulatorOptions, startPspSimulator } from '../psp-simulator/psp-simulator';
import { RoleProcess, spawnRole } from './role-process';
import { BusTwinProcess, SimulatorProcess, startBusTwinProcess, startSimulatorProcess } from '../twin-processes/twin-processes';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { createRedis } from '../../../src/redis/redis-connection';
import { ensureLocalRedisCluster, localRedisParameters } from './local-redis';

/** What to run. */
export interface LocalStackOptions {
  /** Prefix of every Redis key and AMQP name of this stack, so stacks never collide. */
  namespace: string;
  /** Worker processes to start. Default 1. */
  workers?: number;
  /** Where parameters.yml and the processes' logs go. Default: a fresh temporary directory. */
  dir?: string;
  /** Simulator options (faults, async rate, seed); URL, keys and webhook target are set by the stack. */
  simulator?: Omit<PspSimulatorOptions, 'apiKey' | 'webhookUrl' | 'webhookSecret' | 'port' | 'host'>;
  /** More `parameters:` keys (flat, dotted), e.g. a short poller schedule. */
  parameters?: Record<string, unknown>;
  /** Run `payment-bridge register` once the web process is up. Default true. */
  register?: boolean;
  /** AMQP and Redis URLs. Defaults: the local servers of scripts/services.sh. */
  amqpUrl?: string;
  redisUrl?: string;
  /** Give each worker a monitoring port (`--monitoring-port`, /metrics /healthz /readyz). Default false. */
  monitoring?: boolean;
  /** Node options for every role process (e.g. the bench's allocation probe preload). Default none. */
  roleNodeArgs?: string[];
  /** How long a role process may take to report ready, ms. Default `PB_ROLE_READY_TIMEOUT_MS`, else 30 000. */
  readyTimeoutMs?: number;
  /**
   * Run the bus twin and the simulator each in a child process of its own (`twin-processes.ts`, built
   * harness only) instead of in this one: the bench, whose publisher and measurements should not share an
   * event loop and a heap (GC pauses) with them. The stack's `busTwin` and `simulator` are then the
   * narrower {@link BusTwinProcess} and {@link SimulatorProcess}. Default false.
   */
  twinProcesses?: boolean;
}

/** The twins of a stack: in this process (default), or each in a child process (`twinProcesses: true`). */
export type InProcessTwins = { busTwin: BusTwin; simulator: PspSimulator };
export type ChildProcessTwins = { busTwin: BusTwinProcess; simulator: SimulatorProcess };

/** A running stack: the twins (in this process unless `twinProcesses`), the bridge's roles as real child processes. */
export interface LocalStack<T extends InProcessTwins | ChildProcessTwins = InProcessTwins> {
  readonly dir: string;
  readonly configPath: string;
  readonly config: Config;
  readonly busTwin: T['busTwin'];
  readonly simulator: T['simulator'];
  /** The first `web` process (a new one after {@link restartWeb}). */
  readonly web: RoleProcess;
  readonly workers: RoleProcess[];
  /** Our intake URL, as registered with the bus twin. */
  readonly intakeUrl: string;
  /** The bus secret commands are signed with. */
  readonly busSecret: string;
  /** Starts one more worker process and waits until it consumes. */
  startWorker(): Promise<RoleProcess>;
  /**
   * Starts one more `web` process on a port of its own (same configuration otherwise: intake, webhooks) and
   * waits until it serves; resolves with it and its intake URL. Spreading requests over the web processes
   * is the caller's job, as a load balancer's would be. Stopped with the stack.
   */
  startWeb(): Promise<{ web: RoleProcess; intakeUrl: string }>;
  /**
   * Starts a new first `web` process on its port, once the current one has exited (a drill killed it: call
   * `web.kill` first), and waits until it serves; `web` names it from then on. Its output goes on in web.log.
   */
  restartWeb(): Promise<RoleProcess>;
  /** The web processes started by {@link startWeb} (the first `web` is not in it). */
  readonly extraWebs: RoleProcess[];
  /** A worker's `/metrics` endpoint as `host:port` when the stack runs with `monitoring: true`. */
  monitoringTargetOf(role: RoleProcess): string | undefined;
  /** Runs a one-shot CLI command (`register`, `poll`, `doctor`…) and returns its exit code and output. */
  runCli(args: string[]): Promise<{ code: number; output: string }>;
  /** Stops the processes (SIGTERM), then the twins; `purge` also deletes the namespace's keys and queues. */
  stop(options?: { purge?: boolean }): Promise<void>;
  /**
   * Every `/metrics` endpoint of the stack as `host:port` (a Prometheus scrape target): the web process, and
   * each worker started with a monitoring port (`monitoring: true`). Grows as workers start.
   */
  readonly metricsTargets: string[];
}

/** The project root: the nearest directory above this file holding package.json (works from src and dist). */
export function projectRoot(from = __dirname): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

/** A TCP port nobody listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  // 20000-24999: below Linux's ephemeral range (32768-60999 by default), clear of RabbitMQ's 25672 and the
  // local clusters' ports. A port `listen(0)` hands out comes from the ephemeral range, where the kernel may
  // give it to an outgoing connection before the child process binds it (EADDRINUSE on a busy machine);
  // here only another listener can take it.
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = 20000 + Math.floor(Math.random() * 5000);
    if (await bindable(port)) return port;
  }
  return listenedPort(0);
}

/** Whether `port` on 127.0.0.1 can be bound now. */
async function bindable(port: number): Promise<boolean> {
  return listenedPort(port).then(
    () => true,
    () => false,
  );
}

/** Binds `port` (0: any) on 127.0.0.1, closes it, and resolves with the port it had. */
function listenedPort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const address = srv.address();
      const bound = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(bound));
    });
  });
}

/**
 * Starts the whole flow on local twins: the bus twin and the PSP simulator in this process, and the
 * bridge's `web` and `worker` roles as child processes of the built CLI (`dist/src/cli.js`, so
 * `npm run build` first), configured by a generated parameters.yml. Used by the end-to-end tests, the demo
 * and the benchmarks.
 */
export async function startLocalStack(options: LocalStackOptions & { twinProcesses: true }): Promise<LocalStack<ChildProcessTwins>>;
export async function startLocalStack(options: LocalStackOptions & { twinProcesses?: false }): Promise<LocalStack>;
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack<InProcessTwins | ChildProcessTwins>>;
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack<InProcessTwins | ChildProcessTwins>> {
  const root = projectRoot();
  const cliPath = join(root, 'dist', 'src', 'cli.js');
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'npm run build' first`);
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `pb-${options.namespace}-`));
  mkdirSync(dir, { recursive: true });
  const secret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;
  const busSecret = secret('bus');
  const momClientSecret = secret('mom');
  const simApiKey = secret('sim-key');
  const simWebhookSecret = secret('sim-whsec');

  const busOptions = { clientId: 'payment-bridge', clientSecret: momClientSecret };
  const busTwin = options.twinProcesses ? await startBusTwinProcess(busOptions) : await startBusTwin(busOptions);
  const webPort = await freePort();
  const simulatorOptions: PspSimulatorOptions = {
    ...options.simulator,
    apiKey: simApiKey,
    webhookSecret: simWebhookSecret,
    webhookUrl: `http://127.0.0.1:${webPort}/webhooks/simulator`,
  };
  const simulator = await (options.twinProcesses ? startSimulatorProcess(simulatorOptions) : startPspSimulator(simulatorOptions)).catch(
    async (err: unknown) => {
      await busTwin.stop();
      throw err;
    },
  );
  const ns = options.namespace;
  ensureLocalRedisCluster();
  const parameters: Record<string, unknown> = {
    'service_bus.url': busTwin.url,
    'service_bus.endpoint_name': `payment-bridge-${ns}`,
    'service_bus.secret': busSecret,
    'service_bus.public_url': `http://127.0.0.1:${webPort}/bus`,
    'mom_client.client_id': 'payment-bridge',
    'mom_client.client_secret': momClientSecret,
    'mom_client.oauth_server_url': busTwin.url,
    'amqp.url': options.amqpUrl ?? process.env.PB_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    'amqp.exchange.commands': `${ns}.commands`,
    'amqp.queue.commands': `${ns}:payment:command`,
    'amqp.exchange.dead_letter': `${ns}.dead-letter`,
    'amqp.queue.dead_letter': `${ns}:payment:dead-letter`,
    'amqp.queue.type': 'classic',
    // The drills and tests read dead letters in the queue itself: the workers leave it there (a test of the archiving sets it).
    'amqp.dead_letter_archive_interval_ms': 0,
    // PB_REDIS_CLUSTER=1: the local Redis Cluster (local-redis.ts), started here when it is not running.
    ...localRedisParameters(options.redisUrl ?? process.env.PB_REDIS_URL ?? 'redis://127.0.0.1:6379'),
    'redis.key_prefix': `${ns}:`,
    'http.host': '127.0.0.1',
    'http.port': webPort,
    'log.level': 'info',
    // Everything runs on loopback http (twins, simulator, Prism): development only.
    'security.allow_insecure_http': true,
    // Each publishing channel signs with its own key (the workload's publishers read them from the config).
    'channels.credentials': {
      web: [{ key_id: `web-${ns}`, secret: secret('channel-web') }],
      pos: [{ key_id: `pos-${ns}`, secret: secret('channel-pos') }],
      marketplace: [{ key_id: `marketplace-${ns}`, secret: secret('channel-marketplace') }],
    },
    ...options.parameters,
    gateways: {
      // Extra gateways a caller (a demo scene) configures beside the simulator, e.g. a failover candidate.
      ...((options.parameters?.gateways as Record<string, unknown> | undefined) ?? {}),
      simulator: { type: 'simulator', base_url: simulator.url, api_key: simApiKey, webhook_secret: simWebhookSecret, timeout_ms: 2000 },
    },
  };
  const config = buildConfig(parameters);
  const configPath = join(dir, 'parameters.yml');
  writeFileSync(configPath, stringify({ parameters }), { mode: 0o600 });

  const nodeArgs = options.roleNodeArgs ?? [];
  // Unset: spawnRole's default (PB_ROLE_READY_TIMEOUT_MS, else 30 s).
  const readyTimeoutMs = options.readyTimeoutMs;
  const spawnWeb = () => spawnRole({ name: 'web', cliPath, configPath, args: ['web'], logPath: join(dir, 'web.log'), nodeArgs, readyTimeoutMs });
  let web = spawnWeb();
  const restartWeb = async (): Promise<RoleProcess> => {
    // Its port must be free again: the old process gone, not merely signalled.
    await web.exited;
    web = spawnWeb();
    await web.ready;
    return web;
  };
  const extraWebs: RoleProcess[] = [];
  const monitoringTargets = new Map<RoleProcess, string>();
  const startWeb = async (): Promise<{ web: RoleProcess; intakeUrl: string }> => {
    const n = extraWebs.length + 2;
    const port = await freePort();
    const path = join(dir, `parameters-web-${n}.yml`);
    writeFileSync(path, stringify({ parameters: { ...parameters, 'http.port': port } }), { mode: 0o600 });
    const extra = spawnRole({ name: `web-${n}`, cliPath, configPath: path, args: ['web'], logPath: join(dir, `web-${n}.log`), nodeArgs, readyTimeoutMs });
    extraWebs.push(extra);
    await extra.ready;
    return { web: extra, intakeUrl: `http://127.0.0.1:${port}/bus` };
  };
  const workers: RoleProcess[] = [];
  const metricsTargets: string[] = [`127.0.0.1:${webPort}`];
  let workerCount = 0;
  const startWorker = async (): Promise<RoleProcess> => {
    workerCount += 1;
    // Named before the first await: workers started together would otherwise all take the last number
    // (one log file, one entry in every per-process table).
    const name = `worker-${workerCount}`;
    const monitoringPort = options.monitoring ? await freePort() : 0;
    const args = monitoringPort > 0 ? ['worker', '--monitoring-port', String(monitoringPort)] : ['worker'];
    if (monitoringPort > 0) metricsTargets.push(`127.0.0.1:${monitoringPort}`);
    const worker = spawnRole({
      name,
      cliPath,
      configPath,
      args,
      logPath: join(dir, `${name}.log`),
      nodeArgs,
      readyTimeoutMs,
    });
    if (monitoringPort > 0) monitoringTargets.set(worker, `127.0.0.1:${monitoringPort}`);
    workers.push(worker);
    await worker.ready;
    return worker;
  };
  const runCli = (args: string[]) =>
    new Promise<{ code: number; output: string }>((resolve) => {
      const child = spawn(process.execPath, [cliPath, '--config', configPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
      child.once('exit', (code) => resolve({ code: code ?? 1, output }));
    });

  const stop = async (stopOptions: { purge?: boolean } = {}) => {
    await Promise.all([web, ...extraWebs, ...workers].map((p) => p.kill('SIGTERM')));
    await simulator.stop();
    await busTwin.stop();
    if (stopOptions.purge) await purgeNamespace(config);
  };

  try {
    await Promise.all([web.ready, ...Array.from({ length: options.workers ?? 1 }, () => startWorker())]);
    if (options.register ?? true) {
      const result = await runCli(['register']);
      if (result.code !== 0) throw new Error(`register failed (${result.code}): ${result.output.trim()}`);
    }
  } catch (err) {
    await stop({ purge: true }).catch(() => undefined);
    throw err;
  }
  return {
    dir,
    configPath,
    config,
    busTwin,
    simulator,
    get web() {
      return web;
    },
    workers,
    intakeUrl: `http://127.0.0.1:${webPort}/bus`,
    busSecret,
    startWorker,
    startWeb,
    restartWeb,
    extraWebs,
    monitoringTargetOf: (role) => monitoringTargets.get(role),
    runCli,
    stop,
    metricsTargets,
  };
}

/** Deletes a namespace's Redis keys and AMQP exchanges and queues (tests and demo runs clean up after themselves). */
export async function purgeNamespace(config: Config): Promise<void> {
  const redis = createRedis(config.redis, 'commands');
  redis.on('error', () => undefined);
  try {
    await unlinkMatching(redis, `${config.redis.keyPrefix}*`);
  } finally {
    redis.disconnect();
  }
  const connection = await amqplib.connect(config.amqp.url);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(config.amqp.commandsQueue);
    await channel.deleteQueue(config.amqp.deadLetterQueue);
    await channel.deleteQueue(brokerRejectedQueueOf(config.amqp));
    await channel.deleteQueue(triageQueueOf(config.amqp));
    await channel.deleteQueue(priorityQueueOf(config.amqp));
    await channel.deleteExchange(config.amqp.commandsExchange);
    await channel.deleteExchange(config.amqp.deadLetterExchange);
    await channel.deleteExchange(priorityExchangeOf(config.amqp));
    await channel.close();
  } finally {
    await connection.close();
  }
}
