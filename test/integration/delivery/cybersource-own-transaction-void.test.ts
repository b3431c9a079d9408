import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { Payment, PaymentCommand } from '../../../src/contracts/payment-command';
import { AdjustmentStore } from '../../../src/adjustments/adjustment-store';
import { AdjustmentRecorder } from '../../../src/delivery/adjustment-recorder';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { CYBERSOURCE_SEARCH_LAG_MS } from '../../../src/gateways/cybersource/cybersource-transformer';
import { VOID_WAIT_MAX_MS } from '../../../src/delivery/dependent-wait';
import { ownTransactionVoidOf } from '../../../src/delivery/own-transaction-void';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RedisClient, createRedis, isCluster } from '../../../src/redis/redis-connection';
import { shardKeysOf, shardOfOperation } from '../../../src/redis/key-layout';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { monitorCommands } from '../../support/redis-monitor';
import { channelCommand } from '../../support/fixtures';
import { requiredCredentials } from '../../support/gateway-credentials';
import { testConfig } from '../../support/test-config';
import { newCybersourceId } from '../../support/cybersource-ids';

/**
 * A cancel naming one of our Cybersource captures or refunds by its operation id voids that transaction by its own
 * id ("Void a Capture", "Void a Refund"), through the delivery flow on real Redis: the ledger then no longer counts it
 * (a new capture, or refund, within what is left goes), Cybersource's refusal once settled fails the cancel and leaves
 * the totals alone, and a second cancel of the same transaction voids nothing twice.
 */

interface Seen {
  method: string;
  url: string;
  body: Record<string, unknown>;
}

/** The Cybersource stand-in: what it was sent, what it holds, what settled (its void refused), what it voided. */
const psp = {
  seen: [] as Seen[],
  /** What each authorization still holds, in cents: a capture takes from it, a void of that capture gives it back. */
  held: new Map<string, number>(),
  /** Each capture's authorization and amount, and each refund's amount (Cybersource ids, cents). */
  captureOf: new Map<string, { auth: string; cents: number }>(),
  amountOf: new Map<string, number>(),
  /** Transactions whose batch settled: a void of one is refused (400 NOT_VOIDABLE). */
  settled: new Set<string>(),
  /** Transactions voided: a second void of one is refused as well. */
  voided: new Set<string>(),
  /** The next void done, but its answer lost (502 SERVER_TIMEOUT): only a search by merchant reference finds it. */
  loseNextVoidAnswer: false,
  /** The next void answered 502 SERVER_TIMEOUT without being done: a search finds nothing, it is sent again. */
  dropNextVoid: false,
  /** The next void answered with this status instead of VOIDED (nothing voided yet), as its search shows it too. */
  nextVoidStatus: undefined as string | undefined,
  /** Holds the next refund's answer until it resolves: the refund stays SENT, in flight, meanwhile. */
  holdNextRefund: undefined as Promise<void> | undefined,
  /** The next refund answered refused (400 INVALID_DATA) when its answer goes: it FAILS, nothing refunded. */
  refuseNextRefund: false,
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
let serviceDeps: ConstructorParameters<typeof DeliveryService>[0];
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
        const held = psp.holdNextRefund;
        psp.holdNextRefund = undefined;
        if (held) return void held.then(answer);
        return answer();
      }
      const voiding = /^\/pts\/v2\/(captures|refunds)\/(\d+)\/voids$/.exec(url);
      if (voiding) {
        const id = voiding[2];
        const known = voiding[1] === 'captures' ? psp.captureOf.has(id) : psp.amountOf.has(id);
        if (!known) return refused('INVALID_DATA', 'Declined - One or more fields in the request contains invalid data');
        if (psp.settled.has(id) || psp.voided.has(id)) {
          return refused(
            'NOT_VOIDABLE',
            'The capture or credit is not voidable because the capture or credit information has already been submitted to your processor.',
          );
        }
        if (psp.dropNextVoid) {
          psp.dropNextVoid = false;
          return json(502, { submitTimeUtc: new Date().toISOString(), status: 'SERVER_ERROR', reason: 'SERVER_TIMEOUT', message: 'Error - Server timeout' });
        }
        const status = psp.nextVoidStatus;
        psp.nextVoidStatus = undefined;
        if (status !== undefined) {
          const pending = { id: newCybersourceId(), submitTimeUtc: new Date().toISOString(), status };
          const code = (reference as { code?: string } | undefined)?.code;
          if (code) psp.byReference.set(code, pending);
          return json(201, { ...pending, clientReferenceInformation: reference });
        }
        psp.voided.add(id);
        const capture = psp.captureOf.get(id);
        // A voided capture never took the money: the authorization holds it again.
        if (capture) psp.held.set(capture.auth, (psp.held.get(capture.auth) ?? 0) + capture.cents);
        const voided = capture?.cents ?? psp.amountOf.get(id) ?? 0;
        const done = { id: newCybersourceId(), submitTimeUtc: new Date().toISOString(), status: 'VOIDED' };
        const code = (reference as { code?: string } | undefined)?.code;
        if (code) psp.byReference.set(code, done);
        if (psp.loseNextVoidAnswer) {
          psp.loseNextVoidAnswer = false;
          return json(502, { submitTimeUtc: done.submitTimeUtc, status: 'SERVER_ERROR', reason: 'SERVER_TIMEOUT', message: 'Error - Server timeout' });
        }
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
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: logs.logger });
  serviceDeps = { config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger: logs.logger };
  service = new DeliveryService(serviceDeps);
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

