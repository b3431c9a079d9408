import { PaymentCommand } from '../../../src/contracts/payment-command';
import {
  OperationRecord,
  afterTransition,
  decodeRecord,
  decodeRecordPairs,
  draftRecord,
  encodeRecord,
  encodeTransitionFields,
  hashFromPairs,
} from '../../../src/ledger/record-fields';

const command: PaymentCommand = {
  version: 1,
  command: 'authorize',
  channel: 'web',
  sequence: 7,
  received_at: '2024-06-01T10:00:00.000Z',
  payment: { gateway: 'simulator', gateway_account: 'acme-eu', gateway_key: 'pm_card_visa', amount: 1999, currency: 'EUR', order_id: 'ORD-1' },
};

describe('the one table of record fields', () => {
  const full: OperationRecord = {
    ...draftRecord('op-1', command, 1_000),
    state: 'FAILED',
    attempts: 2,
    reason: 'DECLINED',
    gatewayReference: 'psp-1',
    newGatewayKey: 'key-2',
    gatewayStatus: 'declined',
    decline: { category: 'do_not_honor', gateway_code: 'do_not_honor', customer_message: 'Declined.', suggested_action: 'use_another_method' },
    nextCheckAt: 5_000,
    pollStep: 1,
    expiresAt: 9_000,
    orphanAt: 10_000,
    closedBy: 'op-2',
    reasonField: 'payment.currency',
    confirmedAmount: 1500,
    confirmedCurrency: 'EUR',
    pspSucceededAt: 4_000,
    pspResponseMs: 87,
    digest: 'd1',
  };

  it('writes every field under its snake_case hash name and reads the same record back', () => {
    const hash = hashFromPairs(encodeRecord(full));
    expect(hash).toMatchObject({
      id: 'op-1',
      received_at: String(Date.parse(command.received_at)),
      gateway_reference: 'psp-1',
      next_check_at: '5000',
      closed_by: 'op-2',
      confirmed_amount: '1500',
      psp_succeeded_at: '4000',
      psp_response_ms: '87',
      sequence: '7',
    });
    expect(JSON.parse(hash.payment)).toEqual(command.payment);
    expect(decodeRecord(hash)).toEqual(full);
  });

  it('uses the payment the caller holds instead of parsing the stored one, and counts a missing attempts field as 0', () => {
    const hash = hashFromPairs(encodeRecord({ ...full, attempts: undefined as unknown as number }));
    const held = { ...command.payment };
    const record = decodeRecord({ ...hash, payment: 'not json' }, held);
    expect(record.payment).toBe(held);
    expect(record.attempts).toBe(0);
  });

  it('reads a record from the flat pair list as from its hash (last value of a repeated name wins), every field present in one order', () => {
    const pairs = encodeRecord(full);
    expect(decodeRecordPairs(pairs)).toEqual(decodeRecord(hashFromPairs(pairs)));
    expect(decodeRecordPairs(pairs)).toEqual(full);
    const held = { ...command.payment };
    const twice = decodeRecordPairs([...pairs, 'state', 'SUCCEEDED', 'payment', 'not json'], held);
    expect(twice.state).toBe('SUCCEEDED');
    expect(twice.payment).toBe(held);
    // Same keys in the same order whatever was stored: one shape for every record.
    const sparse = decodeRecordPairs(['id', 'op-9', 'state', 'SENT']);
    expect(Object.keys(sparse)).toEqual(Object.keys(decodeRecord(hash0(full))));
    expect(Object.keys(decodeRecord({ id: 'x', state: 'SENT' }))).toEqual(Object.keys(sparse));
    expect(sparse.attempts).toBe(0);
  });

  it('drops an unreadable stored decline rather than failing the read', () => {
    const hash = hashFromPairs(encodeRecord(full));
    expect(decodeRecord({ ...hash, decline: '{not json' }).decline).toBeUndefined();
  });

  it('reads the success-after-failure mark the adjustment store writes (JSON), and drops one that does not read as a mark', () => {
    const hash = hashFromPairs(encodeRecord(full));
    const stored = { ...hash, succeeded_after_failure: JSON.stringify({ by: 'adj_1', amount: 800, currency: 'EUR' }) };
    expect(decodeRecord(stored).succeededAfterFailure).toEqual({ by: 'adj_1', amount: 800, currency: 'EUR' });
    expect(decodeRecord({ ...hash, succeeded_after_failure: JSON.stringify({ by: 'adj_1' }) }).succeededAfterFailure).toEqual({ by: 'adj_1' });
    expect(decodeRecord({ ...hash, succeeded_after_failure: '{not json' }).succeededAfterFailure).toBeUndefined();
    expect(decodeRecord({ ...hash, succeeded_after_failure: '{"amount":800}' }).succeededAfterFailure).toBeUndefined();
  });

  it("writes a refused void's captured_at_psp (what the PSP stated captured) with its failure and reads it back checked", () => {
    const hash = hashFromPairs(encodeTransitionFields({ capturedAtPsp: { amount: 1200, currency: 'EUR' } }));
    expect(hash).toEqual({ captured_at_psp: JSON.stringify({ amount: 1200, currency: 'EUR' }) });
    const base = hashFromPairs(encodeRecord(full));
    expect(decodeRecord({ ...base, ...hash }).capturedAtPsp).toEqual({ amount: 1200, currency: 'EUR' });
    // Stated no amount, or an unreadable one: the refusal stands, with no amount to size a refund on.
    expect(decodeRecord({ ...base, captured_at_psp: '{}' }).capturedAtPsp).toEqual({});
    expect(decodeRecord({ ...base, captured_at_psp: JSON.stringify({ amount: 12.5, currency: 'EUR' }) }).capturedAtPsp).toEqual({});
    expect(decodeRecord({ ...base, captured_at_psp: '{not json' }).capturedAtPsp).toBeUndefined();
  });

  it('a transition writes only the fields it sets, plus the authorization a closing command names', () => {
    expect(hashFromPairs(encodeTransitionFields({ reason: 'r', pollStep: 0, countAttempt: true }))).toEqual({ reason: 'r', poll_step: '0' });
    expect(hashFromPairs(encodeTransitionFields({ closesAuthorization: { gateway: 'stripe', key: 'pi_1' } }))).toEqual({
      authorization_key: 'pi_1',
      authorization_ref: 'stripe:pi_1',
    });
  });

  it('afterTransition keeps what the transition leaves undefined and counts the attempt', () => {
    const before = draftRecord('op-3', command, 1_000);
    const after = afterTransition(
      { ...before, reason: 'old', gatewayStatus: 'x' },
      'SUCCEEDED',
      { reason: 'new', confirmedAmount: 1999, countAttempt: true },
      2_000,
    );
    expect(after).toMatchObject({ state: 'SUCCEEDED', updatedAt: 2_000, attempts: 1, reason: 'new', gatewayStatus: 'x', confirmedAmount: 1999 });
  });
});

/** The hash a record is written as. */
function hash0(record: OperationRecord): Record<string, string> {
  return hashFromPairs(encodeRecord(record));
}
