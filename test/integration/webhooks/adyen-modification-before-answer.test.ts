/**
 * An Adyen modification's notification naming the payment (`merchantReference` = the authorization) reaches the
 * capture, refund or cancel the bridge sent through the modification's `pspReference`, which the ledger indexes when
 * the modification's `received` answer is recorded. Here the notification comes before that: a fast webhook, or a
 * worker that lost the answer (the operation UNKNOWN, resent with the same Idempotency-Key and answered `received`
 * again). The outcome is history of the authorization and parked under its reference; the answer that indexes the
 * reference releases it to the capture, whose OMS event is sent once. End to end: the worker delivering to a local
 * Adyen stand-in (Checkout v71 answers) that posts the notification, signed as Adyen signs it, to the web process
 * before it answers.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { shardKeysOf, shardOfAnchor } from '../../../src/redis/key-layout';
import { useAdyenStandInStack } from '../../support/adyen-checkout-stand-in';
import { eventually } from '../../support/tcp-proxy';

jest.setTimeout(60_000);

const {
  stack,
  logs,
  beforeModificationAnswer: beforeCaptureAnswer,
  nextPspReference,
  created,
  deliver,
  notifyNamingPayment,
  successesSent,
  sent,
} = useAdyenStandInStack('EarlyModMerchant', '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056');

let orderSeq = 0;

/** An authorization the worker sent and Adyen authorised. */
async function authorized(): Promise<{ orderId: string; authorization: string }> {
  const orderId = `order-early-${process.pid}-${++orderSeq}`;
  const authorization = await created('authorize', orderId, 'shopper-early:8415718415718415');
  expect(await deliver(authorization)).toBe('SUCCEEDED');
  return { orderId, authorization };
}

/** Posts one signed CAPTURE item about the modification `pspReference`, named by the payment's reference. */
const captureNamingPayment = (authorization: string, pspReference: string): Promise<void> => notifyNamingPayment('CAPTURE', authorization, pspReference);

/** The history entries of another command's outcome on `id` about `pspReference`. */
async function notForCommand(id: string, pspReference: string): Promise<number> {
  return (await stack.worker.ledger.interactions(id)).filter((h) => h.event === 'outcome_not_for_command' && h.gateway_reference === pspReference).length;
}

/** Posts the capture's notification and waits until the worker has applied it (history of the authorization). */
async function webhookFirst(authorization: string, pspReference: string): Promise<void> {
  await captureNamingPayment(authorization, pspReference);
  await eventually(async () => (await notForCommand(authorization, pspReference)) === 1);
}

const parkedCount = (outcome: 'parked' | 'released'): Promise<number> => metricValue('pb_webhook_parked_total', { gateway: 'adyen', outcome });

/** The Redis key of the outcomes parked under `pspReference`. */
function parkedKey(pspReference: string): string {
  const name = `adyen:${pspReference}`;
  return shardKeysOf(stack.config.redis.keyPrefix)[shardOfAnchor(name)].parkedOutcomes(name);
}

/** Waits for the capture to settle, then makes sure its SUCCESS went to the OMS exactly once. */
async function settledOnce(capture: string): Promise<void> {
  await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'SUCCEEDED');
  await eventually(async () => successesSent(capture) > 0);
  // A release repeated, or the webhook's own job run again, would show as a second event here.
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(successesSent(capture)).toBe(1);
}

