import { OperationRecord, draftRecord } from '../../../src/ledger/record-fields';
import { PspReversal } from '../../../src/gateways/gateway-adapter';
import { outsideRefundFailure, outsideRefundReading, withOutsideRefund } from '../../../src/webhooks/outside-refund';
import { DependentSummary } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { OperationNotFoundError } from '../../../src/errors/operation-not-found-error';
import { captureLogger } from '../../support/capture-logger';
import { GatewayOutcomeJobData } from '../../../src/webhooks/gateway-outcomes-queue';
import { mayBeSameFact } from '../../../src/adjustments/same-fact';
import { channelCommand } from '../../support/fixtures';

function succeeded(command: 'authorize' | 'sale' | 'capture', gateway = 'adyen'): OperationRecord {
  const c = channelCommand(command, {}, { gateway, amount: 5000, currency: 'EUR' });
  return { ...draftRecord(c.payment.operation_reference!, c, Date.now()), state: 'SUCCEEDED' };
}

/** A refund naming the payment, as the webhook reads it: Adyen REFUND (no reversal), CANCEL_OR_REFUND (a reversal). */
function refund(reversal?: PspReversal, gateway = 'adyen'): GatewayOutcomeJobData {
  return {
    eventId: 'PSPREFUND0001:REFUND:true',
    gateway,
    account: 'AcmeEU',
    paymentReference: 'PSPPAYMENT0001',
    outcome: {
      status: 'SUCCESS',
      gatewayStatus: reversal ? 'CANCEL_OR_REFUND' : 'REFUND',
      gatewayReference: 'PSPREFUND0001',
      referenceIsModification: true,
      settles: reversal === 'cancel_or_refund' ? ['cancel', 'refund'] : reversal === 'cancel' ? ['cancel'] : ['refund'],
      amount: 1200,
      currency: 'EUR',
      occurredAt: 1_764_000_000_000,
      ...(reversal ? { pspReversal: reversal } : {}),
    },
  };
}

describe('outsideRefundReading: a refund the PSP made of a payment of ours, that no refund of the bridge asked for', () => {
  it('reads a REFUND of an authorization or a sale as refund_outside_bridge: debit, the amount and currency the PSP reports, its reference the refund', () => {
    for (const command of ['authorize', 'sale'] as const) {
      expect(outsideRefundReading(succeeded(command), refund())).toEqual({
        fact: {
          kind: 'refund_outside_bridge',
          direction: 'debit',
          failsOpenOperation: false,
          pspReference: 'PSPREFUND0001',
          amount: 1200,
          currency: 'EUR',
          occurredAt: 1_764_000_000_000,
        },
        needsCapture: false,
      });
    }
  });

  it("reads an authorization's CANCEL_OR_REFUND as a refund when its action says refund, and without the action only once captured", () => {
    expect(outsideRefundReading(succeeded('authorize'), refund('refund'))).toMatchObject({ fact: { kind: 'refund_outside_bridge' }, needsCapture: false });
    expect(outsideRefundReading(succeeded('authorize'), refund('cancel_or_refund'))).toMatchObject({
      fact: { kind: 'refund_outside_bridge' },
      needsCapture: true,
    });
    // A cancel gives nothing back: the authorization's release is read elsewhere.
    expect(outsideRefundReading(succeeded('authorize'), refund('cancel'))).toBeNull();
  });

  it("leaves a sale's CANCEL_OR_REFUND to the reading of the sale's failure (capture_failed), as before", () => {
    expect(outsideRefundReading(succeeded('sale'), refund('refund'))).toBeNull();
    expect(outsideRefundReading(succeeded('sale'), refund('cancel_or_refund'))).toBeNull();
  });

  it('reads nothing from a refund not succeeded, a payment not SUCCEEDED, an operation that is no payment, or another gateway than the one the payment is routed to', () => {
    const job = refund();
    expect(outsideRefundReading(succeeded('authorize'), { ...job, outcome: { ...job.outcome, status: 'FAIL' } })).toBeNull();
    expect(outsideRefundReading(succeeded('authorize'), { ...job, outcome: { ...job.outcome, status: 'PENDING' } })).toBeNull();
    expect(outsideRefundReading({ ...succeeded('authorize'), state: 'FAILED' }, job)).toBeNull();
    expect(outsideRefundReading(succeeded('capture'), job)).toBeNull();
    expect(outsideRefundReading(succeeded('authorize', 'adyen'), refund(undefined, 'adyen_us'))).toBeNull();
    // A late fact the notification carries is its own reading (a REFUND_FAILED…).
    expect(
      outsideRefundReading(succeeded('authorize'), { ...job, adjustment: { kind: 'refund_failed', direction: 'credit', failsOpenOperation: true } }),
    ).toBeNull();
    // An outcome that does not name the refund by its own reference cannot be kept apart from others.
    expect(outsideRefundReading(succeeded('authorize'), { ...job, outcome: { ...job.outcome, referenceIsModification: undefined } })).toBeNull();
  });
});

