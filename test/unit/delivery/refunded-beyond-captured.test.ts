import {
  capturesStillCollecting,
  refundedBeyondCaptured,
  refundedBeyondCapturedOf,
  refundedBeyondCapturedReading,
  saleUndoneByPspRefund,
} from '../../../src/delivery/operation-context';
import { DependentSummary, OperationRecord, RecordedAdjustmentFields } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { parseRate } from '../../../src/fx/exact-rate';
import { lockAt, lockDetails } from '../../../src/fx/fx-lock';
import { channelCommand } from '../../support/fixtures';

function op(command: OperationRecord['command'], amount: number, extra: Partial<OperationRecord> = {}): OperationRecord {
  const c = channelCommand(command, {}, { amount, currency: 'USD' });
  return { ...draftRecord(c.payment.operation_reference!, c, 0), ...extra };
}

const capture = (id: string, amount: number, extra: Partial<DependentSummary> = {}): DependentSummary => ({
  id,
  command: 'capture',
  state: 'SUCCEEDED',
  amount,
  registered: 0,
  ...extra,
});
const refund = (id: string, amount: number, extra: Partial<DependentSummary> = {}): DependentSummary => ({
  id,
  command: 'refund',
  state: 'SUCCEEDED',
  amount,
  registered: 0,
  ...extra,
});

