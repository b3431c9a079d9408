import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis } from '../../../src/redis/redis-connection';
import { recentRuns } from '../../../src/reconciliation-run/reconciliation-history';
import { reconcile } from '../../../src/reconciliation-run/reconcile';
import { LineVerdict } from '../../../src/reconciliation/reconciliation-class';
import type { UnreadablePspLine } from '../../../src/reconciliation/psp-record';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { ReportLine } from '../../../harness/twins/psp-simulator/simulator-report';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-recon-unreadable-key-0123456789';

let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let route: GatewayRoute;
let recorder: OutcomeRecorder;
let eventsQueue: ReturnType<typeof createOmsEventsQueue>;

/** Adyen's report download, served locally: batch 1 is `adyenReport` (404 for any other). */
let reports: Server;
let adyenReport: string[] = [];
const REPORT_USER = 'report@Company.AcmeCompany';
const REPORT_PASSWORD = 'report-user-password-0123456789';

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  reports = createServer((req, res) => {
    const basic = `Basic ${Buffer.from(`${REPORT_USER}:${REPORT_PASSWORD}`).toString('base64')}`;
    if (req.headers.authorization !== basic) return void res.writeHead(401).end();
    if (!req.url?.endsWith('/settlement_detail_report_batch_1.csv')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/csv' }).end(adyenReport.map((l) => `${l}\r\n`).join(''));
  });
  await new Promise<void>((resolve) => reports.listen(0, '127.0.0.1', resolve));
  config = testConfig({
    gateways: {
      simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-recon-unreadable-0123456789', timeout_ms: 5000 },
      adyen: {
        type: 'adyen',
        base_url: 'http://127.0.0.1:1/v71',
        api_key: 'adyen-recon-unreadable-key-0123456789',
        merchant_account: 'AcmeEU',
        report_username: REPORT_USER,
        report_password: REPORT_PASSWORD,
        report_base_url: `http://127.0.0.1:${(reports.address() as AddressInfo).port}`,
        timeout_ms: 5000,
      },
    },
  });
  redis = createRedis(config.redis, 'commands');
  ledger = new Ledger(redis, config.redis.keyPrefix);
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: captureLogger('error').logger });
  route = createGatewayClients(config).get('simulator')!;
});

