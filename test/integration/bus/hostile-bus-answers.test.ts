import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Queue, Worker } from 'bullmq';
import { BusClient } from '../../../src/bus/bus-client';
import { BusRequestError, BusRpcError, RegistrationError } from '../../../src/bus/bus-errors';
import { OAuthTokenProvider } from '../../../src/bus/oauth-token-provider';
import { register } from '../../../src/bus/registration';
import { Config } from '../../../src/config/config';
import { PaymentBridgeError } from '../../../src/errors/payment-bridge-error';
import { EVENT_REJECTION_TRIES } from '../../../src/events/event-rejection';
import { startEventSender } from '../../../src/events/event-sender';
import { sendLeaseMs } from '../../../src/events/event-send';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { PaymentEvent } from '../../../src/events/payment-event';
import { bullJobId } from '../../../src/queueing/job-id';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { redisText } from '../../support/redis-text';
import { eventually } from '../../support/tcp-proxy';
import { testConfig } from '../../support/test-config';

/**
 * A local HTTP server playing a hostile bus and its OAuth server: what it answers to our token requests, our
 * register call and our event notifications is scripted per test. Whatever it answers, the bridge ends in an
 * error of the taxonomy holding no card number, no access token and no text of unbounded length (nor do its
 * log lines or Redis), and an event it answers with hostility never holds back the events of other payments.
 */
jest.setTimeout(60_000);

const VISA = '4111111111111111';
/** The access token the server issues (an opaque token of a usual length). */
const TOKEN = `hostile-bus-token-${'k'.repeat(600)}-end`;
const CLIENT_SECRET = 'hostile-bus-client-secret-5c2e';

