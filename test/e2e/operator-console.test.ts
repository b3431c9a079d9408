/**
 * The operator console in a real headless browser (Debian's chromium, driven by playwright-core), on a
 * real stack: the bridge's `web` (with the console on its own port) and `worker` roles as child processes
 * of the built CLI, the bus twin and the PSP simulator, the real RabbitMQ and Redis. The page loads behind
 * its login, a lookup finds an order, a replay from the page lands exactly once (one PSP effect, one event
 * at the bus, also when replayed twice), at a desktop and at a phone-sized viewport without horizontal
 * overflow, and nothing a dead letter carries runs as script.
 */
import { Browser, Locator, Page, chromium } from 'playwright-core';
import { deadLetterStampKey } from '../../src/amqp/dead-letter-stamp';
import { AmqpConnection } from '../../src/amqp/amqp-connection';
import { ConfirmPublisher } from '../../src/amqp/confirm-publisher';
import { AUTHENTICATED_CHANNEL_HEADER, DeadLetterWriter } from '../../src/amqp/dead-letter-writer';
import { silentLogger } from '../../src/logging/logger';
import { EventStore } from '../../src/events/event-store';
import { createRedis } from '../../src/redis/redis-connection';
import { LocalStack, freePort, startLocalStack } from '../../harness/twins/local-stack/local-stack';
import { ChannelPublisher } from '../../harness/workload/channel-publisher';
import { chromiumPath } from '../support/chromium';
import { TEST_PANS, channelCommand } from '../support/fixtures';
import { testNamespace } from '../support/test-config';
import { eventually } from '../support/tcp-proxy';

jest.setTimeout(180_000);

const PASSWORD = 'console-test-password-0123';
const XSS = '<img src=x onerror="window.__xss=1">';

let stack: LocalStack;
let browser: Browser;
let consoleUrl: string;
let connection: AmqpConnection;
let publisher: ConfirmPublisher;

beforeAll(async () => {
  const port = await freePort();
  stack = await startLocalStack({
    namespace: testNamespace(),
    workers: 1,
    simulator: { seed: 11 },
    parameters: { 'console.enabled': true, 'console.bind': '127.0.0.1', 'console.port': port, 'console.password': PASSWORD },
  });
  consoleUrl = `http://127.0.0.1:${port}/console`;
  connection = new AmqpConnection({ url: stack.config.amqp.url, logger: silentLogger() });
  await connection.connect();
  publisher = new ConfirmPublisher(connection, 5000);
  browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});

afterAll(async () => {
  await browser?.close();
  await publisher?.close();
  await connection?.close();
  await stack?.stop({ purge: true });
});

async function login(page: Page): Promise<void> {
  await page.goto(consoleUrl);
  await page.waitForURL(/\/console\/login$/);
  await page.fill('#username', 'operator');
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForURL(/\/console$/), page.click('form[action$="/login"] button')]);
}

/** The visible text of the first element `locator` matches, once it is there. */
async function text(locator: Locator): Promise<string> {
  await locator.first().waitFor({ state: 'attached', timeout: 15_000 });
  return (await locator.first().innerText()).trim();
}

async function noHorizontalOverflow(page: Page): Promise<void> {
  const { scrollWidth, innerWidth } = (await page.evaluate('({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })')) as {
    scrollWidth: number;
    innerWidth: number;
  };
  expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
}

const eventsFor = (operationId: string) =>
  stack.busTwin.notifications.filter((n) => (n.params.payment as { operation_reference?: string } | undefined)?.operation_reference === operationId);

