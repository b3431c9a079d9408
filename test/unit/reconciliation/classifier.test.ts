import { CommandType } from '../../../src/contracts/payment-command';
import { OperationRecord } from '../../../src/ledger/ledger';
import { OperationState } from '../../../src/ledger/operation-state';
import {
  chooseMatch,
  classifyLine,
  classifyMissingAtPsp,
  compatible,
  hasTiedCandidates,
  KnownAdjustment,
  Match,
  movesMoney,
  needsKnownAdjustments,
  recordingAdjustment,
} from '../../../src/reconciliation/classifier';
import { adyenReconciliation } from '../../../src/gateways/adyen/adyen-reconciliation';
import { cybersourceReconciliation } from '../../../src/gateways/cybersource/cybersource-reconciliation';
import { stripeReconciliation } from '../../../src/gateways/stripe/stripe-reconciliation';
import { AdjustmentKind } from '../../../src/adjustments/adjustment';
import { PspRecord } from '../../../src/reconciliation/psp-record';
import { RECONCILIATION_CLASSES } from '../../../src/reconciliation/reconciliation-class';

function op(command: CommandType, state: OperationState, overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: `op-${command}`,
    command,
    channel: 'bus',
    state,
    payment: { gateway: 'sim', gateway_account: 'acct', gateway_key: 'k', amount: 1000, currency: 'EUR', order_id: 'O-1' },
    receivedAt: 1,
    createdAt: 1,
    updatedAt: 2,
    attempts: 1,
    ...overrides,
  };
}

function line(overrides: Partial<PspRecord> = {}): PspRecord {
  return { lineId: 'ln1', kind: 'capture', status: 'succeeded', amount: 1000, currency: 'EUR', occurredAt: 5, pspType: 'capture', ...overrides };
}

const match = (o: OperationRecord) => ({ op: o, by: 'operation_id' as const });

let adjustments = 0;
/** An adjustment already on the operation, moving money the way its kind does unless told. */
function known(kind: AdjustmentKind, extra: Partial<KnownAdjustment> = {}): KnownAdjustment {
  const debit: readonly AdjustmentKind[] = ['chargeback', 'second_chargeback', 'capture_failed'];
  const credit: readonly AdjustmentKind[] = ['chargeback_reversed', 'dispute_won', 'refund_reversed', 'refund_failed', 'succeeded_after_failure'];
  const direction = debit.includes(kind) ? 'debit' : credit.includes(kind) ? 'credit' : 'none';
  adjustments += 1;
  return { id: `adj_${adjustments}`, kind, direction, ...extra };
}