afterAll(async () => {
  await new Promise<void>((resolve) => reports.close(() => resolve()));
  await eventsQueue.close();
  redis.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

/** Sends `command` to the simulator as the bridge does and records its outcome. */
async function deliver(command: PaymentCommand): Promise<OperationRecord> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  const op = (await ledger.get(id))!;
  const ctx = { operationId: id, command: command.command, payment: command.payment };
  const response = await route.client.send(route.transformer.buildRequest(ctx, route.gateway));
  return recorder.apply(op, route.transformer.parseResponse(ctx, response, route.gateway), 'response');
}

describe('a PSP report line the reader cannot read, between readable ones', () => {
  let window: { from: number; to: number };
  let before: OperationRecord;
  let bad: OperationRecord;
  let after: OperationRecord;
  let badLine: string;

  beforeAll(async () => {
    const from = Date.now() - 1;
    before = await deliver(channelCommand('sale', {}, { amount: 1100, gateway_key: 'pm_card_visa' }));
    bad = await deliver(channelCommand('sale', {}, { amount: 2200, gateway_key: 'pm_card_visa' }));
    after = await deliver(channelCommand('sale', {}, { amount: 3300, gateway_key: 'pm_card_visa' }));
    expect([before.state, bad.state, after.state]).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    // The PSP reports the middle sale in a currency that is no ISO 4217 code.
    const touched = sim.injectDiscrepancy({ kind: 'currency_mismatch', reference: bad.id, currency: 'EURO' }) as ReportLine[];
    expect(touched).toHaveLength(1);
    badLine = touched[0].id;
    window = { from, to: Date.now() + 1 };
  });

  it('is set aside with its reason (counted, logged at warn, in the report); the lines after it are reconciled and the cursor moves past it', async () => {
    const { logger, lines: logLines } = captureLogger('warn');
    const verdicts: LineVerdict[] = [];
    const unreadable: UnreadablePspLine[] = [];
    const counted = await metricValue('pb_reconciliation_lines_unreadable_total', { gateway: 'simulator' });
    const held = await metricValue('pb_reconciliation_mark_held_total', { gateway: 'simulator' });
    const dir = mkdtempSync(join(tmpdir(), 'recon-unreadable-'));
    const { summary, markdown, detailsFile } = await reconcile(config, {
      gateway: 'simulator',
      window,
      logger,
      redis,
      reportFile: join(dir, 'report.md'),
      sink: { verdict: (v) => void verdicts.push(v), unreadable: (u) => void unreadable.push(u) },
    });

    expect(summary.result).toBe('done');
    // The sales before and after the bad line agree with the PSP; the bad one's operation has no readable line.
    const classOf = (op: OperationRecord) => verdicts.filter((v) => v.ledger?.operationId === op.id).map((v) => v.class);
    expect(classOf(before)).toEqual(['matched']);
    expect(classOf(after)).toEqual(['matched']);
    expect(classOf(bad)).toEqual(['missing_at_psp']);
    // Set aside: where the PSP has it, the field and why, never the value.
    const problem = 'is not an ISO 4217 currency code (a string of 4 characters)';
    const expected = { line: badLine, field: 'currency', problem };
    expect(summary.unreadable).toBe(1);
    expect(summary.unreadableLines).toEqual([expected]);
    expect(unreadable).toEqual([expected]);
    expect(await metricValue('pb_reconciliation_lines_unreadable_total', { gateway: 'simulator' })).toBe(counted + 1);
    const warned = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.psp_line === badLine);
    expect(warned).toEqual([expect.objectContaining({ level: 'warn', field: 'currency', problem })]);
    expect(logLines.join('\n')).not.toContain('EURO');
    expect(markdown).toContain(`| ${badLine} | currency | ${problem} |`);
    const rows = readFileSync(detailsFile!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toContainEqual(expect.objectContaining({ class: 'unreadable', psp_line_id: badLine, note: `currency: ${problem}` }));
    // The history the console and `ops reconciliation` show counts it.
    expect((await recentRuns(redis, config.redis.keyPrefix, 1))[0]).toMatchObject({ result: 'done', unreadable: 1 });
    // The cursor committed is past it: the window was read to its end and the run finished.
    const state = await redis.hgetall(`${config.redis.keyPrefix}recon:run:{simulator:${window.from}:${window.to}}`);
    expect(state).toMatchObject({ status: 'done', cursor: 'end' });
    // The window is not reconciled: the gateway's first window starts the mark at its start, not its end, so
    // retention (which expires only what was updated before the mark) keeps the window's operations.
    expect(await ledger.reconciledThrough('simulator')).toBe(window.from);
    expect(summary.mark).toEqual({ outcome: 'held', through: window.from, reason: 'psp_lines_not_read' });
    expect(await metricValue('pb_reconciliation_mark_held_total', { gateway: 'simulator' })).toBe(held + 1);
    expect(markdown).toContain(`- Reconciled-through mark: **held** at ${new Date(window.from).toISOString()}: 1 PSP line(s) not read`);
    expect(markdown).toContain('reconcile this window again with `--again`');
    const holding = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => String(l.message).startsWith('reconciliation window not reconciled'));
    expect(holding).toEqual([
      expect.objectContaining({ level: 'warn', gateway: 'simulator', unreadable: 1, reconciled_through: new Date(window.from).toISOString() }),
    ]);
    expect((await recentRuns(redis, config.redis.keyPrefix, 1))[0]).toMatchObject({ mark: 'held' });
  });

  it('a second run does not stop at it: asked again the run is done and still reports it; a fresh run reads past it again', async () => {
    const { logger } = captureLogger('error');
    const again = await reconcile(config, { gateway: 'simulator', window, logger, redis });
    expect(again.summary).toMatchObject({
      result: 'already_done',
      unreadable: 1,
      unreadableLines: [{ line: badLine, field: 'currency' }],
      mark: { outcome: 'held', through: window.from },
    });
    expect(again.markdown).toContain('- Reconciled-through mark: **held**');
    const fresh = await reconcile(config, { gateway: 'simulator', window, logger, redis, dryRun: true });
    expect(fresh.summary).toMatchObject({ result: 'done', unreadable: 1 });
    expect(fresh.summary.classes).toMatchObject({ matched: 2, missing_at_psp: 1 });
  });

  it('once the PSP corrects the line, --again reads the finished window from the start: the line matched, nothing recorded twice', async () => {
    const { logger, lines: logLines } = captureLogger('info');
    const corrected = sim.injectDiscrepancy({ kind: 'currency_mismatch', reference: bad.id, currency: bad.payment.currency }) as ReportLine[];
    expect(corrected.map((l) => l.id)).toEqual([badLine]);
    const history = (await ledger.interactions(bad.id)).length;
    expect(history).toBeGreaterThan(0);
    const asked = await reconcile(config, { gateway: 'simulator', window, logger, redis });
    expect(asked.summary.result).toBe('already_done');
    const { summary } = await reconcile(config, { gateway: 'simulator', window, logger, redis, again: true });
    expect(summary).toMatchObject({ result: 'done', unreadable: 0, unreadableLines: [], adjusted: 0, settled: 0 });
    // Every line read: the window is reconciled, and the mark moves to its end.
    expect(summary.mark).toEqual({ outcome: 'moved', through: window.to });
    expect(await ledger.reconciledThrough('simulator')).toBe(window.to);
    expect(summary.classes).toMatchObject({ matched: 3 });
    expect(logLines.some((l) => l.includes('reconciliation run finished before: read again from the start'))).toBe(true);
    expect(await ledger.interactions(bad.id)).toHaveLength(history);
  });
});

