import http from 'node:http';
import { AddressInfo } from 'node:net';
import { RedisClient } from '../../../src/redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { CYBERSOURCE_SEARCH_HORIZON_MS, CYBERSOURCE_SEARCH_LAG_MS } from '../../../src/gateways/cybersource/cybersource-transformer';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { createRedis } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/** 22-digit Cybersource payment id (no Luhn-valid card-length window). */
const PAYMENT_ID = '6381278241084565908266';

/**
 * A local Cybersource stand-in for one story: the capture landed, but its Transaction Search index lags
 * (`indexed` false: searches find nothing) and every resend of the same merchant reference is answered
 * 400 `DUPLICATE_REQUEST`, as Cybersource documents (reason 104: the merchant reference matches another
 * transaction sent in the last 15 minutes).
 */
const psp = { indexed: false, captures: 0, searches: 0, tokenizes: 0, validates: 0 };
let server: http.Server;
let baseUrl: string;
let config: Config;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/hal+json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST' && req.url === `/pts/v2/payments/${PAYMENT_ID}/captures`) {
        psp.captures += 1;
        return json(400, {
          submitTimeUtc: '2026-11-29T13:00:00Z',
          status: 'INVALID_REQUEST',
          reason: 'DUPLICATE_REQUEST',
          message: 'Declined - The merchant reference number was already used',
        });
      }
      if (req.method === 'GET' && req.url === `/tss/v2/transactions/${PAYMENT_ID}`) {
        psp.validates += 1;
        return json(200, { id: PAYMENT_ID, submitTimeUtc: '2026-11-29T13:00:00Z', applicationInformation: { rCode: '1', rFlag: 'SOK', reasonCode: '100' } });
      }
      if (req.method === 'POST' && req.url === '/tms/v1/paymentinstruments') {
        psp.tokenizes += 1;
        return json(201, { id: 'F1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6', state: 'ACTIVE' });
      }
      if (req.method === 'POST' && req.url === '/tss/v2/searches') {
        psp.searches += 1;
        if (!psp.indexed) return json(201, { totalCount: 0, _embedded: { transactionSummaries: [] } });
        return json(201, {
          totalCount: 1,
          _embedded: {
            transactionSummaries: [
              {
                id: '7000000000000000000001',
                submitTimeUtc: '2026-11-29T13:00:00Z',
                // The merchant reference the search asked for, as Cybersource echoes it.
                clientReferenceInformation: { code: /clientReferenceInformation\.code:(\S+)/.exec(Buffer.concat(chunks).toString('utf8'))?.[1] ?? '' },
                applicationInformation: { rCode: '1', rFlag: 'SOK', reasonCode: '100' },
              },
            ],
          },
        });
      }
      json(404, { reason: 'NOT_FOUND' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  config = testConfig({
    gateways: {
      cybs: {
        type: 'cybersource',
        base_url: baseUrl,
        merchant_id: 'testrest',
        key_id: '08c94330-f618-42a3-b09d-e1e43be5efda',
        shared_secret: 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=',
        merchant_account: '93B32398-AD51-4CC2-A682-EA3E93614EB1',
        timeout_ms: 2000,
      },
    },
  });
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await purgeNamespace(config).catch(() => undefined);
});

/** A capture whose first attempt left `attemptAgeMs` ago and whose answer was lost: UNKNOWN. */
async function lostCapture(ledger: Ledger, attemptAgeMs: number): Promise<string> {
  const command = channelCommand('capture', {}, { gateway: 'cybs', gateway_key: PAYMENT_ID, currency: 'USD' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  const sentAt = Date.now() - attemptAgeMs;
  await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true }, sentAt);
  await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 }, sentAt + 1);
  return id;
}

function deliveryService(ledger: Ledger): { service: DeliveryService; events: EventStore; recorder: OutcomeRecorder } {
  const events = new EventStore(redis, config.redis.keyPrefix);
  const logger = silentLogger();
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  return {
    service: new DeliveryService({ config, ledger, router: new ConfiguredGatewayRouter(createGatewayClients(config)), recorder, logger }),
    events,
    recorder,
  };
}

