import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { Config } from '../../../src/config/config';
import { Payment, PaymentCommand } from '../../../src/contracts/payment-command';
import { AuditLog } from '../../../src/audit/audit-log';
import { releaseHeldForPspRetry } from '../../../src/ops/held-for-psp-retry';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import * as operationContext from '../../../src/delivery/operation-context';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { adjustmentEventId } from '../../../src/events/adjustment-event';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { redactText } from '../../../src/logging/redact';
import { OperationsView } from '../../../src/ops/operations-view';
import { ShardKeys } from '../../../src/redis/key-layout';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { requiredCredentials } from '../../support/gateway-credentials';
import { testConfig } from '../../support/test-config';
import { newCybersourceId } from '../../support/cybersource-ids';

/**
 * A late refund fact (a refund recorded FAILED that the PSP did after all, `succeeded_after_failure`; a refund the PSP
 * made outside the bridge, `refund_outside_bridge`) recorded while what it refunded no longer stands captured (a
 * Cybersource cancel voided the capture by its own id): the payment has more refunded than captured, the money given
 * back twice. The fact is recorded as the PSP said it, and the bridge says so: the adjustment's OMS event
 * (`refunded_beyond_captured`, `contact_support`), an error line, `pb_refunded_beyond_captured_total`, `ops show`.
 * End to end on real Redis (its own key prefix), against a Cybersource stand-in.
 */

interface Seen {
  method: string;
  url: string;
  body: Record<string, unknown>;
}

/** The Cybersource stand-in (as in cybersource-own-transaction-void.test.ts): what it was sent, what it holds, what it voided. */
const psp = {
  seen: [] as Seen[],
  /** What each authorization still holds, in cents: a capture takes from it, a void of that capture gives it back. */
  held: new Map<string, number>(),
  /** Each capture's authorization and amount, and each refund's amount (Cybersource ids, cents). */
  captureOf: new Map<string, { auth: string; cents: number }>(),
  amountOf: new Map<string, number>(),
  /** Transactions voided: a second void of one is refused as well. */
  voided: new Set<string>(),
  /** The next refund answered refused (400 INVALID_DATA) when its answer goes: it FAILS, nothing refunded. */
  refuseNextRefund: false,
  /** The next capture answered 502 (its outcome unknown): left in flight, nothing taken here. */
  dropNextCapture: false,
  /** The next void answered 502 (its outcome unknown): left in flight, nothing voided yet; its success told later. */
  dropNextVoid: false,
  /** The next void refused NOT_VOIDABLE: recorded FAILED, nothing voided; the PSP's later word says it did it after all. */
  refuseNextVoid: false,
  /** What each merchant reference did, as the transaction search finds it (its status: VOIDED for a void done). */
  byReference: new Map<string, { id: string; submitTimeUtc: string; status: string }>(),
};

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
let adjustments: AdjustmentRecorder;
let recorder: OutcomeRecorder;
const logs = captureLogger();

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
      const money = (body.orderInformation as { amountDetails?: { totalAmount: string; currency: string } } | undefined)?.amountDetails;
      const refused = (reason: string, message: string) => json(400, { submitTimeUtc: new Date().toISOString(), status: 'INVALID_REQUEST', reason, message });
      if (url === '/pts/v2/payments') {
        const id = newCybersourceId();
        psp.held.set(id, cents(money?.totalAmount));
        return json(201, {
          id,
          status: 'AUTHORIZED',
          submitTimeUtc: new Date().toISOString(),
          clientReferenceInformation: reference,
          orderInformation: { amountDetails: { authorizedAmount: money?.totalAmount, currency: money?.currency } },
        });
      }
      const capturing = /^\/pts\/v2\/payments\/(\d+)\/captures$/.exec(url);
      if (capturing) {
        if (psp.dropNextCapture) {
          psp.dropNextCapture = false;
          return json(502, { reason: 'SYSTEM_ERROR' });
        }
        const held = psp.held.get(capturing[1]) ?? 0;
        const asked = cents(money?.totalAmount);
        if (asked > held) return refused('EXCEEDS_AUTH_AMOUNT', 'Capture amount exceeds the amount held');
        psp.held.set(capturing[1], held - asked);
        const id = newCybersourceId();
        psp.captureOf.set(id, { auth: capturing[1], cents: asked });
        return json(201, {
          id,
          status: 'PENDING',
          submitTimeUtc: new Date().toISOString(),
          clientReferenceInformation: reference,
          orderInformation: { amountDetails: money },
        });
      }
      if (/^\/pts\/v2\/payments\/\d+\/refunds$/.test(url)) {
        const answer = () => {
          if (psp.refuseNextRefund) {
            psp.refuseNextRefund = false;
            return refused('INVALID_DATA', 'Declined - One or more fields in the request contains invalid data');
          }
          const id = newCybersourceId();
          psp.amountOf.set(id, cents(money?.totalAmount));
          return json(201, {
            id,
            status: 'PENDING',
            clientReferenceInformation: reference,
            refundAmountDetails: { refundAmount: money?.totalAmount, currency: money?.currency },
          });
        };
        return answer();
      }
      const voiding = /^\/pts\/v2\/(captures|refunds)\/(\d+)\/voids$/.exec(url);
      if (voiding) {
        const id = voiding[2];
        const known = voiding[1] === 'captures' ? psp.captureOf.has(id) : psp.amountOf.has(id);
        if (!known) return refused('INVALID_DATA', 'Declined - One or more fields in the request contains invalid data');
        if (psp.dropNextVoid) {
          psp.dropNextVoid = false;
          return json(502, { reason: 'SYSTEM_ERROR' });
        }
        if (psp.voided.has(id) || psp.refuseNextVoid) {
          psp.refuseNextVoid = false;
          return refused(
            'NOT_VOIDABLE',
            'The capture or credit is not voidable because the capture or credit information has already been submitted to your processor.',
          );
        }
        psp.voided.add(id);
        const capture = psp.captureOf.get(id);
        // A voided capture never took the money: the authorization holds it again.
        if (capture) psp.held.set(capture.auth, (psp.held.get(capture.auth) ?? 0) + capture.cents);
        const voided = capture?.cents ?? psp.amountOf.get(id) ?? 0;
        const done = { id: newCybersourceId(), submitTimeUtc: new Date().toISOString(), status: 'VOIDED' };
        const code = (reference as { code?: string } | undefined)?.code;
        if (code) psp.byReference.set(code, done);
        return json(201, {
          id: done.id,
          status: done.status,
          submitTimeUtc: done.submitTimeUtc,
          clientReferenceInformation: reference,
          voidAmountDetails: { voidAmount: (voided / 100).toFixed(2), currency: 'usd' },
        });
      }
      if (url === '/tss/v2/searches') {
        const code = /clientReferenceInformation\.code:(\S+)/.exec(String(body.query))?.[1] ?? '';
        const done = psp.byReference.get(code);
        if (!done) return json(201, { totalCount: 0, _embedded: { transactionSummaries: [] } });
        return json(201, {
          totalCount: 1,
          _embedded: {
            transactionSummaries: [
              {
                id: done.id,
                submitTimeUtc: done.submitTimeUtc,
                clientReferenceInformation: { code },
                applicationInformation: { status: done.status, rCode: '1', rFlag: 'SOK', reasonCode: '100' },
              },
            ],
          },
        });
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
    },
  });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
  service = new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger: logs.logger });
  adjustments = new AdjustmentRecorder({ config, store: new AdjustmentStore(redis, config.redis.keyPrefix), recorder, ledger, logger: logs.logger });
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await purgeNamespace(config).catch(() => undefined);
});

async function record(command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

async function delivered(command: PaymentCommand): Promise<string> {
  const id = await record(command);
  expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  return id;
}

/** A succeeded authorization at Cybersource of 50.00 USD, by a TMS token. */
async function authorized(): Promise<PaymentCommand> {
  const auth = channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 5000, currency: 'USD' });
  await delivered(auth);
  return auth;
}

/** A command of the same order naming `key` (our operation id of what it acts on). */
function naming(command: PaymentCommand['command'], auth: PaymentCommand, key: string, payment: Partial<Payment> = {}): PaymentCommand {
  return channelCommand(command, {}, { gateway: 'cybs', gateway_key: key, order_id: auth.payment.order_id, amount: 5000, currency: 'USD', ...payment });
}

/** A refund of `auth` for `amount` that Cybersource refused (400 INVALID_DATA): recorded FAILED. */
async function refusedRefund(auth: PaymentCommand, amount: number): Promise<OperationRecord> {
  psp.refuseNextRefund = true;
  const id = await record(naming('refund', auth, auth.payment.operation_reference!, { amount }));
  expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
  return (await ledger.get(id))!;
}

/** The PSP's word that refund `op` was done after all, for `amount` USD, as its webhook or a reconciliation line records it. */
async function refundedAfterAll(op: OperationRecord, amount: number) {
  return adjustments.recordAdjustment(op, {
    kind: 'succeeded_after_failure',
    direction: 'debit',
    amount,
    currency: 'USD',
    gateway: 'cybs',
    pspEventId: `evt_saf_${op.id}`,
    source: 'webhook',
  });
}

/** The adjustment part of the OMS event of adjustment `adjustmentId` of `operationId`. */
async function adjustmentOfEvent(operationId: string, adjustmentId: string): Promise<Record<string, unknown>> {
  const event = await events.load(adjustmentEventId(operationId, adjustmentId));
  expect(event).not.toBeNull();
  return event!.params.adjustment as Record<string, unknown>;
}

/**
 * An id as a log line writes it: the logs mask every Luhn-valid run of 12-19 digits (loose redaction, over-masking a
 * log costs nothing), which the hex of an adjustment id (`adj_` and 24 hex characters of a hash of its PSP event id,
 * random here) holds about once in a few hundred ids, so a line is matched on the id as it was logged.
 */
const logged = (id: string): string => redactText(id);

const alarms = (cause: string) => metricValue('pb_refunded_beyond_captured_total', { gateway: 'cybs', cause });

/** The `refunded_beyond_captured` block of the success event of cancel `cancelId` (undefined: it says none). */
async function cancelEventBeyond(cancelId: string): Promise<unknown> {
  const event = await events.load(`${cancelId}.SUCCEEDED`);
  expect(event).not.toBeNull();
  return (event!.params.payment as Record<string, unknown>).refunded_beyond_captured;
}

