import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { Payment, PaymentCommand } from '../../../src/contracts/payment-command';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { adjustmentEventId } from '../../../src/events/adjustment-event';
import { HOLD_LEFT_MESSAGE } from '../../../src/delivery/hold-after-void';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { OrphanReversal, releasingAfterVoid, reversalAfterVoidId } from '../../../src/poller/orphan-reversal';
import { bullJobId } from '../../../src/queueing/job-id';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { requiredCredentials } from '../../support/gateway-credentials';
import { testConfig } from '../../support/test-config';
import { newCybersourceId } from '../../support/cybersource-ids';

/**
 * A cancel of a Cybersource payment that was captured (a sale, or an authorization with its capture) voids
 * what was captured, by the right id; a cancel of an authorization nothing captured still reverses it; a void
 * Cybersource refuses once the batch settled (400 NOT_VOIDABLE) reaches the OMS as a FAIL naming it.
 */

interface Seen {
  method: string;
  url: string;
  body: Record<string, unknown>;
}

/** The Cybersource stand-in: what it was sent, what it settled (its void refused), and one answer to hold back. */
const psp = {
  seen: [] as Seen[],
  settled: new Set<string>(),
  rateLimitNextVoid: false,
  rateLimitNextReversal: false,
  /** The next capture's answer held back (429): the capture stays in flight, retried. */
  rateLimitNextCapture: false,
  /** The next capture refused for good (400 INVALID_DATA). */
  refuseNextCapture: false,
  /** What each authorization holds, less its captures and reversals (cents): a capture of more is refused, as Cybersource does. */
  held: new Map<string, number>(),
  /** The next capture answered without its id (our record then has no Cybersource id of it). */
  nextCaptureWithoutId: false,
  /** The next refund's answer held back (429): the refund stays in flight, retried. */
  rateLimitNextRefund: false,
  /** The next refund refused for good (400 INVALID_DATA). */
  refuseNextRefund: false,
  /** Each capture's authorization (Cybersource ids). */
  captureOf: new Map<string, string>(),
  /** The captures and sales voided (Cybersource ids). */
  voided: new Set<string>(),
  /** Whether the processor takes an authorization reversal after void (ARAV); without it such a reversal is refused. */
  arav: true,
  /** Ids Cybersource knows no authorization by, and how it answers a reversal of one: 400 INVALID_DATA (the spec's) or 404. */
  unknown: new Map<string, 400 | 404>(),
};

/** Whether authorization (or sale) `paymentId` had what it captured voided: a reversal of it now is a reversal after void. */
function voidedBefore(paymentId: string): boolean {
  if (psp.voided.has(paymentId)) return true;
  return [...psp.captureOf].some(([capture, auth]) => auth === paymentId && psp.voided.has(capture));
}

function cents(value: string | undefined): number {
  return Math.round(Number(value ?? '0') * 100);
}
let server: http.Server;
let config: Config;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let ledger: Ledger;
let events: EventStore;
let service: DeliveryService;
let deliveryQueue: Queue<DeliveryJobData>;
let orphans: OrphanReversal;
const logs = captureLogger();

function amount(body: Record<string, unknown>, key: string): unknown {
  const outer = body[key] as { amountDetails?: { totalAmount?: string; currency?: string } } | undefined;
  return outer?.amountDetails;
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      const url = req.url ?? '';
      psp.seen.push({ method: req.method ?? '', url, body });
      const json = (status: number, answer: unknown) => {
        res.writeHead(status, { 'content-type': 'application/hal+json' });
        res.end(JSON.stringify(answer));
      };
      const reference = body.clientReferenceInformation;
      const money = amount(body, 'orderInformation') as { totalAmount: string; currency: string } | undefined;
      if (url === '/pts/v2/payments') {
        const paymentId = newCybersourceId();
        psp.held.set(paymentId, cents(money?.totalAmount));
        return json(201, {
          id: paymentId,
          status: 'AUTHORIZED',
          submitTimeUtc: new Date().toISOString(),
          clientReferenceInformation: reference,
          orderInformation: { amountDetails: { authorizedAmount: money?.totalAmount, currency: money?.currency } },
        });
      }
      const capturing = /^\/pts\/v2\/payments\/(\d+)\/captures$/.exec(url);
      if (capturing) {
        if (psp.rateLimitNextCapture) {
          psp.rateLimitNextCapture = false;
          return json(429, { message: 'Too many requests' });
        }
        if (psp.refuseNextCapture) {
          psp.refuseNextCapture = false;
          return json(400, {
            submitTimeUtc: new Date().toISOString(),
            status: 'INVALID_REQUEST',
            reason: 'INVALID_DATA',
            message: 'Declined - One or more fields in the request contains invalid data',
          });
        }
        const held = psp.held.get(capturing[1]);
        if (held !== undefined) {
          if (cents(money?.totalAmount) > held) {
            return json(400, {
              submitTimeUtc: new Date().toISOString(),
              status: 'INVALID_REQUEST',
              reason: 'EXCEEDS_AUTH_AMOUNT',
              message: 'Capture amount exceeds the amount held',
            });
          }
          psp.held.set(capturing[1], held - cents(money?.totalAmount));
        }
        const withoutId = psp.nextCaptureWithoutId;
        psp.nextCaptureWithoutId = false;
        const captureId = newCybersourceId();
        psp.captureOf.set(captureId, capturing[1]);
        return json(201, {
          ...(withoutId ? {} : { id: captureId }),
          submitTimeUtc: new Date().toISOString(),
          status: 'PENDING',
          clientReferenceInformation: reference,
          orderInformation: { amountDetails: money },
        });
      }
      const reversing = /^\/pts\/v2\/payments\/(\d+)\/reversals$/.exec(url);
      const unknown = reversing ? psp.unknown.get(reversing[1]) : undefined;
      if (unknown === 404) return json(404, { reason: 'NOT_FOUND', message: 'The requested resource does not exist' });
      if (unknown === 400) {
        return json(400, {
          submitTimeUtc: new Date().toISOString(),
          status: 'INVALID_REQUEST',
          reason: 'INVALID_DATA',
          message: 'Declined - One or more fields in the request contains invalid data',
        });
      }
      if (reversing) {
        if (psp.rateLimitNextReversal) {
          psp.rateLimitNextReversal = false;
          return json(429, { message: 'Too many requests' });
        }
        const reversal = amount(body, 'reversalInformation') as { totalAmount: string; currency: string };
        if (voidedBefore(reversing[1]) && !psp.arav) {
          // A processor without authorization reversal after void refuses it; the hold stays until it expires.
          return json(400, {
            submitTimeUtc: new Date().toISOString(),
            status: 'INVALID_REQUEST',
            reason: 'INVALID_DATA',
            message: 'Declined - the processor does not support an authorization reversal after void',
          });
        }
        const held = psp.held.get(reversing[1]);
        if (held !== undefined) psp.held.set(reversing[1], Math.max(0, held - cents(reversal.totalAmount)));
        return json(201, {
          id: newCybersourceId(),
          status: 'REVERSED',
          clientReferenceInformation: reference,
          reversalAmountDetails: { reversedAmount: reversal.totalAmount, currency: reversal.currency },
        });
      }
      const voided = /^\/pts\/v2\/(payments|captures|refunds)\/(\d+)\/voids$/.exec(url);
      if (voided) {
        if (psp.rateLimitNextVoid) {
          psp.rateLimitNextVoid = false;
          return json(429, { message: 'Too many requests' });
        }
        if (psp.settled.has(voided[2])) {
          return json(400, {
            submitTimeUtc: new Date().toISOString(),
            status: 'INVALID_REQUEST',
            reason: 'NOT_VOIDABLE',
            message: 'The capture or credit is not voidable because the capture or credit information has already been submitted to your processor.',
          });
        }
        psp.voided.add(voided[2]);
        return json(201, {
          id: newCybersourceId(),
          status: 'VOIDED',
          clientReferenceInformation: reference,
          voidAmountDetails: { voidAmount: '50.00', currency: 'USD' },
        });
      }
      if (/^\/pts\/v2\/payments\/\d+\/refunds$/.test(url)) {
        if (psp.rateLimitNextRefund) {
          psp.rateLimitNextRefund = false;
          return json(429, { message: 'Too many requests' });
        }
        if (psp.refuseNextRefund) {
          psp.refuseNextRefund = false;
          return json(400, {
            submitTimeUtc: new Date().toISOString(),
            status: 'INVALID_REQUEST',
            reason: 'INVALID_DATA',
            message: 'Declined - One or more fields in the request contains invalid data',
          });
        }
        return json(201, { id: newCybersourceId(), status: 'PENDING', clientReferenceInformation: reference, orderInformation: { amountDetails: money } });
      }
      json(404, { reason: 'NOT_FOUND' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  config = testConfig({
    gateways: {
      cybs: {
        type: 'cybersource',
        base_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        ...requiredCredentials('cybersource'),
        merchant_account: '93B32398-AD51-4CC2-A682-EA3E93614EB1',
        timeout_ms: 2000,
      },
      // The same account, its processor declared to support authorization reversal after void (ARAV).
      'cybs-arav': {
        type: 'cybersource',
        base_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        ...requiredCredentials('cybersource'),
        merchant_account: '93B32398-AD51-4CC2-A682-EA3E93614EB1',
        timeout_ms: 2000,
        reverse_after_void: true,
      },
    },
  });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
  orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger: logs.logger });
  const recorder = newRecorder();
  service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger: logs.logger });
});

