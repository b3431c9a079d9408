import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { AddressInfo, createServer } from 'node:net';
import path from 'node:path';
import http from 'node:http';
import axios, { AxiosInstance } from 'axios';
import { GatewayConfig } from '../../src/config/config';
import { GatewayRequest } from '../../src/gateways/gateway-adapter';
import { createOutboundHttp } from '../../src/http/axios-http';

/** A running Prism mock of one official spec from `test/fixtures/specs/`. */
export interface PrismMock {
  url: string;
  stop(): Promise<void>;
}

/**
 * Where the PSPs' official specs live: `$PB_SPECS_DIR`, else `test/fixtures/specs/` (copies kept in the
 * repo, with their sources in its README, so a clean clone tests against them).
 */
export function specPath(file: string): string {
  const dir = process.env.PB_SPECS_DIR ?? path.resolve(__dirname, '../fixtures/specs');
  return path.join(dir, file);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Where this jest run keeps the Prism servers its test files share, one per spec (`PB_TEST_RUN`, named by
 * the global setup; undefined outside jest). The global teardown stops them and removes it.
 */
export function sharedPrismDir(run = process.env.PB_TEST_RUN): string | undefined {
  return run ? path.join(os.tmpdir(), `pb-prism-${run}`) : undefined;
}

/**
 * A Prism mock of `specFile` (`prism mock --errors`: an invalid request gets a 4xx and the reasons are in
 * the `sl-violations` response header). Within a jest run the first test file that asks for a spec starts
 * it and the later ones reuse it: a big spec takes Prism 3 to 5 s to load on a quiet machine (more on a
 * loaded one), a dozen files ask for the same four specs, and a mock keeps no state between requests. Its
 * `stop()` then leaves it to the global teardown. Outside jest each call starts its own and `stop()` stops it.
 */
export async function startPrism(specFile: string, timeoutMs = 60000): Promise<PrismMock> {
  const dir = sharedPrismDir();
  if (dir === undefined) return spawnPrism(specFile, timeoutMs, undefined);
  mkdirSync(dir, { recursive: true });
  const record = path.join(dir, `${specFile}.url`);
  const url = await liveUrl(record);
  if (url !== undefined) return { url, stop: async () => undefined };
  const started = await spawnPrism(specFile, timeoutMs, dir);
  writeFileSync(record, started.url);
  return { url: started.url, stop: async () => undefined };
}

/** The URL a shared Prism was recorded at, if it still answers. */
async function liveUrl(record: string): Promise<string | undefined> {
  if (!existsSync(record)) return undefined;
  const url = readFileSync(record, 'utf8');
  const answered = await axios.get(url, { validateStatus: () => true, timeout: 5000 }).then(
    () => true,
    () => false,
  );
  return answered ? url : undefined;
}

/**
 * Starts `prism mock --errors` on a free loopback port and waits until it answers. Shared (`dir` given): in
 * its own process group with its output in a file, so it outlives the test file's jest worker (a pipe to a
 * gone reader would fail its request log), and its pid in `dir` for the teardown.
 */
async function spawnPrism(specFile: string, timeoutMs: number, dir: string | undefined): Promise<PrismMock> {
  const port = await freePort();
  const bin = path.resolve(__dirname, '../../node_modules/.bin/prism');
  const args = ['mock', '-h', '127.0.0.1', '-p', String(port), '--errors', specPath(specFile)];
  const logPath = dir === undefined ? undefined : path.join(dir, `${specFile}.${port}.log`);
  const logFd = logPath === undefined ? undefined : openSync(logPath, 'a');
  const child: ChildProcess = spawn(bin, args, {
    stdio: logFd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
    detached: dir !== undefined,
  });
  if (logFd !== undefined) closeSync(logFd);
  if (dir !== undefined) {
    if (child.pid !== undefined) writeFileSync(path.join(dir, `${child.pid}.pid`), String(child.pid));
    child.unref();
  }
  let piped = '';
  child.stdout?.on('data', (d: Buffer) => (piped += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (piped += d.toString()));
  const output = (): string => (logPath === undefined ? piped : readFileSync(logPath, 'utf8'));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`prism exited (${child.exitCode}): ${output().slice(-2000)}`);
    if (/Prism is listening/.test(output())) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!/Prism is listening/.test(output())) {
    child.kill('SIGKILL');
    throw new Error(`prism did not start within ${timeoutMs} ms: ${output().slice(-2000)}`);
  }
  // One request to be sure the HTTP side is up.
  await axios.get(url, { validateStatus: () => true, timeout: 5000 }).catch(() => undefined);
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

/** Stops the Prism servers this run's test files shared (see {@link startPrism}) and removes their directory. */
export function stopSharedPrisms(run = process.env.PB_TEST_RUN): void {
  const dir = sharedPrismDir(run);
  if (dir === undefined || !existsSync(dir)) return;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.pid'))) {
    const pid = Number(readFileSync(path.join(dir, file), 'utf8'));
    try {
      // Its process group: the prism CLI and anything it started.
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** One entry of Prism's `sl-violations` header. */
export interface PrismViolation {
  location: string[];
  code: string;
  message: string;
}

/**
 * The violations of the *request* in an `sl-violations` header (undefined when there are none). Prism also
 * reports its own canned responses breaking the spec's response schemas, which says nothing about what we
 * sent.
 */
export function requestViolations(header: string | undefined): PrismViolation[] | undefined {
  if (header === undefined) return undefined;
  const found = (JSON.parse(header) as PrismViolation[]).filter((v) => v.location[0] === 'request');
  return found.length > 0 ? found : undefined;
}

/** The suite's Prism, started in `beforeAll` and stopped in `afterAll` (see {@link usePrism}). Read its fields inside tests and hooks only. */
export interface PrismHandle {
  readonly url: string;
  readonly mock: PrismMock;
}

/**
 * Starts Prism for `specFile` before the tests of the calling suite (or `describe` block) and stops it after
 * them (a jest run's shared one is left running: see {@link startPrism}): the one place the start-up wait
 * and its jest hook timeout live. A big spec takes Prism 3-5 s to load
 * on a quiet machine and much longer on a loaded one, hence the generous defaults.
 * @param timeoutMs how long Prism may take to start, ms. Default 120000.
 */
export function usePrism(specFile: string, timeoutMs = 120_000): PrismHandle {
  let mock: PrismMock | undefined;
  beforeAll(async () => {
    mock = await startPrism(specFile, timeoutMs);
  }, timeoutMs + 10_000);
  afterAll(async () => {
    await mock?.stop();
  }, 30_000);
  const started = (): PrismMock => {
    if (!mock) throw new Error(`Prism for ${specFile} is not running (read it inside a test or hook)`);
    return mock;
  };
  return {
    get url() {
      return started().url;
    },
    get mock() {
      return started();
    },
  };
}

/** A gateway entry pointed at a Prism: the given fields over empty credentials, a 10 s timeout and 4 sockets. */
export function prismGateway(baseUrl: string, entry: Pick<GatewayConfig, 'name' | 'type'> & Partial<GatewayConfig>): GatewayConfig {
  return {
    apiKey: '',
    webhookSecret: '',
    webhookSecretPrevious: '',
    merchantAccount: '',
    merchantId: '',
    keyId: '',
    sharedSecret: '',
    reportUsername: '',
    reportPassword: '',
    reportBaseUrl: '',
    authorisationType: '',
    webhookPrivateKey: '',
    webhookKeyId: '',
    webhookKeyIdPrevious: '',
    timeoutMs: 10_000,
    maxSockets: 4,
    ...entry,
    baseUrl,
  };
}

/** What Prism answered a request: status, body, and the raw `sl-violations` header (see {@link requestViolations}). */
export interface PrismAnswer {
  status: number;
  body: string;
  violations: string | undefined;
}

/** The suite's Prism with a gateway entry and a pooled client pointed at it (see {@link usePrismGateway}). */
export interface PrismGatewayHandle extends PrismHandle {
  readonly gateway: GatewayConfig;
  /** Sends a built (authenticated) request to Prism as the gateway client would. */
  send(request: GatewayRequest): Promise<PrismAnswer>;
}

/**
 * {@link usePrism} plus the gateway entry (`prismGateway`) and an outbound client (`createOutboundHttp`, as
 * the gateway client builds it) for request-shape tests against an official spec; the client's sockets are
 * closed after the suite.
 */
export function usePrismGateway(
  specFile: string,
  entry: Pick<GatewayConfig, 'name' | 'type'> & Partial<GatewayConfig>,
  timeoutMs = 120_000,
): PrismGatewayHandle {
  const prism = usePrism(specFile, timeoutMs);
  let gateway: GatewayConfig | undefined;
  let client: AxiosInstance | undefined;
  beforeAll(() => {
    gateway = prismGateway(prism.url, entry);
    client = createOutboundHttp({ baseURL: gateway.baseUrl, timeoutMs: gateway.timeoutMs, maxSockets: gateway.maxSockets });
  });
  afterAll(() => {
    (client?.defaults.httpAgent as http.Agent | undefined)?.destroy();
  });
  return {
    get url() {
      return prism.url;
    },
    get mock() {
      return prism.mock;
    },
    get gateway() {
      if (!gateway) throw new Error(`no gateway for ${specFile} yet (read it inside a test or hook)`);
      return gateway;
    },
    async send(request: GatewayRequest): Promise<PrismAnswer> {
      if (!client) throw new Error(`no client for ${specFile} yet (send inside a test or hook)`);
      const res = await client.request<string>({ method: request.method, url: request.path, headers: request.headers, data: request.body });
      const violations = res.headers['sl-violations'];
      return { status: res.status, violations: typeof violations === 'string' ? violations : undefined, body: res.data };
    },
  };
}
