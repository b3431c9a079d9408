import http from 'node:http';
import { AddressInfo } from 'node:net';
import axios, { AxiosInstance } from 'axios';
import { verifySignature } from '../../../src/bus/x-signature';
import { BusTwin, Notification, Registration, startBusTwin } from '../../../harness/twins/bus-twin/bus-twin';
import { sendSignedCommand } from '../../../harness/twins/bus-twin/signed-command-sender';

const CLIENT_ID = 'twin-client';
const CLIENT_SECRET = 'twin-client-secret-0b8d';
const REGISTER = 'magento.service_bus.remote.register';

describe('bus twin', () => {
  let twin: BusTwin;
  let http$: AxiosInstance;

  beforeAll(async () => {
    twin = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    http$ = axios.create({ baseURL: twin.url, validateStatus: () => true, timeout: 5000 });
  });

  afterEach(() => twin.reset());
  afterAll(() => twin.stop());

  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };

  async function token(): Promise<string> {
    const res = await http$.post<{ access_token: string }>('/oauth/token', form({ grant_type: 'client_credentials' }), {
      headers: { ...formHeaders, authorization: basic(CLIENT_ID, CLIENT_SECRET) },
    });
    return res.data.access_token;
  }

  const rpc = (bearer: string | undefined, method: string, params: Record<string, unknown>) =>
    http$.post('/', { jsonrpc: '2.0', id: 7, method, params }, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });

  it('issues an opaque token with expires_in for credentials sent with HTTP Basic', async () => {
    const res = await http$.post('/oauth/token', form({ grant_type: 'client_credentials' }), {
      headers: { ...formHeaders, authorization: basic(CLIENT_ID, CLIENT_SECRET) },
    });
    expect(res.status).toBe(200);
    expect(res.data).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    expect(res.data.access_token).toMatch(/^[0-9a-f]{48}$/);
  });

  it('issues a token for credentials sent in the form body', async () => {
    const res = await http$.post('/oauth/token', form({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }), {
      headers: formHeaders,
    });
    expect(res.status).toBe(200);
    expect(typeof res.data.access_token).toBe('string');
  });

  it('refuses wrong credentials with 401 invalid_client and another grant type with 400', async () => {
    const wrong = await http$.post('/oauth/token', form({ grant_type: 'client_credentials' }), {
      headers: { ...formHeaders, authorization: basic(CLIENT_ID, 'nope') },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.data).toEqual({ error: 'invalid_client' });
    const grant = await http$.post('/oauth/token', form({ grant_type: 'password', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }), {
      headers: formHeaders,
    });
    expect(grant.status).toBe(400);
    expect(grant.data).toEqual({ error: 'unsupported_grant_type' });
  });

  it('stores and overwrites registrations and removes them on unregister', async () => {
    const bearer = await token();
    const params = { id: 'pb', url: 'http://127.0.0.1:1/bus', secret: 'registration-secret', subscribes: ['magento.payment.capture'] };
    expect((await rpc(bearer, REGISTER, params)).data).toEqual({ jsonrpc: '2.0', id: 7, result: {} });
    await rpc(bearer, REGISTER, { ...params, url: 'http://127.0.0.1:2/bus' });
    expect(twin.registrations.size).toBe(1);
    expect(twin.registrations.get('pb')?.url).toBe('http://127.0.0.1:2/bus');
    const listed = (await http$.get<Registration[]>('/twin/registrations')).data;
    expect(listed.map((r) => r.id)).toEqual(['pb']);
    expect((await rpc(bearer, 'magento.service_bus.remote.unregister', { id: 'pb' })).data.result).toEqual({});
    expect(twin.registrations.size).toBe(0);
  });

  it('answers -32602 for missing or mistyped registration params and -32601 for an unknown method', async () => {
    const bearer = await token();
    const missing = await rpc(bearer, REGISTER, { id: 'pb', url: 'http://x', subscribes: [] });
    expect(missing.data.error.code).toBe(-32602);
    const mistyped = await rpc(bearer, REGISTER, { id: 'pb', url: 'http://x', secret: 's', subscribes: 'all' });
    expect(mistyped.data.error.code).toBe(-32602);
    expect((await rpc(bearer, 'magento.unknown', {})).data.error.code).toBe(-32601);
    expect(twin.registrations.size).toBe(0);
  });

  it('refuses JSON-RPC and delegate calls without a valid Bearer token', async () => {
    expect((await rpc(undefined, REGISTER, {})).status).toBe(401);
    expect((await rpc('made-up-token', REGISTER, {})).status).toBe(401);
    expect((await http$.post('/delegate/oms', { jsonrpc: '2.0', method: 'm', params: {} })).status).toBe(401);
    expect(twin.notifications).toHaveLength(0);
  });

  it('refuses a revoked token', async () => {
    const bearer = await token();
    twin.revokeTokens();
    expect((await http$.post('/delegate/oms', { jsonrpc: '2.0', method: 'm', params: {} }, { headers: { authorization: `Bearer ${bearer}` } })).status).toBe(
      401,
    );
  });

  it('records delegate notifications in order and hands them to waiters', async () => {
    const bearer = await token();
    const waiting = twin.waitForNotifications(3);
    for (const n of [1, 2, 3]) {
      const res = await http$.post(
        '/delegate/oms',
        { jsonrpc: '2.0', method: 'magento.payment.captured', params: { n } },
        { headers: { authorization: `Bearer ${bearer}` } },
      );
      expect(res.status).toBe(200);
      expect(res.data).toEqual({ jsonrpc: '2.0', id: null, result: {} });
    }
    const received = await waiting;
    expect(received.map((n) => n.params.n)).toEqual([1, 2, 3]);
    const listed = (await http$.get<Notification[]>('/twin/notifications')).data;
    expect(listed.map((n) => n.method)).toEqual(Array(3).fill('magento.payment.captured'));
    expect(typeof listed[0].receivedAt).toBe('number');
  });

  it('rejects a waiter when too few notifications arrive in time', async () => {
    await expect(twin.waitForNotifications(1, 20)).rejects.toThrow('0 of 1 notifications');
  });

  it('answers 503 on the delegate while put down through the handle or the /twin route', async () => {
    const bearer = await token();
    const send = () => http$.post('/delegate/oms', { jsonrpc: '2.0', method: 'm', params: {} }, { headers: { authorization: `Bearer ${bearer}` } });
    twin.setDelegateDown(true);
    expect((await send()).status).toBe(503);
    twin.setDelegateDown(false);
    expect((await send()).status).toBe(200);
    expect((await http$.post('/twin/delegate-down', { down: true })).status).toBe(200);
    expect((await send()).status).toBe(503);
    expect((await http$.post('/twin/delegate-down', { down: 'yes' })).status).toBe(400);
    await http$.post('/twin/delegate-down', { down: false });
    expect((await send()).status).toBe(200);
    expect(twin.notifications).toHaveLength(2);
  });

  it('forgets everything on POST /twin/reset', async () => {
    const bearer = await token();
    await rpc(bearer, REGISTER, { id: 'pb', url: 'http://x', secret: 's', subscribes: [] });
    expect((await http$.post('/twin/reset')).status).toBe(200);
    expect(twin.registrations.size).toBe(0);
    expect((await rpc(bearer, REGISTER, {})).status).toBe(401);
  });

  it('expires tokens after their lifetime', async () => {
    const shortLived = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tokenTtlS: 0 });
    try {
      const client = axios.create({ baseURL: shortLived.url, validateStatus: () => true, timeout: 5000 });
      const res = await client.post('/oauth/token', form({ grant_type: 'client_credentials' }), {
        headers: { ...formHeaders, authorization: basic(CLIENT_ID, CLIENT_SECRET) },
      });
      expect(res.data.expires_in).toBe(0);
      const call = await client.post(
        '/delegate/oms',
        { jsonrpc: '2.0', method: 'm', params: {} },
        { headers: { authorization: `Bearer ${res.data.access_token}` } },
      );
      expect(call.status).toBe(401);
    } finally {
      await shortLived.stop();
    }
  });
});

