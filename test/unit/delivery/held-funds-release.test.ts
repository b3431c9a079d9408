import { releaseHeldFunds } from '../../../src/delivery/held-funds-release';
import { OperationRecord } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';

const failed = {
  id: 'op-held-1',
  command: 'authorize',
  state: 'FAILED',
  payment: { gateway: 'cybs-unit', gateway_account: 'default', gateway_key: 'tok', amount: 10000, currency: 'USD' },
} as unknown as OperationRecord;
const outcome = {
  status: 'FAIL' as const,
  gatewayStatus: 'AUTHORIZED_RISK_DECLINED',
  gatewayReference: '6381278241084565908266',
  fundsHeld: 'risk_declined' as const,
};

function lineOf(lines: string[]): Record<string, unknown> {
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
}

describe('releaseHeldFunds', () => {
  it('hands the hold to the releaser with the PSP reference, and counts and logs what it did', async () => {
    const { logger, lines } = captureLogger();
    const release = jest.fn().mockResolvedValue({ outcome: 'voided' });
    const before = await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs-unit', release: 'voided' });
    await releaseHeldFunds({ logger, release }, failed, outcome, 'response');
    expect(release).toHaveBeenCalledWith(failed, '6381278241084565908266', 'risk_declined');
    expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs-unit', release: 'voided' })).toBe(before + 1);
    expect(lineOf(lines)).toMatchObject({ level: 'warn', operation_id: 'op-held-1', release: 'voided', gateway_status: 'AUTHORIZED_RISK_DECLINED' });
  });

  it('hands a hold a review rejected over under its own reason, and counts it under that reason', async () => {
    const { logger, lines } = captureLogger();
    const release = jest.fn().mockResolvedValue({ outcome: 'would_void' });
    const rejected = { status: 'FAIL' as const, gatewayStatus: 'risk.casemanagement.decision.reject', gatewayReference: '6381278241084565908266' };
    const before = await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs-unit', reason: 'review_rejected', release: 'would_void' });
    await releaseHeldFunds({ logger, release }, failed, { ...rejected, fundsHeld: 'review_rejected' }, 'webhook');
    expect(release).toHaveBeenCalledWith(failed, '6381278241084565908266', 'review_rejected');
    expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs-unit', reason: 'review_rejected', release: 'would_void' })).toBe(before + 1);
    expect(lineOf(lines)).toMatchObject({ level: 'warn', held_because: 'review_rejected', release: 'would_void', source: 'webhook' });
  });

  it('says the hold stands when nothing releases it here, or the release is skipped or fails, and never throws', async () => {
    const { logger, lines } = captureLogger();
    await releaseHeldFunds({ logger }, failed, outcome, 'webhook');
    expect(lineOf(lines)).toMatchObject({ message: expect.stringContaining('reverse it at the PSP'), release: 'not_released' });
    await releaseHeldFunds({ logger, release: jest.fn().mockResolvedValue({ outcome: 'skipped', skipped: 'off' }) }, failed, outcome, 'inquiry');
    expect(lineOf(lines)).toMatchObject({ release: 'skipped', why: 'off' });
    const before = await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs-unit', release: 'error' });
    await expect(
      releaseHeldFunds({ logger, release: jest.fn().mockRejectedValue(new Error('redis down')) }, failed, outcome, 'inquiry'),
    ).resolves.toBeUndefined();
    expect(lineOf(lines)).toMatchObject({ release: 'error', why: 'redis down' });
    expect(await metricValue('pb_failed_with_funds_held_total', { gateway: 'cybs-unit', release: 'error' })).toBe(before + 1);
  });
});