describe('later windows reconciled while one with a line not read holds the mark (continues from the window above, reconciled)', () => {
  const windows: { from: number; to: number }[] = [];
  const sales: OperationRecord[] = [];
  const pause = () => new Promise((resolve) => setTimeout(resolve, 5));

  beforeAll(async () => {
    // Three windows after the one above, joined end to end, a sale in each.
    let from = (await ledger.reconciledThrough('simulator'))!;
    for (let i = 0; i < 3; i += 1) {
      await pause();
      sales.push(await deliver(channelCommand('sale', {}, { amount: 4100 + i, gateway_key: 'pm_card_visa' })));
      await pause();
      windows.push({ from, to: Date.now() });
      from = Date.now();
    }
    expect(sales.map((s) => s.state)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
  });

  const run = async (i: number, again = false) =>
    (await reconcile(config, { gateway: 'simulator', window: windows[i], logger: captureLogger('error').logger, redis, again })).summary;

  it('the mark stays at the start of the window not reconciled while the windows after it are reconciled; once it is, the mark moves through them', async () => {
    const [first, second, third] = windows;
    expect(await ledger.reconciledThrough('simulator')).toBe(first.from);
    sim.injectDiscrepancy({ kind: 'currency_mismatch', reference: sales[0].id, currency: 'EURO' });
    expect(await run(0)).toMatchObject({ result: 'done', unreadable: 1, mark: { outcome: 'held', through: first.from } });
    // Reconciled, every line read, but past the window that is not: the mark does not pass it.
    expect(await run(1)).toMatchObject({ result: 'done', unreadable: 0, mark: { outcome: 'gap', through: first.from } });
    expect(await run(2)).toMatchObject({ result: 'done', unreadable: 0, mark: { outcome: 'gap', through: first.from } });
    expect(await ledger.reconciledThrough('simulator')).toBe(first.from);

    // The PSP corrects its report; the window read again with --again reads every line.
    sim.injectDiscrepancy({ kind: 'currency_mismatch', reference: sales[0].id, currency: sales[0].payment.currency });
    const { logger, lines } = captureLogger('info');
    const { summary } = await reconcile(config, { gateway: 'simulator', window: first, logger, redis, again: true });
    expect(summary).toMatchObject({ result: 'done', unreadable: 0, mark: { outcome: 'moved', through: third.to } });
    expect(await ledger.reconciledThrough('simulator')).toBe(third.to);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(
      // The two windows kept end to end were one span.
      expect.objectContaining({ message: expect.stringContaining('windows reconciled past it before move it on'), joined: 1 }),
    );
    expect(second.to).toBe(third.from);
  });

  it('a window the mark had passed, read again with a line not read, puts the mark back to its start until it is reconciled again', async () => {
    const [, second, third] = windows;
    sim.injectDiscrepancy({ kind: 'currency_mismatch', reference: sales[1].id, currency: 'EURO' });
    expect(await run(1, true)).toMatchObject({ unreadable: 1, mark: { outcome: 'held', through: second.from } });
    expect(await ledger.reconciledThrough('simulator')).toBe(second.from);
    sim.injectDiscrepancy({ kind: 'currency_mismatch', reference: sales[1].id, currency: sales[1].payment.currency });
    expect(await run(1, true)).toMatchObject({ unreadable: 0, mark: { outcome: 'moved', through: third.to } });
    expect(await ledger.reconciledThrough('simulator')).toBe(third.to);
  });
});

describe('an Adyen report line whose Creation Date does not read, in a settlement batch adjacent windows both read', () => {
  const HEADER =
    'Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),Payment Method Variant,Modification Merchant Reference,Batch Number';
  const HOUR = 3_600_000;
  const T = Date.UTC(2026, 10, 2, 10);
  const first = { from: T, to: T + HOUR };
  const second = { from: T + HOUR, to: T + 2 * HOUR };
  const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
  const settled = (psp: string, date: string) =>
    `AcmeCompany,AcmeEU,${psp},ORD-${psp},visa,${date},UTC,Settled,99${psp},EUR,,10.00,1,EUR,,9.70,,0.10,0.05,0.15,visacredit,op-${psp},1`;
  const BAD = 'settlement_detail_report_batch_1.csv:3';
  const runs = async (window: { from: number; to: number }, options: { again?: boolean; dryRun?: boolean } = {}) => {
    const { logger, lines } = captureLogger('info');
    const { summary } = await reconcile(config, { gateway: 'adyen', window, logger, redis, ...options });
    return { summary, log: lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  };

  beforeAll(() => {
    adyenReport = [
      HEADER,
      settled('1000000000000001', stamp(first.from + 60_000)),
      settled('1000000000000002', '02/11/2026 10:30'),
      settled('1000000000000003', stamp(second.from + 60_000)),
    ];
  });

  it('is counted, kept and reported once, by the run of the first window that read it, which alone is held; the adjacent window leaves it to it', async () => {
    const counted = await metricValue('pb_reconciliation_lines_unreadable_total', { gateway: 'adyen' });
    const one = await runs(first);
    expect(one.summary).toMatchObject({ result: 'done', unreadable: 1, mark: { outcome: 'held', through: first.from } });
    expect(one.summary.unreadableLines).toEqual([{ line: BAD, field: 'Creation Date', problem: 'is not YYYY-MM-DD HH:MM:SS', undated: true }]);

    const two = await runs(second);
    // Read (its batch is the same report), but the first window's: not counted, not kept, no hold.
    expect(two.summary).toMatchObject({ result: 'done', unreadable: 0, unreadableLines: [], mark: { outcome: 'gap', through: first.from } });
    expect(await redis.llen(`${config.redis.keyPrefix}recon:run:{adyen:${second.from}:${second.to}}:unreadable`)).toBe(0);
    expect(two.log).toContainEqual(
      expect.objectContaining({
        message: 'reconciliation line unreadable and without a time: the run of another window reports it',
        psp_line: BAD,
        reported_by: { from: new Date(first.from).toISOString(), to: new Date(first.to).toISOString() },
      }),
    );
    expect(two.log.filter((l) => l.message === 'reconciliation line unreadable: set aside, the run reads on')).toEqual([]);
    // A dry run of it leaves it to the first window as well.
    expect((await runs(second, { dryRun: true })).summary).toMatchObject({ result: 'done', unreadable: 0 });
    expect(await metricValue('pb_reconciliation_lines_unreadable_total', { gateway: 'adyen' })).toBe(counted + 1);

    // The window that reports it, read again, still does; the history lists it once.
    expect((await runs(first, { again: true })).summary).toMatchObject({ unreadable: 1, mark: { outcome: 'held', through: first.from } });
    const history = (await recentRuns(redis, config.redis.keyPrefix, 10)).filter((r) => r.gateway === 'adyen' && !r.dryRun);
    expect(history.map((r) => [r.from, r.unreadable])).toEqual([
      [first.from, 1],
      [second.from, 0],
      [first.from, 1],
    ]);
  });

  it('once the PSP corrects its date, the window that reported it reads every line with --again and the mark moves through both', async () => {
    adyenReport[2] = settled('1000000000000002', stamp(first.from + 30 * 60_000));
    const { summary } = await runs(first, { again: true });
    expect(summary).toMatchObject({ result: 'done', unreadable: 0, lines: 2, mark: { outcome: 'moved', through: second.to } });
    expect(await ledger.reconciledThrough('adyen')).toBe(second.to);
  });
});
