import { createRedis } from '../../../src/redis/redis-connection';
import { LeaseHolder } from '../../../src/leases/lease-holder';
import { presenceOf } from '../../../src/fleet/process-presence';
import { releaseIdentity, releaseName } from '../../../src/fleet/release-identity';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import net, { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { MAX_ACCESS_TOKEN_CHARS } from '../../../src/bus/bus-text';
import { readTokenAnswer } from '../../../src/bus/oauth-token-provider';
import { runDoctor } from '../../../src/doctor/doctor';
import { silentLogger } from '../../../src/logging/logger';
import { requiredCredentials } from '../../support/gateway-credentials';
import { testConfig } from '../../support/test-config';
import { blackHole } from '../../support/black-hole';
import { startConnectProxy } from '../http/connect-proxy';
import { makeSelfSignedCert } from '../http/tls-cert';

const CLIENT_ID = 'mom-doctor-client';
const CLIENT_SECRET = 'mom-doctor-secret-xyz';
const SIM_KEY = 'sim_key_0123456789';
const ADYEN_KEY = 'adyen-doctor-key-0123456789';
const GOOD_TOKEN_ANSWER = '{"access_token":"tok-should-never-be-printed","token_type":"Bearer","expires_in":3600}';
/** What the OAuth server answers valid credentials with (a test may change it; reset before each). */
let tokenAnswer = GOOD_TOKEN_ANSWER;
/** Where the OAuth server reads the client credentials (RFC 6749 §2.3.1), and the secret it expects; reset before each. */
let oauthReads: 'header' | 'body' = 'header';
let oauthSecret = CLIENT_SECRET;

/** RFC 6749 §2.3.1: Basic credentials are form-encoded first (a space as `+`, `!` as `%21`). */
function formEncoded(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

interface Local {
  url: string;
  port: number;
  paths: string[];
  close: () => Promise<void>;
}

async function listen(server: http.Server | https.Server, scheme: 'http' | 'https', paths: string[]): Promise<Local> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** OAuth server, bus and simulator in one: answers what the doctor asks of each. */
function handler(paths: string[]): http.RequestListener {
  return (req, res) => {
    paths.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method === 'OPTIONS' && req.url === '/bus') {
        res.writeHead(200, { 'X-Magento-Service-Bus': '*', Allow: 'OPTIONS, POST', 'content-length': '0' });
        res.end();
        return;
      }
      if (req.url === '/oauth/token') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const accepted =
          oauthReads === 'header'
            ? req.headers.authorization === `Basic ${Buffer.from(`${formEncoded(CLIENT_ID)}:${formEncoded(oauthSecret)}`).toString('base64')}`
            : req.headers.authorization === undefined && form.get('client_id') === CLIENT_ID && form.get('client_secret') === oauthSecret;
        if (!accepted) {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end('{"error":"invalid_client"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(tokenAnswer);
        return;
      }
      if (req.url === '/paymentMethods') {
        res.writeHead(req.headers['x-api-key'] === ADYEN_KEY ? 200 : 401, { 'content-type': 'application/json' });
        res.end('{"paymentMethods":[]}');
        return;
      }
      if (req.url === '/_control/counters') {
        res.writeHead(req.headers.authorization === `Bearer ${SIM_KEY}` ? 200 : 401, { 'content-type': 'application/json' });
        res.end('{}');
        return;
      }
      res.writeHead(404);
      res.end();
    });
  };
}

async function startHttp(): Promise<Local> {
  const paths: string[] = [];
  return listen(http.createServer(handler(paths)), 'http', paths);
}

async function startHttps(options: https.ServerOptions): Promise<Local> {
  const paths: string[] = [];
  return listen(https.createServer(options, handler(paths)), 'https', paths);
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function capture(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    out: new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString('utf8'));
        done();
      },
    }),
    text: () => chunks.join(''),
  };
}

