import { preciseNow } from '../../../harness/workload/precise-clock';
import axios from 'axios';
import { startBusTwin, terminalSummary } from '../../../harness/twins/bus-twin/bus-twin';
import { BusTwinProcess, SimulatorProcess, startBusTwinProcess, startSimulatorProcess } from '../../../harness/twins/twin-processes/twin-processes';
import { processCpuMicros } from '../../../harness/bench/process-cpu';

// The twins' child processes run the built harness (`npm run build`), as the local stack's roles do.
jest.setTimeout(120_000);

const CLIENT_ID = 'twin-client';
const CLIENT_SECRET = 'twin-client-secret-5e1a';

/** A payment event as the bridge posts it, with more than the bench reads. */
const event = (reference: string) => ({
  jsonrpc: '2.0',
  method: 'magento.payments.payments_management.validated',
  params: {
    payment: {
      event_id: `${reference}.SUCCEEDED`,
      sequence: 2,
      operation_reference: reference,
      status: 'SUCCESS',
      amount: 1250,
      currency: 'EUR',
      gateway_response: { reference: 'auth_1', status: 'authorized' },
      method_details: { card: { last_four_digits: '4242' } },
    },
  },
});

async function bearer(url: string): Promise<string> {
  const res = await axios.post<{ access_token: string }>(
    `${url}/oauth/token`,
    new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }).toString(),
    { headers: { 'content-type': 'application/x-www-form-urlencoded' } },
  );
  return res.data.access_token;
}

async function waitFor<T>(read: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = read();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('bus twin: compact records', () => {
  it('keeps only what keepParams returns, after checking the whole notification', async () => {
    const twin = await startBusTwin({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, keepParams: terminalSummary });
    try {
      const token = await bearer(twin.url);
      const post = (body: unknown) =>
        axios.post(`${twin.url}/delegate/oms`, body, { headers: { authorization: `Bearer ${token}` }, validateStatus: () => true });
      expect((await post(event('op-1'))).status).toBe(200);
      expect((await post({ jsonrpc: '2.0', params: {} })).status).toBe(400);
      expect(twin.notifications).toHaveLength(1);
      expect(twin.notifications[0].params).toEqual({
        payment: { event_id: 'op-1.SUCCEEDED', operation_reference: 'op-1', status: 'SUCCESS', gateway_response: { reference: 'auth_1' } },
      });
      expect(twin.notifications[0].method).toBe('magento.payments.payments_management.validated');
    } finally {
      await twin.stop();
    }
  });

  it('reduces a notification without a payment to empty params', () => {
    expect(terminalSummary({ other: 1 })).toEqual({});
    expect(terminalSummary({ payment: { event_id: 'x.FAILED', operation_reference: 'x', status: 'FAIL' } })).toEqual({
      payment: { event_id: 'x.FAILED', operation_reference: 'x', status: 'FAIL' },
    });
  });
});

describe('twins in processes of their own', () => {
  let bus: BusTwinProcess | undefined;
  let simulator: SimulatorProcess | undefined;

  afterEach(async () => {
    await bus?.stop();
    await simulator?.stop();
    bus = undefined;
    simulator = undefined;
  });

  it('the bus twin process checks the bearer and forwards compact records stamped on arrival', async () => {
    bus = await startBusTwinProcess({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    expect(bus.pid).not.toBe(process.pid);
    expect(processCpuMicros(bus.pid)).not.toBeNull();
    const token = await bearer(bus.url);
    const refused = await axios.post(`${bus.url}/delegate/oms`, event('op-0'), { validateStatus: () => true });
    expect(refused.status).toBe(401);
    const before = preciseNow();
    const ok = await axios.post(`${bus.url}/delegate/oms`, event('op-2'), { headers: { authorization: `Bearer ${token}` } });
    const after = preciseNow();
    expect(ok.data).toEqual({ jsonrpc: '2.0', id: null, result: {} });
    const list = bus.notifications;
    const n = await waitFor(() => list[0], 'the forwarded notification');
    expect(list).toHaveLength(1);
    expect(n.params).toEqual(terminalSummary(event('op-2').params));
    // Stamped in the child on the harness's clock (the machine's monotonic clock, one anchor inherited by the
    // child): comparable with this process's stamps however long this test worker has run. On each process's
    // own performance.timeOrigin, a CI worker and a fresh child once disagreed by 84 ms. The two processes
    // read the shared anchor a little apart: a CI run measured the child 1.1 ms ahead, so 5 ms of slack.
    expect(n.receivedAt).toBeGreaterThanOrEqual(before - 5);
    expect(n.receivedAt).toBeLessThanOrEqual(after + 5);
  });

  it('the simulator process answers per its contract and takes faults over IPC', async () => {
    simulator = await startSimulatorProcess({ apiKey: 'sim-key-7f3c', webhookSecret: 'whsec-1' });
    const authorize = (key: string) =>
      axios.post(
        `${simulator!.url}/v1/authorizations`,
        { amount: 1000, currency: 'EUR', payment_method: 'pm_card_visa', reference: key },
        { headers: { authorization: 'Bearer sim-key-7f3c', 'idempotency-key': key }, validateStatus: () => true },
      );
    const first = await authorize('k-1');
    expect(first.status).toBe(201);
    expect(first.data).toMatchObject({ status: 'authorized', amount: 1000 });
    const replay = await authorize('k-1');
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.data).toEqual(first.data);
    const faults = async () => (await axios.get(`${simulator!.url}/_control/faults`)).data as unknown;
    // Applied once setFaults resolves: the next request already sees them.
    await simulator.setFaults({ latencyMs: { min: 300, max: 300 } });
    expect(await faults()).toEqual({ latencyMs: { min: 300, max: 300 } });
    await simulator.setFaults({});
    expect(await faults()).toEqual({});
    const pid = simulator.pid;
    await simulator.stop();
    simulator = undefined;
    expect(processCpuMicros(pid)).toBeNull();
  });
});
