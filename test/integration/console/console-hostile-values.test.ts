/**
 * Hostile text from outside (a PSP's reasons and references, an order id, a dead letter's headers and body, an
 * event the bus refused, a review rule, an audit entry, a lookup query) is shown as text on every console page
 * that renders it: in element content, in attribute values (both quotes), never as markup, script, an inline
 * script's breakout (`</script>`, `<!--`) or a `javascript:` link (OWASP Cross Site Scripting Prevention Cheat
 * Sheet: output encoding for each context). Checked in headless Chromium on the real web process: no payload
 * runs, none becomes an element or an event handler, the browser reports no blocked inline script (which would
 * mean a payload reached the markup and only the Content-Security-Policy stopped it), and the text reads back as
 * it was sent.
 */
import { Browser, Page, chromium } from 'playwright-core';
import { AuditLog } from '../../../src/audit/audit-log';
import { EventStore } from '../../../src/events/event-store';
import { Ledger } from '../../../src/ledger/ledger';
import { DeadLetterRecord, DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { recordRun } from '../../../src/reconciliation-run/reconciliation-history';
import { ReviewStore } from '../../../src/risk/review-store';
import { chromiumPath } from '../../support/chromium';
import { CONSOLE_PASSWORD, ConsoleStack, startConsoleStack } from '../../support/console-stack';
import { channelCommand } from '../../support/fixtures';

jest.setTimeout(90_000);

/** Each sets `window.__xss` to its number if it ever runs: element content, both attribute quotes, script and comment breakouts, a URL. */
const PAYLOADS = [
  '<img src=x onerror="window.__xss=1">',
  '"><svg onload="window.__xss=2">',
  "'><svg onload='window.__xss=3'>",
  '</script><script>window.__xss=4</script>',
  '<!--<script>window.__xss=5</script>-->',
  'javascript:window.__xss=6',
  '</textarea></title><style>*{}</style><iframe srcdoc="<script>parent.__xss=7</script>"></iframe>',
];
/** All of them in one string (no spaces where an id must be printable: `PRINTABLE_ID`). */
const HOSTILE = PAYLOADS.join(' ');
const HOSTILE_ID = `op-${PAYLOADS[1].replace(/ /g, '/')}`;

describe('console: hostile values from outside are text on every page, never markup or script', () => {
  let stack: ConsoleStack;
  let browser: Browser;
  let page: Page;
  const blocked: string[] = [];
  const dialogs: string[] = [];
  const orderId = `ORD-${PAYLOADS[0]}`;
  const deadLetterId = `dl-${'5a'.repeat(12)}`;

  beforeAll(async () => {
    // Every operation is stuck at once: the dashboard lists the hostile one.
    stack = await startConsoleStack({ 'console.stuck_after_ms': 1 });
    const { redis, config } = stack;
    const prefix = config.redis.keyPrefix;

    const ledger = new Ledger(redis, prefix);
    const cmd = channelCommand('authorize', {}, { order_id: orderId, amount: 1200, currency: 'EUR' });
    const opId = cmd.payment.operation_reference as string;
    await ledger.create(opId, cmd);
    await ledger.transition(opId, 'SENT', { event: 'attempt', note: HOSTILE }, { countAttempt: true });
    await ledger.transition(opId, 'UNKNOWN', { event: 'outcome', psp_message: HOSTILE }, { reason: HOSTILE, gatewayReference: HOSTILE_ID });

    const record: DeadLetterRecord = {
      id: deadLetterId,
      deadLetteredAt: Date.now(),
      archivedAt: Date.now(),
      code: HOSTILE,
      field: HOSTILE,
      reason: HOSTILE,
      source: HOSTILE,
      orderId: HOSTILE,
      command: HOSTILE,
      replayable: false,
      category: 'hard',
      impact: 1,
      body: JSON.stringify({ payment: { order_id: HOSTILE, customer: { name: HOSTILE } } }),
      replays: 0,
    };
    expect(await new DeadLetterStore(redis, prefix).archive(record)).toBe(true);

    const events = new EventStore(redis, prefix);
    const event = { eventId: HOSTILE_ID, paymentKey: HOSTILE, method: HOSTILE, params: { payment: { operation_reference: HOSTILE } } };
    const { sequence } = await events.recordAndCheck(event, Date.now(), 1000);
    await events.setAside({ ...event, sequence }, HOSTILE);

    await new ReviewStore(redis, prefix).hold(HOSTILE_ID, Date.now() + 3_600_000, HOSTILE, HOSTILE);
    await new AuditLog({ redis, prefix, maxLen: 1000, service: 'test' }).record({ action: HOSTILE, actor: HOSTILE, outcome: 'refused', target: HOSTILE });
    await recordRun(redis, prefix, {
      gateway: 'simulator',
      dryRun: false,
      lines: 1,
      adjusted: 0,
      settled: 0,
      durationMs: 1,
      from: 0,
      to: 3_600_000,
      result: 'failed',
      error: HOSTILE,
      differences: 0,
      classes: {},
      at: Date.now(),
    });

    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await (await browser.newContext()).newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    // An inline script or handler the policy refused: markup a payload made.
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) blocked.push(m.text());
    });
    await page.goto(`${stack.base}/login`);
    await page.fill('#username', 'operator');
    await page.fill('#password', CONSOLE_PASSWORD);
    await Promise.all([page.waitForURL(/\/console$/), page.click('form[action$="/login"] button')]);
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  /** Types `q` into the search box and submits it, as an operator does. */
  async function search(q: string): Promise<void> {
    await page.fill('#q', q);
    await Promise.all([page.waitForNavigation(), page.press('#q', 'Enter')]);
  }

  /** Nothing a payload carries became markup, ran, or was refused by the policy; the page's only script is the console's. */
  async function expectInert(where: string): Promise<void> {
    const dom = (await page.evaluate(`(() => ({
      xss: window.__xss,
      scripts: [...document.scripts].map((s) => s.getAttribute('src')),
      made: document.querySelectorAll('img, svg, iframe, style, textarea').length,
      handlers: [...document.querySelectorAll('*')].flatMap((el) => [...el.attributes].map((a) => a.name)).filter((n) => n.startsWith('on')),
      links: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')).filter((h) => !h.startsWith('/')),
    }))()`)) as { xss: unknown; scripts: string[]; made: number; handlers: string[]; links: string[] };
    expect({ where, ...dom, dialogs, blocked }).toEqual({
      where,
      xss: undefined,
      scripts: [`${stack.config.console.path}/static/console.js`],
      made: 0,
      handlers: [],
      links: [],
      dialogs: [],
      blocked: [],
    });
  }

  it('the dashboard: stuck operations, dead letters, refused events, review holds, reconciliation runs and the audit log', async () => {
    await page.goto(stack.base);
    await expectInert('dashboard');
    const text = await page.innerText('main');
    for (const section of ['#stuck', '#dead-letters', '#rejected-events', '#risk-reviews', '#reconciliation-runs', '#audit']) {
      expect(await page.locator(section).innerText()).toContain(PAYLOADS[0]);
    }
    for (const p of PAYLOADS) expect(text).toContain(p);
    // In attribute values too: the row keys read back as they were stored.
    expect(await page.locator('#rejected-events tr[data-event] input[name=id]').getAttribute('value')).toBe(HOSTILE_ID);
    expect(await page.locator('#risk-reviews tr[data-review] input[name=id]').getAttribute('value')).toBe(HOSTILE_ID);
  });

  it("the lookup: the query echoed back, the operation's reason, references and history", async () => {
    // The search box: the order's one operation, on its own page.
    await search(orderId);
    await expectInert('lookup');
    expect(page.url()).toMatch(/\/operations\/[^/?]+$/);
    const text = await page.innerText('main');
    for (const p of PAYLOADS) expect(text).toContain(p);
    expect(await page.locator('[data-operation-detail]').count()).toBe(1);

    // A query that is all payloads, found or not: echoed as text in the answer to the form.
    const hostileQuery = PAYLOADS.slice(0, 5).join('');
    await search(hostileQuery);
    await expectInert('lookup of a hostile query');
    expect(await page.innerText('#query')).toBe(hostileQuery);
    expect(await page.title()).toContain(hostileQuery);
  });

  it("the dead letter's own page: its headers and its body", async () => {
    await page.goto(`${stack.base}/dead-letters/${deadLetterId}`);
    await expectInert('dead letter');
    expect(await page.innerText('.fields')).toContain(PAYLOADS[3]);
    expect(await page.innerText('pre.body')).toContain(JSON.stringify(PAYLOADS[4]).slice(1, -1));
  });

  it('the result pages of the actions: a dry run of the dead letter, a resend of the event, a release of the hold', async () => {
    await page.goto(stack.base);
    for (const [form, button] of [
      ['#dead-letters-form', 'button[value=dry_run]'],
      ['#rejected-events-form', 'button'],
      ['#risk-reviews-form', 'button[value=release]'],
    ]) {
      await page.goto(stack.base);
      await page.locator(`${form} tbody input[name=id]`).first().check();
      await Promise.all([page.waitForNavigation(), page.click(`${form} ${button}`)]);
      await expectInert(`result of ${form}`);
    }
  });
});