/** The report's row for `check` and `target`, split into its columns. */
function row(report: string, check: string, target: string): { status: string; detail: string } {
  const line = report.split('\n').find((l) => l.startsWith(`${check} `) && l.includes(` ${target} `));
  if (!line) throw new Error(`no row ${check} / ${target} in:\n${report}`);
  const match = / (OK|WARN|FAIL|SKIP)(?: +(.*))?$/.exec(line);
  return { status: match?.[1] ?? '', detail: match?.[2] ?? '' };
}

/** Every row of one check and target, in report order. */
function rows(report: string, check: string, target: string): Array<{ status: string; detail: string }> {
  return report
    .split('\n')
    .filter((l) => l.startsWith(`${check} `) && l.includes(` ${target} `))
    .map((line) => {
      const match = / (OK|WARN|FAIL|SKIP)(?: +(.*))?$/.exec(line);
      return { status: match?.[1] ?? '', detail: match?.[2] ?? '' };
    });
}

let local: Local;
const cleanups: Array<() => Promise<void>> = [];

beforeEach(async () => {
  tokenAnswer = GOOD_TOKEN_ANSWER;
  oauthReads = 'header';
  oauthSecret = CLIENT_SECRET;
  local = await startHttp();
  cleanups.push(local.close);
});

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function config(gateways: Record<string, unknown>, overrides: Record<string, unknown> = {}): ReturnType<typeof testConfig> {
  return testConfig({
    'service_bus.url': local.url,
    'mom_client.oauth_server_url': local.url,
    'mom_client.client_id': CLIENT_ID,
    'mom_client.client_secret': CLIENT_SECRET,
    'service_bus.public_url': `${local.url}/bus`,
    gateways,
    ...overrides,
  });
}

