/**
 * The console masks card data at render, a second line of defence after the writers' redaction (as the
 * operation view does): what Redis holds from before a redaction rule existed (an archived dead letter
 * whose reason header carried a card number, stored verbatim until the archive redacted every header), or
 * what an import wrote as its file had it, must not reach the operator's screen. Rendered by headless
 * Chromium from the real web process.
 */
import { CONSOLE_PASSWORD, ConsoleStack, startConsoleStack } from '../../support/console-stack';
import { Browser, Page, chromium } from 'playwright-core';
import { AuditLog } from '../../../src/audit/audit-log';
import { Config } from '../../../src/config/config';
import { DeadLetterRecord, DeadLetterStore } from '../../../src/ops/dead-letter-store';
import { EventStore } from '../../../src/events/event-store';
import { ReviewStore } from '../../../src/risk/review-store';
import { Ledger } from '../../../src/ledger/ledger';
import { shardKeysOf } from '../../../src/redis/key-layout';
import { RedisClient } from '../../../src/redis/redis-connection';
import { chromiumPath } from '../../support/chromium';
import { TEST_PANS, channelCommand } from '../../support/fixtures';

jest.setTimeout(60_000);

const PASSWORD = CONSOLE_PASSWORD;
const CVV = '7391';

describe('console: no card data on screen, even from records written before redaction', () => {
  let stack: ConsoleStack;
  let config: Config;
  let base: string;
  let redis: RedisClient;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    stack = await startConsoleStack();
    ({ config, base, redis } = stack);
    browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/login`);
    await page.fill('#username', 'operator');
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(/\/console$/), page.click('form[action$="/login"] button')]);
  });

  afterAll(async () => {
    await browser?.close();
    await stack.stop();
  });

  /** Everything the page holds, as text and as markup. */
  async function shown(): Promise<string> {
    return `${await page.innerText('body')}\n${await page.content()}`;
  }

  function expectNoCardData(text: string): void {
    for (const pan of TEST_PANS) expect(text).not.toContain(pan);
    expect(text).not.toContain(CVV);
  }

  it('masks a card number in an archived dead letter (reason, field, order, body) on the dashboard and its own page', async () => {
    const record: DeadLetterRecord = {
      id: `dl-${'ab'.repeat(12)}`,
      deadLetteredAt: Date.now(),
      archivedAt: Date.now(),
      code: 'INVALID_PARAMS',
      field: `payment.note ${TEST_PANS[1]}`,
      reason: `declined for card ${TEST_PANS[0]}`,
      source: 'amqp:commands',
      orderId: `ORD ${TEST_PANS[2]}`,
      command: 'authorize',
      replayable: false,
      category: 'hard',
      impact: 1,
      body: JSON.stringify({ payment: { order_id: 'ORD-DL-1', method_details: { card: { number: TEST_PANS[3], cvv: CVV } } } }),
      replays: 0,
    };
    // As the archive held it before it redacted every header: written as it came.
    expect(await new DeadLetterStore(redis, config.redis.keyPrefix).archive(record)).toBe(true);

    await page.goto(base);
    expect(await page.locator(`tr[data-dead-letter="${record.id}"]`).count()).toBe(1);
    expectNoCardData(await shown());

    await page.goto(`${base}/dead-letters/${record.id}`);
    expect(await page.innerText('pre.body')).toContain('ORD-DL-1');
    expectNoCardData(await shown());
    // Who opened which dead letter is in the audit log, as lookups are.
    const viewed = (await new AuditLog({ redis, prefix: config.redis.keyPrefix }).recent(20)).filter((e) => e.action === 'ops.dead_letter');
    expect(viewed[0]).toMatchObject({ outcome: 'ok', target: record.id, detail: { by: 'console', found: 1 } });
    expect(viewed[0].actor).toMatch(/^console:operator@/);
  });

  it("masks a card number in the dashboard's lists: an event the bus refused, a review hold", async () => {
    const prefix = config.redis.keyPrefix;
    // As a record stored before the writers' redaction (or an import) holds it: the order id is the payment key.
    const events = new EventStore(redis, prefix);
    const event = {
      eventId: `ev-card.${TEST_PANS[0]}`,
      paymentKey: `ORD-${TEST_PANS[1]}`,
      method: `notify ${TEST_PANS[2]}`,
      params: { payment: { order_id: `ORD-${TEST_PANS[1]}` } },
    };
    const { sequence } = await events.recordAndCheck(event, Date.now(), 1000);
    await events.setAside({ ...event, sequence }, `http_400 card ${TEST_PANS[3]}`);
    const held = `op-review-${TEST_PANS[4]}`;
    await new ReviewStore(redis, prefix).hold(held, Date.now() + 3_600_000, `rule ${TEST_PANS[0]}`, `signal ${TEST_PANS[1]}`);

    await page.goto(base);
    expect(await page.locator('#rejected-events tr[data-event]').count()).toBeGreaterThan(0);
    expect(await page.locator('#risk-reviews tr[data-review]').count()).toBeGreaterThan(0);
    expect(await page.innerText('#rejected-events')).toContain('http_400 card');
    expect(await page.innerText('#risk-reviews')).toContain('op-review-');
    expectNoCardData(await shown());
  });

  it('masks a card number in an audit entry the dashboard lists, written as it came (another writer, an older release)', async () => {
    const audit = new AuditLog({ redis, prefix: config.redis.keyPrefix });
    const entry = { action: 'ops.lookup', actor: `console:${TEST_PANS[2]}@10.0.0.1`, outcome: 'ok', target: `ORD ${TEST_PANS[3]}`, at: Date.now() };
    await redis.xadd(audit.streamKey, '*', 'entry', JSON.stringify(entry));

    await page.goto(base);
    expect(await page.innerText('#audit')).toContain('ORD ');
    expectNoCardData(await shown());
  });

  it('masks a card number in an operation history entry, and never searches nor echoes one typed into the search box', async () => {
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const command = channelCommand('authorize', {}, { order_id: `ORD-CARD-${Date.now()}` });
    const id = command.payment.operation_reference as string;
    await ledger.create(id, command);
    // As an import writes what its file holds: the history list as it is.
    const shard = (await ledger.shardOf(id)) as number;
    await redis.rpush(
      shardKeysOf(config.redis.keyPrefix)[shard].history(id),
      JSON.stringify({
        event: 'gateway_response',
        excerpt: `card ${TEST_PANS[4]} declined`,
        request: { card: { number: TEST_PANS[0], cvc: CVV } },
        at: Date.now(),
      }),
    );

    await page.goto(`${base}/operations/${encodeURIComponent(id)}`);
    expect(await page.innerText('.history')).toContain('gateway_response');
    expectNoCardData(await shown());

    // A card number typed into the search box: not searched, not echoed, never in the address.
    await page.fill('#q', TEST_PANS[0]);
    await Promise.all([page.waitForNavigation(), page.press('#q', 'Enter')]);
    expect(page.url()).toBe(`${base}/lookup`);
    expect(await page.innerText('h1')).toContain('Not searched');
    expectNoCardData(await shown());
  });
});
