import http from 'node:http';
import { Config } from '../../../src/config/config';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { startMonitoringServer } from '../../../src/health/monitoring-server';
import { edgeAccessFor } from '../../../src/web/edge-access';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';

const SIM = { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'sim-key-unused-0123456789', webhook_secret: 'whsec-allowlist-test-0123456789' };

let config: Config;
let web: WebProcess;
let port: number;
const logs = captureLogger();

beforeAll(async () => {
  config = testConfig({
    // Dual-stack: IPv4 peers arrive as ::ffff:a.b.c.d and must still match IPv4 blocks.
    'http.host': '::',
    'edge.allow.intake': ['127.0.0.2/32', '2001:db8::/32'],
    'edge.allow.webhooks': { simulator: ['127.0.0.3'], '*': ['127.0.0.9/32'] },
    'edge.allow.admin': ['::1/128'],
    'edge.trusted_proxies': ['127.0.0.4'],
    gateways: { simulator: SIM, sim2: SIM },
  });
  web = await startWebProcess(config, logs.logger, { webhooks: createGatewayClients(config) });
  port = Number(new URL(web.server.url).port);
});

afterAll(async () => {
  await web.stop();
  await purgeNamespace(config).catch(() => undefined);
});

/** A request from `from` (a local address: loopback 127/8 or ::1); its status. */
function request(from: string, method: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const host = from.includes(':') ? '::1' : '127.0.0.1';
    const req = http.request(
      { host, port, method, path, localAddress: from, agent: false, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(method === 'POST' ? '{"jsonrpc":"2.0","id":1,"method":"x","params":{}}' : undefined);
  });
}

describe('IP allowlists (edge.allow.*)', () => {
  it('refuses the intake with 403 to an address outside edge.allow.intake, before the signature is looked at; an allowed one reaches the signature check (401)', async () => {
    const before = await metricValue('pb_http_forbidden_total', { surface: 'intake', gateway: '' });
    expect(await request('127.0.0.1', 'POST', config.http.intakePath)).toBe(403);
    expect(await request('127.0.0.5', 'POST', config.http.intakePath)).toBe(403);
    expect(await request('127.0.0.5', 'OPTIONS', config.http.intakePath)).toBe(403);
    expect(await request('127.0.0.2', 'POST', config.http.intakePath)).toBe(401);
    expect(await metricValue('pb_http_forbidden_total', { surface: 'intake', gateway: '' })).toBe(before + 3);
    expect(web.intake.stats.unauthorized).toBe(1);
    const lines = logs.lines.filter((l) => l.includes('refused by the IP allowlist') && l.includes('"surface":"intake"'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ client: '127.0.0.1' });
  });

  it("applies each gateway's webhook allowlist, and '*' to gateways not listed", async () => {
    expect(await request('127.0.0.3', 'POST', '/webhooks/simulator')).toBe(401);
    expect(await request('127.0.0.2', 'POST', '/webhooks/simulator')).toBe(403);
    expect(await request('127.0.0.9', 'POST', '/webhooks/simulator')).toBe(403);
    expect(await request('127.0.0.9', 'POST', '/webhooks/sim2')).toBe(401);
    expect(await request('127.0.0.3', 'POST', '/webhooks/sim2')).toBe(403);
    expect(await metricValue('pb_http_forbidden_total', { surface: 'webhook', gateway: 'simulator' })).toBe(2);
    expect(await metricValue('pb_http_forbidden_total', { surface: 'webhook', gateway: 'sim2' })).toBe(1);
  });

  it('guards /metrics with edge.allow.admin (IPv6 ::1 allowed, 127.0.0.1 not) and leaves /healthz open', async () => {
    expect(await request('::1', 'GET', '/metrics')).toBe(200);
    expect(await request('127.0.0.1', 'GET', '/metrics')).toBe(403);
    expect(await request('127.0.0.1', 'GET', '/healthz')).toBe(200);
    expect(await metricValue('pb_http_forbidden_total', { surface: 'admin', gateway: '' })).toBe(1);
  });

  it('believes X-Forwarded-For only from a trusted proxy, taking the rightmost untrusted hop', async () => {
    const path = config.http.intakePath;
    expect(await request('127.0.0.4', 'POST', path, { 'x-forwarded-for': '127.0.0.2' })).toBe(401);
    expect(await request('127.0.0.4', 'POST', path, { 'x-forwarded-for': '2001:db8::7' })).toBe(401);
    // Not a trusted proxy: its header is ignored, the peer itself is judged.
    expect(await request('127.0.0.5', 'POST', path, { 'x-forwarded-for': '127.0.0.2' })).toBe(403);
    // A client behind the proxy that writes an allowed address itself: the proxy appends the real one.
    expect(await request('127.0.0.4', 'POST', path, { 'x-forwarded-for': '127.0.0.2, 198.51.100.9' })).toBe(403);
    expect(await request('127.0.0.4', 'POST', path, { 'x-forwarded-for': 'garbage' })).toBe(403);
    // The proxy's own address is not on the list: a request without the header is refused.
    expect(await request('127.0.0.4', 'POST', path)).toBe(403);
  });

  it('answers a malformed percent escape in a webhook path with 404 (403 outside the allowlist), never a 500 or a stack trace', async () => {
    expect(await request('127.0.0.9', 'POST', '/webhooks/%E0%A4%A')).toBe(404);
    expect(await request('127.0.0.9', 'POST', '/webhooks/%')).toBe(404);
    expect(await request('127.0.0.2', 'POST', '/webhooks/%')).toBe(403);
    expect(logs.lines.filter((l) => l.includes('request handler failed') || l.includes('"stack"'))).toHaveLength(0);
  });

  it("guards the worker/poller monitoring port's /metrics with edge.allow.admin too", async () => {
    const monitoring = await startMonitoringServer({
      host: '127.0.0.1',
      port: 0,
      checks: {},
      logger: logs.logger,
      access: edgeAccessFor(config, logs.logger),
      limits: config.edge,
    });
    try {
      expect((await fetch(`${monitoring.url}/metrics`)).status).toBe(403);
      expect((await fetch(`${monitoring.url}/healthz`)).status).toBe(200);
    } finally {
      await monitoring.close();
    }
  });
});