/** The 20.00 USD refunded of a capture voided: the block the OMS is told. */
const beyondBlock = { captured_amount: 0, refunded_amount: 2000, excess_amount: 2000, currency: 'USD', suggested_action: 'contact_support' };

/** The ids of the recorded events of the payment of authorization `authOp` that say refunded beyond captured, sorted. */
async function eventsSaying(authOp: string): Promise<string[]> {
  const store = new AdjustmentStore(redis, config.redis.keyPrefix);
  const said: string[] = [];
  for (const id of [authOp, ...(await ledger.dependentsOf(authOp)).map((d) => d.id)]) {
    for (const eventId of [`${id}.SUCCEEDED`, ...(await store.forOperation(id)).map((a) => adjustmentEventId(id, a.id))]) {
      const params = (await events.load(eventId))?.params as { payment?: Record<string, unknown>; adjustment?: Record<string, unknown> } | undefined;
      if (params?.payment?.refunded_beyond_captured !== undefined || params?.adjustment?.refunded_beyond_captured !== undefined) said.push(eventId);
    }
  }
  return said.sort();
}

/**
 * The PSP's failure of capture `captureId` (after its success) for `amount` (USD minor units, 50.00 unless given), as
 * its webhook records it (PSP event `evt_cf_<captureId>`).
 */
async function captureFailed(captureId: string, amount = 5000) {
  return adjustments.recordAdjustment((await ledger.get(captureId))!, {
    kind: 'capture_failed',
    direction: 'debit',
    amount,
    currency: 'USD',
    gateway: 'cybs',
    pspEventId: `evt_cf_${captureId}`,
    source: 'webhook',
  });
}

