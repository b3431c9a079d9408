/**
 * The console answers only the hosts it is reached by (`console.allowed_hosts`, besides loopback, the host of
 * `service_bus.public_url` and `console.bind`): a page of another site whose name the attacker points at the
 * console's address (DNS rebinding, against an operator's browser on an internal host) reaches it with its
 * own name in `Host`, and gets 421 Misdirected Request (RFC 9110 §15.5.20) before anything is read; counted,
 * with one warning a minute naming the host (masked, bounded). Behind a trusted proxy that rewrites Host, the
 * host the browser asked for (`X-Forwarded-Host`) is checked. And a login refused as posted from another
 * origin says which origin and host it compared.
 */
import http from 'node:http';
import net from 'node:net';
import { metricsRegistry } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { Config } from '../../../src/config/config';
import { MAX_LOGGED_HEADER_CHARS } from '../../../src/console/console-hosts';
import { TEST_PANS, panNeedles } from '../../../harness/drills/test-card-numbers';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { consoleLogin } from '../../support/console-login';
import { CONSOLE_PASSWORD } from '../../support/console-stack';
import { testConfig } from '../../support/test-config';

/** A GET of `path` on the console with exactly these headers (fetch does not let a test set Host). */
function get(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: `${url.pathname}${path}`, headers, setHost: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The status line's code of `lines` (a request head, CRLF added) sent as written: http.request merges repeated headers. */
function rawStatus(base: string, lines: string[]): Promise<number> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    let head = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (head += c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)));
  });
}

const refused = async (reason: string) =>
  (await metricsRegistry.getSingleMetric('pb_console_hosts_refused_total')?.get())?.values.find((v) => v.labels.reason === reason)?.value ?? 0;