describe('outsideRefundReading: a payment held FAILED that the PSP did after all', () => {
  it('reads a REFUND of a sale held FAILED with a succeeded_after_failure mark as refund_outside_bridge, as of a SUCCEEDED one; not of one plainly FAILED', () => {
    const late: OperationRecord = { ...succeeded('sale'), state: 'FAILED', succeededAfterFailure: { by: 'adj_saf', amount: 5000, currency: 'EUR' } };
    expect(outsideRefundReading(late, refund())).toEqual(outsideRefundReading(succeeded('sale'), refund()));
    expect(outsideRefundReading(late, refund())).toMatchObject({ fact: { kind: 'refund_outside_bridge', pspReference: 'PSPREFUND0001' } });
    expect(outsideRefundReading({ ...late, succeededAfterFailure: undefined }, refund())).toBeNull();
  });
});

describe('withOutsideRefund: a cancel-or-refund without the action is a refund once a capture was done at the PSP', () => {
  const ledgerWith = (dependents: DependentSummary[]) => ({
    findByReference: async () => null,
    dependentsOf: async () => dependents,
    adjustmentsOfEach: async () => new Map(),
  });
  const capture = (state: DependentSummary['state'], extra: Partial<DependentSummary> = {}): DependentSummary => ({
    id: 'cap-1',
    command: 'capture',
    state,
    amount: 5000,
    registered: 1,
    ...extra,
  });

  it('counts a capture the ledger holds FAILED that the PSP did after all (succeeded_after_failure), not one undone or plainly failed', async () => {
    const auth = succeeded('authorize');
    const job = refund('cancel_or_refund');
    const read = (d: DependentSummary) => withOutsideRefund(auth, job, { ledger: ledgerWith([d]), logger: silentLogger() }, false);
    expect((await read(capture('SUCCEEDED')))?.adjustment).toMatchObject({ kind: 'refund_outside_bridge', pspReference: 'PSPREFUND0001' });
    expect((await read(capture('FAILED', { succeededAfterFailure: true })))?.adjustment).toMatchObject({ kind: 'refund_outside_bridge' });
    expect(await read(capture('FAILED'))).toBeNull();
    expect(await read(capture('SUCCEEDED', { undone: true }))).toBeNull();
  });
});