describe('classifyLine', () => {
  it('matched: same operation, state, amount and currency; nothing to do', () => {
    expect(classifyLine(line(), match(op('capture', 'SUCCEEDED')))).toMatchObject({ class: 'matched', action: { type: 'none' } });
  });

  it('matched: compares what the PSP confirmed, not what was asked', () => {
    const v = classifyLine(line({ amount: 900 }), match(op('capture', 'SUCCEEDED', { confirmedAmount: 900 })));
    expect(v.class).toBe('matched');
  });

  it('amount_mismatch: an adjustment of the difference, less collected is a debit, more refunded is a debit', () => {
    expect(classifyLine(line({ amount: 900 }), match(op('capture', 'SUCCEEDED')))).toMatchObject({
      class: 'amount_mismatch',
      action: { type: 'adjust', kind: 'amount_mismatch', direction: 'debit', amount: 100, currency: 'EUR' },
    });
    expect(classifyLine(line({ amount: 1100 }), match(op('capture', 'SUCCEEDED'))).action).toMatchObject({ direction: 'credit', amount: 100 });
    expect(classifyLine(line({ kind: 'refund', amount: 1100 }), match(op('refund', 'SUCCEEDED'))).action).toMatchObject({ direction: 'debit' });
  });

  it('says amounts to a person in major units: the PSP moved 9.00 EUR, the ledger holds 10.00 EUR', () => {
    expect(classifyLine(line({ amount: 900 }), match(op('capture', 'SUCCEEDED'))).note).toBe(
      'the PSP moved 9.00 EUR; the ledger holds 10.00 EUR (difference 1.00 EUR)',
    );
    expect(classifyLine(line({ amount: 900, currency: 'XZZ' }), null).note).toContain('900 minor units of XZZ');
  });

  it('a cancel is not compared by amount (what it released is the PSP’s business)', () => {
    expect(classifyLine(line({ kind: 'cancel', amount: 5 }), match(op('cancel', 'SUCCEEDED'))).class).toBe('matched');
  });

  it('currency_mismatch: the PSP moved another currency; an adjustment in the PSP’s amount and currency', () => {
    expect(classifyLine(line({ currency: 'usd' }), match(op('capture', 'SUCCEEDED')))).toMatchObject({
      class: 'currency_mismatch',
      action: { type: 'adjust', kind: 'currency_mismatch', amount: 1000, currency: 'USD' },
    });
  });

  it('a confirmed currency without its confirmed amount does not relabel the asked amount: asked USD 10.00, PSP named EUR, line EUR 10.00 is a currency_mismatch', () => {
    const asked = { ...op('capture', 'SUCCEEDED').payment, currency: 'USD' };
    const v = classifyLine(line({ currency: 'EUR' }), match(op('capture', 'SUCCEEDED', { payment: asked, confirmedCurrency: 'EUR' })));
    expect(v).toMatchObject({ class: 'currency_mismatch', ledger: { amount: 1000, currency: 'USD' }, action: { kind: 'currency_mismatch', currency: 'EUR' } });
    // With its amount, the confirmed currency is the ledger's side.
    expect(
      classifyLine(line({ currency: 'EUR' }), match(op('capture', 'SUCCEEDED', { payment: asked, confirmedAmount: 1000, confirmedCurrency: 'EUR' }))).class,
    ).toBe('matched');
  });

  it('state_mismatch: the PSP captured what the ledger says failed: succeeded_after_failure, the state never moves', () => {
    expect(classifyLine(line(), match(op('sale', 'FAILED')))).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'succeeded_after_failure', direction: 'credit' },
    });
  });

  it('state_mismatch: the PSP failed what the ledger holds SUCCEEDED: capture_failed, refund_failed, failed_after_success', () => {
    expect(classifyLine(line({ status: 'failed' }), match(op('capture', 'SUCCEEDED'))).action).toMatchObject({ kind: 'capture_failed', direction: 'debit' });
    expect(classifyLine(line({ kind: 'refund', status: 'failed' }), match(op('refund', 'SUCCEEDED'))).action).toMatchObject({ kind: 'refund_failed' });
    expect(classifyLine(line({ kind: 'authorization', status: 'failed' }), match(op('authorize', 'SUCCEEDED'))).action).toMatchObject({
      kind: 'failed_after_success',
      direction: 'none',
    });
  });

  it.each([
    ['sale', 'capture_failed', 'debit'],
    ['capture', 'capture_failed', 'debit'],
    ['refund', 'refund_failed', 'credit'],
    ['reload', 'failed_after_success', 'credit'],
    ['issue', 'failed_after_success', 'credit'],
    ['authorize', 'failed_after_success', 'none'],
    ['cancel', 'failed_after_success', 'none'],
  ] as const)('state_mismatch: the PSP failed a %s the ledger holds SUCCEEDED: %s, %s (the money its success moved, undone)', (command, kind, direction) => {
    expect(classifyLine(line({ status: 'failed' }), match(op(command, 'SUCCEEDED'))).action).toMatchObject({ kind, direction });
  });

  it('a contradiction a webhook already reported as an adjustment of that kind is reported, not adjusted again', () => {
    const auth = op('authorize', 'SUCCEEDED');
    const failed = line({ kind: 'authorization', status: 'failed' });
    expect(classifyLine(failed, { ...match(auth), adjustments: [known('failed_after_success')] })).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'none' },
      note: expect.stringContaining('already reported as a failed_after_success adjustment'),
    });
    // Another kind of adjustment (a dispute) does not stand for this contradiction.
    expect(classifyLine(failed, { ...match(auth), adjustments: [known('dispute_opened')] }).action).toMatchObject({
      type: 'adjust',
      kind: 'failed_after_success',
    });
    expect(classifyLine(line(), { ...match(op('sale', 'FAILED')), adjustments: [known('succeeded_after_failure', { amount: 1000 })] }).action).toEqual({
      type: 'none',
    });
  });

  describe('"already reported" names the line\'s PSP transaction (its reference), not just the kind', () => {
    const auth = op('authorize', 'FAILED');
    const t2 = line({ kind: 'authorization', amount: 1000, pspReference: 'psp_T2' });

    it("a FAILED authorization's success line of PSP transaction T2, with T1's succeeded_after_failure on record: recorded as its own succeeded_after_failure", () => {
      const t1 = known('succeeded_after_failure', { amount: 1000, pspReference: 'psp_T1' });
      expect(classifyLine(t2, { ...match(auth), adjustments: [t1] })).toMatchObject({
        class: 'state_mismatch',
        action: { type: 'adjust', kind: 'succeeded_after_failure', amount: 1000 },
      });
    });

    it("the same transaction's line (the adjustment names T2) is reported already, nothing recorded", () => {
      const same = known('succeeded_after_failure', { amount: 1000, pspReference: 'psp_T2' });
      expect(classifyLine(t2, { ...match(auth), adjustments: [same] })).toMatchObject({
        class: 'state_mismatch',
        action: { type: 'none' },
        note: expect.stringContaining('already reported as a succeeded_after_failure adjustment'),
      });
    });

    it('no reference to compare on either side: reported already by kind, as the first reading', () => {
      const unnamed = known('succeeded_after_failure', { amount: 1000 });
      expect(classifyLine(t2, { ...match(auth), adjustments: [unnamed] }).action).toEqual({ type: 'none' });
      const named = known('succeeded_after_failure', { amount: 1000, pspReference: 'psp_T1' });
      expect(classifyLine(line({ kind: 'authorization', amount: 1000 }), { ...match(auth), adjustments: [named] }).action).toEqual({ type: 'none' });
    });

    it("a line whose modification reference is not the transaction a webhook names (Cybersource's reconciliationId): the adjustment naming its payment reference reports it", () => {
      // A Cybersource line: pspReference the transaction id (what its webhook names), modificationReference its reconciliationId.
      const webhook = known('succeeded_after_failure', { amount: 1000, pspReference: '7001234567890123456789' });
      const same = line({ kind: 'authorization', amount: 1000, pspReference: '7001234567890123456789', modificationReference: 'RCN-T1' });
      expect(classifyLine(same, { ...match(auth), adjustments: [webhook] })).toMatchObject({
        class: 'state_mismatch',
        action: { type: 'none' },
        note: expect.stringContaining('already reported as a succeeded_after_failure adjustment'),
      });
      const other = line({ kind: 'authorization', amount: 1000, pspReference: '7009999999999999999999', modificationReference: 'RCN-T2' });
      expect(classifyLine(other, { ...match(auth), adjustments: [webhook] }).action).toMatchObject({ type: 'adjust', kind: 'succeeded_after_failure' });
      const held = op('authorize', 'SUCCEEDED');
      const failed = known('failed_after_success', { pspReference: '7001234567890123456789' });
      const failedLine = line({ kind: 'authorization', status: 'failed', pspReference: '7001234567890123456789', modificationReference: 'RCN-T1' });
      expect(classifyLine(failedLine, { ...match(held), adjustments: [failed] }).action).toEqual({ type: 'none' });
    });

    it("a SUCCEEDED authorization's failed line of T2, with T1's failed_after_success on record: recorded; T1's own line: reported already", () => {
      const held = op('authorize', 'SUCCEEDED');
      const t1 = known('failed_after_success', { pspReference: 'psp_T1' });
      expect(
        classifyLine(line({ kind: 'authorization', status: 'failed', pspReference: 'psp_T2' }), { ...match(held), adjustments: [t1] }).action,
      ).toMatchObject({
        type: 'adjust',
        kind: 'failed_after_success',
      });
      expect(classifyLine(line({ kind: 'authorization', status: 'failed', pspReference: 'psp_T1' }), { ...match(held), adjustments: [t1] }).action).toEqual({
        type: 'none',
      });
    });
  });

  it('needs the adjustments an operation has for late facts and for lines contradicting a terminal state only', () => {
    expect(needsKnownAdjustments(line({ kind: 'chargeback' }), op('capture', 'SUCCEEDED'))).toBe(true);
    expect(needsKnownAdjustments(line({ status: 'failed' }), op('capture', 'SUCCEEDED'))).toBe(true);
    expect(needsKnownAdjustments(line(), op('capture', 'FAILED'))).toBe(true);
    expect(needsKnownAdjustments(line(), op('capture', 'SUCCEEDED'))).toBe(false);
    expect(needsKnownAdjustments(line({ status: 'failed' }), op('capture', 'PENDING'))).toBe(false);
  });

  it.each(['UNRESOLVED', 'PENDING', 'UNKNOWN', 'SENT'] as const)('state_mismatch: a %s operation is settled by the PSP’s record', (state) => {
    expect(classifyLine(line(), match(op('capture', state)))).toMatchObject({ class: 'state_mismatch', action: { type: 'settle', status: 'SUCCESS' } });
    expect(classifyLine(line({ status: 'failed' }), match(op('capture', state))).action).toEqual({ type: 'settle', status: 'FAIL' });
  });

  it('state_mismatch left to a person: the PSP still pending on a terminal operation, or a line for an operation never sent', () => {
    expect(classifyLine(line({ status: 'pending' }), match(op('capture', 'SUCCEEDED')))).toMatchObject({ class: 'state_mismatch', action: { type: 'report' } });
    expect(classifyLine(line(), match(op('capture', 'RECEIVED')))).toMatchObject({ class: 'state_mismatch', action: { type: 'report' } });
  });

  it('matched: failed on both sides, or open on both sides', () => {
    expect(classifyLine(line({ status: 'failed' }), match(op('capture', 'FAILED'))).class).toBe('matched');
    expect(classifyLine(line({ status: 'pending' }), match(op('capture', 'PENDING'))).class).toBe('matched');
  });

  it('missing_in_ledger: a line no operation accounts for is reported, never applied', () => {
    expect(classifyLine(line(), null)).toMatchObject({ class: 'missing_in_ledger', action: { type: 'report' } });
  });

  it('not_a_payment: a fee or payout line is context', () => {
    expect(classifyLine(line({ kind: 'other' }), null)).toMatchObject({ class: 'not_a_payment', action: { type: 'none' } });
  });

  it('a chargeback the webhook already recorded is matched; one it did not is adjusted', () => {
    const captured = op('capture', 'SUCCEEDED');
    expect(classifyLine(line({ kind: 'chargeback' }), { ...match(captured), adjustments: [known('chargeback', { amount: 1000 })] }).class).toBe('matched');
    expect(classifyLine(line({ kind: 'chargeback' }), { ...match(captured), adjustments: [] })).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'chargeback', direction: 'debit', amount: 1000 },
    });
  });
});

