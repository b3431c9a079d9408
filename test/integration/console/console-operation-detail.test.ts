/**
 * The console's operation page (a lookup) reads as the on-call operator needs it: the state with what the bridge's
 * marks say of it, then what the PSP confirmed, then every mark and adjustment with its time and source, then the
 * history. A capture recorded FAILED that the PSP did after all (`succeeded_after_failure`) shows as such, not as a
 * bare FAILED. No card number reaches the screen. Real Redis, the real web process, headless Chromium.
 */
import { Browser, Page, chromium } from 'playwright-core';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { Ledger } from '../../../src/ledger/ledger';
import { chromiumPath } from '../../support/chromium';
import { CONSOLE_PASSWORD, ConsoleStack, startConsoleStack } from '../../support/console-stack';
import { TEST_PANS, channelCommand } from '../../support/fixtures';

jest.setTimeout(60_000);

describe('console: the operation page shows what the PSP confirmed and every mark the bridge put on it', () => {
  let stack: ConsoleStack;
  let ledger: Ledger;
  let store: AdjustmentStore;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    stack = await startConsoleStack();
    ledger = new Ledger(stack.redis, stack.config.redis.keyPrefix);
    store = new AdjustmentStore(stack.redis, stack.config.redis.keyPrefix);
    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await (await browser.newContext()).newPage();
    await page.goto(`${stack.base}/login`);
    await page.fill('#username', 'operator');
    await page.fill('#password', CONSOLE_PASSWORD);
    await Promise.all([page.waitForURL(/\/console$/), page.click('form[action$="/login"] button')]);
  });

  afterAll(async () => {
    await browser?.close();
    await stack.stop();
  });

  it('marks a FAILED capture the PSP did after all, with the money it confirmed, the time and the source, before the history', async () => {
    const order = `ORD-LATE-${process.pid}`;
    const cmd = channelCommand('capture', {}, { gateway: 'adyen', gateway_account: 'acct-1', amount: 5000, currency: 'EUR', order_id: order });
    const id = cmd.payment.operation_reference as string;
    await ledger.create(id, cmd);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await ledger.transition(id, 'FAILED', { event: 'outcome' }, { reason: 'capture refused', gatewayReference: 'ADYC-LATE-1' });
    const pspTime = Date.UTC(2026, 11, 5, 6, 30);
    const recorded = await store.recordAdjustment({
      operationId: id,
      gateway: 'adyen',
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 5000,
      currency: 'EUR',
      // A PSP's free text as it came: masked on the page.
      reason: `recaptured ${TEST_PANS[0]}`,
      pspReference: 'ADYC-LATE-1',
      pspEventId: `evt-late-${id}`,
      occurredAt: pspTime,
      source: 'webhook',
    });
    expect(recorded.counted).toBe(true);

    for (const q of [id, order]) {
      // The search box: one operation found, its own page.
      await page.fill('#q', q);
      await Promise.all([page.waitForNavigation(), page.press('#q', 'Enter')]);
      expect(page.url()).toBe(`${stack.base}/operations/${encodeURIComponent(id)}`);
      // The lookup's list: the state with its note.
      const row = page.locator(`#lookup-results tr[data-operation="${id}"]`);
      expect(await row.innerText()).toContain('done at the PSP after all (50.00 EUR)');

      const detail = page.locator(`section[data-operation-detail="${id}"]`);
      expect(await detail.count()).toBe(1);
      expect(await detail.locator('.state-note').innerText()).toBe('done at the PSP after all (50.00 EUR)');
      const psp = await detail.locator('dl.psp-says').innerText();
      expect(psp).toContain('did it after all');
      expect(psp).toContain(`50.00 EUR (by ${recorded.adjustment.id})`);
      expect(psp).toContain('2026-12-05 06:30:00');

      const mark = detail.locator('li[data-mark="succeeded_after_failure"]');
      expect(await mark.count()).toBe(1);
      const markText = await mark.innerText();
      expect(markText).toContain('2026-12-05 06:30:00');
      expect(markText).toContain('webhook (adyen)');
      expect(markText).toContain('recorded FAILED, the PSP did it after all: 50.00 EUR confirmed');
      expect(markText).toContain(recorded.adjustment.id);

      const adjustment = detail.locator(`tr[data-adjustment="${recorded.adjustment.id}"][data-kind="succeeded_after_failure"]`);
      expect(await adjustment.count()).toBe(1);
      expect(await adjustment.innerText()).toContain('50.00 EUR');

      // State, the PSP says, marks, adjustments, then the history.
      const body = await page.innerText('main');
      const at = (s: string) => body.indexOf(s);
      expect(at('The PSP says')).toBeGreaterThan(at(`Operation ${id}`));
      expect(at('Marks')).toBeGreaterThan(at('The PSP says'));
      expect(at('Adjustments')).toBeGreaterThan(at('Marks'));
      expect(at(`History of ${id}`)).toBeGreaterThan(at('Adjustments'));

      const shown = `${body}\n${await page.content()}`;
      for (const pan of TEST_PANS) expect(shown).not.toContain(pan);
    }
  });
});