describe('refundedBeyondCaptured: confirmed refunds above what stands captured, by the refund check own sums', () => {
  // Created with a digest: its dependents were all registered, so the refund check sums them.
  const auth = op('authorize', 5000, { state: 'SUCCEEDED', digest: 'd' });

  it('a capture voided (undone), a refund recorded FAILED the PSP did after all: all of it beyond', () => {
    const dependents = [capture('cap-1', 5000, { undone: true }), refund('ref-1', 2000, { state: 'FAILED', succeededAfterFailure: true })];
    expect(refundedBeyondCaptured(auth, dependents)).toEqual({ capturedAmount: 0, refundedAmount: 2000, excessAmount: 2000, currency: 'USD' });
  });

  it('nothing while the refunds fit what stands captured, to the unit', () => {
    expect(refundedBeyondCaptured(auth, [capture('cap-1', 5000), refund('ref-1', 5000)])).toBeNull();
    expect(refundedBeyondCaptured(auth, [capture('cap-1', 5000), refund('ref-1', 5001)])).toEqual({
      capturedAmount: 5000,
      refundedAmount: 5001,
      excessAmount: 1,
      currency: 'USD',
    });
  });

  it('counts the refunds outside the bridge standing; leaves out refunds undone, FAILED ones not done after all, captures undone', () => {
    const dependents = [
      capture('cap-1', 3000),
      capture('cap-2', 2000, { undone: true }),
      refund('ref-1', 1000),
      refund('ref-2', 4000, { undone: true }),
      refund('ref-3', 4000, { state: 'FAILED' }),
    ];
    expect(refundedBeyondCaptured(auth, dependents, 2000)).toBeNull();
    expect(refundedBeyondCaptured(auth, dependents, 2500)).toEqual({ capturedAmount: 3000, refundedAmount: 3500, excessAmount: 500, currency: 'USD' });
  });

  it('a sale: its amount unless undone', () => {
    const sale = op('sale', 5000, { state: 'SUCCEEDED', digest: 'd' });
    expect(refundedBeyondCaptured(sale, [refund('ref-1', 5000)])).toBeNull();
    expect(refundedBeyondCaptured({ ...sale, undoneBy: 'cancel-1' }, [refund('ref-1', 5000)])).toMatchObject({ capturedAmount: 0, excessAmount: 5000 });
  });

  it('nothing for a payment older than digests: its dependents may not all be registered, the refund check sums none', () => {
    const legacy = { ...auth, digest: undefined };
    expect(refundedBeyondCaptured(legacy, [capture('cap-1', 2000), refund('ref-1', 2000, { state: 'FAILED', succeededAfterFailure: true })], 3000)).toBeNull();
  });

  it('nothing for an authorization no capture of ours was done at the PSP for: captured outside the bridge, what is unknown', () => {
    // A Customer Area capture, then a Customer Area refund: refunded outside the bridge, nothing captured by us.
    expect(refundedBeyondCaptured(auth, [], 3000)).toBeNull();
    expect(refundedBeyondCaptured(auth, [capture('cap-1', 5000, { state: 'FAILED' })], 3000)).toBeNull();
    // One of ours done and undone after (voided, failed) still says: what stood captured is known to be gone.
    expect(refundedBeyondCaptured(auth, [capture('cap-1', 5000, { undone: true })], 3000)).toMatchObject({ capturedAmount: 0, excessAmount: 3000 });
  });

  it('nothing when what was captured is unknown (closed by a capture never registered): the PSP decides', () => {
    expect(refundedBeyondCaptured({ ...auth, closedBy: 'unregistered' }, [refund('ref-1', 2000)])).toBeNull();
  });

  describe('read from the ledger: one PSP refund is counted once', () => {
    // The payment's adjustments as `adjustmentsOfEach` reads them (kind, amount, currency, psp_reference).
    const ledgerOf = (dependents: DependentSummary[], recorded: RecordedAdjustmentFields[]) => ({
      dependentsOf: async () => dependents,
      adjustmentsOfEach: async () => new Map([[auth.id, recorded]]),
    });
    const outside: RecordedAdjustmentFields = { id: 'adj-out', fields: ['refund_outside_bridge', '3000', 'USD', 'psp-refund-1'] };

    it('a refund of ours reported outside the bridge first (no reference of ours then), done after all under the same PSP refund: not beyond', async () => {
      const late = refund('ref-1', 3000, { state: 'FAILED', succeededAfterFailure: true });
      // The late fact names the PSP refund: the same money as the payment's refund_outside_bridge.
      expect(await refundedBeyondCapturedOf(auth, ledgerOf([capture('cap-1', 5000), late], [outside]), 'psp-refund-1')).toBeNull();
      // The refund holds the PSP's reference itself.
      expect(await refundedBeyondCapturedOf(auth, ledgerOf([capture('cap-1', 5000), { ...late, gatewayReference: 'psp-refund-1' }], [outside]))).toBeNull();
    });

    it('two PSP refunds, ours and one outside the bridge: both count', async () => {
      const late = refund('ref-1', 3000, { state: 'FAILED', succeededAfterFailure: true, gatewayReference: 'psp-refund-2' });
      expect(await refundedBeyondCapturedOf(auth, ledgerOf([capture('cap-1', 5000), late], [outside]), 'psp-refund-2')).toEqual({
        capturedAmount: 5000,
        refundedAmount: 6000,
        excessAmount: 1000,
        currency: 'USD',
      });
    });
  });

  it("converted: an outside refund in the PSP's currency stating the whole payment (a cancel-or-refund it could not bound) says nothing", async () => {
    // EUR 100.00 at 1.1 is USD 110.00; EUR 60.00 captured, the rest released by Adyen's cancel-or-refund, whose
    // notification states the payment's amount (USD 110.00): the webhook could not bound it in another currency.
    const lock = lockAt({ rate: parseRate('1.1'), source: 'configured', at: 0 }, 10000, 'EUR', 'USD');
    const c = channelCommand('authorize', {}, { amount: 10000, currency: 'EUR' });
    const converted: OperationRecord = {
      ...draftRecord(c.payment.operation_reference!, c, 0),
      state: 'SUCCEEDED',
      digest: 'd',
      routing: {
        gateway: 'simulator',
        requested: 'simulator',
        candidates: ['simulator'],
        index: 0,
        decisions: [{ stage: 'fx', outcome: 'changed', reasons: ['converted'], details: lockDetails(lock) }],
        amount: lock.to.amount,
        currency: 'USD',
      },
    };
    const ledgerOf = (recorded: RecordedAdjustmentFields[]) => ({
      dependentsOf: async () => [capture('cap-1', 6000)],
      adjustmentsOfEach: async () => new Map([[converted.id, recorded]]),
    });
    expect(await refundedBeyondCapturedOf(converted, ledgerOf([{ id: 'a1', fields: ['refund_outside_bridge', '11000', 'USD', 'psp-cor-1'] }]))).toBeNull();
    // A refund in the PSP's currency below the payment's amount counts at the locked rate: USD 77.00 covers EUR 70.00.
    expect(await refundedBeyondCapturedOf(converted, ledgerOf([{ id: 'a1', fields: ['refund_outside_bridge', '7700', 'USD', 'psp-ref-1'] }]))).toEqual({
      capturedAmount: 6000,
      refundedAmount: 7000,
      excessAmount: 1000,
      currency: 'EUR',
    });
  });

  it('a sale recorded FAILED that the PSP did after all counts at what the PSP then confirmed, not a figure its refusal carried', async () => {
    const sale = op('sale', 5000, {
      state: 'FAILED',
      digest: 'd',
      // The refusal's figure, and the later success's mark.
      confirmedAmount: 0,
      confirmedCurrency: 'USD',
      succeededAfterFailure: { by: 'adj_late_sale', amount: 5000, currency: 'USD' },
    });
    const ledger = {
      dependentsOf: async () => [] as DependentSummary[],
      adjustmentsOfEach: async () => new Map([[sale.id, [{ id: 'a1', fields: ['refund_outside_bridge', '3000', 'USD', 'psp-ref-1'] }]]]),
    };
    expect(await refundedBeyondCapturedOf(sale, ledger)).toBeNull();
  });
});