describe('a line showing as done an operation the ledger holds SUCCEEDED and marked undone', () => {
  // The line is at 5 000 ms; the failure that undid the operation at `failedAt`.
  const undone = (command: CommandType, failure: KnownAdjustment): Match => ({
    ...match(op(command, 'SUCCEEDED', { undoneBy: failure.id })),
    adjustments: [failure],
  });
  const captured = line({ occurredAt: 5_000 });
  const refunded = line({ kind: 'refund', occurredAt: 5_000 });

  it.each([
    ['capture', 'capture_failed', 'credit'],
    ['sale', 'capture_failed', 'credit'],
    ['refund', 'refund_failed', 'debit'],
    ['refund', 'refund_reversed', 'debit'],
  ] as const)('a %s line after its %s: state_mismatch, succeeded_after_failure (%s) of the line, which clears the mark', (command, kind, direction) => {
    const failure = known(kind, { occurredAt: 4_000 });
    expect(classifyLine(command === 'refund' ? refunded : captured, undone(command, failure))).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'succeeded_after_failure', direction, amount: 1000, currency: 'EUR' },
      undone: { adjustmentId: failure.id, outcome: 'redone' },
      note: expect.stringContaining('succeeded after all'),
    });
  });

  it('a line before the failure (a report cut before it) is the success it undid: the failure stands, matched, nothing recorded', () => {
    const failure = known('capture_failed', { occurredAt: 6_000 });
    expect(classifyLine(captured, undone('capture', failure))).toMatchObject({
      class: 'matched',
      action: { type: 'none' },
      undone: { adjustmentId: failure.id, outcome: 'stands' },
      note: expect.stringContaining('the failure stands'),
    });
  });

  it('a line that cannot be ordered with the failure (the same time, a failure without a time, or none readable) is left to a person', () => {
    for (const failure of [known('capture_failed', { occurredAt: 5_000 }), known('capture_failed')]) {
      expect(classifyLine(captured, undone('capture', failure))).toMatchObject({
        class: 'state_mismatch',
        action: { type: 'report' },
        undone: { adjustmentId: failure.id, outcome: 'unclear' },
      });
    }
    const unread: Match = { ...match(op('capture', 'SUCCEEDED', { undoneBy: 'adj_gone' })), adjustments: [] };
    expect(classifyLine(captured, unread)).toMatchObject({ class: 'state_mismatch', action: { type: 'report' } });
  });

  it("needs the operation's adjustments (the failure's time); a sale's authorization line, or a failed or pending line, is not about the mark", () => {
    const sale = op('sale', 'SUCCEEDED', { undoneBy: 'adj_x' });
    expect(needsKnownAdjustments(captured, sale)).toBe(true);
    expect(needsKnownAdjustments(line({ kind: 'authorization' }), sale)).toBe(false);
    expect(classifyLine(line({ kind: 'authorization' }), match(sale))).toMatchObject({ class: 'matched' });
    expect(classifyLine(line({ status: 'pending' }), match(sale))).toMatchObject({ class: 'state_mismatch', action: { type: 'report' } });
    expect(classifyLine(captured, match(op('capture', 'SUCCEEDED')))).not.toHaveProperty('undone');
  });
});

describe('a line showing as done a capture or refund our own confirmed void undid (Cybersource lists the original)', () => {
  it.each([
    ['capture', 'capture'],
    ['refund', 'refund'],
  ] as const)('matches a %s undone by our cancel whose void the PSP confirmed, naming the void; nothing to report', (command, kind) => {
    const voided = op(command, 'SUCCEEDED', { undoneBy: 'op-cancel-9', undoneByVoid: 'op-cancel-9' });
    const verdict = classifyLine(line({ kind }), { ...match(voided), adjustments: [] });
    expect(verdict).toMatchObject({ class: 'matched', action: { type: 'none' } });
    expect(verdict.note).toContain('op-cancel-9');
    expect(verdict).not.toHaveProperty('undone');
  });

  it('still compares its money: another amount is a mismatch', () => {
    const voided = op('capture', 'SUCCEEDED', { undoneBy: 'op-cancel-9', undoneByVoid: 'op-cancel-9' });
    expect(classifyLine(line({ amount: 900 }), { ...match(voided), adjustments: [] })).not.toMatchObject({ class: 'matched' });
  });

  it('a mark an adjustment set after the void (another undoing fact) is classified as such, not as our void', () => {
    const marked = op('capture', 'SUCCEEDED', { undoneBy: 'adj_later', undoneByVoid: 'op-cancel-9' });
    expect(classifyLine(line(), { ...match(marked), adjustments: [] })).toMatchObject({ class: 'state_mismatch', action: { type: 'report' } });
  });
});

