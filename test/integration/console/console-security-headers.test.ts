/**
 * Every answer of the console carries the OWASP Secure Headers Project's headers for a page of its kind:
 * besides no caching (its pages show payment data), no framing, a strict CSP, nosniff and a same-origin
 * referrer, a `Permissions-Policy` allowing no browser feature (the console never needs the camera, the
 * location, payment handlers...), `Cross-Origin-Opener-Policy`, `-Resource-Policy` and `-Embedder-Policy`
 * (a browsing context and resources of its own) and `X-Permitted-Cross-Domain-Policies: none`; the logout's
 * answer clears the browser's cache and storage of the console. The pages still render and their script
 * still runs under them, in headless Chromium.
 */
import { Browser, Page, chromium } from 'playwright-core';
import { DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { chromiumPath } from '../../support/chromium';
import { CONSOLE_PASSWORD, ConsoleStack, consoleSession, startConsoleStack } from '../../support/console-stack';
import { consoleLogin, consoleLookup, sessionCookie } from '../../support/console-login';

jest.setTimeout(60_000);

/** Features an admin console never needs: each must be allowed to no origin. */
const DENIED = ['camera', 'microphone', 'geolocation', 'payment', 'usb', 'serial', 'hid', 'clipboard-read', 'display-capture', 'fullscreen'];

const DEAD_LETTER_ID = `dl-${'c0'.repeat(12)}`;

function expectConsoleHeaders(res: Response, what: string): void {
  const h = (name: string) => res.headers.get(name);
  try {
    expect(h('cache-control')).toBe('no-store');
    expect(h('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(h('content-security-policy')).toContain("default-src 'none'");
    expect(h('x-frame-options')).toBe('DENY');
    expect(h('x-content-type-options')).toBe('nosniff');
    expect(h('referrer-policy')).toBe('same-origin');
    expect(h('cross-origin-opener-policy')).toBe('same-origin');
    expect(h('cross-origin-resource-policy')).toBe('same-origin');
    expect(h('cross-origin-embedder-policy')).toBe('require-corp');
    expect(h('x-permitted-cross-domain-policies')).toBe('none');
    const policy = (h('permissions-policy') ?? '').split(',').map((d) => d.trim());
    for (const feature of DENIED) expect(policy).toContain(`${feature}=()`);
    // Nothing allowed anywhere: every directive is an empty allowlist.
    expect(policy.filter((d) => !/^[a-z-]+=\(\)$/.test(d))).toEqual([]);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
  }
}

describe('console: secure headers', () => {
  let stack: ConsoleStack;
  let cookie: string;

  beforeAll(async () => {
    stack = await startConsoleStack();
    cookie = sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD));
    await new DeadLetterStore(stack.redis, stack.config.redis.keyPrefix).archive({
      id: DEAD_LETTER_ID,
      deadLetteredAt: Date.now(),
      archivedAt: Date.now(),
      code: 'INVALID_PARAMS',
      field: 'payment.currency',
      reason: 'must be a known ISO 4217 code',
      source: 'http:intake',
      orderId: 'ORD-HEADERS-1',
      command: 'authorize',
      amount: 1250,
      currency: 'EUR',
      replayable: false,
      category: 'hard',
      impact: 25,
      body: '{}',
      replays: 0,
    });
  });

  afterAll(() => stack.stop());

  it('on every page showing payment data, its assets, its JSON, its redirects and its errors', async () => {
    const get = (path: string, withCookie = true) => fetch(`${stack.base}${path}`, { redirect: 'manual', headers: withCookie ? { cookie } : {} });
    const answers: [string, Response][] = [
      ['login page', await get('/login', false)],
      ['dashboard', await get('')],
      ['lookup', await consoleLookup(stack.base, cookie, 'ORD-HEADERS-1')],
      ['dead letter', await get(`/dead-letters/${DEAD_LETTER_ID}`)],
      ['summary JSON', await get('/api/summary')],
      ['stylesheet', await get('/static/console.css')],
      ['script', await get('/static/console.js')],
      ['redirect to the login', await get('', false)],
      ['400', await get('?dl=sideways')],
      ['404', await get('/no-such-page')],
    ];
    expect(answers.map(([what, res]) => [what, res.status])).toEqual([
      ['login page', 200],
      ['dashboard', 200],
      ['lookup', 200],
      ['dead letter', 200],
      ['summary JSON', 200],
      ['stylesheet', 200],
      ['script', 200],
      ['redirect to the login', 303],
      ['400', 400],
      ['404', 404],
    ]);
    for (const [what, res] of answers) expectConsoleHeaders(res, what);
  });

  it("the logout's answer clears the console's cache and storage, not the domain's cookies", async () => {
    const own = sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD));
    const session = consoleSession(stack, own);
    const res = await session.post('logout', `csrf=${await session.csrf()}`);
    expect(res.status).toBe(303);
    expect(res.headers.get('clear-site-data')).toBe('"cache", "storage"');
    expectConsoleHeaders(res, 'logout');
  });

  describe('in headless Chromium', () => {
    let browser: Browser;
    let page: Page;
    const problems: string[] = [];

    beforeAll(async () => {
      browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
      page = await (await browser.newContext()).newPage();
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('console', (m) => {
        // A browser names the features of the policy it does not know (web-share on Linux): not a problem.
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
        if (/Content Security Policy|Cross-Origin|blocked/i.test(m.text())) problems.push(`console: ${m.text()}`);
      });
      page.on('response', (res) => {
        // The browser's own favicon request goes to the listener's root, outside the console's path.
        if (res.status() >= 400 && !res.url().endsWith('/favicon.ico')) problems.push(`${res.status()} ${res.url()}`);
      });
      await page.goto(`${stack.base}/login`);
      await page.fill('#username', 'operator');
      await page.fill('#password', CONSOLE_PASSWORD);
      await Promise.all([page.waitForURL(/\/console$/), page.click('form[action$="/login"] button')]);
    });

    afterAll(() => browser?.close());

    it('denies the browser features, and renders the dashboard (its stylesheet, its script), a dead letter and a lookup under the headers', async () => {
      // Strings, evaluated in the page (the tests compile without the DOM's types).
      expect(await page.evaluate('getComputedStyle(document.body).backgroundColor')).toBe('rgb(244, 246, 248)');
      await page.click('[data-select-all]');
      expect(await page.isChecked(`#dead-letters input[name=id][value="${DEAD_LETTER_ID}"]`)).toBe(true);
      const allowed = await page.evaluate(`${JSON.stringify(DENIED)}.filter((f) => document.featurePolicy.allowsFeature(f))`);
      expect(allowed).toEqual([]);
      await page.goto(`${stack.base}/dead-letters/${DEAD_LETTER_ID}`);
      expect(await page.innerText('body')).toContain('payment.currency');
      await page.fill('#q', 'ORD-HEADERS-1');
      await Promise.all([page.waitForNavigation(), page.press('#q', 'Enter')]);
      expect(await page.locator('#lookup-empty').count()).toBe(1);
      await Promise.all([page.waitForURL(/\/console\/login$/), page.click('form.logout button')]);
      expect(problems).toEqual([]);
    });
  });
});
