/**
 * Adyen's `merchantReference` is the modification's own `reference` when one was passed on, else the payment's
 * (Webhooks v1 describes it as the payment's). The outcome of a capture or refund the bridge sent may so name
 * the authorization; its `pspReference` is the modification's, which the modification's `received` answer gave
 * and the ledger indexed. End to end: an authorization, a capture and a refund delivered by the worker to a local
 * Adyen stand-in (Checkout v71 answers), then notifications signed as Adyen signs them, naming the payment, posted
 * to the web process: each settles its own operation, whose OMS event is sent.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { PSP_RETRY_WAIT_MS } from '../../../src/ops/held-for-psp-retry';
import { heldForPspRetry } from '../../../src/ops/held-for-psp-retry';
import { scrapeSnapshot } from '../../../src/processes/scrape-snapshot';
import { shardKeysOf, shardOfOperation } from '../../../src/redis/key-layout';
import { useAdyenStandInStack } from '../../support/adyen-checkout-stand-in';
import { eventually } from '../../support/tcp-proxy';

jest.setTimeout(60_000);

const {
  stack,
  logs,
  pspReferences,
  created,
  deliver,
  notifyNamingPayment: notify,
  successesSent,
  sent,
} = useAdyenStandInStack('ByRefMerchant', '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056');

let orderSeq = 0;

/** `command` of `orderId` created in the ledger and delivered by the worker to the stand-in: its id and state. */
async function delivered(command: 'authorize' | 'capture' | 'refund', orderId: string, gatewayKey: string): Promise<{ id: string; state: string }> {
  const id = await created(command, orderId, gatewayKey);
  return { id, state: await deliver(id) };
}

/** An authorization the worker sent and Adyen authorised, and a capture of it the worker sent and Adyen `received`. */
async function authorizedAndCaptureReceived(): Promise<{ orderId: string; authorization: string; capture: string }> {
  const orderId = `order-byref-${process.pid}-${++orderSeq}`;
  const authorization = await delivered('authorize', orderId, 'shopper-byref:8415718415718415');
  expect(authorization.state).toBe('SUCCEEDED');
  const capture = await delivered('capture', orderId, authorization.id);
  expect(capture.state).toBe('PENDING');
  return { orderId, authorization: authorization.id, capture: capture.id };
}

/** Posts one signed item of `eventCode` about the modification `modification` (an operation id), named by the payment's reference. */
function notifyNamingPayment(eventCode: string, authorization: string, modification: string, reason?: string): Promise<void> {
  return notify(eventCode, authorization, pspReferences.get(modification)!, reason);
}

/** Whether the OMS was sent the SUCCESS event of operation `id`. */
const successSent = (id: string): boolean => successesSent(id) > 0;

async function notForCommandOn(id: string): Promise<boolean> {
  return (await stack.worker.ledger.interactions(id)).some((h) => h.event === 'outcome_not_for_command');
}

const matched = (): Promise<number> => metricValue('pb_webhook_matched_by_reference_total', { gateway: 'adyen' });