describe('a line about an operation the ledger holds FAILED and counts as done by the PSP after all', () => {
  // The success after failure that marked it at 4 000 ms; the line at 5 000 ms.
  const marked = (command: CommandType, extra: Partial<OperationRecord> = {}, others: KnownAdjustment[] = []): Match => {
    const success = known('succeeded_after_failure', { occurredAt: 4_000, amount: 800 });
    return {
      ...match(op(command, 'FAILED', { succeededAfterFailure: { by: success.id, amount: 800, currency: 'EUR' }, ...extra })),
      adjustments: [success, ...others],
    };
  };
  const failedLine = (command: CommandType, extra: Partial<PspRecord> = {}) =>
    line({ kind: command === 'refund' ? 'refund' : 'capture', status: 'failed', amount: 800, occurredAt: 5_000, ...extra });

  it.each([
    ['capture', 'capture_failed', 'debit'],
    ['sale', 'capture_failed', 'debit'],
    ['refund', 'refund_failed', 'credit'],
  ] as const)('a failed %s line after the success: state_mismatch, %s (%s) of the line, as for a SUCCEEDED one', (command, kind, direction) => {
    const m = marked(command);
    expect(needsKnownAdjustments(failedLine(command), m.op)).toBe(true);
    expect(classifyLine(failedLine(command), m)).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind, direction, amount: 800, currency: 'EUR' },
      note: expect.stringContaining('no longer counts'),
    });
  });

  it('a failed line the success is later than is the failure it succeeded after: matched, nothing recorded', () => {
    expect(classifyLine(failedLine('capture', { occurredAt: 3_000 }), marked('capture'))).toMatchObject({ class: 'matched', action: { type: 'none' } });
  });

  it("a failed line in the success's own second cannot be told older: capture_failed, as the adjustment store marks it", () => {
    // PSP times are whole seconds: the store's record script marks such a failure, so reconciliation must not agree it.
    expect(classifyLine(failedLine('capture', { occurredAt: 4_000 }), marked('capture'))).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'capture_failed', direction: 'debit', amount: 800, currency: 'EUR' },
      note: expect.stringContaining('no longer counts'),
    });
  });

  it('recorded once: undone already (a webhook, or this line on an earlier run), or an adjustment from this very line, records nothing', () => {
    const undone = marked('capture', { undoneBy: 'adj_failed' });
    expect(classifyLine(failedLine('capture'), undone)).toMatchObject({ class: 'state_mismatch', action: { type: 'none' } });
    const fromLine = marked('capture', {}, [known('capture_failed', { line: 'ln1', occurredAt: 5_000 })]);
    expect(classifyLine(failedLine('capture'), fromLine)).toMatchObject({ class: 'state_mismatch', action: { type: 'none' } });
  });

  it('the line the success was recorded from, now failed (the PSP restated it): left to a person', () => {
    const m = marked('capture');
    const restated: Match = { ...m, adjustments: [{ ...m.adjustments![0], line: 'ln1' }] };
    expect(classifyLine(failedLine('capture', { occurredAt: 4_000 }), restated)).toMatchObject({ class: 'state_mismatch', action: { type: 'report' } });
  });

  it.each(['capture', 'sale', 'refund'] as const)(
    'a %s line agreeing it succeeded, at the amount the mark confirmed: matched (the ledger agrees), never a second succeeded_after_failure; no adjustments read',
    (command) => {
      const m = marked(command);
      const agreeing = line({ kind: command === 'refund' ? 'refund' : 'capture', amount: 800 });
      expect(needsKnownAdjustments(agreeing, m.op)).toBe(false);
      expect(classifyLine(agreeing, m)).toMatchObject({
        class: 'matched',
        action: { type: 'none' },
        ledger: { state: 'FAILED', amount: 800, currency: 'EUR' },
        note: expect.stringContaining(`FAILED, ${command === 'refund' ? 'refunded' : 'captured'} by the PSP after all (succeeded_after_failure adj_`),
      });
      // Without its adjustments read (the runner reads none for it): the same verdict.
      expect(classifyLine(agreeing, { op: m.op, by: m.by })).toMatchObject({ class: 'matched', action: { type: 'none' } });
    },
  );

  it("a line agreeing it succeeded for another amount than the mark's: amount_mismatch of the difference, as for any operation", () => {
    expect(classifyLine(line({ amount: 900 }), marked('capture'))).toMatchObject({
      class: 'amount_mismatch',
      action: { type: 'adjust', kind: 'amount_mismatch', direction: 'credit', amount: 100, currency: 'EUR', reason: 'psp_900_ledger_800' },
    });
    // Compared with the mark's 800, not the 1 000 asked nor a figure the refusal carried.
    expect(classifyLine(line({ amount: 1000 }), marked('capture', { confirmedAmount: 1000 }))).toMatchObject({
      class: 'amount_mismatch',
      action: { direction: 'credit', amount: 200 },
    });
    expect(classifyLine(line({ amount: 800, currency: 'USD' }), marked('capture'))).toMatchObject({ class: 'currency_mismatch' });
  });

  it('a cancel marked done after all, its cancellation line succeeded: matched; one without the mark stays a state mismatch', () => {
    const cancelLine = line({ kind: 'cancel', amount: 1000 });
    const markedCancel = op('cancel', 'FAILED', { succeededAfterFailure: { by: 'adj_saf' } });
    expect(classifyLine(cancelLine, match(markedCancel))).toMatchObject({
      class: 'matched',
      action: { type: 'none' },
      note: expect.stringContaining('cancelled by the PSP after all'),
    });
    expect(classifyLine(cancelLine, { ...match(op('cancel', 'FAILED')), adjustments: [] })).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'succeeded_after_failure' },
    });
  });

  it('a FAILED one without the mark whose line says succeeded stays a state mismatch: recorded, or reported already', () => {
    const plain = op('capture', 'FAILED');
    expect(needsKnownAdjustments(line({ amount: 800 }), plain)).toBe(true);
    expect(classifyLine(line({ amount: 800 }), { ...match(plain), adjustments: [] })).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'succeeded_after_failure', amount: 800 },
    });
    // An authorization is never marked: its late success, reported already, stays a state mismatch.
    const auth = op('authorize', 'FAILED');
    expect(
      classifyLine(line({ kind: 'authorization', amount: 800 }), { ...match(auth), adjustments: [known('succeeded_after_failure', { amount: 800 })] }),
    ).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'none' },
      note: expect.stringContaining('already reported as a succeeded_after_failure adjustment'),
    });
  });

  it('a succeeded line after a failure that undid it: succeeded_after_failure again, which clears the undone mark', () => {
    const failure = known('capture_failed', { occurredAt: 4_500 });
    const m = marked('capture', { undoneBy: failure.id }, [failure]);
    expect(classifyLine(line({ amount: 800, occurredAt: 5_000 }), m)).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'succeeded_after_failure', amount: 800 },
      undone: { adjustmentId: failure.id, outcome: 'redone' },
    });
    // Before that failure: the success it undid; matched at the amount the PSP confirmed (800, not the 1 000 asked).
    expect(classifyLine(line({ amount: 800, occurredAt: 4_200 }), m)).toMatchObject({ class: 'matched', undone: { outcome: 'stands' } });
  });

  it('an unmarked FAILED operation is unchanged: failed on both sides, and its failed line needs no adjustments read', () => {
    const plain = op('capture', 'FAILED');
    expect(needsKnownAdjustments(failedLine('capture'), plain)).toBe(false);
    expect(classifyLine(failedLine('capture'), match(plain))).toMatchObject({ class: 'matched', note: 'failed on both sides' });
  });

  describe('a FAILED sale marked done by its first late success (T1) meets a success line of a PSP transaction', () => {
    // The mark's adjustment names T1 (a webhook reported it); the sale was charged 800 by it.
    const saleMarkedByT1 = (others: KnownAdjustment[] = []): Match => {
      const t1 = known('succeeded_after_failure', { occurredAt: 4_000, amount: 800, pspReference: 'psp_T1' });
      return { ...match(op('sale', 'FAILED', { succeededAfterFailure: { by: t1.id, amount: 800, currency: 'EUR' } })), adjustments: [t1, ...others] };
    };

    it("T2's line (no adjustment names T2): a second charge, recorded as its own succeeded_after_failure of the line's amount; its adjustments are read", () => {
      const m = saleMarkedByT1();
      const t2 = line({ amount: 800, pspReference: 'psp_T2' });
      expect(needsKnownAdjustments(t2, m.op)).toBe(true);
      expect(classifyLine(t2, m)).toMatchObject({
        class: 'state_mismatch',
        action: { type: 'adjust', kind: 'succeeded_after_failure', direction: 'credit', amount: 800, currency: 'EUR' },
        note: expect.stringContaining('charged more than once'),
      });
    });

    it("T1's own line (by its payment or its modification reference): agreeing, nothing recorded", () => {
      const m = saleMarkedByT1();
      expect(classifyLine(line({ amount: 800, pspReference: 'psp_T1' }), m)).toMatchObject({ class: 'matched', action: { type: 'none' } });
      expect(classifyLine(line({ amount: 800, pspReference: 'pay_T1', modificationReference: 'psp_T1' }), m)).toMatchObject({
        class: 'matched',
        action: { type: 'none' },
      });
    });

    it("T2's line once its own succeeded_after_failure is on record (an earlier run, a webhook): agreeing, nothing recorded again", () => {
      const m = saleMarkedByT1([known('succeeded_after_failure', { amount: 800, pspReference: 'psp_T2', line: 'ln1' })]);
      expect(classifyLine(line({ amount: 800, pspReference: 'psp_T2' }), m)).toMatchObject({ class: 'matched', action: { type: 'none' } });
    });

    it('a line naming no reference, or a mark whose adjustment names none: compared by money, as before', () => {
      const m = saleMarkedByT1();
      expect(needsKnownAdjustments(line({ amount: 800 }), m.op)).toBe(false);
      expect(classifyLine(line({ amount: 800 }), m)).toMatchObject({ class: 'matched', action: { type: 'none' } });
      const unnamed = known('succeeded_after_failure', { amount: 800 });
      const byMoney: Match = {
        ...match(op('sale', 'FAILED', { succeededAfterFailure: { by: unnamed.id, amount: 800, currency: 'EUR' } })),
        adjustments: [unnamed],
      };
      expect(classifyLine(line({ amount: 800, pspReference: 'psp_T2' }), byMoney)).toMatchObject({ class: 'matched', action: { type: 'none' } });
      // Its adjustments not read: compared by money too.
      expect(classifyLine(line({ amount: 800, pspReference: 'psp_T2' }), { op: m.op, by: m.by })).toMatchObject({ class: 'matched' });
    });
  });
});