describe("withOutsideRefund: a cancel-or-refund states the payment's amount, not what it refunded", () => {
  const log = captureLogger('info');
  const dep = (id: string, command: 'capture' | 'refund', amount: number, extra: Partial<DependentSummary> = {}): DependentSummary => ({
    id,
    command,
    state: 'SUCCEEDED',
    amount,
    registered: 1,
    ...extra,
  });
  /** A ledger whose payment has `dependents` and adjustments `recorded` (kind, amount, currency, psp_reference). */
  const ledgerWith = (payment: string, dependents: DependentSummary[], recorded: Array<[string, string, string, string]> = []) => ({
    findByReference: async () => null,
    dependentsOf: async () => dependents,
    adjustmentsOfEach: async () => new Map([[payment, recorded.map((fields, i) => ({ id: `adj_${i}`, fields }))]]),
  });
  /** Adyen's CANCEL_OR_REFUND of the whole payment (5000 EUR authorized): the notification's amount is the payment's. */
  const reversal = (action: PspReversal = 'refund'): GatewayOutcomeJobData => {
    const job = refund(action);
    return { ...job, outcome: { ...job.outcome, amount: 5000 } };
  };

  it('reports what was captured less the refunds of ours and outside the bridge standing, the PSP amount kept in reason, counted and logged', async () => {
    const auth = succeeded('authorize');
    const dependents = [dep('cap-1', 'capture', 3000), dep('ref-1', 'refund', 500), dep('ref-2', 'refund', 400, { undone: true })];
    const recorded: Array<[string, string, string, string]> = [
      ['refund_outside_bridge', '300', 'EUR', 'PSPREFUND0009'],
      ['refund_outside_bridge', '200', 'EUR', 'PSPREFUND0008'],
      ['refund_failed', '200', 'EUR', 'PSPREFUND0008'],
    ];
    for (const action of ['refund', 'cancel_or_refund'] as const) {
      const out = await withOutsideRefund(auth, reversal(action), { ledger: ledgerWith(auth.id, dependents, recorded), logger: log.logger }, false);
      expect(out?.adjustment).toMatchObject({ kind: 'refund_outside_bridge', amount: 2200, currency: 'EUR', reason: 'payment_amount_5000_EUR' });
    }
    expect(log.lines.some((l) => l.includes("states the payment's amount") && l.includes('"psp_amount":5000') && l.includes('"amount":2200'))).toBe(true);
  });

  it('is the fact of the PSP line of the refund that reconciliation recorded first (its amount the real one): that one is not counted as refunded before', async () => {
    const auth = succeeded('authorize');
    const line: [string, string, string, string] = ['refund_outside_bridge', '3000', 'EUR', 'PSPREFUND0001'];
    const deps = { ledger: ledgerWith(auth.id, [dep('cap-1', 'capture', 3000)], [line]), logger: silentLogger() };
    const fact = (await withOutsideRefund(auth, reversal(), deps, false))?.adjustment;
    expect(fact).toMatchObject({ amount: 3000 });
    const recorded = { kind: 'refund_outside_bridge' as const, direction: 'debit' as const, amount: 3000, currency: 'EUR', pspReference: 'PSPREFUND0001' };
    expect(mayBeSameFact(fact!, recorded)).toBe(true);
  });

  it("keeps the PSP's amount when the ledger leaves as much, knows no capture, or it is an Adyen REFUND (its amount the refund's); no amount when nothing is left", async () => {
    const auth = succeeded('authorize');
    const read = async (job: GatewayOutcomeJobData, dependents: DependentSummary[]) =>
      (await withOutsideRefund(auth, job, { ledger: ledgerWith(auth.id, dependents), logger: silentLogger() }, false))?.adjustment;
    const full = await read(reversal(), [dep('cap-1', 'capture', 5000)]);
    expect(full).toMatchObject({ amount: 5000 });
    expect(full?.reason).toBeUndefined();
    // Captured outside the bridge (Adyen's automatic capture): the ledger cannot bound it.
    expect(await read(reversal(), [])).toMatchObject({ amount: 5000 });
    expect(await read({ ...refund(), outcome: { ...refund().outcome, amount: 4000 } }, [dep('cap-1', 'capture', 3000)])).toMatchObject({ amount: 4000 });
    const none = await read(reversal(), [dep('cap-1', 'capture', 3000), dep('ref-1', 'refund', 3000)]);
    expect(none).toMatchObject({ kind: 'refund_outside_bridge', reason: 'payment_amount_5000_EUR' });
    expect(none?.amount).toBeUndefined();
  });
});

