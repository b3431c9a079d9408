import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { adjustmentEventId } from '../../../src/events/adjustment-event';
import { AdjustmentInput, adjustmentIdFor, AdjustmentStore, RecordedAdjustment } from '../../../src/adjustments/adjustment-store';
import type { AdjustmentKind } from '../../../src/adjustments/adjustment';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { Logger } from '../../../src/logging/logger';
import { ReconciliationRunner } from '../../../src/reconciliation-run/reconciliation-runner';
import { createGatewayClients, gatewayDefinition } from '../../../src/gateways/gateway-registry';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis } from '../../../src/redis/redis-connection';
import { recentRuns } from '../../../src/reconciliation-run/reconciliation-history';
import { reconcile } from '../../../src/reconciliation-run/reconcile';
import { LineVerdict } from '../../../src/reconciliation/reconciliation-class';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { PassThrough } from 'node:stream';
import { openOps } from '../../../src/ops/ops-context';
import { reconcileCommand } from '../../../src/cli/reconcile-command';
import { createReconciliationHttp } from '../../../src/reconciliation-run/reconciliation-http';
import { GatewayError } from '../../../src/errors';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { OperationKeys } from '../../../src/data-lifecycle/key-families';
import { resolveOperationContext } from '../../../src/delivery/operation-context';
import { shardKeysOf } from '../../../src/redis/key-layout';

const API_KEY = 'sim-recon-test-key-0123456789';

let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let events: EventStore;
let route: GatewayRoute;
let recorder: OutcomeRecorder;
let eventsQueue: ReturnType<typeof createOmsEventsQueue>;
const logger = captureLogger('error').logger;

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-recon-test-0123456789', timeout_ms: 5000 } },
  });
  redis = createRedis(config.redis, 'commands');
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  route = createGatewayClients(config).get('simulator')!;
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

/** Sends `command` to the simulator as the bridge does and records its outcome (or, with `unresolve`, gives up on it). */
async function deliver(command: PaymentCommand, options: { unresolve?: boolean } = {}): Promise<OperationRecord> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  const op = (await ledger.get(id))!;
  const ctx = { operationId: id, command: command.command, payment: command.payment };
  const response = await route.client.send(route.transformer.buildRequest(ctx, route.gateway));
  if (options.unresolve) {
    await ledger.transition(id, 'UNRESOLVED', { event: 'test' }, { nextCheckAt: Date.now() + 3_600_000 });
    return (await ledger.get(id))!;
  }
  return recorder.apply(op, route.transformer.parseResponse(ctx, response, route.gateway), 'response');
}

/** An authorization and its capture, both SUCCEEDED. */
async function authorizedAndCaptured(amount: number): Promise<{ auth: OperationRecord; capture: OperationRecord }> {
  const auth = await deliver(channelCommand('authorize', {}, { amount, gateway_key: 'pm_card_visa' }));
  const capture = await deliver(channelCommand('capture', {}, { amount, gateway_key: auth.gatewayReference!, order_id: auth.payment.order_id }));
  return { auth, capture };
}

