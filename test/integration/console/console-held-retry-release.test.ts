/**
 * The console's operation page of a capture held for its PSP's own retry (Adyen's technical CAPTURE_FAILED) shows
 * since when and for how long it is held, whether past Adyen's 10 days, and a release form that does what
 * `ops held-retries release` does, through the same function (one script): a POST with the session's CSRF token, a
 * reason required, a dry run unless the operator chose Release; audit-logged `ops.held_retry_release` with the console
 * user, counted in `pb_held_for_psp_retry_released_total`, a `held_for_psp_retry_released` history entry naming that
 * user. Refused whole (nothing released, nothing audited as a release) without the token, without a reason, with a
 * card number in the reason, or with a mode the form does not offer. Real Redis; the browser's own click in headless
 * Chromium.
 */
import { Browser, Page, chromium } from 'playwright-core';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { chromiumPath } from '../../support/chromium';
import { CONSOLE_PASSWORD, ConsoleSession, ConsoleStack, consoleSession, startConsoleStack } from '../../support/console-stack';
import { consoleLogin, sessionCookie } from '../../support/console-login';
import { TEST_PANS, channelCommand } from '../../support/fixtures';

jest.setTimeout(60_000);

const REASON = 'Capture rejected by card scheme because of a technical issue.';
const DAY_MS = 86_400_000;