/** The recorder as the worker builds it: a hold a void left is released through orphan reversal. */
function newRecorder(): OutcomeRecorder {
  return new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger, releaseAfterVoid: releasingAfterVoid(orphans) });
}

afterAll(async () => {
  await deliveryQueue.close();
  await eventsQueue.close();
  redis.disconnect();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await purgeNamespace(config).catch(() => undefined);
});

async function delivered(command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  return id;
}

/** A succeeded authorize or sale at Cybersource of 50.00 USD, by a TMS token. */
async function paid(command: 'authorize' | 'sale', gateway = 'cybs'): Promise<PaymentCommand> {
  const auth = channelCommand(command, {}, { gateway, gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 5000, currency: 'USD' });
  await delivered(auth);
  return auth;
}

function dependent(command: PaymentCommand['command'], auth: PaymentCommand, payment: Partial<Payment> = {}): PaymentCommand {
  return channelCommand(
    command,
    {},
    {
      gateway: auth.payment.gateway,
      gateway_key: auth.payment.operation_reference!,
      order_id: auth.payment.order_id,
      amount: 5000,
      currency: 'USD',
      ...payment,
    },
  );
}

async function record(command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

/** The requests the stand-in received carrying `id` as merchant reference. */
function sentFor(id: string): Seen[] {
  return psp.seen.filter((s) => (s.body.clientReferenceInformation as { code?: string } | undefined)?.code === id);
}

async function pspId(id: string): Promise<string> {
  const reference = (await ledger.get(id))?.gatewayReference;
  expect(reference).toMatch(/^\d{22}$/);
  return reference!;
}

describe('Cybersource cancel of a captured payment: a void, not an authorization reversal', () => {
  it('voids a sale by its payment id, reports it cancelled, and counts and logs it where an operator looks', async () => {
    const sale = await paid('sale');
    const saleId = await pspId(sale.payment.operation_reference!);
    const before = await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'sale' });
    const cancelId = await delivered(dependent('cancel', sale));
    expect(sentFor(cancelId).map((s) => `${s.method} ${s.url}`)).toEqual([`POST /pts/v2/payments/${saleId}/voids`]);
    expect(sentFor(cancelId)[0].body).toEqual({ clientReferenceInformation: { code: cancelId } });
    expect((await ledger.get(cancelId))?.gatewayStatus).toBe('VOIDED');
    expect((await events.load(`${cancelId}.SUCCEEDED`))?.params.payment).toMatchObject({ status: 'SUCCESS', amount: 5000, currency: 'USD' });
    expect(await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'sale' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('cancel of a captured payment') && l.includes(cancelId) && l.includes('"captured_by":"sale"'))).toBe(true);
  });

  it('voids the sale the same way when the cancel names it by its Cybersource id', async () => {
    const sale = await paid('sale');
    const saleId = await pspId(sale.payment.operation_reference!);
    const cancelId = await delivered(dependent('cancel', sale, { gateway_key: saleId }));
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/payments/${saleId}/voids`]);
  });

  it("voids a separately captured authorization's capture by the capture's id", async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth));
    const capturePspId = await pspId(captureId);
    const before = await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'capture' });
    const cancelId = await delivered(dependent('cancel', auth));
    expect(sentFor(cancelId).map((s) => `${s.method} ${s.url}`)).toEqual([`POST /pts/v2/captures/${capturePspId}/voids`]);
    expect(await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'capture' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('cancel of a captured payment') && l.includes(cancelId) && l.includes(captureId))).toBe(true);
  });

  it('names in the cancelled event the capture its void undid', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth));
    const cancelId = await delivered(dependent('cancel', auth));
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: captureId, command: 'capture', hold: 'left' });
    const payment = (await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(payment.gateway_response).toMatchObject({ status: 'VOIDED', voided: { operation_reference: captureId, command: 'capture' } });
    expect(payment.gateway_response).not.toHaveProperty('released');
  });

  it('still names the voided capture when its mark was set before a crash kept the cancel from recording its success', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth));
    const cancelId = await record(dependent('cancel', auth));
    psp.rateLimitNextVoid = true;
    expect((await service.deliver(cancelId)).kind).toBe('retry');
    expect((await ledger.markUndoneByVoid(captureId, cancelId)).result).toBe('marked');
    const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
    await recorder.apply((await ledger.get(cancelId))!, { status: 'SUCCESS', gatewayStatus: 'payments.voids.accept' }, 'webhook');
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: captureId, command: 'capture', hold: 'left' });
  });

  it('still reverses an authorization nothing captured, with its amount', async () => {
    const auth = await paid('authorize');
    const authId = await pspId(auth.payment.operation_reference!);
    const cancelId = await delivered(dependent('cancel', auth));
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/payments/${authId}/reversals`]);
    expect(sentFor(cancelId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '50.00', currency: 'USD' }, reason: 'cancel' });
    const payment = (await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(payment.gateway_response).toMatchObject({ status: 'REVERSED', released: { amount: 5000, currency: 'USD', of: 'authorization' } });
  });

  it('a retry after the first attempt was held back voids the same capture again (never a reversal)', async () => {
    const auth = await paid('authorize');
    const capturePspId = await pspId(await delivered(dependent('capture', auth)));
    const cancelId = await record(dependent('cancel', auth));
    psp.rateLimitNextVoid = true;
    expect((await service.deliver(cancelId)).kind).toBe('retry');
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/captures/${capturePspId}/voids`, `/pts/v2/captures/${capturePspId}/voids`]);
  });

  it("Cybersource's refusal of a void once settled (NOT_VOIDABLE) fails the cancel for good, naming why", async () => {
    const auth = await paid('authorize');
    const capturePspId = await pspId(await delivered(dependent('capture', auth)));
    psp.settled.add(capturePspId);
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(1);
    expect((await ledger.get(cancelId))?.reason).toBe('NOT_VOIDABLE');
    const event = (await events.load(`${cancelId}.FAILED`))?.params.payment;
    expect(event).toMatchObject({ status: 'FAIL', reason: 'NOT_VOIDABLE', decline: { category: 'operation_not_permitted', gateway_code: 'NOT_VOIDABLE' } });
    // Decided: delivering it again sends nothing.
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(1);
  });

  it('refuses, unsent, a cancel of an authorization two captures took in full, naming the field; the captures stand and a refund returns the money', async () => {
    const auth = await paid('authorize');
    const first = await delivered(dependent('capture', auth, { amount: 2000 }));
    const second = await delivered(dependent('capture', auth, { amount: 3000 }));
    const before = await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'several_captures' });
    const refusal = { gateway: 'cybs', captured_by: 'several_captures', outcome: 'refused', reason: 'SEVERAL_CAPTURES_TO_VOID' };
    const refused = await metricValue('pb_cancels_of_captured_total', refusal);
    const voids = await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'capture' });
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'SEVERAL_CAPTURES_TO_VOID', reasonField: 'payment.gateway_key' });
    expect((await events.load(`${cancelId}.FAILED`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason: 'SEVERAL_CAPTURES_TO_VOID',
      field: 'payment.gateway_key',
      decline: { category: 'operation_not_permitted' },
    });
    // Counted as what it is (not as a void sent), with the captures named where an operator looks.
    expect(await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'several_captures' })).toBe(before + 1);
    expect(await metricValue('pb_cancels_of_captured_total', refusal)).toBe(refused + 1);
    expect(await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'capture' })).toBe(voids);
    expect(
      logs.lines.some(
        (l) => l.includes('cancel of an authorization several captures took in full') && l.includes(cancelId) && l.includes(`${first},${second}`),
      ),
    ).toBe(true);
    expect(logs.lines.some((l) => l.includes('gateway refused the operation for good') && l.includes(cancelId) && l.includes('payment.gateway_key'))).toBe(
      true,
    );
    // Nothing voided or marked: both captures still count, and the refund the refusal points to is sent.
    expect((await ledger.get(first))?.undoneBy).toBeUndefined();
    expect((await ledger.get(second))?.undoneBy).toBeUndefined();
    const refundId = await record(dependent('refund', auth, { amount: 5000 }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  });

  it("a cancel refused unsent on a stale read that loses to another worker's send is neither counted nor logged as refused: that worker's attempt stands", async () => {
    const auth = await paid('authorize');
    await delivered(dependent('capture', auth, { amount: 2000 }));
    await delivered(dependent('capture', auth, { amount: 3000 }));
    const refusal = { gateway: 'cybs', captured_by: 'several_captures', outcome: 'refused', reason: 'SEVERAL_CAPTURES_TO_VOID' };
    const refused = await metricValue('pb_cancels_of_captured_total', refusal);
    const cancelId = await record(dependent('cancel', auth));
    // Read RECEIVED; meanwhile another worker (another release) sends it.
    const read = (await ledger.get(cancelId))!;
    expect((await ledger.transition(cancelId, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true })).applied).toBe(true);
    expect(await service.deliver(read)).toEqual({ kind: 'done', state: 'SENT' });
    expect(await events.load(`${cancelId}.FAILED`)).toBeNull();
    expect(await metricValue('pb_cancels_of_captured_total', refusal)).toBe(refused);
    expect(logs.lines.filter((l) => l.includes('cancel of an authorization several captures took in full') && l.includes(cancelId))).toEqual([]);
    expect(logs.lines.some((l) => l.includes('refusal not recorded: another worker moved the operation meanwhile') && l.includes(cancelId))).toBe(true);
  });

  it('counts and logs any other refusal unsent as refused with its reason (a capture with no Cybersource id on record), never as a void asked for', async () => {
    const auth = await paid('authorize');
    psp.nextCaptureWithoutId = true;
    const captureId = await delivered(dependent('capture', auth, { amount: 5000 }));
    expect((await ledger.get(captureId))?.gatewayReference).toBeUndefined();
    const labels = { gateway: 'cybs', captured_by: 'capture' };
    const before = await metricValue('pb_cancels_of_captured_total', { ...labels, outcome: 'refused', reason: 'CAPTURE_REFERENCE_MISSING' });
    const sent = await metricValue('pb_cancels_of_captured_total', { ...labels, outcome: 'sent' });
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect((await ledger.get(cancelId))?.reason).toBe('CAPTURE_REFERENCE_MISSING');
    expect(await metricValue('pb_cancels_of_captured_total', { ...labels, outcome: 'refused', reason: 'CAPTURE_REFERENCE_MISSING' })).toBe(before + 1);
    expect(await metricValue('pb_cancels_of_captured_total', { ...labels, outcome: 'sent' })).toBe(sent);
    const lines = logs.lines.filter((l) => l.includes(cancelId) && l.includes('cancel of a captured payment'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('refused unsent (CAPTURE_REFERENCE_MISSING)');
    expect(lines[0]).toContain(captureId);
  });

  it('a voided sale no longer counts as captured: marked undone by the cancel, a refund of it refused unsent', async () => {
    const sale = await paid('sale');
    const saleOp = sale.payment.operation_reference!;
    const before = await metricValue('pb_captures_undone_total', { gateway: 'cybs', command: 'sale', by: 'void' });
    const cancelId = await delivered(dependent('cancel', sale));
    expect((await ledger.get(saleOp))?.undoneBy).toBe(cancelId);
    expect(await metricValue('pb_captures_undone_total', { gateway: 'cybs', command: 'sale', by: 'void' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('capture voided by a cancel') && l.includes(saleOp) && l.includes(cancelId))).toBe(true);
    expect((await ledger.interactions(saleOp)).some((i) => i.event === 'undone' && i.by === cancelId && i.kind === 'void')).toBe(true);
    const refundId = await record(dependent('refund', sale, { amount: 1 }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(refundId))?.reason).toBe('amount_exceeds_captured');
    expect(sentFor(refundId)).toHaveLength(0);
  });

  it('a voided capture no longer counts as captured: marked undone by the cancel, a refund of the authorization refused unsent', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth));
    const before = await metricValue('pb_captures_undone_total', { gateway: 'cybs', command: 'capture', by: 'void' });
    const cancelId = await delivered(dependent('cancel', auth));
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect(await metricValue('pb_captures_undone_total', { gateway: 'cybs', command: 'capture', by: 'void' })).toBe(before + 1);
    // The authorization itself is closed by the cancel, not marked undone.
    expect((await ledger.get(auth.payment.operation_reference!))?.undoneBy).toBeUndefined();
    const refundId = await record(dependent('refund', auth, { amount: 1 }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(refundId))?.reason).toBe('amount_exceeds_captured');
    expect(sentFor(refundId)).toHaveLength(0);
  });

  it("the void's webhook (payments.voids.accept) marks the capture undone the same way, once", async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth));
    const cancelId = await record(dependent('cancel', auth));
    psp.rateLimitNextVoid = true;
    expect((await service.deliver(cancelId)).kind).toBe('retry');
    const before = await metricValue('pb_captures_undone_total', { gateway: 'cybs', command: 'capture', by: 'void' });
    const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
    const accept = { status: 'SUCCESS' as const, gatewayStatus: 'payments.voids.accept' };
    expect((await recorder.apply((await ledger.get(cancelId))!, accept, 'webhook')).state).toBe('SUCCEEDED');
    // Told again (a repeated webhook): the mark stands, counted once.
    await recorder.apply((await ledger.get(cancelId))!, accept, 'webhook');
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect(await metricValue('pb_captures_undone_total', { gateway: 'cybs', command: 'capture', by: 'void' })).toBe(before + 1);
    const refundId = await record(dependent('refund', auth, { amount: 5000 }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(refundId))?.reason).toBe('amount_exceeds_captured');
  });

  it('a reversal of the authorization marks nothing, even when a capture succeeded while it was in flight', async () => {
    const auth = await paid('authorize');
    // The cancel was sent as a reversal (nothing captured then, its answer held back); a capture then succeeds.
    const cancelId = await record(dependent('cancel', auth));
    psp.rateLimitNextReversal = true;
    expect((await service.deliver(cancelId)).kind).toBe('retry');
    const captureId = await record(dependent('capture', auth));
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
    for (const gatewayStatus of ['REVERSED', 'payments.reversals.accept']) {
      await recorder.apply((await ledger.get(cancelId))!, { status: 'SUCCESS', gatewayStatus }, 'webhook');
    }
    expect((await ledger.get(cancelId))?.state).toBe('SUCCEEDED');
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
  });

  it('a void Cybersource refused (NOT_VOIDABLE) marks nothing: the capture still counts, a refund of it is sent', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth));
    psp.settled.add(await pspId(captureId));
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    const refundId = await record(dependent('refund', auth, { amount: 5000 }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(refundId).map((s) => s.url)).toEqual([`/pts/v2/payments/${await pspId(auth.payment.operation_reference!)}/refunds`]);
  });
});

describe('Cybersource cancel of a partially captured authorization: the remainder released, no capture voided', () => {
  it('reverses what the capture left (50.00 authorized, 30.00 captured: 20.00), keeps the capture, and says so', async () => {
    const auth = await paid('authorize');
    const authPspId = await pspId(auth.payment.operation_reference!);
    const captureId = await delivered(dependent('capture', auth, { amount: 3000 }));
    const before = await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'partial_capture' });
    const undoneBefore = await metricValue('pb_captures_undone_total', { gateway: 'cybs', command: 'capture', by: 'void' });
    const discrepanciesBefore = await metricValue('pb_psp_discrepancies_total', { gateway: 'cybs', field: 'amount' });
    const cancelId = await delivered(dependent('cancel', auth));
    expect(sentFor(cancelId).map((s) => `${s.method} ${s.url}`)).toEqual([`POST /pts/v2/payments/${authPspId}/reversals`]);
    expect(sentFor(cancelId)[0].body).toEqual({
      clientReferenceInformation: { code: cancelId },
      reversalInformation: { amountDetails: { totalAmount: '20.00', currency: 'USD' }, reason: 'cancel' },
    });
    // The capture stands: not voided, not marked, counted as captured money (a refund of it is sent).
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    expect(await metricValue('pb_captures_undone_total', { gateway: 'cybs', command: 'capture', by: 'void' })).toBe(undoneBefore);
    expect(await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'partial_capture' })).toBe(before + 1);
    expect(
      logs.lines.some(
        (l) => l.includes('cancel of a partially captured authorization') && l.includes(cancelId) && l.includes(captureId) && l.includes('"remainder":2000'),
      ),
    ).toBe(true);
    // The event says what it released; the remainder it asked is what the PSP confirmed: no discrepancy.
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ released: 'remainder', amount: 2000, currency: 'USD' });
    const payment = (await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({
      status: 'SUCCESS',
      amount: 2000,
      currency: 'USD',
      requested_amount: 5000,
      reason: null,
      gateway_response: { status: 'REVERSED', released: { amount: 2000, currency: 'USD', of: 'uncaptured_remainder' } },
    });
    expect(payment).not.toHaveProperty('discrepancy');
    expect(await metricValue('pb_psp_discrepancies_total', { gateway: 'cybs', field: 'amount' })).toBe(discrepanciesBefore);
    const refundId = await record(dependent('refund', auth, { amount: 3000 }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(refundId).map((s) => s.url)).toEqual([`/pts/v2/payments/${authPspId}/refunds`]);
  });

  it('releases what two partial captures left instead of refusing the cancel', async () => {
    const auth = await paid('authorize');
    const authPspId = await pspId(auth.payment.operation_reference!);
    const first = await delivered(dependent('capture', auth, { amount: 1000 }));
    const second = await delivered(dependent('capture', auth, { amount: 1500 }));
    const cancelId = await delivered(dependent('cancel', auth));
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/payments/${authPspId}/reversals`]);
    expect(sentFor(cancelId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '25.00', currency: 'USD' }, reason: 'cancel' });
    expect((await ledger.get(first))?.undoneBy).toBeUndefined();
    expect((await ledger.get(second))?.undoneBy).toBeUndefined();
  });

  it('marks no capture undone whatever status the outcome names (a status inquiry names no reversal), and the released event stands', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth, { amount: 3000 }));
    const cancelId = await record(dependent('cancel', auth));
    psp.rateLimitNextReversal = true;
    expect((await service.deliver(cancelId)).kind).toBe('retry');
    const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
    const before = await metricValue('pb_captures_undone_total', { gateway: 'cybs', command: 'capture', by: 'void' });
    // What a transaction search reports for a request it lists no status of: its reply flag.
    expect((await recorder.apply((await ledger.get(cancelId))!, { status: 'SUCCESS', gatewayStatus: 'SOK' }, 'inquiry')).state).toBe('SUCCEEDED');
    await recorder.apply((await ledger.get(cancelId))!, { status: 'SUCCESS', gatewayStatus: 'payments.voids.accept' }, 'webhook');
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    expect(await metricValue('pb_captures_undone_total', { gateway: 'cybs', command: 'capture', by: 'void' })).toBe(before);
    expect(((await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>).gateway_response).toMatchObject({
      released: { amount: 2000, currency: 'USD', of: 'uncaptured_remainder' },
    });
  });

  it("still voids the capture of a fully captured authorization (today's behaviour), counted as captured_by capture", async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth, { amount: 5000 }));
    const before = await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'partial_capture' });
    const voids = await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'capture' });
    const cancelId = await delivered(dependent('cancel', auth, { amount: 2000 }));
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/captures/${await pspId(captureId)}/voids`]);
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect(await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'partial_capture' })).toBe(before);
    expect(await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'capture' })).toBe(voids + 1);
  });
});

describe('Cybersource cancel while a capture of its authorization is in flight: it waits for the capture, then releases what it left', () => {
  /** A capture of `amount` sent, its answer held back: in flight (SENT), to be retried. */
  async function captureInFlight(auth: PaymentCommand, amount: number): Promise<string> {
    const id = await record(dependent('capture', auth, { amount }));
    psp.rateLimitNextCapture = true;
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('SENT');
    return id;
  }

  it('sends nothing while the capture is in flight (counted, logged, in its history), then reverses only what the capture left', async () => {
    const auth = await paid('authorize');
    const authPspId = await pspId(auth.payment.operation_reference!);
    const captureId = await captureInFlight(auth, 3000);
    const before = await metricValue('pb_dependents_waiting_total', { gateway: 'cybs', command: 'cancel' });
    const cancelId = await record(dependent('cancel', auth));
    const step = await service.deliver(cancelId);
    expect(step).toMatchObject({ kind: 'wait' });
    expect(step.kind === 'wait' && step.reason).toContain(captureId);
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect((await ledger.get(cancelId))?.state).toBe('RECEIVED');
    expect(await metricValue('pb_dependents_waiting_total', { gateway: 'cybs', command: 'cancel' })).toBe(before + 2);
    const waits = logs.lines.filter((l) => l.includes('cancel waits for captures of its authorization in flight') && l.includes(cancelId));
    expect(waits).toHaveLength(1);
    expect(waits[0]).toContain(captureId);
    expect((await ledger.interactions(cancelId)).filter((i) => i.event === 'waiting_for_siblings')).toEqual([
      expect.objectContaining({ event: 'waiting_for_siblings', siblings: captureId }),
    ]);

    // The capture takes its 30.00 (the hold was not released under it), then the cancel releases the 20.00 left.
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/payments/${authPspId}/reversals`]);
    expect(sentFor(cancelId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '20.00', currency: 'USD' }, reason: 'cancel' });
    expect(psp.held.get(authPspId)).toBe(0);
    expect(((await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>).gateway_response).toMatchObject({
      released: { amount: 2000, currency: 'USD', of: 'uncaptured_remainder' },
    });
  });

  it('waits no longer than delivery.void_wait_max_ms for a capture in flight (it may stay UNRESOLVED for good): then refused unsent, WAIT_FOR_CAPTURES_EXPIRED', async () => {
    const auth = await paid('authorize');
    const captureId = await captureInFlight(auth, 3000);
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    const waits = await metricValue('pb_delivery_dependent_waits_total', { reason: 'captures_in_flight' });
    const at = (offset: number) =>
      new DeliveryService({
        config,
        ledger,
        router: new ConfiguredGatewayRouter(createGatewayClients(config)),
        recorder: newRecorder(),
        logger: logs.logger,
        now: () => Date.now() + offset,
      });
    expect(await at(config.delivery.voidWaitMaxMs - 60_000).deliver(cancelId)).toMatchObject({ kind: 'wait' });
    expect(await metricValue('pb_delivery_dependent_waits_total', { reason: 'captures_in_flight' })).toBe(waits + 1);
    const expired = await metricValue('pb_void_waits_expired_total', { gateway: 'cybs', awaiting: 'captures_in_flight' });
    expect(await at(config.delivery.voidWaitMaxMs + 60_000).deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'WAIT_FOR_CAPTURES_EXPIRED', reasonField: 'payment.gateway_key' });
    expect((await events.load(`${cancelId}.FAILED`))?.params.payment).toMatchObject({
      reason: 'WAIT_FOR_CAPTURES_EXPIRED',
      decline: { category: 'bridge_refused', suggested_action: 'contact_support' },
    });
    expect(await metricValue('pb_void_waits_expired_total', { gateway: 'cybs', awaiting: 'captures_in_flight' })).toBe(expired + 1);
    const line = logs.lines.find((l) => l.includes('operation refused against its authorization') && l.includes(cancelId));
    expect(line).toContain(`"siblings":"${captureId}"`);
    // The capture, in flight, is never refused by the bound: it goes on and takes its part.
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  });

  it('releases the whole hold when the capture it waited for fails after all (counting it as taken would have left it held)', async () => {
    const auth = await paid('authorize');
    const authPspId = await pspId(auth.payment.operation_reference!);
    const captureId = await captureInFlight(auth, 3000);
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    psp.refuseNextCapture = true;
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '50.00', currency: 'USD' }, reason: 'cancel' });
    expect(psp.held.get(authPspId)).toBe(0);
    expect(((await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>).gateway_response).toMatchObject({
      released: { amount: 5000, of: 'authorization' },
    });
  });

  it('also waits for a capture registered after it, sent while it waited; the captures never wait for the cancel', async () => {
    const auth = await paid('authorize');
    const first = await captureInFlight(auth, 3000);
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    const second = await captureInFlight(auth, 1500);
    expect(await service.deliver(first)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const step = await service.deliver(cancelId);
    expect(step.kind === 'wait' && step.reason).toContain(second);
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await service.deliver(second)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '5.00', currency: 'USD' }, reason: 'cancel' });
  });

  it('waits the same way when the cancel names the authorization by its Cybersource id', async () => {
    const auth = await paid('authorize');
    const authPspId = await pspId(auth.payment.operation_reference!);
    const captureId = await captureInFlight(auth, 3000);
    const cancelId = await record(dependent('cancel', auth, { gateway_key: authPspId }));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '20.00', currency: 'USD' }, reason: 'cancel' });
  });
});

