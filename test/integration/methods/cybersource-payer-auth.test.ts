import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { ActionCompletion } from '../../../src/delivery/action-completion';
import { createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { ACTION_EXPIRED, ActionExpiry } from '../../../src/poller/action-expiry';
import { voidOperationId } from '../../../src/poller/orphan-reversal';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * Cybersource Payer Authentication end to end on the real Redis, against a local HTTP peer answering as
 * Cybersource's REST documentation describes (the offline 2020-02-17 spec has no `actionList`, so Prism
 * cannot play the challenge): `POST /pts/v2/payments` with `CONSUMER_AUTHENTICATION` answers
 * PENDING_AUTHENTICATION with the step-up data, with `VALIDATE_CONSUMER_AUTHENTICATION` and a known
 * `authenticationTransactionId` answers AUTHORIZED (a new payment id), `/tss/v2/searches` finds the
 * transactions by merchant reference, `/reversals` reverses.
 */
interface Txn {
  id: string;
  code: string;
  status: string;
  amount: string;
  currency: string;
  at: string;
}

let cybs: Server;
let cybsUrl = '';
const txns: Txn[] = [];
const requests: Array<{ path: string; body: Record<string, unknown> }> = [];
const reversals: string[] = [];
const challenges = new Map<string, string>();
let seq = 0;
let redis: RedisClient;
const configs: Config[] = [];
const closers: Array<() => Promise<unknown>> = [];

const ACCESS_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJzdGVwLXVwLXRlc3QifQ.c2lnbmF0dXJlLXRlc3Q';

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/hal+json' });
  res.end(JSON.stringify(body));
}

/** 22 digits, as Cybersource payment ids are. */
function paymentId(): string {
  return `63812782410845659${String(++seq).padStart(5, '0')}`;
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let raw = '';
  for await (const chunk of req) raw += String(chunk);
  const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  requests.push({ path, body });
  const code = String((body.clientReferenceInformation as { code?: string } | undefined)?.code ?? '');
  const amount = (body.orderInformation as { amountDetails?: { totalAmount: string; currency: string } } | undefined)?.amountDetails;
  const actions = ((body.processingInformation as { actionList?: string[] } | undefined)?.actionList ?? []) as string[];
  if (req.method === 'POST' && path === '/pts/v2/payments') {
    const id = paymentId();
    const txn: Txn = { id, code, status: 'AUTHORIZED', amount: amount!.totalAmount, currency: amount!.currency, at: new Date(Date.now() + seq).toISOString() };
    if (actions.includes('CONSUMER_AUTHENTICATION')) {
      const atid = `atid${seq}Xq9`;
      challenges.set(atid, code);
      txns.push({ ...txn, status: 'PENDING_AUTHENTICATION' });
      return answer(res, 201, {
        id,
        status: 'PENDING_AUTHENTICATION',
        clientReferenceInformation: { code },
        errorInformation: { reason: 'CONSUMER_AUTHENTICATION_REQUIRED' },
        consumerAuthenticationInformation: {
          stepUpUrl: 'https://centinelapistag.cardinalcommerce.com/V2/Cruise/StepUp',
          accessToken: ACCESS_TOKEN,
          authenticationTransactionId: atid,
        },
      });
    }
    if (actions.includes('VALIDATE_CONSUMER_AUTHENTICATION')) {
      const atid = String((body.consumerAuthenticationInformation as { authenticationTransactionId?: string } | undefined)?.authenticationTransactionId);
      if (challenges.get(atid) !== code) {
        txns.push({ ...txn, status: 'AUTHENTICATION_FAILED' });
        return answer(res, 201, { id, status: 'AUTHENTICATION_FAILED', errorInformation: { reason: 'CONSUMER_AUTHENTICATION_FAILED' } });
      }
      txns.push(txn);
      return answer(res, 201, {
        id,
        status: 'AUTHORIZED',
        clientReferenceInformation: { code },
        orderInformation: { amountDetails: { authorizedAmount: amount!.totalAmount, currency: amount!.currency } },
      });
    }
    txns.push(txn);
    return answer(res, 201, {
      id,
      status: 'AUTHORIZED',
      orderInformation: { amountDetails: { authorizedAmount: amount!.totalAmount, currency: amount!.currency } },
    });
  }
  if (req.method === 'POST' && path === '/tss/v2/searches') {
    const wanted = /clientReferenceInformation\.code:"?([^" ]+)"?/.exec(String(body.query))?.[1];
    const found = txns.filter((x) => x.code === wanted).reverse();
    return answer(res, 201, {
      totalCount: found.length,
      _embedded: {
        transactionSummaries: found.map((x) => ({
          id: x.id,
          submitTimeUtc: x.at,
          clientReferenceInformation: { code: x.code },
          applicationInformation: { status: x.status },
          orderInformation: { amountDetails: { totalAmount: x.amount, currency: x.currency } },
        })),
      },
    });
  }
  const reversal = /^\/pts\/v2\/payments\/(\d+)\/reversals$/.exec(path);
  if (req.method === 'POST' && reversal) {
    reversals.push(reversal[1]);
    return answer(res, 201, {
      id: paymentId(),
      status: 'REVERSED',
      reversalAmountDetails: {
        reversedAmount: (body.reversalInformation as { amountDetails: { totalAmount: string } }).amountDetails.totalAmount,
        currency: (body.reversalInformation as { amountDetails: { currency: string } }).amountDetails.currency,
      },
    });
  }
  answer(res, 404, { status: 'INVALID_REQUEST', reason: 'INVALID_DATA' });
}