describe('a late refund fact that leaves the payment refunded beyond what stands captured: recorded as the PSP said, and said', () => {
  it('capture voided by a named cancel, then a refund recorded FAILED reported succeeded_after_failure: event detail, error line, metric, ops show; once', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const refund = await refusedRefund(auth, 2000);
    // The refund gave nothing back as far as the ledger knows: the capture may be voided, and is.
    const cancelId = await delivered(naming('cancel', auth, captureId));
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    const before = await alarms('succeeded_after_failure');

    const { created, counted, adjustment } = await refundedAfterAll(refund, 2000);

    // The PSP's fact is recorded as it is: the refund counts as refunded at 20.00.
    expect(created).toBe(true);
    expect(counted).toBe(true);
    expect(await ledger.get(refund.id)).toMatchObject({ state: 'FAILED', succeededAfterFailure: { amount: 2000, currency: 'USD' } });
    // The OMS hears that the payment now has more refunded than captured.
    expect(await adjustmentOfEvent(refund.id, adjustment.id)).toMatchObject({
      kind: 'succeeded_after_failure',
      amount: 2000,
      currency: 'USD',
      refunded_beyond_captured: { captured_amount: 0, refunded_amount: 2000, excess_amount: 2000, currency: 'USD', suggested_action: 'contact_support' },
    });
    expect(await alarms('succeeded_after_failure')).toBe(before + 1);
    const line = logs.lines.find((l) => l.includes('refunded beyond captured') && l.includes(refund.id));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({
      level: 'error',
      operation_id: refund.id,
      authorization_id: authOp,
      adjustment_id: logged(adjustment.id),
      captured_amount: 0,
      refunded_amount: 2000,
      excess_amount: 2000,
      currency: 'USD',
    });
    // Where an operator looks at the refund: a mark naming the adjustment, and the adjustment's own figures.
    const detail = await new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)).show(refund.id);
    expect(detail?.marks.find((m) => m.kind === 'refunded_beyond_captured')).toMatchObject({ ref: adjustment.id, amount: 2000, currency: 'USD' });
    expect(detail?.adjustments.find((a) => a.id === adjustment.id)?.refundedBeyondCaptured).toEqual({
      capturedAmount: 0,
      refundedAmount: 2000,
      excessAmount: 2000,
      currency: 'USD',
    });

    // A repeat of the fact records, counts and says nothing twice.
    expect((await refundedAfterAll((await ledger.get(refund.id))!, 2000)).created).toBe(false);
    expect(await alarms('succeeded_after_failure')).toBe(before + 1);
  });

  it('control: the capture still stands, the refund fits within it: no alarm', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp));
    const refund = await refusedRefund(auth, 2000);
    const before = await alarms('succeeded_after_failure');

    const { created, adjustment } = await refundedAfterAll(refund, 2000);

    expect(created).toBe(true);
    const told = await adjustmentOfEvent(refund.id, adjustment.id);
    expect(told).toMatchObject({ kind: 'succeeded_after_failure', amount: 2000 });
    expect(told).not.toHaveProperty('refunded_beyond_captured');
    expect(await alarms('succeeded_after_failure')).toBe(before);
    expect(logs.lines.some((l) => l.includes('refunded beyond captured') && l.includes(refund.id))).toBe(false);
  });

  it('a repeat of a fact whose event said it fit, after the capture was undone meanwhile: the first reading stands, nothing said late', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const refund = await refusedRefund(auth, 2000);
    const before = await alarms('succeeded_after_failure');
    const { adjustment } = await refundedAfterAll(refund, 2000);
    // Sent: the refund fit within the capture.
    expect(await adjustmentOfEvent(refund.id, adjustment.id)).not.toHaveProperty('refunded_beyond_captured');
    // Later the PSP fails the capture (another fact, its own path): the payment is beyond now, not by this refund's fact.
    await captureFailed(captureId);
    expect((await ledger.get(captureId))?.undoneBy).toBeDefined();

    // Reconciliation meets the refund's fact again: the same adjustment, whose event was sent saying it fit.
    const again = await refundedAfterAll((await ledger.get(refund.id))!, 2000);

    expect(again.created).toBe(false);
    expect(again.adjustment.refundedBeyondCaptured).toBeUndefined();
    expect((await new AdjustmentStore(redis, config.redis.keyPrefix).get(adjustment.id))?.refundedBeyondCaptured).toBeUndefined();
    expect(await adjustmentOfEvent(refund.id, adjustment.id)).not.toHaveProperty('refunded_beyond_captured');
    expect(await alarms('succeeded_after_failure')).toBe(before);
    expect(logs.lines.some((l) => l.includes('refunded beyond captured') && l.includes(refund.id))).toBe(false);
  });

  it('a crash after the record step, before the event: the retry reads, keeps and says it once; the event matches the adjustment', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const refund = await refusedRefund(auth, 2000);
    await delivered(naming('cancel', auth, captureId));
    const store = new AdjustmentStore(redis, config.redis.keyPrefix);
    const before = await alarms('succeeded_after_failure');
    const fact = {
      kind: 'succeeded_after_failure' as const,
      direction: 'debit' as const,
      amount: 2000,
      currency: 'USD',
      gateway: 'cybs',
      pspEventId: `evt_saf_${refund.id}`,
      source: 'webhook' as const,
    };
    // The record step alone, as a worker that died right after it left it: no reading, no event.
    const { adjustment } = await store.recordAdjustment({ ...fact, operationId: refund.id });
    expect(await events.load(adjustmentEventId(refund.id, adjustment.id))).toBeNull();

    // The job's retry.
    const again = await adjustments.recordAdjustment((await ledger.get(refund.id))!, fact);

    expect(again.created).toBe(false);
    const figures = { capturedAmount: 0, refundedAmount: 2000, excessAmount: 2000, currency: 'USD' };
    expect(again.adjustment.refundedBeyondCaptured).toEqual(figures);
    expect((await store.get(adjustment.id))?.refundedBeyondCaptured).toEqual(figures);
    expect(await adjustmentOfEvent(refund.id, adjustment.id)).toMatchObject({
      refunded_beyond_captured: { captured_amount: 0, refunded_amount: 2000, excess_amount: 2000, currency: 'USD' },
    });
    expect(await alarms('succeeded_after_failure')).toBe(before + 1);
  });

  it('a refund the PSP made outside the bridge of a payment whose capture was voided: the payment adjustment says so', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    await delivered(naming('cancel', auth, captureId));
    const before = await alarms('refund_outside_bridge');

    const { adjustment } = await adjustments.recordAdjustment((await ledger.get(authOp))!, {
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 1500,
      currency: 'USD',
      gateway: 'cybs',
      pspReference: '6999999999999999999991',
      pspEventId: `evt_outside_${authOp}`,
      source: 'reconciliation',
    });

    expect(await adjustmentOfEvent(authOp, adjustment.id)).toMatchObject({
      kind: 'refund_outside_bridge',
      refunded_beyond_captured: { captured_amount: 0, refunded_amount: 1500, excess_amount: 1500, currency: 'USD', suggested_action: 'contact_support' },
    });
    expect(await alarms('refund_outside_bridge')).toBe(before + 1);
  });

  it('two refund facts landing together, each reading and keeping the same figures before either claims: one alarm, said by one event', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const first = await refusedRefund(auth, 2000);
    const second = await refusedRefund(auth, 1000);
    await delivered(naming('cancel', auth, captureId));
    const before = await alarms('succeeded_after_failure');
    // Both facts are recorded before either reads (each finds 30.00 refunded of nothing captured), and both keep that
    // reading before either looks for who says it (two outcome workers a few milliseconds apart).
    const barrier = () => {
      let arrived = 0;
      let open: () => void = () => undefined;
      const all = new Promise<void>((resolve) => (open = resolve));
      return async () => {
        arrived += 1;
        if (arrived === 2) open();
        await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 3000))]);
      };
    };
    const bothRead = barrier();
    const bothKept = barrier();
    const read = operationContext.refundedBeyondCapturedReadingOf;
    const reads = jest.spyOn(operationContext, 'refundedBeyondCapturedReadingOf').mockImplementation(async (...args) => {
      await bothRead();
      return read(...args);
    });
    const keep = AdjustmentStore.prototype.recordRefundedBeyondCapturedOnce;
    const keeps = jest.spyOn(AdjustmentStore.prototype, 'recordRefundedBeyondCapturedOnce').mockImplementation(async function (this: AdjustmentStore, ...args) {
      const kept = await keep.apply(this, args);
      await bothKept();
      return kept;
    });
    try {
      await Promise.all([refundedAfterAll(first, 2000), refundedAfterAll(second, 1000)]);
    } finally {
      reads.mockRestore();
      keeps.mockRestore();
    }

    expect(await alarms('succeeded_after_failure')).toBe(before + 1);
    expect(await eventsSaying(authOp)).toHaveLength(1);
    // Heard again, both: still one.
    await refundedAfterAll((await ledger.get(first.id))!, 2000);
    await refundedAfterAll((await ledger.get(second.id))!, 1000);
    expect(await alarms('succeeded_after_failure')).toBe(before + 1);
    expect(await eventsSaying(authOp)).toHaveLength(1);
  });

  it('a capture still in flight that would cover the refunds: no alarm, the reading kept undecided, an info line naming it', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    // A second capture registered, not settled: it may have collected its 20.00 at the PSP already.
    psp.dropNextCapture = true;
    const inFlight = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(inFlight)).toMatchObject({ kind: 'retry' });
    expect((await ledger.get(inFlight))?.state).not.toMatch(/^(SUCCEEDED|FAILED)$/);
    const before = await alarms('refund_outside_bridge');

    const { adjustment } = await adjustments.recordAdjustment((await ledger.get(authOp))!, {
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 4000,
      currency: 'USD',
      gateway: 'cybs',
      pspReference: '6999999999999999999992',
      pspEventId: `evt_outside_${authOp}`,
      source: 'reconciliation',
    });

    expect(await adjustmentOfEvent(authOp, adjustment.id)).not.toHaveProperty('refunded_beyond_captured');
    const stored = await new AdjustmentStore(redis, config.redis.keyPrefix).get(adjustment.id);
    expect(stored?.refundedBeyondCaptured).toBeUndefined();
    // Read back as undecided (not as fit): ops show marks it, so the capture's outcome gets checked.
    expect(stored?.refundedBeyondUndecided).toBe(true);
    expect(await alarms('refund_outside_bridge')).toBe(before);
    const line = logs.lines.find((l) => l.includes('unless a capture in flight went through') && l.includes(authOp));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: 'info', captured_amount: 3000, refunded_amount: 4000, in_flight_amount: 2000 });
    expect(JSON.parse(line!).captures_in_flight).toEqual([expect.stringContaining(inFlight)]);
    expect(logs.lines.some((l) => l.includes('refunded beyond captured: a late refund fact') && l.includes(authOp))).toBe(false);

    // A repeat of the fact says nothing either: the first reading (undecided) stands.
    const again = await adjustments.recordAdjustment((await ledger.get(authOp))!, {
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 4000,
      currency: 'USD',
      gateway: 'cybs',
      pspReference: '6999999999999999999992',
      pspEventId: `evt_outside_${authOp}`,
      source: 'reconciliation',
    });
    expect(again.created).toBe(false);
    expect(again.adjustment.refundedBeyondCaptured).toBeUndefined();
    expect(logs.lines.filter((l) => l.includes('unless a capture in flight went through') && l.includes(authOp))).toHaveLength(1);
  });
  /**
   * A payment captured 30.00, a second capture of 20.00 left in flight (answered 502), then a refund of 40.00 the PSP made
   * outside the bridge: read undecided. Returns the authorization's id, the capture in flight and the adjustment.
   */
  async function undecided(): Promise<{ authOp: string; inFlight: string; adjustmentId: string }> {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    psp.dropNextCapture = true;
    const inFlight = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(inFlight)).toMatchObject({ kind: 'retry' });
    const { adjustment } = await adjustments.recordAdjustment((await ledger.get(authOp))!, {
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 4000,
      currency: 'USD',
      gateway: 'cybs',
      pspReference: newCybersourceId(),
      pspEventId: `evt_outside_${authOp}`,
      source: 'reconciliation',
    });
    const stored = await new AdjustmentStore(redis, config.redis.keyPrefix).get(adjustment.id);
    expect(stored?.refundedBeyondUndecided).toBe(true);
    return { authOp, inFlight, adjustmentId: adjustment.id };
  }

  const alarmLines = (inFlight: string) => logs.lines.filter((l) => l.includes('refunded beyond captured: a capture in flight') && l.includes(inFlight));

  it('the capture in flight then settles FAILED: the payment is read again and the alarm raised, once (a repeat of the outcome says nothing)', async () => {
    const { authOp, inFlight, adjustmentId } = await undecided();
    const before = await alarms('capture_failed_after_undecided');
    const failure = { status: 'FAIL' as const, gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' };

    const failed = await recorder.apply((await ledger.get(inFlight))!, failure, 'webhook');

    expect(failed.state).toBe('FAILED');
    expect(await alarms('capture_failed_after_undecided')).toBe(before + 1);
    expect(alarmLines(inFlight)).toHaveLength(1);
    expect(JSON.parse(alarmLines(inFlight)[0])).toMatchObject({
      level: 'error',
      alert: 'refunded_beyond_captured',
      operation_id: inFlight,
      authorization_id: authOp,
      undecided_adjustment_id: logged(adjustmentId),
      captured_amount: 3000,
      refunded_amount: 4000,
      excess_amount: 1000,
      order_currency: 'USD',
    });
    // The adjustment's first reading stays what was known then.
    const stored = await new AdjustmentStore(redis, config.redis.keyPrefix).get(adjustmentId);
    expect(stored?.refundedBeyondUndecided).toBe(true);
    expect(stored?.refundedBeyondCaptured).toBeUndefined();
    // Where an operator looks at the capture: the re-read's mark with its figures, naming the undecided adjustment.
    const detail = await new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)).show(inFlight);
    expect(detail?.marks.find((m) => m.kind === 'refunds_reread_beyond')).toMatchObject({ ref: adjustmentId, amount: 1000, currency: 'USD' });

    // The same outcome again (a webhook resent, a job retried): no second alarm.
    await recorder.apply((await ledger.get(inFlight))!, failure, 'webhook');
    expect(await alarms('capture_failed_after_undecided')).toBe(before + 1);
    expect(alarmLines(inFlight)).toHaveLength(1);
  });

  it('a crash after the capture was recorded FAILED, before the reading: the outcome heard again raises the alarm, once', async () => {
    const { inFlight } = await undecided();
    const before = await alarms('capture_failed_after_undecided');
    const failure = { status: 'FAIL' as const, gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' };
    // The move alone, as a process that died right after it left it.
    await ledger.transition(inFlight, 'FAILED', { event: 'outcome', source: 'webhook' }, { reason: 'PROCESSOR_DECLINED' });
    expect(await alarms('capture_failed_after_undecided')).toBe(before);

    await recorder.apply((await ledger.get(inFlight))!, failure, 'webhook');
    await recorder.apply((await ledger.get(inFlight))!, failure, 'webhook');

    expect(await alarms('capture_failed_after_undecided')).toBe(before + 1);
    expect(alarmLines(inFlight)).toHaveLength(1);
  });

  it('the re-read failing (Redis refusing it) leaves the capture FAILED, its outcome done: an error line, no throw', async () => {
    const { inFlight } = await undecided();
    const failure = { status: 'FAIL' as const, gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' };
    const spy = jest.spyOn(ledger, 'setFieldOnceAndGet').mockRejectedValue(new Error("READONLY You can't write against a read only replica"));
    try {
      const failed = await recorder.apply((await ledger.get(inFlight))!, failure, 'webhook');
      expect(failed.state).toBe('FAILED');
    } finally {
      spy.mockRestore();
    }
    expect((await ledger.get(inFlight))?.state).toBe('FAILED');
    const line = logs.lines.find((l) => l.includes('reading the payment again after a capture failed') && l.includes(inFlight));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: 'error', operation_id: inFlight });
  });

  it('a refund of ours reported outside the bridge, then done after all naming that PSP refund: the re-read counts it once', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    psp.dropNextCapture = true;
    const inFlight = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(inFlight)).toMatchObject({ kind: 'retry' });
    const refund = await refusedRefund(auth, 2000);
    const outside = async (pspReference: string, amount: number) =>
      adjustments.recordAdjustment((await ledger.get(authOp))!, {
        kind: 'refund_outside_bridge',
        direction: 'debit',
        amount,
        currency: 'USD',
        gateway: 'cybs',
        pspReference,
        pspEventId: `evt_outside_${pspReference}`,
        source: 'reconciliation',
      });
    // Our refund's PSP refund, reported outside the bridge while ours held no reference; then another of 15.00.
    const ours = newCybersourceId();
    await outside(ours, 2000);
    await outside(newCybersourceId(), 1500);
    // Done after all, naming that PSP refund: 20.00 + 15.00 refunded, 30.00 captured, 20.00 in flight: undecided.
    const { adjustment } = await adjustments.recordAdjustment(refund, {
      kind: 'succeeded_after_failure',
      direction: 'debit',
      amount: 2000,
      currency: 'USD',
      gateway: 'cybs',
      pspReference: ours,
      pspEventId: `evt_saf_${refund.id}`,
      source: 'webhook',
    });
    expect((await new AdjustmentStore(redis, config.redis.keyPrefix).get(adjustment.id))?.refundedBeyondUndecided).toBe(true);

    await recorder.apply((await ledger.get(inFlight))!, { status: 'FAIL', gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' }, 'webhook');

    expect(alarmLines(inFlight)).toHaveLength(1);
    expect(JSON.parse(alarmLines(inFlight)[0])).toMatchObject({ captured_amount: 3000, refunded_amount: 3500, excess_amount: 500 });
  });

  it('a capture held FAILED for its PSP retry, counted in flight, then released by an operator (no retry will come): the alarm, once', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    psp.dropNextCapture = true;
    const held = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(held)).toMatchObject({ kind: 'retry' });
    await ledger.transition(held, 'FAILED', { event: 'outcome' }, { reason: 'CAPTURE_FAILED', heldForPspRetry: 'CAPTURE_FAILED' });
    const { adjustment } = await adjustments.recordAdjustment((await ledger.get(authOp))!, {
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 4000,
      currency: 'USD',
      gateway: 'cybs',
      pspReference: newCybersourceId(),
      pspEventId: `evt_outside_held_${authOp}`,
      source: 'reconciliation',
    });
    expect((await new AdjustmentStore(redis, config.redis.keyPrefix).get(adjustment.id))?.refundedBeyondUndecided).toBe(true);
    const before = await alarms('capture_failed_after_undecided');
    const audit = { record: async () => undefined } as unknown as AuditLog;

    expect(
      await releaseHeldForPspRetry({ ledger, audit, logger: logs.logger }, held, { reason: 'Adyen: no retry', execute: true, actor: 'ops' }),
    ).toMatchObject({
      result: 'released',
    });

    expect(await alarms('capture_failed_after_undecided')).toBe(before + 1);
    expect(alarmLines(held)).toHaveLength(1);
    expect(JSON.parse(alarmLines(held)[0])).toMatchObject({
      undecided_adjustment_id: logged(adjustment.id),
      captured_amount: 3000,
      refunded_amount: 4000,
      excess_amount: 1000,
    });
  });

  it('control: the capture in flight then settles SUCCEEDED: no alarm', async () => {
    const { inFlight } = await undecided();
    const before = await alarms('capture_failed_after_undecided');

    const done = await recorder.apply(
      (await ledger.get(inFlight))!,
      { status: 'SUCCESS', gatewayStatus: 'PENDING', gatewayReference: newCybersourceId() },
      'webhook',
    );

    expect(done.state).toBe('SUCCEEDED');
    expect(await alarms('capture_failed_after_undecided')).toBe(before);
    const said = logs.lines.filter((l) => l.includes(inFlight)).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(said.some((l) => l.alert === 'refunded_beyond_captured')).toBe(false);
  });
});