describe('Cybersource cancel of a captured payment that refunds already give back in part: refused unsent, never a void (money back twice)', () => {
  /** The refusal every case below expects, unsent: reason, field, event, nothing voided. */
  async function refusedForRefunds(cancelId: string): Promise<void> {
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'CAPTURE_REFUNDED', reasonField: 'payment.gateway_key' });
    expect((await events.load(`${cancelId}.FAILED`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason: 'CAPTURE_REFUNDED',
      field: 'payment.gateway_key',
      decline: { category: 'operation_not_permitted' },
    });
  }

  /** A refund of `amount` sent, its answer held back: in flight (SENT), to be retried. */
  async function refundInFlight(paidFor: PaymentCommand, amount: number): Promise<string> {
    const id = await record(dependent('refund', paidFor, { amount }));
    psp.rateLimitNextRefund = true;
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('SENT');
    return id;
  }

  it('refuses the void of a fully captured capture refunded in part, counts and logs it as refused (naming the refunds), and lets a refund of the rest through', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth, { amount: 5000 }));
    const refundId = await delivered(dependent('refund', auth, { amount: 1500 }));
    const labels = { gateway: 'cybs', captured_by: 'capture' };
    const refusedBefore = await metricValue('pb_cancels_of_captured_total', { ...labels, outcome: 'refused', reason: 'CAPTURE_REFUNDED' });
    const sentBefore = await metricValue('pb_cancels_of_captured_total', { ...labels, outcome: 'sent' });
    const cancelId = await record(dependent('cancel', auth));
    await refusedForRefunds(cancelId);
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    // Counted and logged as what happened: refused, with its reason; never as a void asked for.
    expect(await metricValue('pb_cancels_of_captured_total', { ...labels, outcome: 'refused', reason: 'CAPTURE_REFUNDED' })).toBe(refusedBefore + 1);
    expect(await metricValue('pb_cancels_of_captured_total', { ...labels, outcome: 'sent' })).toBe(sentBefore);
    const lines = logs.lines.filter((l) => l.includes(cancelId) && l.includes('cancel of a captured payment'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('refused unsent (CAPTURE_REFUNDED)');
    expect(lines[0]).toContain(`"refund_ids":"${refundId}"`);
    expect(lines[0]).toContain('"refundable_amount":3500');
    expect(lines[0]).toContain('"outcome":"refused"');
    expect(logs.lines.some((l) => l.includes(cancelId) && l.includes('asked to undo the capture'))).toBe(false);
    // The way the refusal points to: a refund of the rest (35.00) is sent; no more than that.
    const over = await record(dependent('refund', auth, { amount: 3501 }));
    expect(await service.deliver(over)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(over))?.reason).toBe('amount_exceeds_captured');
    const rest = await record(dependent('refund', auth, { amount: 3500 }));
    expect(await service.deliver(rest)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  });

  it('counts a refund Cybersource made outside the bridge (its refund_outside_bridge standing) as one that gives back part: the void refused, the rest left net of it', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth, { amount: 5000 }));
    const authId = auth.payment.operation_reference!;
    await new AdjustmentStore(redis, config.redis.keyPrefix).recordAdjustment({
      operationId: authId,
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 1200,
      currency: 'USD',
      pspReference: '7000000000000000000001',
      gateway: 'cybs',
      pspEventId: `reconciliation:outside-${authId}`,
      source: 'reconciliation',
    });
    const cancelId = await record(dependent('cancel', auth));
    await refusedForRefunds(cancelId);
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    const line = logs.lines.find((l) => l.includes(cancelId) && l.includes('cancel of a captured payment'));
    expect(line).toContain('"refunded_outside_bridge":1200');
    expect(line).toContain('"refundable_amount":3800');
    // The rest the refusal names is what a refund of it may ask: 38.00, no more.
    const over = await record(dependent('refund', auth, { amount: 3801 }));
    expect(await service.deliver(over)).toEqual({ kind: 'done', state: 'FAILED' });
    const rest = await record(dependent('refund', auth, { amount: 3800 }));
    expect(await service.deliver(rest)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  });

  it('refuses the void of a sale refunded in part, the same way', async () => {
    const sale = await paid('sale');
    await delivered(dependent('refund', sale, { amount: 2000 }));
    const before = await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'sale', outcome: 'refused', reason: 'CAPTURE_REFUNDED' });
    const cancelId = await record(dependent('cancel', sale));
    await refusedForRefunds(cancelId);
    expect((await ledger.get(sale.payment.operation_reference!))?.undoneBy).toBeUndefined();
    expect(await metricValue('pb_cancels_of_captured_total', { gateway: 'cybs', captured_by: 'sale', outcome: 'refused', reason: 'CAPTURE_REFUNDED' })).toBe(
      before + 1,
    );
  });

  it('refuses it when the cancel names the authorization by its Cybersource id', async () => {
    const auth = await paid('authorize');
    await delivered(dependent('capture', auth, { amount: 5000 }));
    await delivered(dependent('refund', auth, { amount: 100 }));
    const cancelId = await record(dependent('cancel', auth, { gateway_key: await pspId(auth.payment.operation_reference!) }));
    await refusedForRefunds(cancelId);
  });

  it('waits, unsent, while a refund of the capture is in flight, and is refused once it succeeds', async () => {
    const auth = await paid('authorize');
    await delivered(dependent('capture', auth, { amount: 5000 }));
    const refundId = await refundInFlight(auth, 1000);
    const before = await metricValue('pb_dependents_waiting_total', { gateway: 'cybs', command: 'cancel' });
    const cancelId = await record(dependent('cancel', auth));
    const step = await service.deliver(cancelId);
    expect(step).toMatchObject({ kind: 'wait' });
    expect(step.kind === 'wait' && step.reason).toContain(refundId);
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect((await ledger.get(cancelId))?.state).toBe('RECEIVED');
    expect(await metricValue('pb_dependents_waiting_total', { gateway: 'cybs', command: 'cancel' })).toBe(before + 2);
    const waits = logs.lines.filter((l) => l.includes('cancel waits for refunds of the captured payment') && l.includes(cancelId));
    expect(waits).toHaveLength(1);
    expect(waits[0]).toContain(refundId);
    expect((await ledger.interactions(cancelId)).filter((i) => i.event === 'waiting_for_siblings')).toEqual([expect.objectContaining({ siblings: refundId })]);
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    await refusedForRefunds(cancelId);
  });

  it('voids the capture once the refund it waited for failed (it gave nothing back)', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth, { amount: 5000 }));
    const refundId = await refundInFlight(auth, 1000);
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    psp.refuseNextRefund = true;
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/captures/${await pspId(captureId)}/voids`]);
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
  });

  it('waits for a refund of a sale in flight the same way', async () => {
    const sale = await paid('sale');
    const refundId = await refundInFlight(sale, 1000);
    const cancelId = await record(dependent('cancel', sale));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    await refusedForRefunds(cancelId);
  });

  it('a cancel that releases what partial captures left is neither refused nor held by their refunds: it voids nothing', async () => {
    const auth = await paid('authorize');
    const authPspId = await pspId(auth.payment.operation_reference!);
    await delivered(dependent('capture', auth, { amount: 3000 }));
    await delivered(dependent('refund', auth, { amount: 1000 }));
    await refundInFlight(auth, 500);
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/payments/${authPspId}/reversals`]);
    expect(sentFor(cancelId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '20.00', currency: 'USD' }, reason: 'cancel' });
  });
});

