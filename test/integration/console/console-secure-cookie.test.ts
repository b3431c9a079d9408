/**
 * The console's session cookie is `Secure` whenever the browser reached the console over https, also when
 * a reverse proxy in front terminates TLS (the usual deployment): the proxy says so with
 * `X-Forwarded-Proto: https`, believed only from a peer in `edge.trusted_proxies` (the trust already given
 * to its `X-Forwarded-For`). Without it the cookie went out without `Secure`, and a browser led to a plain
 * http URL of the console would send the session in clear (OWASP Session Management Cheat Sheet, RFC 6265
 * §4.1.2.5). `console.secure_cookie: always` marks it `Secure` whatever the request says. The same answers
 * carry `Strict-Transport-Security` (RFC 6797), so the browser never tries plain http for the console again.
 * Over https the cookie is `__Host-pb_console` with `Path=/` and no `Domain` (RFC 6265bis §4.1.3.2; OWASP
 * Session Management Cheat Sheet): no other host of the domain can set or overwrite it. Over plain http
 * (local use) it keeps its unprefixed name and the console's path, as a browser refuses a prefixed cookie there.
 */
import { CONSOLE_PASSWORD, ConsoleStack, startConsoleStack } from '../../support/console-stack';
import { consoleLogin } from '../../support/console-login';

const PASSWORD = CONSOLE_PASSWORD;

