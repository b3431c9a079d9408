/**
 * The webhook outcomes worker retries an outcome whose operation is not matched yet (the webhook overtook the
 * gateway's answer) for the queue's 20 attempts. A fault of the bridge (a TypeError, a record that does not
 * decode) meets the same fault at every attempt: its job ends after OUTCOME_FAULT_TRIES tries, kept in the
 * failed set, with an error line naming the error's class and a metric. An outcome of a gateway no longer configured
 * is no fault: refused at once by the scope check.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { ShardKeys } from '../../../src/redis/key-layout';
import { GatewayOutcomeJobData } from '../../../src/webhooks/gateway-outcomes-queue';
import { OUTCOME_FAULT_TRIES } from '../../../src/webhooks/outcome-worker';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { useOutcomeWorkerStack } from '../../support/outcome-worker-stack';

jest.setTimeout(30_000);

const stack = useOutcomeWorkerStack();

function outcomeFor(operationId: string): GatewayOutcomeJobData {
  return {
    gateway: 'simulator',
    eventId: `evt_${operationId}`,
    operationId,
    outcome: { status: 'SUCCESS', gatewayStatus: 'authorized', amount: 1999, currency: 'EUR' },
  };
}

async function failed(jobId: string): Promise<{ attemptsMade: number }> {
  await eventually(async () => (await (await stack.outcomes.getJob(jobId))?.getState()) === 'failed', 20_000);
  return (await stack.outcomes.getJob(jobId))!;
}

describe('the webhook stack.outcomes worker meeting a fault of the bridge', () => {
  it(`ends the job after ${OUTCOME_FAULT_TRIES} tries, kept in the failed set, with an error line naming error_class and pb_webhook_outcome_faults_total`, async () => {
    const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 1999, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    await stack.ledger.create(id, command);
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    // The record no longer decodes: every read of it throws a SyntaxError.
    await stack.redis.hset(new ShardKeys(stack.config.redis.keyPrefix, (await stack.ledger.shardOf(id)) ?? 0).op(id), 'payment', '{"amount":');
    const retried = await metricValue('pb_webhook_outcome_faults_total', { gateway: 'simulator', outcome: 'retried' });
    const setAside = await metricValue('pb_webhook_outcome_faults_total', { gateway: 'simulator', outcome: 'set_aside' });

    await stack.outcomes.add('outcome', outcomeFor(id), { jobId: `fault-${id}` });

    const job = await failed(`fault-${id}`);
    expect(job.attemptsMade).toBe(OUTCOME_FAULT_TRIES);
    expect(await metricValue('pb_webhook_outcome_faults_total', { gateway: 'simulator', outcome: 'retried' })).toBe(retried + OUTCOME_FAULT_TRIES - 1);
    expect(await metricValue('pb_webhook_outcome_faults_total', { gateway: 'simulator', outcome: 'set_aside' })).toBe(setAside + 1);
    const line = stack.logs.lines.find((l) => l.includes('"level":"error"') && l.includes(`evt_${id}`));
    expect(line).toContain('"error_class":"SyntaxError"');
    expect(line).not.toContain('could not be matched');
  });

  it('keeps retrying an outcome whose operation is not matched yet for all the queue’s attempts, then says it could not be matched', async () => {
    const id = 'op-never-recorded';
    const job = await stack.outcomes.add('outcome', outcomeFor(id), { jobId: `unmatched-${id}` });
    expect(job.opts.attempts).toBe(20);

    expect((await failed(`unmatched-${id}`)).attemptsMade).toBe(20);
    await eventually(async () => stack.logs.lines.some((l) => l.includes(`evt_${id}`) && l.includes('could not be matched to an operation')));
  });

  it('refuses, once and as no fault, an outcome queued for a gateway the configuration no longer has (removed while its jobs waited)', async () => {
    // The operation was routed to `retired`, an entry a release removed from gateways.* while its webhook was queued.
    const command = channelCommand('authorize', {}, { gateway: 'retired', gateway_key: 'pm_card_visa', amount: 1999, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    await stack.ledger.create(id, command);
    await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
    const refused = await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'retired', check: 'gateway' });
    const faults = await metricValue('pb_webhook_outcome_faults_total', { gateway: 'retired', outcome: 'retried' });

    await stack.outcomes.add('outcome', { ...outcomeFor(id), gateway: 'retired' }, { jobId: `retired-${id}` });

    // Its type is looked up before the scope check (it bounds the counters' gateway_status): no TypeError, one try.
    expect((await failed(`retired-${id}`)).attemptsMade).toBe(1);
    expect(await metricValue('pb_webhook_outcomes_refused_total', { gateway: 'retired', check: 'gateway' })).toBe(refused + 1);
    expect(await metricValue('pb_webhook_outcome_faults_total', { gateway: 'retired', outcome: 'retried' })).toBe(faults);
    expect((await stack.ledger.get(id))?.state).toBe('SENT');
  });
});