describe('late facts: each recorded adjustment accounts for one PSP line', () => {
  const captured = op('capture', 'SUCCEEDED');
  const chargeback = (lineId: string, extra: Partial<PspRecord> = {}) => line({ lineId, kind: 'chargeback', pspType: 'Chargeback', ...extra });

  it('a second chargeback of the same amount, after a chargeback and its reversal both recorded, is a debit of its own', () => {
    const recorded = [known('chargeback', { amount: 1000, line: 'ln-cb-1' }), known('chargeback_reversed', { amount: 1000, line: 'ln-cbr-1' })];
    expect(classifyLine(chargeback('ln-cb-2'), { ...match(captured), adjustments: recorded })).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'chargeback', direction: 'debit', amount: 1000 },
    });
    // Re-run over the same lines: each is its adjustment's, nothing to record again.
    expect(classifyLine(chargeback('ln-cb-1'), { ...match(captured), adjustments: recorded })).toMatchObject({ class: 'matched', action: { type: 'none' } });
    expect(classifyLine(chargeback('ln-cb-1'), { ...match(captured), adjustments: recorded }).ties).toBeUndefined();
  });

  it('a second reversal of the same amount is a credit of its own', () => {
    const recorded = [known('chargeback_reversed', { amount: 1000, line: 'ln-cbr-1' })];
    const reversal = line({ lineId: 'ln-cbr-2', kind: 'chargeback_reversed' });
    expect(classifyLine(reversal, { ...match(captured), adjustments: recorded }).action).toMatchObject({
      type: 'adjust',
      kind: 'chargeback_reversed',
      direction: 'credit',
    });
  });

  it('a webhook’s adjustment no line took accounts for the line and is to be tied to it: by the dispute’s PSP reference, else by kind and amount', () => {
    const webhook = known('chargeback', { amount: 1000, pspReference: 'dp_1' });
    expect(classifyLine(chargeback('ln-1', { modificationReference: 'dp_1' }), { ...match(captured), adjustments: [webhook] })).toMatchObject({
      class: 'matched',
      action: { type: 'none' },
      ties: { adjustmentId: webhook.id, by: 'psp_reference' },
    });
    expect(classifyLine(chargeback('ln-1'), { ...match(captured), adjustments: [webhook] }).ties).toEqual({ adjustmentId: webhook.id, by: 'kind_and_amount' });
    // Another dispute's adjustment, or one another line took, does not stand for this line.
    expect(classifyLine(chargeback('ln-2', { modificationReference: 'dp_2' }), { ...match(captured), adjustments: [webhook] }).action.type).toBe('adjust');
    expect(classifyLine(chargeback('ln-2'), { ...match(captured), adjustments: [{ ...webhook, line: 'ln-1' }] }).action.type).toBe('adjust');
  });

  it('an adjustment with no amount accounts for one line, not for every line of its kind', () => {
    const amountless = known('chargeback');
    expect(classifyLine(chargeback('ln-1'), { ...match(captured), adjustments: [amountless] }).ties?.adjustmentId).toBe(amountless.id);
    expect(classifyLine(chargeback('ln-2'), { ...match(captured), adjustments: [{ ...amountless, line: 'ln-1' }] }).action.type).toBe('adjust');
    // One of the line's amount is preferred to one with none.
    const exact = known('chargeback', { amount: 1000 });
    expect(recordingAdjustment(chargeback('ln-1'), [amountless, exact])?.adjustment).toBe(exact);
  });

  it('a second chargeback (Adyen SecondChargeback) is not accounted for by the first one’s adjustment: a second_chargeback debit, unless the webhook brought one', () => {
    const second = line({ lineId: 'ln-2cb', kind: 'second_chargeback', pspType: 'SecondChargeback', modificationReference: 'D1' });
    const first = known('chargeback', { amount: 1000, pspReference: 'D1' });
    expect(classifyLine(second, { ...match(captured), adjustments: [first] }).action).toMatchObject({
      type: 'adjust',
      kind: 'second_chargeback',
      direction: 'debit',
    });
    const webhook = known('second_chargeback', { amount: 1000, pspReference: 'D1' });
    expect(classifyLine(second, { ...match(captured), adjustments: [first, webhook] }).ties?.adjustmentId).toBe(webhook.id);
  });

  it('a notice that moved no money (a dispute closed as lost) does not stand for the money a chargeback took', () => {
    expect(classifyLine(chargeback('ln-1'), { ...match(captured), adjustments: [known('dispute_lost', { amount: 1000 })] }).action.type).toBe('adjust');
    expect(classifyLine(chargeback('ln-1'), { ...match(captured), adjustments: [known('dispute_lost', { amount: 1000, direction: 'debit' })] }).class).toBe(
      'matched',
    );
  });
});

