/**
 * Adyen's `merchantReference` is the modification's own `reference` when one was passed on, else the payment's
 * (Webhooks v1 describes it as the payment's). The outcome of a capture or refund the bridge sent may so name
 * the authorization; its `pspReference` is the modification's, which the modification's `received` answer gave
 * and the ledger indexed. End to end: an authorization, a capture and a refund delivered by the worker to a local
 * Adyen stand-in (Checkout v71 answers), then notifications signed as Adyen signs them, naming the payment, posted
 * to the web process: each settles its own operation, whose OMS event is sent.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
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
function notifyNamingPayment(eventCode: string, authorization: string, modification: string): Promise<void> {
  return notify(eventCode, authorization, pspReferences.get(modification)!);
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
});