beforeAll(async () => {
  cybs = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => cybs.listen(0, '127.0.0.1', resolve));
  cybsUrl = `http://127.0.0.1:${(cybs.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const close of closers) await close().catch(() => undefined);
  redis?.disconnect();
  await new Promise((resolve) => cybs.close(resolve));
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

function setup() {
  const config = testConfig({
    'authentication.action_timeout_ms': 60_000,
    gateways: {
      cybs: {
        type: 'cybersource',
        base_url: cybsUrl,
        merchant_id: 'testrest',
        key_id: '08c94330-f618-42a3-b09d-e1e43be5efda',
        shared_secret: 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=',
        payer_authentication: true,
      },
    },
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  closers.push(
    () => eventsQueue.close(),
    () => deliveryQueue.close(),
  );
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const logger = silentLogger();
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  const router = new ConfiguredGatewayRouter(createGatewayClients(config));
  const service = new DeliveryService({ config, ledger, router, recorder, logger });
  const completion = new ActionCompletion({ ledger, router, recorder, logger });
  const expiry = (offsetMs: number) => new ActionExpiry({ config, redis, ledger, router, recorder, deliveryQueue, logger, now: () => Date.now() + offsetMs });
  return { config, ledger, events, recorder, service, completion, expiry, deliveryQueue };
}

function authorize() {
  return channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 2599, currency: 'EUR' });
}

async function waitingFor(s: ReturnType<typeof setup>) {
  const command = authorize();
  const id = command.payment.operation_reference!;
  await s.ledger.create(id, command);
  await s.service.deliver(id);
  const op = await s.ledger.get(id);
  expect(op?.state).toBe('ACTION_REQUIRED');
  const sent = requests.filter((r) => r.path === '/pts/v2/payments').at(-1)!.body;
  expect(sent.processingInformation).toMatchObject({ capture: false, actionList: ['CONSUMER_AUTHENTICATION'] });
  return { id, op: op! };
}

describe('Cybersource Payer Authentication hand-off', () => {
  it('reports ACTION_REQUIRED with the step-up URL, access token and transaction id, then completes SUCCEEDED on the validated authorization', async () => {
    const s = setup();
    const { id, op } = await waitingFor(s);
    const waiting = (await s.events.load(`${id}.ACTION_REQUIRED`))?.params.payment as Record<string, unknown>;
    const action = waiting.action as { kind: string; url: string; psp_action: Record<string, string> };
    expect(action).toMatchObject({
      kind: 'three_ds',
      url: 'https://centinelapistag.cardinalcommerce.com/V2/Cruise/StepUp',
      psp_action: { stepUpUrl: 'https://centinelapistag.cardinalcommerce.com/V2/Cruise/StepUp', accessToken: ACCESS_TOKEN },
    });
    const atid = action.psp_action.authenticationTransactionId;
    expect(atid).toMatch(/^atid/);

    const before = await metricValue('pb_customer_action_completions_total', { gateway: 'cybs', result: 'applied' });
    expect(await s.completion.complete(id, { authentication_transaction_id: atid })).toBe('applied');
    expect(await metricValue('pb_customer_action_completions_total', { gateway: 'cybs', result: 'applied' })).toBe(before + 1);
    const validate = requests.filter((r) => r.path === '/pts/v2/payments').at(-1)!.body;
    expect(validate).toMatchObject({
      clientReferenceInformation: { code: id },
      processingInformation: { capture: false, actionList: ['VALIDATE_CONSUMER_AUTHENTICATION'] },
      consumerAuthenticationInformation: { authenticationTransactionId: atid },
      orderInformation: { amountDetails: { totalAmount: '25.99', currency: 'EUR' } },
    });

    const after = await s.ledger.get(id);
    expect(after?.state).toBe('SUCCEEDED');
    // The authorization Cybersource created on validation is what capture and cancel use next.
    expect(after?.gatewayReference).not.toBe(op.gatewayReference);
    // The access token is not kept past the action.
    expect(JSON.stringify(after?.action ?? {})).not.toContain(ACCESS_TOKEN);
    const done = (await s.events.load(`${id}.SUCCEEDED`))?.params.payment as Record<string, unknown>;
    expect(done).toMatchObject({ status: 'SUCCESS', gateway_response: { status: 'AUTHORIZED', reference: after!.gatewayReference } });
    expect(JSON.stringify(done)).not.toContain(ACCESS_TOKEN);

    // The same completion again: the operation no longer waits, nothing is sent.
    const sentBefore = requests.length;
    expect(await s.completion.complete(id, { authentication_transaction_id: atid })).toBe('not_waiting');
    expect(requests.length).toBe(sentBefore);
  });

  it('fails with what Cybersource said when the authentication is refused', async () => {
    const s = setup();
    const { id } = await waitingFor(s);
    expect(await s.completion.complete(id, { authentication_transaction_id: 'atidUnknown' })).toBe('applied');
    expect(await s.ledger.get(id)).toMatchObject({ state: 'FAILED', reason: 'CONSUMER_AUTHENTICATION_FAILED' });
    expect((await s.events.load(`${id}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL', decline: { category: 'authentication_required' } });
  });

  it('never sends a completion twice: after a claim (a crash mid-way) it asks Cybersource instead', async () => {
    const s = setup();
    const { id } = await waitingFor(s);
    // A completion was claimed but its answer never recorded; the validated authorization exists at Cybersource.
    expect(await s.ledger.claimActionCompletion(id)).toBe(true);
    const payments = requests.filter((r) => r.path === '/pts/v2/payments').length;
    expect(await s.completion.complete(id, { authentication_transaction_id: 'atidWhatever' })).toBe('inquired');
    expect(requests.filter((r) => r.path === '/pts/v2/payments').length).toBe(payments);
    expect(requests.at(-1)!.path).toBe('/tss/v2/searches');
    // The search finds only the open challenge: it keeps waiting, the expiry settles it.
    expect((await s.ledger.get(id))?.state).toBe('ACTION_REQUIRED');
  });

  it('expires a challenge nobody completed: asks once more, fails it ACTION_EXPIRED and reverses what the PSP holds', async () => {
    const s = setup();
    const { id, op } = await waitingFor(s);
    const report = await s.expiry(61_000).runOnce();
    expect(report).toMatchObject({ due: 1, settled: 0, expired: 1, voided: 1 });
    expect(await s.ledger.get(id)).toMatchObject({ state: 'FAILED', reason: ACTION_EXPIRED });
    expect((await s.events.load(`${id}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL', reason: ACTION_EXPIRED });
    const voidId = voidOperationId(id);
    expect(await s.ledger.get(voidId)).toMatchObject({ command: 'cancel', payment: { gateway_key: op.gatewayReference, orphan_reversal: 'action_expired' } });
    await s.service.deliver(voidId);
    expect((await s.ledger.get(voidId))?.state).toBe('SUCCEEDED');
    expect(reversals).toContain(op.gatewayReference);
    // A completion after the expiry finds nothing waiting.
    expect(await s.completion.complete(id, { authentication_transaction_id: 'atid1' })).toBe('not_waiting');
  });
});
