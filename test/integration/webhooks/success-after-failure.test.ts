import { PaymentCommand } from '../../../src/contracts/payment-command';
import { GatewayOutcome } from '../../../src/gateways/gateway-adapter';
import { OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { resolveOperationContext } from '../../../src/delivery/operation-context';
import { bullJobId } from '../../../src/queueing/job-id';
import { heldRecaptures } from '../../../src/ops/held-recaptures';
import { RecaptureWaitSweep } from '../../../src/poller/recapture-wait';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import {
  adjustedNotifications,
  adyenWebhookGateway,
  pendingOperation,
  postAdyenBatch,
  postSimulatorSigned,
  postStripeSigned,
  received,
  signedAdyenItem,
  simulatorWebhookGateway,
  stripeWebhookGateway,
  succeededOperation,
  useBusWebhookStack,
  useStatusInquiryPsp,
} from '../../support/webhook-stack';

/**
 * A webhook reporting the success of an operation the OMS was told FAILED, through the real path (signed
 * webhook → outcome worker → status inquiry at the PSP → history, or adjustment → bus). The PSP is a local HTTP
 * server answering the gateways' status inquiries with what each test sets: Stripe's PaymentIntent search and
 * refund list, the simulator's `GET /v1/operations/:reference`.
 */

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const STRIPE_SECRET = 'whsec_success_after_failure_0123456789';
const SIM_SECRET = 'whsec-sim-success-after-failure-0123456789';
const CLIENT_ID = 'success-after-failure-test';
const CLIENT_SECRET = 'success-after-failure-client-secret-0123';

const psp = useStatusInquiryPsp();
const { answers, inquiries, requests } = psp;
const stack = useBusWebhookStack(
  () => ({
    adyen: adyenWebhookGateway('TestMerchant', ADYEN_HMAC, psp.url),
    stripe: stripeWebhookGateway(STRIPE_SECRET, psp.url),
    simulator: simulatorWebhookGateway(SIM_SECRET, psp.url),
  }),
  { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, config: { 'delivery.backoff_base_ms': 50, 'delivery.backoff_max_ms': 200 } },
);

let seq = 0;
const order = () => `order-saf-${process.pid}-${++seq}`;

/** An operation that FAILED at `gateway` (the PSP's answer, reference `reference`), its FAIL event delivered to the OMS. */
async function failed(command: PaymentCommand['command'], gateway: string, reference: string, payment: Record<string, unknown> = {}): Promise<OperationRecord> {
  const cmd = channelCommand(command, {}, { gateway, gateway_account: 'acct-1', amount: 5000, currency: 'EUR', order_id: order(), ...payment });
  const { record } = await stack.worker.ledger.create(cmd.payment.operation_reference!, cmd, Date.now(), { event: 'attempt' });
  const outcome: GatewayOutcome = { status: 'FAIL', gatewayStatus: 'declined', reason: 'do_not_honor', gatewayReference: reference };
  const after = await stack.worker.recorder.apply(record!, outcome, 'response');
  expect(after.state).toBe('FAILED');
  await eventually(async () => received(stack.twin.notifications, `${after.id}.FAILED`));
  return after;
}

const adjustedFor = (operationId: string) => adjustedNotifications(stack.twin.notifications, stack.config, operationId);
const counted = (gateway: string, outcome: string) => metricValue('pb_webhook_successes_after_failure_total', { gateway, outcome });

/**
 * Waits until a webhook's success of a FAILED operation was handled at `gateway` with `outcome` and `done` holds
 * (what the test's own webhook leaves: its event at the bus, its history entry), then for anything more it would
 * send. The count alone is the file's, not the test's: an earlier test's job retried late moves it too, and the
 * event goes to the bus through the outbox after the count, later than a fixed pause on a loaded machine.
 */
async function finished(gateway: string, outcome: string, before: number, done: () => boolean | Promise<boolean> = () => true): Promise<void> {
  await eventually(async () => (await counted(gateway, outcome)) > before && (await done()), 15000);
  await new Promise((r) => setTimeout(r, 300));
}

/** Whether the history of operation `id` holds an entry `event`. */
const inHistory = (id: string, event: string) => async () => (await history(id)).includes(event);

/** Waits until the outcome job of the Adyen notification `eventId` (as the webhook parser names it) has run to its end. */
async function adyenOutcomeApplied(eventId: string): Promise<void> {
  await eventually(async () => (await stack.outcomes.getJob(bullJobId(`wh.adyen.${eventId}`)))?.finishedOn !== undefined, 15000);
}

async function history(id: string): Promise<string[]> {
  return (await stack.worker.ledger.interactions(id)).map((i) => i.event);
}

async function postStripe(type: string, object: Record<string, unknown>, eventId: string, created = Math.floor(Date.now() / 1000)): Promise<void> {
  const body = JSON.stringify({ id: eventId, object: 'event', type, created, data: { object } });
  const res = await postStripeSigned(stack, 'stripe', body, STRIPE_SECRET);
  expect(res.status).toBe(200);
}

async function postSimulator(type: string, object: Record<string, unknown>, eventId: string): Promise<void> {
  const body = JSON.stringify({ id: eventId, type, created: Math.floor(Date.now() / 1000), data: { object } });
  const res = await postSimulatorSigned(stack, 'simulator', body, SIM_SECRET);
  expect(res.status).toBe(200);
}

function paymentIntent(id: string, operationId: string, status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, object: 'payment_intent', status, amount: 5000, currency: 'eur', capture_method: 'manual', metadata: { operation_id: operationId }, ...extra };
}

function stripeRefund(id: string, operationId: string, paymentIntentId: string, status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, object: 'refund', status, amount: 5000, currency: 'eur', payment_intent: paymentIntentId, metadata: { operation_id: operationId }, ...extra };
}

