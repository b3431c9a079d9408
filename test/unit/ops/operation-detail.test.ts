import { AdjustmentRecord } from '../../../src/adjustments/adjustment';
import { OperationRecord } from '../../../src/ledger/ledger';
import { operationDetail, parseRefundsReread } from '../../../src/ops/operation-detail';
import { detailText } from '../../../src/cli/ops-commands';
import { lookupPage } from '../../../src/console/console-pages';
import { TEST_PANS } from '../../support/fixtures';

const T0 = Date.UTC(2026, 11, 5, 6, 0, 0);
const MIN = 60_000;

const record = (overrides: Partial<OperationRecord> = {}): OperationRecord => ({
  id: 'op-cap-1',
  command: 'capture',
  channel: 'bus',
  state: 'FAILED',
  payment: { gateway: 'adyen', gateway_account: 'acct-1', gateway_key: 'PSP-AUTH-1', amount: 5000, currency: 'EUR', order_id: 'ORD-9' },
  receivedAt: T0,
  createdAt: T0,
  updatedAt: T0 + MIN,
  attempts: 1,
  reason: 'capture refused',
  gatewayReference: 'PSP-CAP-1',
  ...overrides,
});

const adjustment = (overrides: Partial<AdjustmentRecord> = {}): AdjustmentRecord => ({
  id: 'adj_late',
  operationId: 'op-cap-1',
  gateway: 'adyen',
  kind: 'succeeded_after_failure',
  direction: 'credit',
  amount: 4000,
  currency: 'EUR',
  pspReference: 'PSP-CAP-1',
  pspEventId: 'evt-1',
  occurredAt: T0 + 5 * MIN,
  source: 'webhook',
  recordedAt: T0 + 6 * MIN,
  ...overrides,
});

