import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { Logger } from '../../../src/logging/logger';
import { metricsRegistry } from '../../../src/metrics/metrics-registry';
import { GatewayOutcomeJobData } from '../../../src/webhooks/gateway-outcomes-queue';
import { recordOutcomeNotForCommand } from '../../../src/webhooks/outcome-for-command';
import { recordStaleAction } from '../../../src/webhooks/stale-action';

/** The label sets a metric holds now, by gateway_status. */
async function statusesOf(name: string): Promise<string[]> {
  const metric = metricsRegistry.getSingleMetric(name);
  if (!metric) return [];
  const { values } = await metric.get();
  return values.map((v) => String((v.labels as Record<string, unknown>).gateway_status));
}

describe('gateway_status label of the webhook counters', () => {
  const appended: Record<string, unknown>[] = [];
  const ledger = { appendInteraction: (_id: string, entry: Record<string, unknown>) => Promise.resolve(void appended.push(entry)) } as unknown as Ledger;
  const logged: Record<string, unknown>[] = [];
  const logger = {
    info: (_m: string, meta: Record<string, unknown>) => logged.push(meta),
    warn: (_m: string, meta: Record<string, unknown>) => logged.push(meta),
  } as unknown as Logger;
  const op = { id: 'op-a', command: 'authorize', state: 'PENDING' } as unknown as OperationRecord;
  const job = (gatewayStatus: string, status: 'SUCCESS' | 'ACTION_REQUIRED'): GatewayOutcomeJobData =>
    ({ gateway: 'stripe', eventId: 'evt-a', outcome: { status, gatewayStatus, settles: ['capture'] } }) as unknown as GatewayOutcomeJobData;

  // The job's gateway is the configured name; its type (here `stripe`) bounds the label.
  const counters = [
    ['pb_webhook_outcomes_not_for_command_total', (s: string) => recordOutcomeNotForCommand(op, job(s, 'SUCCESS'), { ledger, logger }, 'stripe')],
    ['pb_webhook_stale_actions_total', (s: string) => recordStaleAction(op, job(s, 'ACTION_REQUIRED'), { ledger, logger }, 'stripe')],
  ] as const;

  it.each(counters)('%s: an unknown PSP status is counted as other, never as a series of its own; the log line and history keep it', async (name, record) => {
    const unknown = ['attacker-chosen-status-xyz', 'another-one-qq'];
    for (const s of unknown) await record(s);
    const statuses = await statusesOf(name);
    for (const s of unknown) expect(statuses).not.toContain(s);
    expect(statuses).toContain('other');
    expect(logged.map((m) => m.gateway_status)).toEqual(expect.arrayContaining(unknown));
    expect(appended.map((e) => e.gateway_status)).toEqual(expect.arrayContaining(unknown));
  });

  it.each(counters)("%s: a status the gateway's own adapter declares keeps its own series", async (name, record) => {
    await record('requires_action');
    expect(await statusesOf(name)).toContain('requires_action');
  });

  it.each(counters)('%s: a status only another gateway declares is other at this one, never a series of its own', async (name, record) => {
    // Adyen's event code and Cybersource's status, arriving at a Stripe endpoint.
    const foreign = ['AUTHORISATION', 'AUTHORIZED_PENDING_REVIEW'];
    for (const s of foreign) await record(s);
    const statuses = await statusesOf(name);
    for (const s of foreign) expect(statuses).not.toContain(s);
    expect(statuses).toContain('other');
  });
});