describe('a webhook success of an operation the OMS was told failed', () => {
  it('a Stripe refund.updated succeeded delivered after refund.failed is stale when the PSP says the refund failed: history only, no adjustment or event, the refund stays FAILED', async () => {
    const pi = `pi_saf_refund_${seq}`;
    const refundRef = `re_saf_${seq}`;
    const id = await pendingOperation(
      stack.worker,
      'refund',
      { gateway: 'stripe', gateway_account: 'acct-1', gateway_key: pi, amount: 5000, currency: 'EUR', order_id: order() },
      refundRef,
    );
    const succeededAt = Math.floor(Date.now() / 1000);
    // Stripe: the refund succeeded, then failed at the bank; it delivers the failure first.
    const failedRefund = stripeRefund(refundRef, id, pi, 'failed', { failure_reason: 'expired_or_canceled_card' });
    await postStripe('refund.failed', failedRefund, `evt_saf_refund_failed_${id}`, succeededAt + 5);
    await eventually(async () => received(stack.twin.notifications, `${id}.FAILED`), 15000);
    expect((await stack.worker.ledger.get(id))?.state).toBe('FAILED');
    answers.set(pi, failedRefund);
    const before = await counted('stripe', 'stale');
    await postStripe('refund.updated', stripeRefund(refundRef, id, pi, 'succeeded'), `evt_saf_refund_succeeded_${id}`, succeededAt);
    await finished('stripe', 'stale', before, inHistory(id, 'webhook_success_stale'));
    expect(inquiries).toContain(pi);
    expect(adjustedFor(id)).toHaveLength(0);
    expect(await history(id)).toContain('webhook_success_stale');
    expect((await stack.worker.ledger.get(id))?.state).toBe('FAILED');
  });

  it('a Stripe refund the bridge recorded FAILED that Stripe made after all, told by refund.created and charge.refund.updated (their own ids): one succeeded_after_failure, sent once', async () => {
    const pi = `pi_saf_refund_twice_${seq}`;
    const refundRef = `re_saf_twice_${seq}`;
    const refund = await failed('refund', 'stripe', refundRef, { gateway_key: pi });
    const made = stripeRefund(refundRef, refund.id, pi, 'succeeded', { created: Math.floor(Date.now() / 1000) - 5 });
    answers.set(pi, made);
    const before = await counted('stripe', 'confirmed');
    await postStripe('refund.created', made, `evt_saf_refund_created_${refund.id}`);
    await postStripe('charge.refund.updated', made, `evt_saf_refund_updated_${refund.id}`);
    await eventually(async () => adjustedFor(refund.id).length >= 1, 15000);
    await new Promise((r) => setTimeout(r, 600));
    expect(adjustedFor(refund.id)).toHaveLength(1);
    expect(await counted('stripe', 'confirmed')).toBe(before + 1);
  });

  it('a Stripe PaymentIntent that failed and then succeeded (the shopper tried again), as its search confirms, is a succeeded_after_failure adjustment, sent once, and the authorization goes to orphan reversal', async () => {
    const auth = await failed('authorize', 'stripe', `pi_saf_retry_${seq}`);
    const pi = paymentIntent(auth.gatewayReference!, auth.id, 'requires_capture', { amount_capturable: 5000 });
    answers.set(auth.id, pi);
    const before = await counted('stripe', 'confirmed');
    const orphansBefore = await metricValue('pb_orphan_reversals_total', { gateway: 'stripe', reason: 'oms_told_failed' });
    await postStripe('payment_intent.amount_capturable_updated', pi, `evt_saf_retry_${auth.id}`);
    await postStripe('payment_intent.amount_capturable_updated', pi, `evt_saf_retry_${auth.id}`);
    await eventually(async () => adjustedFor(auth.id).length >= 1, 15000);
    await finished('stripe', 'confirmed', before, () => adjustedFor(auth.id).length >= 1);
    expect(inquiries).toContain(auth.id);
    expect(adjustedFor(auth.id)).toHaveLength(1);
    expect((adjustedFor(auth.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({
      kind: 'succeeded_after_failure',
      direction: 'none',
      amount: 5000,
      currency: 'EUR',
      psp_reference: auth.gatewayReference,
    });
    expect(await counted('stripe', 'confirmed')).toBe(before + 1);
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('FAILED');
    await eventually(async () => (await metricValue('pb_orphan_reversals_total', { gateway: 'stripe', reason: 'oms_told_failed' })) > orphansBefore);
  });

  it('a Stripe PaymentIntent search still showing the failure is not believed while its index may lag: put off, nothing recorded as stale, nothing reported', async () => {
    const auth = await failed('authorize', 'stripe', `pi_saf_lag_${seq}`);
    answers.set(auth.id, paymentIntent(auth.gatewayReference!, auth.id, 'requires_payment_method', { last_payment_error: { code: 'card_declined' } }));
    const waiting = await counted('stripe', 'waiting');
    const stale = await counted('stripe', 'stale');
    await postStripe('payment_intent.amount_capturable_updated', paymentIntent(auth.gatewayReference!, auth.id, 'requires_capture'), `evt_saf_lag_${auth.id}`);
    await finished('stripe', 'waiting', waiting, () => inquiries.includes(auth.id));
    expect(inquiries).toContain(auth.id);
    expect(await counted('stripe', 'stale')).toBe(stale);
    expect(await history(auth.id)).not.toContain('webhook_success_stale');
    expect(adjustedFor(auth.id)).toHaveLength(0);
  });

  it('a success the PSP cannot be asked about yet (its inquiry fails) is asked again, never guessed: stale once the PSP answers that it failed', async () => {
    const auth = await failed('authorize', 'simulator', `auth_saf_retry_${seq}`);
    answers.set(auth.id, 503);
    const waiting = await counted('simulator', 'waiting');
    const before = await counted('simulator', 'stale');
    const authorized = { id: auth.gatewayReference, object: 'authorization', status: 'authorized', amount: 5000, currency: 'EUR', reference: auth.id };
    await postSimulator('authorization.succeeded', authorized, `evt_saf_sim_${auth.id}`);
    await finished('simulator', 'waiting', waiting, () => inquiries.includes(auth.id));
    expect(adjustedFor(auth.id)).toHaveLength(0);
    expect(await history(auth.id)).not.toContain('webhook_success_stale');
    answers.set(auth.id, { ...authorized, status: 'declined', decline_code: 'do_not_honor' });
    await finished('simulator', 'stale', before, inHistory(auth.id, 'webhook_success_stale'));
    expect(adjustedFor(auth.id)).toHaveLength(0);
    expect(await history(auth.id)).toContain('webhook_success_stale');
    expect((await stack.worker.ledger.get(auth.id))?.state).toBe('FAILED');
  });

  it('an Adyen re-capture (CAPTURE success after the capture failed) is reported on the signed webhook: Adyen cannot be asked, so no request is sent', async () => {
    const capture = await failed('capture', 'adyen', `ADYSAFCAP${String(seq).padStart(7, '0')}`, { gateway_key: `ADYSAFAUTH${String(seq).padStart(6, '0')}` });
    const before = await counted('adyen', 'webhook_only');
    const sentBefore = requests.length;
    const recaptured = signedAdyenItem(
      {
        eventCode: 'CAPTURE',
        success: 'true',
        pspReference: capture.gatewayReference!,
        originalReference: capture.payment.gateway_key,
        merchantReference: capture.id,
        merchantAccountCode: 'TestMerchant',
        amount: { value: 5000, currency: 'EUR' },
      },
      ADYEN_HMAC,
    );
    expect((await postAdyenBatch(stack, 'adyen', [recaptured])).status).toBe(200);
    await eventually(async () => adjustedFor(capture.id).length >= 1, 15000);
    await finished('adyen', 'webhook_only', before);
    expect((adjustedFor(capture.id)[0].params as { adjustment: unknown }).adjustment).toMatchObject({
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 5000,
    });
    expect(requests.slice(sentBefore).filter((r) => r.startsWith('POST'))).toEqual([]);
    expect((await stack.worker.ledger.get(capture.id))?.state).toBe('FAILED');
  });

  /**
   * A capture of 5000 EUR that SUCCEEDED at Adyen, against its authorization, and a refund of it not sent yet;
   * `item` signs a notification about the capture, `refundCheck` says what the refund check says of the refund now.
   */
  async function adyenCaptureWithRefund(prefix: string) {
    const orderId = order();
    const payment = { gateway: 'adyen', gateway_account: 'acct-1', amount: 5000, currency: 'EUR', order_id: orderId };
    const auth = await succeededOperation(stack.worker, 'authorize', payment, `${prefix}AUTH${String(seq).padStart(7, '0')}`);
    // The capture as delivery sends it: checked against (and so registered with) its authorization, then accepted.
    const captureCmd = channelCommand('capture', {}, { ...payment, gateway_key: auth.id });
    const { record: sent } = await stack.worker.ledger.create(captureCmd.payment.operation_reference!, captureCmd, Date.now(), { event: 'attempt' });
    expect('context' in (await resolveOperationContext(sent!, stack.worker.ledger, { checkAmounts: true }))).toBe(true);
    const ok = {
      status: 'SUCCESS' as const,
      gatewayStatus: 'received',
      gatewayReference: `${prefix}CAP${String(seq).padStart(8, '0')}`,
      amount: 5000,
      currency: 'EUR',
    };
    const capture = await stack.worker.recorder.apply(sent!, ok, 'response');
    expect(capture.state).toBe('SUCCEEDED');
    const refundCmd = channelCommand('refund', {}, { ...payment, gateway_key: auth.id });
    const { record: refund } = await stack.worker.ledger.create(refundCmd.payment.operation_reference!, refundCmd, Date.now(), { event: 'attempt' });
    const refundCheck = async () => {
      const resolved = await resolveOperationContext(refund!, stack.worker.ledger, { checkAmounts: true });
      return 'fail' in resolved ? resolved.fail : 'context' in resolved ? 'allowed' : 'wait';
    };
    expect(await refundCheck()).toBe('allowed');
    const item = (eventCode: string, reason?: string, eventDate?: string) =>
      signedAdyenItem(
        {
          eventCode,
          success: 'true',
          pspReference: capture.gatewayReference!,
          originalReference: auth.gatewayReference,
          merchantReference: capture.id,
          merchantAccountCode: 'TestMerchant',
          amount: { value: 5000, currency: 'EUR' },
          ...(reason !== undefined ? { reason } : {}),
          ...(eventDate !== undefined ? { eventDate } : {}),
        },
        ADYEN_HMAC,
      );
    return { capture, refundCheck, item };
  }

  const adjustedKinds = (operationId: string) => adjustedFor(operationId).map((n) => (n.params as { adjustment: { kind: string } }).adjustment.kind);

  it('an Adyen re-capture of a capture undone by CAPTURE_FAILED clears the undone mark in the step that records it: a refund of that money, refused while undone, is allowed again', async () => {
    const { capture, refundCheck, item } = await adyenCaptureWithRefund('ADYRC');
    // The scheme rejects the capture: nothing collected, so nothing to refund.
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme')])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.undoneBy !== undefined, 15000);
    expect(await refundCheck()).toBe('amount_exceeds_captured');
    // Adyen captures it again itself.
    const redone = await metricValue('pb_undone_operations_redone_total', { gateway: 'adyen', command: 'capture' });
    const before = await counted('adyen', 'webhook_only');
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', 'Transaction Recaptured')])).status).toBe(200);
    await finished('adyen', 'webhook_only', before, () => adjustedKinds(capture.id).length >= 2);
    const after = await stack.worker.ledger.get(capture.id);
    expect(after).toMatchObject({ state: 'SUCCEEDED' });
    expect(after?.undoneBy).toBeUndefined();
    expect(await metricValue('pb_undone_operations_redone_total', { gateway: 'adyen', command: 'capture' })).toBe(redone + 1);
    expect(adjustedKinds(capture.id)).toEqual(['capture_failed', 'succeeded_after_failure']);
    expect(await refundCheck()).toBe('allowed');
  });

  it('an Adyen CAPTURE success of a capture the bridge recorded FAILED counts it as captured (its refund allowed, was refused) and closes its authorization; a CAPTURE_FAILED after it stops it counting', async () => {
    // The capture as delivery sends it (checked against, so registered with, its authorization), its answer a refusal.
    const { auth, capture, refundCheck, item } = await adyenCapture('ADYFC', 'FAIL');
    expect(await refundCheck()).toBe('amount_exceeds_captured');
    const countedBefore = await metricValue('pb_undone_operations_redone_total', { gateway: 'adyen', command: 'capture', recorded: 'failed' });
    const before = await counted('adyen', 'webhook_only');
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE')])).status).toBe(200);
    await finished('adyen', 'webhook_only', before);
    expect(await refundCheck()).toBe('allowed');
    expect(await metricValue('pb_undone_operations_redone_total', { gateway: 'adyen', command: 'capture', recorded: 'failed' })).toBe(countedBefore + 1);
    // Captured at Adyen: closed by the capture, as its success would have closed it (no expiry notice, no orphan void).
    expect((await stack.worker.ledger.get(auth.id))?.closedBy).toBe(capture.id);
    expect(await stack.worker.ledger.get(capture.id)).toMatchObject({ state: 'FAILED', succeededAfterFailure: { amount: 5000, currency: 'EUR' } });
    // Adyen fails that capture after all: the failure is news to the OMS, and the capture no longer counts.
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', new Date(Date.now() + 1000).toISOString())])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.undoneBy !== undefined, 15000);
    expect(adjustedKinds(capture.id)).toEqual(['succeeded_after_failure', 'capture_failed']);
    expect(await refundCheck()).toBe('amount_exceeds_captured');
  });

  it('a CAPTURE_FAILED Adyen redelivers after a later plain CAPTURE success (its eventDate) undoes nothing: the capture still counts, the OMS hears the failure superseded_by that success', async () => {
    const { capture, refundCheck, item, reference } = await adyenCapture('ADYPC');
    const failedAt = new Date(Date.now() - 3_600_000).toISOString();
    const capturedAt = new Date(Date.now() - 60_000).toISOString();
    const failedEvent = `${reference}:CAPTURE_FAILED:true:${failedAt}`;
    // The scheme rejects the capture: its outcome, FAILED.
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', failedAt, 'Capture rejected by card scheme')])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.state === 'FAILED', 15000);
    expect(await refundCheck()).toBe('amount_exceeds_captured');
    // Later, a plain CAPTURE success (no re-capture reason): it counts as captured, dated by its eventDate.
    const before = await counted('adyen', 'webhook_only');
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', capturedAt)])).status).toBe(200);
    await finished('adyen', 'webhook_only', before, () => adjustedFor(capture.id).length >= 1);
    expect(await refundCheck()).toBe('allowed');
    const [success] = adjustedFor(capture.id).map((n) => (n.params as { adjustment: { id: string; kind: string; occurred_at: string | null } }).adjustment);
    expect(success).toMatchObject({ kind: 'succeeded_after_failure', occurred_at: capturedAt });
    // Adyen delivers the older failure again (its job gone from the queue, as after the dedupe window).
    await (await stack.outcomes.getJob(bullJobId(`wh.adyen.${failedEvent}`)))?.remove();
    const undone = await metricValue('pb_captures_undone_total', { gateway: 'adyen', command: 'capture' });
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', failedAt, 'Capture rejected by card scheme')])).status).toBe(200);
    await adyenOutcomeApplied(failedEvent);
    await eventually(async () => adjustedKinds(capture.id).length >= 2, 15000);
    const after = await stack.worker.ledger.get(capture.id);
    expect(after).toMatchObject({ state: 'FAILED', succeededAfterFailure: { by: success.id, amount: 5000, currency: 'EUR' } });
    expect(after?.undoneBy).toBeUndefined();
    expect(await refundCheck()).toBe('allowed');
    expect(await metricValue('pb_captures_undone_total', { gateway: 'adyen', command: 'capture' })).toBe(undone);
    const failure = (adjustedFor(capture.id)[1].params as { adjustment: { kind: string; superseded_by?: string } }).adjustment;
    expect(failure).toMatchObject({ kind: 'capture_failed', superseded_by: success.id });
  });

  /**
   * A capture as delivery sends it (checked against, so registered with, its authorization) and Adyen answered: `received`
   * (PENDING, what a plain CAPTURE webhook moves to SUCCEEDED) or refused (FAILED), with a refund of it to check, and a
   * signer of items about it.
   */
  async function adyenCapture(prefix: string, answer: 'PENDING' | 'FAIL' = 'PENDING') {
    const payment = { gateway: 'adyen', gateway_account: 'acct-1', amount: 5000, currency: 'EUR', order_id: order() };
    const auth = await succeededOperation(stack.worker, 'authorize', payment, `${prefix}AUTH${String(seq).padStart(7, '0')}`);
    const captureCmd = channelCommand('capture', {}, { ...payment, gateway_key: auth.id });
    const { record: sent } = await stack.worker.ledger.create(captureCmd.payment.operation_reference!, captureCmd, Date.now(), { event: 'attempt' });
    expect('context' in (await resolveOperationContext(sent!, stack.worker.ledger, { checkAmounts: true }))).toBe(true);
    const reference = `${prefix}CAP${String(seq).padStart(8, '0')}`;
    const outcome: GatewayOutcome =
      answer === 'PENDING'
        ? { status: 'PENDING', gatewayStatus: 'received', gatewayReference: reference }
        : { status: 'FAIL', gatewayStatus: 'refused', reason: 'do_not_honor', gatewayReference: reference };
    const capture = await stack.worker.recorder.apply(sent!, outcome, 'response');
    expect(capture.state).toBe(answer === 'PENDING' ? 'PENDING' : 'FAILED');
    const refundCmd = channelCommand('refund', {}, { ...payment, gateway_key: auth.id });
    const { record: refund } = await stack.worker.ledger.create(refundCmd.payment.operation_reference!, refundCmd, Date.now(), { event: 'attempt' });
    const refundCheck = async () => {
      const resolved = await resolveOperationContext(refund!, stack.worker.ledger, { checkAmounts: true });
      return 'fail' in resolved ? resolved.fail : 'context' in resolved ? 'allowed' : 'wait';
    };
    const item = (eventCode: string, eventDate?: string, reason?: string) =>
      signedAdyenItem(
        {
          eventCode,
          success: 'true',
          pspReference: reference,
          originalReference: auth.gatewayReference,
          merchantReference: capture.id,
          merchantAccountCode: 'TestMerchant',
          amount: { value: 5000, currency: 'EUR' },
          ...(eventDate !== undefined ? { eventDate } : {}),
          ...(reason !== undefined ? { reason } : {}),
        },
        ADYEN_HMAC,
      );
    /** Posts the plain CAPTURE success dated `at`: the capture moves PENDING → SUCCEEDED, recorded with that time. */
    const captured = async (at: string) => {
      expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', at)])).status).toBe(200);
      await eventually(async () => (await stack.worker.ledger.get(capture.id))?.state === 'SUCCEEDED', 15000);
      expect((await stack.worker.ledger.get(capture.id))?.pspSucceededAt).toBe(Date.parse(at));
      expect(await refundCheck()).toBe('allowed');
    };
    /** Posts a CAPTURE_FAILED dated `at`, for the first time, and waits for its outcome job to end. */
    const failed = async (at: string) => {
      expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', at, 'Capture rejected by card scheme')])).status).toBe(200);
      await adyenOutcomeApplied(`${reference}:CAPTURE_FAILED:true:${at}`);
    };
    return { auth, capture, refundCheck, item, reference, captured, failed };
  }

  const undoneCaptures = () => metricValue('pb_captures_undone_total', { gateway: 'adyen', command: 'capture' });
  const staleFailures = (gateway: string) => metricValue('pb_webhook_failures_after_success_total', { gateway, outcome: 'stale' });

  it('a CAPTURE_FAILED Adyen dates before the plain CAPTURE success that moved the capture from PENDING to SUCCEEDED, arriving after it for the first time, is stale: history only, the capture stays SUCCEEDED and counted', async () => {
    const { capture, refundCheck, captured, failed } = await adyenCapture('ADYPT');
    const failedAt = new Date(Date.now() - 3_600_000).toISOString();
    const capturedAt = new Date(Date.now() - 60_000).toISOString();
    await captured(capturedAt);
    const undone = await undoneCaptures();
    const stale = await staleFailures('adyen');
    // Adyen does not deliver in order: the failure it generated first (the capture rejected, then captured) comes last.
    await failed(failedAt);
    const after = await stack.worker.ledger.get(capture.id);
    expect(after).toMatchObject({ state: 'SUCCEEDED', pspSucceededAt: Date.parse(capturedAt) });
    expect(after?.undoneBy).toBeUndefined();
    expect(await refundCheck()).toBe('allowed');
    expect(await undoneCaptures()).toBe(undone);
    expect(await staleFailures('adyen')).toBe(stale + 1);
    const entry = (await stack.worker.ledger.interactions(capture.id)).find((i) => i.event === 'webhook_failure_stale');
    expect(entry).toMatchObject({ decided_by: 'psp_time', kind: 'capture_failed', failed_at: failedAt, psp_succeeded_at: capturedAt });
    await new Promise((r) => setTimeout(r, 300));
    expect(adjustedFor(capture.id)).toHaveLength(0);
  });

  it('a CAPTURE_FAILED Adyen dates after the plain CAPTURE success that moved the capture to SUCCEEDED is its latest word: it undoes the capture, as before', async () => {
    const { capture, refundCheck, captured, failed } = await adyenCapture('ADYPU');
    const capturedAt = new Date(Date.now() - 3_600_000).toISOString();
    const failedAt = new Date(Date.now() - 60_000).toISOString();
    await captured(capturedAt);
    const undone = await undoneCaptures();
    const stale = await staleFailures('adyen');
    await failed(failedAt);
    await eventually(async () => adjustedKinds(capture.id).length >= 1, 15000);
    expect(adjustedKinds(capture.id)).toEqual(['capture_failed']);
    expect((await stack.worker.ledger.get(capture.id))?.undoneBy).toBeDefined();
    expect(await refundCheck()).toBe('amount_exceeds_captured');
    expect(await undoneCaptures()).toBe(undone + 1);
    expect(await staleFailures('adyen')).toBe(stale);
    expect(await history(capture.id)).not.toContain('webhook_failure_stale');
  });

  it("a Stripe refund.failed whose event Stripe created before the refund.updated success that moved the refund to SUCCEEDED, arriving after it, is stale: the refund stays SUCCEEDED, not undone; one of the success's second cannot be told older and undoes it, as before", async () => {
    const pi = `pi_pt_refund_${seq}`;
    const refundRef = `re_pt_${seq}`;
    const id = await pendingOperation(
      stack.worker,
      'refund',
      { gateway: 'stripe', gateway_account: 'acct-1', gateway_key: pi, amount: 5000, currency: 'EUR', order_id: order() },
      refundRef,
    );
    const succeededAt = Math.floor(Date.now() / 1000) - 60;
    await postStripe('refund.updated', stripeRefund(refundRef, id, pi, 'succeeded'), `evt_pt_refund_ok_${id}`, succeededAt);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED', 15000);
    expect((await stack.worker.ledger.get(id))?.pspSucceededAt).toBe(succeededAt * 1000);
    const failedRefund = stripeRefund(refundRef, id, pi, 'failed', { failure_reason: 'expired_or_canceled_card' });
    const undone = await metricValue('pb_refunds_undone_total', { gateway: 'stripe', kind: 'refund_failed' });
    const stale = await staleFailures('stripe');
    await postStripe('refund.failed', failedRefund, `evt_pt_refund_older_${id}`, succeededAt - 30);
    await eventually(async () => (await staleFailures('stripe')) > stale && (await inHistory(id, 'webhook_failure_stale')()), 15000);
    await new Promise((r) => setTimeout(r, 300));
    expect(await stack.worker.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', undoneBy: undefined });
    expect(adjustedFor(id)).toHaveLength(0);
    expect(await metricValue('pb_refunds_undone_total', { gateway: 'stripe', kind: 'refund_failed' })).toBe(undone);
    expect((await stack.worker.ledger.interactions(id)).find((i) => i.event === 'webhook_failure_stale')).toMatchObject({
      decided_by: 'psp_time',
      kind: 'refund_failed',
      failed_at: new Date((succeededAt - 30) * 1000).toISOString(),
      psp_succeeded_at: new Date(succeededAt * 1000).toISOString(),
    });
    // The same failure told again by another event (refund.updated to failed, its own id): one fact, nothing more.
    await postStripe('refund.updated', failedRefund, `evt_pt_refund_older_again_${id}`, succeededAt - 30);
    await new Promise((r) => setTimeout(r, 300));
    expect(await stack.worker.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', undoneBy: undefined });
    expect(adjustedFor(id)).toHaveLength(0);

    // Another refund's failure in the same second as its success: Stripe's times are whole seconds, so it is not
    // older, and undoes as before.
    const sameRef = `re_pt_same_${seq}`;
    const same = await pendingOperation(
      stack.worker,
      'refund',
      { gateway: 'stripe', gateway_account: 'acct-1', gateway_key: pi, amount: 5000, currency: 'EUR', order_id: order() },
      sameRef,
    );
    await postStripe('refund.updated', stripeRefund(sameRef, same, pi, 'succeeded'), `evt_pt_refund_same_ok_${same}`, succeededAt);
    await eventually(async () => (await stack.worker.ledger.get(same))?.state === 'SUCCEEDED', 15000);
    const sameFailed = stripeRefund(sameRef, same, pi, 'failed', { failure_reason: 'expired_or_canceled_card' });
    await postStripe('refund.failed', sameFailed, `evt_pt_refund_same_${same}`, succeededAt);
    await eventually(async () => adjustedFor(same).length >= 1, 15000);
    expect((adjustedFor(same)[0].params as { adjustment: unknown }).adjustment).toMatchObject({ kind: 'refund_failed' });
    expect((await stack.worker.ledger.get(same))?.undoneBy).toBeDefined();
    expect(await metricValue('pb_refunds_undone_total', { gateway: 'stripe', kind: 'refund_failed' })).toBe(undone + 1);
    expect(await staleFailures('stripe')).toBe(stale + 1);
  });

  it('an Adyen CANCEL_OR_REFUND success of a cancel the bridge recorded FAILED marks the cancel done after all, as a capture is marked, and closes its authorization by it', async () => {
    const orderId = order();
    const auth = await succeededOperation(stack.worker, 'authorize', { gateway: 'adyen', order_id: orderId }, `ADYCX${String(seq).padStart(11, '0')}`);
    const cancel = await failed('cancel', 'adyen', `ADYCXCAN${String(seq).padStart(8, '0')}`, { gateway_key: auth.id, order_id: orderId });
    const marked = await metricValue('pb_undone_operations_redone_total', { gateway: 'adyen', command: 'cancel', recorded: 'failed' });
    const before = await counted('adyen', 'webhook_only');
    const item = signedAdyenItem(
      {
        eventCode: 'CANCEL_OR_REFUND',
        success: 'true',
        pspReference: cancel.gatewayReference!,
        originalReference: auth.gatewayReference,
        merchantReference: cancel.id,
        merchantAccountCode: 'TestMerchant',
        amount: { value: 5000, currency: 'EUR' },
        eventDate: new Date(Date.now() - 60_000).toISOString(),
      },
      ADYEN_HMAC,
    );
    expect((await postAdyenBatch(stack, 'adyen', [item])).status).toBe(200);
    await finished('adyen', 'webhook_only', before, () => adjustedFor(cancel.id).length >= 1);
    const [adjustment] = adjustedFor(cancel.id).map((n) => (n.params as { adjustment: { id: string; kind: string } }).adjustment);
    expect(adjustment.kind).toBe('succeeded_after_failure');
    expect(await stack.worker.ledger.get(cancel.id)).toMatchObject({ state: 'FAILED', succeededAfterFailure: { by: adjustment.id } });
    expect((await stack.worker.ledger.get(auth.id))?.closedBy).toBe(cancel.id);
    expect(await metricValue('pb_undone_operations_redone_total', { gateway: 'adyen', command: 'cancel', recorded: 'failed' })).toBe(marked + 1);
  });

  it('an Adyen re-capture delivered before the CAPTURE_FAILED it follows (later eventDate) leaves the capture not undone and refundable: the OMS is told capture_failed, then the re-capture', async () => {
    const { capture, refundCheck, item } = await adyenCaptureWithRefund('ADYRO');
    const failedAt = new Date(Date.now() - 3_600_000).toISOString();
    const recapturedAt = new Date(Date.now() - 60_000).toISOString();
    const undone = await metricValue('pb_captures_undone_total', { gateway: 'adyen', command: 'capture' });
    // Adyen delivers the re-capture first.
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', 'Transaction Recaptured', recapturedAt)])).status).toBe(200);
    await adyenOutcomeApplied(`${capture.gatewayReference}:CAPTURE:true:recaptured:${recapturedAt}`);
    expect(adjustedKinds(capture.id)).toEqual([]);
    expect(await refundCheck()).toBe('allowed');
    // Then the failure it follows.
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
    // Both events: the failure's, then the held re-capture's, which the outbox sends after it.
    await eventually(async () => adjustedKinds(capture.id).length >= 2, 15000);
    await new Promise((r) => setTimeout(r, 500));
    const after = await stack.worker.ledger.get(capture.id);
    expect(after).toMatchObject({ state: 'SUCCEEDED' });
    expect(after?.undoneBy).toBeUndefined();
    expect(await metricValue('pb_captures_undone_total', { gateway: 'adyen', command: 'capture' })).toBe(undone);
    expect(adjustedKinds(capture.id)).toEqual(['capture_failed', 'succeeded_after_failure']);
    // The failure's event names the re-capture that supersedes it, as a failure arriving after its re-capture's does.
    const [failure, recapture] = adjustedFor(capture.id).map((n) => (n.params as { adjustment: { id: string; superseded_by?: string } }).adjustment);
    expect(failure.superseded_by).toBe(recapture.id);
    expect(await refundCheck()).toBe('allowed');
    expect(await metricValue('pb_recaptures_before_failure_total', { gateway: 'adyen', command: 'capture', step: 'reported' })).toBeGreaterThanOrEqual(1);
    // A resend of the failure changes nothing and sends nothing again.
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    expect((await stack.worker.ledger.get(capture.id))?.undoneBy).toBeUndefined();
    expect(adjustedKinds(capture.id)).toHaveLength(2);
  });

  it('a CAPTURE_FAILED later than a re-capture delivered before it (the re-capture failed again) marks the capture undone: refunds of it are refused', async () => {
    const { capture, refundCheck, item } = await adyenCaptureWithRefund('ADYRL');
    const recapturedAt = new Date(Date.now() - 3_600_000).toISOString();
    const failedAt = new Date(Date.now() - 60_000).toISOString();
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', 'Transaction Recaptured', recapturedAt)])).status).toBe(200);
    await adyenOutcomeApplied(`${capture.gatewayReference}:CAPTURE:true:recaptured:${recapturedAt}`);
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.undoneBy !== undefined, 15000);
    // The mark is written with the adjustment; its event reaches the bus through the outbox after it.
    await eventually(async () => adjustedKinds(capture.id).length >= 1, 15000);
    await new Promise((r) => setTimeout(r, 300));
    expect(adjustedKinds(capture.id)).toEqual(['capture_failed']);
    expect(await refundCheck()).toBe('amount_exceeds_captured');
  });

  it('an Adyen re-capture delivered after a second, later CAPTURE_FAILED leaves the capture undone by that later failure: the OMS hears the re-capture, marked failed_again_by it, and refunds stay refused until a later re-capture', async () => {
    const { capture, refundCheck, item } = await adyenCaptureWithRefund('ADYR2');
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
    const [failedAt, recapturedAt, failedAgainAt, recapturedAgainAt] = [at(40), at(30), at(20), at(10)];
    const redone = await metricValue('pb_undone_operations_redone_total', { gateway: 'adyen', command: 'capture' });
    const kept = await metricValue('pb_redos_before_later_failure_total', { gateway: 'adyen', command: 'capture' });
    // Adyen: failed, re-captured, failed again; it delivers both failures, then the re-capture between them.
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
    await eventually(async () => adjustedKinds(capture.id).length >= 1, 15000);
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAgainAt)])).status).toBe(200);
    await eventually(async () => adjustedKinds(capture.id).length >= 2, 15000);
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', 'Transaction Recaptured', recapturedAt)])).status).toBe(200);
    await eventually(async () => adjustedKinds(capture.id).length >= 3, 15000);
    await new Promise((r) => setTimeout(r, 300));
    const adjustments = adjustedFor(capture.id).map(
      (n) => (n.params as { adjustment: { id: string; kind: string; failed_again_by?: string | null } }).adjustment,
    );
    expect(adjustments.map((a) => a.kind)).toEqual(['capture_failed', 'capture_failed', 'succeeded_after_failure']);
    const later = adjustments[1].id;
    expect(adjustments[2].failed_again_by).toBe(later);
    expect((await stack.worker.ledger.get(capture.id))?.undoneBy).toBe(later);
    expect(await refundCheck()).toBe('amount_exceeds_captured');
    expect(await metricValue('pb_undone_operations_redone_total', { gateway: 'adyen', command: 'capture' })).toBe(redone);
    expect(await metricValue('pb_redos_before_later_failure_total', { gateway: 'adyen', command: 'capture' })).toBe(kept + 1);
    // Adyen re-captures once more, after the second failure: its last word, the capture counts as captured.
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', 'Transaction Recaptured', recapturedAgainAt)])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.undoneBy === undefined, 15000);
    await eventually(async () => adjustedKinds(capture.id).length >= 4, 15000);
    expect(await metricValue('pb_undone_operations_redone_total', { gateway: 'adyen', command: 'capture' })).toBe(redone + 1);
    expect(await refundCheck()).toBe('allowed');
  });

  it('a second CAPTURE_FAILED older than a re-capture that cleared the first, delivered after it, marks nothing: the OMS hears it superseded_by the re-capture, no second re-capture; a failure after the re-capture still undoes the capture', async () => {
    const { capture, refundCheck, item } = await adyenCaptureWithRefund('ADYRS');
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
    const [failedAt, failedAgainAt, recapturedAt, failedLastAt] = [at(40), at(30), at(20), at(10)];
    const undone = await metricValue('pb_captures_undone_total', { gateway: 'adyen', command: 'capture' });
    const first = await metricValue('pb_recaptures_before_failure_total', { gateway: 'adyen', command: 'capture', step: 'recorded_first' });
    // Adyen: failed (t1), failed again (t3), re-captured (t4); it delivers t1, t4, then t3.
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.undoneBy !== undefined, 15000);
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', 'Transaction Recaptured', recapturedAt)])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.undoneBy === undefined, 15000);
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAgainAt)])).status).toBe(200);
    await adyenOutcomeApplied(`${capture.gatewayReference}:CAPTURE_FAILED:true:${failedAgainAt}`);
    await eventually(async () => adjustedKinds(capture.id).length >= 3, 15000);
    await new Promise((r) => setTimeout(r, 500));
    const adjustments = adjustedFor(capture.id).map(
      (n) => (n.params as { adjustment: { id: string; kind: string; occurred_at: string; superseded_by?: string } }).adjustment,
    );
    expect(adjustments.map((a) => a.kind)).toEqual(['capture_failed', 'succeeded_after_failure', 'capture_failed']);
    expect(adjustments[2]).toMatchObject({ occurred_at: failedAgainAt, superseded_by: adjustments[1].id });
    expect(adjustments[0].superseded_by).toBeUndefined();
    expect((await stack.worker.ledger.get(capture.id))?.undoneBy).toBeUndefined();
    expect(await refundCheck()).toBe('allowed');
    expect(await metricValue('pb_captures_undone_total', { gateway: 'adyen', command: 'capture' })).toBe(undone + 1);
    expect(await metricValue('pb_recaptures_before_failure_total', { gateway: 'adyen', command: 'capture', step: 'recorded_first' })).toBe(first + 1);
    // A failure after the re-capture is Adyen's latest word: the capture is undone, refunds of it refused.
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedLastAt)])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.undoneBy !== undefined, 15000);
    await eventually(async () => adjustedKinds(capture.id).length >= 4, 15000);
    await new Promise((r) => setTimeout(r, 300));
    expect(adjustedKinds(capture.id)).toEqual(['capture_failed', 'succeeded_after_failure', 'capture_failed', 'capture_failed']);
    expect(await refundCheck()).toBe('amount_exceeds_captured');
    expect(await metricValue('pb_captures_undone_total', { gateway: 'adyen', command: 'capture' })).toBe(undone + 2);
  });

  it('an Adyen re-capture reconciliation recorded first (its line after the failure cleared the mark) is that adjustment when its webhook comes, not held as an early re-capture; the failure redelivered after sends nothing new', async () => {
    const { capture, refundCheck, item } = await adyenCaptureWithRefund('ADYRR');
    const failedAt = new Date(Date.now() - 3_600_000).toISOString();
    const recapturedAt = new Date(Date.now() - 60_000).toISOString();
    const failedEvent = `${capture.gatewayReference}:CAPTURE_FAILED:true:${failedAt}`;
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.undoneBy !== undefined, 15000);
    // A reconciliation run finds the capture line after the failure (the re-capture's webhook not here yet).
    const recorded = await stack.worker.adjustments.recordAdjustment((await stack.worker.ledger.get(capture.id))!, {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 5000,
      currency: 'EUR',
      reason: 'psp_Captured',
      pspReference: capture.gatewayReference!,
      occurredAt: Date.parse(recapturedAt),
      gateway: 'adyen',
      pspEventId: `reconciliation:${capture.gatewayReference}:Captured`,
      source: 'reconciliation',
    });
    expect(recorded.redoneAfter).toBeDefined();
    await eventually(async () => adjustedKinds(capture.id).length >= 2, 15000);
    const held = () => metricValue('pb_recaptures_before_failure_total', { gateway: 'adyen', command: 'capture', step: 'held' });
    const found = () => metricValue('pb_adjustments_found_recorded_total', { gateway: 'adyen', kind: 'succeeded_after_failure', source: 'webhook' });
    const [heldBefore, foundBefore] = [await held(), await found()];
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', 'Transaction Recaptured', recapturedAt)])).status).toBe(200);
    await adyenOutcomeApplied(`${capture.gatewayReference}:CAPTURE:true:recaptured:${recapturedAt}`);
    expect(await found()).toBe(foundBefore + 1);
    expect(await held()).toBe(heldBefore);
    expect(await history(capture.id)).not.toContain('recapture_held');
    expect((await stack.worker.ledger.fieldsOf([capture.id], ['recaptured_at']))[0][0]).toBeNull();
    // Adyen delivers the failure again (its job gone from the queue): nothing new is recorded or sent.
    await (await stack.outcomes.getJob(bullJobId(`wh.adyen.${failedEvent}`)))?.remove();
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
    await adyenOutcomeApplied(failedEvent);
    await new Promise((r) => setTimeout(r, 500));
    expect(adjustedFor(capture.id).map((n) => (n.params as { adjustment: { id: string } }).adjustment.id)).toEqual([
      expect.any(String),
      recorded.adjustment.id,
    ]);
    expect((await stack.worker.ledger.get(capture.id))?.undoneBy).toBeUndefined();
    expect(await refundCheck()).toBe('allowed');
    expect(await held()).toBe(heldBefore);
  });

  it('an Adyen re-capture held before its failure, then a later CAPTURE_FAILED, then the earlier one it follows: the held re-capture is reported after that, failed_again_by the later failure, and the capture stays undone', async () => {
    const { capture, refundCheck, item } = await adyenCaptureWithRefund('ADYRH');
    const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
    const [failedAt, recapturedAt, failedAgainAt] = [at(30), at(20), at(10)];
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', 'Transaction Recaptured', recapturedAt)])).status).toBe(200);
    await adyenOutcomeApplied(`${capture.gatewayReference}:CAPTURE:true:recaptured:${recapturedAt}`);
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAgainAt)])).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.undoneBy !== undefined, 15000);
    expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
    await eventually(async () => adjustedKinds(capture.id).length >= 3, 15000);
    await new Promise((r) => setTimeout(r, 300));
    const adjustments = adjustedFor(capture.id).map(
      (n) => (n.params as { adjustment: { id: string; kind: string; failed_again_by?: string | null } }).adjustment,
    );
    expect(adjustments.map((a) => a.kind)).toEqual(['capture_failed', 'capture_failed', 'succeeded_after_failure']);
    expect(adjustments[2].failed_again_by).toBe(adjustments[0].id);
    expect((await stack.worker.ledger.get(capture.id))?.undoneBy).toBe(adjustments[0].id);
    expect(await refundCheck()).toBe('amount_exceeds_captured');
  });

  describe('an Adyen re-capture whose CAPTURE_FAILED never comes', () => {
    const later = () => Date.now() + stack.config.delivery.recaptureFailureWaitMs + 1000;
    const surfacedLines = (lines: string[], operationId: string) =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.alert === 'recapture_awaiting_failure' && l.operation_id === operationId);
    const listed = async (at: number) =>
      (await heldRecaptures({ config: stack.config, redis: stack.worker.redis, ledger: stack.worker.ledger }, { limit: 1000 }, at)).map((r) => r.operation_id);

    it('is surfaced once past delivery.recapture_failure_wait_ms (a warn line, its history entry, ops recaptures), nothing sent to the OMS; the failure coming after all is reported in order, once, and it is listed no more', async () => {
      const { capture, refundCheck, item } = await adyenCaptureWithRefund('ADYRW');
      const failedAt = new Date(Date.now() - 3_600_000).toISOString();
      const recapturedAt = new Date(Date.now() - 60_000).toISOString();
      expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE', 'Transaction Recaptured', recapturedAt)])).status).toBe(200);
      await adyenOutcomeApplied(`${capture.gatewayReference}:CAPTURE:true:recaptured:${recapturedAt}`);
      const { logger, lines } = captureLogger('info');
      // Within its wait: nothing to surface.
      await new RecaptureWaitSweep({ config: stack.config, store: stack.worker.adjustmentStore, logger }).runOnce();
      expect(surfacedLines(lines, capture.id)).toEqual([]);
      expect(await listed(Date.now())).not.toContain(capture.id);
      expect(await listed(later())).toContain(capture.id);
      // Past it: surfaced, once, however many pollers pass.
      const surfaced = () => metricValue('pb_recaptures_before_failure_total', { gateway: 'adyen', command: 'capture', step: 'surfaced' });
      const before = await surfaced();
      for (let pass = 0; pass < 3; pass += 1)
        await new RecaptureWaitSweep({ config: stack.config, store: stack.worker.adjustmentStore, logger, now: later }).runOnce();
      const [line] = surfacedLines(lines, capture.id);
      expect(surfacedLines(lines, capture.id)).toHaveLength(1);
      expect(line).toMatchObject({
        level: 'warn',
        command: 'capture',
        gateway: 'adyen',
        psp_reference: capture.gatewayReference,
        recapture_event_id: `${capture.gatewayReference}:CAPTURE:true:recaptured:${recapturedAt}`,
        recaptured_at: recapturedAt,
        amount: 5000,
        currency: 'EUR',
      });
      expect(await surfaced()).toBeGreaterThanOrEqual(before + 1);
      expect((await history(capture.id)).filter((e) => e === 'recapture_awaiting_failure')).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 300));
      expect(adjustedKinds(capture.id)).toEqual([]);
      expect(await refundCheck()).toBe('allowed');
      // The failure comes after all: the OMS hears it, then the re-capture, each once, as in order.
      expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
      await eventually(async () => adjustedKinds(capture.id).length >= 2, 15000);
      await new Promise((r) => setTimeout(r, 300));
      expect(adjustedKinds(capture.id)).toEqual(['capture_failed', 'succeeded_after_failure']);
      expect((await stack.worker.ledger.get(capture.id))?.undoneBy).toBeUndefined();
      expect(await listed(later())).not.toContain(capture.id);
      await new RecaptureWaitSweep({ config: stack.config, store: stack.worker.adjustmentStore, logger, now: later }).runOnce();
      expect(surfacedLines(lines, capture.id)).toHaveLength(1);
      expect(adjustedKinds(capture.id)).toEqual(['capture_failed', 'succeeded_after_failure']);
    });
  });

  describe('a dated Adyen CAPTURE_FAILED an earlier release recorded under its former event id (pspReference:CAPTURE_FAILED:true)', () => {
    /** The capture failure as a release before dated ids recorded it: the same adjustment, under the id without its eventDate. */
    async function recordedByEarlierRelease(capture: OperationRecord, failedAt: string) {
      const at = Date.parse(failedAt);
      return stack.worker.adjustments.recordAdjustment((await stack.worker.ledger.get(capture.id))!, {
        kind: 'capture_failed',
        direction: 'debit',
        amount: 5000,
        currency: 'EUR',
        reason: 'Capture rejected by card scheme',
        pspReference: capture.gatewayReference!,
        // An eventDate that does not read as a time gave the earlier release's record none either.
        ...(Number.isFinite(at) ? { occurredAt: at } : {}),
        gateway: 'adyen',
        pspEventId: `${capture.gatewayReference}:CAPTURE_FAILED:true`,
        source: 'webhook',
      });
    }

    const resent = () => metricValue('pb_adjustments_found_under_other_id_total', { gateway: 'adyen', kind: 'capture_failed' });

    it("is that adjustment when Adyen resends it: recorded once, one event to the OMS, the capture's undone mark kept", async () => {
      const { capture, refundCheck, item } = await adyenCaptureWithRefund('ADYPR');
      const failedAt = new Date(Date.now() - 3_600_000).toISOString();
      const first = await recordedByEarlierRelease(capture, failedAt);
      expect(first.undone).toBe(true);
      await eventually(async () => adjustedKinds(capture.id).length >= 1, 15000);
      const before = await resent();
      // After the upgrade, Adyen resends it (our [accepted] was lost): its event id now carries its eventDate.
      expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
      await adyenOutcomeApplied(`${capture.gatewayReference}:CAPTURE_FAILED:true:${failedAt}`);
      await new Promise((r) => setTimeout(r, 500));
      expect(adjustedKinds(capture.id)).toEqual(['capture_failed']);
      expect((await stack.worker.adjustmentStore.forOperation(capture.id)).map((a) => a.id)).toEqual([first.adjustment.id]);
      expect((await stack.worker.ledger.get(capture.id))?.undoneBy).toBe(first.adjustment.id);
      expect(await refundCheck()).toBe('amount_exceeds_captured');
      expect(await resent()).toBe(before + 1);
    });

    it('is that adjustment too when its eventDate does not read as a time: recorded once, one event to the OMS', async () => {
      const { capture, item } = await adyenCaptureWithRefund('ADYPU');
      const unreadable = 'yesterday at noon';
      const first = await recordedByEarlierRelease(capture, unreadable);
      expect(first.created).toBe(true);
      await eventually(async () => adjustedKinds(capture.id).length >= 1, 15000);
      const before = await resent();
      expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', unreadable)])).status).toBe(200);
      await adyenOutcomeApplied(`${capture.gatewayReference}:CAPTURE_FAILED:true:${unreadable}`);
      await new Promise((r) => setTimeout(r, 500));
      expect(adjustedKinds(capture.id)).toEqual(['capture_failed']);
      expect((await stack.worker.adjustmentStore.forOperation(capture.id)).map((a) => a.id)).toEqual([first.adjustment.id]);
      expect(await resent()).toBe(before + 1);
    });

    it('a job of the earlier release run after the resend was recorded finds it too; a later failure of the capture is still its own', async () => {
      const { capture, item } = await adyenCaptureWithRefund('ADYPQ');
      const failedAt = new Date(Date.now() - 3_600_000).toISOString();
      expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAt)])).status).toBe(200);
      await eventually(async () => adjustedKinds(capture.id).length >= 1, 15000);
      const recorded = await stack.worker.adjustmentStore.forOperation(capture.id);
      // The earlier release's outcome job of the same notification, queued before the upgrade, runs now.
      const late = await recordedByEarlierRelease(capture, failedAt);
      expect(late.created).toBe(false);
      expect(late.adjustment.id).toBe(recorded[0].id);
      await new Promise((r) => setTimeout(r, 500));
      expect(adjustedKinds(capture.id)).toEqual(['capture_failed']);
      // Failed again an hour later, under the same pspReference: a fact of its own.
      const failedAgainAt = new Date(Date.now() - 60_000).toISOString();
      expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAgainAt)])).status).toBe(200);
      await eventually(async () => adjustedKinds(capture.id).length >= 2, 15000);
      expect((await stack.worker.adjustmentStore.forOperation(capture.id)).length).toBe(2);
    });

    it('one an earlier release recorded, then a later failure of the capture: the later one is recorded and sent, its own fact', async () => {
      const { capture, item } = await adyenCaptureWithRefund('ADYPL');
      const first = await recordedByEarlierRelease(capture, new Date(Date.now() - 3_600_000).toISOString());
      await eventually(async () => adjustedKinds(capture.id).length >= 1, 15000);
      const failedAgainAt = new Date(Date.now() - 60_000).toISOString();
      expect((await postAdyenBatch(stack, 'adyen', [item('CAPTURE_FAILED', 'Capture rejected by card scheme', failedAgainAt)])).status).toBe(200);
      await eventually(async () => adjustedKinds(capture.id).length >= 2, 15000);
      const ids = (await stack.worker.adjustmentStore.forOperation(capture.id)).map((a) => a.id);
      expect(ids).toHaveLength(2);
      expect(ids[0]).toBe(first.adjustment.id);
    });
  });
});