describe('runDoctor', () => {
  it('passes against reachable plain http dependencies with valid credentials and prints an aligned table', async () => {
    const { out, text } = capture();
    const cfg = config({
      sim: { type: 'simulator', base_url: local.url, api_key: SIM_KEY },
      adyen: { type: 'adyen', base_url: local.url, api_key: ADYEN_KEY, merchant_account: 'AcmeEU' },
    });

    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000 });

    const report = text();
    expect(code).toBe(0);
    expect(row(report, 'config', 'parameters').status).toBe('OK');
    for (const target of ['gateway sim', 'gateway adyen', 'bus', 'oauth']) {
      expect(row(report, 'dns', target).status).toBe('OK');
      expect(row(report, 'tcp', target).status).toBe('OK');
    }
    expect(row(report, 'credentials', 'gateway sim').status).toBe('OK');
    expect(row(report, 'credentials', 'gateway adyen')).toEqual({ status: 'OK', detail: 'POST /paymentMethods accepted the API key and merchant account' });
    // No Basic credentials: its webhooks are verified by their HMAC alone, which the doctor says (a WARN, exit 0).
    expect(row(report, 'config', 'gateways.adyen.key_id')).toEqual({ status: 'WARN', detail: expect.stringContaining('HMAC signature alone') });
    expect(row(report, 'credentials', 'bus').status).toBe('OK');
    expect(local.paths).toEqual(expect.arrayContaining(['POST /oauth/token', 'GET /_control/counters', 'POST /paymentMethods']));
    // Aligned: the RESULT column starts at the same offset on every row.
    const lines = report.split('\n').filter((l) => / (OK|WARN|FAIL|SKIP|RESULT)( |$)/.test(l));
    const offsets = new Set(lines.map((l) => l.search(/ (OK|WARN|FAIL|SKIP|RESULT)( |$)/)));
    expect(offsets.size).toBe(1);
    expect(report).not.toContain('tok-should-never-be-printed');
    expect(report).not.toContain(CLIENT_SECRET);
    expect(report).not.toContain(SIM_KEY);
    expect(report).not.toContain(ADYEN_KEY);
  });

  it('fails when a gateway port is unreachable', async () => {
    const { out, text } = capture();
    const port = await closedPort();
    const cfg = config({ down: { type: 'stripe', base_url: `http://127.0.0.1:${port}`, api_key: 'sk_test_x' } });

    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000 });

    expect(code).toBe(1);
    expect(row(text(), 'tcp', 'gateway down')).toEqual({ status: 'FAIL', detail: `127.0.0.1:${port}: ECONNREFUSED` });
  });

  it('fails when the OAuth server refuses the client credentials, naming the OAuth error but not the secret', async () => {
    const { out, text } = capture();
    const cfg = config({}, { 'mom_client.client_secret': 'wrong-secret-value' });

    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000 });

    expect(code).toBe(1);
    expect(row(text(), 'credentials', 'bus')).toEqual({
      status: 'FAIL',
      detail: `the OAuth server at ${local.url}/oauth/token refused the client credentials (HTTP 401 invalid_client): check mom_client.client_id and mom_client.client_secret`,
    });
    expect(text()).not.toContain('wrong-secret-value');
  });

  it.each([
    ['a line break in the token', { access_token: 'tok-never-printed\r\nX-Injected: 1', token_type: 'Bearer', expires_in: 3600 }],
    ['a token longer than 16 KiB', { access_token: `tok-never-printed-${'t'.repeat(MAX_ACCESS_TOKEN_CHARS)}`, token_type: 'Bearer' }],
    ['no access_token', { token_type: 'Bearer', expires_in: 3600 }],
    ['a DPoP token', { access_token: 'tok-never-printed', token_type: 'DPoP', expires_in: 3600 }],
    ['a token_type that is no type name', { access_token: 'tok-never-printed', token_type: 'tok-never-printed', expires_in: 3600 }],
  ])('fails an HTTP 200 token answer the bus client refuses (%s), with the bus client’s reason', async (_name, answer) => {
    tokenAnswer = JSON.stringify(answer);
    const { out, text } = capture();
    const code = await runDoctor(config({}), { logger: silentLogger(), out, timeoutMs: 2000, infrastructure: false });

    let productReason = '';
    try {
      readTokenAnswer({ status: 200, body: tokenAnswer, headers: {} }, `${local.url}/oauth/token`);
    } catch (err) {
      productReason = (err as Error).message;
    }
    expect(productReason).not.toBe('');
    expect(code).toBe(1);
    expect(row(text(), 'credentials', 'bus')).toEqual({ status: 'FAIL', detail: productReason });
    expect(text()).not.toContain('tok-never-printed');
  });

  it.each([
    ['without token_type (many servers omit it)', { access_token: 'tok-never-printed', expires_in: 3600 }],
    ['with token_type bearer in lower case', { access_token: 'tok-never-printed', token_type: 'bearer', expires_in: 3600 }],
  ])('passes a token answer %s', async (_name, answer) => {
    tokenAnswer = JSON.stringify(answer);
    const { out, text } = capture();
    const code = await runDoctor(config({}), { logger: silentLogger(), out, timeoutMs: 2000, infrastructure: false });
    expect(row(text(), 'credentials', 'bus')).toEqual({ status: 'OK', detail: `token issued to client ${CLIENT_ID}` });
    expect(code).toBe(0);
  });

  it('fails a token of another type than Bearer, naming token_type', async () => {
    tokenAnswer = JSON.stringify({ access_token: 'tok-never-printed', token_type: 'mac', expires_in: 3600 });
    const { out, text } = capture();
    const code = await runDoctor(config({}), { logger: silentLogger(), out, timeoutMs: 2000, infrastructure: false });
    expect(code).toBe(1);
    const bus = row(text(), 'credentials', 'bus');
    expect(bus.status).toBe('FAIL');
    expect(bus.detail).toContain('answered with token_type "mac", not Bearer');
    expect(text()).not.toContain('tok-never-printed');
  });

  it.each([
    ['in the form when mom_client.client_auth is body', 'body', CLIENT_SECRET],
    ['form-encoded in the Basic header (a secret with spaces and punctuation)', 'header', "it's a (new) secret!~*"],
  ])('sends the client credentials as the bus client does: %s', async (_name, reads, secret) => {
    oauthReads = reads as 'header' | 'body';
    oauthSecret = secret;
    const { out, text } = capture();
    const cfg = config({}, { 'mom_client.client_secret': secret, 'mom_client.client_auth': reads });
    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000, infrastructure: false });

    expect(row(text(), 'credentials', 'bus')).toEqual({ status: 'OK', detail: `token issued to client ${CLIENT_ID}` });
    expect(code).toBe(0);
  });

  it('never sends a credential over http:// without security.allow_insecure_http: FAIL with the fix instead', async () => {
    const { out, text } = capture();
    const loaded = config({ sim: { type: 'simulator', base_url: local.url, api_key: SIM_KEY } });
    // The simulator may be http without the flag; the bus and OAuth URLs only reach the doctor this way
    // if the loader's refusal is bypassed: the doctor holds the line on its own.
    const cfg = { ...loaded, security: { allowInsecureHttp: false } };

    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000 });

    expect(code).toBe(1);
    expect(local.paths).not.toContain('POST /oauth/token');
    expect(local.paths).not.toContain('GET /_control/counters');
    const bus = row(text(), 'credentials', 'bus');
    expect(bus.status).toBe('FAIL');
    expect(bus.detail).toContain('mom_client.oauth_server_url is http://');
    expect(bus.detail).toContain('security.allow_insecure_http');
    const sim = row(text(), 'credentials', 'gateway sim');
    expect(sim.status).toBe('FAIL');
    expect(sim.detail).toContain('gateways.sim.base_url is http://');
    // Reachability is still reported.
    expect(row(text(), 'tcp', 'gateway sim').status).toBe('OK');
  });

  it('warns about a trusted certificate that expires within 30 days and still exits 0', async () => {
    const cert = makeSelfSignedCert(10);
    const server = await startHttps({ cert: cert.cert, key: cert.key });
    cleanups.push(server.close);
    const { out, text } = capture();
    const cfg = config({ psp: { type: 'adyen', base_url: server.url, api_key: ADYEN_KEY, merchant_account: 'AcmeEU' } });

    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000, ca: cert.cert });

    const report = text();
    expect(code).toBe(0);
    expect(row(report, 'tls-version', 'gateway psp').status).toBe('OK');
    expect(row(report, 'certificate', 'gateway psp').status).toBe('OK');
    expect(row(report, 'cert-expiry', 'gateway psp').status).toBe('WARN');
    expect(row(report, 'cert-expiry', 'gateway psp').detail).toMatch(/^expires in (9|10) day\(s\)/);
    expect(row(report, 'hostname', 'gateway psp').status).toBe('OK');
  });

  it('fails on a self-signed certificate that is not trusted', async () => {
    const cert = makeSelfSignedCert(10);
    const server = await startHttps({ cert: cert.cert, key: cert.key });
    cleanups.push(server.close);
    const { out, text } = capture();
    const cfg = config({ psp: { type: 'adyen', base_url: server.url, api_key: ADYEN_KEY, merchant_account: 'AcmeEU' } });

    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000 });

    expect(code).toBe(1);
    expect(row(text(), 'certificate', 'gateway psp')).toMatchObject({ status: 'FAIL' });
    expect(row(text(), 'certificate', 'gateway psp').detail).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('fails a server that negotiates only TLS 1.1, naming the version', async () => {
    const cert = makeSelfSignedCert(365);
    const server = await startHttps({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    cleanups.push(server.close);
    const { out, text } = capture();
    const cfg = config({ old: { type: 'cybersource', base_url: server.url, ...requiredCredentials('cybersource') } });

    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000, ca: cert.cert });

    expect(code).toBe(1);
    expect(row(text(), 'tls-version', 'gateway old')).toEqual({ status: 'FAIL', detail: 'TLSv1.1 negotiated, TLSv1.2 or later required' });
  });

  it('fails a certificate that does not name the host', async () => {
    const cert = makeSelfSignedCert(365, 'DNS:psp.example.com');
    const server = await startHttps({ cert: cert.cert, key: cert.key });
    cleanups.push(server.close);
    const { out, text } = capture();
    const cfg = config({ psp: { type: 'adyen', base_url: server.url, api_key: ADYEN_KEY, merchant_account: 'AcmeEU' } });

    await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000, ca: cert.cert });

    expect(row(text(), 'hostname', 'gateway psp').status).toBe('FAIL');
  });

  it('goes through the proxy for TCP and TLS checks and for credential calls', async () => {
    const proxy = await startConnectProxy();
    cleanups.push(() => proxy.close());
    const cert = makeSelfSignedCert(365);
    const server = await startHttps({ cert: cert.cert, key: cert.key });
    cleanups.push(server.close);
    const { out, text } = capture();
    const cfg = config({ sim: { type: 'simulator', base_url: server.url, api_key: SIM_KEY } }, { 'proxy.host': '127.0.0.1', 'proxy.port': proxy.port });

    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000, ca: cert.cert });

    const report = text();
    expect(code).toBe(0);
    expect(row(report, 'tcp', 'proxy').status).toBe('OK');
    expect(row(report, 'dns', 'gateway sim').status).toBe('SKIP');
    expect(row(report, 'tcp', 'gateway sim').detail).toContain('through the proxy');
    expect(row(report, 'credentials', 'gateway sim').status).toBe('OK');
    // Probe tunnel plus the credential call's tunnel for the https gateway; bus and OAuth are plain http, forwarded.
    expect(proxy.tunnels.filter((t) => t === `127.0.0.1:${server.port}`)).toHaveLength(2);
    expect(proxy.tunnels).toContain(`127.0.0.1:${local.port}`);
    expect(proxy.forwarded).toContain(`${local.url}/oauth/token`);
    expect(server.paths).toEqual(['GET /_control/counters']);
  });

  it("sends the public URL's OPTIONS probe through the proxy too", async () => {
    const proxy = await startConnectProxy();
    cleanups.push(() => proxy.close());
    const { out, text } = capture();
    const cfg = config({}, { 'proxy.host': '127.0.0.1', 'proxy.port': proxy.port });

    await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 3000 });

    expect(row(text(), 'options-probe', 'intake').status).toBe('OK');
    expect(proxy.forwarded).toContain(`${local.url}/bus`);
  });
});