/** A chargeback (or its reversal) of the operation `reference` at the simulator: a report line; no webhook is sent here. Its id. */
async function chargeback(reference: string, amount: number, reversed = false): Promise<string> {
  const response = await fetch(`${sim.url}/_control/chargeback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ reference, amount, reversed }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { object: { id: string } }).object.id;
}

function collect(): { verdicts: LineVerdict[]; sink: { verdict(v: LineVerdict): void } } {
  const verdicts: LineVerdict[] = [];
  return { verdicts, sink: { verdict: (v) => void verdicts.push(v) } };
}

describe('reconciliation against the simulator, end to end', () => {
  let window: { from: number; to: number };
  let matched: OperationRecord;
  let amountOff: OperationRecord;
  let failedButCaptured: OperationRecord;
  let notListed: OperationRecord;
  let unresolved: OperationRecord;

  beforeAll(async () => {
    const from = Date.now() - 1;
    matched = (await authorizedAndCaptured(1000)).capture;
    amountOff = (await authorizedAndCaptured(2000)).capture;
    failedButCaptured = await deliver(channelCommand('sale', {}, { amount: 3000, gateway_key: 'pm_card_declined' }));
    notListed = await deliver(channelCommand('sale', {}, { amount: 4000, gateway_key: 'pm_card_visa' }));
    unresolved = await deliver(channelCommand('sale', {}, { amount: 5000, gateway_key: 'pm_card_visa' }), { unresolve: true });
    expect([matched.state, amountOff.state, failedButCaptured.state, notListed.state, unresolved.state]).toEqual([
      'SUCCEEDED',
      'SUCCEEDED',
      'FAILED',
      'SUCCEEDED',
      'UNRESOLVED',
    ]);
    expect(sim.injectDiscrepancy({ kind: 'amount_mismatch', reference: amountOff.id, amount: 1900 })).not.toEqual(expect.any(String));
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: failedButCaptured.id })).not.toEqual(expect.any(String));
    expect(sim.injectDiscrepancy({ kind: 'unknown_payment', amount: 777, currency: 'EUR' })).not.toEqual(expect.any(String));
    expect(sim.injectDiscrepancy({ kind: 'missing_line', reference: notListed.id })).not.toEqual(expect.any(String));
    window = { from, to: Date.now() + 1 };
  });

  it('a dry run classifies every line and applies nothing', async () => {
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window, dryRun: true, logger, redis, sink });
    expect(summary.result).toBe('done');
    expect(summary.wouldApply).toBe(3);
    expect(summary.adjusted).toBe(0);
    expect(verdicts.find((v) => v.ledger?.operationId === unresolved.id)?.action).toEqual({ type: 'settle', status: 'SUCCESS' });
    expect((await ledger.get(unresolved.id))?.state).toBe('UNRESOLVED');
    expect(await new AdjustmentStore(redis, config.redis.keyPrefix).forOperation(amountOff.id)).toEqual([]);
    // A dry run reconciles nothing for retention: no mark, no hold.
    expect(await ledger.reconciledThrough('simulator')).toBeNull();
    expect(await redis.zscore(new OperationKeys(config.redis.keyPrefix, (await ledger.shardOf(notListed.id)) ?? 0).retentionHold, notListed.id)).toBeNull();
  });

  it('finds each discrepancy, adjusts where the PSP is authoritative, settles the UNRESOLVED operation, reports the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'recon-'));
    const { verdicts, sink } = collect();
    const before = await metricValue('pb_reconciliation_lines_total', { gateway: 'simulator', class: 'amount_mismatch' });
    const { summary, markdown, detailsFile } = await reconcile(config, {
      gateway: 'simulator',
      window,
      logger,
      redis,
      sink,
      reportFile: join(dir, 'report.md'),
    });
    const byOp = (id: string) => verdicts.filter((v) => v.ledger?.operationId === id);
    expect(summary.result).toBe('done');
    // Listed: 2 authorizations and 1 capture agree; the other capture, 2 sales and the unknown payment differ; 1 sale is hidden.
    expect(summary.classes).toMatchObject({ matched: 3, amount_mismatch: 1, state_mismatch: 2, missing_in_ledger: 1, missing_at_psp: 1 });
    expect(byOp(matched.id).map((v) => v.class)).toEqual(['matched']);
    expect(byOp(amountOff.id)[0]).toMatchObject({
      class: 'amount_mismatch',
      action: { type: 'adjust', kind: 'amount_mismatch', direction: 'debit', amount: 100 },
    });
    expect(byOp(failedButCaptured.id)[0]).toMatchObject({ class: 'state_mismatch', action: { kind: 'succeeded_after_failure', direction: 'credit' } });
    expect(byOp(notListed.id)[0]).toMatchObject({ class: 'missing_at_psp', action: { type: 'report' } });
    // Retention: the window is reconciled through its end; what was left to a person is held from expiry.
    expect(await ledger.reconciledThrough('simulator')).toBe(window.to);
    expect(await redis.zscore(new OperationKeys(config.redis.keyPrefix, (await ledger.shardOf(notListed.id)) ?? 0).retentionHold, notListed.id)).not.toBeNull();
    expect(await redis.zscore(new OperationKeys(config.redis.keyPrefix, (await ledger.shardOf(matched.id)) ?? 0).retentionHold, matched.id)).toBeNull();
    expect(verdicts.find((v) => v.class === 'missing_in_ledger')?.record?.amount).toBe(777);
    expect(summary.adjusted).toBe(2);
    expect(summary.settled).toBe(1);
    // Fees and net of the succeeded captures are recorded (1.4 % + 25 minor units each).
    expect(summary.fees.EUR).toBeGreaterThan(0);
    expect(summary.net.EUR).toBeGreaterThan(0);

    // The adjustment is recorded once, idempotent by the PSP line, and its OMS event is in the outbox.
    const line = byOp(amountOff.id)[0].record!.lineId;
    const adjId = adjustmentIdFor('simulator', `reconciliation:${line}`);
    const adjustment = await new AdjustmentStore(redis, config.redis.keyPrefix).get(adjId);
    expect(adjustment).toMatchObject({ kind: 'amount_mismatch', source: 'reconciliation', amount: 100, currency: 'EUR', operationId: amountOff.id });
    expect(await events.load(adjustmentEventId(amountOff.id, adjId))).not.toBeNull();
    // The UNRESOLVED operation took the PSP's fact; a FAILED one never moves.
    expect((await ledger.get(unresolved.id))?.state).toBe('SUCCEEDED');
    expect((await ledger.get(failedButCaptured.id))?.state).toBe('FAILED');
    expect(await metricValue('pb_reconciliation_lines_total', { gateway: 'simulator', class: 'amount_mismatch' })).toBe(before + 1);

    expect(markdown).toContain('| amount_mismatch | 1 |');
    expect(readFileSync(join(dir, 'report.md'), 'utf8')).toBe(markdown);
    const rows = readFileSync(detailsFile!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r.class).sort()).toEqual(['amount_mismatch', 'missing_at_psp', 'missing_in_ledger', 'state_mismatch', 'state_mismatch']);
  });

  it("keeps each run in the history the console shows, newest first: the window, the result, the differing classes, never a line's data", async () => {
    const runs = await recentRuns(redis, config.redis.keyPrefix, 10);
    // The two runs above: the full one, then the dry run before it.
    expect(runs.slice(0, 2)).toEqual([
      expect.objectContaining({
        gateway: 'simulator',
        from: window.from,
        to: window.to,
        dryRun: false,
        result: 'done',
        differences: 5,
        adjusted: expect.any(Number),
      }),
      expect.objectContaining({ gateway: 'simulator', from: window.from, to: window.to, dryRun: true, result: 'done' }),
    ]);
    expect(runs[0].classes).toEqual({ amount_mismatch: 1, state_mismatch: 2, missing_in_ledger: 1, missing_at_psp: 1 });
    expect(JSON.stringify(runs)).not.toContain(amountOff.id);
  });

  it('a finished run asked again does nothing; with its state lost, a re-run records nothing twice', async () => {
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const again = await reconcile(config, { gateway: 'simulator', window, logger, redis });
    expect(again.summary.result).toBe('already_done');
    const adjustmentsBefore = (await store.forOperation(amountOff.id)).length;
    await redis.del(`${config.redis.keyPrefix}recon:run:{simulator:${window.from}:${window.to}}`);
    const { summary } = await reconcile(config, { gateway: 'simulator', window, logger, redis });
    expect(summary.result).toBe('done');
    expect(summary.adjusted).toBe(0);
    expect(summary.settled).toBe(0);
    expect((await store.forOperation(amountOff.id)).length).toBe(adjustmentsBefore);
    expect((await store.forOperation(failedButCaptured.id)).length).toBe(1);
  });
});

describe('a contradiction a webhook reported first', () => {
  it('a success after failure the webhook recorded first marks the sale: its line agrees (matched), nothing recorded, the OMS heard it once', async () => {
    const from = Date.now() - 1;
    const sale = await deliver(channelCommand('sale', {}, { amount: 3100, gateway_key: 'pm_card_declined' }));
    expect(sale.state).toBe('FAILED');
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: sale.id })).not.toEqual(expect.any(String));
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    await store.recordAdjustment({
      operationId: sale.id,
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 3100,
      currency: 'EUR',
      gateway: 'simulator',
      pspEventId: `evt_webhook_${sale.id}`,
      source: 'webhook',
    });
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink });
    expect(summary.result).toBe('done');
    expect(verdicts.find((v) => v.ledger?.operationId === sale.id)).toMatchObject({ class: 'matched', action: { type: 'none' } });
    expect(summary.adjusted).toBe(0);
    expect((await store.forOperation(sale.id)).map((a) => a.source)).toEqual(['webhook']);
  });
});

describe('a PSP line showing as done a capture the ledger holds FAILED', () => {
  /** An authorization of 1 000 and a capture of it as delivery sends it (checked against, so registered with, its authorization), recorded FAILED. */
  async function failedCapture(): Promise<{ auth: OperationRecord; capture: OperationRecord }> {
    const auth = await deliver(channelCommand('authorize', {}, { amount: 1000, gateway_key: 'pm_card_visa' }));
    const cmd = channelCommand('capture', {}, { amount: 1000, gateway_key: auth.id, order_id: auth.payment.order_id });
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd);
    expect('context' in (await resolveOperationContext((await ledger.get(id))!, ledger, { checkAmounts: true }))).toBe(true);
    await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const capture = await recorder.apply((await ledger.get(id))!, { status: 'FAIL', gatewayStatus: 'declined', reason: 'do_not_honor' }, 'response');
    expect(capture.state).toBe('FAILED');
    return { auth, capture };
  }

  /**
   * A webhook's `succeeded_after_failure` of `capture`, for `amount` EUR minor units dated `occurredAt`: the PSP did the
   * capture after all, as a webhook says it.
   */
  function markedDoneByWebhook(capture: OperationRecord, amount: number, occurredAt: number): Promise<RecordedAdjustment> {
    const webhooks = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger });
    return webhooks.recordAdjustment(capture, {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount,
      currency: 'EUR',
      occurredAt,
      gateway: 'simulator',
      pspEventId: `evt_saf_${capture.id}`,
      source: 'webhook',
    });
  }

  /** What the amount checks say of a refund of `amount` of `auth` (the refund is then set FAILED: checked only). */
  async function refundVerdict(auth: OperationRecord, amount: number): Promise<string> {
    const refund = channelCommand('refund', {}, { amount, gateway_key: auth.id, order_id: auth.payment.order_id });
    await ledger.create(refund.payment.operation_reference!, refund);
    const resolved = await resolveOperationContext((await ledger.get(refund.payment.operation_reference!))!, ledger, { checkAmounts: true });
    await ledger.transition(refund.payment.operation_reference!, 'FAILED', { event: 'test' }, { reason: 'checked_only' });
    return 'fail' in resolved ? resolved.fail : 'context' in resolved ? 'allowed' : 'wait';
  }

  it('is a succeeded_after_failure for the amount on the line: the capture counts as captured at it, and its authorization is closed by it', async () => {
    const from = Date.now() - 1;
    const { auth, capture } = await failedCapture();
    const refundCheck = (amount: number): Promise<string> => refundVerdict(auth, amount);
    // The PSP's report lists it captured, for 800 of the 1 000 asked.
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: capture.id, amount: 800, currency: 'EUR' })).not.toEqual(expect.any(String));
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink });
    expect(summary.result).toBe('done');
    expect(verdicts.find((v) => v.ledger?.operationId === capture.id)).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'succeeded_after_failure', amount: 800 },
    });
    expect((await ledger.get(auth.id))?.closedBy).toBe(capture.id);
    expect(await refundCheck(801)).toBe('amount_exceeds_captured');
    expect(await refundCheck(800)).toBe('allowed');
    expect(await ledger.get(capture.id)).toMatchObject({ state: 'FAILED', succeededAfterFailure: { amount: 800, currency: 'EUR' } });
  });

  it('a re-run over the same line agrees: the capture marked done after all is matched, at the amount the mark confirmed; nothing recorded twice', async () => {
    const from = Date.now() - 1;
    const { capture } = await failedCapture();
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: capture.id, amount: 800, currency: 'EUR' })).not.toEqual(expect.any(String));
    const first = collect();
    await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink: first.sink });
    expect(first.verdicts.find((v) => v.ledger?.operationId === capture.id)).toMatchObject({ action: { kind: 'succeeded_after_failure', amount: 800 } });
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    expect(await store.forOperation(capture.id)).toHaveLength(1);
    const before = (await metricValue('pb_reconciliation_lines_total', { gateway: 'simulator', class: 'matched' })) ?? 0;
    const again = collect();
    const rerun = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink: again.sink });
    expect(rerun.summary.result).toBe('done');
    expect(again.verdicts.find((v) => v.ledger?.operationId === capture.id)).toMatchObject({
      class: 'matched',
      action: { type: 'none' },
      ledger: { state: 'FAILED', amount: 800, currency: 'EUR' },
    });
    expect(rerun.summary.classes.state_mismatch).toBe(0);
    expect(await metricValue('pb_reconciliation_lines_total', { gateway: 'simulator', class: 'matched' })).toBeGreaterThan(before);
    expect(await store.forOperation(capture.id)).toHaveLength(1);
  });

  it("a capture a webhook marked done after all for 800 that the PSP lists captured for 900: amount_mismatch of 100, not a state mismatch; a plain FAILED one's line is succeeded_after_failure", async () => {
    const from = Date.now() - 1;
    const { capture } = await failedCapture();
    const { capture: plain } = await failedCapture();
    await markedDoneByWebhook(capture, 800, Date.now());
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: capture.id, amount: 900, currency: 'EUR' })).not.toEqual(expect.any(String));
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: plain.id, amount: 900, currency: 'EUR' })).not.toEqual(expect.any(String));
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink });
    expect(summary.result).toBe('done');
    expect(verdicts.find((v) => v.ledger?.operationId === capture.id)).toMatchObject({
      class: 'amount_mismatch',
      action: { type: 'adjust', kind: 'amount_mismatch', direction: 'credit', amount: 100, currency: 'EUR' },
    });
    expect(verdicts.find((v) => v.ledger?.operationId === plain.id)).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'succeeded_after_failure', amount: 900 },
    });
  });

  it('a failed line after the success that counted it: capture_failed, recorded once and sent to the OMS; the capture no longer counts, its refund is refused', async () => {
    const from = Date.now() - 1;
    const { auth, capture } = await failedCapture();
    // The PSP said it captured 800 after all (a webhook a minute before the window): the capture counts, at 800.
    const marked = await markedDoneByWebhook(capture, 800, from - 60_000);
    expect(marked).toMatchObject({ created: true, counted: true });
    const refundCheck = (amount: number): Promise<string> => refundVerdict(auth, amount);
    expect(await refundCheck(800)).toBe('allowed');
    // The PSP's report now lists it failed, after that success (an Adyen CAPTURE_FAILED whose webhook was lost).
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: capture.id, amount: 800, currency: 'EUR' })).not.toEqual(expect.any(String));
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: capture.id })).toEqual([expect.objectContaining({ status: 'failed' })]);
    const window = { from, to: Date.now() + 1 };
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window, logger, redis, sink });
    expect(summary.result).toBe('done');
    const verdict = verdicts.find((v) => v.ledger?.operationId === capture.id);
    expect(verdict).toMatchObject({ class: 'state_mismatch', action: { type: 'adjust', kind: 'capture_failed', direction: 'debit', amount: 800 } });
    const recorded = adjustmentIdFor('simulator', `reconciliation:${verdict!.record!.lineId}`);
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    expect((await store.forOperation(capture.id)).map((a) => `${a.kind}:${a.source}`)).toEqual([
      'succeeded_after_failure:webhook',
      'capture_failed:reconciliation',
    ]);
    expect(await events.load(adjustmentEventId(capture.id, recorded))).not.toBeNull();
    expect(await ledger.get(capture.id)).toMatchObject({ state: 'FAILED', undoneBy: recorded });
    expect(await refundCheck(1)).toBe('amount_exceeds_captured');
    // Once: a re-run finds it undone and records nothing.
    const again = collect();
    const rerun = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink: again.sink });
    expect(rerun.summary.adjusted).toBe(0);
    expect(again.verdicts.find((v) => v.ledger?.operationId === capture.id)).toMatchObject({ class: 'state_mismatch', action: { type: 'none' } });
    expect((await store.forOperation(capture.id)).length).toBe(2);
  });

  it('a capture done by the PSP after its failure that the PSP then does not list: missing_at_psp, at the amount it confirmed; a plain FAILED one is not', async () => {
    const from = Date.now() - 1;
    // Neither capture reached the simulator (recorded FAILED here): the report has no line of either.
    const { capture } = await failedCapture();
    const { capture: plain } = await failedCapture();
    const marked = await markedDoneByWebhook(capture, 800, Date.now());
    expect(marked).toMatchObject({ created: true, counted: true });
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink });
    expect(summary.result).toBe('done');
    expect(verdicts.find((v) => v.ledger?.operationId === capture.id)).toMatchObject({
      class: 'missing_at_psp',
      action: { type: 'report' },
      ledger: { state: 'FAILED', amount: 800, currency: 'EUR' },
    });
    expect(verdicts.find((v) => v.ledger?.operationId === plain.id)).toBeUndefined();
  });

  it('a success after failure dated past the window: its line may be in the next window, not reported missing in this one', async () => {
    const from = Date.now() - 1;
    const { capture } = await failedCapture();
    const to = Date.now() + 1;
    await markedDoneByWebhook(capture, 1000, to + 60_000);
    expect((await ledger.get(capture.id))?.succeededAfterFailure).toMatchObject({ amount: 1000 });
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to }, logger, redis, sink });
    expect(summary.result).toBe('done');
    expect(verdicts.find((v) => v.ledger?.operationId === capture.id)).toBeUndefined();
  });
});

describe('a PSP line showing as done an operation the ledger holds SUCCEEDED and marked undone', () => {
  const store = (): AdjustmentStore => new AdjustmentStore(redis, config.redis.keyPrefix);
  /** Marks `op` undone as a webhook's `kind` at `occurredAt` does; the adjustment's id. */
  async function undo(op: OperationRecord, kind: AdjustmentKind, occurredAt: number): Promise<string> {
    const { adjustment, undone } = await store().recordAdjustment({
      operationId: op.id,
      kind,
      direction: kind === 'capture_failed' ? 'debit' : 'credit',
      amount: op.payment.amount,
      currency: 'EUR',
      occurredAt,
      gateway: 'simulator',
      pspEventId: `evt_${kind}_${op.id}`,
      source: 'webhook',
    });
    expect(undone).toBe(true);
    expect((await ledger.get(op.id))?.undoneBy).toBe(adjustment.id);
    return adjustment.id;
  }

  it('after the failure: a succeeded_after_failure from the line clears the mark and tells the OMS, for a capture and a refund; a re-run records nothing twice', async () => {
    const from = Date.now() - 1;
    const { auth, capture } = await authorizedAndCaptured(2600);
    const refund = await deliver(channelCommand('refund', {}, { amount: 600, gateway_key: auth.gatewayReference!, order_id: auth.payment.order_id }));
    expect(refund.state).toBe('SUCCEEDED');
    // The PSP said both failed before the lines its report now lists (a re-capture whose webhook was lost).
    const captureFailed = await undo(capture, 'capture_failed', from - 60_000);
    const refundFailed = await undo(refund, 'refund_failed', from - 60_000);
    const metric = (command: string) => metricValue('pb_reconciliation_undone_lines_total', { gateway: 'simulator', command, outcome: 'redone' });
    const redone = (command: string) => metricValue('pb_undone_operations_redone_total', { gateway: 'simulator', command });
    const before = [await metric('capture'), await metric('refund'), await redone('capture'), await redone('refund')];
    const window = { from, to: Date.now() + 1 };
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window, logger, redis, sink });
    expect(summary.result).toBe('done');
    for (const [op, failure, direction] of [
      [capture, captureFailed, 'credit'],
      [refund, refundFailed, 'debit'],
    ] as const) {
      const verdict = verdicts.find((v) => v.ledger?.operationId === op.id);
      expect(verdict).toMatchObject({
        class: 'state_mismatch',
        action: { type: 'adjust', kind: 'succeeded_after_failure', direction, amount: op.payment.amount },
        undone: { adjustmentId: failure, outcome: 'redone' },
      });
      expect((await ledger.get(op.id))?.undoneBy).toBeUndefined();
      const recorded = adjustmentIdFor('simulator', `reconciliation:${verdict!.record!.lineId}`);
      expect((await store().forOperation(op.id)).map((a) => `${a.kind}:${a.source}`)).toEqual([
        `${op.command === 'refund' ? 'refund_failed' : 'capture_failed'}:webhook`,
        'succeeded_after_failure:reconciliation',
      ]);
      expect(await events.load(adjustmentEventId(op.id, recorded))).not.toBeNull();
    }
    expect([await metric('capture'), await metric('refund'), await redone('capture'), await redone('refund')]).toEqual(before.map((n) => n + 1));
    const again = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis });
    expect(again.summary.adjusted).toBe(0);
    expect((await store().forOperation(capture.id)).length).toBe(2);
  });

  /** The re-capture webhook of `capture` at `occurredAt`, as the outcome worker records it (`successAfterFailureInput`). */
  const recaptureWebhook = (capture: OperationRecord, occurredAt: number) => ({
    kind: 'succeeded_after_failure' as const,
    direction: 'credit' as const,
    amount: capture.payment.amount,
    currency: 'EUR',
    reason: 'received',
    pspReference: capture.gatewayReference!,
    occurredAt,
    gateway: 'simulator',
    pspEventId: `evt_recaptured_${capture.id}`,
    source: 'webhook' as const,
  });

  it('a re-capture reconciliation recorded first, then its webhook: the webhook is that adjustment, no second adjustment or OMS event, and a repeat of it neither', async () => {
    const from = Date.now() - 1;
    const { capture } = await authorizedAndCaptured(2650);
    await undo(capture, 'capture_failed', from - 60_000);
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink });
    expect(summary.adjusted).toBe(1);
    const line = verdicts.find((v) => v.ledger?.operationId === capture.id)!.record!;
    const recorded = adjustmentIdFor('simulator', `reconciliation:${line.lineId}`);
    expect((await ledger.get(capture.id))?.undoneBy).toBeUndefined();
    const found = () => metricValue('pb_adjustments_found_recorded_total', { gateway: 'simulator', kind: 'succeeded_after_failure', source: 'webhook' });
    const before = await found();
    const webhooks = new AdjustmentRecorder({ config, store: store(), recorder, ledger, logger });
    const webhook = recaptureWebhook(capture, line.occurredAt);
    expect(await webhooks.recordAdjustment(capture, webhook)).toMatchObject({ created: false, sameFact: true, adjustment: { id: recorded } });
    expect(await webhooks.recordAdjustment(capture, webhook)).toMatchObject({ created: false, adjustment: { id: recorded } });
    expect(await found()).toBe(before + 1);
    expect((await store().forOperation(capture.id)).map((a) => `${a.kind}:${a.source}`)).toEqual([
      'capture_failed:webhook',
      'succeeded_after_failure:reconciliation',
    ]);
    expect(await events.load(adjustmentEventId(capture.id, adjustmentIdFor('simulator', webhook.pspEventId)))).toBeNull();
    expect((await ledger.get(capture.id))?.undoneBy).toBeUndefined();
  });

  it('a re-capture webhook first, then reconciliation: the line finds the capture redone, nothing recorded or sent twice', async () => {
    const from = Date.now() - 1;
    const { capture } = await authorizedAndCaptured(2660);
    const failure = await undo(capture, 'capture_failed', from - 60_000);
    const webhooks = new AdjustmentRecorder({ config, store: store(), recorder, ledger, logger });
    expect(await webhooks.recordAdjustment(capture, recaptureWebhook(capture, from - 30_000))).toMatchObject({ created: true, redoneAfter: failure });
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink });
    expect(summary.adjusted).toBe(0);
    expect(verdicts.find((v) => v.ledger?.operationId === capture.id)).toMatchObject({ class: 'matched', action: { type: 'none' } });
    expect((await store().forOperation(capture.id)).map((a) => `${a.kind}:${a.source}`)).toEqual(['capture_failed:webhook', 'succeeded_after_failure:webhook']);
  });

  it('before the failure (a report cut before it): the failure stands, the mark stays, nothing recorded or sent', async () => {
    const from = Date.now() - 1;
    const { capture } = await authorizedAndCaptured(2700);
    const failure = await undo(capture, 'capture_failed', Date.now() + 60_000);
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink });
    expect(summary.adjusted).toBe(0);
    expect(verdicts.find((v) => v.ledger?.operationId === capture.id)).toMatchObject({
      class: 'matched',
      action: { type: 'none' },
      undone: { adjustmentId: failure, outcome: 'stands' },
    });
    expect((await ledger.get(capture.id))?.undoneBy).toBe(failure);
    expect((await store().forOperation(capture.id)).map((a) => a.kind)).toEqual(['capture_failed']);
  });

  it('a failure without a time cannot be ordered with the line: left to a person, the mark stays', async () => {
    const from = Date.now() - 1;
    const { capture } = await authorizedAndCaptured(2800);
    const { adjustment } = await store().recordAdjustment({
      operationId: capture.id,
      kind: 'capture_failed',
      direction: 'debit',
      gateway: 'simulator',
      pspEventId: `evt_untimed_${capture.id}`,
      source: 'webhook',
    });
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink });
    expect(summary.adjusted).toBe(0);
    expect(verdicts.find((v) => v.ledger?.operationId === capture.id)).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'report' },
      undone: { adjustmentId: adjustment.id, outcome: 'unclear' },
    });
    expect((await ledger.get(capture.id))?.undoneBy).toBe(adjustment.id);
  });
});

describe('chargebacks: each recorded adjustment accounts for one PSP line', () => {
  it('a second chargeback of the same amount, after one a webhook brought and its reversal, is recorded with its OMS event; a re-run over an overlapping window records nothing twice', async () => {
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const from = Date.now() - 1;
    const { capture } = await authorizedAndCaptured(1500);
    const first = await chargeback(capture.id, 1500);
    // The webhook brought the first one, naming the chargeback's id as the simulator's webhook does.
    const webhook = await store.recordAdjustment({
      operationId: capture.id,
      kind: 'chargeback',
      direction: 'debit',
      amount: 1500,
      currency: 'EUR',
      pspReference: first,
      gateway: 'simulator',
      pspEventId: `evt_${first}`,
      source: 'webhook',
    });
    await chargeback(capture.id, 1500, true);
    const middle = Date.now() + 1;
    const earlier = await reconcile(config, { gateway: 'simulator', window: { from, to: middle }, logger, redis });
    expect(earlier.summary.adjusted).toBe(1);
    await new Promise((r) => setTimeout(r, 5));

    const second = await chargeback(capture.id, 1500);
    const to = Date.now() + 1;
    const { verdicts, sink } = collect();
    const later = await reconcile(config, { gateway: 'simulator', window: { from: middle, to }, logger, redis, sink });
    expect(later.summary.adjusted).toBe(1);
    const verdict = verdicts.find((v) => v.record?.modificationReference === second);
    expect(verdict).toMatchObject({ class: 'state_mismatch', action: { type: 'adjust', kind: 'chargeback', direction: 'debit', amount: 1500 } });
    const recorded = adjustmentIdFor('simulator', `reconciliation:${verdict!.record!.lineId}`);
    expect(await events.load(adjustmentEventId(capture.id, recorded))).not.toBeNull();
    const { verdicts: again, sink: againSink } = collect();
    const overlapping = await reconcile(config, { gateway: 'simulator', window: { from, to }, logger, redis, sink: againSink });
    expect(overlapping.summary.adjusted).toBe(0);
    expect(again.filter((v) => v.record?.kind === 'chargeback' || v.record?.kind === 'chargeback_reversed').map((v) => v.class)).toEqual([
      'matched',
      'matched',
      'matched',
    ]);
    // The webhook's adjustment is tied to the first chargeback's line, and to no other.
    const firstLine = again.find((v) => v.record?.modificationReference === first)?.record?.lineId;
    const shard = (await ledger.shardOf(capture.id)) ?? 0;
    expect(await redis.hget(shardKeysOf(config.redis.keyPrefix)[shard].adjustment(webhook.adjustment.id), 'reconciled_line')).toBe(firstLine);
    expect((await store.forOperation(capture.id)).map((a) => `${a.kind}:${a.source}`)).toEqual([
      'chargeback:webhook',
      'chargeback_reversed:reconciliation',
      'chargeback:reconciliation',
    ]);
  });
});

describe('the record step of a run, while another writer records the same fact', () => {
  /**
   * The runner's recorder with `before` run once, ahead of its first recording of a `kind` adjustment: what
   * happens between the run's read of the operation's adjustments (with its page) and its record step.
   */
  class RecordingAfter extends AdjustmentRecorder {
    private pending: (() => Promise<void>) | null;

    constructor(
      deps: ConstructorParameters<typeof AdjustmentRecorder>[0],
      private readonly kind: AdjustmentKind,
      before: () => Promise<void>,
    ) {
      super(deps);
      this.pending = before;
    }

    override async recordAdjustment(op: OperationRecord, input: Omit<AdjustmentInput, 'operationId'>, now?: number): Promise<RecordedAdjustment> {
      const before = input.kind === this.kind ? this.pending : null;
      if (before) {
        this.pending = null;
        await before();
      }
      return super.recordAdjustment(op, input, now);
    }
  }

  /** A runner of the simulator as `reconcile` builds it, in a process of its own (its own Redis connection). */
  function runProcess(kind: AdjustmentKind, before: () => Promise<void>, log: Logger = logger) {
    const connection = createRedis(config.redis, 'commands');
    const prefix = config.redis.keyPrefix;
    const ownLedger = new Ledger(connection, prefix);
    const queue = createOmsEventsQueue(connection, prefix);
    const outcomes = new OutcomeRecorder({ config, ledger: ownLedger, events: new EventStore(connection, prefix), eventsQueue: queue, logger: log });
    const deps = { config, store: new AdjustmentStore(connection, prefix), recorder: outcomes, ledger: ownLedger, logger: log };
    const http = createReconciliationHttp(route.gateway, route.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 5000 });
    const support = gatewayDefinition('simulator').reconciliation!;
    const runner = new ReconciliationRunner({
      redis: connection,
      prefix,
      gateway: 'simulator',
      transformer: route.transformer,
      reader: support.reader(route.gateway, http),
      source: support.source,
      adjustments: new RecordingAfter(deps, kind, before),
      recorder: outcomes,
      logger: log,
    });
    const close = async () => {
      http.close();
      await queue.close();
      connection.disconnect();
    };
    return { runner, close };
  }

  /** The adjustment entries of the operation's history (one per adjustment recorded, each with its OMS event). */
  const adjustmentEntries = async (id: string) => (await ledger.interactions(id)).filter((h) => h.event === 'adjustment');

  it("a chargeback webhook recorded after the run read the operation's adjustments and before it recorded the line: the run reads them again and ties the line to the webhook's adjustment; one adjustment, one OMS event, counted and logged once", async () => {
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const from = Date.now() - 1;
    const { capture } = await authorizedAndCaptured(1600);
    const dispute = await chargeback(capture.id, 1600);
    const webhooks = new AdjustmentRecorder({ config, store, recorder, ledger, logger });
    let webhook: RecordedAdjustment | undefined;
    const logs = captureLogger('info');
    const run = runProcess(
      'chargeback',
      async () => {
        // The simulator's webhook names the chargeback's id, as in the test above.
        webhook = await webhooks.recordAdjustment(capture, {
          kind: 'chargeback',
          direction: 'debit',
          amount: 1600,
          currency: 'EUR',
          pspReference: dispute,
          gateway: 'simulator',
          pspEventId: `evt_${dispute}`,
          source: 'webhook',
        });
      },
      logs.logger,
    );
    const before = await metricValue('pb_adjustments_found_recorded_total', { gateway: 'simulator', kind: 'chargeback', source: 'reconciliation' });
    const { verdicts, sink } = collect();
    const summary = await run.runner.run({ window: { from, to: Date.now() + 1 }, sink }).finally(run.close);

    expect(webhook?.created).toBe(true);
    const verdict = verdicts.find((v) => v.record?.modificationReference === dispute);
    expect(verdict).toMatchObject({ class: 'matched', action: { type: 'none' }, ties: { adjustmentId: webhook!.adjustment.id, by: 'psp_reference' } });
    expect(summary.adjusted).toBe(0);
    expect((await store.forOperation(capture.id)).map((a) => `${a.kind}:${a.source}`)).toEqual(['chargeback:webhook']);
    const shard = (await ledger.shardOf(capture.id)) ?? 0;
    expect(await redis.hget(shardKeysOf(config.redis.keyPrefix)[shard].adjustment(webhook!.adjustment.id), 'reconciled_line')).toBe(verdict!.record!.lineId);
    expect(await adjustmentEntries(capture.id)).toHaveLength(1);
    expect(await events.load(adjustmentEventId(capture.id, webhook!.adjustment.id))).not.toBeNull();
    expect(await events.load(adjustmentEventId(capture.id, adjustmentIdFor('simulator', `reconciliation:${verdict!.record!.lineId}`)))).toBeNull();
    expect(await metricValue('pb_adjustments_found_recorded_total', { gateway: 'simulator', kind: 'chargeback', source: 'reconciliation' })).toBe(before + 1);
    const found = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.operation_id === capture.id && l.psp_line === verdict!.record!.lineId);
    expect(found).toEqual([
      expect.objectContaining({ level: 'info', message: expect.stringContaining('a webhook recorded its fact'), adjustment_id: webhook!.adjustment.id }),
    ]);
  });

  it('a contradiction a webhook reported after the run read the operation and before it recorded the line is found reported: the line then agrees with the marked sale, nothing recorded twice', async () => {
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const from = Date.now() - 1;
    const sale = await deliver(channelCommand('sale', {}, { amount: 3200, gateway_key: 'pm_card_declined' }));
    expect(sale.state).toBe('FAILED');
    expect(sim.injectDiscrepancy({ kind: 'state_mismatch', reference: sale.id })).not.toEqual(expect.any(String));
    const webhooks = new AdjustmentRecorder({ config, store, recorder, ledger, logger });
    const run = runProcess('succeeded_after_failure', async () => {
      await webhooks.recordAdjustment(sale, {
        kind: 'succeeded_after_failure',
        direction: 'credit',
        amount: 3200,
        currency: 'EUR',
        gateway: 'simulator',
        pspEventId: `evt_webhook_${sale.id}`,
        source: 'webhook',
      });
    });
    const before = await metricValue('pb_adjustments_found_recorded_total', {
      gateway: 'simulator',
      kind: 'succeeded_after_failure',
      source: 'reconciliation',
    });
    const { verdicts, sink } = collect();
    const summary = await run.runner.run({ window: { from, to: Date.now() + 1 }, sink }).finally(run.close);
    expect(verdicts.find((v) => v.ledger?.operationId === sale.id)).toMatchObject({ class: 'matched', action: { type: 'none' } });
    expect(summary.adjusted).toBe(0);
    expect((await store.forOperation(sale.id)).map((a) => a.source)).toEqual(['webhook']);
    expect(await adjustmentEntries(sale.id)).toHaveLength(1);
    expect(await metricValue('pb_adjustments_found_recorded_total', { gateway: 'simulator', kind: 'succeeded_after_failure', source: 'reconciliation' })).toBe(
      before + 1,
    );
  });

  it('a re-capture webhook recorded after the run read an undone capture and before it recorded the line cleared the mark: the run reads the operation again and records nothing twice', async () => {
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const from = Date.now() - 1;
    const { capture } = await authorizedAndCaptured(3300);
    const failed = await store.recordAdjustment({
      operationId: capture.id,
      kind: 'capture_failed',
      direction: 'debit',
      amount: 3300,
      currency: 'EUR',
      occurredAt: from - 60_000,
      gateway: 'simulator',
      pspEventId: `evt_capture_failed_${capture.id}`,
      source: 'webhook',
    });
    expect(failed.undone).toBe(true);
    const webhooks = new AdjustmentRecorder({ config, store, recorder, ledger, logger });
    const run = runProcess('succeeded_after_failure', async () => {
      const { redoneAfter } = await webhooks.recordAdjustment(capture, {
        kind: 'succeeded_after_failure',
        direction: 'credit',
        amount: 3300,
        currency: 'EUR',
        occurredAt: from - 30_000,
        gateway: 'simulator',
        pspEventId: `evt_recaptured_${capture.id}`,
        source: 'webhook',
      });
      expect(redoneAfter).toBe(failed.adjustment.id);
    });
    const { verdicts, sink } = collect();
    const summary = await run.runner.run({ window: { from, to: Date.now() + 1 }, sink }).finally(run.close);
    expect(verdicts.find((v) => v.ledger?.operationId === capture.id)).toMatchObject({ class: 'matched', action: { type: 'none' } });
    expect(summary.adjusted).toBe(0);
    expect((await store.forOperation(capture.id)).map((a) => `${a.kind}:${a.source}`)).toEqual(['capture_failed:webhook', 'succeeded_after_failure:webhook']);
    expect((await ledger.get(capture.id))?.undoneBy).toBeUndefined();
  });

  it('two runs (overlapping windows, two processes) that judged the same chargeback line before either recorded it record it once: its line id is its idempotency key', async () => {
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const from = Date.now() - 1;
    const { capture } = await authorizedAndCaptured(1700);
    const dispute = await chargeback(capture.id, 1700);
    const to = Date.now() + 1;
    // Each run records only once both have read and judged the line.
    let arrived = 0;
    let open: () => void = () => undefined;
    const both = new Promise<void>((resolve) => (open = resolve));
    const arrive = async () => {
      arrived += 1;
      if (arrived === 2) open();
      await both;
    };
    const runs = [runProcess('chargeback', arrive), runProcess('chargeback', arrive)];
    const outcomes: string[] = [];
    const sink = { verdict: (v: LineVerdict, outcome: string) => void (v.record?.modificationReference === dispute && outcomes.push(outcome)) };
    const summaries = await Promise.all([
      runs[0].runner.run({ window: { from, to }, sink }).finally(runs[0].close),
      runs[1].runner.run({ window: { from, to: to + 1 }, sink }).finally(runs[1].close),
    ]);

    expect(arrived).toBe(2);
    expect(summaries.map((s) => s.result)).toEqual(['done', 'done']);
    expect(outcomes.sort()).toEqual(['adjusted', 'already_adjusted']);
    const recorded = await store.forOperation(capture.id);
    expect(recorded.map((a) => `${a.kind}:${a.source}`)).toEqual(['chargeback:reconciliation']);
    expect(await adjustmentEntries(capture.id)).toHaveLength(1);
    expect(await events.load(adjustmentEventId(capture.id, recorded[0].id))).not.toBeNull();
  });
});

describe('a cancellation of an authorization no cancel of the ledger accounts for', () => {
  /** Cancels `auth` at the simulator as someone outside the bridge would (the Dashboard): under a reference the ledger never held. */
  async function cancelOutside(auth: OperationRecord, reference: string): Promise<void> {
    const payment = { ...auth.payment, gateway_key: auth.gatewayReference! };
    const response = await route.client.send(route.transformer.buildRequest({ operationId: reference, command: 'cancel', payment }, route.gateway));
    expect(response.status).toBeLessThan(300);
  }

  it('is reported to the OMS as failed_after_success of the authorization, which leaves the expiry index; one of its own cancels accounts for is matched', async () => {
    const from = Date.now() - 1;
    const voidedOutside = await deliver(channelCommand('authorize', {}, { amount: 2100, gateway_key: 'pm_card_visa' }));
    const cancelledByUs = await deliver(channelCommand('authorize', {}, { amount: 2200, gateway_key: 'pm_card_visa' }));
    const ourCancel = await deliver(
      channelCommand('cancel', {}, { amount: 2200, gateway_key: cancelledByUs.gatewayReference!, order_id: cancelledByUs.payment.order_id }),
    );
    expect([voidedOutside.state, cancelledByUs.state, ourCancel.state]).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    expect(await ledger.inAuthorizationIndex('expiry', voidedOutside.id)).toBe(true);
    await cancelOutside(voidedOutside, `dashboard-void-${voidedOutside.id}`);
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink });
    expect(summary.result).toBe('done');
    const cancelOf = (id: string) => verdicts.find((v) => v.record?.kind === 'cancel' && v.ledger?.operationId === id);
    expect(cancelOf(voidedOutside.id)).toMatchObject({
      class: 'state_mismatch',
      matchedBy: 'psp_reference',
      action: { type: 'adjust', kind: 'failed_after_success', direction: 'none', amount: 2100, currency: 'EUR' },
    });
    expect(cancelOf(ourCancel.id)).toMatchObject({ class: 'matched' });
    expect(verdicts.filter((v) => v.class === 'missing_in_ledger')).toEqual([]);
    const adjustments = await new AdjustmentStore(redis, config.redis.keyPrefix).forOperation(voidedOutside.id);
    expect(adjustments).toMatchObject([{ kind: 'failed_after_success', source: 'reconciliation', amount: 2100 }]);
    expect(await ledger.inAuthorizationIndex('expiry', voidedOutside.id)).toBe(false);
    expect((await ledger.get(voidedOutside.id))?.state).toBe('SUCCEEDED');
  });

  it('is left to a person, never reported to the OMS, while a cancel of the order that names the authorization is in flight', async () => {
    const from = Date.now() - 1;
    const auth = await deliver(channelCommand('authorize', {}, { amount: 2300, gateway_key: 'pm_card_visa' }));
    const stuck = channelCommand('cancel', {}, { amount: 2300, gateway_key: auth.gatewayReference!, order_id: auth.payment.order_id });
    await ledger.create(stuck.payment.operation_reference!, stuck);
    await ledger.transition(stuck.payment.operation_reference!, 'UNKNOWN', { event: 'timeout' }, { nextCheckAt: Date.now() + 3_600_000 });
    await cancelOutside(auth, `retried-under-another-id-${auth.id}`);
    const { verdicts, sink } = collect();
    const { summary } = await reconcile(config, { gateway: 'simulator', window: { from, to: Date.now() + 1 }, logger, redis, sink });
    expect(summary.result).toBe('done');
    expect(verdicts.find((v) => v.record?.kind === 'cancel')).toMatchObject({ ledger: { operationId: auth.id }, action: { kind: 'failed_after_success' } });
    expect(summary.adjusted).toBe(0);
    expect(await new AdjustmentStore(redis, config.redis.keyPrefix).forOperation(auth.id)).toEqual([]);
  });
});

describe('a run that fails', () => {
  it("is kept in the history as failed, with its error's class and not its message (which may quote the PSP)", async () => {
    // Its own namespace, and a PSP nobody listens at.
    const broken = testConfig({
      gateways: {
        simulator: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: API_KEY, webhook_secret: 'whsec-recon-test-0123456789', timeout_ms: 1000 },
      },
    });
    await expect(reconcile(broken, { gateway: 'simulator', window: { from: 0, to: 60_000 }, logger, redis })).rejects.toThrow();
    const runs = await recentRuns(redis, broken.redis.keyPrefix, 10);
    expect(runs).toEqual([
      expect.objectContaining({ gateway: 'simulator', from: 0, to: 60_000, result: 'failed', lines: 0, error: expect.stringMatching(/Error$/) }),
    ]);
    expect(JSON.stringify(runs)).not.toContain('127.0.0.1');
  });
});

describe('a long report', () => {
  // A window of its own, far from the other tests' lines: 1,200 lines, three pages of 500.
  const window = { from: 1_600_000_000_000, to: 1_600_000_000_000 + 3_600_000 };

  beforeAll(() => {
    sim.synthesizeReport(1200, 'recon-synthetic-', 1500, 'EUR', window.from, window.to);
  });

  it('stopped after a page, resumes where it stopped and judges each line once; then it is done', async () => {
    const controller = new AbortController();
    const first = await reconcile(config, {
      gateway: 'simulator',
      window,
      logger,
      redis,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    expect(first.summary.result).toBe('stopped');
    expect(first.summary.lines).toBe(500);
    const second = await reconcile(config, { gateway: 'simulator', window, logger, redis });
    expect(second.summary).toMatchObject({ result: 'done', resumed: true, lines: 1200 });
    expect(second.summary.classes.missing_in_ledger).toBe(1200);
    const third = await reconcile(config, { gateway: 'simulator', window, logger, redis });
    expect(third.summary.result).toBe('already_done');
    expect(third.summary.lines).toBe(1200);
  });
});

describe('payment-bridge reconcile', () => {
  it('prints the summary, exits 1 on differences and 2 on a usage error, and writes an audit entry', async () => {
    const window = { from: Date.now() - 1, to: 0 };
    const sale = await deliver(channelCommand('sale', {}, { amount: 1234, gateway_key: 'pm_card_visa' }));
    sim.injectDiscrepancy({ kind: 'unknown_payment', amount: 4321, currency: 'EUR' });
    window.to = Date.now() + 1;
    const ctx = openOps(config, logger, { service: 'test', auditStream: new PassThrough() });
    try {
      const out = new PassThrough();
      const err = new PassThrough();
      let text = '';
      out.on('data', (c: Buffer) => (text += c.toString()));
      err.resume();
      const args = { gateway: 'simulator', from: String(window.from), to: String(window.to), format: 'jsonl', dryRun: true };
      const code = await reconcileCommand(ctx, { out, err, actor: 'tester@host' }, args);
      expect(code).toBe(1);
      expect(text).toContain('| missing_in_ledger | 1 |');
      expect(text).toContain('dry run');
      const entries = await redis.xrevrange(`${config.redis.keyPrefix}audit`, '+', '-', 'COUNT', 5);
      const fields = entries.map(([, f]) => f.join(' '));
      expect(fields.some((f) => f.includes('reconcile.run') && f.includes('dry_run'))).toBe(true);
      expect(sale.state).toBe('SUCCEEDED');
      // A finished window is done; --again reads it from the start, and its audit entry says so.
      const applied = { ...args, dryRun: false };
      await reconcileCommand(ctx, { out, err, actor: 'tester@host' }, applied);
      text = '';
      await reconcileCommand(ctx, { out, err, actor: 'tester@host' }, { ...applied, json: true });
      expect(JSON.parse(text)).toMatchObject({ result: 'already_done' });
      text = '';
      await reconcileCommand(ctx, { out, err, actor: 'tester@host' }, { ...applied, json: true, again: true });
      expect(JSON.parse(text)).toMatchObject({ result: 'done' });
      const latest = (await redis.xrevrange(`${config.redis.keyPrefix}audit`, '+', '-', 'COUNT', 1)).map(([, f]) => f.join(' '))[0];
      expect(latest).toContain('"again":true');
      const unknownGateway = await reconcileCommand(ctx, { out, err, actor: 'tester@host' }, { ...args, gateway: 'nope' });
      expect(unknownGateway).toBe(2);
      const badWindow = await reconcileCommand(ctx, { out, err, actor: 'tester@host' }, { ...args, to: args.from });
      expect(badWindow).toBe(2);
    } finally {
      await ctx.close();
    }
  });
});

describe('ReconciliationHttp', () => {
  it('streams a report line by line with the reader’s own headers, and names the HTTP status of a refusal', async () => {
    const window = { from: 1_500_000_000_000, to: 1_500_000_000_000 + 60_000 };
    sim.synthesizeReport(2500, 'recon-csv-', 100, 'EUR', window.from, window.to);
    const http = createReconciliationHttp(route.gateway, route.transformer, { proxy: { host: '', port: 0 }, timeoutMs: 5000 });
    try {
      let count = 0;
      let header = '';
      for await (const l of http.lines({
        path: `/v1/reports/lines.csv?from=${window.from}&to=${window.to}`,
        headers: { authorization: `Bearer ${API_KEY}` },
      })) {
        if (count === 0) header = l;
        count += 1;
      }
      expect(header.startsWith('id,type,status')).toBe(true);
      expect(count).toBe(2501);
      // On an absolute URL (a report host) the API key is never added: without the reader's credentials, refused.
      await expect(async () => {
        for await (const _ of http.lines({ path: `${sim.url}/v1/reports/lines.csv?from=${window.from}&to=${window.to}` })) void _;
      }).rejects.toMatchObject({ kind: 'authentication', details: { httpStatus: 401 } });
      const sent = await http.send({ method: 'GET', path: `/v1/reports/lines?from=${window.from}&to=${window.to}&limit=1` });
      expect(sent.status).toBe(200);
      expect(GatewayError).toBeDefined();
    } finally {
      http.close();
    }
  });
});
