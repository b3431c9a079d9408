import http from 'node:http';
import { AddressInfo } from 'node:net';
import { parseSimulatorWebhook, verifySimulatorWebhook } from '../../../src/gateways/simulator/simulator-webhook';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { eventually } from '../../support/tcp-proxy';

/** The simulator's late-fact controls: a chargeback, a late refund failure and a late approval, sent as signed webhooks. */

const API_KEY = 'sim-late-facts-key-0123456789';
const SECRET = 'whsec-sim-late-facts-0123456789';

let sim: PspSimulator;
let receiver: http.Server;
const received: Array<{ raw: Buffer; headers: Record<string, string> }> = [];

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      received.push({ raw: Buffer.concat(chunks), headers });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  sim = await startPspSimulator({ apiKey: API_KEY, webhookSecret: SECRET, webhookUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` });
});

afterAll(async () => {
  await sim.stop();
  receiver.closeAllConnections();
  await new Promise<void>((r) => receiver.close(() => r()));
});

async function post(path: string, body: unknown, key?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (path.startsWith('/v1/')) {
    headers.authorization = `Bearer ${API_KEY}`;
    headers['idempotency-key'] = key ?? `k-${Math.random()}`;
  }
  const res = await fetch(`${sim.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A captured authorization: its id and the capture's reference. */
async function captured(amount: number): Promise<{ auth: string; capture: string }> {
  const ref = `auth-${Date.now()}-${Math.random()}`;
  const auth = await post('/v1/authorizations', { amount, currency: 'EUR', payment_method: 'pm_card_visa', reference: ref });
  const capture = `cap-${ref}`;
  expect((await post(`/v1/authorizations/${String(auth.body.id)}/captures`, { amount, reference: capture })).status).toBe(201);
  return { auth: String(auth.body.id), capture };
}

function lateEvents(type: string) {
  return received.map((r) => ({ ...r, json: JSON.parse(r.raw.toString('utf8')) as { id: string; type: string } })).filter((r) => r.json.type === type);
}

describe('the PSP simulator late-fact controls', () => {
  it('sends a signed chargeback.created naming the capture, which the bridge reads as a chargeback adjustment', async () => {
    const { auth, capture } = await captured(3000);
    const answer = await post('/_control/chargeback', { reference: capture, amount: 1200, reason: 'product_not_received' });
    expect(answer.status).toBe(200);
    await eventually(() => lateEvents('chargeback.created').some((e) => e.json.id === answer.body.event_id));
    const hook = lateEvents('chargeback.created').find((e) => e.json.id === answer.body.event_id)!;
    expect(verifySimulatorWebhook(hook.raw, hook.headers, [SECRET], new Date())).toBe(true);
    const [event] = parseSimulatorWebhook(hook.raw, 'simulator');
    expect(event.operationId).toBe(capture);
    expect(event.adjustment).toMatchObject({ kind: 'chargeback', direction: 'debit', amount: 1200, currency: 'EUR', reason: 'product_not_received' });
    expect(answer.body.object).toMatchObject({ object: 'chargeback', authorization: auth, amount: 1200 });
  });

  it('sends a refund.failed for a refund that had succeeded, and delivers it twice when asked', async () => {
    const { auth } = await captured(5000);
    const refundRef = `ref-${Date.now()}`;
    expect((await post(`/v1/authorizations/${auth}/refunds`, { amount: 2000, reference: refundRef })).status).toBe(201);
    const answer = await post('/_control/refund-failure', { reference: refundRef, duplicate: true });
    expect(answer.status).toBe(200);
    await eventually(() => lateEvents('refund.failed').filter((e) => e.json.id === answer.body.event_id).length === 2);
    const [event] = parseSimulatorWebhook(lateEvents('refund.failed').find((e) => e.json.id === answer.body.event_id)!.raw, 'simulator');
    expect(event.operationId).toBe(refundRef);
    expect(event.adjustment).toMatchObject({ kind: 'refund_failed', amount: 2000, reason: 'expired_or_canceled_card' });
    // The money is no longer refunded at the PSP: it can be refunded again.
    expect((await post(`/v1/authorizations/${auth}/refunds`, { amount: 5000, reference: `${refundRef}-again` })).status).toBe(201);
  });

  it('approves a declined card authorization late: authorization.succeeded, the stored result follows; 409 when it was not declined', async () => {
    const ref = `late-${Date.now()}`;
    const declined = await post('/v1/authorizations', { amount: 4000, currency: 'EUR', payment_method: 'pm_card_declined', reference: ref });
    expect(declined.body).toMatchObject({ status: 'declined' });
    const answer = await post('/_control/late-approval', { reference: ref });
    expect(answer).toMatchObject({ status: 200, body: { object: { id: declined.body.id, status: 'authorized', amount: 4000 } } });
    await eventually(() => lateEvents('authorization.succeeded').some((e) => e.json.id === answer.body.event_id));
    const [event] = parseSimulatorWebhook(lateEvents('authorization.succeeded').find((e) => e.json.id === answer.body.event_id)!.raw, 'simulator');
    expect(event).toMatchObject({ operationId: ref, outcome: { status: 'SUCCESS' } });
    const stored = await fetch(`${sim.url}/v1/operations/${ref}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(await stored.json()).toMatchObject({ status: 'authorized' });
    expect((await post('/_control/late-approval', { reference: ref })).status).toBe(409);
    // A sale approved late is captured.
    const sale = `late-sale-${Date.now()}`;
    await post('/v1/authorizations', { amount: 2500, currency: 'EUR', payment_method: 'pm_insufficient_funds', reference: sale, capture: true });
    expect((await post('/_control/late-approval', { reference: sale })).body.object).toMatchObject({ status: 'captured', amount_captured: 2500 });
  });

  it('approves late for less than was asked (amount): held or charged at that amount; an amount out of range is refused', async () => {
    const sale = `late-part-${Date.now()}`;
    await post('/v1/authorizations', { amount: 6000, currency: 'EUR', payment_method: 'pm_card_declined', reference: sale, capture: true });
    expect((await post('/_control/late-approval', { reference: sale, amount: 6001 })).status).toBe(400);
    expect((await post('/_control/late-approval', { reference: sale, amount: '10' })).status).toBe(400);
    const answer = await post('/_control/late-approval', { reference: sale, amount: 1500 });
    expect(answer.body.object).toMatchObject({ status: 'captured', amount: 1500, amount_captured: 1500 });
    // More than was charged is refused, as for any authorization.
    const id = String((answer.body.object as { id: string }).id);
    expect((await post(`/v1/authorizations/${id}/refunds`, { amount: 6000, reference: `${sale}-r1` })).status).not.toBe(201);
    expect((await post(`/v1/authorizations/${id}/refunds`, { amount: 1500, reference: `${sale}-r2` })).status).toBe(201);
  });

  it('answers 404 for a reference it does not know and 400 without one', async () => {
    expect((await post('/_control/chargeback', { reference: 'nope' })).status).toBe(404);
    expect((await post('/_control/refund-failure', { reference: 'nope' })).status).toBe(404);
    expect((await post('/_control/chargeback', {})).status).toBe(400);
    expect((await post('/_control/late-approval', { reference: 'nope' })).status).toBe(404);
    expect((await post('/_control/late-approval', {})).status).toBe(400);
  });
});