describe('an authorization the PSP let lapse', () => {
  const lapse = line({ kind: 'authorization_expired', amount: 400 });

  it('is about the authorization (authorize or revalidate), never a cancel or a capture', () => {
    const auth = op('authorize', 'SUCCEEDED');
    expect(
      chooseMatch(
        lapse,
        [
          { op: op('cancel', 'SUCCEEDED'), by: 'psp_reference' },
          { op: auth, by: 'operation_id' },
        ],
        'sim',
      )?.op,
    ).toBe(auth);
    expect(chooseMatch(lapse, [{ op: op('capture', 'SUCCEEDED'), by: 'psp_reference' }], 'sim')).toBeNull();
    expect(needsKnownAdjustments(lapse, auth)).toBe(true);
  });

  it('one no webhook brought is an authorization_expired adjustment of what lapsed; one already recorded (as a lapse, or as the failure after success it was read as before) is matched', () => {
    const auth = op('authorize', 'SUCCEEDED');
    expect(classifyLine(lapse, { ...match(auth), adjustments: [] })).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'authorization_expired', direction: 'none', amount: 400 },
    });
    for (const kind of ['authorization_expired', 'failed_after_success'] as const) {
      expect(classifyLine(lapse, { ...match(auth), adjustments: [known(kind, { amount: 400 })] }).class).toBe('matched');
    }
  });
});

describe('a cancellation no cancel of the ledger accounts for', () => {
  const cancel = line({ kind: 'cancel', amount: 700 });
  const auth = op('authorize', 'SUCCEEDED');

  it("is about the authorization it names by its PSP reference or our id, never one the order alone names; the ledger's own cancel comes first", () => {
    expect(chooseMatch(cancel, [{ op: auth, by: 'psp_reference' }], 'sim')?.op).toBe(auth);
    expect(chooseMatch(cancel, [{ op: auth, by: 'operation_id' }], 'sim')?.op).toBe(auth);
    expect(chooseMatch(cancel, [{ op: auth, by: 'merchant_reference' }], 'sim')).toBeNull();
    expect(chooseMatch(cancel, [{ op: op('capture', 'SUCCEEDED'), by: 'psp_reference' }], 'sim')).toBeNull();
    const ours = op('cancel', 'SUCCEEDED');
    expect(
      chooseMatch(
        cancel,
        [
          { op: auth, by: 'psp_reference' },
          { op: ours, by: 'merchant_reference' },
        ],
        'sim',
      )?.op,
    ).toBe(ours);
    expect(needsKnownAdjustments(cancel, auth)).toBe(true);
    expect(needsKnownAdjustments(cancel, ours)).toBe(false);
  });

  it('against an authorization held SUCCEEDED that nothing of ours closed: failed_after_success of what the PSP released', () => {
    expect(classifyLine(cancel, { ...match(auth), adjustments: [] })).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'failed_after_success', direction: 'none', amount: 700, currency: 'EUR', reason: 'psp_capture' },
    });
  });

  it('closed by the ledger, already reported (or as its lapse), FAILED, failed at the PSP: nothing to record; open or never sent: a person looks', () => {
    expect(classifyLine(cancel, { ...match(op('authorize', 'SUCCEEDED', { closedBy: 'op-cancel-9' })), adjustments: [] })).toMatchObject({
      class: 'matched',
      action: { type: 'none' },
    });
    for (const kind of ['failed_after_success', 'authorization_expired'] as const) {
      expect(classifyLine(cancel, { ...match(auth), adjustments: [known(kind)] })).toMatchObject({ class: 'state_mismatch', action: { type: 'none' } });
    }
    expect(classifyLine(cancel, { ...match(op('authorize', 'FAILED')), adjustments: [] })).toMatchObject({ class: 'matched', action: { type: 'none' } });
    expect(classifyLine(line({ kind: 'cancel', status: 'failed' }), { ...match(auth), adjustments: [] }).action).toEqual({ type: 'none' });
    for (const state of ['UNKNOWN', 'PENDING', 'RECEIVED'] as const) {
      expect(classifyLine(cancel, { ...match(op('authorize', state)), adjustments: [] })).toMatchObject({
        class: 'state_mismatch',
        action: { type: 'report' },
      });
    }
  });
});

describe('a refund no refund of the ledger accounts for', () => {
  const refund = line({ kind: 'refund', amount: 300, modificationReference: 're_outside_1', pspType: 'refund' });
  const auth = op('authorize', 'SUCCEEDED');
  const sale = op('sale', 'SUCCEEDED');

  it("is about the payment (authorization or sale) it names by its PSP reference or our id, never one the order alone names; the ledger's own refund comes first", () => {
    expect(chooseMatch(refund, [{ op: auth, by: 'psp_reference' }], 'sim')?.op).toBe(auth);
    expect(chooseMatch(refund, [{ op: sale, by: 'operation_id' }], 'sim')?.op).toBe(sale);
    expect(chooseMatch(refund, [{ op: sale, by: 'merchant_reference' }], 'sim')).toBeNull();
    expect(chooseMatch(refund, [{ op: op('capture', 'SUCCEEDED'), by: 'psp_reference' }], 'sim')).toBeNull();
    const ours = op('refund', 'SUCCEEDED');
    expect(
      chooseMatch(
        refund,
        [
          { op: sale, by: 'psp_reference' },
          { op: ours, by: 'merchant_reference' },
        ],
        'sim',
      )?.op,
    ).toBe(ours);
    expect(needsKnownAdjustments(refund, sale)).toBe(true);
  });

  it('against a payment held SUCCEEDED: refund_outside_bridge, debit, the amount and currency the PSP refunded', () => {
    for (const payment of [auth, sale]) {
      expect(classifyLine(refund, { ...match(payment), adjustments: [] })).toMatchObject({
        class: 'state_mismatch',
        action: { type: 'adjust', kind: 'refund_outside_bridge', direction: 'debit', amount: 300, currency: 'EUR', reason: 'psp_refund' },
      });
    }
  });

  it("recorded by a webhook first (same refund reference): tied to it, nothing recorded twice; another refund's adjustment does not stand for it", () => {
    const webhook = known('refund_outside_bridge', { direction: 'debit', amount: 300, pspReference: 're_outside_1' });
    expect(classifyLine(refund, { ...match(sale), adjustments: [webhook] })).toMatchObject({
      class: 'matched',
      action: { type: 'none' },
      ties: { adjustmentId: webhook.id, by: 'psp_reference' },
    });
    const other = known('refund_outside_bridge', { direction: 'debit', amount: 300, pspReference: 're_outside_2' });
    expect(classifyLine(refund, { ...match(sale), adjustments: [other] }).action).toMatchObject({ type: 'adjust', kind: 'refund_outside_bridge' });
    const own = known('refund_outside_bridge', { direction: 'debit', amount: 300, line: refund.lineId });
    expect(classifyLine(refund, { ...match(sale), adjustments: [own] })).toMatchObject({ class: 'matched', action: { type: 'none' } });
  });

  it('recorded by a webhook first at another amount (an Adyen cancel-or-refund capped at what the ledger left to refund): the same refund by its reference, tied, not recorded twice; the difference reported', () => {
    const capped = known('refund_outside_bridge', { direction: 'debit', amount: 200, pspReference: 're_outside_1' });
    expect(classifyLine(refund, { ...match(auth), adjustments: [capped] })).toMatchObject({
      class: 'amount_mismatch',
      action: { type: 'report' },
      ties: { adjustmentId: capped.id, by: 'psp_reference' },
    });
    // Without a reference in common, another amount is another refund.
    const unnamed = known('refund_outside_bridge', { direction: 'debit', amount: 200 });
    expect(classifyLine(refund, { ...match(auth), adjustments: [unnamed] }).action).toMatchObject({ type: 'adjust', kind: 'refund_outside_bridge' });
  });

  it("a sale the PSP's cancel-or-refund undid (capture_failed): reported already; a refund not succeeded: nothing; a payment not SUCCEEDED: a person looks", () => {
    expect(classifyLine(refund, { ...match(op('sale', 'SUCCEEDED', { undoneBy: 'adj_cf' })), adjustments: [] })).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'none' },
    });
    expect(classifyLine(line({ ...refund, status: 'pending' }), { ...match(sale), adjustments: [] })).toMatchObject({
      class: 'matched',
      action: { type: 'none' },
    });
    for (const state of ['FAILED', 'UNKNOWN'] as const) {
      expect(classifyLine(refund, { ...match(op('sale', state)), adjustments: [] })).toMatchObject({ class: 'state_mismatch', action: { type: 'report' } });
    }
  });

  it('against a sale held FAILED that the PSP did after all (succeeded_after_failure): a payment the PSP holds, refund_outside_bridge as for a SUCCEEDED one; tied to the webhook that read it so', () => {
    const late = op('sale', 'FAILED', { succeededAfterFailure: { by: 'adj_saf', amount: 5000, currency: 'EUR' } });
    expect(classifyLine(refund, { ...match(late), adjustments: [] })).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'refund_outside_bridge', direction: 'debit', amount: 300, currency: 'EUR', reason: 'psp_refund' },
    });
    const webhook = known('refund_outside_bridge', { direction: 'debit', amount: 300, pspReference: 're_outside_1' });
    expect(classifyLine(refund, { ...match(late), adjustments: [webhook] })).toMatchObject({ class: 'matched', action: { type: 'none' } });
    // An authorization is never marked done after failure: held FAILED, a person looks, as the webhook leaves it.
    expect(classifyLine(refund, { ...match(op('authorize', 'FAILED')), adjustments: [] })).toMatchObject({ action: { type: 'report' } });
  });
});

