/**
 * A real browser keeps the console's `__Host-` session cookie over https and sends it back: the prefix is
 * only honoured when the cookie is `Secure`, has `Path=/` and no `Domain` (RFC 6265bis §4.1.3.2), and a
 * browser silently drops one that is not, which would leave the operator unable to log in. Headless
 * Chromium against the web process' TLS listener (a self-signed certificate).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Browser, chromium } from 'playwright-core';
import { silentLogger } from '../../../src/logging/logger';
import { WebProcess, startWebProcess } from '../../../src/processes/web-process';
import { Config } from '../../../src/config/config';
import { amqpClient } from '../../support/amqp-helpers';
import { chromiumPath } from '../../support/chromium';
import { CONSOLE_PASSWORD } from '../../support/console-stack';
import { testConfig } from '../../support/test-config';
import { makeSelfSignedCert } from '../http/tls-cert';

jest.setTimeout(60_000);

describe('console session cookie in a browser over https', () => {
  let dir: string;
  let config: Config;
  let web: WebProcess;
  let browser: Browser;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pb-console-tls-'));
    const cert = makeSelfSignedCert();
    writeFileSync(path.join(dir, 'cert.pem'), cert.cert);
    writeFileSync(path.join(dir, 'key.pem'), cert.key);
    config = testConfig({
      'console.enabled': true,
      'console.port': 0,
      'console.password': CONSOLE_PASSWORD,
      'edge.tls.cert_file': path.join(dir, 'cert.pem'),
      'edge.tls.key_file': path.join(dir, 'key.pem'),
    });
    web = await startWebProcess(config, silentLogger());
    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  });

  afterAll(async () => {
    await browser?.close();
    await web?.stop();
    const client = await amqpClient(config);
    await client.deleteNamespace();
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the __Host- cookie (Secure, Path=/, host-only), sends it back, and drops it at the logout', async () => {
    const base = web.consoleUrl as string;
    expect(base).toMatch(/^https:\/\//);
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${base}/login`);
    await page.fill('#username', 'operator');
    await page.fill('#password', CONSOLE_PASSWORD);
    await Promise.all([page.waitForURL(/\/console$/), page.click('form[action$="/login"] button')]);
    const cookies = await context.cookies();
    expect(cookies.map(({ name, path: p, secure, httpOnly, sameSite, domain }) => ({ name, path: p, secure, httpOnly, sameSite, domain }))).toEqual([
      { name: '__Host-pb_console', path: '/', secure: true, httpOnly: true, sameSite: 'Strict', domain: '127.0.0.1' },
    ]);
    // The session works: the dashboard, not the login.
    await page.goto(base);
    expect(page.url()).toBe(base);
    expect(await page.locator('form.logout').count()).toBe(1);
    await Promise.all([page.waitForURL(/\/console\/login$/), page.click('form.logout button')]);
    expect(await context.cookies()).toEqual([]);
    await context.close();
  });
});
