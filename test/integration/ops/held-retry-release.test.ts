/**
 * `ops held-retries release`: an operator releases a capture held for its PSP's own retry (Adyen's technical
 * CAPTURE_FAILED) once the PSP confirmed no retry will come. Before, a cancel of its authorization is refused
 * `capture_held_for_psp_retry`; after, it is sent. A dry run changes nothing; one not held, not found, released before,
 * or whose retry is recorded done (it stays captured) is refused with a non-zero exit. The index and the gauges read
 * from it no longer count it. On the real Redis, in the test's own namespace, with the PSP simulator.
 */
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { opsReleaseHeldRetry } from '../../../src/cli/recapture-commands';
import { Config } from '../../../src/config/config';
import { Payment, PaymentCommand } from '../../../src/contracts/payment-command';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { OpsContext, openOps } from '../../../src/ops/ops-context';
import { heldForPspRetry } from '../../../src/ops/held-for-psp-retry';
import { scrapeSnapshot } from '../../../src/processes/scrape-snapshot';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { shardKeysOf } from '../../../src/redis/key-layout';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const API_KEY = 'sim-held-release-key-0123456789';
const REASON = 'Capture rejected by card scheme because of a technical issue.';
const ACTOR = 'alice@ops-host';

let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let ledger: Ledger;
let recorder: OutcomeRecorder;
let service: DeliveryService;
let ops: OpsContext;
const logs = captureLogger();
const audit: string[] = [];

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-held-release-0123456789', timeout_ms: 1000 } },
  });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: logs.logger });
  service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger: logs.logger });
  const auditStream = new Writable({
    write(chunk: Buffer, _enc, done) {
      audit.push(chunk.toString('utf8'));
      done();
    },
  });
  ops = openOps(config, logs.logger, { service: 'ops', redis, auditStream });
});

afterAll(async () => {
  await ops.close();
  await eventsQueue.close();
  redis.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

async function record(command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

function dependent(command: PaymentCommand['command'], auth: PaymentCommand, payment: Partial<Payment> = {}): PaymentCommand {
  return channelCommand(command, {}, { gateway_key: auth.payment.operation_reference!, order_id: auth.payment.order_id, amount: 1000, ...payment });
}

/** An authorization of 4000 with a capture of 3000 recorded FAILED and held for the PSP's retry, indexed as the recorder leaves it. */
async function heldCapture(since = Date.now() - 11 * 86_400_000): Promise<{ auth: PaymentCommand; capture: string }> {
  const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 4000 });
  expect(await service.deliver(await record(auth))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  const capture = await record(dependent('capture', auth, { amount: 3000 }));
  expect(await ledger.authorizationView(auth.payment.operation_reference!, capture)).not.toBeNull();
  await ledger.transition(capture, 'SENT', { event: 'attempt' });
  await ledger.transition(capture, 'FAILED', { event: 'outcome' }, { reason: REASON, heldForPspRetry: REASON, gatewayReference: `PSP-${capture}` });
  await ledger.indexHeldForPspRetry(capture, since);
  return { auth, capture };
}

/** Runs the CLI command's body; its exit code and what it printed. */
async function release(id: string, opts: { reason?: string; execute?: boolean; json?: boolean } = {}): Promise<{ code: number; out: string }> {
  let out = '';
  const io = {
    actor: ACTOR,
    out: new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString('utf8');
        done();
      },
    }),
  };
  const code = await opsReleaseHeldRetry(ops, io, { id, reason: 'Adyen Support case 12345: no re-capture will come', ...opts });
  return { code, out };
}

const snapshot = (): Promise<{ count: number; overdue: number }> =>
  scrapeSnapshot({ config, redis, queues: {} })().then((s) => ({ count: s.heldForPspRetry.count, overdue: s.heldForPspRetry.overdue }));