describe('runDoctor: what the bridge runs on', () => {
  it('checks RabbitMQ, Redis (persistence, noeviction) and the intake probe, all OK against the test servers', async () => {
    const { out, text } = capture();
    const code = await runDoctor(config({}), { logger: silentLogger(), out, timeoutMs: 3000 });
    const report = text();
    expect(code).toBe(0);
    expect(row(report, 'connect', 'rabbitmq').status).toBe('OK');
    expect(row(report, 'connect', 'redis').status).toBe('OK');
    expect(row(report, 'persistence', 'redis')).toEqual({ status: 'OK', detail: 'append-only file on' });
    expect(row(report, 'eviction', 'redis')).toEqual({ status: 'OK', detail: 'maxmemory-policy noeviction' });
    expect(row(report, 'options-probe', 'intake').status).toBe('OK');
    expect(local.paths).toContain('OPTIONS /bus');
  });

  it('reports the releases the running processes name: SKIP with none, OK with one, WARN (exit 0) with two, naming them', async () => {
    const cfg = config({});
    const runDoctorReport = async () => {
      const { out, text } = capture();
      const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 3000 });
      return { code, report: text() };
    };
    expect(row((await runDoctorReport()).report, 'releases', 'processes').status).toBe('SKIP');
    const redis = createRedis(cfg.redis, 'commands');
    const mine = new LeaseHolder(redis, cfg.redis.keyPrefix, 2000, undefined, presenceOf('worker'));
    const left = new LeaseHolder(redis, cfg.redis.keyPrefix, 2000, undefined, { ...presenceOf('worker'), revision: 'oldbuild0004' });
    try {
      await mine.start();
      expect(row((await runDoctorReport()).report, 'releases', 'processes')).toEqual({
        status: 'OK',
        detail: `1 release running: ${releaseName(releaseIdentity())} (worker 1)`,
      });
      await left.start();
      const { code, report } = await runDoctorReport();
      expect(code).toBe(0);
      const releases = row(report, 'releases', 'processes');
      expect(releases.status).toBe('WARN');
      expect(releases.detail).toContain(`2 releases running: `);
      expect(releases.detail).toContain(`${releaseIdentity().version}+oldbuild0004 (worker 1)`);
    } finally {
      await mine.stop();
      await left.stop();
      redis.disconnect();
    }
  });

  it('fails a RabbitMQ login refused, without printing the password, with a fix naming amqp.url', async () => {
    const { out, text } = capture();
    const cfg = config({}, { 'amqp.url': 'amqp://nobody:wrong-broker-password@127.0.0.1:5672' });
    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 3000 });
    const report = text();
    expect(code).toBe(1);
    expect(row(report, 'connect', 'rabbitmq')).toEqual({
      status: 'FAIL',
      detail: '127.0.0.1:5672: ACCESS_REFUSED: the broker refused the user name or password',
    });
    expect(report).toMatch(/fix: check the user, password and virtual host in amqp\.url/);
    expect(report).not.toContain('wrong-broker-password');
  });

  describe('every RabbitMQ node of amqp.urls', () => {
    const AMQP = process.env.PB_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
    const node = new URL(AMQP);
    const nodeName = `${node.hostname}:${node.port || 5672}`;

    it('checks each configured node and WARNs naming the one that does not answer while another does', async () => {
      const port = await closedPort();
      const { out, text } = capture();
      const cfg = config({}, { 'amqp.url': AMQP, 'amqp.urls': [`amqp://guest:guest@127.0.0.1:${port}`], 'amqp.queue.type': 'quorum' });
      const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 3000 });
      const report = text();
      expect(code).toBe(0);
      const connects = rows(report, 'connect', 'rabbitmq');
      expect(connects).toHaveLength(2);
      expect(connects[0]).toMatchObject({ status: 'OK' });
      expect(connects[0].detail).toMatch(new RegExp(`^logged in to ${nodeName} \\(vhost /, RabbitMQ \\d+\\.\\d+\\.\\d+`));
      expect(connects[1]).toEqual({ status: 'WARN', detail: `127.0.0.1:${port}: ECONNREFUSED (1 of 2 nodes answer; a reconnect skips this one)` });
      expect(report).toMatch(/fix: check amqp\.urls \(host, port/);
      expect(row(report, 'cluster', 'rabbitmq').status).toBe('WARN');
      expect(row(report, 'cluster', 'rabbitmq').detail).toMatch(/^1 of 2 nodes answer/);
      expect(row(report, 'version', 'rabbitmq')).toMatchObject({ status: 'OK' });
      expect(row(report, 'version', 'rabbitmq').detail).toMatch(/^RabbitMQ \d+\.\d+\.\d+ \(amqp\.queue\.type: quorum needs 3\.8\.0\+\)$/);
      // The queues are still looked at, through the node that answers.
      expect(rows(report, 'queue', 'rabbitmq')).toHaveLength(2);
    });

    it('fails when no configured node answers, naming each', async () => {
      const [a, b] = [await closedPort(), await closedPort()];
      const { out, text } = capture();
      const cfg = config({}, { 'amqp.url': `amqp://guest:guest@127.0.0.1:${a}`, 'amqp.urls': [`amqp://guest:guest@127.0.0.1:${b}`] });
      const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 3000 });
      const report = text();
      expect(code).toBe(1);
      expect(rows(report, 'connect', 'rabbitmq')).toEqual([
        { status: 'FAIL', detail: `127.0.0.1:${a}: ECONNREFUSED` },
        { status: 'FAIL', detail: `127.0.0.1:${b}: ECONNREFUSED` },
      ]);
      expect(rows(report, 'queue', 'rabbitmq')).toEqual([]);
    });

    it('names a node whose virtual host is refused (WARN while another node answers)', async () => {
      const { out, text } = capture();
      const elsewhere = new URL(AMQP);
      elsewhere.pathname = '/pb-doctor-no-such-vhost';
      const cfg = config({}, { 'amqp.url': AMQP, 'amqp.urls': [elsewhere.toString()] });
      const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 3000 });
      const report = text();
      expect(code).toBe(0);
      expect(rows(report, 'connect', 'rabbitmq')[1]).toEqual({
        status: 'WARN',
        detail: `${nodeName}: NOT_ALLOWED: the virtual host does not exist or the user may not use it (1 of 2 nodes answer; a reconnect skips this one)`,
      });
      expect(report).toMatch(/fix: check the user, password and virtual host in amqp\.urls/);
    });

    it('all nodes answering: one connect row each and the cluster OK', async () => {
      const { out, text } = capture();
      // The same broker under a second spelling: two entries, both answer.
      const second = AMQP.replace('127.0.0.1', 'localhost');
      const cfg = config({}, { 'amqp.url': AMQP, 'amqp.urls': [second] });
      const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 3000 });
      const report = text();
      expect(code).toBe(0);
      expect(rows(report, 'connect', 'rabbitmq').map((r) => r.status)).toEqual(['OK', 'OK']);
      expect(row(report, 'cluster', 'rabbitmq')).toMatchObject({ status: 'OK' });
      expect(row(report, 'cluster', 'rabbitmq').detail).toMatch(/^2 of 2 nodes answer/);
    });
  });

  it('fails a Redis that evicts keys and keeps no append-only file, naming the redis.conf settings', async () => {
    const port = await closedPort();
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'allkeys-lru'],
      { stdio: 'ignore' },
    );
    cleanups.push(async () => {
      child.kill('SIGKILL');
    });
    await waitForPort(port);
    const { out, text } = capture();
    const code = await runDoctor(config({}, { 'redis.url': `redis://127.0.0.1:${port}` }), { logger: silentLogger(), out, timeoutMs: 3000 });
    const report = text();
    expect(code).toBe(1);
    expect(row(report, 'persistence', 'redis').status).toBe('FAIL');
    expect(row(report, 'eviction', 'redis')).toEqual({
      status: 'FAIL',
      detail: 'maxmemory-policy allkeys-lru: Redis may evict operations and queued jobs under memory pressure',
    });
    expect(report).toContain('fix: set maxmemory-policy noeviction in redis.conf');
    expect(report).toContain('fix: set appendonly yes');
  });

  it('warns about an append-only file Redis never fsyncs itself (appendfsync no), naming the redis.conf setting', async () => {
    const port = await closedPort();
    const dir = mkdtempSync(join(tmpdir(), 'pb-doctor-aof-'));
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'no',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    cleanups.push(async () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    await waitForPort(port);
    const { out, text } = capture();
    const code = await runDoctor(config({}, { 'redis.url': `redis://127.0.0.1:${port}` }), { logger: silentLogger(), out, timeoutMs: 3000 });
    const report = text();
    expect(code).toBe(0);
    expect(row(report, 'persistence', 'redis')).toEqual({
      status: 'WARN',
      detail: 'append-only file on, appendfsync no: the OS writes it to disk when it likes, so a machine crash loses the writes of the last ~30 s',
    });
    expect(report).toContain('fix: set appendfsync everysec in redis.conf');
  });

  it('fails an unreachable Redis and a public intake URL that does not answer the OPTIONS probe', async () => {
    const port = await closedPort();
    const { out, text } = capture();
    const cfg = config({}, { 'redis.url': `redis://127.0.0.1:${port}`, 'service_bus.public_url': `${local.url}/not-the-intake` });
    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000 });
    const report = text();
    expect(code).toBe(1);
    expect(row(report, 'connect', 'redis')).toEqual({ status: 'FAIL', detail: `127.0.0.1:${port}: ECONNREFUSED` });
    expect(row(report, 'options-probe', 'intake')).toEqual({ status: 'FAIL', detail: `OPTIONS ${local.url}/not-the-intake → HTTP 404` });
  });

  it('bounds a new connection by service_bus.connect_timeout_ms: a black-holed public intake URL fails at it, not at the step timeout', async () => {
    const hole = await blackHole();
    cleanups.push(async () => hole.close());
    const { out, text } = capture();
    const cfg = config({}, { 'service_bus.public_url': `http://127.0.0.1:${hole.port}/bus`, 'service_bus.connect_timeout_ms': 300 });
    const started = performance.now();
    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 8000 });
    expect(code).toBe(1);
    expect(row(text(), 'options-probe', 'intake')).toEqual({ status: 'FAIL', detail: `OPTIONS http://127.0.0.1:${hole.port}/bus: ECONNECTTIMEOUT` });
    // Without the bound the probe alone waited the whole 8 s step timeout.
    expect(performance.now() - started).toBeLessThan(6000);
  });

  it('gives every FAIL a fix naming the key, in the table and in --json', async () => {
    const port = await closedPort();
    const { out, text } = capture();
    const cfg = config(
      { down: { type: 'stripe', base_url: `http://127.0.0.1:${port}`, api_key: 'sk_test_x' } },
      { 'mom_client.client_secret': 'wrong-secret-value' },
    );
    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 2000, format: 'json' });
    const parsed = JSON.parse(text()) as { exit_code: number; results: Array<{ check: string; target: string; status: string; fix?: string }> };
    expect(code).toBe(1);
    expect(parsed.exit_code).toBe(1);
    const failures = parsed.results.filter((r) => r.status === 'FAIL');
    expect(failures.length).toBeGreaterThanOrEqual(2);
    for (const f of failures) expect(f.fix).toEqual(expect.any(String));
    expect(failures.find((f) => f.target === 'gateway down')?.fix).toContain('gateways.down.base_url');
    expect(failures.find((f) => f.check === 'credentials' && f.target === 'bus')?.fix).toContain('mom_client.client_secret');
    expect(text()).not.toContain('wrong-secret-value');
  });
});