describe("console: a capture held for its PSP's retry shows how long it is held, and an operator releases it", () => {
  let stack: ConsoleStack;
  let session: ConsoleSession;
  let ledger: Ledger;
  let seq = 0;

  beforeAll(async () => {
    stack = await startConsoleStack();
    ledger = new Ledger(stack.redis, stack.config.redis.keyPrefix);
    session = consoleSession(stack, sessionCookie(await consoleLogin(stack.base, CONSOLE_PASSWORD)));
  });

  afterAll(async () => {
    await stack.stop();
  });

  /** A 5000 EUR Adyen capture recorded FAILED and held for Adyen's re-capture since `heldAgoMs` ago, as the recorder leaves it; its id. */
  async function heldCapture(heldAgoMs = 11 * DAY_MS): Promise<string> {
    const n = `${process.pid}-${++seq}`;
    const cmd = channelCommand('capture', {}, { gateway: 'adyen', gateway_account: 'acct-1', amount: 5000, currency: 'EUR', order_id: `order-hr-${n}` });
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await ledger.transition(id, 'FAILED', { event: 'outcome' }, { reason: REASON, heldForPspRetry: REASON, gatewayReference: `ADYHR${seq}` });
    await ledger.indexHeldForPspRetry(id, Date.now() - heldAgoMs);
    return id;
  }

  const operationPage = async (id: string) =>
    (await fetch(`${stack.base}/operations/${encodeURIComponent(id)}`, { headers: { cookie: session.cookie } })).text();
  const post = (body: string) => session.post('held-retries/release', body);
  const releaseAudit = async (id: string) => (await session.audited('ops.held_retry_release')).filter((e) => e.target === id);
  const releasedTotal = () => metricValue('pb_held_for_psp_retry_released_total', { gateway: 'adyen', command: 'capture' });
  const stillHeld = async (id: string) => (await ledger.get(id))?.heldForPspRetry === REASON;
  const form = (id: string, fields: Record<string, string>) => new URLSearchParams({ id, ...fields }).toString();

  it('shows when it was first held, for how long, that it is past the 10 days, and a release form with the CSRF token and a required reason', async () => {
    const id = await heldCapture();
    const page = await operationPage(id);
    const section = /<section[^>]*id="held-for-psp-retry"[^>]*>[\s\S]*?<\/section>/.exec(page)?.[0] ?? '';
    expect(section).toContain(`data-operation="${id}"`);
    expect(section).toContain('data-overdue="true"');
    const heldMs = Number(/data-held-ms="(\d+)"/.exec(section)?.[1]);
    expect(heldMs).toBeGreaterThanOrEqual(11 * DAY_MS);
    expect(section).toContain('(past the PSP retry of 10 days: ask the PSP)');
    expect(section).toContain('50.00 EUR');
    expect(section).toContain(REASON);
    expect(section).toContain(`action="${stack.config.console.path}/held-retries/release"`);
    expect(section).toMatch(/<input type="hidden" name="csrf" value="[^"]+"/);
    expect(section).toContain(`name="id" value="${id}"`);
    expect(section).toMatch(/name="reason"\s+required/);
    // Held for a day: shown, not past the PSP's retry.
    const recent = await heldCapture(DAY_MS);
    expect(await operationPage(recent)).toContain('data-overdue="false"');
  });

  it('a held refund: the form and the result say a refund of that amount is allowed again, never a cancel', async () => {
    const n = `${process.pid}-${++seq}`;
    const cmd = channelCommand('refund', {}, { gateway: 'adyen', gateway_account: 'acct-1', amount: 2000, currency: 'EUR', order_id: `order-hr-refund-${n}` });
    const id = cmd.payment.operation_reference!;
    const refundReason = 'Refund rejected by card scheme because of a technical issue.';
    await ledger.create(id, cmd);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await ledger.transition(id, 'FAILED', { event: 'outcome' }, { reason: refundReason, heldForPspRetry: refundReason, gatewayReference: `ADYHRR${seq}` });
    await ledger.indexHeldForPspRetry(id, Date.now() - DAY_MS);
    const section = /<section[^>]*id="held-for-psp-retry"[^>]*>[\s\S]*?<\/section>/.exec(await operationPage(id))?.[0] ?? '';
    expect(section).toContain('a refund of that amount is allowed again');
    expect(section).not.toContain('cancel');
    const csrf = decodeURIComponent(await session.csrf());
    const res = await post(form(id, { csrf, reason: 'Adyen Support case 777: no retry', mode: 'execute' }));
    const text = await res.text();
    expect(text).toContain(`data-operation="${id}" data-result="released"`);
    expect(text).toContain('released: its amount is no longer held; a refund of that amount is allowed again');
    expect(text).not.toContain('cancel of its authorization');
  });

  it('shows no held section or form for an operation not held', async () => {
    const cmd = channelCommand(
      'capture',
      {},
      { gateway: 'adyen', gateway_account: 'acct-1', amount: 100, currency: 'EUR', order_id: `order-hr-plain-${process.pid}` },
    );
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd);
    expect(await operationPage(id)).not.toContain('id="held-for-psp-retry"');
  });

  it('refuses, releasing and auditing nothing: without the CSRF token, without a reason, with a card number in the reason, with another mode, with two ids', async () => {
    const id = await heldCapture();
    const other = await heldCapture();
    const before = await releasedTotal();
    expect((await post(form(id, { csrf: 'wrong', reason: 'Adyen case 1', mode: 'execute' }))).status).toBe(403);
    expect((await post(form(id, { reason: 'Adyen case 1', mode: 'execute' }))).status).toBe(403);
    const refusals = (await session.audited('console.csrf_refused')).filter((e) => e.target === '/held-retries/release');
    expect(refusals).toHaveLength(2);
    const csrf = decodeURIComponent(await session.csrf());
    const noReason = await post(form(id, { csrf, reason: '   ', mode: 'execute' }));
    expect(noReason.status).toBe(400);
    expect(await noReason.text()).toContain('The field reason is required');
    const pan = await post(form(id, { csrf, reason: `case ${TEST_PANS[0]}`, mode: 'execute' }));
    expect(pan.status).toBe(400);
    expect(await pan.text()).not.toContain(TEST_PANS[0]);
    expect((await post(form(id, { csrf, reason: 'Adyen case 1', mode: 'force' }))).status).toBe(400);
    expect((await post(`${form(id, { csrf, reason: 'Adyen case 1', mode: 'execute' })}&id=${encodeURIComponent(other)}`)).status).toBe(400);
    for (const held of [id, other]) {
      expect(await stillHeld(held)).toBe(true);
      expect(await releaseAudit(held)).toEqual([]);
    }
    expect(await releasedTotal()).toBe(before);
    expect(await operationPage(id)).toContain('id="held-for-psp-retry"');
  });

  it('a dry run (the default) says it would release it and changes nothing; audit-logged as a dry run with the console user', async () => {
    const id = await heldCapture();
    const before = await releasedTotal();
    const csrf = decodeURIComponent(await session.csrf());
    const runs: Array<Record<string, string>> = [
      { csrf, reason: 'Adyen case 2' },
      { csrf, reason: 'Adyen case 2', mode: 'dry_run' },
    ];
    for (const fields of runs) {
      const res = await post(form(id, fields));
      expect(res.status).toBe(200);
      const page = await res.text();
      expect(page).toContain(`data-operation="${id}" data-result="would_release"`);
      expect(page).toContain('Dry run: nothing was changed');
    }
    expect(await stillHeld(id)).toBe(true);
    expect(await releasedTotal()).toBe(before);
    const audit = await releaseAudit(id);
    expect(audit).toHaveLength(2);
    for (const e of audit) {
      expect(e).toMatchObject({ outcome: 'dry_run', actor: expect.stringMatching(/^console:operator@/), detail: { execute: false, result: 'would_release' } });
    }
  });

  it('Release releases it once through the same script as the CLI: audit-logged, counted, its history names the console user; the page shows it released', async () => {
    const id = await heldCapture();
    const before = await releasedTotal();
    const csrf = decodeURIComponent(await session.csrf());
    const res = await post(form(id, { csrf, reason: 'Adyen Support case 12345: no re-capture', mode: 'execute' }));
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(`data-operation="${id}" data-result="released"`);
    expect(await stillHeld(id)).toBe(false);
    expect(await ledger.heldForPspRetryIndexedAt(id)).toBeNull();
    expect(await releasedTotal()).toBe(before + 1);
    const [entry] = await releaseAudit(id);
    expect(entry).toMatchObject({ outcome: 'ok', actor: expect.stringMatching(/^console:operator@\S+$/), detail: { execute: true, result: 'released' } });
    const history = (await ledger.interactions(id)).filter((h) => h.event === 'held_for_psp_retry_released');
    expect(history).toEqual([expect.objectContaining({ by: entry.actor, reason: 'Adyen Support case 12345: no re-capture' })]);
    const page = await operationPage(id);
    expect(page).not.toContain('id="held-for-psp-retry"');
    expect(page).toContain('data-mark="held_for_psp_retry_released"');
    // Again: released before, refused, not counted.
    const again = await post(form(id, { csrf, reason: 'again', mode: 'execute' }));
    expect(await again.text()).toContain(`data-operation="${id}" data-result="already_released"`);
    expect(await releasedTotal()).toBe(before + 1);
    const unknown = await post(form('no-such-operation', { csrf, reason: 'x', mode: 'execute' }));
    expect(await unknown.text()).toContain('data-operation="no-such-operation" data-result="not_found"');
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

    it("releases with the form's own button once a reason is typed (Origin and CSP as a browser sends them); without one the browser does not post", async () => {
      const id = await heldCapture();
      await page.goto(`${stack.base}/operations/${encodeURIComponent(id)}`);
      expect(await page.locator('#held-for-psp-retry').getAttribute('data-overdue')).toBe('true');
      expect(await page.locator('#held-for-psp-retry .held-age').innerText()).toMatch(/h \(past the PSP retry of 10 days/);
      // No reason: the form's `required` keeps the browser from posting it.
      await page.click('#held-release-form button[value="execute"]');
      expect(page.url()).toBe(`${stack.base}/operations/${encodeURIComponent(id)}`);
      expect(await stillHeld(id)).toBe(true);
      await page.fill('#held-release-reason', 'Adyen Support case 777: no re-capture');
      await Promise.all([page.waitForURL(/\/held-retries\/release$/), page.click('#held-release-form button[value="execute"]')]);
      expect(await page.locator(`#held-release-results tr[data-operation="${id}"][data-result="released"]`).count()).toBe(1);
      expect(await stillHeld(id)).toBe(false);
      const [entry] = await releaseAudit(id);
      expect(entry).toMatchObject({ outcome: 'ok', actor: expect.stringMatching(/^console:operator@/) });
    });
  });
});