/**
 * The other order: the late refund fact's reading found the refunds fit (the capture still stood), then a move lowers
 * what stands captured (a void sent before the fact, its success recorded after it; a cancel recorded FAILED that the PSP
 * did after all; the PSP's failure of the capture): the payment is read again after that move, and the same alarm raised,
 * once, with a cause naming the order.
 */
describe('a move that lowers what stands captured after a late refund fact: the payment read again, the alarm raised once', () => {
  const voided = { status: 'SUCCESS' as const, gatewayStatus: 'VOIDED' };
  const voidAlarmLines = (cancelId: string) =>
    logs.lines.filter((l) => l.includes('refunded beyond captured: a void') && l.includes(cancelId)).map((l) => JSON.parse(l) as Record<string, unknown>);

  /** A capture of `amount` on a new authorization, a refund of `refunded` refused (FAILED), and a void of the capture sent, its answer lost (502). */
  async function voidInFlight(amount = 5000, refunded = 2000): Promise<{ authOp: string; captureId: string; refund: OperationRecord; cancelId: string }> {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp, { amount }));
    const refund = await refusedRefund(auth, refunded);
    psp.dropNextVoid = true;
    const cancelId = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'retry' });
    expect((await ledger.get(cancelId))?.state).not.toMatch(/^(SUCCEEDED|FAILED)$/);
    return { authOp, captureId, refund, cancelId };
  }

  it("void sent, then the refund fact (fit: the capture stood), then the void's success: alarm void_after_refund, error line, ops show of the cancel; once", async () => {
    const { authOp, captureId, refund, cancelId } = await voidInFlight();
    const before = await alarms('void_after_refund');
    const { adjustment } = await refundedAfterAll(refund, 2000);
    expect(await adjustmentOfEvent(refund.id, adjustment.id)).not.toHaveProperty('refunded_beyond_captured');

    const done = await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');

    expect(done.state).toBe('SUCCEEDED');
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect(await alarms('void_after_refund')).toBe(before + 1);
    expect(voidAlarmLines(cancelId)).toEqual([
      expect.objectContaining({
        level: 'error',
        alert: 'refunded_beyond_captured',
        operation_id: cancelId,
        command: 'cancel',
        voided_operation_id: captureId,
        authorization_id: authOp,
        captured_amount: 0,
        refunded_amount: 2000,
        excess_amount: 2000,
        order_currency: 'USD',
      }),
    ]);
    const detail = await new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)).show(cancelId);
    expect(detail?.marks.find((m) => m.kind === 'refunded_beyond_after_void')).toMatchObject({ ref: captureId, amount: 2000, currency: 'USD' });
    // The OMS hears it on the cancel's own success event, as on an adjustment's.
    expect(await cancelEventBeyond(cancelId)).toEqual(beyondBlock);
    const sent = await eventsSaying(authOp);

    // The same outcome again (a webhook resent, a job retried): nothing said twice.
    await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');
    expect(await alarms('void_after_refund')).toBe(before + 1);
    expect(voidAlarmLines(cancelId)).toHaveLength(1);
    expect(await eventsSaying(authOp)).toEqual(sent);
    expect(sent).toEqual([`${cancelId}.SUCCEEDED`]);
  });

  it('the reading failing around the void (Redis refusing it): the cancel stands SUCCEEDED, error lines; the outcome heard again raises the alarm, once, its event already out without it', async () => {
    const { refund, cancelId } = await voidInFlight();
    await refundedAfterAll(refund, 2000);
    const before = await alarms('void_after_refund');
    const spy = jest.spyOn(ledger, 'dependentsOf').mockRejectedValue(new Error('LOADING Redis is loading the dataset in memory'));
    try {
      expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');
    } finally {
      spy.mockRestore();
    }
    expect(await alarms('void_after_refund')).toBe(before);
    for (const text of ['reading the payment before a void is recorded failed', 'reading the payment again after a move lowered what stands captured']) {
      const failed = logs.lines.find((l) => l.includes(text) && l.includes(cancelId));
      expect(failed).toBeDefined();
      expect(JSON.parse(failed!)).toMatchObject({ level: 'error', operation_id: cancelId });
    }

    await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');
    await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');

    expect(await alarms('void_after_refund')).toBe(before + 1);
    expect(voidAlarmLines(cancelId)).toHaveLength(1);
    // Recorded with the move, before the payment could be read: it says nothing (the error line, the metric and ops show do).
    expect(await cancelEventBeyond(cancelId)).toBeUndefined();
  });

  it("a crash after the void's mark, before its move: the refund fact, read then, raises the alarm; the outcome heard again says nothing twice", async () => {
    const { authOp, captureId, refund, cancelId } = await voidInFlight();
    const raisedByFact = await alarms('succeeded_after_failure');
    const before = await alarms('void_after_refund');
    const crash = new Error('worker killed');
    const spies = [jest.spyOn(ledger, 'transitionAndRecord').mockRejectedValue(crash), jest.spyOn(ledger, 'transitionAndGet').mockRejectedValue(crash)];
    try {
      await expect(recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).rejects.toThrow('worker killed');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect((await ledger.get(cancelId))?.state).not.toBe('SUCCEEDED');
    // The fact lands while the capture is marked undone: its own reading finds the refunds beyond and says so.
    const { adjustment } = await refundedAfterAll(refund, 2000);
    expect(await adjustmentOfEvent(refund.id, adjustment.id)).toHaveProperty('refunded_beyond_captured');
    expect(await alarms('succeeded_after_failure')).toBe(raisedByFact + 1);

    expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');

    // The same refunds beyond the same capture gone: said once, by the fact.
    expect(await alarms('void_after_refund')).toBe(before);
    expect(voidAlarmLines(cancelId)).toHaveLength(0);
    expect(await cancelEventBeyond(cancelId)).toBeUndefined();
    expect(await eventsSaying(authOp)).toEqual([adjustmentEventId(refund.id, adjustment.id)]);
  });

  it('the refund fact and the void landing together, each reading after both writes: one alarm, said by one event; repeats say nothing', async () => {
    const { authOp, refund, cancelId } = await voidInFlight();
    const raised = async () => (await alarms('succeeded_after_failure')) + (await alarms('void_after_refund'));
    const before = await raised();
    // Neither path reads the payment before both reached their reading: the adjustment recorded and the capture marked
    // undone by the void, so each finds the same refunds beyond (the race a few milliseconds apart makes).
    const read = operationContext.refundedBeyondCapturedReadingOf;
    let open: () => void = () => undefined;
    const bothThere = new Promise<void>((resolve) => (open = resolve));
    let arrived = 0;
    const spy = jest.spyOn(operationContext, 'refundedBeyondCapturedReadingOf').mockImplementation(async (...args) => {
      arrived += 1;
      if (arrived === 2) open();
      await Promise.race([bothThere, new Promise((resolve) => setTimeout(resolve, 3000))]);
      return read(...args);
    });
    // And the void decides first: the fact keeps its reading only once the void's outcome is recorded.
    let voidDecided: () => void = () => undefined;
    const decided = new Promise<void>((resolve) => (voidDecided = resolve));
    const keep = AdjustmentStore.prototype.recordRefundedBeyondCapturedOnce;
    const keeps = jest.spyOn(AdjustmentStore.prototype, 'recordRefundedBeyondCapturedOnce').mockImplementation(async function (this: AdjustmentStore, ...args) {
      await Promise.race([decided, new Promise((resolve) => setTimeout(resolve, 3000))]);
      return keep.apply(this, args);
    });
    let adjustmentId: string;
    try {
      const voiding = recorder.apply((await ledger.get(cancelId))!, voided, 'webhook').finally(() => voidDecided());
      const [{ adjustment }, done] = await Promise.all([refundedAfterAll(refund, 2000), voiding]);
      adjustmentId = adjustment.id;
      expect(done.state).toBe('SUCCEEDED');
    } finally {
      spy.mockRestore();
      keeps.mockRestore();
    }
    expect(arrived).toBe(2);

    expect(await raised()).toBe(before + 1);
    const said = await eventsSaying(authOp);
    expect(said).toHaveLength(1);
    expect([`${cancelId}.SUCCEEDED`, adjustmentEventId(refund.id, adjustmentId)]).toContain(said[0]);
    // The other path names who said it.
    expect(logs.lines.some((l) => l.includes('said these refunds beyond already') && (l.includes(cancelId) || l.includes(logged(adjustmentId))))).toBe(true);

    // Heard again, both: nothing more.
    await refundedAfterAll((await ledger.get(refund.id))!, 2000);
    await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');
    expect(await raised()).toBe(before + 1);
    expect(await eventsSaying(authOp)).toEqual(said);
  });

  it("the void's reading claimed the figures, its move lost to a crash, then the cancel recorded FAILED and done after all: its adjustment event says them", async () => {
    const { authOp, refund, cancelId } = await voidInFlight();
    await refundedAfterAll(refund, 2000);
    const crash = new Error('worker killed');
    const spies = [jest.spyOn(ledger, 'transitionAndRecord').mockRejectedValue(crash), jest.spyOn(ledger, 'transitionAndGet').mockRejectedValue(crash)];
    try {
      await expect(recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).rejects.toThrow('worker killed');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(await ledger.refundedBeyondClaims(authOp)).toEqual([expect.objectContaining({ by: cancelId })]);
    const failure = { status: 'FAIL' as const, gatewayStatus: 'NOT_VOIDABLE', reason: 'NOT_VOIDABLE' };
    expect((await recorder.apply((await ledger.get(cancelId))!, failure, 'inquiry')).state).toBe('FAILED');
    const before = await alarms('void_after_refund');

    const { adjustment } = await adjustments.recordAdjustment((await ledger.get(cancelId))!, {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 5000,
      currency: 'USD',
      reason: 'payments.voids.accept',
      gateway: 'cybs',
      pspEventId: `evt_late_void_${cancelId}`,
      source: 'webhook',
    });

    expect(await adjustmentOfEvent(cancelId, adjustment.id)).toMatchObject({ refunded_beyond_captured: beyondBlock });
    expect(await alarms('void_after_refund')).toBe(before + 1);
    expect(await eventsSaying(authOp)).toEqual([adjustmentEventId(cancelId, adjustment.id)]);
  });

  it('a refund of ours reported outside the bridge and then done after all naming that PSP refund, then the void: counted once', async () => {
    const { authOp, refund, cancelId } = await voidInFlight();
    const ours = newCybersourceId();
    await adjustments.recordAdjustment((await ledger.get(authOp))!, {
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 2000,
      currency: 'USD',
      gateway: 'cybs',
      pspReference: ours,
      pspEventId: `evt_outside_${ours}`,
      source: 'reconciliation',
    });
    await adjustments.recordAdjustment(refund, {
      kind: 'succeeded_after_failure',
      direction: 'debit',
      amount: 2000,
      currency: 'USD',
      gateway: 'cybs',
      pspReference: ours,
      pspEventId: `evt_saf_${refund.id}`,
      source: 'webhook',
    });

    await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');

    expect(voidAlarmLines(cancelId)).toEqual([expect.objectContaining({ captured_amount: 0, refunded_amount: 2000, excess_amount: 2000 })]);
  });

  it('a void with no refund standing raises nothing; the reading is kept, so its repeat reads nothing', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    psp.dropNextVoid = true;
    const cancelId = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'retry' });
    const before = await alarms('void_after_refund');

    expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');

    expect(await alarms('void_after_refund')).toBe(before);
    expect(logs.lines.some((l) => l.includes(cancelId) && l.includes('"alert":"refunded_beyond_captured"'))).toBe(false);
    const detail = await new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)).show(cancelId);
    expect(detail?.marks.some((m) => m.kind === 'refunded_beyond_after_void')).toBe(false);
    // A repeat of the outcome finds the reading kept: the payment is not read again, nor its claims looked for (no
    // reading of this cancel claimed anything), neither by the outcome heard again nor by its delivery job retried.
    const reads = jest.spyOn(ledger, 'adjustmentsOfEach');
    const claims = jest.spyOn(ledger, 'refundedBeyondClaims');
    const gets = jest.spyOn(ledger, 'get');
    try {
      const loaded = (await ledger.get(cancelId))!;
      gets.mockClear();
      await recorder.apply(loaded, voided, 'webhook');
      // The one read of the outcome heard again: what the void undid (its effect, found recorded).
      expect(gets.mock.calls).toEqual([[captureId]]);
      gets.mockClear();
      await service.deliver(cancelId);
      // The cancel itself, read by the job and again to settle it.
      expect(gets.mock.calls).toEqual([[cancelId], [cancelId]]);
      expect(reads).not.toHaveBeenCalled();
      expect(claims).not.toHaveBeenCalled();
    } finally {
      reads.mockRestore();
      claims.mockRestore();
      gets.mockRestore();
    }
  });

  it("a void's reading left undecided by a capture in flight marks it: that capture failing for good raises the alarm, once", async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    psp.dropNextCapture = true;
    const inFlight = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(inFlight)).toMatchObject({ kind: 'retry' });
    const refund = await refusedRefund(auth, 2000);
    psp.dropNextVoid = true;
    const cancelId = await record(naming('cancel', auth, captureId, { amount: 3000 }));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'retry' });
    await refundedAfterAll(refund, 2000);
    const before = await alarms('capture_failed_after_undecided');

    // Nothing captured stands after the void; the capture in flight would cover the 20.00 refunded: undecided.
    expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');
    expect(await cancelEventBeyond(cancelId)).toBeUndefined();
    expect(logs.lines.some((l) => l.includes('unless a capture in flight went through: a void') && l.includes(cancelId))).toBe(true);

    const failure = { status: 'FAIL' as const, gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' };
    expect((await recorder.apply((await ledger.get(inFlight))!, failure, 'webhook')).state).toBe('FAILED');
    await recorder.apply((await ledger.get(inFlight))!, failure, 'webhook');

    expect(await alarms('capture_failed_after_undecided')).toBe(before + 1);
    const lines = logs.lines.filter((l) => l.includes('"alert":"refunded_beyond_captured"') && l.includes(inFlight));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      operation_id: inFlight,
      authorization_id: authOp,
      undecided_adjustment_id: cancelId,
      captured_amount: 0,
      refunded_amount: 2000,
      excess_amount: 2000,
    });
  });

  it("a refund fact recorded, said and sequenced between the void's reading and its move: the cancelled event, sequenced after it, does not say the older figures", async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const first = await refusedRefund(auth, 2000);
    const second = await refusedRefund(auth, 1000);
    psp.dropNextVoid = true;
    const cancelId = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'retry' });
    await refundedAfterAll(first, 2000);
    const raised = async () => (await alarms('succeeded_after_failure')) + (await alarms('void_after_refund'));
    const before = await raised();
    // The void reads 20.00 refunded of nothing captured; as it claims those figures, the second refund fact is
    // recorded, reads 30.00 refunded, claims that and its event is recorded, before the void's move.
    let late: string | undefined;
    const claim = ledger.claimRefundedBeyond.bind(ledger);
    const spy = jest.spyOn(ledger, 'claimRefundedBeyond').mockImplementation(async (id, field, by) => {
      if (by === cancelId && late === undefined) late = (await refundedAfterAll(second, 1000)).adjustment.id;
      return claim(id, field, by);
    });
    try {
      expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');
    } finally {
      spy.mockRestore();
    }
    const fact = (await events.load(adjustmentEventId(second.id, late!)))!;
    const cancelled = (await events.load(`${cancelId}.SUCCEEDED`))!;
    expect((fact.params.adjustment as Record<string, unknown>).refunded_beyond_captured).toMatchObject({ refunded_amount: 3000, excess_amount: 3000 });
    expect(cancelled.paymentKey).toBe(fact.paymentKey);
    expect(cancelled.sequence).toBeGreaterThan(fact.sequence);

    // Told after the fact's 30.00, the OMS must not read 20.00 refunded: the cancelled event says nothing of it.
    expect((cancelled.params.payment as Record<string, unknown>).refunded_beyond_captured).toBeUndefined();
    expect(await raised()).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('said these refunds beyond already') && l.includes(cancelId) && l.includes('"refunded_amount":2000'))).toBe(true);
  });

  it("the void's success heard twice at once, a refund fact landing between the two readings: the figures the late reading claimed are said (error line, metric), not lost", async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const first = await refusedRefund(auth, 2000);
    const second = await refusedRefund(auth, 1000);
    psp.dropNextVoid = true;
    const cancelId = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'retry' });
    await refundedAfterAll(first, 2000);
    // Both recorders loaded the cancel before either moved it (a webhook and an inquiry at once).
    const loaded = (await ledger.get(cancelId))!;
    const raised = async () => (await alarms('succeeded_after_failure')) + (await alarms('void_after_refund'));
    const before = await raised();
    expect((await recorder.apply(loaded, voided, 'webhook')).state).toBe('SUCCEEDED');
    expect(await cancelEventBeyond(cancelId)).toEqual(beyondBlock);
    expect(await raised()).toBe(before + 1);

    // The second refund fact is recorded and read (nothing captured stands, 30.00 refunded); before it claims those
    // figures, the other recorder of the void's success reads them too and claims them; its move does not apply.
    const keep = AdjustmentStore.prototype.recordRefundedBeyondCapturedOnce;
    const keeps = jest.spyOn(AdjustmentStore.prototype, 'recordRefundedBeyondCapturedOnce').mockImplementation(async function (this: AdjustmentStore, ...args) {
      await recorder.apply(loaded, voided, 'inquiry');
      return keep.apply(this, args);
    });
    try {
      await refundedAfterAll(second, 1000);
    } finally {
      keeps.mockRestore();
    }

    // 30.00 refunded, nothing captured: said once, by one of the two.
    expect(await raised()).toBe(before + 2);
    const lines = logs.lines
      .filter((l) => l.includes('"alert":"refunded_beyond_captured"') && (l.includes(cancelId) || l.includes(second.id)))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.refunded_amount === 3000)).toHaveLength(1);
  });

  it("the void's reading claimed the figures, its worker killed before its move: the outcome heard again finds its own claim, its event says them, once", async () => {
    const { authOp, refund, cancelId } = await voidInFlight();
    await refundedAfterAll(refund, 2000);
    const before = await alarms('void_after_refund');
    const crash = new Error('worker killed');
    const spies = [jest.spyOn(ledger, 'transitionAndRecord').mockRejectedValue(crash), jest.spyOn(ledger, 'transitionAndGet').mockRejectedValue(crash)];
    try {
      await expect(recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).rejects.toThrow('worker killed');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(await ledger.refundedBeyondClaims(authOp)).toEqual([expect.objectContaining({ by: cancelId })]);
    expect(await alarms('void_after_refund')).toBe(before);

    expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');
    await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');

    expect(await cancelEventBeyond(cancelId)).toEqual(beyondBlock);
    expect(await alarms('void_after_refund')).toBe(before + 1);
    expect(await eventsSaying(authOp)).toEqual([`${cancelId}.SUCCEEDED`]);
  });

  it.each([
    ['the outcome heard again (a webhook resent)', async (cancelId: string) => void (await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook'))],
    ['its delivery job retried (the cancel settled)', async (cancelId: string) => void (await service.deliver(cancelId))],
  ])(
    "the void's success heard twice at once, the later reading's recorder killed between its claim and its move: %s says the figures, once",
    async (_, again) => {
      const { authOp, refund, cancelId } = await voidInFlight();
      // Both recorders loaded the cancel before either moved it (a webhook and an inquiry at once).
      const loaded = (await ledger.get(cancelId))!;
      const raised = async () => (await alarms('succeeded_after_failure')) + (await alarms('void_after_refund'));
      const before = await raised();
      // The first reads before the refund fact (the refunds fit: nothing captured is gone yet to them) and moves the cancel.
      expect((await recorder.apply(loaded, voided, 'inquiry')).state).toBe('SUCCEEDED');
      expect(await cancelEventBeyond(cancelId)).toBeUndefined();

      // The refund fact is recorded and read (nothing captured stands, 20.00 refunded); before it claims those figures,
      // the other recorder reads them too, claims them under the cancel's id and is killed before its move (which would
      // not have applied). The fact finds the cancel's claim and says nothing.
      const crash = new Error('worker killed');
      const keep = AdjustmentStore.prototype.recordRefundedBeyondCapturedOnce;
      const keeps = jest.spyOn(AdjustmentStore.prototype, 'recordRefundedBeyondCapturedOnce').mockImplementation(async function (
        this: AdjustmentStore,
        ...args
      ) {
        const spies = [jest.spyOn(ledger, 'transitionAndRecord').mockRejectedValue(crash), jest.spyOn(ledger, 'transitionAndGet').mockRejectedValue(crash)];
        try {
          await expect(recorder.apply(loaded, voided, 'webhook')).rejects.toThrow('worker killed');
        } finally {
          for (const spy of spies) spy.mockRestore();
        }
        return keep.apply(this, args);
      });
      try {
        await refundedAfterAll(refund, 2000);
      } finally {
        keeps.mockRestore();
      }
      expect(await ledger.refundedBeyondClaims(authOp)).toEqual([expect.objectContaining({ by: cancelId })]);
      expect(await raised()).toBe(before);

      // The killed recorder's job runs again: the cancel stands SUCCEEDED, its event said nothing of these figures.
      await again(cancelId);
      await again(cancelId);

      expect(await raised()).toBe(before + 1);
      const lines = logs.lines.filter((l) => l.includes('"alert":"refunded_beyond_captured"') && l.includes(cancelId)).map((l) => JSON.parse(l) as unknown);
      expect(lines).toEqual([
        expect.objectContaining({ level: 'error', operation_id: cancelId, off_event: true, captured_amount: 0, refunded_amount: 2000, excess_amount: 2000 }),
      ]);
    },
  );

  it('a refund that still fits what stands captured after the void (another capture stands): nothing raised', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    const second = await delivered(naming('capture', auth, authOp, { amount: 2000 }));
    const refund = await refusedRefund(auth, 1000);
    psp.dropNextVoid = true;
    const cancelId = await record(naming('cancel', auth, second, { amount: 2000 }));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'retry' });
    await refundedAfterAll(refund, 1000);
    const before = await alarms('void_after_refund');

    expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');

    expect((await ledger.get(second))?.undoneBy).toBe(cancelId);
    expect(await alarms('void_after_refund')).toBe(before);
    expect(voidAlarmLines(cancelId)).toHaveLength(0);
  });

  it('a void recorded FAILED that the PSP did after all, after the refund fact: its adjustment event says refunded beyond captured, alarm void_after_refund, once', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const refund = await refusedRefund(auth, 2000);
    psp.refuseNextVoid = true;
    const cancelId = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    await refundedAfterAll(refund, 2000);
    const before = await alarms('void_after_refund');
    const late = {
      kind: 'succeeded_after_failure' as const,
      direction: 'credit' as const,
      amount: 5000,
      currency: 'USD',
      reason: 'payments.voids.accept',
      gateway: 'cybs',
      pspEventId: `evt_late_void_${cancelId}`,
      source: 'webhook' as const,
    };

    const { adjustment } = await adjustments.recordAdjustment((await ledger.get(cancelId))!, late);

    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect(await adjustmentOfEvent(cancelId, adjustment.id)).toMatchObject({
      kind: 'succeeded_after_failure',
      refunded_beyond_captured: { captured_amount: 0, refunded_amount: 2000, excess_amount: 2000, currency: 'USD', suggested_action: 'contact_support' },
    });
    expect(await alarms('void_after_refund')).toBe(before + 1);
    const line = logs.lines.find((l) => l.includes('"alert":"refunded_beyond_captured"') && l.includes(cancelId));
    expect(JSON.parse(line!)).toMatchObject({ level: 'error', operation_id: cancelId, authorization_id: authOp, captured_amount: 0, excess_amount: 2000 });
    const detail = await new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)).show(cancelId);
    expect(detail?.marks.find((m) => m.kind === 'refunded_beyond_captured')).toMatchObject({ ref: adjustment.id, amount: 2000 });

    // Told again (a repeated webhook): nothing said twice.
    await adjustments.recordAdjustment((await ledger.get(cancelId))!, late);
    expect(await alarms('void_after_refund')).toBe(before + 1);
    expect(logs.lines.filter((l) => l.includes('"alert":"refunded_beyond_captured"') && l.includes(cancelId))).toHaveLength(1);
  });

  it('the refund fact (fit), then the PSP fails the capture: the capture_failed event says refunded beyond captured, alarm capture_failed_after_refund, once', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const refund = await refusedRefund(auth, 2000);
    await refundedAfterAll(refund, 2000);
    const before = await alarms('capture_failed_after_refund');

    const { adjustment } = await captureFailed(captureId);

    expect((await ledger.get(captureId))?.undoneBy).toBe(adjustment.id);
    expect(await adjustmentOfEvent(captureId, adjustment.id)).toMatchObject({
      kind: 'capture_failed',
      refunded_beyond_captured: { captured_amount: 0, refunded_amount: 2000, excess_amount: 2000, currency: 'USD', suggested_action: 'contact_support' },
    });
    expect(await alarms('capture_failed_after_refund')).toBe(before + 1);
    const lines = logs.lines.filter((l) => l.includes('"alert":"refunded_beyond_captured"') && l.includes(captureId));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 'error',
      operation_id: captureId,
      authorization_id: authOp,
      refunded_amount: 2000,
      excess_amount: 2000,
    });
    const detail = await new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)).show(captureId);
    expect(detail?.marks.find((m) => m.kind === 'refunded_beyond_captured')).toMatchObject({ ref: adjustment.id, amount: 2000 });

    // Told again: nothing said twice.
    expect((await captureFailed(captureId)).created).toBe(false);
    expect(await alarms('capture_failed_after_refund')).toBe(before + 1);
    expect(logs.lines.filter((l) => l.includes('"alert":"refunded_beyond_captured"') && l.includes(captureId))).toHaveLength(1);
  });

  it("void sent, the refund fact (fit), the PSP fails the capture (alarm capture_failed_after_refund), then the void's success: the void lowered nothing, no second alarm", async () => {
    const { captureId, refund, cancelId } = await voidInFlight();
    await refundedAfterAll(refund, 2000);
    const raised = await alarms('capture_failed_after_refund');
    const { adjustment: failure } = await captureFailed(captureId);
    expect((await ledger.get(captureId))?.undoneBy).toBe(failure.id);
    expect(await alarms('capture_failed_after_refund')).toBe(raised + 1);
    const before = await alarms('void_after_refund');

    expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');

    // What stood captured was gone before the void: its success changes no sum, the alarm was said by the failure.
    expect((await ledger.get(captureId))?.undoneBy).toBe(failure.id);
    expect(await alarms('void_after_refund')).toBe(before);
    expect(voidAlarmLines(cancelId)).toHaveLength(0);
    const detail = await new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)).show(cancelId);
    expect(detail?.marks.some((m) => m.kind === 'refunded_beyond_after_void')).toBe(false);
  });

  it('a void recorded FAILED that the PSP did after all, of a capture the PSP failed after the refund fact: no second alarm, its event says nothing beyond', async () => {
    const auth = await authorized();
    const captureId = await delivered(naming('capture', auth, auth.payment.operation_reference!));
    const refund = await refusedRefund(auth, 2000);
    psp.refuseNextVoid = true;
    const cancelId = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    await refundedAfterAll(refund, 2000);
    const { adjustment: failure } = await captureFailed(captureId);
    expect((await new AdjustmentStore(redis, config.redis.keyPrefix).get(failure.id))?.refundedBeyondCaptured).toBeDefined();
    const before = await alarms('void_after_refund');

    const { adjustment } = await adjustments.recordAdjustment((await ledger.get(cancelId))!, {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 5000,
      currency: 'USD',
      reason: 'payments.voids.accept',
      gateway: 'cybs',
      pspEventId: `evt_late_void_${cancelId}`,
      source: 'webhook',
    });

    expect((await ledger.get(captureId))?.undoneBy).toBe(failure.id);
    expect(await adjustmentOfEvent(cancelId, adjustment.id)).not.toHaveProperty('refunded_beyond_captured');
    expect(await alarms('void_after_refund')).toBe(before);
  });

  it("the PSP's capture_failed recorded, a crash before its reading, the refund fact (alarm); the capture_failed heard again: no second alarm", async () => {
    const auth = await authorized();
    const captureId = await delivered(naming('capture', auth, auth.payment.operation_reference!));
    const refund = await refusedRefund(auth, 2000);
    const spy = jest.spyOn(ledger, 'dependentsOf').mockRejectedValueOnce(new Error('worker killed'));
    try {
      await expect(captureFailed(captureId)).rejects.toThrow('worker killed');
    } finally {
      spy.mockRestore();
    }
    const raisedByFact = await alarms('succeeded_after_failure');
    await refundedAfterAll(refund, 2000);
    expect(await alarms('succeeded_after_failure')).toBe(raisedByFact + 1);
    const before = await alarms('capture_failed_after_refund');

    const { created } = await captureFailed(captureId);

    expect(created).toBe(false);
    expect(await alarms('capture_failed_after_refund')).toBe(before);
  });

  it('control: the PSP fails a capture of a payment with no refund: nothing raised', async () => {
    const auth = await authorized();
    const captureId = await delivered(naming('capture', auth, auth.payment.operation_reference!));
    const before = await alarms('capture_failed_after_refund');

    const { adjustment } = await captureFailed(captureId);

    expect(await adjustmentOfEvent(captureId, adjustment.id)).not.toHaveProperty('refunded_beyond_captured');
    expect(await alarms('capture_failed_after_refund')).toBe(before);
  });
});

