import { CONSOLE_PASSWORD, ConsoleStack, consoleSession, startConsoleStack } from '../../support/console-stack';
import { Config } from '../../../src/config/config';
import { WebProcess } from '../../../src/processes/web-process';
import { auditStreamKey } from '../../../src/audit/audit-log';
import { RedisClient } from '../../../src/redis/redis-connection';
import { LOGIN_ATTEMPTS_MAX } from '../../../src/console/console-route';
import { EventStore } from '../../../src/events/event-store';
import { RECENT_RUNS_KEPT, recordRun } from '../../../src/reconciliation-run/reconciliation-history';
import { Ledger } from '../../../src/ledger/ledger';
import { clientKey } from '../../../src/net/ip-ranges';
import { consoleLogin, sessionCookie } from '../../support/console-login';
import { LeaseHolder } from '../../../src/leases/lease-holder';
import { presenceOf } from '../../../src/fleet/process-presence';
import { releaseIdentity, releaseName } from '../../../src/fleet/release-identity';

const PASSWORD = CONSOLE_PASSWORD;

describe('the operator console over HTTP (own port, own credentials)', () => {
  let stack: ConsoleStack;
  let config: Config;
  let web: WebProcess;
  let base: string;
  let redis: RedisClient;

  beforeAll(async () => {
    stack = await startConsoleStack();
    ({ config, web, base, redis } = stack);
  });

  afterAll(() => stack.stop());

  const login = (password: string, headers: Record<string, string> = {}) => consoleLogin(base, password, headers);

  it('serves the console on its own listener, never on the intake port', async () => {
    expect(web.console?.url).not.toBe(web.server.url);
    expect((await fetch(`${web.server.url}${config.console.path}`)).status).toBe(404);
    const page = await fetch(base, { redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe(`${config.console.path}/login`);
  });

  it('logs in with its own password only (not the bus secret), audit-logging each attempt', async () => {
    expect((await login(config.serviceBus.secret)).status).toBe(401);
    const ok = await login(PASSWORD, { origin: new URL(base).origin });
    expect(ok.status).toBe(303);
    const cookie = ok.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^pb_console=[A-Za-z0-9_-]{43}; Path=\/console; HttpOnly; SameSite=Strict/);
    const dash = await fetch(base, { headers: { cookie: cookie.split(';')[0] } });
    expect(dash.status).toBe(200);
    expect(dash.headers.get('content-security-policy')).toContain("script-src 'self'");
    const entries = (await redis.xrange(auditStreamKey(config.redis.keyPrefix), '-', '+')).map(
      ([, f]) => JSON.parse(f[1]) as { action: string; outcome: string },
    );
    expect(entries.filter((e) => e.action === 'console.login').map((e) => e.outcome)).toEqual(['refused', 'ok']);
  });

  it('lists the events the bus refused and the bridge set aside, with the reason, on the dashboard', async () => {
    const events = new EventStore(redis, config.redis.keyPrefix);
    const event = {
      eventId: `console-rejected-${Date.now()}.SUCCEEDED`,
      paymentKey: `pay-console-rejected-${Date.now()}`,
      method: 'magento.payments.payments_management.captured',
      params: { payment: { operation_reference: 'console-rejected' } },
    };
    const { sequence } = await events.recordAndCheck(event, Date.now(), 1000);
    await events.setAside({ ...event, sequence }, 'http_422');
    const ok = await login(PASSWORD, { origin: new URL(base).origin });
    const cookie = (ok.headers.get('set-cookie') ?? '').split(';')[0];
    const page = await (await fetch(base, { headers: { cookie } })).text();
    const section = page.slice(page.indexOf('Events the bus refused'));
    expect(section).toContain(`data-event="${event.eventId}"`);
    expect(section).toContain('http_422');
  });

  it('lists the latest reconciliation runs, newest first, with their window, result and differing classes', async () => {
    const at = Date.now();
    const run = { gateway: 'simulator', dryRun: false, lines: 120, adjusted: 1, settled: 1, durationMs: 900 };
    await recordRun(redis, config.redis.keyPrefix, { ...run, from: 0, to: 3_600_000, result: 'done', differences: 0, classes: {}, at: at - 60_000 });
    await recordRun(redis, config.redis.keyPrefix, {
      ...run,
      from: 3_600_000,
      to: 7_200_000,
      result: 'done',
      differences: 3,
      classes: { amount_mismatch: 1, missing_at_psp: 2 },
      at,
    });
    const ok = await login(PASSWORD, { origin: new URL(base).origin });
    const page = await (await fetch(base, { headers: { cookie: (ok.headers.get('set-cookie') ?? '').split(';')[0] } })).text();
    const section = page.slice(page.indexOf('id="reconciliation-runs"'));
    expect(section.indexOf('data-run="simulator:3600000:7200000"')).toBeLessThan(section.indexOf('data-run="simulator:0:3600000"'));
    expect(section).toContain('amount_mismatch 1, missing_at_psp 2');
    expect(section).toContain('1970-01-01T01:00:00.000Z to 1970-01-01T02:00:00.000Z');
  });

  it("shows each gateway's latest run and reconciled-through mark, a daily gateway's included when another filled the list of latest runs", async () => {
    const at = Date.now();
    const run = { dryRun: false, lines: 40, adjusted: 0, settled: 0, durationMs: 500, differences: 0, classes: {} };
    await recordRun(redis, config.redis.keyPrefix, {
      ...run,
      gateway: 'daily-psp',
      from: 0,
      to: 86_400_000,
      result: 'failed',
      error: 'HttpError',
      at: at - 3_600_000,
    });
    for (let n = 0; n < RECENT_RUNS_KEPT; n += 1) {
      await recordRun(redis, config.redis.keyPrefix, {
        ...run,
        gateway: 'simulator',
        from: n * 3_600_000,
        to: (n + 1) * 3_600_000,
        result: 'done',
        at: at - 60_000 + n,
      });
    }
    await new Ledger(redis, config.redis.keyPrefix).markReconciledThrough('simulator', at - 10 * 3_600_000);
    const ok = await login(PASSWORD, { origin: new URL(base).origin });
    const page = await (await fetch(base, { headers: { cookie: (ok.headers.get('set-cookie') ?? '').split(';')[0] } })).text();
    const gateways = page.slice(page.indexOf('id="reconciliation-gateways"'), page.indexOf('id="reconciliation-runs"'));
    expect(gateways).toContain('data-gateway="daily-psp" data-result="failed" data-windows-behind=""');
    expect(gateways).toContain('failed: HttpError');
    // Hourly windows and a 2 h lag (the defaults): the schedule may reconcile through the hour 2-3 h ago, 7 windows past the mark.
    expect(gateways).toContain('data-gateway="simulator" data-result="done" data-windows-behind="7"');
    expect(page.slice(page.indexOf('id="reconciliation-runs"'))).not.toContain('data-run="daily-psp:');
  });

  it("shows what each run did to the reconciled-through mark, and a gateway's latest run whose window is held", async () => {
    const at = Date.now();
    const run = { dryRun: false, lines: 30, adjusted: 0, settled: 0, durationMs: 400, differences: 0, classes: {}, result: 'done' as const };
    await recordRun(redis, config.redis.keyPrefix, { ...run, gateway: 'mark-psp', from: 0, to: 3_600_000, mark: 'moved', at: at - 2_000 });
    await recordRun(redis, config.redis.keyPrefix, { ...run, gateway: 'mark-psp', from: 7_200_000, to: 10_800_000, mark: 'gap', at: at - 1_000 });
    await recordRun(redis, config.redis.keyPrefix, {
      ...run,
      gateway: 'mark-psp',
      from: 3_600_000,
      to: 7_200_000,
      unreadable: 2,
      mark: 'held',
      at,
    });
    const ok = await login(PASSWORD, { origin: new URL(base).origin });
    const page = await (await fetch(base, { headers: { cookie: (ok.headers.get('set-cookie') ?? '').split(';')[0] } })).text();
    const runs = page.slice(page.indexOf('id="reconciliation-runs"'));
    expect(runs).toMatch(/<th>\s*mark\s*<\/th>/);
    expect(runs).toContain('data-run="mark-psp:0:3600000" data-result="done" data-mark="moved"');
    expect(runs).toContain('data-run="mark-psp:7200000:10800000" data-result="done" data-mark="gap"');
    expect(runs).toContain('data-run="mark-psp:3600000:7200000" data-result="done" data-mark="held"');
    const gateways = page.slice(page.indexOf('id="reconciliation-gateways"'), page.indexOf('id="reconciliation-runs"'));
    expect(gateways).toMatch(/<th>\s*latest mark\s*<\/th>/);
    const row = gateways.slice(gateways.indexOf('data-gateway="mark-psp"'));
    expect(row.slice(0, row.indexOf('</tr>'))).toContain(
      'held: its window is not reconciled; the mark stays at its start until it is reconciled again with --again',
    );
  });

  it('lists the live processes with their releases: the web process serving it, and a worker left on another release, with the advice to upgrade together', async () => {
    const left = new LeaseHolder(redis, config.redis.keyPrefix, 2000, undefined, { ...presenceOf('worker'), revision: 'oldbuild0003' });
    await left.start();
    try {
      const ok = await login(PASSWORD, { origin: new URL(base).origin });
      const page = await (await fetch(base, { headers: { cookie: (ok.headers.get('set-cookie') ?? '').split(';')[0] } })).text();
      const fleet = page.slice(page.indexOf('id="releases"'));
      const mine = releaseName(releaseIdentity());
      expect(fleet).toMatch(/^id="releases" data-releases="2"\s+class="error"/);
      expect(fleet).toContain('upgrade every web, worker and poller together');
      expect(fleet).toContain(`data-role="web" data-release="${mine}"`);
      expect(fleet).toContain(`data-holder="${left.id}" data-role="worker" data-release="${releaseIdentity().version}+oldbuild0003"`);
    } finally {
      await left.stop();
    }
  });

  it('ends, server-side, the session a browser held when it logs in again, and the one it logs out of', async () => {
    const dashboardWith = async (cookie: string) => (await fetch(base, { headers: { cookie }, redirect: 'manual' })).status;
    const first = sessionCookie(await login(PASSWORD));
    expect(await dashboardWith(first)).toBe(200);
    const second = sessionCookie(await login(PASSWORD, { cookie: first }));
    expect(second).not.toBe(first);
    // The first id, replayed (a copy taken before the new login), no longer opens anything.
    expect(await dashboardWith(first)).toBe(303);
    expect(await dashboardWith(second)).toBe(200);
    const session = consoleSession(stack, second);
    expect((await session.post('logout', `csrf=${await session.csrf()}`)).status).toBe(303);
    expect(await dashboardWith(second)).toBe(303);
  });

  it('refuses a login posted from another origin', async () => {
    expect((await login(PASSWORD, { origin: 'https://evil.example' })).status).toBe(403);
  });

  it('throttles a flood of guesses from one client: past the limit it answers 429 without checking, even the right password; the audit keeps two entries, never the user typed', async () => {
    // One key at a time: on a Redis Cluster the client addresses' keys live in different slots.
    for (const client of ['127.0.0.1', '::1']) await redis.del(`${config.redis.keyPrefix}console:login-attempts:${clientKey(client)}`);
    const before = (await redis.xrange(auditStreamKey(config.redis.keyPrefix), '-', '+')).length;
    const guess = (n: number) => consoleLogin(base, `guess-${n}`, {}, `typed-${n}`);
    const statuses = (await Promise.all(Array.from({ length: 30 }, (_, n) => guess(n)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(LOGIN_ATTEMPTS_MAX);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - LOGIN_ATTEMPTS_MAX);
    expect((await login(PASSWORD)).status).toBe(429);
    const entries = (await redis.xrange(auditStreamKey(config.redis.keyPrefix), '-', '+')).slice(before).map(([, f]) => f[1]);
    expect(entries).toHaveLength(2);
    for (const entry of entries) expect(entry).not.toContain('typed-');
  });
});
