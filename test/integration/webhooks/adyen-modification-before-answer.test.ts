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
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { CommandType } from '../../../src/contracts/payment-command';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { shardKeysOf, shardOfAnchor } from '../../../src/redis/key-layout';
import { createGatewayOutcomesQueue } from '../../../src/webhooks/gateway-outcomes-queue';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { adyenWebhookGateway, postAdyenBatch, signedAdyenItem, useWebhookStack } from '../../support/webhook-stack';

jest.setTimeout(60_000);

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const MERCHANT = 'EarlyModMerchant';
const AMOUNT = 5000;

/** What the stand-in answered, by operation id (the request's `reference`): its pspReference. */
const pspReferences = new Map<string, string>();
let pspSeq = 0;

/** A pspReference as Adyen makes them (16 characters), `prefix` telling the kind apart in a failure message. */
function nextPspReference(prefix: string): string {
  pspSeq += 1;
  return `${prefix}${String(pspSeq).padStart(16 - prefix.length, '0')}`;
}

/**
 * What the stand-in does with a capture request before it answers, by operation id: given the pspReference it is
 * about to answer with. `answer: false` drops the connection instead (the answer lost on the way back).
 */
const beforeCaptureAnswer = new Map<string, (pspReference: string) => Promise<{ answer: boolean }>>();

const adyen = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
  req.on('end', () => {
    void (async () => {
      const body = JSON.parse(raw || '{}') as { reference?: string; amount?: unknown };
      const reference = body.reference ?? '';
      const answer = (payload: Record<string, unknown>): void => {
        pspReferences.set(reference, String(payload.pspReference));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      };
      if (req.method === 'POST' && req.url === '/v71/payments') {
        return answer({ pspReference: nextPspReference('AUTH'), resultCode: 'Authorised', merchantReference: reference, amount: body.amount });
      }
      const modification = /^\/v71\/payments\/([A-Z0-9]+)\/captures$/.exec(req.url ?? '');
      if (req.method === 'POST' && modification) {
        // Adyen answers a request resent with the same Idempotency-Key with the same modification.
        const pspReference = pspReferences.get(reference) ?? nextPspReference('CAPT');
        pspReferences.set(reference, pspReference);
        const hook = beforeCaptureAnswer.get(reference);
        beforeCaptureAnswer.delete(reference);
        if (hook && !(await hook(pspReference)).answer) return void req.socket.destroy();
        return answer({ merchantAccount: MERCHANT, paymentPspReference: modification[1], pspReference, reference, status: 'received', amount: body.amount });
      }
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 404, errorCode: '000', message: 'not found', errorType: 'validation' }));
    })();
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

/** `command` for `AMOUNT` EUR of `orderId`, created in the ledger (not delivered). */
async function created(command: CommandType, orderId: string, gatewayKey: string): Promise<string> {
  const cmd = channelCommand(command, {}, { gateway: 'adyen', gateway_key: gatewayKey, amount: AMOUNT, currency: 'EUR', order_id: orderId });
  const id = cmd.payment.operation_reference!;
  await stack.worker.ledger.create(id, cmd);
  return id;
}

/** Delivers operation `id` once (the worker's attempt); the state it is left in. */
async function deliver(id: string): Promise<string> {
  const step = await stack.worker.delivery.deliver(id);
  return step.kind === 'done' ? step.state : ((await stack.worker.ledger.get(id))?.state ?? step.kind);
}

/** An authorization the worker sent and Adyen authorised. */
async function authorized(): Promise<{ orderId: string; authorization: string }> {
  const orderId = `order-early-${process.pid}-${++orderSeq}`;
  const authorization = await created('authorize', orderId, 'shopper-early:8415718415718415');
  expect(await deliver(authorization)).toBe('SUCCEEDED');
  return { orderId, authorization };
}

/** Posts one signed CAPTURE item about the modification `pspReference`, named by the payment's reference. */
async function captureNamingPayment(authorization: string, pspReference: string): Promise<void> {
  const item = signedAdyenItem(
    {
      eventCode: 'CAPTURE',
      merchantReference: authorization,
      pspReference,
      originalReference: pspReferences.get(authorization)!,
      merchantAccountCode: MERCHANT,
      amount: { value: AMOUNT, currency: 'EUR' },
    },
    ADYEN_HMAC,
  );
  expect(await postAdyenBatch(stack, 'adyen', [item])).toEqual({ status: 200, body: '[accepted]' });
}

/** The history entries of another command's outcome on `id` about `pspReference`. */
async function notForCommand(id: string, pspReference: string): Promise<number> {
  return (await stack.worker.ledger.interactions(id)).filter((h) => h.event === 'outcome_not_for_command' && h.gateway_reference === pspReference).length;
}

/** Posts the capture's notification and waits until the worker has applied it (history of the authorization). */
async function webhookFirst(authorization: string, pspReference: string): Promise<void> {
  await captureNamingPayment(authorization, pspReference);
  await eventually(async () => (await notForCommand(authorization, pspReference)) === 1);
}

/** SUCCESS events the OMS was sent for operation `id`. */
function successesSent(id: string): number {
  return sent.filter((n) => {
    const payment = n.params.payment as { operation_reference?: string; status?: string } | undefined;
    return payment?.operation_reference === id && payment.status === 'SUCCESS';
  }).length;
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
    const queue = createGatewayOutcomesQueue(stack.worker.redis, stack.config.redis.keyPrefix);
    try {
      expect(await queue.getJobCounts('failed', 'delayed', 'waiting', 'active')).toEqual({ failed: 0, delayed: 0, waiting: 0, active: 0 });
    } finally {
      await queue.close();
    }
  });
});