describe('Cybersource cancel racing a refund or a capture: never a void and a refund of one payment, never two requests under one key', () => {
  /** Each check of a guard of a Cybersource cancel (`pb_cancel_void_guards_total`). */
  const guard = (name: string) => metricValue('pb_cancel_void_guards_total', { gateway: 'cybs', guard: name });

  /** A cancel whose first attempt (a void or reversal) was held back (429): SENT, to be retried under its key. */
  async function cancelRetrying(paidFor: PaymentCommand, hold: 'void' | 'reversal'): Promise<string> {
    const id = await record(dependent('cancel', paidFor));
    if (hold === 'void') psp.rateLimitNextVoid = true;
    else psp.rateLimitNextReversal = true;
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('SENT');
    return id;
  }

  it('a refund registered while the void of the capture is retried waits for it, unsent; the void goes and the refund is then refused (money never back twice)', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth, { amount: 5000 }));
    const cancelId = await cancelRetrying(auth, 'void');
    const before = await guard('refund_waits_for_void');
    const refundId = await record(dependent('refund', auth, { amount: 1000 }));
    const step = await service.deliver(refundId);
    expect(step).toMatchObject({ kind: 'wait' });
    expect(step.kind === 'wait' && step.reason).toContain(cancelId);
    expect(sentFor(refundId)).toHaveLength(0);
    expect((await ledger.get(refundId))?.state).toBe('RECEIVED');
    expect(await guard('refund_waits_for_void')).toBe(before + 1);
    const waits = logs.lines.filter((l) => l.includes('refund waits for a cancel that would void the captured payment') && l.includes(refundId));
    expect(waits).toHaveLength(1);
    expect(waits[0]).toContain(cancelId);
    expect((await ledger.interactions(refundId)).filter((i) => i.event === 'waiting_for_siblings')).toEqual([expect.objectContaining({ siblings: cancelId })]);

    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([
      `/pts/v2/captures/${await pspId(captureId)}/voids`,
      `/pts/v2/captures/${await pspId(captureId)}/voids`,
    ]);
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(refundId))?.reason).toBe('amount_exceeds_captured');
    expect(sentFor(refundId)).toHaveLength(0);
  });

  it('a refund that waited for refunds ahead of it, then for a cancel that would void what it refunds, has each wait bounded from its own start (WAIT_FOR_VOID_EXPIRED a whole bound after its void wait began)', async () => {
    const auth = await paid('authorize');
    await delivered(dependent('capture', auth, { amount: 5000 }));
    const hour = 3_600_000;
    const at = (offset: number) =>
      new DeliveryService({
        config,
        ledger,
        router: new ConfiguredGatewayRouter(createGatewayClients(config)),
        recorder: newRecorder(),
        logger: logs.logger,
        now: () => Date.now() + offset,
      });
    // A refund in flight, a cancel behind it (it waits for that refund), and a refund of 3000 behind both.
    const early = await record(dependent('refund', auth, { amount: 3000 }));
    psp.rateLimitNextRefund = true;
    expect((await service.deliver(early)).kind).toBe('retry');
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    const refundId = await record(dependent('refund', auth, { amount: 3000 }));
    // First it waits for the refund ahead of it (both would give back more than was captured)…
    const first = await service.deliver(refundId);
    expect(first.kind === 'wait' && first.reason).toContain(early);
    // …which fails 20 hours later: now it waits for the cancel, which would void what it refunds.
    await ledger.transition(early, 'FAILED', { event: 'outcome', source: 'response' }, { reason: 'INVALID_DATA' });
    const second = await at(20 * hour).deliver(refundId);
    expect(second.kind === 'wait' && second.reason).toContain(cancelId);
    // 25 hours after its first wait, 5 after its wait for the void began: still waiting (it was refused here).
    expect(await at(25 * hour).deliver(refundId)).toMatchObject({ kind: 'wait' });
    expect((await ledger.get(refundId))?.state).toBe('RECEIVED');
    // A whole bound after the void wait began: refused unsent, naming the cancel it waited for.
    expect(await at(20 * hour + config.delivery.voidWaitMaxMs + 60_000).deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(refundId)).toMatchObject({ reason: 'WAIT_FOR_VOID_EXPIRED' });
    expect(sentFor(refundId)).toHaveLength(0);
    const line = logs.lines.find((l) => l.includes('operation refused against its authorization') && l.includes(refundId));
    expect(line).toContain(`"siblings":"${cancelId}"`);
    // Each wait's first check is in its history.
    expect((await ledger.interactions(refundId)).filter((i) => i.event === 'waiting_for_siblings').map((i) => i.awaiting)).toEqual(['siblings', 'void']);
  });

  it('the same for a refund of a sale whose void is retried', async () => {
    const sale = await paid('sale');
    const cancelId = await cancelRetrying(sale, 'void');
    const refundId = await record(dependent('refund', sale, { amount: 1000 }));
    expect(await service.deliver(refundId)).toMatchObject({ kind: 'wait' });
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(refundId)).toHaveLength(0);
  });

  it('the same for a refund naming the sale by its Cybersource id', async () => {
    const sale = await paid('sale');
    const cancelId = await cancelRetrying(sale, 'void');
    const refundId = await record(dependent('refund', sale, { amount: 1000, gateway_key: await pspId(sale.payment.operation_reference!) }));
    const step = await service.deliver(refundId);
    expect(step.kind === 'wait' && step.reason).toContain(cancelId);
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(refundId)).toHaveLength(0);
  });

  it('the refund goes once the void it waited for failed (NOT_VOIDABLE: the capture stands)', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth, { amount: 5000 }));
    const cancelId = await cancelRetrying(auth, 'void');
    const refundId = await record(dependent('refund', auth, { amount: 1000 }));
    expect(await service.deliver(refundId)).toMatchObject({ kind: 'wait' });
    psp.settled.add(await pspId(captureId));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  });

  it('a refund registered after a cancel that waits for an earlier refund waits for the cancel; the cancel waits for the earlier one only (never for each other)', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth, { amount: 5000 }));
    const early = await record(dependent('refund', auth, { amount: 1000 }));
    psp.rateLimitNextRefund = true;
    expect((await service.deliver(early)).kind).toBe('retry');
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    const late = await record(dependent('refund', auth, { amount: 2000 }));
    const step = await service.deliver(late);
    expect(step.kind === 'wait' && step.reason).toContain(cancelId);
    const cancelStep = await service.deliver(cancelId);
    expect(cancelStep.kind === 'wait' && cancelStep.reason).toContain(early);
    expect(cancelStep.kind === 'wait' && cancelStep.reason).not.toContain(late);
    // The earlier refund fails (it gave nothing): the void goes, and the later refund is then refused unsent.
    psp.refuseNextRefund = true;
    expect(await service.deliver(early)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/captures/${await pspId(captureId)}/voids`]);
    expect(await service.deliver(late)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(late)).toHaveLength(0);
  });

  it('a refund of a payment whose cancel releases a remainder (voids nothing) does not wait for it', async () => {
    const auth = await paid('authorize');
    await delivered(dependent('capture', auth, { amount: 3000 }));
    const cancelId = await cancelRetrying(auth, 'reversal');
    const refundId = await record(dependent('refund', auth, { amount: 1000 }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  });

  it('a cancel waits for a capture accepted before it but not yet delivered (on record, not yet registered), then releases what it left', async () => {
    const auth = await paid('authorize');
    const authPspId = await pspId(auth.payment.operation_reference!);
    const captureId = await record(dependent('capture', auth, { amount: 3000 }));
    const before = await guard('capture_not_yet_delivered');
    const cancelId = await record(dependent('cancel', auth));
    const step = await service.deliver(cancelId);
    expect(step).toMatchObject({ kind: 'wait' });
    expect(step.kind === 'wait' && step.reason).toContain(captureId);
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await guard('capture_not_yet_delivered')).toBe(before + 1);
    expect(
      logs.lines.some((l) => l.includes('cancel waits for captures of its authorization in flight') && l.includes(cancelId) && l.includes(captureId)),
    ).toBe(true);
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/payments/${authPspId}/reversals`]);
    expect(sentFor(cancelId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '20.00', currency: 'USD' }, reason: 'cancel' });
  });

  it('a retry sends what its first attempt sent under the same key, though a capture succeeded in between; the change is counted and logged', async () => {
    const auth = await paid('authorize');
    const cancelId = await cancelRetrying(auth, 'reversal');
    const captureId = await delivered(dependent('capture', auth, { amount: 3000 }));
    const before = await guard('retry_reading_changed');
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const sent = sentFor(cancelId);
    expect(sent).toHaveLength(2);
    expect(sent[1].url).toBe(sent[0].url);
    expect(sent[1].body).toEqual(sent[0].body);
    expect(sent[1].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '50.00', currency: 'USD' }, reason: 'cancel' });
    expect(await guard('retry_reading_changed')).toBe(before + 1);
    const lines = logs.lines.filter((l) => l.includes('cancel retried with the request of its first attempt') && l.includes(cancelId));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(captureId);
    // What it did is read as it was sent: a release of the hold, no capture voided.
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ released: 'hold' });
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    // The reading it was built on is on its record, written with its first attempt.
    expect((await ledger.get(cancelId))?.cancelBasis).toEqual({ captured: null });
  });

  it('a retry waiting behind an open circuit is not counted as sent on a changed reading; the step past the breaker is, once', async () => {
    const auth = await paid('authorize');
    const cancelId = await cancelRetrying(auth, 'reversal');
    await delivered(dependent('capture', auth, { amount: 3000 }));
    const before = await guard('retry_reading_changed');
    const breaker = service.breaker('cybs');
    for (let i = 0; i < config.delivery.breakerFailureThreshold; i += 1) breaker.failure();
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait', reason: 'circuit open for cybs' });
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait', reason: 'circuit open for cybs' });
    expect(await guard('retry_reading_changed')).toBe(before);
    breaker.success();
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await guard('retry_reading_changed')).toBe(before + 1);
  });
});