type Answer = { status: number; body: string };
const json = (status: number, value: unknown): Answer => ({ status, body: JSON.stringify(value) });
/** What the server answers: to a token request, to a JSON-RPC call (given its id), to a notification (given its event id). */
const script: { token: () => Answer; rpc: (id: unknown) => Answer; delegate: (eventId: string) => Answer } = {
  token: () => json(200, { access_token: TOKEN, token_type: 'Bearer', expires_in: 3600 }),
  rpc: (id) => json(200, { jsonrpc: '2.0', id, result: {} }),
  delegate: () => ({ status: 204, body: '' }),
};
let tokenRequests = 0;
let server: http.Server;
let url = '';
const configs: Config[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let answer: Answer;
      if (req.url === '/oauth/token') {
        tokenRequests += 1;
        answer = script.token();
      } else {
        const request = JSON.parse(body) as { id?: unknown; params?: { payment?: { event_id?: string } } };
        answer = req.url === '/delegate/oms' ? script.delegate(String(request.params?.payment?.event_id)) : script.rpc(request.id);
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

beforeEach(() => {
  script.token = () => json(200, { access_token: TOKEN, token_type: 'Bearer', expires_in: 3600 });
  script.rpc = (id) => json(200, { jsonrpc: '2.0', id, result: {} });
  script.delegate = () => ({ status: 204, body: '' });
});

function config(overrides: Record<string, unknown> = {}): Config {
  const c = testConfig({
    'service_bus.url': url,
    'mom_client.oauth_server_url': url,
    'mom_client.client_secret': CLIENT_SECRET,
    'registration.attempts': 1,
    'events.backoff_base_ms': 20,
    'events.backoff_max_ms': 100,
    'service_bus.timeout_ms': 5000,
    ...overrides,
  });
  configs.push(c);
  return c;
}

/** Nothing a reader of the error, the log lines or Redis may not see: a card number, our token, the client secret, an unbounded text. */
function leaks(text: string): string[] {
  const found: string[] = [];
  if (text.includes(VISA)) found.push('a card number');
  if (text.includes(TOKEN.slice(0, 40)) || text.includes(TOKEN.slice(-40))) found.push('the access token');
  if (text.includes(CLIENT_SECRET)) found.push('the client secret');
  return found;
}

async function thrown(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('no error');
}

describe('the OAuth server’s token answer', () => {
  it('refuses a token no header can carry as a request error naming the OAuth server, not as the bus being unreachable', async () => {
    script.token = () => json(200, { access_token: 'tok\r\nX-Injected: 1', expires_in: 3600 });
    const c = config();
    const client = new BusClient(c, new OAuthTokenProvider(c));
    const err = await thrown(client.notify('magento.payment.captured', { payment: { event_id: 'e1' } }));
    expect(err).toBeInstanceOf(BusRequestError);
    expect(err.message).toMatch(/the OAuth server at .* no HTTP header can carry/);
    expect(err.message).not.toContain('X-Injected');
  });

  it('reads expires_in sent as a string of digits: a token living 45 s is refreshed within them, not after 300 s', async () => {
    script.token = () => json(200, { access_token: `${TOKEN}-${tokenRequests}`, expires_in: '45' });
    let now = 1_000_000;
    const provider = new OAuthTokenProvider(config(), undefined, { now: () => now });
    const first = await provider.getToken();
    now += 40_000;
    const second = await provider.getToken();
    expect(second).not.toBe(first);
  });

  it.each([
    ['a card number', () => json(400, { error: `invalid_request ${VISA}` })],
    ['our token and the client secret echoed', () => json(400, { error: `invalid_grant:${TOKEN}:${CLIENT_SECRET}`, error_description: TOKEN })],
    ['a megabyte', () => json(400, { error: 'e'.repeat(1_000_000) })],
    ['no JSON at all', () => ({ status: 200, body: `<html>${VISA}</html>` })],
    ['a body nested 500 000 deep', () => ({ status: 200, body: '['.repeat(500_000) + ']'.repeat(500_000) })],
  ])('an error answer holding %s ends in a bounded error of the taxonomy, nothing leaked', async (_name, answer) => {
    // A token first, so the one echoed later is one the redactor knows (as in production).
    const c = config();
    const { logger, lines } = captureLogger('debug');
    const provider = new OAuthTokenProvider(c, logger);
    await provider.getToken();
    script.token = answer;
    provider.invalidate();
    const err = await thrown(provider.getToken());
    expect(err).toBeInstanceOf(PaymentBridgeError);
    expect(err.message.length).toBeLessThan(1024);
    expect(leaks(`${err.message} ${err.stack ?? ''} ${lines.join('\n')}`)).toEqual([]);
  });

  it.each([
    ['huge', 1e300],
    ['negative', -5],
    ['a string that is no number', 'soon'],
  ])('a token with an expires_in %s is served, and a 401 of the bus still brings a new one', async (_name, expiresIn) => {
    script.token = () => json(200, { access_token: `${TOKEN}-${tokenRequests}`, expires_in: expiresIn });
    const c = config();
    const provider = new OAuthTokenProvider(c);
    const first = await provider.getToken();
    expect(await provider.getToken()).toBe(first);
    provider.invalidate(first);
    expect(await provider.getToken()).not.toBe(first);
  });
});

describe('the JSON-RPC answer to register', () => {
  it.each([['answers without result', (id: unknown) => json(200, { jsonrpc: '2.0', id })]])(
    'a bus that %s is no registration: refused, said so',
    async (_name, answer) => {
      script.rpc = answer;
      const { logger, lines } = captureLogger('info');
      const err = await thrown(register(config(), { logger }));
      expect(err).toBeInstanceOf(RegistrationError);
      expect(lines.join('\n')).not.toContain('registered with the bus');
    },
  );

  it.each([
    [
      'a card number, our token and the client secret',
      (id: unknown) => json(200, { jsonrpc: '2.0', id, error: { code: -32602, message: `card ${VISA}, Bearer ${TOKEN}, ${CLIENT_SECRET}` } }),
    ],
    ['a megabyte of message', (id: unknown) => json(200, { jsonrpc: '2.0', id, error: { code: -32000, message: 'm'.repeat(1_000_000) } })],
    [
      'a card number as its code',
      (id: unknown) => ({ status: 200, body: `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"error":{"code":${VISA},"message":"no"}}` }),
    ],
    ['a code as a string', (id: unknown) => json(200, { jsonrpc: '2.0', id, error: { code: '-32602', message: 'Invalid params' } })],
    ['no JSON', () => ({ status: 200, body: `Internal error for card ${VISA}` })],
    ['9 MiB', () => ({ status: 200, body: `{"jsonrpc":"2.0","result":"${'r'.repeat(9 * 1024 * 1024)}"}` })],
  ])('a refusal holding %s ends in one bounded RegistrationError, nothing leaked', async (_name, answer) => {
    script.rpc = answer;
    const { logger, lines } = captureLogger('debug');
    const started = Date.now();
    const err = await thrown(register(config(), { logger }));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err).toBeInstanceOf(RegistrationError);
    expect(err.message.length).toBeLessThan(1024);
    expect(leaks(`${err.message} ${err.stack ?? ''} ${lines.join('\n')}`)).toEqual([]);
  });
});

describe('the answer to an event notification', () => {
  let redis: RedisClient;
  let blocking: RedisClient;
  let queue: Queue<OmsEventJobData>;
  let events: EventStore;
  let c: Config;
  const workers: Worker[] = [];

  beforeAll(() => {
    c = config();
    redis = createRedis(c.redis, 'commands');
    blocking = createRedis(c.redis, 'blocking');
    events = new EventStore(redis, c.redis.keyPrefix);
    queue = createOmsEventsQueue(redis, c.redis.keyPrefix);
  });

  afterEach(async () => {
    for (const w of workers.splice(0)) await w.close();
  });

  afterAll(async () => {
    await queue.close();
    blocking.disconnect();
    redis.disconnect();
  });

  /** One event for each of three payments, recorded and queued. */
  async function threePayments(name: string): Promise<string[]> {
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const event: PaymentEvent = {
        eventId: `${name}-${n}.SUCCEEDED`,
        paymentKey: `pay-${name}-${n}`,
        method: 'magento.payments.payments_management.captured',
        params: { payment: { operation_reference: `${name}-${n}`, event_id: `${name}-${n}.SUCCEEDED` } },
      };
      await events.recordAndCheck(event, Date.now(), sendLeaseMs(c));
      await events.release(event.eventId);
      await queue.add('notify', { eventId: event.eventId }, { jobId: bullJobId(event.eventId) });
      ids.push(event.eventId);
    }
    return ids;
  }

  function sender(hostile: string, answer: () => Answer): { taken: string[]; calls: () => number; lines: string[] } {
    const taken: string[] = [];
    let calls = 0;
    script.delegate = (eventId) => {
      if (eventId !== hostile) {
        taken.push(eventId);
        return { status: 204, body: '' };
      }
      calls += 1;
      return answer();
    };
    const { logger, lines } = captureLogger('info');
    const bus = new BusClient(c, new OAuthTokenProvider(c, logger), logger);
    workers.push(startEventSender(c, blocking, { events, sender: bus, logger }));
    return { taken, calls: () => calls, lines };
  }

  it.each([
    [
      'a content refusal quoting a card number, our token and megabytes',
      'set aside',
      () => json(200, { jsonrpc: '2.0', id: null, error: { code: -32602, message: `card ${VISA} token ${TOKEN} ${'z'.repeat(1_000_000)}` } }),
    ],
    [
      'a refusal whose code is a card number',
      'retried',
      () => ({ status: 200, body: `{"jsonrpc":"2.0","id":null,"error":{"code":${VISA},"message":"locked"}}` }),
    ],
    [
      'a body beyond the 8 MiB the client reads',
      'retried',
      () => ({ status: 200, body: `{"error":{"code":-32602,"message":"${'b'.repeat(9 * 1024 * 1024)}"}}` }),
    ],
  ])('%s: the event is %s, the other payments’ events go, nothing leaked to the log or Redis', async (name, fate, answer) => {
    const [first, hostile, third] = await threePayments(`hostile-${name.split(' ')[1]}-${Date.now()}`);
    const bus = sender(hostile, answer);
    await eventually(() => bus.taken.includes(first) && bus.taken.includes(third), 30_000);
    if (fate === 'set aside') {
      await eventually(async () => (await events.rejected()).some((e) => e.eventId === hostile), 30_000);
      expect(bus.calls()).toBe(EVENT_REJECTION_TRIES);
    } else {
      // Retried past the bound (a refusal that is no content refusal is never set aside).
      await eventually(() => bus.calls() > EVENT_REJECTION_TRIES, 30_000);
      expect((await events.rejected()).map((e) => e.eventId)).not.toContain(hostile);
    }
    expect(bus.taken).not.toContain(hostile);
    for (const w of workers.splice(0)) await w.close();
    expect(leaks(bus.lines.join('\n'))).toEqual([]);
    expect(bus.lines.every((l) => l.length < 4096)).toBe(true);
    expect(leaks(await redisText(redis, c.redis.keyPrefix))).toEqual([]);
  });

  it('a JSON-RPC error read from a 2xx answer is a BusRpcError of the taxonomy', async () => {
    script.delegate = () => json(200, { jsonrpc: '2.0', id: null, error: { code: -32602, message: `card ${VISA}` } });
    const err = await thrown(new BusClient(c, new OAuthTokenProvider(c)).notify('m', { payment: { event_id: 'x' } }));
    expect(err).toBeInstanceOf(BusRpcError);
    expect(err.message).not.toContain(VISA);
  });
});