describe("an Adyen modification's notification naming the payment", () => {
  it('a CAPTURE whose merchantReference is the authorization and pspReference the capture settles the capture: SUCCEEDED, its OMS event sent', async () => {
    const before = await matched();
    const { authorization, capture } = await authorizedAndCaptureReceived();

    await notifyNamingPayment('CAPTURE', authorization, capture);

    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');
    await eventually(async () => successSent(capture));
    expect(await matched()).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes("applied to the operation holding its modification's PSP reference") && l.includes(capture))).toBe(true);
    // The authorization is left as it was: no history entry of another command's outcome, still SUCCEEDED.
    expect(await notForCommandOn(authorization)).toBe(false);
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('SUCCEEDED');
  });

  it('a REFUND whose merchantReference is the authorization and pspReference the refund settles the refund: SUCCEEDED, its OMS event sent', async () => {
    const { orderId, authorization, capture } = await authorizedAndCaptureReceived();
    await notifyNamingPayment('CAPTURE', authorization, capture);
    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');
    const refund = await delivered('refund', orderId, authorization);
    expect(refund.state).toBe('PENDING');
    const before = await matched();

    await notifyNamingPayment('REFUND', authorization, refund.id);

    await eventually(async () => (await stack.worker.ledger.get(refund.id))?.state === 'SUCCEEDED');
    await eventually(async () => successSent(refund.id));
    expect(await matched()).toBe(before + 1);
    expect(await notForCommandOn(authorization)).toBe(false);
  });

  it("a CAPTURE_FAILED naming the authorization, about a capture that SUCCEEDED, is that capture's capture_failed (it is marked undone), not the authorization's", async () => {
    const { authorization, capture } = await authorizedAndCaptureReceived();
    await notifyNamingPayment('CAPTURE', authorization, capture);
    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');

    await notifyNamingPayment('CAPTURE_FAILED', authorization, capture);

    await eventually(async () => (await stack.worker.adjustmentStore.forOperation(capture)).some((a) => a.kind === 'capture_failed'));
    await eventually(async () => (await stack.worker.ledger.get(capture))?.undoneBy !== undefined);
    expect(await stack.worker.adjustmentStore.forOperation(authorization)).toEqual([]);
    expect(await notForCommandOn(authorization)).toBe(false);
  });
  it("a REFUNDED_REVERSED naming the authorization, about a refund that SUCCEEDED, is that refund's refund_reversed (it is marked undone, its OMS adjustment sent), not the authorization's", async () => {
    const { orderId, authorization, capture } = await authorizedAndCaptureReceived();
    await notifyNamingPayment('CAPTURE', authorization, capture);
    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');
    const refund = await delivered('refund', orderId, authorization);
    await notifyNamingPayment('REFUND', authorization, refund.id);
    await eventually(async () => (await stack.worker.ledger.get(refund.id))?.state === 'SUCCEEDED');

    await notifyNamingPayment('REFUNDED_REVERSED', authorization, refund.id);

    await eventually(async () => (await stack.worker.adjustmentStore.forOperation(refund.id)).some((a) => a.kind === 'refund_reversed'));
    const [reversed] = (await stack.worker.adjustmentStore.forOperation(refund.id)).filter((a) => a.kind === 'refund_reversed');
    expect(reversed).toMatchObject({ direction: 'credit', pspReference: pspReferences.get(refund.id), amount: 5000 });
    await eventually(async () => (await stack.worker.ledger.get(refund.id))?.undoneBy !== undefined);
    expect((await stack.worker.ledger.get(refund.id))?.state).toBe('SUCCEEDED');
    expect(await stack.worker.adjustmentStore.forOperation(authorization)).toEqual([]);
    expect(await stack.worker.adjustmentStore.forOperation(capture)).toEqual([]);
    expect(await notForCommandOn(authorization)).toBe(false);
    await eventually(async () =>
      sent.some(
        (n) =>
          (n.params.adjustment as { kind?: string } | undefined)?.kind === 'refund_reversed' &&
          (n.params.payment as { operation_reference?: string }).operation_reference === refund.id,
      ),
    );
  });

  it("a CAPTURE_FAILED for a technical issue after the capture SUCCEEDED: its capture_failed reports Adyen's reason; a capture of ours again is refused unsent, saying the amount is held for Adyen's re-capture", async () => {
    const { orderId, authorization, capture } = await authorizedAndCaptureReceived();
    await notifyNamingPayment('CAPTURE', authorization, capture);
    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');
    const reason = 'Capture rejected by card scheme because of a technical issue.';

    await notifyNamingPayment('CAPTURE_FAILED', authorization, capture, reason);
    await eventually(async () => (await stack.worker.ledger.get(capture))?.undoneBy !== undefined);
    await eventually(async () =>
      sent.some(
        (n) =>
          (n.params.adjustment as { kind?: string; reason?: string } | undefined)?.reason === reason &&
          (n.params.payment as { operation_reference?: string }).operation_reference === capture,
      ),
    );
    // Adyen re-captures it itself ("Transaction Recaptured"): a second capture of ours could take the money twice.
    const again = await delivered('capture', orderId, authorization);
    expect(again.state).toBe('FAILED');
    expect(await stack.worker.ledger.get(again.id)).toMatchObject({
      reason: 'amount_held_by_failed_capture',
      decline: { suggested_action: 'contact_support' },
    });
    expect(pspReferences.has(again.id)).toBe(false);
  });

  /** The FAIL outcome event (not an adjustment's) the OMS was sent for operation `id`, if any. */
  const failEventOf = (id: string): Record<string, unknown> | undefined =>
    sent
      .filter((n) => n.params.adjustment === undefined)
      .map((n) => n.params.payment as Record<string, unknown> | undefined)
      .find((p) => p?.operation_reference === id && p.status === 'FAIL');

  it("a CAPTURE_FAILED for a technical issue while the capture is still open: the capture FAILS with Adyen's reason, its amount held for Adyen's re-capture; a second capture of the full amount is refused unsent", async () => {
    const held = (): Promise<number> => metricValue('pb_held_for_psp_retry_total', { gateway: 'adyen', command: 'capture' });
    const before = await held();
    const { orderId, authorization, capture } = await authorizedAndCaptureReceived();
    const reason = 'Capture rejected by card scheme because of a technical issue.';

    // Adyen answered the capture `received`; its CAPTURE has not come when the scheme's rejection does.
    await notifyNamingPayment('CAPTURE_FAILED', authorization, capture, reason);

    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'FAILED');
    expect(await stack.worker.ledger.get(capture)).toMatchObject({ reason, heldForPspRetry: reason });
    await eventually(async () => failEventOf(capture) !== undefined);
    expect(failEventOf(capture)).toMatchObject({ reason, retried_by_psp: true, decline: { suggested_action: 'none' } });
    expect(await held()).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('capture or refund failed at the PSP, which retries it itself') && l.includes(capture))).toBe(true);

    // Adyen re-captures it itself: a second capture of ours would take the money twice.
    const again = await delivered('capture', orderId, authorization);
    expect(again.state).toBe('FAILED');
    expect(await stack.worker.ledger.get(again.id)).toMatchObject({
      reason: 'amount_held_by_failed_capture',
      decline: { suggested_action: 'contact_support' },
    });
    expect(pspReferences.has(again.id)).toBe(false);
  });

  it('a CAPTURE_FAILED because the shopper cancelled, while the capture is still open: the capture FAILS and frees its amount; a second capture is sent', async () => {
    const { orderId, authorization, capture } = await authorizedAndCaptureReceived();
    const reason = 'Capture rejected by card scheme because the shopper cancelled the recurring payment through their bank.';

    await notifyNamingPayment('CAPTURE_FAILED', authorization, capture, reason);

    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'FAILED');
    const failed = await stack.worker.ledger.get(capture);
    expect(failed?.reason).toBe(reason);
    expect(failed?.heldForPspRetry).toBeUndefined();
    await eventually(async () => failEventOf(capture) !== undefined);
    expect(failEventOf(capture)?.retried_by_psp).toBeUndefined();

    const again = await delivered('capture', orderId, authorization);
    expect(again.state).toBe('PENDING');
    expect(pspReferences.has(again.id)).toBe(true);
  });

  it("a capture held for Adyen's re-capture that Adyen then re-captures ('Transaction Recaptured') counts as captured: refundable, and a second capture is refused as exceeding the authorization", async () => {
    const { orderId, authorization, capture } = await authorizedAndCaptureReceived();
    await notifyNamingPayment('CAPTURE_FAILED', authorization, capture, 'Capture rejected by card scheme because of a technical issue.');
    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'FAILED');

    await notifyNamingPayment('CAPTURE', authorization, capture, 'Transaction Recaptured');

    await eventually(async () => (await stack.worker.ledger.get(capture))?.succeededAfterFailure !== undefined);
    const again = await delivered('capture', orderId, authorization);
    expect(again.state).toBe('FAILED');
    expect((await stack.worker.ledger.get(again.id))?.reason).toBe('amount_exceeds_authorized');
    const refund = await delivered('refund', orderId, authorization);
    expect(refund.state).toBe('PENDING');
  });

  it("a capture held for Adyen's re-capture is watched until it comes: counted and aged at scrape, listed by ops held-retries past 10 days, overdue then; the re-capture takes it out", async () => {
    const { worker, config } = stack;
    const snapshot = (): ReturnType<ReturnType<typeof scrapeSnapshot>> => scrapeSnapshot({ config, redis: worker.redis, queues: {} })();
    const { authorization, capture } = await authorizedAndCaptureReceived();
    const before = (await snapshot()).heldForPspRetry;
    await notifyNamingPayment('CAPTURE_FAILED', authorization, capture, 'Capture rejected by card scheme because of a technical issue.');
    await eventually(async () => (await worker.ledger.get(capture))?.state === 'FAILED');

    const held = (await snapshot()).heldForPspRetry;
    expect(held.count).toBe(before.count + 1);
    expect(held.oldestSeconds).toBeGreaterThanOrEqual(0);
    // Within Adyen's 10 days: listed only with --all, not overdue.
    expect((await heldForPspRetry(worker, { limit: 1000 })).map((r) => r.operation_id)).not.toContain(capture);
    expect((await heldForPspRetry(worker, { limit: 1000, all: true })).find((r) => r.operation_id === capture)).toMatchObject({
      command: 'capture',
      gateway: 'adyen',
      authorization_id: authorization,
      amount: 5000,
      currency: 'EUR',
      psp_reason: 'Capture rejected by card scheme because of a technical issue.',
      overdue: false,
    });
    // Held 11 days: overdue, in the gauge the alert reads and in the default list.
    const key = shardKeysOf(config.redis.keyPrefix)[(await shardOfOperation(worker.redis, config.redis.keyPrefix, capture))!].heldForPspRetry;
    await worker.redis.zadd(key, 'XX', Date.now() - PSP_RETRY_WAIT_MS - 86_400_000, capture);
    const late = (await snapshot()).heldForPspRetry;
    expect(late.overdue).toBe(before.overdue + 1);
    expect(late.oldestSeconds).toBeGreaterThanOrEqual(11 * 86_400 - 5);
    expect((await heldForPspRetry(worker, { limit: 1000 })).find((r) => r.operation_id === capture)).toMatchObject({ overdue: true });

    // Adyen re-captures it: no longer held, no longer counted.
    await notifyNamingPayment('CAPTURE', authorization, capture, 'Transaction Recaptured');
    await eventually(async () => (await worker.ledger.get(capture))?.succeededAfterFailure !== undefined);
    await eventually(async () => (await snapshot()).heldForPspRetry.count === before.count);
    expect((await snapshot()).heldForPspRetry.overdue).toBe(before.overdue);
    expect((await heldForPspRetry(worker, { limit: 1000, all: true })).map((r) => r.operation_id)).not.toContain(capture);
  });

  it("a REFUND_FAILED for a technical issue while the refund is still open: the refund FAILS with Adyen's reason, its amount held for Adyen's own retry; a second refund of it is refused unsent", async () => {
    const held = (): Promise<number> => metricValue('pb_held_for_psp_retry_total', { gateway: 'adyen', command: 'refund' });
    const before = await held();
    const { orderId, authorization, capture } = await authorizedAndCaptureReceived();
    await notifyNamingPayment('CAPTURE', authorization, capture);
    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');
    const refund = await delivered('refund', orderId, authorization);
    expect(refund.state).toBe('PENDING');
    const reason = 'Capture rejected by card scheme because of a technical issue.';

    // Adyen answered the refund `received`; the scheme rejects it for a technical issue, which Adyen retries itself
    // ("Captures and refunds are treated the same by card schemes").
    await notifyNamingPayment('REFUND_FAILED', authorization, refund.id, reason);

    await eventually(async () => (await stack.worker.ledger.get(refund.id))?.state === 'FAILED');
    expect(await stack.worker.ledger.get(refund.id)).toMatchObject({ reason, heldForPspRetry: reason });
    await eventually(async () => failEventOf(refund.id) !== undefined);
    expect(failEventOf(refund.id)).toMatchObject({ reason, retried_by_psp: true, decline: { suggested_action: 'none' } });
    expect(await held()).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('capture or refund failed at the PSP, which retries it itself') && l.includes(refund.id))).toBe(true);

    // Adyen may still refund it: a second refund of ours would give the money back twice.
    const again = await delivered('refund', orderId, authorization);
    expect(again.state).toBe('FAILED');
    expect(await stack.worker.ledger.get(again.id)).toMatchObject({
      reason: 'amount_held_by_failed_refund',
      decline: { suggested_action: 'contact_support' },
    });
    expect(pspReferences.has(again.id)).toBe(false);
  });

  it('a REFUND_FAILED for another reason while the refund is still open: the refund FAILS and frees its amount; a second refund is sent', async () => {
    const { orderId, authorization, capture } = await authorizedAndCaptureReceived();
    await notifyNamingPayment('CAPTURE', authorization, capture);
    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');
    const refund = await delivered('refund', orderId, authorization);

    await notifyNamingPayment('REFUND_FAILED', authorization, refund.id, 'Refund Failed');

    await eventually(async () => (await stack.worker.ledger.get(refund.id))?.state === 'FAILED');
    expect((await stack.worker.ledger.get(refund.id))?.heldForPspRetry).toBeUndefined();
    await eventually(async () => failEventOf(refund.id) !== undefined);
    expect(failEventOf(refund.id)?.retried_by_psp).toBeUndefined();
    const again = await delivered('refund', orderId, authorization);
    expect(again.state).toBe('PENDING');
    expect(pspReferences.has(again.id)).toBe(true);
  });

  it("a refund held for Adyen's own retry that Adyen then refunds counts as refunded once: a further refund is refused as exceeding what was captured", async () => {
    const { orderId, authorization, capture } = await authorizedAndCaptureReceived();
    await notifyNamingPayment('CAPTURE', authorization, capture);
    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');
    const refund = await delivered('refund', orderId, authorization);
    await notifyNamingPayment('REFUND_FAILED', authorization, refund.id, 'Capture rejected by card scheme because of a technical issue.');
    await eventually(async () => (await stack.worker.ledger.get(refund.id))?.state === 'FAILED');

    await notifyNamingPayment('REFUND', authorization, refund.id);

    await eventually(async () => (await stack.worker.ledger.get(refund.id))?.succeededAfterFailure !== undefined);
    const again = await delivered('refund', orderId, authorization);
    expect(again.state).toBe('FAILED');
    expect((await stack.worker.ledger.get(again.id))?.reason).toBe('amount_exceeds_captured');
  });
});