/**
 * The reversal of the hold a void of capture `captureId` left on authorization `authOp`: on record as a cancel of the
 * bridge's own, queued for delivery, and named by cancel `cancelId`'s effect.
 */
async function expectHoldReversalQueued(authOp: string, cancelId: string, captureId: string): Promise<void> {
  const reversalId = reversalAfterVoidId(authOp);
  expect(await ledger.get(reversalId)).toMatchObject({
    state: 'RECEIVED',
    command: 'cancel',
    channel: 'bridge',
    payment: { gateway: 'cybs-arav', gateway_key: authOp, amount: 5000, currency: 'USD', orphan_reversal: 'void_left_hold' },
  });
  expect(await deliveryQueue.getJob(bullJobId(reversalId))).toBeDefined();
  expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: captureId, command: 'capture', hold: 'releasing', reversal: reversalId });
}

describe("Cybersource void of a capture or sale: the authorization's hold it leaves (authorization reversal after void)", () => {
  /** The JSON lines logged with `message` about operation `id`. */
  function loggedLines(message: string, id: string): Record<string, unknown>[] {
    return logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === message && l.operation_id === id);
  }

  it('with reverse_after_void on: the capture voided, then one reversal of the whole authorization, never a second void', async () => {
    const auth = await paid('authorize', 'cybs-arav');
    const authOp = auth.payment.operation_reference!;
    const authPspId = await pspId(authOp);
    const captureId = await delivered(dependent('capture', auth));
    const capturePspId = await pspId(captureId);
    const requested = await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'requested' });
    const reversed = await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'reversed' });
    const cancelId = await delivered(dependent('cancel', auth));
    expect(sentFor(cancelId).map((s) => `${s.method} ${s.url}`)).toEqual([`POST /pts/v2/captures/${capturePspId}/voids`]);

    // Its reversal is a cancel of its own, on record and queued with the void's success.
    const reversalId = reversalAfterVoidId(authOp);
    await expectHoldReversalQueued(authOp, cancelId, captureId);
    const payment = (await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(payment.gateway_response).toMatchObject({
      status: 'VOIDED',
      voided: { operation_reference: captureId, command: 'capture', hold: 'releasing', reversal_reference: reversalId },
    });
    expect(await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'requested' })).toBe(requested + 1);
    expect(loggedLines("capture voided; the authorization's hold is being released by a reversal after void", cancelId)).toHaveLength(1);

    // Delivered: a reversal of the authorization for what it held, by the authorization's id (the capture stands voided).
    expect(await service.deliver(reversalId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(reversalId).map((s) => `${s.method} ${s.url}`)).toEqual([`POST /pts/v2/payments/${authPspId}/reversals`]);
    expect(sentFor(reversalId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '50.00', currency: 'USD' }, reason: 'cancel' });
    expect((await ledger.get(reversalId))?.cancelEffect).toEqual({ released: 'hold' });
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect(await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'reversed' })).toBe(reversed + 1);
    const reversalEvent = (await events.load(`${reversalId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(reversalEvent).toMatchObject({ status: 'SUCCESS', orphan_reversal: 'void_left_hold', gateway_response: { released: { of: 'authorization' } } });

    // Run again (the step re-run, the void's webhook told again): nothing more is sent or requested.
    await newRecorder().apply((await ledger.get(cancelId))!, { status: 'SUCCESS', gatewayStatus: 'payments.voids.accept' }, 'webhook');
    expect(await service.deliver(reversalId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(reversalId)).toHaveLength(1);
    expect(psp.seen.filter((s) => s.url === `/pts/v2/captures/${capturePspId}/voids`)).toHaveLength(1);
    expect(await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'requested' })).toBe(requested + 1);
  });

  it('a crash after the reversal was written, before the void was recorded, loses nothing and requests nothing twice', async () => {
    const auth = await paid('authorize', 'cybs-arav');
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(dependent('capture', auth));
    const cancelId = await record(dependent('cancel', auth));
    psp.rateLimitNextVoid = true;
    expect((await service.deliver(cancelId)).kind).toBe('retry');
    // The first run of the void's outcome: the capture marked, the reversal written; then the process died, its job lost.
    expect((await ledger.markUndoneByVoid(captureId, cancelId)).result).toBe('marked');
    const reversalId = reversalAfterVoidId(authOp);
    expect((await orphans.requestAfterVoid((await ledger.get(cancelId))!, authOp)).outcome).toBe('voided');
    await deliveryQueue.remove(bullJobId(reversalId));
    expect(await deliveryQueue.getJob(bullJobId(reversalId))).toBeUndefined();
    // The outcome found again (its webhook): the cancel settles naming the same reversal, queued again.
    const settled = await newRecorder().apply((await ledger.get(cancelId))!, { status: 'SUCCESS', gatewayStatus: 'payments.voids.accept' }, 'webhook');
    expect(settled.state).toBe('SUCCEEDED');
    expect(settled.cancelEffect).toEqual({ voided: captureId, command: 'capture', hold: 'releasing', reversal: reversalId });
    expect(await deliveryQueue.getJob(bullJobId(reversalId))).toBeDefined();
    // Delivered twice (a job re-run): one reversal of the authorization.
    expect(await service.deliver(reversalId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(reversalId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(reversalId).map((s) => s.url)).toEqual([`/pts/v2/payments/${await pspId(authOp)}/reversals`]);
  });

  it('two recorders applying the same void outcome at once note the hold once: one reversal requested, counted and logged once', async () => {
    const auth = await paid('authorize', 'cybs-arav');
    const authOp = auth.payment.operation_reference!;
    await delivered(dependent('capture', auth));
    const cancelId = await record(dependent('cancel', auth));
    psp.rateLimitNextVoid = true;
    expect((await service.deliver(cancelId)).kind).toBe('retry');
    const requested = await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'requested' });
    // Both read the cancel before either recorded its outcome (a webhook and a status inquiry racing).
    const stale = (await ledger.get(cancelId))!;
    const outcome = { status: 'SUCCESS' as const, gatewayStatus: 'payments.voids.accept' };
    expect((await newRecorder().apply(stale, outcome, 'webhook')).state).toBe('SUCCEEDED');
    expect((await newRecorder().apply(stale, outcome, 'inquiry')).state).toBe('SUCCEEDED');
    expect(await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'requested' })).toBe(requested + 1);
    expect(loggedLines("capture voided; the authorization's hold is being released by a reversal after void", cancelId)).toHaveLength(1);
    expect(await ledger.get(reversalAfterVoidId(authOp))).toMatchObject({ state: 'RECEIVED', payment: { orphan_reversal: 'void_left_hold' } });
  });

  it("a sale's void leaves its authorization's hold too: reversed by the sale's id", async () => {
    const sale = await paid('sale', 'cybs-arav');
    const saleOp = sale.payment.operation_reference!;
    const salePspId = await pspId(saleOp);
    const cancelId = await delivered(dependent('cancel', sale));
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/payments/${salePspId}/voids`]);
    const reversalId = reversalAfterVoidId(saleOp);
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: saleOp, command: 'sale', hold: 'releasing', reversal: reversalId });
    expect(await service.deliver(reversalId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(reversalId).map((s) => s.url)).toEqual([`/pts/v2/payments/${salePspId}/reversals`]);
    expect(sentFor(reversalId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '50.00', currency: 'USD' }, reason: 'cancel' });
  });

  it('a reversal the processor refuses leaves the hold: said in a warn line and counted', async () => {
    const auth = await paid('authorize', 'cybs-arav');
    const authOp = auth.payment.operation_reference!;
    await delivered(dependent('capture', auth));
    const failed = await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'reversal_failed' });
    await delivered(dependent('cancel', auth));
    const reversalId = reversalAfterVoidId(authOp);
    psp.arav = false;
    try {
      expect(await service.deliver(reversalId)).toEqual({ kind: 'done', state: 'FAILED' });
    } finally {
      psp.arav = true;
    }
    expect(sentFor(reversalId)).toHaveLength(1);
    expect(await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'reversal_failed' })).toBe(failed + 1);
    expect(loggedLines(HOLD_LEFT_MESSAGE, reversalId)).toEqual([
      expect.objectContaining({ level: 'warn', authorization_id: authOp, release: 'reversal_failed', why: 'the reversal after void failed' }),
    ]);
  });

  it('with reverse_after_void off (the default): no reversal; the event says the hold is left, a warn line and the metric say so', async () => {
    const auth = await paid('authorize');
    const authOp = auth.payment.operation_reference!;
    const authPspId = await pspId(authOp);
    const captureId = await delivered(dependent('capture', auth));
    const off = await metricValue('pb_holds_after_void_total', { gateway: 'cybs', release: 'off' });
    const cancelId = await delivered(dependent('cancel', auth));
    expect(await ledger.get(reversalAfterVoidId(authOp))).toBeNull();
    expect(psp.seen.filter((s) => s.url === `/pts/v2/payments/${authPspId}/reversals`)).toHaveLength(0);
    const payment = (await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(payment.gateway_response).toMatchObject({ voided: { operation_reference: captureId, command: 'capture', hold: 'left' } });
    expect(payment.gateway_response).not.toHaveProperty('voided.reversal_reference');
    expect(await metricValue('pb_holds_after_void_total', { gateway: 'cybs', release: 'off' })).toBe(off + 1);
    expect(loggedLines(HOLD_LEFT_MESSAGE, cancelId)).toEqual([
      expect.objectContaining({ level: 'warn', authorization_id: authOp, voided: captureId, release: 'off', why: 'gateways.cybs.reverse_after_void is off' }),
    ]);
  });

  it('a cancel that reversed the hold itself (nothing captured) or released what partial captures left asks for no reversal after void', async () => {
    const auth = await paid('authorize', 'cybs-arav');
    const partial = await paid('authorize', 'cybs-arav');
    await delivered(dependent('capture', partial, { amount: 3000 }));
    await delivered(dependent('cancel', auth));
    await delivered(dependent('cancel', partial));
    expect(await ledger.get(reversalAfterVoidId(auth.payment.operation_reference!))).toBeNull();
    expect(await ledger.get(reversalAfterVoidId(partial.payment.operation_reference!))).toBeNull();
  });
});