describe('refundedBeyondCaptured: a capture still in flight may have collected what the refunds gave back', () => {
  const auth = op('authorize', 5000, { state: 'SUCCEEDED', digest: 'd' });
  const late = refund('ref-1', 4000, { state: 'FAILED', succeededAfterFailure: true });

  it.each(['RECEIVED', 'SENT', 'PENDING', 'ACTION_REQUIRED', 'UNKNOWN', 'UNRESOLVED'] as const)(
    'a capture %s that would cover the excess: no alarm, undecided naming it',
    (state) => {
      const dependents = [capture('cap-1', 3000), capture('cap-2', 2000, { state }), late];
      expect(refundedBeyondCaptured(auth, dependents)).toBeNull();
      expect(refundedBeyondCapturedReading(auth, dependents)).toEqual({
        beyond: null,
        undecided: {
          figures: { capturedAmount: 3000, refundedAmount: 4000, excessAmount: 1000, currency: 'USD' },
          inFlight: [{ id: 'cap-2', state, amount: 2000 }],
        },
      });
    },
  );

  it('a capture FAILED that its PSP retries itself (held for its retry) counts as in flight', () => {
    const dependents = [capture('cap-1', 3000), capture('cap-2', 2000, { state: 'FAILED', heldForPspRetry: true }), late];
    expect(refundedBeyondCaptured(auth, dependents)).toBeNull();
  });

  it('the refunds beyond even counting every capture in flight: the alarm, figures as they stand captured', () => {
    const dependents = [capture('cap-1', 3000), capture('cap-2', 500, { state: 'PENDING' }), capture('cap-3', 400, { state: 'UNKNOWN' }), late];
    expect(refundedBeyondCapturedReading(auth, dependents)).toEqual({
      beyond: { capturedAmount: 3000, refundedAmount: 4000, excessAmount: 1000, currency: 'USD' },
    });
  });

  it('a capture FAILED (not retried) or undone is no capture in flight', () => {
    expect(refundedBeyondCaptured(auth, [capture('cap-1', 3000), capture('cap-2', 2000, { state: 'FAILED' }), late])).toMatchObject({ excessAmount: 1000 });
    expect(
      capturesStillCollecting([capture('cap-1', 3000, { undone: true }), capture('cap-2', 2000, { state: 'FAILED' }), refund('ref-2', 10, { state: 'SENT' })]),
    ).toEqual([]);
  });
});

