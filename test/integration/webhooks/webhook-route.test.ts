import { metricValue } from '../../../src/metrics/metrics-registry';
import { silentLogger } from '../../../src/logging/logger';
import { SIMULATOR_SIGNATURE_HEADER, signSimulatorPayload } from '../../../harness/twins/psp-simulator/simulator-signature';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { captureLogger } from '../../support/capture-logger';
import { simulatorAuthorizationEvent, simulatorWebhookGateway, useWebhookStack } from '../../support/webhook-stack';
import { bullJobId } from '../../../src/queueing/job-id';

const SECRET = 'whsec-webhook-route-test-0123456789';

/** The worker's log lines (info and up). */
const workerLogs = captureLogger('info');
/** What the worker told the bus, in order. */
const notified: Record<string, unknown>[] = [];
// The worker applies queued outcomes; nothing here reaches a gateway or the bus.
const stack = useWebhookStack(
  { simulator: simulatorWebhookGateway(SECRET) },
  {
    webLogger: silentLogger(),
    workerLogger: workerLogs.logger,
    notify: async (_method, params) => void notified.push(params),
    config: { 'http.body_limit_bytes': 4096 },
  },
);

function event(reference: string, status: string, eventId = `evt_${reference}_${status}`): string {
  return simulatorAuthorizationEvent(reference, { eventId, status });
}

async function post(body: string, options: { gateway?: string; signature?: string | null } = {}): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const signature = options.signature === undefined ? signSimulatorPayload(SECRET, body, Math.floor(Date.now() / 1000)) : options.signature;
  if (signature !== null) headers[SIMULATOR_SIGNATURE_HEADER.toLowerCase()] = signature;
  return fetch(`${stack.web.server.url}/webhooks/${options.gateway ?? 'simulator'}`, { method: 'POST', body, headers });
}

/** An authorization the bridge is waiting on (PENDING), as after an async answer. */
async function pendingAuthorization(): Promise<string> {
  const command = channelCommand('authorize');
  const id = command.payment.operation_reference!;
  await stack.worker.ledger.create(id, command);
  await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await stack.worker.ledger.transition(id, 'PENDING', { event: 'outcome' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 });
  return id;
}

describe('the webhook route', () => {
  it('answers 404 for a gateway that is not configured', async () => {
    const res = await post(event('x', 'authorized'), { gateway: 'paypal' });
    expect(res.status).toBe(404);
  });

  it('answers a PSP’s reachability ping (GET or HEAD, as Cybersource’s health check) with 200 and nothing else; other methods 405', async () => {
    const url = `${stack.web.server.url}/webhooks/simulator`;
    const before = await metricValue('pb_webhook_pings_total', { gateway: 'simulator' });
    const get = await fetch(url);
    expect(get.status).toBe(200);
    expect(await get.json()).toEqual({ status: 'ok' });
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(200);
    expect(await metricValue('pb_webhook_pings_total', { gateway: 'simulator' })).toBe(before + 2);
    const put = await fetch(url, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
    expect((await fetch(`${stack.web.server.url}/webhooks/paypal`)).status).toBe(404);
  });

  it('refuses a bad, a missing and a stale signature with 401 and queues nothing', async () => {
    const body = event('refused', 'authorized');
    expect((await post(body, { signature: signSimulatorPayload('not-the-secret-0123456789', body, Math.floor(Date.now() / 1000)) })).status).toBe(401);
    expect((await post(body, { signature: null })).status).toBe(401);
    expect((await post(body, { signature: signSimulatorPayload(SECRET, body, Math.floor(Date.now() / 1000) - 3600) })).status).toBe(401);
    expect((await post(`${body} `, { signature: signSimulatorPayload(SECRET, body, Math.floor(Date.now() / 1000)) })).status).toBe(401);
    expect(stack.web.webhooks.stats).toMatchObject({ accepted: 0, duplicates: 0, refused: 4 });
  });

  it('refuses a body over the limit with 413, counted where the other refusals are (a PSP batch can outgrow the limit)', async () => {
    const before = await metricValue('pb_webhooks_refused_total', { gateway: 'simulator', reason: 'body_too_large' });
    const res = await post(JSON.stringify({ pad: 'x'.repeat(5000) }));
    expect(res.status).toBe(413);
    expect(await metricValue('pb_webhooks_refused_total', { gateway: 'simulator', reason: 'body_too_large' })).toBe(before + 1);
  });

  it('acknowledges a signed webhook at once and the outcome settles the pending operation', async () => {
    const id = await pendingAuthorization();
    const res = await post(event(id, 'authorized'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true });
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
    expect((await stack.worker.ledger.get(id))?.gatewayReference).toBe(`auth_${id}`);
    expect(await stack.worker.events.load(`${id}.SUCCEEDED`)).not.toBeNull();
  });

  it('counts a repeated event once and applies it once', async () => {
    const id = await pendingAuthorization();
    const body = event(id, 'authorized');
    const accepted = stack.web.webhooks.stats.accepted;
    expect((await post(body)).status).toBe(200);
    expect((await post(body)).status).toBe(200);
    expect(stack.web.webhooks.stats.accepted).toBe(accepted + 1);
    expect(stack.web.webhooks.stats.duplicates).toBeGreaterThanOrEqual(1);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
    const outcomes = (await stack.worker.ledger.interactions(id)).filter((h) => h.event === 'outcome' && h.source === 'webhook');
    expect(outcomes).toHaveLength(1);
  });

  it('settles an operation the poller gave up on (UNRESOLVED) when a SUCCESS webhook comes later: the OMS gets UNRESOLVED, then SUCCESS', async () => {
    const id = await pendingAuthorization();
    // The last step of the schedule is due; the gateway (nothing listens on its port) gives no answer.
    await stack.worker.ledger.transition(
      id,
      'PENDING',
      { event: 'test' },
      { nextCheckAt: Date.now() - 1, pollStep: stack.config.poller.scheduleMs.length - 1 },
    );
    await stack.worker.poller.runOnce();
    expect((await stack.worker.ledger.get(id))?.state).toBe('UNRESOLVED');
    expect((await post(event(id, 'authorized'))).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
    expect((await stack.worker.ledger.get(id))?.gatewayReference).toBe(`auth_${id}`);
    await eventually(async () => notified.filter((p) => (p.payment as Record<string, unknown>).operation_reference === id).length >= 2);
    const told = notified.map((p) => p.payment as Record<string, unknown>).filter((p) => p.operation_reference === id);
    expect(told.map((p) => [p.event_id, p.status])).toEqual([
      [`${id}.UNRESOLVED`, 'UNRESOLVED'],
      [`${id}.SUCCEEDED`, 'SUCCESS'],
    ]);
    expect(Number(told[1].sequence)).toBeGreaterThan(Number(told[0].sequence));
    expect(told[1].reason).toBeNull();
  });

  it('never reverses a terminal state: a late decline after success changes nothing and waits to be confirmed by the PSP', async () => {
    const id = await pendingAuthorization();
    expect((await post(event(id, 'authorized'))).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
    expect((await post(event(id, 'declined'))).status).toBe(200);
    // The late webhook went through the outcome stack.worker, which put it aside until the PSP can be asked.
    const jobId = bullJobId(`wh.simulator.evt_${id}_declined`);
    await eventually(async () => (await (await stack.outcomes.getJob(jobId))?.isDelayed()) === true);
    expect((await stack.worker.ledger.get(id))?.state).toBe('SUCCEEDED');
    expect(await stack.worker.events.load(`${id}.FAILED`)).toBeNull();
  });
});