describe('Cybersource cancel recorded FAILED that the PSP did after all (succeeded_after_failure): what it did is recorded and told', () => {
  /** The PSP's success of `cancelId`, recorded as its webhook (`payments.voids.accept`…) or a reconciliation line records it. */
  async function doneAfterAll(cancelId: string, reason: string, amount = 5000, gateway = 'cybs') {
    const adjustments = new AdjustmentRecorder({
      config,
      store: new AdjustmentStore(redis, config.redis.keyPrefix),
      recorder: newRecorder(),
      ledger,
      logger: logs.logger,
    });
    const op = (await ledger.get(cancelId))!;
    expect(op.state).toBe('FAILED');
    const input = {
      kind: 'succeeded_after_failure' as const,
      direction: 'credit' as const,
      amount,
      currency: 'USD',
      reason,
      gateway,
      pspEventId: `evt_late_${cancelId}`,
      source: 'webhook' as const,
    };
    const { adjustment } = await adjustments.recordAdjustment(op, input);
    const event = await events.load(adjustmentEventId(cancelId, adjustment.id));
    const again = async () => adjustments.recordAdjustment((await ledger.get(cancelId))!, input);
    return { again, payment: event?.params.payment as Record<string, unknown> };
  }

  it('a void refused (NOT_VOIDABLE) that Cybersource did after all: the capture is marked undone, the cancel names it, and the OMS hears it voided, not released', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth));
    psp.settled.add(await pspId(captureId));
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    const before = await metricValue('pb_late_cancel_effects_total', { gateway: 'cybs', effect: 'voided' });
    const { again, payment } = await doneAfterAll(cancelId, 'payments.voids.accept');
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: captureId, command: 'capture', hold: 'left' });
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect(payment.gateway_response).toMatchObject({ voided: { operation_reference: captureId, command: 'capture', hold: 'left' } });
    expect(payment.gateway_response).not.toHaveProperty('released');
    expect(await metricValue('pb_late_cancel_effects_total', { gateway: 'cybs', effect: 'voided' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('cancel recorded FAILED that the PSP did after all') && l.includes(cancelId))).toBe(true);
    // Told again (a repeated webhook): the effect recorded stands, counted once.
    await again();
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: captureId, command: 'capture', hold: 'left' });
    expect(await metricValue('pb_late_cancel_effects_total', { gateway: 'cybs', effect: 'voided' })).toBe(before + 1);
    // The voided capture no longer counts as captured: a refund of it is refused unsent.
    const refundId = await record(dependent('refund', auth, { amount: 5000 }));
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(refundId))?.reason).toBe('amount_exceeds_captured');
  });

  it("with reverse_after_void on, a void recorded FAILED that Cybersource did after all requests the hold's reversal once: recorded on the cancel, told, delivered", async () => {
    const auth = await paid('authorize', 'cybs-arav');
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(dependent('capture', auth));
    psp.settled.add(await pspId(captureId));
    const cancelId = await record(dependent('cancel', auth));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    const reversalId = reversalAfterVoidId(authOp);
    expect(await ledger.get(reversalId)).toBeNull();
    const requested = await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'requested' });
    const voided = await metricValue('pb_late_cancel_effects_total', { gateway: 'cybs-arav', effect: 'voided' });
    const { again, payment } = await doneAfterAll(cancelId, 'payments.voids.accept', 5000, 'cybs-arav');
    // The void left the authorization's hold: its reversal is on record and queued, and the cancel names it.
    await expectHoldReversalQueued(authOp, cancelId, captureId);
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect(payment.gateway_response).toMatchObject({
      voided: { operation_reference: captureId, command: 'capture', hold: 'releasing', reversal_reference: reversalId },
    });
    expect(await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'requested' })).toBe(requested + 1);
    expect(await metricValue('pb_late_cancel_effects_total', { gateway: 'cybs-arav', effect: 'voided' })).toBe(voided + 1);
    const logged = logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.message === "capture voided; the authorization's hold is being released by a reversal after void" && l.operation_id === cancelId);
    expect(logged).toHaveLength(1);
    // Told again (a repeated webhook): nothing requested again.
    await again();
    expect(await metricValue('pb_holds_after_void_total', { gateway: 'cybs-arav', release: 'requested' })).toBe(requested + 1);
    // Delivered: one reversal of the whole authorization by its Cybersource id.
    expect(await service.deliver(reversalId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(reversalId).map((s) => `${s.method} ${s.url}`)).toEqual([`POST /pts/v2/payments/${await pspId(authOp)}/reversals`]);
    expect(sentFor(reversalId)[0].body.reversalInformation).toEqual({ amountDetails: { totalAmount: '50.00', currency: 'USD' }, reason: 'cancel' });
  });

  it('a reversal recorded FAILED that Cybersource did after all: the OMS hears the hold released, with its amount, and no capture is marked', async () => {
    const auth = await paid('authorize');
    const cancelId = await record(dependent('cancel', auth));
    await ledger.transition(cancelId, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await newRecorder().apply((await ledger.get(cancelId))!, { status: 'FAIL', gatewayStatus: 'INVALID_REQUEST', reason: 'INVALID_DATA' }, 'response');
    const { payment } = await doneAfterAll(cancelId, 'payments.reversals.accept');
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ released: 'hold' });
    expect(payment.gateway_response).toMatchObject({ released: { amount: 5000, currency: 'USD', of: 'authorization' } });
    expect(payment.gateway_response).not.toHaveProperty('voided');
  });
});