describe('outsideRefundFailure: the failure or reversal of a refund the PSP made outside the bridge', () => {
  const log = captureLogger('info');
  /** A refund failure naming the payment by its reference alone (`operationId`: named by our id instead). */
  function failure(kind: 'refund_failed' | 'refund_reversed' | 'chargeback', operationId?: string): GatewayOutcomeJobData {
    return {
      eventId: 'PSPREFUND0001:REFUND_FAILED:true',
      gateway: 'adyen',
      account: 'AcmeEU',
      paymentReference: 'PSPPAYMENT0001',
      ...(operationId !== undefined ? { operationId } : {}),
      outcome: { status: 'FAIL', gatewayStatus: 'REFUND_FAILED', gatewayReference: 'PSPREFUND0001', referenceIsModification: true, settles: ['refund'] },
      adjustment: { kind, direction: 'credit', failsOpenOperation: true, pspReference: 'PSPREFUND0001', amount: 1200, currency: 'EUR' },
    };
  }
  /** A ledger whose payment holds `kinds` adjustments (kind, psp_reference) and whose reference index holds `holder`. */
  function ledger(payment: string, recorded: Array<[string, string]>, holder: string | null = null) {
    return {
      findByReference: jest.fn(async () => holder),
      adjustmentsOfEach: jest.fn(async () => new Map([[payment, recorded.map(([kind, ref], i) => ({ id: `adj_${i}`, fields: [kind, ref] }))]])),
    };
  }

  it('linked: the payment reported that refund as refund_outside_bridge (same PSP reference): its failure or reversal is the payment’s adjustment, now, counted and logged', async () => {
    const auth = succeeded('authorize');
    for (const kind of ['refund_failed', 'refund_reversed'] as const) {
      const deps = { ledger: ledger(auth.id, [['refund_outside_bridge', 'PSPREFUND0001']]), logger: log.logger };
      await expect(outsideRefundFailure(auth, failure(kind), deps, false)).resolves.toBe('linked');
    }
    expect(log.lines.some((l) => l.includes('failed or came back') && l.includes('adj_0'))).toBe(true);
  });

  it('waits (retried) for that refund to be reported while found by the payment alone, and leaves it history at the last attempt', async () => {
    const sale = succeeded('sale');
    const other = ledger(sale.id, [['refund_outside_bridge', 'PSPREFUND0002']]);
    await expect(outsideRefundFailure(sale, failure('refund_failed'), { ledger: other, logger: log.logger }, false)).rejects.toThrow(OperationNotFoundError);
    await expect(outsideRefundFailure(sale, failure('refund_failed'), { ledger: other, logger: log.logger }, true)).resolves.toBe('left');
    // Named by our id (an Adyen merchantReference): the path of a failure no operation holds, as before.
    await expect(outsideRefundFailure(sale, failure('refund_failed', sale.id), { ledger: other, logger: log.logger }, false)).resolves.toBeNull();
  });

  it('none of it for a refund of ours (its reference indexed), another kind, a payment of another gateway, or a command that is no payment', async () => {
    const auth = succeeded('authorize');
    const reported = (holder: string | null = null) => ({ ledger: ledger(auth.id, [['refund_outside_bridge', 'PSPREFUND0001']], holder), logger: log.logger });
    await expect(outsideRefundFailure(auth, failure('refund_failed'), reported('op-refund-1'), false)).resolves.toBeNull();
    await expect(outsideRefundFailure(auth, failure('chargeback'), reported(), false)).resolves.toBeNull();
    await expect(outsideRefundFailure(auth, { ...failure('refund_failed'), gateway: 'stripe' }, reported(), false)).resolves.toBeNull();
    await expect(outsideRefundFailure(succeeded('capture'), failure('refund_failed'), reported(), false)).resolves.toBeNull();
  });
});