/** `command` (a cancel) recorded and delivered, the PSP's answer to its void lost: undecided, not done. Its operation id. */
async function undecidedVoid(command: PaymentCommand): Promise<string> {
  const id = await record(command);
  psp.loseNextVoidAnswer = true;
  expect((await service.deliver(id)).kind).not.toBe('done');
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

function sentFor(id: string): Seen[] {
  return psp.seen.filter((s) => (s.body.clientReferenceInformation as { code?: string } | undefined)?.code === id);
}

async function pspId(id: string): Promise<string> {
  const reference = (await ledger.get(id))?.gatewayReference;
  expect(reference).toMatch(/^\d{22}$/);
  return reference!;
}

const voids = (command: 'capture' | 'refund', outcome: 'voided' | 'declined' | 'refused') =>
  metricValue('pb_transaction_voids_total', { gateway: 'cybs', command, outcome });

/** The Redis key of operation `id`'s record. */
async function recordKey(id: string): Promise<string> {
  return shardKeysOf(config.redis.keyPrefix)[(await shardOfOperation(redis, config.redis.keyPrefix, id))!].op(id);
}

describe('Cybersource cancel naming our capture or refund: voids that transaction by its own id', () => {
  it('voids a capture by its Cybersource id, marks it undone, reports the void; the voided funds are not captured again (refused unsent)', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const capturePspId = await pspId(captureId);
    const before = await voids('capture', 'voided');
    const cancelId = await delivered(naming('cancel', auth, captureId));
    // One request, the void of that capture, under the cancel's own merchant reference (its idempotency key).
    expect(sentFor(cancelId).map((s) => `${s.method} ${s.url}`)).toEqual([`POST /pts/v2/captures/${capturePspId}/voids`]);
    expect(sentFor(cancelId)[0].body).toEqual({ clientReferenceInformation: { code: cancelId } });
    // The ledger: the capture undone by this cancel (a void's mark), the authorization not closed by it.
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: captureId, command: 'capture' });
    expect((await ledger.get(authOp))?.closedBy).not.toBe(cancelId);
    // The OMS hears what Cybersource confirmed: VOIDED, naming the capture it undid.
    const payment = (await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({ status: 'SUCCESS', amount: 5000, currency: 'USD' });
    expect(payment.gateway_response).toMatchObject({ status: 'VOIDED', voided: { operation_reference: captureId, command: 'capture' } });
    expect(await voids('capture', 'voided')).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('capture voided by a cancel naming it') && l.includes(cancelId) && l.includes(captureId))).toBe(true);
    // Cybersource: "After a void is processed, you cannot credit or capture the funds": no new capture is sent.
    const again = await record(naming('capture', auth, authOp));
    expect(await service.deliver(again)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(again)).toHaveLength(0);
    expect((await ledger.get(again))?.reason).toBe('amount_held_by_failed_capture');
  });

  it('a capture after a cancel of the authorization voided its capture is still refused unsent, as before named voids', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const cancelId = await delivered(naming('cancel', auth, authOp));
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/captures/${await pspId(captureId)}/voids`]);
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    const again = await record(naming('capture', auth, authOp));
    expect(await service.deliver(again)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(again)).toHaveLength(0);
    expect((await ledger.get(again))?.reason).toBe('amount_held_by_failed_capture');
  });

  it('voids a refund by its Cybersource id: it no longer counts as refunded, so a refund of the whole capture goes again', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp));
    const refundId = await delivered(naming('refund', auth, authOp));
    const refundPspId = await pspId(refundId);
    const before = await voids('refund', 'voided');
    const cancelId = await delivered(naming('cancel', auth, refundId));
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/refunds/${refundPspId}/voids`]);
    expect((await ledger.get(refundId))?.undoneBy).toBe(cancelId);
    const payment = (await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(payment.gateway_response).toMatchObject({ status: 'VOIDED', voided: { operation_reference: refundId, command: 'refund' } });
    expect(await voids('refund', 'voided')).toBe(before + 1);
    const again = await delivered(naming('refund', auth, authOp));
    expect(sentFor(again)).toHaveLength(1);
  });

  it('fails the cancel when Cybersource refuses the void once settled (NOT_VOIDABLE), telling the OMS to refund instead; the capture still counts', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    psp.settled.add(await pspId(captureId));
    const before = await voids('capture', 'declined');
    const cancelId = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(1);
    expect((await ledger.get(cancelId))?.reason).toBe('NOT_VOIDABLE');
    expect((await events.load(`${cancelId}.FAILED`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason: 'NOT_VOIDABLE',
      decline: { category: 'operation_not_permitted', gateway_code: 'NOT_VOIDABLE', suggested_action: 'reverse_with_new_transaction' },
    });
    expect(await voids('capture', 'declined')).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('gateway declined the void of a capture') && l.includes(cancelId) && l.includes(captureId))).toBe(true);
    // Nothing undone: the capture still takes the whole authorization, so another capture is refused unsent.
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    const over = await record(naming('capture', auth, authOp, { amount: 1 }));
    expect(await service.deliver(over)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(over))?.reason).toBe('amount_exceeds_authorized');
    expect(sentFor(over)).toHaveLength(0);
  });

  it('fails the void of a settled refund (NOT_VOIDABLE) suggesting no action: no new transaction undoes a refund; the refund still counts', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp));
    const refundId = await delivered(naming('refund', auth, authOp));
    psp.settled.add(await pspId(refundId));
    const cancelId = await record(naming('cancel', auth, refundId));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await events.load(`${cancelId}.FAILED`))?.params.payment).toMatchObject({
      reason: 'NOT_VOIDABLE',
      decline: { gateway_code: 'NOT_VOIDABLE', suggested_action: 'none' },
    });
    expect((await ledger.get(refundId))?.undoneBy).toBeUndefined();
  });

  it('does not void twice: a second cancel of a voided capture is refused unsent, and the first delivered again sends nothing', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const first = await delivered(naming('cancel', auth, captureId));
    const refused = await voids('capture', 'refused');
    const second = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(second)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(second)).toHaveLength(0);
    expect(await ledger.get(second)).toMatchObject({ reason: 'ALREADY_UNDONE', reasonField: 'payment.gateway_key' });
    expect((await events.load(`${second}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL', reason: 'ALREADY_UNDONE', field: 'payment.gateway_key' });
    expect(await voids('capture', 'refused')).toBe(refused + 1);
    const requests = psp.seen.length;
    const voided = await voids('capture', 'voided');
    expect(await service.deliver(first)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    // Delivered again: nothing sent to Cybersource at all, nothing counted again, the mark stands.
    expect(psp.seen).toHaveLength(requests);
    expect(await voids('capture', 'voided')).toBe(voided);
    expect(sentFor(first)).toHaveLength(1);
    expect((await ledger.get(captureId))?.undoneBy).toBe(first);
  });

  it('a void whose answer was lost is found by its merchant reference, never sent again, and marks the capture undone then', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const cancelId = await undecidedVoid(naming('cancel', auth, captureId));
    expect((await ledger.get(cancelId))?.state).toBe('UNKNOWN');
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/captures/${await pspId(captureId)}/voids`]);
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: captureId, command: 'capture' });
  });

  it('refuses unsent the void of a capture whose money refunds of the payment give back already (a refund of the rest instead)', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    await delivered(naming('refund', auth, authOp, { amount: 1000 }));
    const cancelId = await record(naming('cancel', auth, captureId, { amount: 3000 }));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'CAPTURE_REFUNDED', reasonField: 'payment.gateway_key' });
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
  });

  it('voids of two captures of one authorization: the second waits, unsent, while the first is undecided, and is refused once the first voided its capture', async () => {
    // Authorized 50.00, captured 25.00 twice, 25.00 refunded: one capture must stand while that refund does.
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const first = await delivered(naming('capture', auth, authOp, { amount: 2500 }));
    const second = await delivered(naming('capture', auth, authOp, { amount: 2500 }));
    await delivered(naming('refund', auth, authOp, { amount: 2500 }));
    const v1 = await undecidedVoid(naming('cancel', auth, first, { amount: 2500 }));
    expect((await ledger.get(v1))?.state).toBe('UNKNOWN');
    const v2 = await record(naming('cancel', auth, second, { amount: 2500 }));
    expect(await service.deliver(v2)).toMatchObject({ kind: 'wait' });
    expect(sentFor(v2)).toHaveLength(0);
    expect((await ledger.get(v2))?.state).toBe('RECEIVED');
    expect(await service.deliver(v1)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect((await ledger.get(first))?.undoneBy).toBe(v1);
    expect(await service.deliver(v2)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(v2)).toHaveLength(0);
    expect(await ledger.get(v2)).toMatchObject({ reason: 'CAPTURE_REFUNDED', reasonField: 'payment.gateway_key' });
    expect((await ledger.get(second))?.undoneBy).toBeUndefined();
  });

  it('voids of two captures of one authorization: the second, waiting on the first, is sent once the first fails (NOT_VOIDABLE)', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const first = await delivered(naming('capture', auth, authOp, { amount: 2500 }));
    const second = await delivered(naming('capture', auth, authOp, { amount: 2500 }));
    await delivered(naming('refund', auth, authOp, { amount: 2500 }));
    const waits = await metricValue('pb_cancel_void_guards_total', { gateway: 'cybs', guard: 'void_waits_for_capture_void' });
    const v1 = await record(naming('cancel', auth, first, { amount: 2500 }));
    // Its first attempt times out undone: undecided until asked again; by then the capture's batch settled.
    psp.dropNextVoid = true;
    expect((await service.deliver(v1)).kind).not.toBe('done');
    expect((await ledger.get(v1))?.state).toBe('UNKNOWN');
    const v2 = await record(naming('cancel', auth, second, { amount: 2500 }));
    expect(await service.deliver(v2)).toMatchObject({ kind: 'wait' });
    expect(sentFor(v2)).toHaveLength(0);
    expect(await metricValue('pb_cancel_void_guards_total', { gateway: 'cybs', guard: 'void_waits_for_capture_void' })).toBe(waits + 1);
    expect(logs.lines.some((l) => l.includes('cancel waits for the void of another capture') && l.includes(v2) && l.includes(v1))).toBe(true);
    psp.settled.add(await pspId(first));
    // Asked again once Cybersource's search would show it: no trace, so sent again, and refused (NOT_VOIDABLE).
    const later = new DeliveryService({ ...serviceDeps, now: () => Date.now() + CYBERSOURCE_SEARCH_LAG_MS + 60_000 });
    expect(await later.deliver(v1)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(v1).filter((s) => s.url.endsWith('/voids'))).toHaveLength(2);
    expect((await ledger.get(v1))?.reason).toBe('NOT_VOIDABLE');
    expect((await ledger.get(first))?.undoneBy).toBeUndefined();
    // The first capture stands and covers the refund: the second void goes now.
    expect(await service.deliver(v2)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(v2).map((s) => s.url)).toEqual([`/pts/v2/captures/${await pspId(second)}/voids`]);
    expect((await ledger.get(second))?.undoneBy).toBe(v2);
  });

  /**
   * A refund of 25.00 of a 50.00 capture sent and its answer held (SENT, undecided), then a cancel naming that
   * capture: the void waits, unsent. Returns the ids, the refund's delivery (done once `release` lets its answer go).
   */
  async function voidBehindRefundInFlight(): Promise<{
    captureId: string;
    refundId: string;
    cancelId: string;
    refunding: Promise<unknown>;
    release: () => void;
  }> {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    let release!: () => void;
    psp.holdNextRefund = new Promise<void>((resolve) => (release = resolve));
    const refundId = await record(naming('refund', auth, authOp, { amount: 2500 }));
    const refunding = service.deliver(refundId);
    for (let i = 0; i < 200 && sentFor(refundId).length === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await ledger.get(refundId))?.state).toBe('SENT');
    const waits = await metricValue('pb_cancel_void_guards_total', { gateway: 'cybs', guard: 'void_waits_for_refund' });
    const cancelId = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect((await ledger.get(cancelId))?.state).toBe('RECEIVED');
    expect(await metricValue('pb_cancel_void_guards_total', { gateway: 'cybs', guard: 'void_waits_for_refund' })).toBe(waits + 1);
    expect(logs.lines.some((l) => l.includes('cancel waits for refunds of the payment in flight') && l.includes(cancelId) && l.includes(refundId))).toBe(true);
    return { captureId, refundId, cancelId, refunding, release };
  }

  it('the void of a capture waits, unsent, while a refund of the payment it would undo is in flight (SENT), and is sent once that refund fails', async () => {
    const { captureId, cancelId, refunding, release } = await voidBehindRefundInFlight();
    psp.refuseNextRefund = true;
    release();
    expect(await refunding).toEqual({ kind: 'done', state: 'FAILED' });
    // The refund gave nothing back: the capture may be voided now.
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/captures/${await pspId(captureId)}/voids`]);
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
  });

  it('refuses at once (CAPTURE_REFUNDED, no wait) the void of a capture whose confirmed refunds alone need it, with a refund in flight beside them', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    await delivered(naming('refund', auth, authOp, { amount: 2500 }));
    let release!: () => void;
    psp.holdNextRefund = new Promise<void>((resolve) => (release = resolve));
    const refundId = await record(naming('refund', auth, authOp, { amount: 1000 }));
    const refunding = service.deliver(refundId);
    for (let i = 0; i < 200 && sentFor(refundId).length === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await ledger.get(refundId))?.state).toBe('SENT');
    const cancelId = await record(naming('cancel', auth, captureId));
    try {
      expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(sentFor(cancelId)).toHaveLength(0);
      expect(await ledger.get(cancelId)).toMatchObject({ reason: 'CAPTURE_REFUNDED', reasonField: 'payment.gateway_key' });
    } finally {
      release();
      await refunding;
    }
  });

  it('the void of a capture waiting on a refund in flight waits no longer than VOID_WAIT_MAX_MS: then refused unsent (VOID_WAIT_EXPIRED), counted, for a person', async () => {
    const { captureId, cancelId, refunding, release } = await voidBehindRefundInFlight();
    try {
      const at = (offset: number) => new DeliveryService({ ...serviceDeps, now: () => Date.now() + offset });
      // Just short of the bound: still waiting, unsent.
      expect(await at(VOID_WAIT_MAX_MS - 60_000).deliver(cancelId)).toMatchObject({ kind: 'wait' });
      const expired = await metricValue('pb_void_waits_expired_total', { gateway: 'cybs', awaiting: 'refund_in_flight' });
      const refused = await voids('capture', 'refused');
      expect(await at(VOID_WAIT_MAX_MS + 60_000).deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(sentFor(cancelId)).toHaveLength(0);
      expect(await ledger.get(cancelId)).toMatchObject({ reason: 'VOID_WAIT_EXPIRED', reasonField: 'payment.gateway_key' });
      expect((await events.load(`${cancelId}.FAILED`))?.params.payment).toMatchObject({
        status: 'FAIL',
        reason: 'VOID_WAIT_EXPIRED',
        field: 'payment.gateway_key',
        decline: { category: 'bridge_refused', suggested_action: 'contact_support' },
      });
      expect(await metricValue('pb_void_waits_expired_total', { gateway: 'cybs', awaiting: 'refund_in_flight' })).toBe(expired + 1);
      expect(await voids('capture', 'refused')).toBe(refused + 1);
      const line = logs.lines.find((l) => l.includes('operation refused against its authorization') && l.includes(cancelId) && l.includes('VOID_WAIT_EXPIRED'));
      expect(line).toContain('"awaiting":"refund_in_flight"');
      expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
    } finally {
      release();
      await refunding;
    }
  });

  /**
   * `deliver` at `offset` ms from now refuses `id` unsent with `reason`, naming `awaiting` in its warn line, its FAIL
   * event (bridge_refused, contact_support) and `pb_void_waits_expired_total`; just short of the bound it still waits.
   */
  async function refusedPastTheBound(id: string, awaiting: string, reason: string): Promise<void> {
    const at = (offset: number) => new DeliveryService({ ...serviceDeps, now: () => Date.now() + offset });
    expect(await at(VOID_WAIT_MAX_MS - 60_000).deliver(id)).toMatchObject({ kind: 'wait' });
    const expired = await metricValue('pb_void_waits_expired_total', { gateway: 'cybs', awaiting });
    expect(await at(VOID_WAIT_MAX_MS + 60_000).deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(id)).toHaveLength(0);
    expect(await ledger.get(id)).toMatchObject({ reason, reasonField: 'payment.gateway_key' });
    expect((await events.load(`${id}.FAILED`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason,
      field: 'payment.gateway_key',
      decline: { category: 'bridge_refused', suggested_action: 'contact_support' },
    });
    expect(await metricValue('pb_void_waits_expired_total', { gateway: 'cybs', awaiting })).toBe(expired + 1);
    const line = logs.lines.find((l) => l.includes('operation refused against its authorization') && l.includes(id) && l.includes(reason));
    expect(line).toContain(`"awaiting":"${awaiting}"`);
  }

  it('the bound is delivery.void_wait_max_ms: a worker configured shorter refuses past its own bound', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await record(naming('capture', auth, authOp, { amount: 2000 }));
    const cancelId = await record(naming('cancel', auth, authOp));
    const shorter = { ...config, delivery: { ...config.delivery, voidWaitMaxMs: 120_000 } };
    const at = (offset: number) => new DeliveryService({ ...serviceDeps, config: shorter, now: () => Date.now() + offset });
    expect(await at(60_000).deliver(cancelId)).toMatchObject({ kind: 'wait' });
    expect(await at(180_000).deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'WAIT_FOR_CAPTURES_EXPIRED' });
    const line = logs.lines.find((l) => l.includes('operation refused against its authorization') && l.includes(cancelId));
    expect(line).toContain('"wait_max_ms":120000');
  });

  it('a cancel naming our capture while that capture is undecided (SENT, it may end UNRESOLVED) waits no longer than the bound: refused unsent (WAIT_FOR_TRANSACTION_EXPIRED); the capture is left as it is', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    // A capture sent and not answered yet: its outcome may never come (UNRESOLVED settles only by a later PSP fact).
    const captureId = await record(naming('capture', auth, authOp));
    expect((await ledger.transition(captureId, 'SENT', { event: 'attempt' }, { countAttempt: true })).applied).toBe(true);
    const cancelId = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    const refused = await voids('capture', 'refused');
    await refusedPastTheBound(cancelId, 'named_transaction', 'WAIT_FOR_TRANSACTION_EXPIRED');
    expect((await ledger.get(captureId))?.state).toBe('SENT');
    // The line names the capture to settle, as the siblings of every other bound, and the void refused is counted as
    // every refusal of a void of our capture is.
    const line = logs.lines.find((l) => l.includes('operation refused against its authorization') && l.includes(cancelId));
    expect(line).toContain(`"siblings":"${captureId}"`);
    expect(line).toContain(`"named_operation_id":"${captureId}"`);
    expect(line).toContain('"named_command":"capture"');
    expect(await voids('capture', 'refused')).toBe(refused + 1);
  });

  it('a refund waiting for a void whose answer was lost (UNKNOWN) waits no longer than the bound: refused unsent (WAIT_FOR_VOID_EXPIRED); the void, sent, is never refused', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const cancelId = await undecidedVoid(naming('cancel', auth, captureId));
    expect((await ledger.get(cancelId))?.state).toBe('UNKNOWN');
    const refundId = await record(naming('refund', auth, authOp));
    expect(await service.deliver(refundId)).toMatchObject({ kind: 'wait' });
    await refusedPastTheBound(refundId, 'void', 'WAIT_FOR_VOID_EXPIRED');
    // The cancel may have reached Cybersource: it stays undecided, asked about, never refused by a bound.
    expect((await ledger.get(cancelId))?.state).toBe('UNKNOWN');
  });

  it('a second cancel of one capture waiting for the first, undecided, waits no longer than the bound: refused unsent (WAIT_FOR_OTHER_VOID_EXPIRED)', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const first = await undecidedVoid(naming('cancel', auth, captureId));
    const second = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(second)).toMatchObject({ kind: 'wait' });
    const refused = await voids('capture', 'refused');
    await refusedPastTheBound(second, 'void_in_flight', 'WAIT_FOR_OTHER_VOID_EXPIRED');
    expect((await ledger.get(first))?.state).toBe('UNKNOWN');
    const line = logs.lines.find((l) => l.includes('operation refused against its authorization') && l.includes(second));
    expect(line).toContain(`"named_operation_id":"${captureId}"`);
    expect(await voids('capture', 'refused')).toBe(refused + 1);
  });

  it('a cancel voiding the capture that took the authorization, waiting for a refund in flight, waits no longer than the bound: refused unsent (WAIT_FOR_REFUNDS_EXPIRED)', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp));
    let release!: () => void;
    psp.holdNextRefund = new Promise<void>((resolve) => (release = resolve));
    const refundId = await record(naming('refund', auth, authOp, { amount: 2500 }));
    const refunding = service.deliver(refundId);
    try {
      for (let i = 0; i < 200 && sentFor(refundId).length === 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await ledger.get(refundId))?.state).toBe('SENT');
      const cancelId = await record(naming('cancel', auth, authOp));
      expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
      await refusedPastTheBound(cancelId, 'refunds', 'WAIT_FOR_REFUNDS_EXPIRED');
    } finally {
      release();
      await refunding;
    }
  });

  it('a bound never refuses a command another worker moved to SENT after this one read it (it may be at Cybersource): left as it is, no FAIL event', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await record(naming('capture', auth, authOp, { amount: 2000 }));
    const cancelId = await record(naming('cancel', auth, authOp));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    // Read RECEIVED, never attempted, past the bound; meanwhile another worker (a stalled job run again) sends it.
    const read = (await ledger.get(cancelId))!;
    expect((await ledger.transition(cancelId, 'SENT', { event: 'attempt' }, { countAttempt: true })).applied).toBe(true);
    const expired = await metricValue('pb_void_waits_expired_total', { gateway: 'cybs', awaiting: 'undelivered_captures' });
    const at = new DeliveryService({ ...serviceDeps, now: () => Date.now() + VOID_WAIT_MAX_MS + 60_000 });
    expect(await at.deliver(read)).toEqual({ kind: 'done', state: 'SENT' });
    expect(await ledger.get(cancelId)).toMatchObject({ state: 'SENT', attempts: 1 });
    expect(await events.load(`${cancelId}.FAILED`)).toBeNull();
    expect(await metricValue('pb_void_waits_expired_total', { gateway: 'cybs', awaiting: 'undelivered_captures' })).toBe(expired);
    expect(logs.lines.find((l) => l.includes('refusal not recorded: another worker moved the operation meanwhile') && l.includes(cancelId))).toContain(
      '"state":"SENT"',
    );
  });

  it('a cancel of the authorization waiting for a capture accepted and never delivered waits no longer than the bound: refused unsent (WAIT_FOR_CAPTURES_EXPIRED)', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await record(naming('capture', auth, authOp, { amount: 2000 }));
    const cancelId = await record(naming('cancel', auth, authOp));
    expect(await service.deliver(cancelId)).toMatchObject({ kind: 'wait' });
    await refusedPastTheBound(cancelId, 'undelivered_captures', 'WAIT_FOR_CAPTURES_EXPIRED');
    // The capture, delivered now, goes: the cancel refused moved nothing.
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
  });

  it('the void of a capture waiting on a refund in flight is refused CAPTURE_REFUNDED, unsent, once that refund succeeds', async () => {
    const { captureId, cancelId, refunding, release } = await voidBehindRefundInFlight();
    release();
    expect(await refunding).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'CAPTURE_REFUNDED', reasonField: 'payment.gateway_key' });
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
  });

  // The capture that closes its authorization records it (`authorization_id`); others name it by their gateway_key.
  it('refuses unsent a cancel naming our capture when its linked authorization record is gone: the void guards cannot read it (VOID_UNCHECKABLE, contact support)', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const named = await delivered(naming('capture', auth, authOp));
    expect((await ledger.get(named))?.authorizationId).toBe(authOp);
    await redis.del(await recordKey(authOp));
    expect(await ledger.get(authOp)).toBeNull();
    const refused = await voids('capture', 'refused');
    const cancelId = await record(naming('cancel', auth, named));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'VOID_UNCHECKABLE', reasonField: 'payment.gateway_key' });
    const payment = (await events.load(`${cancelId}.FAILED`))?.params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({
      status: 'FAIL',
      reason: 'VOID_UNCHECKABLE',
      field: 'payment.gateway_key',
      decline: { category: 'bridge_refused', suggested_action: 'contact_support' },
    });
    expect(await voids('capture', 'refused')).toBe(refused + 1);
    expect(logs.lines.some((l) => l.includes('VOID_UNCHECKABLE') && l.includes(cancelId) && l.includes(named) && l.includes('cannot be read'))).toBe(true);
    expect((await ledger.get(named))?.undoneBy).toBeUndefined();
  });

  it('finds by the PSP reference the authorization of a capture recorded before its link, and runs the guards: its void refused CAPTURE_REFUNDED, unsent, while the refund it covers stands', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const capture = await delivered(naming('capture', auth, await pspId(authOp)));
    await delivered(naming('refund', auth, authOp, { amount: 2500 }));
    expect((await ledger.get(capture))?.authorizationId).toBe(authOp);
    await redis.hdel(await recordKey(capture), 'authorization_id');
    const cancelId = await record(naming('cancel', auth, capture));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'CAPTURE_REFUNDED', reasonField: 'payment.gateway_key' });
  });

  it('refuses unsent (VOID_UNCHECKABLE) a cancel naming our capture of a payment the bridge never held (captured by a PSP reference it never saw): nothing tells it from a record gone', async () => {
    const auth = await authorized();
    const outside = newCybersourceId();
    psp.held.set(outside, 5000);
    const capture = await delivered(naming('capture', auth, outside, { amount: 2500 }));
    expect((await ledger.get(capture))?.authorizationId).toBeUndefined();
    const cancelId = await record(naming('cancel', auth, capture, { amount: 2500 }));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'VOID_UNCHECKABLE', reasonField: 'payment.gateway_key' });
  });

  it('refuses unsent (VOID_UNCHECKABLE) a cancel naming our second partial capture, which records no link, once the authorization record is gone: never voided unchecked while a refund may need it', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp, { amount: 2500 }));
    const second = await delivered(naming('capture', auth, authOp, { amount: 2500 }));
    await delivered(naming('refund', auth, authOp, { amount: 5000 }));
    expect((await ledger.get(second))?.authorizationId).toBeUndefined();
    await redis.del(await recordKey(authOp));
    const cancelId = await record(naming('cancel', auth, second, { amount: 2500 }));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'VOID_UNCHECKABLE', reasonField: 'payment.gateway_key' });
  });

  it('the same delivered concurrently: of two voids of two captures whose one refund needs either, exactly one is sent', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const first = await delivered(naming('capture', auth, authOp, { amount: 2500 }));
    const second = await delivered(naming('capture', auth, authOp, { amount: 2500 }));
    await delivered(naming('refund', auth, authOp, { amount: 2500 }));
    const v1 = await record(naming('cancel', auth, first, { amount: 2500 }));
    const v2 = await record(naming('cancel', auth, second, { amount: 2500 }));
    const outcomes = await Promise.all([service.deliver(v1), service.deliver(v2)]);
    expect(outcomes).toEqual(expect.arrayContaining([{ kind: 'done', state: 'SUCCEEDED' }]));
    expect([...sentFor(v1), ...sentFor(v2)].filter((s) => s.url.endsWith('/voids'))).toHaveLength(1);
    const undone = [(await ledger.get(first))?.undoneBy, (await ledger.get(second))?.undoneBy].filter((u) => u !== undefined);
    expect(undone).toHaveLength(1);
  });

  it('a refund waits, unsent, while the void of the capture it would refund is undecided (answer lost), and is refused once the void succeeds', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const cancelId = await undecidedVoid(naming('cancel', auth, captureId));
    expect((await ledger.get(cancelId))?.state).toBe('UNKNOWN');
    const refundId = await record(naming('refund', auth, authOp));
    expect(await service.deliver(refundId)).toMatchObject({ kind: 'wait' });
    expect(sentFor(refundId)).toHaveLength(0);
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    // Money never back twice: the void returned it, the refund is refused unsent.
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(refundId)).toHaveLength(0);
    expect((await ledger.get(refundId))?.reason).toBe('amount_exceeds_captured');
  });

  it('the same when the capture voided is one of two (partial captures): a refund waits for the void of either', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp, { amount: 3000 }));
    await delivered(naming('capture', auth, authOp, { amount: 2000 }));
    const cancelId = await undecidedVoid(naming('cancel', auth, captureId, { amount: 3000 }));
    const refundId = await record(naming('refund', auth, authOp, { amount: 5000 }));
    expect(await service.deliver(refundId)).toMatchObject({ kind: 'wait' });
    expect(sentFor(refundId)).toHaveLength(0);
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(refundId)).toHaveLength(0);
    expect((await ledger.get(refundId))?.reason).toBe('amount_exceeds_captured');
  });

  it('two cancels naming one capture: the second waits, unsent, while the first is undecided, and is refused (ALREADY_UNDONE) once it voided it', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const first = await undecidedVoid(naming('cancel', auth, captureId));
    const second = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(second)).toMatchObject({ kind: 'wait' });
    expect(sentFor(second)).toHaveLength(0);
    expect(await service.deliver(first)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await service.deliver(second)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(second)).toHaveLength(0);
    expect((await ledger.get(second))?.reason).toBe('ALREADY_UNDONE');
  });

  it('a cancel of the authorization waits, unsent, while a void of its capture by name is undecided; then voids nothing twice', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const named = await undecidedVoid(naming('cancel', auth, captureId));
    const whole = await record(naming('cancel', auth, authOp));
    expect(await service.deliver(whole)).toMatchObject({ kind: 'wait' });
    expect(sentFor(whole)).toHaveLength(0);
    expect(await service.deliver(named)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    await service.deliver(whole);
    // Whatever the cancel of the authorization does now, it never voids that capture again.
    const capturePath = `/pts/v2/captures/${await pspId(captureId)}/voids`;
    expect(psp.seen.filter((s) => s.url === capturePath)).toHaveLength(1);
  });

  it('a cancel naming a capture waits, unsent, while a cancel of its authorization (a void of that capture) is undecided, then is refused ALREADY_UNDONE', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const whole = await undecidedVoid(naming('cancel', auth, authOp));
    expect((await ledger.get(whole))?.state).toBe('UNKNOWN');
    const named = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(named)).toMatchObject({ kind: 'wait' });
    expect(sentFor(named)).toHaveLength(0);
    expect(await service.deliver(whole)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect((await ledger.get(captureId))?.undoneBy).toBe(whole);
    expect(await service.deliver(named)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(named)).toHaveLength(0);
    expect((await ledger.get(named))?.reason).toBe('ALREADY_UNDONE');
  });

  it.each(['PENDING', 'TRANSMITTED'])(
    'a void answered 201 %s is no void done: the cancel is not succeeded, nothing is marked undone or reported voided, and the inquiry asks on',
    async (status) => {
      const auth = await authorized();
      const authOp = auth.payment.operation_reference!;
      const captureId = await delivered(naming('capture', auth, authOp));
      const cancelId = await record(naming('cancel', auth, captureId));
      const voided = await voids('capture', 'voided');
      psp.nextVoidStatus = status;
      expect(await service.deliver(cancelId)).not.toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect((await ledger.get(cancelId))?.state).toBe('UNKNOWN');
      // Asked about: the search finds the void, but not VOIDED: it does not count.
      expect(await service.deliver(cancelId)).not.toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(['UNKNOWN', 'PENDING']).toContain((await ledger.get(cancelId))?.state);
      expect(sentFor(cancelId).filter((s) => s.url.endsWith('/voids'))).toHaveLength(1);
      expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
      expect(await events.load(`${cancelId}.SUCCEEDED`)).toBeFalsy();
      expect(await voids('capture', 'voided')).toBe(voided);
    },
  );
});

describe('Cybersource cancel naming our capture or refund by its Cybersource id: voided as one naming it by our operation id', () => {
  it('a cancel naming its authorization by the Cybersource reference costs its outcome no Redis command to tell it is no void of ours', async () => {
    if (isCluster(redis)) return; // MONITOR watches one server; the cluster pass runs the rest of the suite
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp));
    const cancelId = await delivered(naming('cancel', auth, await pspId(authOp)));
    const cancel = (await ledger.get(cancelId))!;
    // Linked with its attempt to the authorization its reference named.
    expect(cancel.authorizationId).toBe(authOp);
    /** The commands of this test's namespace Redis runs while `run` runs. */
    const commandsOf = async (run: () => Promise<unknown>): Promise<string[]> => {
      const seen: string[] = [];
      const monitor = await monitorCommands(redis, (args) => {
        if (args.slice(1).some((a) => String(a).includes(config.redis.keyPrefix))) seen.push(String(args[0]).toLowerCase());
      });
      try {
        await run();
        await monitor.settle();
      } finally {
        monitor.stop();
      }
      return seen;
    };
    let found: unknown;
    expect(await commandsOf(async () => (found = await ownTransactionVoidOf(cancel, config, ledger)))).toEqual([]);
    expect(found).toBeNull();
    // Without the link (as before: the key read as an id, then the reference index, then the operation it names).
    const { authorizationId: _linked, ...unlinked } = cancel;
    const before = await commandsOf(async () => (found = await ownTransactionVoidOf(unlinked, config, ledger)));
    expect(found).toBeNull();
    expect(before.length).toBeGreaterThanOrEqual(3);
  });

  it('voids a capture named by its Cybersource id: one void under the cancel’s key, the capture marked undone, the same event and metric', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const capturePspId = await pspId(captureId);
    const before = await voids('capture', 'voided');
    const cancelId = await delivered(naming('cancel', auth, capturePspId));
    expect(sentFor(cancelId).map((s) => `${s.method} ${s.url}`)).toEqual([`POST /pts/v2/captures/${capturePspId}/voids`]);
    expect(sentFor(cancelId)[0].body).toEqual({ clientReferenceInformation: { code: cancelId } });
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: captureId, command: 'capture' });
    // A void of the capture, not a cancel of the authorization: it is not closed by it.
    expect((await ledger.get(authOp))?.closedBy).not.toBe(cancelId);
    const payment = (await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({ status: 'SUCCESS', gateway_key: capturePspId });
    expect(payment.gateway_response).toMatchObject({ status: 'VOIDED', voided: { operation_reference: captureId, command: 'capture' } });
    expect(await voids('capture', 'voided')).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('capture voided by a cancel naming it') && l.includes(cancelId) && l.includes(captureId))).toBe(true);
    // Named again, by our id or by its Cybersource id: undone already, nothing sent.
    for (const key of [captureId, capturePspId]) {
      const again = await record(naming('cancel', auth, key));
      expect(await service.deliver(again)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(sentFor(again)).toHaveLength(0);
      expect(await ledger.get(again)).toMatchObject({ reason: 'ALREADY_UNDONE', reasonField: 'payment.gateway_key' });
    }
  });

  it('a void by Cybersource id closes no authorization, as one by our id: neither the capture nor the cancel is marked as a closing', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const byIdCapture = await delivered(naming('capture', auth, authOp, { amount: 2000 }));
    const byRefCapture = await delivered(naming('capture', auth, authOp, { amount: 2000 }));
    const byId = await delivered(naming('cancel', auth, byIdCapture, { amount: 2000 }));
    const byRef = await delivered(naming('cancel', auth, await pspId(byRefCapture), { amount: 2000 }));
    expect((await ledger.get(byRefCapture))?.undoneBy).toBe(byRef);
    for (const [capture, cancel] of [
      [byIdCapture, byId],
      [byRefCapture, byRef],
    ]) {
      // A capture closes no authorization of its own; the cancel acted on the capture, not on an authorization.
      expect((await ledger.get(capture))?.closedBy).toBeUndefined();
      expect((await ledger.get(cancel))?.authorizationId).toBeUndefined();
    }
    expect((await ledger.get(authOp))?.closedBy).toBe(byIdCapture);
  });

  it('a void by Cybersource id recorded FAILED that Cybersource did after all marks the capture undone and says no authorization closed, as one by our id', async () => {
    const adjustments = new AdjustmentRecorder({
      config,
      store: new AdjustmentStore(redis, config.redis.keyPrefix),
      recorder: serviceDeps.recorder,
      ledger,
      logger: logs.logger,
    });
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const capturePspId = await pspId(captureId);
    psp.settled.add(capturePspId);
    const cancelId = await record(naming('cancel', auth, capturePspId));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(cancelId))?.reason).toBe('NOT_VOIDABLE');
    const cancel = (await ledger.get(cancelId))!;
    // Acted on the capture, not on an authorization (one naming it by our id reads so too).
    expect(await adjustments.authorizationActedOn(cancel)).toBeNull();
    const released = await metricValue('pb_authorizations_released_total', { gateway: 'cybs', kind: 'succeeded_after_failure' });
    await adjustments.recordAdjustment(cancel, {
      kind: 'succeeded_after_failure',
      direction: 'credit',
      amount: 5000,
      currency: 'USD',
      reason: 'payments.voids.accept',
      gateway: 'cybs',
      pspEventId: `evt_late_${cancelId}`,
      source: 'webhook',
    });
    expect((await ledger.get(captureId))?.undoneBy).toBe(cancelId);
    expect((await ledger.get(cancelId))?.cancelEffect).toEqual({ voided: captureId, command: 'capture' });
    expect(await metricValue('pb_authorizations_released_total', { gateway: 'cybs', kind: 'succeeded_after_failure' })).toBe(released);
    expect(logs.lines.some((l) => l.includes('authorization closed by a cancel recorded FAILED') && l.includes(cancelId))).toBe(false);
    expect((await ledger.get(authOp))?.closedBy).toBe(captureId);
  });

  it('voids a refund named by its Cybersource id: it no longer counts as refunded', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    await delivered(naming('capture', auth, authOp));
    const refundId = await delivered(naming('refund', auth, authOp));
    const refundPspId = await pspId(refundId);
    const cancelId = await delivered(naming('cancel', auth, refundPspId));
    expect(sentFor(cancelId).map((s) => s.url)).toEqual([`/pts/v2/refunds/${refundPspId}/voids`]);
    expect((await ledger.get(refundId))?.undoneBy).toBe(cancelId);
    const payment = (await events.load(`${cancelId}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(payment.gateway_response).toMatchObject({ status: 'VOIDED', voided: { operation_reference: refundId, command: 'refund' } });
    expect(sentFor(await delivered(naming('refund', auth, authOp)))).toHaveLength(1);
  });

  it.each([
    ['account', { gateway_account: 'other-account' }, 'payment.gateway_account'],
    ['order', { order_id: 'other-order' }, 'payment.order_id'],
  ] as const)('refuses unsent a cancel of another %s naming a capture by its Cybersource id, naming the field', async (_scope, other, field) => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const cancelId = await record(naming('cancel', auth, await pspId(captureId), other));
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(cancelId)).toHaveLength(0);
    expect(await ledger.get(cancelId)).toMatchObject({ reason: 'authorization_scope_mismatch', reasonField: field });
    expect((await events.load(`${cancelId}.FAILED`))?.params.payment).toMatchObject({
      status: 'FAIL',
      reason: 'authorization_scope_mismatch',
      field,
    });
    expect((await ledger.get(captureId))?.undoneBy).toBeUndefined();
  });

  it('one void at a time: a cancel naming the capture by our id waits for one naming it by its Cybersource id, and is refused once that voided it', async () => {
    const auth = await authorized();
    const authOp = auth.payment.operation_reference!;
    const captureId = await delivered(naming('capture', auth, authOp));
    const byPspId = await undecidedVoid(naming('cancel', auth, await pspId(captureId)));
    expect((await ledger.get(byPspId))?.state).toBe('UNKNOWN');
    const byOurId = await record(naming('cancel', auth, captureId));
    expect(await service.deliver(byOurId)).toMatchObject({ kind: 'wait' });
    expect(sentFor(byOurId)).toHaveLength(0);
    // A refund registered after the void waits for it too: the two would give the money back twice.
    const refundId = await record(naming('refund', auth, authOp, { amount: 1000 }));
    expect(await service.deliver(refundId)).toMatchObject({ kind: 'wait' });
    expect(sentFor(refundId)).toHaveLength(0);
    // Found by its merchant reference: the void done, the capture marked undone by it.
    expect(await service.deliver(byPspId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect((await ledger.get(captureId))?.undoneBy).toBe(byPspId);
    expect(await service.deliver(byOurId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(byOurId)).toMatchObject({ reason: 'ALREADY_UNDONE' });
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(sentFor(refundId)).toHaveLength(0);
  });
});
