import { metricValue } from '../../../src/metrics/metrics-registry';
import { releasingHeldFunds, voidOperationId } from '../../../src/poller/orphan-reversal';
import { bullJobId } from '../../../src/queueing/job-id';
import { channelCommand } from '../../support/fixtures';
import { useCybersourceStandIn } from '../../support/cybersource-stand-in';

/** 22-digit Cybersource payment ids (no Luhn-valid card-length window). */
const AUTH_ID = '6381278241084565908266';
const REVERSAL_ID = '7000000000000000000001';

/** Reversals the stand-in was asked for: the transaction reversed and the request's body. */
const reversals: { id: string; body: Record<string, unknown> }[] = [];

/**
 * A local Cybersource stand-in: every payment is approved by the issuer and then rejected by Decision
 * Manager (`AUTHORIZED_RISK_DECLINED`, the funds held), and a reversal of it is answered REVERSED.
 */
const standIn = useCybersourceStandIn(({ method, url, body }) => {
  if (method === 'POST' && url === '/pts/v2/payments') {
    return {
      status: 201,
      body: {
        id: AUTH_ID,
        status: 'AUTHORIZED_RISK_DECLINED',
        errorInformation: { reason: 'DECISION_PROFILE_REJECT', message: 'Decision Manager rejected the order' },
        orderInformation: { amountDetails: { authorizedAmount: '100.00', currency: 'USD' } },
      },
    };
  }
  const reversal = /^\/pts\/v2\/payments\/(\d+)\/reversals$/.exec(url);
  if (method === 'POST' && reversal) {
    reversals.push({ id: reversal[1], body: JSON.parse(body) as Record<string, unknown> });
    return { status: 201, body: { id: REVERSAL_ID, status: 'REVERSED', reversalAmountDetails: { reversedAmount: '100.00', currency: 'USD' } } };
  }
  return undefined;
});

function setup(mode: 'on' | 'dry_run') {
  return standIn.stack({ settings: { 'authorizations.orphan_reversal': mode }, releases: (orphans) => ({ releaseHeld: releasingHeldFunds(orphans) }) });
}

/** The JSON line with `message` about operation `id`, if one was logged. */
function logged(lines: string[], message: string, id: string): Record<string, unknown> | undefined {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === message && l.operation_id === id);
}

describe('Cybersource AUTHORIZED_RISK_DECLINED: failed, and the hold the issuer approved is released', () => {
  it.each(['authorize', 'sale'] as const)(
    'fails the %s, then voids its authorization at Cybersource through orphan reversal (risk_declined)',
    async (command) => {
      const { ledger, service, deliveryQueue, lines } = setup('on');
      const cmd = channelCommand(command, {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
      const id = cmd.payment.operation_reference!;
      await ledger.create(id, cmd);
      const before = await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', release: 'voided' });
      const voidsBefore = await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'risk_declined' });

      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
      expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', gatewayStatus: 'AUTHORIZED_RISK_DECLINED', gatewayReference: AUTH_ID });

      const voidId = voidOperationId(id);
      const voidOp = await ledger.get(voidId);
      expect(voidOp).toMatchObject({
        command: 'cancel',
        channel: 'bridge',
        payment: { gateway: 'cybs', gateway_key: AUTH_ID, orphan_reversal: 'risk_declined', amount: 10000 },
      });
      expect(await deliveryQueue.getJob(bullJobId(voidId))).toBeDefined();
      expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', release: 'voided' })).toBe(before + 1);
      expect(await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'risk_declined' })).toBe(voidsBefore + 1);
      expect(logged(lines, 'operation failed while the PSP holds its funds: voiding the authorization', id)).toMatchObject({ release: 'voided' });

      // The void goes out like any cancel: a reversal of the authorization Cybersource holds.
      const seen = reversals.length;
      expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(reversals.slice(seen)).toEqual([expect.objectContaining({ id: AUTH_ID })]);
    },
  );

  it('in dry run voids nothing, and says the hold stands for a person to reverse', async () => {
    const { ledger, service, lines } = setup('dry_run');
    const cmd = channelCommand('authorize', {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
    const id = cmd.payment.operation_reference!;
    await ledger.create(id, cmd);
    const before = await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', release: 'would_void' });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(voidOperationId(id))).toBeNull();
    expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', release: 'would_void' })).toBe(before + 1);
    expect(logged(lines, 'operation failed while the PSP holds its funds, and the hold is not being released: reverse it at the PSP', id)).toMatchObject({
      release: 'would_void',
    });
  });
});

describe('Cybersource review rejected (risk.casemanagement.decision.reject): failed, and the hold kept for the review is released', () => {
  it.each(['authorize', 'sale'] as const)(
    'fails the %s a review rejected (it was authorized and held for review), then voids its authorization (review_rejected)',
    async (command) => {
      const { ledger, service, recorder, lines } = setup('on');
      const cmd = channelCommand(command, {}, { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
      const id = cmd.payment.operation_reference!;
      await ledger.create(id, cmd);
      await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
      await ledger.transition(
        id,
        'PENDING',
        { event: 'outcome' },
        { gatewayReference: AUTH_ID, gatewayStatus: 'AUTHORIZED_PENDING_REVIEW', nextCheckAt: Date.now() + 600_000, pollStep: 0 },
      );
      const held = (await ledger.get(id))!;
      const before = await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', reason: 'review_rejected', release: 'voided' });
      const voidsBefore = await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'review_rejected' });

      const rejected = {
        status: 'FAIL' as const,
        gatewayStatus: 'risk.casemanagement.decision.reject',
        gatewayReference: AUTH_ID,
        reason: 'risk.casemanagement.decision.reject',
        fundsHeld: 'review_rejected' as const,
      };
      expect(await recorder.apply(held, rejected, 'webhook')).toMatchObject({ state: 'FAILED' });

      const voidId = voidOperationId(id);
      expect(await ledger.get(voidId)).toMatchObject({
        command: 'cancel',
        channel: 'bridge',
        payment: { gateway: 'cybs', gateway_key: AUTH_ID, orphan_reversal: 'review_rejected', amount: 10000 },
      });
      expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs', reason: 'review_rejected', release: 'voided' })).toBe(before + 1);
      expect(await metricValue('pb_orphan_reversals_total', { gateway: 'cybs', mode: 'on', reason: 'review_rejected' })).toBe(voidsBefore + 1);
      expect(logged(lines, 'operation failed while the PSP holds its funds: voiding the authorization', id)).toMatchObject({
        release: 'voided',
        held_because: 'review_rejected',
      });

      const seen = reversals.length;
      expect(await service.deliver(voidId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      expect(reversals.slice(seen)).toEqual([expect.objectContaining({ id: AUTH_ID })]);
    },
  );
});
