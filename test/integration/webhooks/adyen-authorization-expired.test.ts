/**
 * An Adyen capture that cannot collect because the authorization expired. Adyen reports the expiry itself (`EXPIRE`:
 * "The remaining uncaptured amount expired") and, for a capture the card scheme rejects as too late, a
 * `CAPTURE_FAILED` whose reason ends "(capture expired)" ("Is final, you can't recapture it"). Either way the capture,
 * while open, FAILs `authorization_expired` with the decline telling the OMS to obtain a new authorization
 * (`reauthorize`), as Stripe's lapse does. `EXPIRE` itself settles no open capture: only what remained uncaptured
 * expired, and a capture Adyen had received may still have taken its amount; its own CAPTURE notification settles it.
 *
 * Signed as Adyen signs notifications, posted to the web process and applied by the worker on a real Redis.
 */
import { CommandType } from '../../../src/contracts/payment-command';
import { OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import { adyenWebhookGateway, pendingOperation, postAdyenBatch, signedAdyenItem, useWebhookStack } from '../../support/webhook-stack';

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const MERCHANT = 'TestMerchant';
const AMOUNT = 5000;
const SCHEME_EXPIRED = 'Capture rejected by card scheme: raw error message from the scheme (capture expired).';

const logs = captureLogger('info');
const stack = useWebhookStack({ adyen: adyenWebhookGateway(MERCHANT, ADYEN_HMAC) }, { webLogger: logs.logger });

let seq = 0;
const psp = (kind: string): string => `${kind}${process.pid}`.padEnd(12, '0').slice(0, 12) + String(++seq).padStart(4, '0');

/** One signed notification item, posted with Basic auth; the HTTP status. */
async function post(fields: {
  eventCode: string;
  merchantReference: string;
  pspReference: string;
  originalReference?: string;
  success?: string;
  reason?: string;
  eventDate?: string;
}): Promise<number> {
  const item = signedAdyenItem({ ...fields, merchantAccountCode: MERCHANT, amount: { value: AMOUNT, currency: 'EUR' } }, ADYEN_HMAC);
  return (await postAdyenBatch(stack, 'adyen', [item])).status;
}

/** An authorization Adyen authorised (SUCCEEDED by its AUTHORISATION), and its order. */
async function authorized(): Promise<{ authorization: string; reference: string; orderId: string }> {
  const orderId = `order-adyen-expired-${process.pid}-${++seq}`;
  const reference = psp('AUTH');
  const authorization = await pendingOperation(stack.worker, 'authorize', { gateway: 'adyen', amount: AMOUNT, currency: 'EUR', order_id: orderId }, reference);
  expect(await post({ eventCode: 'AUTHORISATION', merchantReference: authorization, pspReference: reference })).toBe(200);
  await eventually(async () => (await stack.worker.ledger.get(authorization))?.state === 'SUCCEEDED');
  return { authorization, reference, orderId };
}

/** A `command` of the authorization, PENDING after Adyen answered `received`; its id and PSP reference. */
async function received(command: CommandType, of: { authorization: string; orderId: string }): Promise<{ id: string; reference: string }> {
  const reference = psp('CAPT');
  const id = await pendingOperation(
    stack.worker,
    command,
    { gateway: 'adyen', gateway_key: of.authorization, amount: AMOUNT, currency: 'EUR', order_id: of.orderId },
    reference,
  );
  return { id, reference };
}

/** `ms` as Adyen writes an `eventDate`: whole seconds, with its zone's offset ("yyyy-MM-DDThh:mm:ssTZD", e.g. `2021-07-17T13:42:40+01:00`). */
const adyenEventDate = (ms: number): string => `${new Date(ms + 3_600_000).toISOString().slice(0, 19)}+01:00`;

/** When `capture` was first sent (epoch ms). */
const sentAt = async (capture: { id: string }): Promise<number> => (await stack.worker.ledger.get(capture.id))!.firstAttemptAt!;

/** Adyen's EXPIRE of the authorization, dated `at` (epoch ms, written as Adyen writes it), recorded as its authorization_expired adjustment. */
async function expired(of: { authorization: string; reference: string }, at: number): Promise<void> {
  const item = {
    eventCode: 'EXPIRE',
    merchantReference: of.authorization,
    pspReference: psp('EXPI'),
    originalReference: of.reference,
    eventDate: adyenEventDate(at),
  };
  expect(await post(item)).toBe(200);
  await eventually(async () => (await stack.worker.adjustmentStore.forOperation(of.authorization)).some((a) => a.kind === 'authorization_expired'));
}

const met = (): Promise<number> => metricValue('pb_authorization_lapses_met_total', { gateway: 'adyen', command: 'capture', adjustment: 'found' });

/** Adyen's failure of `capture` (`CAPTURE` with success false, or `CAPTURE_FAILED`) giving `reason`; its record once FAILED. */
async function captureFails(
  auth: { reference: string },
  capture: { id: string; reference: string },
  eventCode: 'CAPTURE' | 'CAPTURE_FAILED',
  reason: string,
): Promise<OperationRecord | null> {
  const refusal = eventCode === 'CAPTURE' ? { success: 'false' } : {};
  expect(await post({ eventCode, merchantReference: capture.id, pspReference: capture.reference, originalReference: auth.reference, ...refusal, reason })).toBe(
    200,
  );
  await eventually(async () => (await stack.worker.ledger.get(capture.id))?.state === 'FAILED');
  return stack.worker.ledger.get(capture.id);
}

/** What a capture that met its authorization's lapse records. */
const LAPSED = {
  reason: 'authorization_expired',
  decline: { category: 'cancelled', gateway_code: 'authorization_expired', suggested_action: 'reauthorize' },
};

describe('an Adyen capture of an authorization that expired', () => {
  it("a capture refused (CAPTURE success false) after the authorization's EXPIRE was recorded: FAILED authorization_expired, reauthorize; Adyen's text on the log line", async () => {
    const before = await met();
    const auth = await authorized();
    await expired(auth, Date.now() - 60_000);
    const capture = await received('capture', auth);

    const reason = 'Insufficient balance on payment';
    const failed = await captureFails(auth, capture, 'CAPTURE', reason);
    expect(failed).toMatchObject(LAPSED);
    expect(await met()).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('failed after its authorization lapsed') && l.includes(capture.id) && l.includes(reason))).toBe(true);
  });

  const TECHNICAL = 'Capture rejected by card scheme because of a technical issue.';

  it("a capture Adyen had received before its EXPIRE, failing later for a technical issue (which Adyen may re-capture), keeps Adyen's reason: no reauthorize", async () => {
    const auth = await authorized();
    const capture = await received('capture', auth);
    await expired(auth, (await sentAt(capture)) + 60_000);

    const failed = await captureFails(auth, capture, 'CAPTURE_FAILED', TECHNICAL);
    expect(failed?.reason).toBe(TECHNICAL);
    expect(failed?.decline?.suggested_action).not.toBe('reauthorize');
  });

  it("an EXPIRE dated in the very second the capture was sent (Adyen dates in whole seconds: which came first cannot be told) is not read as before it: the technical failure keeps Adyen's reason", async () => {
    const ties = (): Promise<number> => metricValue('pb_capture_release_ties_total', { gateway: 'adyen', release: 'authorization_expired' });
    const before = await ties();
    const auth = await authorized();
    const capture = await received('capture', auth);
    // Written as Adyen writes it, its milliseconds dropped: the start of the capture's second, at or before its send.
    await expired(auth, await sentAt(capture));

    const failed = await captureFails(auth, capture, 'CAPTURE_FAILED', TECHNICAL);
    expect(failed?.reason).toBe(TECHNICAL);
    expect(failed?.decline?.suggested_action).not.toBe('reauthorize');
    expect(await ties()).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('which came first cannot be told') && l.includes(capture.id))).toBe(true);
  });

  it('an EXPIRE dated in the second before the capture was sent: the capture met the lapse, whatever Adyen says of it: FAILED authorization_expired, reauthorize', async () => {
    const auth = await authorized();
    const capture = await received('capture', auth);
    await expired(auth, (await sentAt(capture)) - 1_000);

    const failed = await captureFails(auth, capture, 'CAPTURE_FAILED', TECHNICAL);
    expect(failed).toMatchObject(LAPSED);
  });

  it("an EXPIRE recorded before the capture was sent, though Adyen's clock dates it later: the capture met the lapse: FAILED authorization_expired, reauthorize", async () => {
    const auth = await authorized();
    // Adyen's clock two seconds ahead of ours: dated after the send, on record before it.
    await expired(auth, Date.now() + 2_000);
    const capture = await received('capture', auth);

    const failed = await captureFails(auth, capture, 'CAPTURE_FAILED', TECHNICAL);
    expect(failed).toMatchObject(LAPSED);
  });

  it("a capture refused after Adyen's own cancel of the authorization (failed_after_success: a Customer Area void) is not a lapse: FAILED authorization_cancelled, fix_request", async () => {
    const lapses = await met();
    const auth = await authorized();
    // Adyen cancelled it itself (a Customer Area void, case management): its failure after success, as the PSP-reversal
    // webhook records it (webhooks/psp-reversal.ts), before the capture is sent.
    const authorization = await stack.worker.ledger.get(auth.authorization);
    const voided = await stack.worker.adjustments.recordAdjustment(authorization!, {
      kind: 'failed_after_success',
      direction: 'none',
      amount: AMOUNT,
      currency: 'EUR',
      gateway: 'adyen',
      pspEventId: `${psp('CANC')}:CANCEL_OR_REFUND:true`,
      source: 'webhook',
      occurredAt: Date.now() - 1000,
    });
    expect(voided.created).toBe(true);
    const capture = await received('capture', auth);

    const reason = 'Insufficient balance on payment';
    const failed = await captureFails(auth, capture, 'CAPTURE', reason);
    expect(failed).toMatchObject({
      reason: 'authorization_cancelled',
      decline: { category: 'operation_not_permitted', gateway_code: 'authorization_cancelled', suggested_action: 'fix_request' },
    });
    expect(await met()).toBe(lapses);
    expect(logs.lines.some((l) => l.includes('failed after its authorization was cancelled') && l.includes(capture.id) && l.includes(reason))).toBe(true);
  });

  it("the same refusal without an EXPIRE recorded keeps Adyen's reason", async () => {
    const auth = await authorized();
    const capture = await received('capture', auth);

    const reason = 'Insufficient balance on payment';
    const failed = await captureFails(auth, capture, 'CAPTURE', reason);
    expect(failed?.reason).toBe(reason);
  });

  it('CAPTURE_FAILED "(capture expired)" for an open capture (its CAPTURE not come): FAILED authorization_expired, reauthorize', async () => {
    const auth = await authorized();
    const capture = await received('capture', auth);

    const failed = await captureFails(auth, capture, 'CAPTURE_FAILED', SCHEME_EXPIRED);
    expect(failed).toMatchObject(LAPSED);
  });

  it('EXPIRE while a capture is open settles no capture (only what remained uncaptured expired): the capture stays PENDING for its own CAPTURE, the authorization gets its adjustment', async () => {
    const auth = await authorized();
    const capture = await received('capture', auth);

    await expired(auth, Date.now());

    expect((await stack.worker.ledger.get(capture.id))?.state).toBe('PENDING');
    expect((await stack.worker.ledger.get(auth.authorization))?.state).toBe('SUCCEEDED');
    // Its own CAPTURE settles it, as Adyen reports it.
    expect(await post({ eventCode: 'CAPTURE', merchantReference: capture.id, pspReference: capture.reference, originalReference: auth.reference })).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(capture.id))?.state === 'SUCCEEDED');
  });
});