describe('the failure or reversal of a refund no refund of the ledger accounts for', () => {
  // Stripe's refund_failure balance transaction of a Dashboard refund, Adyen's RefundedReversed line: the payment's
  // reference, the refund's as the modification's.
  const reversed = line({ kind: 'refund_reversed', amount: 300, modificationReference: 're_outside_1', pspType: 'refund_failure' });
  const sale = op('sale', 'SUCCEEDED');

  it("is the payment's: refund_reversed, credit, the line's amount, unless the webhook's refund_failed or refund_reversed of that refund records it (tied, nothing twice)", () => {
    expect(chooseMatch(reversed, [{ op: sale, by: 'psp_reference' }], 'sim')?.op).toBe(sale);
    expect(
      classifyLine(reversed, {
        ...match(sale),
        adjustments: [known('refund_outside_bridge', { direction: 'debit', amount: 300, pspReference: 're_outside_1' })],
      }),
    ).toMatchObject({
      class: 'state_mismatch',
      action: { type: 'adjust', kind: 'refund_reversed', direction: 'credit', amount: 300, currency: 'EUR' },
    });
    for (const kind of ['refund_failed', 'refund_reversed'] as const) {
      const webhook = known(kind, { amount: 300, pspReference: 're_outside_1' });
      const outside = known('refund_outside_bridge', { direction: 'debit', amount: 300, pspReference: 're_outside_1' });
      expect(classifyLine(reversed, { ...match(sale), adjustments: [outside, webhook] })).toMatchObject({
        class: 'matched',
        action: { type: 'none' },
        ties: { adjustmentId: webhook.id, by: 'psp_reference' },
      });
    }
    // Another refund's failure does not stand for it.
    const refunded = known('refund_outside_bridge', { direction: 'debit', amount: 300, pspReference: 're_outside_1' });
    const other = known('refund_failed', { amount: 300, pspReference: 're_outside_2' });
    expect(classifyLine(reversed, { ...match(sale), adjustments: [refunded, other] }).action).toMatchObject({ type: 'adjust', kind: 'refund_reversed' });
    // Recorded from this very line by an earlier run: matched.
    const own = known('refund_reversed', { amount: 300, pspReference: 're_outside_1', line: reversed.lineId });
    expect(classifyLine(reversed, { ...match(sale), adjustments: [refunded, own] })).toMatchObject({ class: 'matched', action: { type: 'none' } });
  });

  it('of a refund never reported as refund_outside_bridge: a person looks, nothing recorded; a refund of ours still comes first', () => {
    expect(classifyLine(reversed, { ...match(sale), adjustments: [] })).toMatchObject({ class: 'state_mismatch', action: { type: 'report' } });
    const ours = op('refund', 'SUCCEEDED');
    expect(
      chooseMatch(
        reversed,
        [
          { op: sale, by: 'psp_reference' },
          { op: ours, by: 'merchant_reference' },
        ],
        'sim',
      )?.op,
    ).toBe(ours);
    expect(chooseMatch(reversed, [{ op: sale, by: 'merchant_reference' }], 'sim')).toBeNull();
  });
});

describe('classifyMissingAtPsp', () => {
  it('missing_at_psp: a SUCCEEDED operation that moved money and no line names', () => {
    expect(classifyMissingAtPsp(op('sale', 'SUCCEEDED'))).toMatchObject({ class: 'missing_at_psp', action: { type: 'report' }, ledger: { amount: 1000 } });
  });

  it('nothing to expect for a failed operation or one that moves no money', () => {
    expect(classifyMissingAtPsp(op('sale', 'FAILED'))).toBeNull();
    expect(classifyMissingAtPsp(op('tokenize', 'SUCCEEDED'))).toBeNull();
    expect(classifyMissingAtPsp(op('validate', 'SUCCEEDED'))).toBeNull();
  });

  it.each(['capture', 'sale', 'refund'] as const)(
    'missing_at_psp: a %s recorded FAILED that the PSP did after all (succeeded_after_failure), at the amount the PSP confirmed',
    (command) => {
      const marked = op(command, 'FAILED', { succeededAfterFailure: { by: 'adj_saf', amount: 800, currency: 'EUR' } });
      expect(classifyMissingAtPsp(marked)).toMatchObject({
        class: 'missing_at_psp',
        action: { type: 'report' },
        ledger: { operationId: marked.id, state: 'FAILED', amount: 800, currency: 'EUR' },
        note: expect.stringContaining('by the PSP after all (succeeded_after_failure adj_saf) (8.00 EUR); the PSP lists no line for it'),
      });
    },
  );

  it('nothing to expect for one done after its failure and then undone again (a later failure of it), nor for a plain FAILED one', () => {
    const undone = op('capture', 'FAILED', { succeededAfterFailure: { by: 'adj_saf', amount: 800, currency: 'EUR' }, undoneBy: 'adj_failed' });
    expect(classifyMissingAtPsp(undone)).toBeNull();
    expect(classifyMissingAtPsp(op('capture', 'FAILED'))).toBeNull();
    expect(classifyMissingAtPsp(op('refund', 'FAILED'))).toBeNull();
  });

  it("nothing to expect for a command the PSP's records never list (Adyen's settlement report: no authorization, no cancellation)", () => {
    const unlisted = adyenReconciliation.unlistedCommands;
    expect(unlisted).toEqual(['authorize', 'revalidate', 'cancel']);
    expect(classifyMissingAtPsp(op('authorize', 'SUCCEEDED'), unlisted)).toBeNull();
    expect(classifyMissingAtPsp(op('cancel', 'SUCCEEDED'), unlisted)).toBeNull();
    expect(classifyMissingAtPsp(op('capture', 'SUCCEEDED'), unlisted)).toMatchObject({ class: 'missing_at_psp' });
    expect(classifyMissingAtPsp(op('refund', 'SUCCEEDED'), unlisted)).toMatchObject({ class: 'missing_at_psp' });
    // Stripe and Cybersource list authorizations and cancellations: every money-moving command is expected there.
    expect(stripeReconciliation.unlistedCommands).toBeUndefined();
    expect(cybersourceReconciliation.unlistedCommands).toBeUndefined();
  });
});