describe("an Adyen modification's notification naming the payment, before the modification's answer is recorded", () => {
  it("a CAPTURE arriving before the capture's `received` answer is parked, then settles the capture once that answer is recorded: SUCCEEDED, its OMS event sent once", async () => {
    const { orderId, authorization } = await authorized();
    const capture = await created('capture', orderId, authorization);
    const parked = await parkedCount('parked');
    const released = await parkedCount('released');
    let reference = '';
    beforeCaptureAnswer.set(capture, async (pspReference) => {
      reference = pspReference;
      await webhookFirst(authorization, pspReference);
      return { answer: true };
    });

    await deliver(capture);

    await settledOnce(capture);
    expect(await parkedCount('parked')).toBe(parked + 1);
    expect(await parkedCount('released')).toBe(released + 1);
    expect(logs.lines.some((l) => l.includes('parked webhook outcome released') && l.includes(capture))).toBe(true);
    expect(await stack.worker.redis.exists(parkedKey(reference))).toBe(0);
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('SUCCEEDED');
  });

  it('a CAPTURE arriving while the answer was lost (UNKNOWN) settles the capture once its resend is answered `received` again', async () => {
    const { orderId, authorization } = await authorized();
    const capture = await created('capture', orderId, authorization);
    beforeCaptureAnswer.set(capture, async (pspReference) => {
      await webhookFirst(authorization, pspReference);
      return { answer: false };
    });

    expect(await deliver(capture)).toBe('UNKNOWN');
    expect((await stack.worker.ledger.get(capture))?.state).toBe('UNKNOWN');

    // The resend, with the same Idempotency-Key: `received` again, the capture PENDING, the parked outcome released.
    await deliver(capture);

    await settledOnce(capture);
  });

  it("a crash between the answer recorded and the release: the poller's check of the PENDING capture releases it", async () => {
    const { orderId, authorization } = await authorized();
    const capture = await created('capture', orderId, authorization);
    const pspReference = nextPspReference('CAPT');
    await webhookFirst(authorization, pspReference);
    // The answer's move as the recorder makes it (reference indexed), its release never run: the process died.
    await stack.worker.ledger.transition(capture, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await stack.worker.ledger.transitionAndGet(
      capture,
      'PENDING',
      { event: 'outcome', source: 'response' },
      { gatewayReference: pspReference, nextCheckAt: Date.now() - 1, pollStep: 0 },
      { reference: { gateway: 'adyen', reference: pspReference } },
    );
    expect(await stack.worker.redis.exists(parkedKey(pspReference))).toBe(1);

    await stack.worker.poller.runOnce();

    await settledOnce(capture);
    expect(await stack.worker.redis.exists(parkedKey(pspReference))).toBe(0);
  });

  it("a CAPTURE_FAILED arriving before the capture's `received` answer fails the capture once that answer is recorded: one OMS event, no adjustment of the authorization", async () => {
    const { orderId, authorization } = await authorized();
    const capture = await created('capture', orderId, authorization);
    const retried = (): Promise<number> => metricValue('pb_webhook_early_modification_failures_total', { gateway: 'adyen', outcome: 'retried' });
    const retriedBefore = await retried();
    const sentBefore = sent.length;
    beforeCaptureAnswer.set(capture, async (pspReference) => {
      await notifyNamingPayment('CAPTURE_FAILED', authorization, pspReference);
      // The worker has taken the notification (its first attempt) before the answer is recorded.
      await eventually(async () => (await notForCommand(authorization, pspReference)) === 1 || (await retried()) > retriedBefore);
      return { answer: true };
    });

    await deliver(capture);

    await eventually(async () => (await stack.worker.ledger.get(capture))?.state === 'FAILED');
    // Its event follows the state (as settledOnce waits for the success's): waited for, the pause is for a second one.
    const payments = () => sent.slice(sentBefore).map((n) => (n.params.payment ?? {}) as { operation_reference?: string; status?: string });
    await eventually(() => payments().some((p) => p.operation_reference === capture && p.status === 'FAIL'));
    // A release, or the authorization's adjustment, would show as a second event about the one failure.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // The events about either operation after the capture's PENDING (its `received` answer): the failure's alone.
    const about = sent.slice(sentBefore).filter((n) => {
      const text = JSON.stringify(n.params);
      return (text.includes(capture) || text.includes(authorization)) && (n.params.payment as { status?: string } | undefined)?.status !== 'PENDING';
    });
    expect(about).toHaveLength(1);
    expect((about[0].params.payment as { operation_reference?: string; status?: string }) ?? {}).toMatchObject({
      operation_reference: capture,
      status: 'FAIL',
    });
    expect(await stack.worker.adjustmentStore.forOperation(authorization)).toEqual([]);
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('SUCCEEDED');
  });

  it('a CAPTURE no operation ever claims (made in the Customer Area) stays history of the authorization, parked until it lapses, with no retry', async () => {
    const { orderId, authorization } = await authorized();
    const released = await parkedCount('released');
    const pspReference = nextPspReference('CUST');

    await webhookFirst(authorization, pspReference);

    const ttl = await stack.worker.redis.pttl(parkedKey(pspReference));
    expect(ttl).toBeGreaterThan(stack.config.delivery.parkedOutcomeTtlMs - 60_000);
    expect(ttl).toBeLessThanOrEqual(stack.config.delivery.parkedOutcomeTtlMs);
    // Another capture of the payment, under its own reference, releases nothing of it.
    const capture = await created('capture', orderId, authorization);
    expect(await deliver(capture)).toBe('PENDING');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await parkedCount('released')).toBe(released);
    expect(await notForCommand(authorization, pspReference)).toBe(1);
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('SUCCEEDED');
    expect((await stack.worker.ledger.get(capture))?.state).toBe('PENDING');
    // The webhook's job completed: nothing failed, nothing waiting to run again.
    expect(await stack.outcomes.getJobCounts('failed', 'delayed', 'waiting', 'active')).toEqual({ failed: 0, delayed: 0, waiting: 0, active: 0 });
  });

  it("a CANCELLATION of a cancel of ours whose answer was lost (UNKNOWN) is parked, not taken for Adyen's own cancel: the cancel settles once its resend is answered `received` again", async () => {
    const { orderId, authorization } = await authorized();
    const cancel = await created('cancel', orderId, authorization);
    const parked = await parkedCount('parked');
    beforeCaptureAnswer.set(cancel, async (pspReference) => {
      await notifyNamingPayment('CANCELLATION', authorization, pspReference);
      // Taken for the payment's reversal, it waits for our cancel in flight; parked for the answer that indexes it.
      await eventually(async () => (await parkedCount('parked')) === parked + 1);
      return { answer: false };
    });

    expect(await deliver(cancel)).toBe('UNKNOWN');

    await deliver(cancel);

    await settledOnce(cancel);
    expect((await stack.worker.ledger.get(authorization))?.state).toBe('SUCCEEDED');
  });
});