for (const viewport of [
  { name: 'desktop', width: 1280, height: 900 },
  { name: 'phone', width: 390, height: 844 },
]) {
  describe(`operator console at a ${viewport.name} viewport (${viewport.width}x${viewport.height})`, () => {
    it('refuses a wrong password, then loads behind the login, finds an order, and replays a dead letter exactly once', async () => {
      const run = `${viewport.name}${Date.now().toString(36)}`;
      // An order the bridge carried, to look up.
      const carried = channelCommand(
        'authorize',
        {},
        { order_id: `ORD-CON-${run}`, method_details: { method: 'card', card: { brand: 'visa', last_four_digits: '1111', bin: '411111' } } },
      );
      const channels = await ChannelPublisher.open(stack.config);
      await channels.publish(carried);
      await channels.close();
      await eventually(() => eventsFor(carried.payment.operation_reference as string).length === 1, 30_000);

      // A valid command dead-lettered by an outage (never carried): the one to replay. And one carrying markup.
      const lost = channelCommand('authorize', {}, { order_id: `ORD-DL-${run}`, amount: 4200 });
      const writer = new DeadLetterWriter(publisher, stack.config.amqp, undefined, deadLetterStampKey(stack.config.serviceBus.secret));
      await writer.write(
        Buffer.from(JSON.stringify(lost)),
        {
          code: 'UNEXPECTED_ERROR',
          field: '(root)',
          reason: 'unexpected_error: DependencyUnavailableError',
          source: `amqp:${stack.config.amqp.commandsQueue}`,
        },
        // The consumer verified the web channel's signature before the outage refused it.
        { 'x-pb-routing-key': 'web.payment.authorize', [AUTHENTICATED_CHANNEL_HEADER]: 'web' },
      );
      await writer.write(Buffer.from(JSON.stringify(channelCommand('capture', {}, { order_id: XSS, custom_attributes: { note: `card ${TEST_PANS[0]}` } }))), {
        code: 'INVALID_PARAMS',
        field: 'payment.order_id',
        reason: `bad ${XSS}`,
        source: `amqp:${stack.config.amqp.commandsQueue}`,
      });

      const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height } });
      const page = await context.newPage();
      const dialogs: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });

      // Wrong password: refused, still on the login page.
      await page.goto(`${consoleUrl}/login`);
      await page.fill('#username', 'operator');
      await page.fill('#password', 'not-the-password-at-all');
      await page.click('form[action$="/login"] button');
      expect(await text(page.locator('.error'))).toBe('Wrong user or password.');

      await login(page);
      await page.locator('[data-kpi="success15m"]').waitFor({ state: 'visible' });
      // The workers archive the dead-letter queue every 10 s; the button does it now (a POST), back to the dashboard.
      await Promise.all([page.waitForURL(consoleUrl), page.click('#dead-letters-archive button')]);
      await page.locator('[data-kpi="success15m"]').waitFor({ state: 'visible' });
      expect(await page.locator(`tr[data-dead-letter]:has-text("ORD-DL-${run}")`).count()).toBe(1);
      // Markup in a dead letter is text: shown literally, never run.
      expect(await text(page.locator('#dead-letters'))).toContain(XSS);
      expect(await page.evaluate('window.__xss')).toBeUndefined();
      expect(await page.content()).not.toContain(TEST_PANS[0]);
      await noHorizontalOverflow(page);

      // Lookup by order id.
      await page.fill('#q', `ORD-CON-${run}`);
      // Posted, never in the address: the operation's own page (or the list, for an order of several).
      await Promise.all([page.waitForURL(/\/(lookup|operations\/[^?]+)$/), page.press('#q', 'Enter')]);
      const row = page.locator(`#lookup-results tr[data-operation="${carried.payment.operation_reference}"]`);
      expect(await text(row)).toContain('SUCCEEDED');
      expect(await text(page.locator('.history'))).toContain('received');
      expect(await page.content()).not.toContain('411111');
      await noHorizontalOverflow(page);

      // Replay the lost command from the dashboard.
      await page.goto(consoleUrl);
      const dlRow = page.locator(`tr[data-dead-letter]:has-text("ORD-DL-${run}")`);
      const dlId = (await dlRow.getAttribute('data-dead-letter')) as string;
      await dlRow.locator('input[name=id]').check();
      await Promise.all([page.waitForURL(/\/dead-letters\/replay$/), page.click('#dead-letters-form button[value=execute]')]);
      expect(await text(page.locator(`#replay-results tr[data-dead-letter="${dlId}"] td.published`))).toBe('yes');
      await noHorizontalOverflow(page);
      const lostId = lost.payment.operation_reference as string;
      await eventually(() => eventsFor(lostId).length === 1, 30_000);
      const effects = (await stack.simulator.counters()).totalEffects;

      // Again, from the dead letter's own page: the operation is carried already, nothing is published.
      await page.goto(`${consoleUrl}/dead-letters/${dlId}`);
      expect(await text(page.locator('.fields'))).toContain('done');
      await Promise.all([page.waitForURL(/\/dead-letters\/replay$/), page.click('form.actions button[value=execute]')]);
      expect(await page.locator(`#replay-results tr[data-dead-letter="${dlId}"]`).getAttribute('data-verdict')).toBe('done');
      await new Promise((r) => setTimeout(r, 1500));
      expect(eventsFor(lostId)).toHaveLength(1);
      expect((await stack.simulator.counters()).totalEffects).toBe(effects);
      expect((await stack.simulator.counters()).maxEffectsPerKey).toBe(1);

      // The audit log shows the login, the lookup and the replays.
      await page.goto(consoleUrl);
      const audit = page.locator('#audit');
      expect(await text(audit)).toContain('console.login');
      expect(await text(audit)).toContain('ops.lookup');
      expect(await text(audit)).toContain('dead_letter.replay');
      expect(dialogs).toEqual([]);
      await context.close();
    });
  });
}

describe('operator console forms', () => {
  it('resends an event the bus refused, from the dashboard: the worker sends it and the bus twin receives it', async () => {
    const redis = createRedis(stack.config.redis, 'commands');
    try {
      const events = new EventStore(redis, stack.config.redis.keyPrefix);
      // Letters only: digits of a timestamp may pass for a card number and be masked.
      const reference = 'e2e-resend-set-aside';
      const event = {
        eventId: `${reference}.SUCCEEDED`,
        paymentKey: 'pay-e2e-resend',
        method: stack.config.serviceBus.methods.notifications.captured,
        params: { payment: { operation_reference: reference, status: 'SUCCESS' } },
      };
      const { sequence } = await events.recordAndCheck(event, Date.now(), 1000);
      await events.setAside({ ...event, sequence }, 'rpc_-32602');
      const context = await browser.newContext();
      const page = await context.newPage();
      await login(page);
      await page.locator(`#rejected-events-form tr[data-event="${event.eventId}"] input[name=id]`).check();
      await Promise.all([page.waitForURL(/\/events\/resend$/), page.click('#rejected-events-form button')]);
      expect(await page.locator(`#resend-results tr[data-event="${event.eventId}"]`).getAttribute('data-result')).toBe('queued');
      await eventually(() => eventsFor(reference).length === 1, 30_000);
      await context.close();
    } finally {
      redis.disconnect();
    }
  });

  it('refuses a POST without the session CSRF token', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await login(page);
    const status = await page.evaluate(
      async (url) =>
        (
          await fetch(`${url}/dead-letters/replay`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: 'id=dl-000000000000000000000000&mode=execute&csrf=forged',
          })
        ).status,
      consoleUrl,
    );
    expect(status).toBe(403);
    await context.close();
  });
});