describe("Cybersource answers dated by the PSP's time (submitTimeUtc)", () => {
  it('records a capture answered PENDING (a success) with psp_succeeded_at, the time Cybersource gave it', async () => {
    const auth = await paid('authorize');
    const from = Date.now();
    const captureId = await delivered(dependent('capture', auth));
    const to = Date.now();
    const at = (await ledger.get(captureId))?.pspSucceededAt;
    expect(at).toBeGreaterThanOrEqual(from);
    expect(at).toBeLessThanOrEqual(to);
    const history = await ledger.interactions(captureId);
    expect(history.some((h) => h.event === 'outcome' && h.psp_succeeded_at === new Date(at!).toISOString())).toBe(true);
  });
});

describe('Cybersource cancel naming a capture or refund by its Cybersource id: a void of that transaction, never a reversal of that id', () => {
  /** Delivers `cancelId` and checks it voided `named` by its Cybersource id at `/pts/v2/<path>/{id}/voids`, once, never a reversal. */
  async function voidedByPspId(cancelId: string, named: string, path: 'captures' | 'refunds'): Promise<void> {
    const namedPspId = await pspId(named);
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId).map((s) => `${s.method} ${s.url}`)).toEqual([`POST /pts/v2/${path}/${namedPspId}/voids`]);
    expect(sentFor(cancelId)[0].body).toEqual({ clientReferenceInformation: { code: cancelId } });
    expect(psp.seen.some((s) => s.url === `/pts/v2/payments/${namedPspId}/reversals`)).toBe(false);
    expect((await ledger.get(named))?.undoneBy).toBe(cancelId);
    const command = path === 'captures' ? 'capture' : 'refund';
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: named, command });
    const payment = (await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(payment.gateway_response).toMatchObject({ voided: { operation_reference: named, command } });
    // Delivered again: nothing sent again.
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId)).toHaveLength(1);
  }

  it("voids a partial capture named by its id (sent before as a reversal of the capture's id, then refused unsent)", async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth, { amount: 3000 }));
    await voidedByPspId(await record(dependent('cancel', auth, { gateway_key: await pspId(captureId) })), captureId, 'captures');
  });

  it('voids a capture that took all of it named by its id, as a cancel naming the authorization would', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth));
    await voidedByPspId(await record(dependent('cancel', auth, { gateway_key: await pspId(captureId) })), captureId, 'captures');
  });

  it('voids a refund named by its id (sent before as a void of the capture it refunded); the capture stands', async () => {
    const auth = await paid('authorize');
    const captureId = await delivered(dependent('capture', auth));
    const refundId = await delivered(dependent('refund', auth, { amount: 1000 }));
    await voidedByPspId(await record(dependent('cancel', auth, { gateway_key: await pspId(refundId) })), refundId, 'refunds');
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
  });

  it.each([400, 404] as const)(
    'a cancel naming an id unknown to us that Cybersource refuses (%i) fails once, for good, never retried nor reported cancelled',
    async (status) => {
      const auth = await paid('authorize');
      const unknownId = newCybersourceId();
      psp.unknown.set(unknownId, status);
      const cancelId = await record(dependent('cancel', auth, { gateway_key: unknownId }));
      expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/payments/${unknownId}/reversals`]);
      expect(await events.load(`${cancelId}.SUCCEEDED`)).toBeNull();
      expect((await events.load(`${cancelId}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL' });
      expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(sentFor(cancelId)).toHaveLength(1);
    },
  );
});