describe('chooseMatch', () => {
  it('prefers the operation id, then the modification reference, the payment reference, the merchant reference', () => {
    const a = op('capture', 'SUCCEEDED', { id: 'a' });
    const b = op('capture', 'SUCCEEDED', { id: 'b' });
    expect(
      chooseMatch(
        line(),
        [
          { op: a, by: 'psp_reference' },
          { op: b, by: 'operation_id' },
        ],
        'sim',
      )?.op.id,
    ).toBe('b');
    expect(
      chooseMatch(
        line(),
        [
          { op: a, by: 'merchant_reference' },
          { op: b, by: 'modification_reference' },
        ],
        'sim',
      )?.op.id,
    ).toBe('b');
  });

  it('among partial captures a payment reference leads to, takes the one with the line’s amount and currency: no spurious amount_mismatch', () => {
    const first = op('capture', 'SUCCEEDED', { id: 'cap-500', confirmedAmount: 500 });
    const second = op('capture', 'SUCCEEDED', { id: 'cap-300', confirmedAmount: 300 });
    const candidates = [
      { op: first, by: 'psp_reference' as const },
      { op: second, by: 'psp_reference' as const },
    ];
    const chosen = chooseMatch(line({ amount: 300 }), candidates, 'sim');
    expect(chosen?.op.id).toBe('cap-300');
    expect(classifyLine(line({ amount: 300 }), chosen).class).toBe('matched');
    expect(chooseMatch(line({ amount: 500 }), candidates, 'sim')?.op.id).toBe('cap-500');
    // Same amount, another currency: not the line's money.
    const usd = op('capture', 'SUCCEEDED', { id: 'cap-usd', confirmedAmount: 300, confirmedCurrency: 'USD' });
    expect(chooseMatch(line({ amount: 300 }), [{ op: usd, by: 'psp_reference' }, ...candidates], 'sim')?.op.id).toBe('cap-300');
  });

  it('among captures of the same money, takes one no earlier line of the run was matched to', () => {
    const a = op('capture', 'SUCCEEDED', { id: 'cap-a' });
    const b = op('capture', 'SUCCEEDED', { id: 'cap-b' });
    const candidates = [
      { op: a, by: 'psp_reference' as const },
      { op: b, by: 'psp_reference' as const },
    ];
    expect(chooseMatch(line(), candidates, 'sim', new Set(['cap-a']))?.op.id).toBe('cap-b');
    expect(chooseMatch(line(), candidates, 'sim', new Set(['cap-b']))?.op.id).toBe('cap-a');
    expect(hasTiedCandidates(line(), candidates, 'sim')).toBe(true);
    expect(hasTiedCandidates(line(), [candidates[0], { op: b, by: 'merchant_reference' }], 'sim')).toBe(false);
  });

  it('ignores another gateway’s operation and one of an incompatible command', () => {
    const other = op('capture', 'SUCCEEDED', { payment: { ...op('capture', 'SUCCEEDED').payment, gateway: 'stripe' } });
    const auth = op('authorize', 'SUCCEEDED');
    expect(
      chooseMatch(
        line(),
        [
          { op: other, by: 'operation_id' },
          { op: auth, by: 'psp_reference' },
        ],
        'sim',
      ),
    ).toBeNull();
  });

  it('takes an operation routed (or failed over) to this gateway, not one the command named but routing sent elsewhere', () => {
    const routing = (gateway: string) => ({ gateway, requested: 'sim', candidates: ['sim', gateway], index: 1, decisions: [] });
    const routedHere = op('capture', 'SUCCEEDED', {
      id: 'here',
      payment: { ...op('capture', 'SUCCEEDED').payment, gateway: 'stripe' },
      routing: routing('sim'),
    });
    const routedAway = op('capture', 'SUCCEEDED', { id: 'away', routing: routing('stripe') });
    expect(chooseMatch(line(), [{ op: routedAway, by: 'operation_id' }], 'sim')).toBeNull();
    expect(chooseMatch(line(), [{ op: routedHere, by: 'operation_id' }], 'sim')?.op.id).toBe('here');
  });

  it('compares a converted payment in the currency the PSP was asked for: USD 10.00 sent as EUR 9.20 matches a EUR 9.20 line', () => {
    const converted = op('capture', 'SUCCEEDED', {
      payment: { ...op('capture', 'SUCCEEDED').payment, amount: 1000, currency: 'USD' },
      routing: { gateway: 'sim', requested: 'sim', candidates: ['sim'], index: 0, decisions: [], amount: 920, currency: 'EUR' },
    });
    expect(classifyLine(line({ amount: 920, currency: 'EUR' }), match(converted)).class).toBe('matched');
  });

  it('among an order’s operations picks the one with the line’s amount', () => {
    const small = op('capture', 'SUCCEEDED', { id: 'small', payment: { ...op('capture', 'SUCCEEDED').payment, amount: 10 } });
    const exact = op('capture', 'SUCCEEDED', { id: 'exact', createdAt: 9 });
    expect(
      chooseMatch(
        line(),
        [
          { op: small, by: 'merchant_reference' },
          { op: exact, by: 'merchant_reference' },
        ],
        'sim',
      )?.op.id,
    ).toBe('exact');
  });
});

describe('the closed sets', () => {
  it('every class is named, and the kind/command tables answer for every pair without throwing', () => {
    expect(RECONCILIATION_CLASSES).toHaveLength(7);
    expect(compatible('capture', 'sale')).toBe(true);
    expect(compatible('refund', 'capture')).toBe(false);
    expect(movesMoney('cancel')).toBe(true);
  });
});