describe('Cybersource: a status-search miss younger than the search lag', () => {
  it('asks again without resending and without counting the miss as proof, then settles once the search finds it', async () => {
    psp.indexed = false;
    const captures = psp.captures;
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const { service, events } = deliveryService(ledger);
    const id = await lostCapture(ledger, 60_000);

    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(psp.captures).toBe(captures);
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    const misses = (await ledger.interactions(id)).filter((h) => h.event === 'inquiry_lag');
    expect(misses).toHaveLength(2);
    expect(misses[0]).toMatchObject({ found: false, lag_ms: CYBERSOURCE_SEARCH_LAG_MS });
    expect((await ledger.interactions(id)).some((h) => h.event === 'inquiry')).toBe(false);

    psp.indexed = true;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await events.load(`${id}.SUCCEEDED`)).not.toBeNull();
    expect(psp.captures).toBe(captures);
  });
});

describe('Cybersource: a status-search miss followed by DUPLICATE_REQUEST on the resend', () => {
  it('keeps the operation UNKNOWN (never FAILED), does not resend on the next miss, and settles it once the search finds it', async () => {
    psp.indexed = false;
    psp.captures = 0;
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const { service, events } = deliveryService(ledger);
    // Older than the search lag: a miss is taken as "never landed", and the capture is sent again.
    const id = await lostCapture(ledger, CYBERSOURCE_SEARCH_LAG_MS + 1000);

    // The search misses (index lag), the resend is refused as a duplicate: Cybersource has it.
    const first = await service.deliver(id);
    expect(first.kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(psp.captures).toBe(1);
    const refused = (await ledger.interactions(id)).find((h) => h.event === 'send_error' && h.gateway_code === 'DUPLICATE_REQUEST');
    expect(refused).toMatchObject({ kind: 'outcome_unknown', psp_has_request: true });

    // Asked again: still no hit, but Cybersource said it has the request, so no second resend.
    const second = await service.deliver(id);
    expect(second.kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(psp.captures).toBe(1);

    // The index catches up: the capture succeeded.
    psp.indexed = true;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await events.load(`${id}.SUCCEEDED`)).not.toBeNull();
    expect(psp.captures).toBe(1);
  });
});

describe('Cybersource: a status-search miss of an attempt older than the search reaches', () => {
  it('never resends: the 7-day search cannot see an 8-day-old capture, so its miss proves nothing: UNRESOLVED', async () => {
    psp.indexed = false;
    const captures = psp.captures;
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const { service, events } = deliveryService(ledger);
    // Sent 8 days ago, answer lost; the inquiry only runs now (workers down, or the search failing meanwhile).
    const id = await lostCapture(ledger, 8 * 24 * 3_600_000);

    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(psp.captures).toBe(captures);
    expect(await events.load(`${id}.UNRESOLVED`)).not.toBeNull();
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    // Delivered again (a redelivered job): still nothing resent.
    await service.deliver(id);
    expect(psp.captures).toBe(captures);
    const history = await ledger.interactions(id);
    expect(history.find((h) => h.event === 'inquiry_lag')).toMatchObject({ found: false, horizon_ms: CYBERSOURCE_SEARCH_HORIZON_MS });
    expect(history.some((h) => h.event === 'inquiry')).toBe(false);
  });
});

describe('Cybersource: an attempt with no recorded end (its worker killed mid-call), revived after the duplicate window', () => {
  it('is never sent again before a status inquiry: UNKNOWN first, then settled by what the search finds, no second capture', async () => {
    psp.indexed = true;
    const captures = psp.captures;
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const { service, events } = deliveryService(ledger);
    const command = channelCommand('capture', {}, { gateway: 'cybs', gateway_key: PAYMENT_ID, currency: 'USD' });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);
    // Sent 20 minutes ago (past Cybersource's 15-minute duplicate check) and nothing after: the worker died mid-call.
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true }, Date.now() - 20 * 60_000);
    const before = (await metricValue('pb_unfinished_attempts_asked_total', { gateway: 'cybs' })) ?? 0;

    expect(await service.deliver(id)).toEqual({ kind: 'retry', reason: 'an attempt with no recorded end: asked about before any resend' });
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(psp.captures).toBe(captures);
    expect(await metricValue('pb_unfinished_attempts_asked_total', { gateway: 'cybs' })).toBe(before + 1);
    expect((await ledger.interactions(id)).at(-1)).toMatchObject({ event: 'unfinished_attempt' });

    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await events.load(`${id}.SUCCEEDED`)).not.toBeNull();
    expect(psp.captures).toBe(captures);
  });
});

