/**
 * The console's search box posts what is typed (with the session's CSRF token, as every other console form):
 * a GET form put it in the URL, so a card number an operator pasted there by mistake landed in the browser's
 * history, proxies' and access logs, and the Referer (OWASP Session Management and CSRF Cheat Sheets: no
 * sensitive data in URLs; state-changing and sensitive requests by POST with a token). One operation found
 * leads to its own page, whose URL names only its id; a card number is not searched, not echoed, not logged
 * and not stored. And a card number in the query string of any console URL never reaches a log line.
 */
import { Browser, chromium } from 'playwright-core';
import { metricsRegistry } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { Ledger } from '../../../src/ledger/ledger';
import { auditStreamKey } from '../../../src/audit/audit-log';
import { scanRedis } from '../../../harness/workload/card-data-scan';
import { PAN_STYLES, TEST_PANS, formatPan, panNeedles } from '../../../harness/drills/test-card-numbers';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { chromiumPath } from '../../support/chromium';
import { consoleCsrf, consoleLogin, consoleLookup, sessionCookie } from '../../support/console-login';
import { CONSOLE_PASSWORD } from '../../support/console-stack';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

jest.setTimeout(60_000);

describe('console lookup: posted, never in a URL; a card number typed there goes nowhere', () => {
  let config: Config;
  let web: WebProcess;
  let redis: RedisClient;
  let base: string;
  let cookie: string;
  let browser: Browser | undefined;
  const logs = captureLogger('debug');
  const order = `ORD-LOOKUP-POST-${process.pid}`;
  let id: string;

  beforeAll(async () => {
    config = testConfig({ 'console.enabled': true, 'console.port': 0, 'console.password': CONSOLE_PASSWORD });
    web = await startWebProcess(config, logs.logger);
    redis = testRedis(config);
    base = web.consoleUrl as string;
    cookie = sessionCookie(await consoleLogin(base, CONSOLE_PASSWORD));
    const cmd = channelCommand('authorize', {}, { order_id: order });
    id = cmd.payment.operation_reference as string;
    await new Ledger(redis, config.redis.keyPrefix).create(id, cmd);
  });

  afterAll(async () => {
    await browser?.close();
    await web.stop();
    redis.disconnect();
    const client = await amqpClient(config);
    await client.deleteNamespace();
    await client.close();
  });

  const lookups = async () =>
    (await redis.xrange(auditStreamKey(config.redis.keyPrefix), '-', '+'))
      .map(([, f]) => JSON.parse(f[1]) as { action: string; outcome: string; target?: string; detail?: Record<string, unknown> })
      .filter((e) => e.action === 'ops.lookup');
  const counted = async (result: string) =>
    (await metricsRegistry.getSingleMetric('pb_console_lookups_total')?.get())?.values.find((v) => v.labels.result === result)?.value ?? 0;

  it('has a search box that posts with the CSRF token, keeps nothing typed (autocomplete off), and a lookup address that takes no query', async () => {
    const dashboard = await (await fetch(base, { headers: { cookie } })).text();
    const form = /<form class="lookup"[^>]*>[\s\S]*?<\/form>/.exec(dashboard)?.[0] ?? '';
    expect(form).toContain('method="post"');
    expect(form).toContain(`action="${config.console.path}/lookup"`);
    expect(form).toContain(`name="csrf" value="${await consoleCsrf(base, cookie)}"`);
    expect(form).toMatch(/<input id="q"[^>]*autocomplete="off"/);

    const before = (await lookups()).length;
    const res = await fetch(`${base}/lookup?q=${encodeURIComponent(order)}`, { headers: { cookie }, redirect: 'manual' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.text()).not.toContain(order);
    expect(await lookups()).toHaveLength(before);
  });

  it('refuses a lookup posted without the session CSRF token', async () => {
    const before = (await lookups()).length;
    expect((await consoleLookup(base, cookie, order, 'not-the-token')).status).toBe(403);
    expect(await lookups()).toHaveLength(before);
  });

  it("leads from one operation found (by order or operation id) to its page, whose URL names only the operation's id", async () => {
    const one = await counted('one');
    for (const q of [order, id, `  ${id}  `]) {
      const res = await consoleLookup(base, cookie, q);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe(`${config.console.path}/operations/${encodeURIComponent(id)}`);
    }
    expect(await counted('one')).toBe(one + 3);
    const page = await fetch(`${base}/operations/${encodeURIComponent(id)}`, { headers: { cookie } });
    expect(page.status).toBe(200);
    const text = await page.text();
    expect(text).toContain(`data-operation="${id}"`);
    expect(text).toContain(`History of ${id}`);
    expect((await fetch(`${base}/operations/no-such-operation`, { headers: { cookie } })).status).toBe(404);
    const audited = await lookups();
    expect(audited[audited.length - 1]).toMatchObject({ outcome: 'ok', target: id, detail: { by: 'console', found: 1 } });
  });

  it('shows a lookup that finds nothing in the answer to the form, at the address of the form', async () => {
    const listed = await counted('listed');
    const res = await consoleLookup(base, cookie, 'ORD-NOTHING-HERE');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('id="lookup-empty"');
    expect(await counted('listed')).toBe(listed + 1);
  });

  it('never searches, echoes, logs or stores a card number typed into the search box, in any of its usual spellings', async () => {
    const refused = await counted('card_number');
    const before = (await lookups()).length;
    const typed = PAN_STYLES.map((style) => formatPan(TEST_PANS[0], style));
    for (const q of [...typed, `order ${TEST_PANS[1]}`]) {
      const res = await consoleLookup(base, cookie, q);
      expect(res.status).toBe(400);
      const page = await res.text();
      expect(page).toContain('looks like a card number');
      for (const needle of panNeedles()) expect(page).not.toContain(needle);
    }
    expect(await counted('card_number')).toBe(refused + typed.length + 1);
    // Audited as refused, with nothing of what was typed.
    const audited = (await lookups()).slice(before);
    expect(audited).toHaveLength(typed.length + 1);
    for (const entry of audited) {
      expect(entry).toMatchObject({ outcome: 'refused', detail: { by: 'console', reason: 'card_number' } });
      expect(entry.target).toBeUndefined();
    }
  });

  it('keeps a card number in the query string of any console address out of every log line, Redis and the metrics', async () => {
    const pan = TEST_PANS[2];
    const paths = [
      `?dl=${pan}`,
      `?per=${pan}`,
      `/lookup?q=${pan}`,
      `/operations/${pan}`,
      `/operations/x?q=${pan}`,
      `/dead-letters/dl-000000000000000000000000?q=${pan}`,
      `/static/console.css?v=${pan}`,
      `/login?next=${pan}`,
      `/no-such-page?q=${pan}`,
      `/api/summary?q=${pan}`,
    ];
    for (const path of paths) {
      const res = await fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
      expect(res.status).toBeLessThan(500);
      const body = await res.text();
      for (const needle of panNeedles()) expect(body).not.toContain(needle);
    }
    // Without a session too, and on a form post to an address with a query string.
    await fetch(`${base}/lookup?q=${pan}`, { redirect: 'manual' });
    const csrf = await consoleCsrf(base, cookie);
    await fetch(`${base}/lookup?q=${pan}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, q: pan }).toString(),
    });
    const needles = panNeedles();
    const leaks: string[] = [];
    for (const line of logs.lines) for (const n of needles) if (line.includes(n)) leaks.push(`log: …${n.slice(-4)}`);
    const metrics = await metricsRegistry.metrics();
    for (const n of needles) if (metrics.includes(n)) leaks.push(`metrics: …${n.slice(-4)}`);
    for (const f of (await scanRedis(redis, config.redis.keyPrefix, needles)).findings) leaks.push(`${f.where.slice(0, 100)}: ${f.needle}`);
    expect(leaks).toEqual([]);
  });

  it('in a browser: the search box leaves no query in the address or the history, and a card number typed there stays off the page', async () => {
    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/login`);
    await page.fill('#username', 'operator');
    await page.fill('#password', CONSOLE_PASSWORD);
    await Promise.all([page.waitForURL(/\/console$/), page.click('form[action$="/login"] button')]);

    await page.fill('#q', order);
    await Promise.all([page.waitForNavigation(), page.press('#q', 'Enter')]);
    expect(page.url()).toBe(`${base}/operations/${encodeURIComponent(id)}`);

    await page.fill('#q', formatPan(TEST_PANS[3], PAN_STYLES[1]));
    await Promise.all([page.waitForNavigation(), page.press('#q', 'Enter')]);
    expect(page.url()).toBe(`${base}/lookup`);
    const shown = `${await page.content()}\n${await page.innerText('body')}`;
    for (const needle of panNeedles()) expect(shown).not.toContain(needle);
    // Every address this tab visited.
    await page.goBack();
    const visited = [page.url()];
    await page.goBack();
    visited.push(page.url());
    for (const url of visited) {
      expect(url).not.toContain('?');
      for (const needle of panNeedles()) expect(url).not.toContain(needle);
    }
  });
});