describe("ops held-retries release: an operator releases a capture held for its PSP's retry", () => {
  it('a dry run changes nothing; --execute releases it, keeps why on its history, leaves the index and the gauges, and a cancel is then sent', async () => {
    const { auth, capture } = await heldCapture();
    const gauges = await snapshot();
    const before = await metricValue('pb_held_for_psp_retry_released_total', { gateway: 'simulator', command: 'capture' });

    // Held: a cancel is refused unsent.
    const refused = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(refused)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(refused))?.reason).toBe('capture_held_for_psp_retry');

    const dry = await release(capture);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain('DRY RUN');
    expect((await ledger.get(capture))?.heldForPspRetry).toBe(REASON);
    expect(await snapshot()).toEqual(gauges);

    const done = await release(capture, { execute: true, json: true });
    expect(done.code).toBe(0);
    expect(JSON.parse(done.out)).toMatchObject({ operation_id: capture, execute: true, result: 'released', held: { command: 'capture', amount: 3000 } });
    const after = (await ledger.get(capture))!;
    expect(after.state).toBe('FAILED');
    expect(after.heldForPspRetry).toBeUndefined();
    const mark = JSON.parse((await ledger.heldForPspRetryRelease(capture))!) as Record<string, unknown>;
    expect(mark).toMatchObject({ by: ACTOR, reason: 'Adyen Support case 12345: no re-capture will come', psp_reason: REASON });
    expect(typeof mark.at).toBe('number');
    const history = await ledger.interactions(capture);
    expect(history.at(-1)).toMatchObject({ event: 'held_for_psp_retry_released', by: ACTOR, reason: 'Adyen Support case 12345: no re-capture will come' });
    // Out of the index: no longer listed, counted or aged.
    expect((await heldForPspRetry(ops, { limit: 100, all: true })).map((v) => v.operation_id)).not.toContain(capture);
    expect(await snapshot()).toEqual({ count: gauges.count - 1, overdue: gauges.overdue - 1 });
    expect(await metricValue('pb_held_for_psp_retry_released_total', { gateway: 'simulator', command: 'capture' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('"warn"') && l.includes('released') && l.includes(capture) && l.includes(ACTOR))).toBe(true);
    expect(audit.some((l) => l.includes('ops.held_retry_release') && l.includes(capture) && l.includes('"ok"'))).toBe(true);

    // Released: the next cancel is sent and succeeds at the PSP.
    const cancel = await record(dependent('cancel', auth, { amount: 4000 }));
    expect(await service.deliver(cancel)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sim.counters().effects[cancel]).toBe(1);

    // Released once: a second release is refused, and a repeat of Adyen's failure does not hold it again.
    const again = await release(capture, { execute: true });
    expect(again.code).toBe(1);
    expect(again.out).toContain('already released');
    await recorder.apply(after, { status: 'FAIL', gatewayStatus: 'CAPTURE_FAILED', reason: REASON, retriedByPsp: true }, 'webhook');
    expect((await ledger.get(capture))?.heldForPspRetry).toBeUndefined();
    expect((await heldForPspRetry(ops, { limit: 100, all: true })).map((v) => v.operation_id)).not.toContain(capture);
  });

  it('a card number pasted in --reason is stored, logged, audited and shown masked, also where the audit cuts the reason short', async () => {
    const pan = '4111111111111111';
    // One reason with the number whole; one so long that the audit's 200-character cut falls inside the number.
    for (const reason of [`Adyen case 777, card ${pan}`, `${'x'.repeat(187)}${pan} rest of the note`]) {
      const { capture } = await heldCapture();
      logs.lines.length = 0;
      audit.length = 0;
      const done = await release(capture, { reason, execute: true, json: true });
      expect(done.code).toBe(0);
      // The record's hash on whichever shard holds it: every field, the release mark among them.
      const hashes = await Promise.all(shardKeysOf(config.redis.keyPrefix).map((k) => redis.hgetall(k.op(capture))));
      const hash = hashes.find((h) => Object.keys(h).length > 0);
      expect(hash).toBeDefined();
      const stored = [JSON.stringify(hash), (await ledger.heldForPspRetryRelease(capture)) ?? '', JSON.stringify(await ledger.interactions(capture))];
      const shown = [done.out, ...logs.lines, ...audit, ...stored];
      // Not the number, nor more of it than its first six and last four (the most of a card number allowed in sight).
      for (const text of shown) expect(text).not.toMatch(/4111111111/);
      expect(stored[1]).toContain('[PAN REDACTED]');
    }
  });

  it("is refused when the PSP's retry is recorded done (it stays captured): by the command, and by the script itself on the record as it stands", async () => {
    const { auth, capture } = await heldCapture();
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
    // Adyen's re-capture ("Transaction Recaptured") recorded: done after all.
    await adjustments.recordAdjustment((await ledger.get(capture))!, {
      kind: 'succeeded_after_failure',
      direction: 'debit',
      amount: 3000,
      currency: 'EUR',
      gateway: 'simulator',
      pspEventId: `evt_recaptured_${capture}`,
      source: 'webhook',
    });
    expect((await ledger.get(capture))?.succeededAfterFailure).toBeDefined();
    const r = await release(capture, { execute: true });
    expect(r.code).toBe(1);
    expect(r.out).toContain("the PSP's retry is recorded done");
    // The script itself decides on the record as it stands: the same answer when asked directly.
    expect(await ledger.releaseHeldForPspRetry(capture, { reason: 'x', by: ACTOR })).toEqual({ result: 'retry_succeeded' });
    expect(await ledger.heldForPspRetryRelease(capture)).toBeNull();
    expect((await ledger.get(capture))?.heldForPspRetry).toBe(REASON);
    // Still counted as captured of its authorization, at what the PSP confirmed.
    const [summary] = (await ledger.dependentsOf(auth.payment.operation_reference!)).filter((d) => d.id === capture);
    expect(summary).toMatchObject({ command: 'capture', state: 'FAILED', succeededAfterFailure: true, amount: 3000 });
    expect(summary.heldForPspRetry).toBeUndefined();
  });

  it("Adyen's re-capture recorded between the command's read and its script wins: refused, the capture stays captured", async () => {
    const { capture } = await heldCapture();
    const adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
    const before = await metricValue('pb_held_for_psp_retry_released_total', { gateway: 'simulator', command: 'capture' });
    // The command has read the record (held); the re-capture lands before its script runs.
    const read = jest.spyOn(ops.ledger, 'heldForPspRetryRelease').mockImplementationOnce(async () => {
      await adjustments.recordAdjustment((await ledger.get(capture))!, {
        kind: 'succeeded_after_failure',
        direction: 'debit',
        amount: 3000,
        currency: 'EUR',
        gateway: 'simulator',
        pspEventId: `evt_recaptured_${capture}`,
        source: 'webhook',
      });
      return null;
    });
    const r = await release(capture, { execute: true });
    read.mockRestore();
    expect(r.code).toBe(1);
    expect(r.out).toContain("the PSP's retry is recorded done");
    expect(await ledger.heldForPspRetryRelease(capture)).toBeNull();
    expect((await ledger.get(capture))?.succeededAfterFailure).toMatchObject({ amount: 3000 });
    expect(await metricValue('pb_held_for_psp_retry_released_total', { gateway: 'simulator', command: 'capture' })).toBe(before);
  });

  it('says what the release allows for what was held: a cancel for a held capture, a refund of that amount for a held refund (and never a cancel)', async () => {
    const { capture } = await heldCapture();
    const captureDone = await release(capture, { execute: true });
    expect(captureDone.out).toContain('its amount is no longer held; a cancel of its authorization is allowed again');

    const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 4000 });
    expect(await service.deliver(await record(auth))).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const refund = await record(dependent('refund', auth, { amount: 2000 }));
    await ledger.transition(refund, 'SENT', { event: 'attempt' });
    const refundReason = 'Refund rejected by card scheme because of a technical issue.';
    await ledger.transition(refund, 'FAILED', { event: 'outcome' }, { reason: refundReason, heldForPspRetry: refundReason });
    const refundDone = await release(refund, { execute: true });
    expect(refundDone.code).toBe(0);
    expect(refundDone.out).toContain('its amount is no longer held; a refund of that amount is allowed again');
    expect(refundDone.out).not.toContain('cancel');
    const line = logs.lines.find((l) => l.includes("an operator released a capture or refund held for its PSP's retry") && l.includes(refund));
    expect(line).toContain('a refund of that amount is allowed again');
    expect(line).not.toContain('cancel');
  });

  it('is refused, nothing changed, for an operation not held, not found, or without a reason', async () => {
    const auth = channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 4000 });
    const authId = await record(auth);
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const plain = await record(dependent('capture', auth, { amount: 1000 }));
    await ledger.transition(plain, 'SENT', { event: 'attempt' });
    await ledger.transition(plain, 'FAILED', { event: 'outcome' }, { reason: 'declined' });

    for (const id of [authId, plain]) {
      const r = await release(id, { execute: true });
      expect(r.code).toBe(1);
      expect(r.out).toContain("not held for its PSP's retry");
      expect(await ledger.releaseHeldForPspRetry(id, { reason: 'x', by: ACTOR })).toEqual({ result: 'not_held' });
      expect(await ledger.heldForPspRetryRelease(id)).toBeNull();
    }
    const missing = await release('op-does-not-exist', { execute: true });
    expect(missing.code).toBe(1);
    expect(missing.out).toContain('no such operation');

    const { capture } = await heldCapture();
    expect((await release(capture, { reason: '  ', execute: true })).code).toBe(2);
    expect((await ledger.get(capture))?.heldForPspRetry).toBe(REASON);
  });
});
