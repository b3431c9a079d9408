/**
 * The console lists the PSP re-captures held past `delivery.recapture_failure_wait_ms` (waiting for the capture
 * failure they follow) and dismisses the selected once the operator settled them with the PSP, as
 * `ops recaptures dismiss` does, through the same function: a POST with the session's CSRF token, each one
 * audit-logged with the console user, counted, and a `recapture_dismissed` history entry naming that user; it
 * then leaves the list. Refused whole without the token, dismissing nothing. Real Redis; the browser's own
 * click in headless Chromium.
 */
import { Browser, Page, chromium } from 'playwright-core';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { adyenRecapture } from '../../support/held-recapture';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RecaptureWaitSweep } from '../../../src/poller/recapture-wait';
import { silentLogger } from '../../../src/logging/logger';
import { chromiumPath } from '../../support/chromium';
import { CONSOLE_PASSWORD, ConsoleSession, ConsoleStack, consoleSession, startConsoleStack } from '../../support/console-stack';
import { consoleLogin, sessionCookie } from '../../support/console-login';
import { TEST_PANS, channelCommand } from '../../support/fixtures';

jest.setTimeout(60_000);

const WAIT_MS = 3_600_000;

describe('console: dismiss the re-captures held waiting for their capture failure', () => {
  let stack: ConsoleStack;
  let session: ConsoleSession;
  let ledger: Ledger;
  let store: AdjustmentStore;
  let seq = 0;

  beforeAll(async () => {
    stack = await startConsoleStack({ 'delivery.recapture_failure_wait_ms': WAIT_MS });
    ledger = new Ledger(stack.redis, stack.config.redis.keyPrefix);
    store = new AdjustmentStore(stack.redis, stack.config.redis.keyPrefix);
    session = consoleSession(stack, sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD)));
  });

  afterAll(async () => {
    await stack.stop();
  });

  /** A 5000 EUR Adyen capture that SUCCEEDED, holding Adyen's re-capture of it since past its wait; its id. */
  async function heldPastWait(): Promise<string> {
    const reference = `ADYC${process.pid}${++seq}`;
    const cmd = channelCommand(
      'capture',
      {},
      { gateway: 'adyen', gateway_account: 'acct-1', amount: 5000, currency: 'EUR', order_id: `order-cd-${reference}` },
    );
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await ledger.transition(id, 'SUCCEEDED', { event: 'outcome' }, { gatewayReference: reference });
    const heldAt = Date.now() - WAIT_MS - 5_000;
    const held = adyenRecapture(reference, heldAt - 60_000);
    expect(await store.holdRecapture(id, held, heldAt)).toBe('held');
    return id;
  }

  const post = (body: string) => session.post('recaptures/dismiss', body);
  const dismissAudit = () => session.audited('ops.recapture_dismiss');
  const inIndex = async (id: string) => (await store.heldRecapturesSince(Number.POSITIVE_INFINITY, 10_000)).some((e) => e.operationId === id);
  const dismissedHistory = async (id: string) => (await ledger.interactions(id)).filter((h) => h.event === 'recapture_dismissed');
  const dismissedTotal = () => metricValue('pb_recaptures_dismissed_total');
  const formOf = (page: string) => page.slice(page.indexOf(`<form method="post" action="${stack.config.console.path}/recaptures/dismiss"`));

  it('lists each one past its wait with a box to select it, in a form that posts to the dismiss action with the CSRF token', async () => {
    const id = await heldPastWait();
    const form = formOf(await session.dashboard());
    expect(form).toContain('id="held-recaptures-form"');
    expect(form).toContain(`name="id" value="${id}"`);
    expect(form).toMatch(/<input type="hidden" name="csrf" value="[^"]+"/);
  });

  it('refuses a dismissal without the CSRF token (audited as refused) and a form naming a card number, whole: nothing is dismissed', async () => {
    const id = await heldPastWait();
    const before = await dismissedTotal();
    const stale = await post(`csrf=wrong&id=${encodeURIComponent(id)}`);
    expect(stale.status).toBe(403);
    const noToken = await post(`id=${encodeURIComponent(id)}`);
    expect(noToken.status).toBe(403);
    const refusals = (await session.audited('console.csrf_refused')).filter((e) => e.target === '/recaptures/dismiss');
    expect(refusals).toHaveLength(2);
    for (const e of refusals) expect(e).toMatchObject({ outcome: 'refused', actor: expect.stringMatching(/^console:operator@/) });
    const pan = await post(`csrf=${await session.csrf()}&id=${encodeURIComponent(id)}&id=${TEST_PANS[0]}`);
    expect(pan.status).toBe(400);
    expect(await pan.text()).not.toContain(TEST_PANS[0]);
    expect(await inIndex(id)).toBe(true);
    expect(await dismissedHistory(id)).toEqual([]);
    expect(await dismissAudit()).toEqual([]);
    expect(await dismissedTotal()).toBe(before);
    expect(formOf(await session.dashboard())).toContain(`name="id" value="${id}"`);
  });

  it('dismisses each selected one (surfaced or not yet), says what became of each, audit-logs, counts and records it, and it leaves the list', async () => {
    const due = await heldPastWait();
    const surfaced = await heldPastWait();
    // The poll pass surfaced this one: it is in the index of surfaced re-captures now.
    await new RecaptureWaitSweep({ config: stack.config, store, logger: silentLogger() }).runOnce();
    const before = await dismissedTotal();
    const auditedBefore = (await dismissAudit()).length;
    const res = await post(`csrf=${await session.csrf()}&id=${encodeURIComponent(due)}&id=${encodeURIComponent(surfaced)}&id=no-such-operation`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain(`data-operation="${due}" data-result="dismissed"`);
    expect(page).toContain(`data-operation="${surfaced}" data-result="dismissed"`);
    expect(page).toContain('data-operation="no-such-operation" data-result="not_waiting"');
    expect(page).toContain('not waiting any more');
    expect(await inIndex(due)).toBe(false);
    expect(await inIndex(surfaced)).toBe(false);
    expect(await dismissedTotal()).toBe(before + 2);
    const audit = (await dismissAudit()).slice(auditedBefore);
    expect(audit.map((e) => [e.target, e.outcome])).toEqual([
      [due, 'ok'],
      [surfaced, 'ok'],
      ['no-such-operation', 'refused'],
    ]);
    const actor = audit[0].actor;
    expect(actor).toMatch(/^console:operator@\S+$/);
    for (const e of audit) expect(e.actor).toBe(actor);
    for (const id of [due, surfaced]) expect(await dismissedHistory(id)).toEqual([expect.objectContaining({ by: actor })]);
    const dashboard = await session.dashboard();
    expect(dashboard).not.toContain(`data-operation="${due}"`);
    expect(dashboard).not.toContain(`data-operation="${surfaced}"`);
    // Again: nothing left to dismiss, nothing counted.
    const again = await post(`csrf=${await session.csrf()}&id=${encodeURIComponent(due)}`);
    expect(await again.text()).toContain(`data-operation="${due}" data-result="not_waiting"`);
    expect(await dismissedTotal()).toBe(before + 2);
  });

  describe('in a browser', () => {
    let browser: Browser;
    let page: Page;

    beforeAll(async () => {
      browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
      page = await (await browser.newContext()).newPage();
      await page.goto(`${stack.base}/login`);
      await page.fill('#username', 'operator');
      await page.fill('#password', CONSOLE_PASSWORD);
      await Promise.all([page.waitForURL(/\/console$/), page.click('form[action$="/login"] button')]);
    });

    afterAll(async () => {
      await browser?.close();
    });

    it("dismisses the checked one with the form's own button (Origin and CSP as a browser sends them), and the dashboard lists it no more", async () => {
      const id = await heldPastWait();
      await page.goto(stack.base);
      const row = page.locator(`#held-recaptures tr[data-operation="${id}"]`);
      expect(await row.count()).toBe(1);
      await row.locator('input[name="id"]').check();
      await Promise.all([page.waitForURL(/\/recaptures\/dismiss$/), page.click('#held-recaptures-form button[type="submit"]')]);
      expect(await page.locator(`#dismiss-results tr[data-operation="${id}"][data-result="dismissed"]`).count()).toBe(1);
      await page.click('text=back to the dashboard');
      await page.waitForURL(/\/console$/);
      expect(await page.locator(`tr[data-operation="${id}"]`).count()).toBe(0);
      expect(await inIndex(id)).toBe(false);
      const [entry] = (await dismissAudit()).filter((e) => e.target === id);
      expect(entry).toMatchObject({ outcome: 'ok', actor: expect.stringMatching(/^console:operator@/) });
    });
  });
});