describe('the operator detail of one operation', () => {
  it('shows a FAILED capture the PSP did after all as such: a state note, the mark with its time, source and money, and the adjustment', () => {
    const d = operationDetail(
      {
        record: record({ succeededAfterFailure: { by: 'adj_late', amount: 4000, currency: 'EUR' } }),
        adjustments: [adjustment()],
        history: [{ at: T0 + 6 * MIN, event: 'adjustment', adjustment_id: 'adj_late', kind: 'succeeded_after_failure' }],
      },
      T0 + 10 * MIN,
    );
    expect(d.operation).toMatchObject({ state: 'FAILED', stateNote: 'done at the PSP after all (40.00 EUR)' });
    expect(d.marks).toEqual([
      {
        kind: 'succeeded_after_failure',
        at: T0 + 5 * MIN,
        source: 'webhook (adyen)',
        text: 'recorded FAILED, the PSP did it after all: 40.00 EUR confirmed; it counts as moved money',
        ref: 'adj_late',
        amount: 4000,
        currency: 'EUR',
      },
    ]);
    expect(d.adjustments).toEqual([expect.objectContaining({ id: 'adj_late', kind: 'succeeded_after_failure', source: 'webhook', recordedAt: T0 + 6 * MIN })]);
    expect(d.history.map((h) => h.event)).toEqual(['adjustment']);
    // The PSP's word came with the adjustment, not with an outcome: it is what "the PSP says".
    expect(d.psp).toMatchObject({
      latest: 'did it after all',
      confirmed: { amount: 4000, currency: 'EUR' },
      confirmedBy: 'adj_late',
      asked: { amount: 5000, currency: 'EUR' },
      discrepancy: 'amount_mismatch',
      succeededAt: T0 + 5 * MIN,
    });
  });

  it('shows a FAILED capture the PSP retries itself (held_for_psp_retry) as holding its amount, until the PSP did it after all', () => {
    const reason = 'Capture rejected by card scheme because of a technical issue.';
    const d = operationDetail({ record: record({ reason, heldForPspRetry: reason }), adjustments: [], history: [] }, T0 + 10 * MIN);
    expect(d.marks).toEqual([
      {
        kind: 'held_for_psp_retry',
        at: T0 + MIN,
        source: 'delivery',
        text: `failed, but the PSP retries it itself (${reason}): its amount stays held against the authorization, a second capture of it is refused`,
        amount: 5000,
        currency: 'EUR',
      },
    ]);
    expect(detailText(d)).toContain('held_for_psp_retry');
    const recaptured = operationDetail(
      {
        record: record({ reason, heldForPspRetry: reason, succeededAfterFailure: { by: 'adj_late', amount: 5000, currency: 'EUR' } }),
        adjustments: [adjustment({ amount: 5000 })],
        history: [],
      },
      T0 + 10 * MIN,
    );
    expect(recaptured.marks.map((m) => m.kind)).toEqual(['succeeded_after_failure']);
  });

  it('shows a capture released from its hold for the PSP retry by an operator: who, when, why, its amount no longer held', () => {
    const released = { event: 'held_for_psp_retry_released', by: 'alice@ops-host', reason: 'Adyen Support case 12345', at: T0 + 5 * MIN };
    const d = operationDetail({ record: record({ reason: 'technical issue' }), adjustments: [], history: [released] }, T0 + 10 * MIN);
    expect(d.marks).toEqual([
      {
        kind: 'held_for_psp_retry_released',
        at: T0 + 5 * MIN,
        source: 'operator',
        text: "held for the PSP's retry, released by alice@ops-host (Adyen Support case 12345): its amount is no longer held",
        amount: 5000,
        currency: 'EUR',
      },
    ]);
    expect(detailText(d)).toContain('released by alice@ops-host');
  });

  it('says a FAILED one done after all that the PSP then undid, and a success the PSP undid (by a fact, or by our own void)', () => {
    const failedAgain = adjustment({
      id: 'adj_fail',
      kind: 'capture_failed',
      direction: 'debit',
      occurredAt: T0 + 8 * MIN,
      recordedAt: T0 + 9 * MIN,
      source: 'reconciliation',
    });
    const both = operationDetail({
      record: record({ succeededAfterFailure: { by: 'adj_late' }, undoneBy: 'adj_fail' }),
      adjustments: [adjustment({ amount: undefined, currency: undefined }), failedAgain],
      history: [],
    });
    expect(both.operation.stateNote).toBe('done at the PSP after all, then undone');
    expect(both.psp.latest).toBe('did it after all, then undid it');
    expect(both.marks.map((m) => [m.kind, m.at, m.source])).toEqual([
      ['succeeded_after_failure', T0 + 5 * MIN, 'webhook (adyen)'],
      ['undone', T0 + 8 * MIN, 'reconciliation (adyen)'],
    ]);

    const refund = operationDetail({
      record: record({ command: 'refund', state: 'SUCCEEDED', undoneBy: 'adj_rf' }),
      adjustments: [adjustment({ id: 'adj_rf', kind: 'refund_failed', direction: 'credit' })],
      history: [],
    });
    expect(refund.operation.stateNote).toBe('undone by the PSP since');
    expect(refund.marks[0]).toMatchObject({ kind: 'undone', ref: 'adj_rf', text: expect.stringContaining('refund_failed') });

    const voided = operationDetail({
      record: record({ state: 'SUCCEEDED', undoneBy: '_op-cap-1.void' }),
      adjustments: [],
      history: [{ at: T0 + 3 * MIN, event: 'undone', by: '_op-cap-1.void', kind: 'void' }],
    });
    expect(voided.marks).toEqual([expect.objectContaining({ kind: 'undone', at: T0 + 3 * MIN, source: 'void', ref: '_op-cap-1.void' })]);
  });

  it('puts what the PSP confirmed next to what was asked, with the discrepancy and the PSP time of the success', () => {
    const d = operationDetail({
      record: record({
        state: 'SUCCEEDED',
        reason: undefined,
        confirmedAmount: 4500,
        confirmedCurrency: 'eur',
        pspSucceededAt: T0 + 2 * MIN,
        gatewayStatus: 'Authorised',
      }),
      adjustments: [],
      history: [],
    });
    expect(d.psp).toEqual({
      gateway: 'adyen',
      latest: 'succeeded',
      reference: 'PSP-CAP-1',
      status: 'Authorised',
      confirmed: { amount: 4500, currency: 'EUR' },
      asked: { amount: 5000, currency: 'EUR' },
      requested: { amount: 5000, currency: 'EUR' },
      discrepancy: 'amount_mismatch',
      succeededAt: T0 + 2 * MIN,
    });
    expect(d.operation).toMatchObject({ amount: 4500, currency: 'EUR' });
    expect(d.operation.stateNote).toBeUndefined();
  });

  it('never labels the asked amount with a currency the PSP named without an amount', () => {
    const d = operationDetail({ record: record({ state: 'SUCCEEDED', confirmedCurrency: 'USD' }), adjustments: [], history: [] });
    expect(d.operation).toMatchObject({ amount: 5000, currency: 'EUR' });
    expect(d.psp).toMatchObject({ confirmedCurrencyOnly: 'USD', discrepancy: 'currency_mismatch' });
    expect(d.psp.confirmed).toBeUndefined();
  });

  it('shows where a failed-over operation went, each failover step, the closer of an authorization, orphan reversals and the hash marks, oldest first', () => {
    const d = operationDetail({
      record: record({
        command: 'authorize',
        state: 'SUCCEEDED',
        reason: undefined,
        closedBy: 'op-cancel-1',
        routing: {
          gateway: 'adyen',
          requested: 'stripe',
          candidates: ['stripe', 'adyen'],
          index: 1,
          decisions: [],
          failovers: [{ from: 'stripe', to: 'adyen', trigger: 'breaker_open', at: T0 + 1000 }],
        },
        payment: { gateway: 'stripe', gateway_account: 'acct-1', gateway_key: 'tok', amount: 5000, currency: 'EUR' },
      }),
      adjustments: [],
      history: [
        {
          at: T0 + 20 * MIN,
          event: 'orphan_reversal',
          outcome: 'voided',
          mode: 'on',
          reason: 'uncaptured',
          reversal: 'void',
          reversal_operation_id: '_op-cap-1.void',
          amount: 5000,
          currency: 'EUR',
        },
      ],
      hashMarks: { orphan_dry_run_at: String(T0 + 10 * MIN) },
      closer: { id: 'op-cancel-1', command: 'cancel', state: 'SUCCEEDED', updatedAt: T0 + 30 * MIN },
    });
    expect(d.operation.gateway).toBe('adyen');
    expect(d.psp).toMatchObject({ gateway: 'adyen', requestedGateway: 'stripe' });
    expect(d.marks.map((m) => [m.kind, m.at, m.source])).toEqual([
      ['failover', T0 + 1000, 'orchestration'],
      ['orphan_dry_run', T0 + 10 * MIN, 'poller'],
      ['orphan_reversal', T0 + 20 * MIN, 'poller'],
      ['closed_by', T0 + 30 * MIN, 'ledger'],
    ]);
    expect(d.marks[0].text).toBe('failed over from stripe to adyen (breaker_open)');
    expect(d.marks[2]).toMatchObject({ ref: '_op-cap-1.void', amount: 5000, currency: 'EUR', text: expect.stringContaining('voided') });
    expect(d.marks[3].text).toContain('cancel op-cancel-1 (SUCCEEDED)');
  });

  it("says what a Cybersource cancel did (the capture it voided and the hold's fate, or the remainder it released)", () => {
    const voided = operationDetail({
      record: record({ command: 'cancel', state: 'SUCCEEDED', cancelEffect: { voided: 'op-cap-1', command: 'capture', hold: 'left' }, pspSucceededAt: T0 }),
      adjustments: [],
      history: [],
    });
    expect(voided.marks).toEqual([
      expect.objectContaining({ kind: 'cancel_effect', at: T0, ref: 'op-cap-1', text: 'the cancel voided capture op-cap-1; the hold stays until it expires' }),
    ]);
    const remainder = operationDetail({
      record: record({ command: 'cancel', state: 'SUCCEEDED', cancelEffect: { released: 'remainder', amount: 1500, currency: 'USD' } }),
      adjustments: [],
      history: [],
    });
    expect(remainder.marks[0]).toMatchObject({ kind: 'cancel_effect', amount: 1500, currency: 'USD' });
    expect(remainder.psp.asked).toEqual({ amount: 1500, currency: 'USD' });
  });

  it('shows no card number, whatever the stores hold (a PSP reason, a history entry, a reference, a mark)', () => {
    const d = operationDetail({
      record: record({ succeededAfterFailure: { by: 'adj_late' }, reason: `declined ${TEST_PANS[0]}`, gatewayReference: TEST_PANS[1] }),
      adjustments: [adjustment({ reason: `card ${TEST_PANS[2]}`, pspReference: TEST_PANS[3] })],
      history: [
        { at: T0, event: 'gateway_response', excerpt: `card ${TEST_PANS[4]}`, request: { card: { number: TEST_PANS[0], cvc: '7391' } } },
        { at: T0 + MIN, event: 'orphan_reversal', outcome: 'voided', reason: `uncaptured ${TEST_PANS[1]}` },
      ],
    });
    const text = JSON.stringify(d);
    for (const pan of TEST_PANS) expect(text).not.toContain(pan);
    expect(text).not.toContain('7391');
    expect(d.marks.map((m) => m.kind)).toEqual(['orphan_reversal', 'succeeded_after_failure']);
  });

  it("masks the command's gateway (OMS text), an adjustment's id and a token-named history field, as every other shown string", () => {
    const d = operationDetail({
      record: record({
        payment: { gateway: `gw ${TEST_PANS[0]}`, gateway_account: 'acct-1', gateway_key: 'PSP-AUTH-1', amount: 5000, currency: 'EUR' },
        routing: { gateway: 'adyen', failovers: [] } as unknown as OperationRecord['routing'],
        succeededAfterFailure: { by: TEST_PANS[1] },
      }),
      adjustments: [adjustment({ id: TEST_PANS[1] })],
      history: [{ at: T0, event: 'stored_token', token: 'pm_card_secret_1', stored_token: 'tok_2', newGatewayKey: 'rec_3', outcome: 'sent' }],
    });
    const text = JSON.stringify(d) + detailText(d) + lookupPage({ base: '/console' }, 'op-cap-1', [d]);
    for (const secret of [TEST_PANS[0], TEST_PANS[1], 'pm_card_secret_1', 'tok_2', 'rec_3']) expect(text).not.toContain(secret);
    expect(d.history[0]).toMatchObject({ event: 'stored_token', outcome: 'sent' });
  });

  it('renders in ops show and the console whatever time a record, a mark or a history entry holds (missing, not a number, past any date)', () => {
    const d = operationDetail({
      record: record(),
      adjustments: [],
      history: [{ event: 'note' } as unknown as { at: number; event: string }, { at: 'soon' as unknown as number, event: 'note' }],
      hashMarks: { held_since: '1e300', parked_at: String(9e15) },
    });
    expect(d.marks.map((m) => m.kind).sort()).toEqual(['held_for_config', 'parked']);
    const cli = detailText(d);
    const page = lookupPage({ base: '/console' }, 'op-cap-1', [d]);
    expect(cli).toContain('held_for_config');
    expect(cli).toContain('time unreadable');
    expect(page).toContain('data-mark="parked"');
    expect(page).toContain('time unreadable');
  });

  it('says a figure in a currency of no known exponent is in minor units, on the console as in ops show', () => {
    const d = operationDetail({
      record: record({ payment: { gateway: 'adyen', gateway_account: 'acct-1', gateway_key: 'PSP-AUTH-1', amount: 5000, currency: 'ZZZ' } }),
      adjustments: [],
      history: [],
    });
    expect(detailText(d)).toContain('5000 (minor units) ZZZ');
    const page = lookupPage({ base: '/console' }, 'op-cap-1', [d]);
    expect(page).toContain('5000 (minor units) ZZZ');
    expect(page).not.toMatch(/>5000 ZZZ</);
  });

  it('shows a late refund fact that left the payment refunded beyond captured as a mark naming it, in ops show and the console', () => {
    const beyond = { capturedAmount: 0, refundedAmount: 2000, excessAmount: 2000, currency: 'EUR' };
    const d = operationDetail({
      record: record({ command: 'refund', succeededAfterFailure: { by: 'adj_late', amount: 2000, currency: 'EUR' } }),
      adjustments: [adjustment({ direction: 'debit', amount: 2000, refundedBeyondCaptured: beyond })],
      history: [],
    });
    expect(d.marks.find((m) => m.kind === 'refunded_beyond_captured')).toEqual({
      kind: 'refunded_beyond_captured',
      at: T0 + 6 * MIN,
      source: 'webhook (adyen)',
      text: 'refunded beyond captured after this succeeded_after_failure: 20.00 EUR refunded, 0.00 EUR captured standing; 20.00 EUR given back twice, contact the PSP',
      ref: 'adj_late',
      amount: 2000,
      currency: 'EUR',
    });
    expect(d.adjustments[0].refundedBeyondCaptured).toEqual(beyond);
    expect(detailText(d)).toContain('refunded_beyond_captured');
    expect(lookupPage({ base: '/console' }, 'op-cap-1', [d])).toContain('data-mark="refunded_beyond_captured"');
  });

  it('shows a late refund fact read undecided (only a capture in flight would cover the refunds) as a mark of its own, no alarm figures', () => {
    const d = operationDetail({
      record: record({ command: 'refund', succeededAfterFailure: { by: 'adj_late', amount: 2000, currency: 'EUR' } }),
      adjustments: [adjustment({ direction: 'debit', amount: 2000, refundedBeyondUndecided: true })],
      history: [],
    });
    expect(d.marks.find((m) => m.kind === 'refunded_beyond_captured')).toBeUndefined();
    expect(d.marks.find((m) => m.kind === 'refunded_beyond_undecided')).toMatchObject({
      kind: 'refunded_beyond_undecided',
      at: T0 + 6 * MIN,
      ref: 'adj_late',
      text: expect.stringContaining('capture in flight'),
    });
    expect(d.adjustments[0].refundedBeyondUndecided).toBe(true);
    expect(d.adjustments[0]).not.toHaveProperty('refundedBeyondCaptured');
    expect(lookupPage({ base: '/console' }, 'op-cap-1', [d])).toContain('data-mark="refunded_beyond_undecided"');
  });

  it('shows a capture whose FAILED re-read found refunds beyond captured as a mark with the figures, naming the undecided adjustment', () => {
    const figures = { capturedAmount: 3000, refundedAmount: 4000, excessAmount: 1000, currency: 'EUR' };
    const d = operationDetail({
      record: record(),
      adjustments: [],
      history: [],
      hashMarks: { refunds_undecided_by: 'adj_undecided', refunds_reread: JSON.stringify(figures) },
    });
    expect(d.marks.find((m) => m.kind === 'refunds_reread_beyond')).toEqual({
      kind: 'refunds_reread_beyond',
      at: T0 + MIN,
      source: 'delivery',
      text: expect.stringContaining('40.00 EUR refunded, 30.00 EUR captured standing; 10.00 EUR given back twice'),
      ref: 'adj_undecided',
      amount: 1000,
      currency: 'EUR',
    });
    expect(d.marks.find((m) => m.kind === 'refunds_undecided_capture')).toBeUndefined();
    expect(detailText(d)).toContain('refunds_reread_beyond');
    expect(lookupPage({ base: '/console' }, 'op-cap-1', [d])).toContain('data-mark="refunds_reread_beyond"');
  });

  it('shows a capture whose FAILED re-read found the refunds fit as a neutral line naming the undecided adjustment, no alarm mark', () => {
    const d = operationDetail({
      record: record(),
      adjustments: [],
      history: [],
      hashMarks: { refunds_undecided_by: 'adj_undecided', refunds_reread: 'fit' },
    });
    expect(d.marks.find((m) => m.kind === 'refunds_reread_beyond')).toBeUndefined();
    const mark = d.marks.find((m) => m.kind === 'refunds_undecided_capture');
    expect(mark).toMatchObject({ source: 'delivery', ref: 'adj_undecided', text: expect.stringContaining('the refunds fit what stands captured') });
    expect(mark).not.toHaveProperty('amount');
    expect(lookupPage({ base: '/console' }, 'op-cap-1', [d])).toContain('data-mark="refunds_undecided_capture"');
  });

  it('shows a capture still in flight that an undecided reading counted as a neutral line: its failure for good reads the payment again', () => {
    const d = operationDetail({ record: record({ state: 'PENDING' }), adjustments: [], history: [], hashMarks: { refunds_undecided_by: 'adj_undecided' } });
    expect(d.marks.find((m) => m.kind === 'refunds_undecided_capture')).toMatchObject({ ref: 'adj_undecided', text: expect.stringContaining('read again') });
  });

  it('ignores a garbled re-read: parsed as nothing, no alarm mark and no claim that the refunds fit', () => {
    for (const garbled of [
      '',
      'maybe',
      '{not json',
      'null',
      '[]',
      '{"capturedAmount":"3000","refundedAmount":4000,"excessAmount":1000,"currency":"EUR"}',
      '{"capturedAmount":1.5,"refundedAmount":4000,"excessAmount":1000,"currency":"EUR"}',
    ]) {
      expect(parseRefundsReread(garbled)).toBeUndefined();
      const d = operationDetail({
        record: record(),
        adjustments: [],
        history: [],
        hashMarks: { refunds_undecided_by: 'adj_undecided', refunds_reread: garbled },
      });
      expect(d.marks.find((m) => m.kind === 'refunds_reread_beyond')).toBeUndefined();
      expect(d.marks.find((m) => m.kind === 'refunds_undecided_capture')?.text).not.toContain('fit');
    }
    expect(parseRefundsReread('fit')).toEqual({ kind: 'fit' });
    expect(parseRefundsReread('undecided')).toEqual({ kind: 'undecided' });
    // A re-read without the mark it follows (a hand-edited hash), or an empty mark: nothing shown.
    expect(operationDetail({ record: record(), adjustments: [], history: [], hashMarks: { refunds_reread: 'fit' } }).marks).toEqual([]);
    expect(operationDetail({ record: record(), adjustments: [], history: [], hashMarks: { refunds_undecided_by: '' } }).marks).toEqual([]);
  });

  it('shows a cancel whose void, recorded after refunds were counted, left the payment refunded beyond captured: a mark with the figures, naming what it voided', () => {
    const figures = { capturedAmount: 0, refundedAmount: 2000, excessAmount: 2000, currency: 'EUR' };
    const cancel = record({
      id: 'op-can-1',
      command: 'cancel',
      state: 'SUCCEEDED',
      reason: undefined,
      cancelEffect: { voided: 'op-cap-1', command: 'capture', hold: 'left' },
    });
    const d = operationDetail({ record: cancel, adjustments: [], history: [], hashMarks: { refunds_reread_after_void: JSON.stringify(figures) } });
    expect(d.marks.find((m) => m.kind === 'refunded_beyond_after_void')).toEqual({
      kind: 'refunded_beyond_after_void',
      at: T0 + MIN,
      source: 'delivery',
      text: expect.stringContaining(
        'of op-cap-1, recorded after refunds of the payment were counted, lowered what stands captured: 20.00 EUR refunded, 0.00 EUR captured standing; 20.00 EUR given back twice',
      ),
      ref: 'op-cap-1',
      amount: 2000,
      currency: 'EUR',
    });
    expect(detailText(d)).toContain('refunded_beyond_after_void');
    expect(lookupPage({ base: '/console' }, 'op-can-1', [d])).toContain('data-mark="refunded_beyond_after_void"');
    // Fit, undecided or garbled: no alarm was raised, no mark.
    for (const kept of ['fit', 'undecided', '{not json']) {
      expect(
        operationDetail({ record: cancel, adjustments: [], history: [], hashMarks: { refunds_reread_after_void: kept } }).marks.map((m) => m.kind),
      ).not.toContain('refunded_beyond_after_void');
    }
  });

  it('shows a capture whose refunded-beyond alarm no longer holds (the PSP did it after all) as a mark naming that success; garbled: nothing', () => {
    const stored = JSON.stringify({ by: 'adj_saf', reading: 'fit', withdrawn: ['refunds_reread', 'adj_cf'], at: T0 + 9 * MIN });
    const d = operationDetail({ record: record(), adjustments: [], history: [], hashMarks: { refunds_alarm_withdrawn: stored } });
    expect(d.marks.find((m) => m.kind === 'refunded_beyond_withdrawn')).toEqual({
      kind: 'refunded_beyond_withdrawn',
      at: T0 + 9 * MIN,
      source: 'delivery',
      text: expect.stringContaining(
        '(its FAILED re-read, capture_failed adj_cf) no longer holds; the payment read again: the refunds fit what stands captured',
      ),
      ref: 'adj_saf',
    });
    expect(lookupPage({ base: '/console' }, 'op-cap-1', [d])).toContain('data-mark="refunded_beyond_withdrawn"');
    for (const garbled of ['', '{not json', 'null', '{"by":"adj_saf","reading":"maybe"}']) {
      expect(operationDetail({ record: record(), adjustments: [], history: [], hashMarks: { refunds_alarm_withdrawn: garbled } }).marks).toEqual([]);
    }
  });
});