describe('Cybersource: a tokenize with no recorded end (its worker killed mid-call)', () => {
  it('is sent again at once, as before: its search never finds it and a second payment instrument moves no money', async () => {
    const { tokenizes, searches } = psp;
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const { service } = deliveryService(ledger);
    const command = channelCommand('tokenize', {}, { gateway: 'cybs', gateway_key: PAYMENT_ID, method_details: { card: { brand: 'visa' } } });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true }, Date.now() - 20 * 60_000);
    const before = (await metricValue('pb_unfinished_attempts_asked_total', { gateway: 'cybs' })) ?? 0;

    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.tokenizes).toBe(tokenizes + 1);
    expect(psp.searches).toBe(searches);
    expect((await ledger.interactions(id)).some((h) => h.event === 'unfinished_attempt')).toBe(false);
    expect((await metricValue('pb_unfinished_attempts_asked_total', { gateway: 'cybs' })) ?? 0).toBe(before);
  });
});

describe('Cybersource: an attempt with no recorded end whose worker is still waiting for the answer (its job lock lapsed)', () => {
  it("made UNKNOWN by the worker that took the job over, still takes the live worker's late answer, once, with its event", async () => {
    psp.indexed = false;
    const captures = psp.captures;
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const { service, events, recorder } = deliveryService(ledger);
    const command = channelCommand('capture', {}, { gateway: 'cybs', gateway_key: PAYMENT_ID, currency: 'USD' });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true }, Date.now() - 30_000);
    // The live worker's read: the record as its move to SENT left it.
    const sent = (await ledger.get(id))!;

    expect((await service.deliver(id)).kind).toBe('retry');
    // UNKNOWN with the poll schedule's first check: a lost job retry still leaves the poller to ask (never wedged).
    const unknown = (await ledger.get(id))!;
    expect(unknown).toMatchObject({ state: 'UNKNOWN', attempts: 1, pollStep: 0 });
    expect(unknown.nextCheckAt).toBeGreaterThan(Date.now());
    const outcome = { status: 'SUCCESS' as const, gatewayStatus: 'PENDING', gatewayReference: '7000000000000000000002', amount: 1000, currency: 'USD' };
    expect((await recorder.apply(sent, outcome, 'response')).state).toBe('SUCCEEDED');
    expect(await events.load(`${id}.SUCCEEDED`)).not.toBeNull();
    // Decided: the job's retry only settles it (no inquiry, no resend).
    const searches = psp.searches;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(psp.searches).toBe(searches);
    expect(psp.captures).toBe(captures);
  });
});

describe('Cybersource: a validate with no recorded end (its worker killed mid-call)', () => {
  it('is read again at once, as before: a transaction details GET moves nothing, and its search never finds it', async () => {
    const { validates, searches } = psp;
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const { service } = deliveryService(ledger);
    const command = channelCommand('validate', {}, { gateway: 'cybs', gateway_key: PAYMENT_ID, currency: 'USD' });
    const id = command.payment.operation_reference!;
    await ledger.create(id, command);
    await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true }, Date.now() - 60_000);
    const before = (await metricValue('pb_unfinished_attempts_asked_total', { gateway: 'cybs' })) ?? 0;

    expect((await service.deliver(id)).kind).toBe('done');
    expect(psp.validates).toBe(validates + 1);
    expect(psp.searches).toBe(searches);
    expect((await ledger.interactions(id)).some((h) => h.event === 'unfinished_attempt')).toBe(false);
    expect((await metricValue('pb_unfinished_attempts_asked_total', { gateway: 'cybs' })) ?? 0).toBe(before);
  });
});