describe('console Host allowlist (DNS rebinding)', () => {
  const started: Array<{ web: WebProcess; config: Config }> = [];

  async function consoleWith(overrides: Record<string, unknown>): Promise<{ base: string; lines: string[]; port: string }> {
    const logs = captureLogger('info');
    const config = testConfig({ 'console.enabled': true, 'console.port': 0, 'console.password': CONSOLE_PASSWORD, ...overrides });
    const web = await startWebProcess(config, logs.logger);
    started.push({ web, config });
    const base = web.consoleUrl as string;
    return { base, lines: logs.lines, port: new URL(base).port };
  }

  afterAll(async () => {
    for (const { web, config } of started) {
      await web.stop();
      const client = await amqpClient(config);
      await client.deleteNamespace();
      await client.close();
    }
  });

  it('answers loopback (any port) and the public URL host, and 421 to any other host, counted, before the login page or a redirect', async () => {
    const { base, port } = await consoleWith({ 'service_bus.public_url': 'https://bridge.example.com/bus' });
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, 'bridge.example.com', `Bridge.Example.com.:${port}`]) {
      expect([host, (await get(base, '/login', { host })).status]).toEqual([host, 200]);
    }
    const before = await refused('not_allowed');
    for (const host of ['evil.example', `evil.example:${port}`, 'bridge.example.com.evil.example', '127.0.0.1.nip.io', '10.0.0.7', 'a b', '']) {
      const res = await get(base, '/login', { host });
      expect([host, res.status]).toEqual([host, 421]);
      expect(res.body).not.toContain('<form');
    }
    // Every console path: the redirect to the login, the assets, the 404.
    for (const path of ['', '/', '/static/console.js', '/no-such-page', '/api/summary']) {
      expect([path, (await get(base, path, { host: 'evil.example' })).status]).toEqual([path, 421]);
    }
    // And every other path of its listener: the 404 of a path outside console.path, the root's redirect.
    // (`get` puts `path` after the origin's `/`.)
    for (const path of ['favicon.ico', '', 'consolex']) {
      expect([path, (await get(new URL(base).origin, path, { host: 'evil.example' })).status]).toEqual([path, 421]);
      expect((await get(new URL(base).origin, path, { host: '127.0.0.1' })).status).toBe(path === '' ? 303 : 404);
    }
    expect(await refused('not_allowed')).toBe(before + 6 + 5 + 3);
    expect(await refused('missing')).toBeGreaterThanOrEqual(1);
  });

  it('answers the hosts of console.allowed_hosts (a port, when given, is the only one)', async () => {
    const { base, port } = await consoleWith({ 'console.allowed_hosts': ['console.example.com', `ops.example.net:${'1'.repeat(4)}`] });
    expect((await get(base, '/login', { host: `console.example.com:${port}` })).status).toBe(200);
    expect((await get(base, '/login', { host: 'ops.example.net:1111' })).status).toBe(200);
    expect((await get(base, '/login', { host: `ops.example.net:${port}` })).status).toBe(421);
    expect((await get(base, '/login', { host: 'other.example.com' })).status).toBe(421);
  });

  it('checks the host a trusted proxy says the browser asked for (X-Forwarded-Host), and ignores that header from any other peer', async () => {
    const trusted = await consoleWith({ 'edge.trusted_proxies': ['127.0.0.1', '::1'], 'console.allowed_hosts': ['console.example.com'] });
    const internal = { host: 'upstream.internal:8081' };
    expect((await get(trusted.base, '/login', { ...internal, 'x-forwarded-host': 'console.example.com' })).status).toBe(200);
    expect((await get(trusted.base, '/login', { ...internal, 'x-forwarded-host': 'evil.example' })).status).toBe(421);
    expect((await get(trusted.base, '/login', { host: 'console.example.com', 'x-forwarded-host': 'evil.example' })).status).toBe(421);
    const untrusted = await consoleWith({ 'edge.trusted_proxies': ['10.0.0.0/8'], 'console.allowed_hosts': ['console.example.com'] });
    expect((await get(untrusted.base, '/login', { host: 'evil.example', 'x-forwarded-host': 'console.example.com' })).status).toBe(421);
    expect((await get(untrusted.base, '/login', { host: '127.0.0.1', 'x-forwarded-host': 'evil.example' })).status).toBe(200);
  });

  it('checks every host of a trusted proxy X-Forwarded-Host list: a proxy that appends keeps what the client sent in front', async () => {
    const { base } = await consoleWith({ 'edge.trusted_proxies': ['127.0.0.1', '::1'], 'console.allowed_hosts': ['console.example.com'] });
    const internal = { host: 'upstream.internal:8081' };
    // Apache's mod_proxy appends the Host it saw: a rebound page that sets X-Forwarded-Host itself comes in first.
    expect((await get(base, '/login', { ...internal, 'x-forwarded-host': 'console.example.com, evil.example' })).status).toBe(421);
    expect((await get(base, '/login', { ...internal, 'x-forwarded-host': 'console.example.com, localhost' })).status).toBe(200);
    expect((await get(base, '/login', { ...internal, 'x-forwarded-host': 'console.example.com, ' })).status).toBe(200);
  });

  it('answers 400 to a request with two Host fields (RFC 9112 section 3.2), whichever comes first', async () => {
    const { base, port } = await consoleWith({});
    const before = await refused('duplicate');
    const request = (first: string, second: string) =>
      rawStatus(base, ['GET /console/login HTTP/1.1', `Host: ${first}`, `Host: ${second}`, 'Connection: close']);
    expect(await request(`127.0.0.1:${port}`, 'evil.example')).toBe(400);
    expect(await request('evil.example', `127.0.0.1:${port}`)).toBe(400);
    expect(await refused('duplicate')).toBe(before + 2);
    expect(await rawStatus(base, ['GET /console/login HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Connection: close'])).toBe(200);
  });

  it('warns at most once a minute, naming the refused host masked and bounded', async () => {
    const { base, lines } = await consoleWith({});
    const warnings = () => lines.filter((l) => l.includes('console: request for a host not in console.allowed_hosts refused'));
    const long = `${TEST_PANS[0]}.${'x'.repeat(5000)}.example`;
    expect((await get(base, '/login', { host: long })).status).toBe(421);
    expect((await get(base, '/login', { host: 'evil.example' })).status).toBe(421);
    expect(warnings()).toHaveLength(1);
    const line = JSON.parse(warnings()[0]) as Record<string, string>;
    expect(line).toMatchObject({ level: 'warn', header: 'host', setting: 'console.allowed_hosts' });
    expect(line.host.length).toBeLessThan(MAX_LOGGED_HEADER_CHARS + 40);
    expect(line.host).toContain(`(${long.length} characters)`);
    for (const needle of panNeedles()) expect(warnings()[0]).not.toContain(needle);
  });

  it('says which origin and host it compared when it refuses a login posted from another origin, masked and bounded, never the Referer path', async () => {
    // The line is written once a minute: the clock moves a minute on between the cases.
    const realNow = Date.now.bind(Date);
    let skipped = 0;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skipped);
    const nextMinute = () => (skipped += 61_000);
    const { base, lines } = await consoleWith({ 'edge.trusted_proxies': ['10.0.0.0/8'] });
    const refusals = () =>
      lines.filter((l) => l.includes('console: login form posted from another origin refused')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const host = new URL(base).host;
    expect((await consoleLogin(base, CONSOLE_PASSWORD, { origin: 'https://evil.example' })).status).toBe(403);
    expect(refusals()[0]).toMatchObject({ level: 'warn', client: '127.0.0.1', origin: 'https://evil.example', origin_header: 'origin', host });
    expect(refusals()[0]).not.toHaveProperty('x_forwarded_host');

    nextMinute();
    // A proxy that rewrites Host but is not in edge.trusted_proxies: its X-Forwarded-Host shows, said untrusted.
    const proxied = { origin: 'https://console.example.com', 'x-forwarded-host': 'console.example.com' };
    expect((await consoleLogin(base, CONSOLE_PASSWORD, proxied)).status).toBe(403);
    expect(refusals()[1]).toMatchObject({
      origin: 'https://console.example.com',
      host,
      x_forwarded_host: 'console.example.com',
      x_forwarded_host_trusted: false,
    });

    nextMinute();
    // Without Origin, the Referer's origin alone: its path and query may hold anything.
    expect((await consoleLogin(base, CONSOLE_PASSWORD, { referer: `https://evil.example/pay?card=${TEST_PANS[0]}` })).status).toBe(403);
    expect(refusals()[2]).toMatchObject({ origin: 'https://evil.example', origin_header: 'referer' });
    nextMinute();
    expect((await consoleLogin(base, CONSOLE_PASSWORD, { origin: `https://${'e'.repeat(3000)}.example` })).status).toBe(403);
    expect(String(refusals()[3].origin).length).toBeLessThan(MAX_LOGGED_HEADER_CHARS + 40);
    for (const line of lines) for (const needle of panNeedles()) expect(line).not.toContain(needle);
    clock.mockRestore();
  });

  it('writes that line once a minute however many a page posts, each counted, the next line saying how many it left out', async () => {
    const realNow = Date.now.bind(Date);
    let skipped = 0;
    const clock = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skipped);
    try {
      const { base, lines } = await consoleWith({});
      const refusals = () => lines.filter((l) => l.includes('console: login form posted from another origin refused'));
      const crossOrigin = async () =>
        (await metricsRegistry.getSingleMetric('pb_console_logins_total')?.get())?.values.find((v) => v.labels.outcome === 'cross_origin')?.value ?? 0;
      const before = await crossOrigin();
      for (let i = 0; i < 20; i++) expect((await consoleLogin(base, CONSOLE_PASSWORD, { origin: 'https://evil.example' })).status).toBe(403);
      expect(refusals()).toHaveLength(1);
      expect(await crossOrigin()).toBe(before + 20);
      skipped += 61_000;
      expect((await consoleLogin(base, CONSOLE_PASSWORD, { origin: 'https://evil.example' })).status).toBe(403);
      expect(refusals()).toHaveLength(2);
      expect(JSON.parse(refusals()[1])).toMatchObject({ level: 'warn', origin: 'https://evil.example', suppressed: 19 });
    } finally {
      clock.mockRestore();
    }
  });
});