describe('the console session cookie behind a TLS-terminating proxy', () => {
  const started: ConsoleStack[] = [];

  async function consoleWith(overrides: Record<string, unknown>): Promise<string> {
    const stack = await startConsoleStack(overrides);
    started.push(stack);
    return stack.base;
  }

  afterAll(async () => {
    for (const stack of started) await stack.stop();
  });

  /** The `Set-Cookie` of a successful login, and of the logout that follows it. */
  async function cookies(base: string, headers: Record<string, string> = {}): Promise<{ login: string; logout: string }> {
    const ok = await consoleLogin(base, PASSWORD, headers);
    expect(ok.status).toBe(303);
    const login = ok.headers.get('set-cookie') ?? '';
    const session = login.split(';')[0];
    const page = await (await fetch(base, { headers: { cookie: session, ...headers } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
    const out = await fetch(`${base}/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session, ...headers },
      body: new URLSearchParams({ csrf }).toString(),
    });
    expect(out.status).toBe(303);
    return { login, logout: out.headers.get('set-cookie') ?? '' };
  }

  const secure = (cookie: string) => /;\s*Secure(;|$)/i.test(cookie);

  it('is Secure when a trusted proxy says the client came over https, and not on its plain http word', async () => {
    const base = await consoleWith({ 'edge.trusted_proxies': ['127.0.0.1', '::1'] });
    const viaHttps = await cookies(base, { 'x-forwarded-proto': 'https' });
    expect(secure(viaHttps.login)).toBe(true);
    expect(secure(viaHttps.logout)).toBe(true);
    // A chain of proxies lists a scheme per hop: any https hop means the browser's side is https.
    expect(secure((await cookies(base, { 'x-forwarded-proto': 'HTTPS, http' })).login)).toBe(true);
    expect(secure((await cookies(base, { 'x-forwarded-proto': 'http' })).login)).toBe(false);
    expect(secure((await cookies(base)).login)).toBe(false);
  });

  it('never believes X-Forwarded-Proto from a peer that is not a trusted proxy', async () => {
    const base = await consoleWith({ 'edge.trusted_proxies': ['10.0.0.0/8'] });
    expect(secure((await cookies(base, { 'x-forwarded-proto': 'https' })).login)).toBe(false);
  });

  const hsts = (res: Response) => res.headers.get('strict-transport-security');

  it('tells a browser that came over https to keep to https (HSTS, one year, not the whole domain), and says nothing over plain http', async () => {
    const base = await consoleWith({ 'edge.trusted_proxies': ['127.0.0.1', '::1'] });
    expect(hsts(await fetch(`${base}/login`, { headers: { 'x-forwarded-proto': 'https' } }))).toBe('max-age=31536000');
    const ok = await consoleLogin(base, PASSWORD, { 'x-forwarded-proto': 'https' });
    expect(hsts(ok)).toBe('max-age=31536000');
    const session = (ok.headers.get('set-cookie') ?? '').split(';')[0];
    expect(hsts(await fetch(base, { headers: { cookie: session, 'x-forwarded-proto': 'https' } }))).toBe('max-age=31536000');
    expect(hsts(await fetch(`${base}/login`))).toBeNull();
    expect(hsts(await fetch(`${base}/login`, { headers: { 'x-forwarded-proto': 'http' } }))).toBeNull();
  });

  it('never sends HSTS on the word of a peer that is not a trusted proxy', async () => {
    const base = await consoleWith({ 'edge.trusted_proxies': ['10.0.0.0/8'] });
    expect(hsts(await fetch(`${base}/login`, { headers: { 'x-forwarded-proto': 'https' } }))).toBeNull();
  });

  it('takes a form from the host a trusted proxy that rewrites Host says the browser asked for (X-Forwarded-Host), and only from a trusted proxy', async () => {
    const behind = { origin: 'https://console.example.com', 'x-forwarded-host': 'console.example.com', 'x-forwarded-proto': 'https' };
    const trusted = await consoleWith({ 'edge.trusted_proxies': ['127.0.0.1', '::1'], 'console.allowed_hosts': ['console.example.com'] });
    expect((await consoleLogin(trusted, PASSWORD, behind)).status).toBe(303);
    expect((await consoleLogin(trusted, PASSWORD, { ...behind, origin: 'https://evil.example' })).status).toBe(403);
    const untrusted = await consoleWith({ 'edge.trusted_proxies': ['10.0.0.0/8'] });
    expect((await consoleLogin(untrusted, PASSWORD, behind)).status).toBe(403);
  });

  const attributes = (cookie: string) =>
    cookie
      .split(';')
      .slice(1)
      .map((a) => a.trim().toLowerCase())
      .sort();

  it('is a __Host- cookie over https (Secure, Path=/, no Domain), which the session answers to there, and the unprefixed one only over plain http', async () => {
    const base = await consoleWith({ 'edge.trusted_proxies': ['127.0.0.1', '::1'] });
    const https = { 'x-forwarded-proto': 'https' };
    const viaHttps = await cookies(base, https);
    expect(viaHttps.login).toMatch(/^__Host-pb_console=[A-Za-z0-9_-]{43};/);
    expect(attributes(viaHttps.login)).toEqual(['httponly', 'max-age=28800', 'path=/', 'samesite=strict', 'secure']);
    expect(viaHttps.logout).toMatch(/^__Host-pb_console=;/);
    expect(attributes(viaHttps.logout)).toEqual(['httponly', 'max-age=0', 'path=/', 'samesite=strict', 'secure']);

    const ok = await consoleLogin(base, PASSWORD, https);
    const id = (ok.headers.get('set-cookie') ?? '').split(';')[0].split('=')[1];
    const dashboard = (cookie: string, headers: Record<string, string>) => fetch(base, { redirect: 'manual', headers: { cookie, ...headers } });
    expect((await dashboard(`__Host-pb_console=${id}`, https)).status).toBe(200);
    // Over https only the prefixed name opens a session: one without the prefix may have been set by another host.
    expect((await dashboard(`pb_console=${id}`, https)).status).toBe(303);
    // Over plain http (local use) the unprefixed name, scoped to the console's path, not Secure.
    const plain = await cookies(base);
    expect(plain.login).toMatch(/^pb_console=[A-Za-z0-9_-]{43};/);
    expect(attributes(plain.login)).toEqual(['httponly', 'max-age=28800', 'path=/console', 'samesite=strict']);
  });

  it('is always Secure with console.secure_cookie: always', async () => {
    const base = await consoleWith({ 'console.secure_cookie': 'always' });
    const plain = await cookies(base);
    expect(secure(plain.login)).toBe(true);
    expect(secure(plain.logout)).toBe(true);
    expect(plain.login).toMatch(/^__Host-pb_console=.*; Path=\/;/);
  });
});
