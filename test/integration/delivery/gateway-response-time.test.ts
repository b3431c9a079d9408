import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';

/**
 * An event's `gateway_response_time` is the PSP's response time, the round trip the worker timed for the call
 * whose answer the event reports (the history's `elapsed_ms` of that outcome), not the operation's lifetime
 * (queueing before the send, retries, a webhook's wait). Real delivery against the PSP simulator answering after
 * 150 ms, on a real Redis.
 */
const KEY = 'sim-response-time-key-0123456789';
const PSP_LATENCY_MS = 150;
// How long the command waits before delivery takes it: in its lifetime, not the PSP's time.
const QUEUED_MS = 600;

let sim: PspSimulator;
let stack: DeliveryStack;
const stacks = useDeliveryStacks();

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: KEY, faults: { latencyMs: { min: PSP_LATENCY_MS, max: PSP_LATENCY_MS } } });
  stack = stacks.build(
    testConfig({ gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: KEY, webhook_secret: 'whsec-response-time-0123456789' } } }),
  );
});

afterAll(async () => {
  await sim.stop();
}, 60_000);

const paymentOf = async (eventId: string): Promise<Record<string, unknown>> => (await stack.events.load(eventId))!.params.payment as Record<string, unknown>;

describe("an event's gateway_response_time", () => {
  it("is the PSP call's round trip as the worker timed it, not the operation's lifetime", async () => {
    const command: PaymentCommand = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 1999, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    await stack.ledger.create(id, command);
    await new Promise((resolve) => setTimeout(resolve, QUEUED_MS));
    expect(await stack.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const record = (await stack.ledger.get(id))!;
    const outcome = (await stack.ledger.interactions(id)).find((h) => h.event === 'outcome' && h.source === 'response');
    const timed = Math.round(outcome?.elapsed_ms as number);
    expect(record.updatedAt - record.createdAt).toBeGreaterThanOrEqual(QUEUED_MS);
    expect(timed).toBeGreaterThanOrEqual(PSP_LATENCY_MS);
    expect(timed).toBeLessThan(QUEUED_MS);
    expect(record.pspResponseMs).toBe(timed);
    expect((await paymentOf(`${id}.SUCCEEDED`)).gateway_response_time).toBe(timed);
  });

  it('a PENDING answer timed, settled later by a webhook: the SUCCESS event keeps the PSP call it answered', async () => {
    const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 500, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    await stack.ledger.create(id, command);
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await stack.recorder.apply((await stack.ledger.get(id))!, { status: 'PENDING', gatewayStatus: 'processing', gatewayReference: `pi_${id}` }, 'response', {
      elapsed_ms: 41.6,
    });
    expect((await paymentOf(`${id}.PENDING`)).gateway_response_time).toBe(42);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await stack.recorder.apply((await stack.ledger.get(id))!, { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: `pi_${id}` }, 'webhook');
    expect((await paymentOf(`${id}.SUCCEEDED`)).gateway_response_time).toBe(42);
  });

  it("a PENDING answer settled by the poller's status inquiry: the SUCCESS event says that inquiry's round trip", async () => {
    const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 500, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    await stack.ledger.create(id, command);
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await stack.recorder.apply((await stack.ledger.get(id))!, { status: 'PENDING', gatewayStatus: 'processing', gatewayReference: `pi_${id}` }, 'response', {
      elapsed_ms: 41.6,
    });
    // The poller asks as delivery's inquiry does (src/poller/poller.ts, action-expiry.ts): a call of ours, timed, answered.
    await stack.recorder.apply((await stack.ledger.get(id))!, { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: `pi_${id}` }, 'poller', {
      elapsed_ms: 87.2,
    });
    expect((await stack.ledger.get(id))?.pspResponseMs).toBe(87);
    expect((await paymentOf(`${id}.SUCCEEDED`)).gateway_response_time).toBe(87);
  });

  it("a PSP's refusal answered as an error (a terminal gateway error read from its answer): the FAIL event says that answer's round trip", async () => {
    const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 500, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    await stack.ledger.create(id, command);
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    // As delivery's onError records a terminal GatewayError the transformer read from the PSP's answer.
    await stack.recorder.fail((await stack.ledger.get(id))!, 'invalid_request', 'response', {
      details: { event: 'send_error', kind: 'invalid_request', http_status: 400, elapsed_ms: 63.4 },
    });
    expect((await paymentOf(`${id}.FAILED`)).gateway_response_time).toBe(63);
  });

  it('is 0 when no call of ours was answered (an outcome the PSP told by webhook only)', async () => {
    const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 500, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    await stack.ledger.create(id, command);
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await stack.recorder.apply((await stack.ledger.get(id))!, { status: 'FAIL', gatewayStatus: 'failed', reason: 'card_declined' }, 'webhook');
    expect((await paymentOf(`${id}.FAILED`)).gateway_response_time).toBe(0);
  });
});
