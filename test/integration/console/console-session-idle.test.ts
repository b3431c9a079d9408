/**
 * The console ends a session unused for `console.session_idle_ms` (OWASP Session Management Cheat Sheet:
 * an idle timeout, enforced by the server), with an info line and `pb_console_sessions_idle_ended_total`.
 * Pages and forms use a session; the dashboard's refresh of its figures every 5 s does not (it would keep a
 * dashboard left open on an unattended screen logged in for the whole lifetime), and once the session has
 * ended that refresh takes the dashboard to the login page. Before, only the 8 h lifetime ended a session.
 */
import { createHash } from 'node:crypto';
import { Browser, chromium } from 'playwright-core';
import { ConsoleSessions } from '../../../src/console/console-sessions';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { Config } from '../../../src/config/config';
import { RedisClient } from '../../../src/redis/redis-connection';
import { amqpClient } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { chromiumPath } from '../../support/chromium';
import { CONSOLE_PASSWORD } from '../../support/console-stack';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

jest.setTimeout(60_000);

const MINUTE = 60_000;
const CREDENTIALS = { username: 'operator', password: CONSOLE_PASSWORD };

describe('console: the idle timeout', () => {
  let config: Config;
  let web: WebProcess;
  let base: string;
  let redis: RedisClient;
  let sessions: ConsoleSessions;
  const captured = captureLogger('info');

  beforeAll(async () => {
    config = testConfig({ 'console.enabled': true, 'console.port': 0, 'console.password': CONSOLE_PASSWORD, 'console.session_idle_ms': 15 * MINUTE });
    web = await startWebProcess(config, captured.logger);
    base = web.consoleUrl as string;
    redis = testRedis(config);
    sessions = new ConsoleSessions(redis, config.redis.keyPrefix, config.console.sessionTtlMs, config.console.sessionIdleMs);
  });

  afterAll(async () => {
    await web.stop();
    redis.disconnect();
    const client = await amqpClient(config);
    await client.deleteNamespace();
    await client.close();
  });

  const keyOf = (id: string) => `${config.redis.keyPrefix}console:session:${createHash('sha256').update(id).digest('hex')}`;
  const lastUsedAt = async (id: string) => (JSON.parse((await redis.get(keyOf(id))) ?? '{}') as { lastUsedAt?: number }).lastUsedAt;
  const get = (path: string, id: string) => fetch(`${base}${path}`, { redirect: 'manual', headers: { cookie: `pb_console=${id}` } });

  it('ends a session last used 16 min ago (15 min idle timeout): to the login page, an info line, counted', async () => {
    const { id } = await sessions.create(CREDENTIALS, Date.now() - 16 * MINUTE);
    const before = await metricValue('pb_console_sessions_idle_ended_total');
    const res = await get('', id);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`${config.console.path}/login`);
    expect(await redis.exists(keyOf(id))).toBe(0);
    expect(await metricValue('pb_console_sessions_idle_ended_total')).toBe(before + 1);
    const line = captured.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'console: session ended after idling');
    expect(line).toMatchObject({ level: 'info', user: 'operator', idle_ms: 15 * MINUTE, last_used_at: expect.any(String) });
    expect(JSON.stringify(line)).not.toContain(id);
  });

  it("keeps a session used 14 min ago, and a page restarts its idle timeout while the dashboard's refresh does not", async () => {
    const { id } = await sessions.create(CREDENTIALS, Date.now() - 14 * MINUTE);
    const opened = (await lastUsedAt(id)) as number;
    expect((await get('/api/summary', id)).status).toBe(200);
    expect(await lastUsedAt(id)).toBe(opened);
    expect((await get('', id)).status).toBe(200);
    expect(await lastUsedAt(id)).toBeGreaterThanOrEqual(Date.now() - MINUTE);
  });

  it('takes a dashboard left open to the login page once its session has idled out (headless Chromium)', async () => {
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${base}/login`);
      await page.fill('#username', 'operator');
      await page.fill('#password', CONSOLE_PASSWORD);
      await Promise.all([page.waitForURL(/\/console$/), page.click('form[action$="/login"] button')]);
      const id = (await context.cookies()).find((c) => c.name === 'pb_console')?.value as string;
      // As if the operator had walked away 16 minutes ago: only the dashboard's refresh runs since.
      const stored = JSON.parse((await redis.get(keyOf(id))) as string) as Record<string, unknown>;
      await redis.set(keyOf(id), JSON.stringify({ ...stored, lastUsedAt: Date.now() - 16 * MINUTE }), 'KEEPTTL', 'XX');
      await page.waitForURL(/\/console\/login$/, { timeout: 12_000 });
      expect(await page.locator('#password').count()).toBe(1);
    } finally {
      await browser?.close();
    }
  });
});
