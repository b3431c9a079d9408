/**
 * Adyen's `merchantReference` is the modification's own `reference` when one was passed on, else the payment's
 * (Webhooks v1 describes it as the payment's). The outcome of a capture or refund the bridge sent may so name
 * the authorization; its `pspReference` is the modification's, which the modification's `received` answer gave
 * and the ledger indexed. End to end: an authorization, a capture and a refund delivered by the worker to a local
 * Adyen stand-in (Checkout v71 answers), then notifications signed as Adyen signs them, naming the payment, posted
 * to the web process: each settles its own operation, whose OMS event is sent.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { CommandType } from '../../../src/contracts/payment-command';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { adyenWebhookGateway, postAdyenBatch, signedAdyenItem, useWebhookStack } from '../../support/webhook-stack';

jest.setTimeout(60_000);

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const MERCHANT = 'ByRefMerchant';
const AMOUNT = 5000;

/** What the stand-in answered, by operation id (the request's `reference`): its pspReference. */
const pspReferences = new Map<string, string>();
let pspSeq = 0;

/** A pspReference as Adyen makes them (16 characters), `prefix` telling the kind apart in a failure message. */
function nextPspReference(prefix: string): string {
  pspSeq += 1;
  return `${prefix}${String(pspSeq).padStart(16 - prefix.length, '0')}`;
}

const adyen = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
  req.on('end', () => {
    const body = JSON.parse(raw || '{}') as { reference?: string; amount?: unknown };
    const reference = body.reference ?? '';
    const answer = (payload: Record<string, unknown>): void => {
      pspReferences.set(reference, String(payload.pspReference));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    if (req.method === 'POST' && req.url === '/v71/payments') {
      return answer({ pspReference: nextPspReference('AUTH'), resultCode: 'Authorised', merchantReference: reference, amount: body.amount });
    }
    const modification = /^\/v71\/payments\/([A-Z0-9]+)\/(captures|refunds)$/.exec(req.url ?? '');
    if (req.method === 'POST' && modification) {
      const [, payment, kind] = modification;
      return answer({
        merchantAccount: MERCHANT,
        paymentPspReference: payment,
        pspReference: nextPspReference(kind === 'captures' ? 'CAPT' : 'REFD'),
        reference,
        status: 'received',
        amount: body.amount,
      });
    }
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: 404, errorCode: '000', message: 'not found', errorType: 'validation' }));
  });
});
let adyenUrl = '';

// Before the stack's own set-up (registered next), which reads the gateway's base_url.
beforeAll(async () => {
  await new Promise<void>((resolve) => adyen.listen(0, '127.0.0.1', resolve));
  adyenUrl = `http://127.0.0.1:${(adyen.address() as AddressInfo).port}/v71`;
});

/** Notifications the bus was sent: method and params. */
const sent: Array<{ method: string; params: Record<string, unknown> }> = [];
const logs = captureLogger('info');
const gateway = {
  ...adyenWebhookGateway(MERCHANT, ADYEN_HMAC),
  get base_url(): string {
    return adyenUrl;
  },
};
const stack = useWebhookStack({ adyen: gateway }, { webLogger: logs.logger, notify: async (method, params) => void sent.push({ method, params }) });

afterAll(async () => {
  adyen.closeAllConnections();
  await new Promise<void>((resolve) => adyen.close(() => resolve()));
});

let orderSeq = 0;

/** `command` for `AMOUNT` EUR of `orderId`, created in the ledger and delivered by the worker to the stand-in. */
async function delivered(command: CommandType, orderId: string, gatewayKey: string): Promise<{ id: string; state: string }> {
  const cmd = channelCommand(command, {}, { gateway: 'adyen', gateway_key: gatewayKey, amount: AMOUNT, currency: 'EUR', order_id: orderId });
  const id = cmd.payment.operation_reference!;
  await stack.worker.ledger.create(id, cmd);
  const step = await stack.worker.delivery.deliver(id);
  return { id, state: step.kind === 'done' ? step.state : step.kind };
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

/** Posts one signed item of `eventCode` about the modification `modification`, named by the payment's reference. */
async function notifyNamingPayment(eventCode: string, authorization: string, modification: string): Promise<void> {
  const item = signedAdyenItem(
    {
      eventCode,
      merchantReference: authorization,
      pspReference: pspReferences.get(modification)!,
      originalReference: pspReferences.get(authorization)!,
      merchantAccountCode: MERCHANT,
      amount: { value: AMOUNT, currency: 'EUR' },
    },
    ADYEN_HMAC,
  );
  const res = await postAdyenBatch(stack, 'adyen', [item]);
  expect(res).toEqual({ status: 200, body: '[accepted]' });
}

/** Whether the OMS was sent the SUCCESS event of operation `id`. */
function successSent(id: string): boolean {
  return sent.some((n) => {
    const payment = n.params.payment as { operation_reference?: string; status?: string } | undefined;
    return payment?.operation_reference === id && payment.status === 'SUCCESS';
  });
}

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