/**
 * An alarm raised when a capture failed (for good, after an undecided reading; or by the PSP's capture_failed after the
 * refunds were counted) that the PSP later says succeeded after all: the payment is read again, and when the refunds
 * now fit, a warn line says the earlier alarm no longer holds, counted once, shown on the capture.
 */
describe('a capture the alarm counted as failed that the PSP says succeeded after all: the alarm withdrawn, once', () => {
  const withdrawn = () => metricValue('pb_refunded_beyond_captured_withdrawn_total', { gateway: 'cybs' });
  const withdrawnLines = (captureId: string) =>
    logs.lines
      .filter((l) => l.includes('refunded beyond captured no longer holds') && l.includes(captureId))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  /** The PSP's word that capture `captureId` succeeded after all (a re-capture, or a capture recorded FAILED done after all). */
  async function capturedAfterAll(captureId: string, amount: number) {
    return adjustments.recordAdjustment((await ledger.get(captureId))!, {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount,
      currency: 'USD',
      gateway: 'cybs',
      pspEventId: `evt_saf_${captureId}`,
      source: 'webhook',
    });
  }

  it('a capture in flight failed for good (alarm capture_failed_after_undecided), then done by the PSP after all: the alarm withdrawn, warn line, ops show; once', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    psp.dropNextCapture = true;
    const inFlight = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(inFlight)).toMatchObject({ kind: 'retry' });
    await adjustments.recordAdjustment((await ledger.get(authOp))!, {
      kind: 'refund_outside_bridge',
      direction: 'debit',
      amount: 4000,
      currency: 'USD',
      gateway: 'cybs',
      pspReference: newCybersourceId(),
      pspEventId: `evt_outside_${authOp}`,
      source: 'reconciliation',
    });
    const raised = await alarms('capture_failed_after_undecided');
    await recorder.apply((await ledger.get(inFlight))!, { status: 'FAIL', gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' }, 'webhook');
    expect(await alarms('capture_failed_after_undecided')).toBe(raised + 1);
    const before = await withdrawn();

    const { adjustment } = await capturedAfterAll(inFlight, 2000);

    expect(await withdrawn()).toBe(before + 1);
    expect(withdrawnLines(inFlight)).toEqual([
      expect.objectContaining({
        level: 'warn',
        operation_id: inFlight,
        adjustment_id: logged(adjustment.id),
        authorization_id: authOp,
        reading: 'fit',
        withdrawn: ['refunds_reread'],
      }),
    ]);
    const detail = await new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)).show(inFlight);
    expect(detail?.marks.find((m) => m.kind === 'refunded_beyond_withdrawn')).toMatchObject({
      ref: adjustment.id,
      text: expect.stringContaining('no longer holds'),
    });

    // Told again: nothing said twice.
    await capturedAfterAll(inFlight, 2000);
    expect(await withdrawn()).toBe(before + 1);
    expect(withdrawnLines(inFlight)).toHaveLength(1);
  });

  it('the PSP failed the capture after the refund fact (alarm capture_failed_after_refund), then re-captured it: the alarm withdrawn, once', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const refund = await refusedRefund(auth, 2000);
    await refundedAfterAll(refund, 2000);
    const { adjustment: failure } = await captureFailed(captureId);
    expect((await new AdjustmentStore(redis, config.redis.keyPrefix).get(failure.id))?.refundedBeyondCaptured).toBeDefined();
    const before = await withdrawn();

    const { adjustment } = await capturedAfterAll(captureId, 5000);

    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    expect(await withdrawn()).toBe(before + 1);
    expect(withdrawnLines(captureId)).toEqual([
      expect.objectContaining({ adjustment_id: logged(adjustment.id), reading: 'fit', withdrawn: [logged(failure.id)] }),
    ]);
    await capturedAfterAll(captureId, 5000);
    expect(withdrawnLines(captureId)).toHaveLength(1);
  });

  it('failed, re-captured (withdrawn), failed again (a second alarm), re-captured again: the second alarm withdrawn too, each once', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const refund = await refusedRefund(auth, 2000);
    await refundedAfterAll(refund, 2000);
    const fail = async (n: number) =>
      adjustments.recordAdjustment((await ledger.get(captureId))!, {
        kind: 'capture_failed',
        direction: 'debit',
        amount: 5000,
        currency: 'USD',
        gateway: 'cybs',
        pspEventId: `evt_cf_${n}_${captureId}`,
        source: 'webhook',
      });
    const redo = async (n: number) =>
      adjustments.recordAdjustment((await ledger.get(captureId))!, {
        kind: 'succeeded_after_failure',
        direction: 'credit',
        amount: 5000,
        currency: 'USD',
        gateway: 'cybs',
        pspEventId: `evt_saf_${n}_${captureId}`,
        source: 'webhook',
      });
    const before = await withdrawn();
    const raised = await alarms('capture_failed_after_refund');
    const { adjustment: first } = await fail(1);
    await redo(1);
    expect(await withdrawn()).toBe(before + 1);
    const { adjustment: second } = await fail(2);
    expect((await ledger.get(captureId))?.undoneBy).toBe(second.id);
    // The first alarm was withdrawn: the second failure gives the money back twice again, and says so.
    expect(await alarms('capture_failed_after_refund')).toBe(raised + 2);
    expect((await new AdjustmentStore(redis, config.redis.keyPrefix).get(second.id))?.refundedBeyondCaptured).toBeDefined();

    const { adjustment: again } = await redo(2);

    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    expect(await withdrawn()).toBe(before + 2);
    expect(withdrawnLines(captureId).map((l) => l.withdrawn)).toEqual([[logged(first.id)], [logged(second.id)]]);
    const detail = await new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)).show(captureId);
    expect(detail?.marks.find((m) => m.kind === 'refunded_beyond_withdrawn')).toMatchObject({ ref: again.id });
    await redo(2);
    expect(await withdrawn()).toBe(before + 2);
  });

  it.each([
    ['a void', 'void_after_refund'],
    ['a refund fact', 'succeeded_after_failure'],
  ])('%s raised the alarm (%s), then a capture recorded FAILED is done by the PSP after all: the alarm withdrawn, once', async (by) => {
    const voided = { status: 'SUCCESS' as const, gatewayStatus: 'VOIDED' };
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    // A second capture the ledger holds FAILED: nothing it took counts, until the PSP says it did it after all.
    psp.dropNextCapture = true;
    const second = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(second)).toMatchObject({ kind: 'retry' });
    const failure = { status: 'FAIL' as const, gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' };
    expect((await recorder.apply((await ledger.get(second))!, failure, 'webhook')).state).toBe('FAILED');
    const refund = await refusedRefund(auth, 2000);
    psp.dropNextVoid = true;
    const cancelId = await record(naming('cancel', auth, captureId, { amount: 3000 }));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'retry' });
    let sayer: string;
    if (by === 'a void') {
      await refundedAfterAll(refund, 2000);
      await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');
      expect(await cancelEventBeyond(cancelId)).toEqual(beyondBlock);
      sayer = cancelId;
    } else {
      await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');
      const { adjustment } = await refundedAfterAll(refund, 2000);
      expect(await adjustmentOfEvent(refund.id, adjustment.id)).toHaveProperty('refunded_beyond_captured');
      sayer = adjustment.id;
    }
    const before = await withdrawn();

    const { adjustment: late } = await capturedAfterAll(second, 2000);

    // 20.00 captured stands again, 20.00 refunded: the alarm no longer holds.
    expect(await withdrawn()).toBe(before + 1);
    expect(withdrawnLines(second)).toEqual([
      expect.objectContaining({ level: 'warn', adjustment_id: logged(late.id), authorization_id: authOp, withdrawn: [logged(sayer)], reading: 'fit' }),
    ]);
    const detail = await new OperationsView(ledger, new AdjustmentStore(redis, config.redis.keyPrefix)).show(authOp);
    expect(detail?.marks.find((m) => m.kind === 'refunded_beyond_withdrawn')).toBeDefined();
    // Its claim is given up: the same figures found again later are a new alarm.
    expect(await ledger.refundedBeyondClaims(authOp)).toEqual([]);
    // Told again: nothing withdrawn twice.
    await capturedAfterAll(second, 2000);
    expect(await withdrawn()).toBe(before + 1);
    expect(withdrawnLines(second)).toHaveLength(1);
  });

  it("a refund fact's alarm withdrawn, then the PSP fails that capture again: the refunds beyond again, the alarm raised again (the withdrawn fact says nothing now)", async () => {
    const voided = { status: 'SUCCESS' as const, gatewayStatus: 'VOIDED' };
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    psp.dropNextCapture = true;
    const second = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(second)).toMatchObject({ kind: 'retry' });
    expect(
      (await recorder.apply((await ledger.get(second))!, { status: 'FAIL', gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' }, 'webhook')).state,
    ).toBe('FAILED');
    const refund = await refusedRefund(auth, 2000);
    psp.dropNextVoid = true;
    const cancelId = await record(naming('cancel', auth, captureId, { amount: 3000 }));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'retry' });
    await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');
    const { adjustment: said } = await refundedAfterAll(refund, 2000);
    expect(await adjustmentOfEvent(refund.id, said.id)).toHaveProperty('refunded_beyond_captured');
    const withdrawnBefore = await withdrawn();
    await capturedAfterAll(second, 2000);
    expect(await withdrawn()).toBe(withdrawnBefore + 1);
    const before = await alarms('capture_failed_after_refund');

    // The PSP fails the capture it did after all: nothing captured stands again, 20.00 refunded.
    const { adjustment: failedAgain } = await captureFailed(second, 2000);

    expect(await adjustmentOfEvent(second, failedAgain.id)).toMatchObject({ refunded_beyond_captured: beyondBlock });
    expect(await alarms('capture_failed_after_refund')).toBe(before + 1);
    expect(logs.lines.filter((l) => l.includes('"alert":"refunded_beyond_captured"') && l.includes(logged(failedAgain.id)))).toHaveLength(1);
  });

  it("a refund fact's alarm withdrawn, the fact heard again, then a void leaves the same figures: the void says them (the repeat takes no claim back)", async () => {
    const voided = { status: 'SUCCESS' as const, gatewayStatus: 'VOIDED' };
    /** A void of `captureId` sent, its answer lost (502): in flight until its success is applied. */
    const voidSent = async (auth: PaymentCommand, captureId: string, amount: number) => {
      psp.dropNextVoid = true;
      const cancelId = await record(naming('cancel', auth, captureId, { amount }));
      expect(await service.deliver(cancelId)).toMatchObject({ kind: 'retry' });
      return cancelId;
    };
    const auth = channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 8000, currency: 'USD' });
    await delivered(auth);
    const authOp = auth.payment.operation_reference!;
    const first = await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    const standing = await delivered(naming('capture', auth, authOp, { amount: 2000 }));
    psp.dropNextCapture = true;
    const late = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(late)).toMatchObject({ kind: 'retry' });
    expect(
      (await recorder.apply((await ledger.get(late))!, { status: 'FAIL', gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' }, 'webhook')).state,
    ).toBe('FAILED');
    const refund = await refusedRefund(auth, 4000);
    const firstVoid = await voidSent(auth, first, 3000);
    expect((await recorder.apply((await ledger.get(firstVoid))!, voided, 'webhook')).state).toBe('SUCCEEDED');
    const cancelId = await voidSent(auth, standing, 2000);
    // 20.00 captured stands, 40.00 refunded: the fact says it.
    const { adjustment: said } = await refundedAfterAll(refund, 4000);
    expect(await adjustmentOfEvent(refund.id, said.id)).toMatchObject({ refunded_beyond_captured: { captured_amount: 2000, refunded_amount: 4000 } });
    const withdrawnBefore = await withdrawn();
    await capturedAfterAll(late, 2000);
    expect(await withdrawn()).toBe(withdrawnBefore + 1);
    expect(await ledger.refundedBeyondClaims(authOp)).toEqual([]);

    // The same fact heard again (a webhook resent, reconciliation): the alarm it said was withdrawn, it claims nothing.
    await refundedAfterAll((await ledger.get(refund.id))!, 4000);
    expect(await ledger.refundedBeyondClaims(authOp)).toEqual([]);
    const before = await alarms('void_after_refund');

    // The void of the capture that stood succeeds: 20.00 captured stands again (the late one), 40.00 refunded.
    expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');

    expect(await cancelEventBeyond(cancelId)).toEqual({ ...beyondBlock, captured_amount: 2000, refunded_amount: 4000, excess_amount: 2000 });
    expect(await alarms('void_after_refund')).toBe(before + 1);
  });

  it('control: a capture done after all with no alarm raised on it: nothing withdrawn', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    psp.dropNextCapture = true;
    const captureId = await record(naming('capture', auth, authOp));
    expect(await service.deliver(captureId)).toMatchObject({ kind: 'retry' });
    await recorder.apply((await ledger.get(captureId))!, { status: 'FAIL', gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' }, 'webhook');
    const before = await withdrawn();

    await capturedAfterAll(captureId, 5000);

    expect(await withdrawn()).toBe(before);
    expect(withdrawnLines(captureId)).toHaveLength(0);
  });
});