describe('a cancel voiding what was captured, its success recorded after a refund the PSP made outside the bridge: refunded beyond captured', () => {
  const alarms = () => metricValue('pb_refunded_beyond_captured_total', { gateway: 'cybs', cause: 'void_after_refund' });
  const alarmLines = (cancelId: string) =>
    logs.lines.filter((l) => l.includes('"alert":"refunded_beyond_captured"') && l.includes(cancelId)).map((l) => JSON.parse(l) as Record<string, unknown>);

  /** A refund of `amount` of `payment` that the PSP made outside the bridge (a Business Center refund), as reconciliation records it. */
  async function refundedOutside(paymentId: string, amount: number) {
    const recorder = new AdjustmentRecorder({
      config,
      store: new AdjustmentStore(redis, config.redis.keyPrefix),
      recorder: newRecorder(),
      ledger,
      logger: logs.logger,
    });
    const reference = newCybersourceId();
    return recorder.recordAdjustment((await ledger.get(paymentId))!, {
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount,
      currency: 'USD',
      gateway: 'cybs',
      pspReference: reference,
      pspEventId: `evt_outside_${reference}`,
      source: 'reconciliation',
    });
  }

  for (const command of ['sale', 'authorize'] as const) {
    it(`${command}: the void sent, the outside refund recorded (fit), then the void's success: alarm void_after_refund naming what it voided, once`, async () => {
      const payment = await paid(command);
      const paymentId = payment.payment.operation_reference!;
      const voidedId = command === 'sale' ? paymentId : await delivered(dependent('capture', payment));
      const cancelId = await record(dependent('cancel', payment));
      psp.rateLimitNextVoid = true;
      expect((await service.deliver(cancelId)).kind).toBe('retry');
      const { adjustment } = await refundedOutside(paymentId, 2000);
      expect(adjustment.refundedBeyondCaptured).toBeUndefined();
      const before = await alarms();

      const settled = await newRecorder().apply((await ledger.get(cancelId))!, { status: 'SUCCESS', gatewayStatus: 'payments.voids.accept' }, 'webhook');

      expect(settled.state).toBe('SUCCEEDED');
      expect((await ledger.get(voidedId))?.undoneBy).toBe(cancelId);
      expect(await alarms()).toBe(before + 1);
      expect(alarmLines(cancelId)).toEqual([
        expect.objectContaining({
          level: 'error',
          cause: 'void_after_refund',
          operation_id: cancelId,
          voided_operation_id: voidedId,
          voided_command: command === 'sale' ? 'sale' : 'capture',
          authorization_id: paymentId,
          captured_amount: 0,
          refunded_amount: 2000,
          excess_amount: 2000,
        }),
      ]);
      await newRecorder().apply((await ledger.get(cancelId))!, { status: 'SUCCESS', gatewayStatus: 'payments.voids.accept' }, 'webhook');
      expect(await alarms()).toBe(before + 1);
    });
  }
});
