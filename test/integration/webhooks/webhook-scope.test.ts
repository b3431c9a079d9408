/**
 * Whose outcome: a webhook outcome may only settle an operation routed to the gateway whose endpoint it
 * arrived on (and its account), with the operation's own amount and currency. Anything else is refused:
 * not applied, a security warning, a metric, and the job kept in the failed set (not retried forever).
 */
import { bullJobId } from '../../../src/queueing/job-id';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { postSimulatorSigned, simulatorAuthorizationEvent, simulatorWebhookGateway, useWebhookStack } from '../../support/webhook-stack';

const SECRET_A = 'whsec-scope-test-gateway-a-0123456789';
const SECRET_B = 'whsec-scope-test-gateway-b-0123456789';

const logs = captureLogger('info');
const stack = useWebhookStack(
  {
    simulator: simulatorWebhookGateway(SECRET_A),
    sim_b: simulatorWebhookGateway(SECRET_B),
  },
  { webLogger: logs.logger },
);

function event(reference: string, options: { amount?: number; currency?: string; eventId?: string } = {}): { body: string; eventId: string } {
  const eventId = options.eventId ?? `evt_${reference}_${Math.random().toString(36).slice(2)}`;
  const body = simulatorAuthorizationEvent(reference, { eventId, amount: options.amount, currency: options.currency });
  return { body, eventId };
}

async function post(gateway: string, secret: string, body: string): Promise<Response> {
  return postSimulatorSigned(stack, gateway, body, secret);
}

/** An authorization of `gateway` the bridge is waiting on (PENDING). */
async function pendingAuthorization(gateway: string): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway });
  const id = command.payment.operation_reference!;
  await stack.worker.ledger.create(id, command);
  await stack.worker.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await stack.worker.ledger.transition(id, 'PENDING', { event: 'outcome' }, { nextCheckAt: Date.now() + 60_000, pollStep: 0 });
  return id;
}

async function expectRefused(gateway: string, eventId: string, id: string, check: string, before: number): Promise<void> {
  await eventually(async () => (await metricValue('pb_webhook_outcomes_refused_total', { gateway, check })) > before);
  expect(await metricValue('pb_webhook_outcomes_refused_total', { gateway, check })).toBe(before + 1);
  const job = await stack.outcomes.getJob(bullJobId(`wh.${gateway}.${eventId}`));
  await eventually(async () => (await job?.getState()) === 'failed');
  expect(job?.attemptsMade).toBeLessThanOrEqual(1);
  const op = await stack.worker.ledger.get(id);
  expect(op?.state).toBe('PENDING');
  expect((await stack.worker.ledger.interactions(id)).filter((h) => h.source === 'webhook')).toHaveLength(0);
  const line = logs.lines.find((l) => l.includes('security: webhook_scope_mismatch') && l.includes(id));
  expect(line).toBeDefined();
  expect(line).toContain('"level":"warn"');
  expect(line).toContain(`"check":"${check}"`);
  expect(line).toContain(`"gateway":"${gateway}"`);
  expect(line).not.toContain(SECRET_A);
}

describe('webhook outcome scope', () => {
  it("refuses a webhook on gateway A's endpoint that names an operation of gateway B", async () => {
    const id = await pendingAuthorization('sim_b');
    const before = await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'simulator', check: 'gateway' });
    const { body, eventId } = event(id);
    expect((await post('simulator', SECRET_A, body)).status).toBe(200);
    await expectRefused('simulator', eventId, id, 'gateway', before);
  });

  it("refuses a webhook whose amount is not the operation's amount", async () => {
    const id = await pendingAuthorization('simulator');
    const before = await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'simulator', check: 'amount' });
    const { body, eventId } = event(id, { amount: 1 });
    expect((await post('simulator', SECRET_A, body)).status).toBe(200);
    await expectRefused('simulator', eventId, id, 'amount', before);
  });

  it("still applies a webhook on the operation's own gateway with its amount", async () => {
    const id = await pendingAuthorization('sim_b');
    const { body } = event(id);
    expect((await post('sim_b', SECRET_B, body)).status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
  });
});