describe("refundedBeyondCaptured: a sale undone by its PSP's cancel-or-refund went back by a refund, not a capture that never happened", () => {
  const sale = op('sale', 5000, { state: 'SUCCEEDED', digest: 'd', undoneBy: 'adj-cor' });
  // Refunds of ours made before Adyen cancelled-or-refunded the rest; then a refund recorded FAILED done after all.
  const dependents = [refund('ref-1', 2000), refund('ref-2', 1000, { state: 'FAILED', succeededAfterFailure: true })];
  // The sale's adjustments as `adjustmentsOfEach` reads them (kind, amount, currency, psp_reference, reason).
  const reversal = (reason: string): RecordedAdjustmentFields => ({ id: 'adj-cor', fields: ['capture_failed', '5000', 'USD', 'psp-cor-1', reason] });
  const ledgerOf = (s: OperationRecord, recorded: RecordedAdjustmentFields[]) => ({
    dependentsOf: async () => dependents,
    adjustmentsOfEach: async () => new Map([[s.id, recorded]]),
  });

  it('undone by a CANCEL_OR_REFUND capture_failed: captured at its amount, the refunds of ours made before fit', async () => {
    expect(await refundedBeyondCapturedOf(sale, ledgerOf(sale, [reversal('CANCEL_OR_REFUND')]))).toBeNull();
    expect(refundedBeyondCaptured(sale, dependents, 0, true)).toBeNull();
    // Refunds above the sale's amount are beyond all the same.
    expect(refundedBeyondCaptured(sale, [...dependents, refund('ref-3', 2500)], 0, true)).toEqual({
      capturedAmount: 5000,
      refundedAmount: 5500,
      excessAmount: 500,
      currency: 'USD',
    });
  });

  it('undone by a void of ours, a CANCELLATION or a failure of its capture: nothing stands captured, the alarm', async () => {
    const byVoid = { ...sale, undoneBy: 'cancel-1', undoneByVoid: 'cancel-1' };
    expect(await refundedBeyondCapturedOf(byVoid, ledgerOf(byVoid, [reversal('CANCEL_OR_REFUND')]))).toMatchObject({ capturedAmount: 0, excessAmount: 3000 });
    expect(await refundedBeyondCapturedOf(sale, ledgerOf(sale, [reversal('CANCELLATION')]))).toMatchObject({ capturedAmount: 0, excessAmount: 3000 });
    expect(await refundedBeyondCapturedOf(sale, ledgerOf(sale, [reversal('Insufficient balance')]))).toMatchObject({ capturedAmount: 0, excessAmount: 3000 });
  });

  it('saleUndoneByPspRefund: only the capture_failed its undone mark names, reason CANCEL_OR_REFUND, not a void', () => {
    expect(saleUndoneByPspRefund(sale, [reversal('cancel_or_refund')])).toBe(true);
    expect(saleUndoneByPspRefund(sale, [{ ...reversal('CANCEL_OR_REFUND'), id: 'adj-other' }])).toBe(false);
    expect(saleUndoneByPspRefund(sale, [{ id: 'adj-cor', fields: ['refund_failed', '5000', 'USD', 'psp-cor-1', 'CANCEL_OR_REFUND'] }])).toBe(false);
    expect(saleUndoneByPspRefund({ ...sale, undoneByVoid: 'adj-cor' }, [reversal('CANCEL_OR_REFUND')])).toBe(false);
    expect(saleUndoneByPspRefund({ ...sale, undoneBy: undefined }, [reversal('CANCEL_OR_REFUND')])).toBe(false);
  });
});
