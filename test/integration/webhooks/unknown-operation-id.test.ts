/**
 * A webhook's operation id comes from the PSP's merchant reference: one that only looks like ours, or names an
 * operation retention removed, names no operation the ledger holds. The outcome worker then looks the item's PSP
 * reference up, as for a webhook naming no operation id, rather than retrying the id until the job fails.
 */
import { metricValue } from '../../../src/metrics/metrics-registry';
import { channelCommand } from '../../support/fixtures';
import { eventually } from '../../support/tcp-proxy';
import { useOutcomeWorkerStack } from '../../support/outcome-worker-stack';

jest.setTimeout(30_000);

const stack = useOutcomeWorkerStack();

/** An authorization of 1999 EUR the simulator holds under `pspReference`, PENDING (the reference indexed). */
async function pendingUnder(pspReference: string): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa', amount: 1999, currency: 'EUR' });
  const id = command.payment.operation_reference!;
  await stack.ledger.create(id, command);
  await stack.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  await stack.ledger.transitionAndGet(
    id,
    'PENDING',
    { event: 'outcome', source: 'response' },
    { gatewayReference: pspReference, nextCheckAt: Date.now() + 600_000, pollStep: 0 },
    { reference: { gateway: 'simulator', reference: pspReference } },
  );
  return id;
}

const counted = (outcome: string): Promise<number> => metricValue('pb_webhook_unknown_operation_id_total', { gateway: 'simulator', outcome });

describe('a webhook outcome naming an operation id the stack.ledger does not hold', () => {
  it('is applied to the operation its PSP reference is indexed to, counted and logged', async () => {
    const pspReference = `sim_ref_${process.pid}_${Date.now()}`;
    const id = await pendingUnder(pspReference);
    const before = await counted('matched_by_reference');

    await stack.outcomes.add('outcome', {
      gateway: 'simulator',
      eventId: `evt_unknown_${id}`,
      operationId: 'op_removed_by_retention',
      gatewayReference: pspReference,
      outcome: { status: 'SUCCESS', gatewayStatus: 'authorized', amount: 1999, currency: 'EUR', gatewayReference: pspReference },
    });

    await eventually(async () => (await stack.ledger.get(id))?.state === 'SUCCEEDED');
    expect(await counted('matched_by_reference')).toBe(before + 1);
    expect(stack.logs.lines.some((l) => l.includes('matched by its PSP reference') && l.includes(id) && l.includes('op_removed_by_retention'))).toBe(true);
  });

  it('still refuses an outcome for another amount on the operation found by reference (scope checks unchanged)', async () => {
    const pspReference = `sim_ref_scope_${process.pid}_${Date.now()}`;
    const id = await pendingUnder(pspReference);
    const jobId = `unknown-scope-${id}`;

    await stack.outcomes.add(
      'outcome',
      {
        gateway: 'simulator',
        eventId: `evt_scope_${id}`,
        operationId: 'op_not_ours',
        gatewayReference: pspReference,
        outcome: { status: 'SUCCESS', gatewayStatus: 'authorized', amount: 2999, currency: 'EUR', gatewayReference: pspReference },
      },
      { jobId },
    );

    await eventually(async () => (await (await stack.outcomes.getJob(jobId))?.getState()) === 'failed');
    expect((await stack.outcomes.getJob(jobId))?.attemptsMade).toBe(1);
    expect((await stack.ledger.get(id))?.state).toBe('PENDING');
  });
});