describe('runDoctor: answers larger than the bridge reads', () => {
  const MIB = 1024 * 1024;
  /** A server answering every request with 200 and 50 MiB, a MiB at a time as the client takes it; counts the MiB it got out. */
  async function startHuge(): Promise<Local & { sentMib: () => number }> {
    let sent = 0;
    const chunk = Buffer.alloc(MIB, 0x61);
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * MIB) });
        let left = 50;
        let closed = false;
        res.on('close', () => (closed = true));
        const pump = (): void => {
          while (left > 0 && !closed) {
            left -= 1;
            sent += 1;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          if (left === 0) res.end();
        };
        pump();
      });
    });
    const huge = await listen(server, 'http', []);
    return { ...huge, sentMib: () => sent };
  }

  it('fails the gateway, the OAuth server and the intake probe answering 50 MiB, saying why, having read at most 8 MiB of each', async () => {
    const huge = await startHuge();
    cleanups.push(huge.close);
    const { out, text } = capture();
    const cfg = config(
      { sim: { type: 'simulator', base_url: huge.url, api_key: SIM_KEY } },
      { 'mom_client.oauth_server_url': huge.url, 'service_bus.public_url': `${huge.url}/bus` },
    );
    const code = await runDoctor(cfg, { logger: silentLogger(), out, timeoutMs: 10_000, format: 'json' });
    const parsed = JSON.parse(text()) as { results: Array<{ check: string; target: string; status: string; detail: string; fix?: string }> };
    const find = (check: string, target: string) => parsed.results.find((r) => r.check === check && r.target === target);
    const tooLarge = 'ERESPONSETOOLARGE: the answer is larger than 8 MiB, the most the bridge reads of one';

    expect(code).toBe(1);
    expect(find('credentials', 'gateway sim')).toEqual({
      check: 'credentials',
      target: 'gateway sim',
      status: 'FAIL',
      detail: `GET /_control/counters failed: ${tooLarge}`,
      fix: 'check gateways.sim.base_url: the URL must reach the documented API (none of its answers is that large), not another server',
    });
    expect(find('credentials', 'bus')).toMatchObject({ status: 'FAIL', detail: `token request failed: ${tooLarge}` });
    expect(find('credentials', 'bus')?.fix).toContain('mom_client.oauth_server_url');
    expect(find('options-probe', 'intake')).toMatchObject({ status: 'FAIL', detail: `OPTIONS ${huge.url}/bus: ${tooLarge}` });
    expect(find('options-probe', 'intake')?.fix).toContain("web role's intake path");
    // Three calls, each given up past 8 MiB: far from the 150 MiB they were sent.
    expect(huge.sentMib()).toBeLessThan(3 * 20);
  });
});

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} never opened`);
}