describe('sendSignedCommand', () => {
  let server: http.Server;
  let url: string;
  const received: Array<{ body: Buffer; signature: string | undefined }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        // A peer that never answers: the sender's own timeout ends the call.
        if (req.url === '/hang') return;
        const body = Buffer.concat(chunks);
        const signature = req.headers['x-signature'] as string | undefined;
        received.push({ body, signature });
        const ok = verifySignature(body, signature, 'intake-secret-123');
        res
          .writeHead(ok ? 200 : 401, { 'content-type': 'application/json' })
          .end(JSON.stringify(ok ? { jsonrpc: '2.0', id: 'c-1', result: { accepted: true } } : { error: 'bad signature' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bus`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('signs the exact body with sha1 as the bus does, and returns status and parsed body', async () => {
    const answer = await sendSignedCommand({
      url,
      secret: 'intake-secret-123',
      method: 'magento.payment.capture',
      params: { payment: { amount: 1000 } },
      id: 'c-1',
    });
    expect(answer).toEqual({ status: 200, body: { jsonrpc: '2.0', id: 'c-1', result: { accepted: true } } });
    const last = received[received.length - 1];
    expect(last.signature).toMatch(/^sha1=[0-9a-f]{40}$/);
    expect(JSON.parse(last.body.toString('utf8'))).toEqual({
      jsonrpc: '2.0',
      id: 'c-1',
      method: 'magento.payment.capture',
      params: { payment: { amount: 1000 } },
    });
  });

  it('signs with sha256 when asked', async () => {
    const answer = await sendSignedCommand({ url, secret: 'intake-secret-123', method: 'm', params: {}, id: 2, algorithm: 'sha256' });
    expect(answer.status).toBe(200);
    expect(received[received.length - 1].signature).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it('returns a refusal as a status rather than throwing', async () => {
    const answer = await sendSignedCommand({ url, secret: 'wrong-secret', method: 'm', params: {}, id: 3 });
    expect(answer).toEqual({ status: 401, body: { error: 'bad signature' } });
  });

  it('rejects when no answer comes within timeoutMs', async () => {
    const hang = url.replace(/\/bus$/, '/hang');
    await expect(sendSignedCommand({ url: hang, secret: 'intake-secret-123', method: 'm', params: {}, id: 4, timeoutMs: 200 })).rejects.toThrow(
      'within 200 ms',
    );
  });

  it('rejects when nobody listens', async () => {
    await expect(sendSignedCommand({ url: 'http://127.0.0.1:1/bus', secret: 's', method: 'm', params: {}, id: 5 })).rejects.toThrow();
  });
});