/**
 * Alarms a release before claims were kept said: the fact kept its figures and its event carried them, and no claim on
 * the payment's record names it (simulated by removing the claims a fact took). A move's reading of the same figures, a
 * repeat of the fact and a withdrawal must neither say it twice nor lose a later alarm.
 */
describe('an alarm said before claims were kept (an earlier release): no claim on the payment', () => {
  const voided = { status: 'SUCCESS' as const, gatewayStatus: 'VOIDED' };
  const raised = async () => (await alarms('succeeded_after_failure')) + (await alarms('void_after_refund'));
  const withdrawn = () => metricValue('pb_refunded_beyond_captured_withdrawn_total', { gateway: 'cybs' });

  /** The payment's record as an earlier release left it: no claim on it. */
  async function forgetClaims(authOp: string): Promise<void> {
    const key = new ShardKeys(config.redis.keyPrefix, (await ledger.shardOf(authOp)) ?? 0).op(authOp);
    for (const { field } of await ledger.refundedBeyondClaims(authOp)) await redis.hdel(key, field);
    expect(await ledger.refundedBeyondClaims(authOp)).toEqual([]);
  }

  /** A void of `captureId` sent, its answer lost (502): in flight. */
  async function cancelInFlight(auth: PaymentCommand, captureId: string, amount: number): Promise<string> {
    psp.dropNextVoid = true;
    const cancelId = await record(naming('cancel', auth, captureId, { amount }));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'retry' });
    return cancelId;
  }

  it("a refund fact said it (read after a void's mark, the void's worker killed before its move); the void's success heard again and the fact resent: said once, by the fact", async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const refund = await refusedRefund(auth, 2000);
    const cancelId = await cancelInFlight(auth, captureId, 5000);
    const crash = new Error('worker killed');
    const spies = [jest.spyOn(ledger, 'transitionAndRecord').mockRejectedValue(crash), jest.spyOn(ledger, 'transitionAndGet').mockRejectedValue(crash)];
    try {
      await expect(recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).rejects.toThrow('worker killed');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const before = await raised();
    const { adjustment } = await refundedAfterAll(refund, 2000);
    expect(await raised()).toBe(before + 1);
    await forgetClaims(authOp);

    for (let i = 0; i < 3; i += 1) expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');
    await refundedAfterAll((await ledger.get(refund.id))!, 2000);

    expect(await raised()).toBe(before + 1);
    expect(await cancelEventBeyond(cancelId)).toBeUndefined();
    expect(await eventsSaying(authOp)).toEqual([adjustmentEventId(refund.id, adjustment.id)]);
  });

  it("a refund fact that lost the claim to a void said nothing: the void's alarm withdrawn once, the fact's never (a repeat withdraws nothing more), and the same figures found again are said", async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    psp.dropNextCapture = true;
    const second = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(second)).toMatchObject({ kind: 'retry' });
    const failure = { status: 'FAIL' as const, gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' };
    expect((await recorder.apply((await ledger.get(second))!, failure, 'webhook')).state).toBe('FAILED');
    const refund = await refusedRefund(auth, 2000);
    const cancelId = await cancelInFlight(auth, captureId, 3000);
    // The void's worker killed past its mark (its reading fit: nothing refunded yet); the refund fact reads after the mark,
    // and before it claims, the void's success heard again reads the same figures, claims them and says them.
    const crash = new Error('worker killed');
    const spies = [jest.spyOn(ledger, 'transitionAndRecord').mockRejectedValue(crash), jest.spyOn(ledger, 'transitionAndGet').mockRejectedValue(crash)];
    try {
      await expect(recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).rejects.toThrow('worker killed');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const before = await raised();
    const keep = AdjustmentStore.prototype.recordRefundedBeyondCapturedOnce;
    const keeps = jest.spyOn(AdjustmentStore.prototype, 'recordRefundedBeyondCapturedOnce').mockImplementation(async function (this: AdjustmentStore, ...args) {
      await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook');
      return keep.apply(this, args);
    });
    let lost: string;
    try {
      lost = (await refundedAfterAll(refund, 2000)).adjustment.id;
    } finally {
      keeps.mockRestore();
    }
    expect(await cancelEventBeyond(cancelId)).toEqual(beyondBlock);
    expect(await raised()).toBe(before + 1);
    expect(await ledger.refundedBeyondClaims(authOp)).toEqual([expect.objectContaining({ by: cancelId })]);
    const withdrawals = await withdrawn();
    const capturedAfterAll = async () =>
      adjustments.recordAdjustment((await ledger.get(second))!, {
        kind: 'succeeded_after_failure',
        direction: 'credit',
        amount: 2000,
        currency: 'USD',
        gateway: 'cybs',
        pspEventId: `evt_saf_${second}`,
        source: 'webhook',
      });

    await capturedAfterAll();
    await capturedAfterAll();

    expect(await withdrawn()).toBe(withdrawals + 1);
    const lines = logs.lines
      .filter((l) => l.includes('refunded beyond captured no longer holds') && l.includes(second))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.withdrawn)).toEqual([[cancelId]]);
    expect(logs.lines.some((l) => l.includes('no longer holds') && l.includes(logged(lost)))).toBe(false);

    // The PSP fails the capture done after all again: the same figures. The fact that lost the claim said nothing, and is
    // not taken as having said them: the failure says them.
    const failedAgain = await alarms('capture_failed_after_refund');
    const { adjustment: again } = await captureFailed(second, 2000);
    expect(await adjustmentOfEvent(second, again.id)).toMatchObject({ refunded_beyond_captured: beyondBlock });
    expect(await alarms('capture_failed_after_refund')).toBe(failedAgain + 1);
  });

  it('a capture done after all withdraws it; the fact resent takes no claim, and the same figures found again later (the PSP fails that capture again) are said', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    // A second capture the ledger holds FAILED: nothing it took counts, until the PSP says it did it after all.
    psp.dropNextCapture = true;
    const second = await record(naming('capture', auth, authOp, { amount: 2000 }));
    expect(await service.deliver(second)).toMatchObject({ kind: 'retry' });
    const failure = { status: 'FAIL' as const, gatewayStatus: 'DECLINED', reason: 'PROCESSOR_DECLINED' };
    expect((await recorder.apply((await ledger.get(second))!, failure, 'webhook')).state).toBe('FAILED');
    const refund = await refusedRefund(auth, 2000);
    const cancelId = await cancelInFlight(auth, captureId, 3000);
    expect((await recorder.apply((await ledger.get(cancelId))!, voided, 'webhook')).state).toBe('SUCCEEDED');
    const before = await raised();
    const { adjustment } = await refundedAfterAll(refund, 2000);
    expect(await adjustmentOfEvent(refund.id, adjustment.id)).toHaveProperty('refunded_beyond_captured');
    expect(await raised()).toBe(before + 1);
    await forgetClaims(authOp);
    const withdrawals = await withdrawn();

    // 20.00 captured stands again, 20.00 refunded: the alarm no longer holds, and is withdrawn like one that holds a claim.
    await adjustments.recordAdjustment((await ledger.get(second))!, {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 2000,
      currency: 'USD',
      gateway: 'cybs',
      pspEventId: `evt_saf_${second}`,
      source: 'webhook',
    });
    expect(await withdrawn()).toBe(withdrawals + 1);
    const line = logs.lines.find((l) => l.includes('refunded beyond captured no longer holds') && l.includes(second));
    expect(JSON.parse(line!)).toMatchObject({ withdrawn: [logged(adjustment.id)], reading: 'fit' });

    // The fact heard again takes no claim back.
    await refundedAfterAll((await ledger.get(refund.id))!, 2000);
    expect(await ledger.refundedBeyondClaims(authOp)).toEqual([]);

    // The PSP fails the capture done after all again: nothing captured stands, 20.00 refunded, the same figures. The
    // withdrawn fact is no longer taken as having said them: the failure says them.
    const failedAgain = await alarms('capture_failed_after_refund');
    const { adjustment: again } = await captureFailed(second, 2000);

    expect(await adjustmentOfEvent(second, again.id)).toMatchObject({ refunded_beyond_captured: beyondBlock });
    expect(await alarms('capture_failed_after_refund')).toBe(failedAgain + 1);
    expect(await withdrawn()).toBe(withdrawals + 1);
  });
});
