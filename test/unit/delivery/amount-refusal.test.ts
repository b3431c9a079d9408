import {
  amountRefusal,
  asDoneAtPsp,
  capturesInFlight,
  capturesNotYetDelivered,
  refundsInFlight,
  refundedOutsideBridge,
  refundsOfCaptured,
  leftToRefund,
  siblingsAhead,
  voidsAhead,
} from '../../../src/delivery/operation-context';
import { DependentSummary, OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { parseRate } from '../../../src/fx/exact-rate';
import { lockAt, lockDetails } from '../../../src/fx/fx-lock';
import { channelCommand } from '../../support/fixtures';

function op(command: OperationRecord['command'], amount: number, extra: Partial<OperationRecord> = {}): OperationRecord {
  const c = channelCommand(command, {}, { amount });
  return { ...draftRecord(c.payment.operation_reference!, c, 0), ...extra };
}

describe('amountRefusal: a refund against what was captured', () => {
  it('refuses a refund above the registered successful captures', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED', closedBy: 'cap-1' });
    const captured: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 3000, registered: 0 }];
    expect(amountRefusal(op('refund', 3500), auth, captured)).toMatchObject({ fail: 'amount_exceeds_captured', field: 'payment.amount' });
    expect(amountRefusal(op('refund', 3000), auth, captured)).toBeNull();
  });

  it('lets a refund give back what the PSP stated captured when it refused a cancel of the authorization as captured (a capture made at the PSP), never more', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED' });
    const refusedVoid: DependentSummary[] = [{ id: 'can-1', command: 'cancel', state: 'FAILED', amount: 5000, registered: 1, capturedAtPsp: 3000 }];
    expect(amountRefusal(op('refund', 3000), auth, refusedVoid)).toBeNull();
    expect(amountRefusal(op('refund', 3001), auth, refusedVoid)).toMatchObject({
      fail: 'amount_exceeds_captured',
      detail: { captured: 3000, refundable: 3000 },
    });
    // Our own captures are part of what the PSP states captured: the larger figure counts, never their sum.
    const both: DependentSummary[] = [...refusedVoid, { id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 2000, registered: 2 }];
    expect(amountRefusal(op('refund', 3001), auth, both)).toMatchObject({ fail: 'amount_exceeds_captured', detail: { captured: 3000 } });
  });

  it('does not count a refund the PSP undid after it succeeded (failed at the scheme, or reversed): its amount is refundable again', () => {
    const sale = op('sale', 5000, { state: 'SUCCEEDED' });
    const refunds: DependentSummary[] = [
      { id: 'ref-1', command: 'refund', state: 'SUCCEEDED', amount: 3000, registered: 1, undone: true },
      { id: 'ref-2', command: 'refund', state: 'SUCCEEDED', amount: 1000, registered: 2 },
    ];
    expect(amountRefusal(op('refund', 4000), sale, refunds)).toBeNull();
    expect(amountRefusal(op('refund', 4001), sale, refunds)).toMatchObject({ fail: 'amount_exceeds_captured', detail: { refunded: 1000, refundable: 4000 } });
  });

  it('does not count a capture the PSP undid after it succeeded (capture_failed) as money to refund, yet still counts it against the authorization for another capture', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED', closedBy: 'cap-1' });
    const captures: DependentSummary[] = [
      { id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 3000, registered: 1, undone: true },
      { id: 'cap-2', command: 'capture', state: 'SUCCEEDED', amount: 1000, registered: 2 },
    ];
    expect(amountRefusal(op('refund', 1000), auth, captures)).toBeNull();
    expect(amountRefusal(op('refund', 1001), auth, captures)).toMatchObject({
      fail: 'amount_exceeds_captured',
      detail: { captured: 1000, captured_undone: 3000, refundable: 1000 },
    });
    expect(amountRefusal(op('capture', 1000), auth, captures)).toBeNull();
    // Above what is left only because of the capture the PSP failed (which it may re-capture itself): said so, naming it.
    expect(amountRefusal(op('capture', 1001), auth, captures)).toMatchObject({
      fail: 'amount_held_by_failed_capture',
      field: 'payment.amount',
      detail: { remaining: 1000, captured_undone: 3000, failed_capture_ids: 'cap-1' },
    });
    expect(amountRefusal(op('capture', 4000), auth, captures)).toMatchObject({ fail: 'amount_held_by_failed_capture' });
    // Above the authorization even without it: the request's own amount is at fault.
    expect(amountRefusal(op('capture', 4001), auth, captures)).toMatchObject({ fail: 'amount_exceeds_authorized', detail: { remaining: 1000 } });
  });

  it('has nothing to refund of a sale whose capture the PSP failed after it succeeded (undoneBy)', () => {
    const sale = op('sale', 5000, { state: 'SUCCEEDED', undoneBy: 'adj_1' });
    expect(amountRefusal(op('refund', 1), sale, [])).toMatchObject({ fail: 'amount_exceeds_captured', detail: { refundable: 0, captured_undone: 5000 } });
  });

  it('refuses a refund of an authorization nothing captured and nothing closed', () => {
    expect(amountRefusal(op('refund', 100), op('authorize', 5000, { state: 'SUCCEEDED' }), [])).toMatchObject({ fail: 'amount_exceeds_captured' });
  });

  it('leaves a refund to the PSP when the authorization was closed by an operation never registered as its dependent (what was captured is unknown)', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED', closedBy: 'cap-unregistered' });
    expect(amountRefusal(op('refund', 3000), auth, [])).toBeNull();
  });

  it('leaves a refund to the PSP when a registered cancel closed the authorization (an unregistered capture may have come before it)', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED', closedBy: 'cancel-1' });
    const cancelled: DependentSummary[] = [{ id: 'cancel-1', command: 'cancel', state: 'SUCCEEDED', amount: 5000, registered: 1 }];
    expect(amountRefusal(op('refund', 3000), auth, cancelled)).toBeNull();
  });
});

describe('amountRefusal: a capture a void undid (Cybersource, a cancel naming it)', () => {
  it('keeps a voided capture claimed of its authorization (no capture of those funds after a void), and nothing of it refundable', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED', closedBy: 'cap-1' });
    const captures: DependentSummary[] = [
      { id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 3000, registered: 1, undone: true },
      { id: 'cap-2', command: 'capture', state: 'SUCCEEDED', amount: 1000, registered: 2 },
    ];
    expect(amountRefusal(op('capture', 1000), auth, captures)).toBeNull();
    expect(amountRefusal(op('capture', 1001), auth, captures)).toMatchObject({ fail: 'amount_held_by_failed_capture', detail: { remaining: 1000 } });
    expect(amountRefusal(op('refund', 1001), auth, captures)).toMatchObject({ fail: 'amount_exceeds_captured', detail: { captured: 1000 } });
  });
});

describe('amountRefusal: what the PSP refunded outside the bridge (refund_outside_bridge) is money gone back already', () => {
  /** An adjustment as the ledger returns it for OUTSIDE_REFUND_FIELDS: kind, amount, currency, psp_reference. */
  const adj = (id: string, kind: string, amount: string | null, currency: string | null, reference: string | null) => ({
    id,
    fields: [kind, amount, currency, reference],
  });

  it('counts each outside refund of the payment in its currency, not one the PSP failed or reversed after, and nothing of another kind', () => {
    const sale = op('sale', 5000, { state: 'SUCCEEDED' });
    const currency = sale.payment.currency;
    const recorded = [
      adj('a1', 'refund_outside_bridge', '1500', currency, 'RE-1'),
      adj('a2', 'refund_outside_bridge', '700', currency.toLowerCase(), 'RE-2'),
      // The PSP failed RE-2 after it succeeded: the shopper got nothing of it.
      adj('a3', 'refund_failed', '700', currency, 'RE-2'),
      // A chargeback is not a refund: the existing check never counted it.
      adj('a4', 'chargeback', '900', currency, 'DSP-1'),
      // No amount stated, or another currency: cannot be counted.
      adj('a5', 'refund_outside_bridge', null, currency, 'RE-3'),
      adj('a6', 'refund_outside_bridge', '100', 'JPY', 'RE-4'),
    ];
    expect(refundedOutsideBridge(sale, recorded)).toBe(1500);
    expect(refundedOutsideBridge(sale, [...recorded, adj('a7', 'refund_reversed', '1500', currency, 'RE-1')])).toBe(0);
  });

  it('refuses a refund of ours above what was captured less our refunds less the outside refunds, naming payment.amount', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED', closedBy: 'cap-1' });
    const deps: DependentSummary[] = [
      { id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 5000, registered: 1 },
      { id: 'ref-1', command: 'refund', state: 'SUCCEEDED', amount: 1000, registered: 2 },
    ];
    expect(amountRefusal(op('refund', 2500), auth, deps, false, 1500)).toBeNull();
    expect(amountRefusal(op('refund', 2501), auth, deps, false, 1500)).toMatchObject({
      fail: 'amount_exceeds_captured',
      field: 'payment.amount',
      detail: { captured: 5000, refunded: 1000, refunded_outside_bridge: 1500, refundable: 2500 },
    });
    // A sale refunded in full in the PSP's back office has nothing left to refund.
    expect(amountRefusal(op('refund', 1), op('sale', 5000, { state: 'SUCCEEDED' }), [], false, 5000)).toMatchObject({
      fail: 'amount_exceeds_captured',
      detail: { refundable: 0, refunded_outside_bridge: 5000 },
    });
  });

  it('a refund waiting for siblings in flight is checked on the room the outside refunds left', () => {
    const sale = op('sale', 5000, { state: 'SUCCEEDED' });
    const deps: DependentSummary[] = [{ id: 'ref-1', command: 'refund', state: 'SENT', amount: 2000, registered: 1 }];
    expect(siblingsAhead(op('refund', 2000), sale, deps, 2)).toBeNull();
    expect(siblingsAhead(op('refund', 2000), sale, deps, 2, 1500)).toMatchObject({ siblings: ['ref-1'] });
  });

  it("converted: an outside refund in the PSP's currency counts as the order's amount it covers at the locked rate", () => {
    // USD 100.00 at 0.9137 is EUR 91.37; the PSP refunded EUR 45.69 outside the bridge, which covers USD 50.01 (50.01 × 0.9137 = 45.694… → 45.69).
    const lock = lockAt({ rate: parseRate('0.9137'), source: 'configured', at: 0 }, 10000, 'USD', 'EUR');
    const c = channelCommand('sale', {}, { amount: 10000, currency: 'USD' });
    const sale: OperationRecord = {
      ...draftRecord(c.payment.operation_reference!, c, 0),
      state: 'SUCCEEDED',
      routing: {
        gateway: 'simulator',
        requested: 'simulator',
        candidates: ['simulator'],
        index: 0,
        decisions: [{ stage: 'fx', outcome: 'changed', reasons: ['converted'], details: lockDetails(lock) }],
        amount: lock.to.amount,
        currency: 'EUR',
      },
    };
    expect(refundedOutsideBridge(sale, [adj('a1', 'refund_outside_bridge', '4569', 'EUR', 'RE-1')])).toBe(5001);
    expect(refundedOutsideBridge(sale, [adj('a1', 'refund_outside_bridge', '5000', 'USD', 'RE-1')])).toBe(5000);
  });
});

describe('amountRefusal: a capture, sale or refund recorded FAILED that the PSP did after all (succeeded_after_failure)', () => {
  it('counts such a capture as captured, at its amount (what the PSP confirmed), for refunds and for further captures', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED', closedBy: 'cap-1' });
    const captures: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'FAILED', amount: 800, registered: 1, succeededAfterFailure: true }];
    expect(amountRefusal(op('refund', 800), auth, captures)).toBeNull();
    expect(amountRefusal(op('refund', 801), auth, captures)).toMatchObject({ fail: 'amount_exceeds_captured', detail: { captured: 800, refundable: 800 } });
    expect(amountRefusal(op('capture', 4200), auth, captures)).toBeNull();
    expect(amountRefusal(op('capture', 4201), auth, captures)).toMatchObject({ fail: 'amount_exceeds_authorized', detail: { remaining: 4200 } });
    // A FAILED one the PSP did not do still took nothing.
    const failed: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'FAILED', amount: 800, registered: 1 }];
    expect(amountRefusal(op('refund', 1), auth, failed)).toMatchObject({ fail: 'amount_exceeds_captured' });
    expect(amountRefusal(op('capture', 5000), auth, failed)).toBeNull();
  });

  it('stops counting it for refunds once a later failure of it marked it undone, and still counts it against the authorization', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED', closedBy: 'cap-1' });
    const captures: DependentSummary[] = [
      { id: 'cap-1', command: 'capture', state: 'FAILED', amount: 800, registered: 1, succeededAfterFailure: true, undone: true },
    ];
    expect(amountRefusal(op('refund', 1), auth, captures)).toMatchObject({ fail: 'amount_exceeds_captured', detail: { captured: 0, captured_undone: 800 } });
    expect(amountRefusal(op('capture', 4201), auth, captures)).toMatchObject({
      fail: 'amount_held_by_failed_capture',
      detail: { failed_capture_ids: 'cap-1' },
    });
    expect(amountRefusal(op('capture', 5001), auth, captures)).toMatchObject({ fail: 'amount_exceeds_authorized' });
  });

  it("holds the amount of a capture recorded FAILED that the PSP retries itself (Adyen's technical issue): another capture of it is refused amount_held_by_failed_capture, naming it; nothing to refund of it", () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED' });
    const captures: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'FAILED', amount: 5000, registered: 1, heldForPspRetry: true }];
    expect(amountRefusal(op('capture', 5000), auth, captures)).toMatchObject({
      fail: 'amount_held_by_failed_capture',
      field: 'payment.amount',
      detail: { remaining: 0, failed_capture_ids: 'cap-1' },
    });
    expect(amountRefusal(op('capture', 1), auth, captures)).toMatchObject({ fail: 'amount_held_by_failed_capture' });
    expect(amountRefusal(op('capture', 5001), auth, captures)).toMatchObject({ fail: 'amount_exceeds_authorized' });
    // It collected nothing (yet): no refund gives it back.
    expect(amountRefusal(op('refund', 1), auth, captures)).toMatchObject({ fail: 'amount_exceeds_captured', detail: { captured: 0 } });
    // A part of the authorization it does not hold is still free.
    const part: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'FAILED', amount: 3000, registered: 1, heldForPspRetry: true }];
    expect(amountRefusal(op('capture', 2000), auth, part)).toBeNull();
    expect(amountRefusal(op('capture', 2001), auth, part)).toMatchObject({ fail: 'amount_held_by_failed_capture', detail: { remaining: 2000 } });
    // Re-captured by the PSP since (done after its failure): counted as captured, no longer as held.
    const recaptured: DependentSummary[] = [
      { id: 'cap-1', command: 'capture', state: 'FAILED', amount: 5000, registered: 1, heldForPspRetry: true, succeededAfterFailure: true },
    ];
    expect(amountRefusal(op('capture', 1), auth, recaptured)).toMatchObject({ fail: 'amount_exceeds_authorized' });
    expect(amountRefusal(op('refund', 5000), auth, recaptured)).toBeNull();
  });

  it("holds the amount of a refund recorded FAILED that the PSP retries itself (Adyen's technical issue): a refund beyond what is left besides it is refused amount_held_by_failed_refund, naming it", () => {
    const sale = op('sale', 5000, { state: 'SUCCEEDED' });
    const refunds: DependentSummary[] = [{ id: 'ref-1', command: 'refund', state: 'FAILED', amount: 3000, registered: 1, heldForPspRetry: true }];
    expect(amountRefusal(op('refund', 2000), sale, refunds)).toBeNull();
    expect(amountRefusal(op('refund', 2001), sale, refunds)).toMatchObject({
      fail: 'amount_held_by_failed_refund',
      field: 'payment.amount',
      detail: { refundable: 2000, held_by_failed_refunds: 3000, failed_refund_ids: 'ref-1' },
    });
    expect(amountRefusal(op('refund', 5001), sale, refunds)).toMatchObject({ fail: 'amount_exceeds_captured' });
    // A held refund holds no capture: the authorization's capture check is not its business.
    const auth = op('authorize', 5000, { state: 'SUCCEEDED' });
    const captured: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 5000, registered: 1 }, ...refunds];
    expect(amountRefusal(op('refund', 3000), auth, captured)).toMatchObject({ fail: 'amount_held_by_failed_refund' });
    // Done by the PSP since (its success after the failure): counted as refunded once, no longer as held.
    const done: DependentSummary[] = [{ ...refunds[0], succeededAfterFailure: true }];
    expect(amountRefusal(op('refund', 2000), sale, done)).toBeNull();
    expect(amountRefusal(op('refund', 2001), sale, done)).toMatchObject({ fail: 'amount_exceeds_captured' });
    // A refund that simply FAILED frees its amount.
    const failed: DependentSummary[] = [{ id: 'ref-1', command: 'refund', state: 'FAILED', amount: 3000, registered: 1 }];
    expect(amountRefusal(op('refund', 5000), sale, failed)).toBeNull();
  });

  it('counts such a refund as refunded', () => {
    const sale = op('sale', 5000, { state: 'SUCCEEDED' });
    const refunds: DependentSummary[] = [{ id: 'ref-1', command: 'refund', state: 'FAILED', amount: 3000, registered: 1, succeededAfterFailure: true }];
    expect(amountRefusal(op('refund', 2000), sale, refunds)).toBeNull();
    expect(amountRefusal(op('refund', 2001), sale, refunds)).toMatchObject({ fail: 'amount_exceeds_captured', detail: { refunded: 3000 } });
    expect(refundsOfCaptured(op('cancel', 5000), sale, refunds)).toEqual({
      refunds: [{ id: 'ref-1', amount: 3000, inFlight: false }],
      currency: 'EUR',
      left: 2000,
    });
  });

  it('refuses a second capture where the PSP captures once, the first one done after its failure', () => {
    const auth = op('authorize', 5000, { state: 'SUCCEEDED' });
    const first: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'FAILED', amount: 1000, registered: 0, succeededAfterFailure: true }];
    expect(amountRefusal(op('capture', 1000), auth, first, true)).toMatchObject({ fail: 'capture_already_made', detail: { capture_operation_id: 'cap-1' } });
  });

  it('reads a sale recorded FAILED that the PSP did as the SUCCEEDED sale it is there, holding what the PSP confirmed (asDoneAtPsp)', () => {
    const sale = op('sale', 5000, { state: 'FAILED', succeededAfterFailure: { by: 'adj_1', amount: 4000, currency: 'EUR' } });
    const read = asDoneAtPsp(sale);
    expect(read).toMatchObject({ state: 'SUCCEEDED', confirmedAmount: 4000, confirmedCurrency: 'EUR' });
    expect(amountRefusal(op('refund', 4000), read, [])).toBeNull();
    expect(amountRefusal(op('refund', 4001), read, [])).toMatchObject({ fail: 'amount_exceeds_captured' });
    expect(amountRefusal(op('refund', 1), asDoneAtPsp({ ...sale, undoneBy: 'adj_2' }), [])).toMatchObject({ fail: 'amount_exceeds_captured' });
    // Any other record as it is.
    expect(asDoneAtPsp(op('sale', 5000, { state: 'FAILED' }))).toMatchObject({ state: 'FAILED' });
    const capture = op('capture', 5000, { state: 'FAILED', succeededAfterFailure: { by: 'adj_1' } });
    expect(asDoneAtPsp(capture)).toBe(capture);
  });
});

describe('amountRefusal: a PSP that captures an authorization once only (Stripe: Klarna, and cards without multicapture)', () => {
  const klarna = () =>
    op('authorize', 5000, {
      state: 'SUCCEEDED',
      payment: { ...channelCommand('authorize', {}, { amount: 5000 }).payment, payment_method: { type: 'klarna' } },
    });

  it('refuses a second capture (the first shipment captured or still under way) naming payment.gateway_key', () => {
    const first: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 2000, registered: 0 }];
    expect(amountRefusal(op('capture', 1000), klarna(), first, true)).toMatchObject({
      fail: 'capture_already_made',
      field: 'payment.gateway_key',
      detail: { capture_operation_id: 'cap-1', method: 'klarna' },
    });
    expect(amountRefusal(op('capture', 1000), klarna(), [{ id: 'cap-1', command: 'capture', state: 'SENT', amount: 2000, registered: 0 }], true)).toMatchObject(
      {
        fail: 'capture_already_made',
      },
    );
  });

  it('lets one partial capture through, and a new one after the first failed; a gateway with multicapture takes several', () => {
    expect(amountRefusal(op('capture', 2000), klarna(), [], true)).toBeNull();
    expect(amountRefusal(op('capture', 2000), klarna(), [{ id: 'cap-1', command: 'capture', state: 'FAILED', amount: 2000, registered: 0 }], true)).toBeNull();
    expect(
      amountRefusal(op('capture', 1000), klarna(), [{ id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 2000, registered: 0 }], false),
    ).toBeNull();
  });
});

describe('amountRefusal: a converted authorization the PSP approved only in part', () => {
  // USD 123.45 asked in EUR at 0.9137: EUR 112.80; the PSP approved EUR 56.40, which covers USD 61.73 at that rate (61.73 × 0.9137 = 56.4025… → 56.40).
  const lock = lockAt({ rate: parseRate('0.9137'), source: 'configured', at: 0 }, 12345, 'USD', 'EUR');
  const usd = (command: OperationRecord['command'], amount: number, extra: Partial<OperationRecord> = {}): OperationRecord => {
    const c = channelCommand(command, {}, { amount, currency: 'USD' });
    return { ...draftRecord(c.payment.operation_reference!, c, 0), ...extra };
  };
  const converted = (command: 'authorize' | 'sale', confirmedAmount: number): OperationRecord =>
    usd(command, 12345, {
      state: 'SUCCEEDED',
      confirmedAmount,
      confirmedCurrency: 'EUR',
      routing: {
        gateway: 'simulator',
        requested: 'simulator',
        candidates: ['simulator'],
        index: 0,
        decisions: [{ stage: 'fx', outcome: 'changed', reasons: ['converted'], details: lockDetails(lock) }],
        amount: lock.to.amount,
        currency: 'EUR',
      },
    });

  it('refuses a capture of the whole order amount as above the authorization, naming what it holds in the order currency', () => {
    expect(amountRefusal(usd('capture', 12345), converted('authorize', 5640), [])).toMatchObject({
      fail: 'amount_exceeds_authorized',
      field: 'payment.amount',
      detail: { authorized: 6173, remaining: 6173 },
    });
    expect(amountRefusal(usd('capture', 6174), converted('authorize', 5640), [])).toMatchObject({ fail: 'amount_exceeds_authorized' });
    expect(amountRefusal(usd('capture', 6173), converted('authorize', 5640), [])).toBeNull();
  });

  it('counts earlier captures against the amount converted back', () => {
    const first: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount: 5000, registered: 0 }];
    expect(amountRefusal(usd('capture', 1174), converted('authorize', 5640), first)).toMatchObject({ detail: { remaining: 1173 } });
    expect(amountRefusal(usd('capture', 1173), converted('authorize', 5640), first)).toBeNull();
  });

  it('refuses a refund of a partially approved converted sale above what it holds', () => {
    expect(amountRefusal(usd('refund', 6174), converted('sale', 5640), [])).toMatchObject({ fail: 'amount_exceeds_captured', detail: { refundable: 6173 } });
    expect(amountRefusal(usd('refund', 6173), converted('sale', 5640), [])).toBeNull();
  });

  it('a fully approved converted authorization is checked against the order amount, as before', () => {
    expect(amountRefusal(usd('capture', 12345), converted('authorize', 11280), [])).toBeNull();
    expect(amountRefusal(usd('capture', 12346), converted('authorize', 11280), [])).toMatchObject({ fail: 'amount_exceeds_authorized' });
  });
});

describe('siblingsAhead: captures and refunds of one authorization in flight at the same time', () => {
  const auth = () => op('authorize', 5000, { state: 'SUCCEEDED' });
  const sibling = (
    id: string,
    state: DependentSummary['state'],
    amount: number,
    registered = 1,
    command: DependentSummary['command'] = 'capture',
  ): DependentSummary => ({
    id,
    command,
    state,
    amount,
    registered,
  });
  // The capture checked, registered second unless said otherwise.
  const capture = (amount: number) => op('capture', amount);

  it('waits while a capture registered before it and not settled could leave too little, naming it; one that fits whatever it does goes', () => {
    expect(siblingsAhead(capture(3000), auth(), [sibling('cap-1', 'SENT', 3000)], 2)).toMatchObject({ siblings: ['cap-1'] });
    expect(siblingsAhead(capture(3000), auth(), [sibling('cap-1', 'UNKNOWN', 3000)], 2)?.wait).toContain('cap-1');
    // Not sent yet counts too: it passed its own check, or waits on others before it.
    expect(siblingsAhead(capture(3000), auth(), [sibling('cap-1', 'RECEIVED', 3000)], 2)).toMatchObject({ siblings: ['cap-1'] });
    expect(siblingsAhead(capture(2000), auth(), [sibling('cap-1', 'SENT', 3000)], 2)).toBeNull();
  });

  it('never waits for one registered after it: of two concurrent captures one goes, the other waits, never both waiting', () => {
    const a = op('capture', 3000, { id: 'cap-a' });
    const b = op('capture', 3000, { id: 'cap-b' });
    expect(siblingsAhead(a, auth(), [sibling('cap-b', 'RECEIVED', 3000, 2)], 1)).toBeNull();
    expect(siblingsAhead(b, auth(), [sibling('cap-a', 'RECEIVED', 3000, 1)], 2)).toMatchObject({ siblings: ['cap-a'] });
    // Registered before the order was kept (0): first, ties by id.
    expect(siblingsAhead(a, auth(), [sibling('cap-b', 'SENT', 3000, 0)], 0)).toBeNull();
    expect(siblingsAhead(b, auth(), [sibling('cap-a', 'SENT', 3000, 0)], 0)).toMatchObject({ siblings: ['cap-a'] });
    expect(siblingsAhead(b, auth(), [sibling('cap-a', 'SENT', 3000, 0)], 3)).toMatchObject({ siblings: ['cap-a'] });
  });

  it('counts settled siblings as settled, not in flight: succeeded ones are the amount check’s, failed ones free their amount', () => {
    expect(siblingsAhead(capture(3000), auth(), [sibling('cap-1', 'SUCCEEDED', 3000)], 2)).toBeNull();
    expect(siblingsAhead(capture(3000), auth(), [sibling('cap-1', 'FAILED', 3000)], 2)).toBeNull();
    // 1000 taken, 3000 in flight: 1000 left, so a capture of 2000 waits.
    expect(siblingsAhead(capture(2000), auth(), [sibling('cap-0', 'SUCCEEDED', 1000), sibling('cap-1', 'PENDING', 3000)], 3)).toMatchObject({
      siblings: ['cap-1'],
    });
  });

  it('refunds wait for refunds of the same payment in flight; other commands never wait', () => {
    const sale = op('sale', 5000, { state: 'SUCCEEDED' });
    expect(siblingsAhead(op('refund', 3000), sale, [sibling('ref-1', 'SENT', 3000, 1, 'refund')], 2)).toMatchObject({ siblings: ['ref-1'] });
    expect(siblingsAhead(op('refund', 2000), sale, [sibling('ref-1', 'SENT', 3000, 1, 'refund')], 2)).toBeNull();
    // A refund in flight does not hold up a capture, nor a capture a cancel.
    expect(siblingsAhead(capture(3000), auth(), [sibling('ref-1', 'SENT', 3000, 1, 'refund')], 2)).toBeNull();
    expect(siblingsAhead(op('cancel', 5000), auth(), [sibling('cap-1', 'SENT', 5000)], 2)).toBeNull();
  });
});

describe('capturesInFlight: a cancel of an authorization with captures in flight', () => {
  const auth = () => op('authorize', 5000, { state: 'SUCCEEDED' });
  const capture = (id: string, state: DependentSummary['state'], registered = 1): DependentSummary => ({
    id,
    command: 'capture',
    state,
    amount: 3000,
    registered,
  });
  const cancel = () => op('cancel', 5000, { id: 'can-1' });

  it('waits while any capture of its authorization is not SUCCEEDED or FAILED, naming each with its state', () => {
    for (const state of ['RECEIVED', 'SENT', 'UNKNOWN', 'PENDING', 'UNRESOLVED'] as const) {
      const wait = capturesInFlight(cancel(), auth(), [capture('cap-1', state)]);
      expect(wait).toMatchObject({ siblings: ['cap-1'] });
      expect(wait?.wait).toContain(`cap-1 ${state}`);
    }
  });

  it('waits for captures registered after it as well (captures never wait for a cancel: the two never wait for each other)', () => {
    const dependents: DependentSummary[] = [
      { id: 'can-1', command: 'cancel', state: 'RECEIVED', amount: 5000, registered: 1 },
      capture('cap-1', 'SUCCEEDED', 2),
      capture('cap-2', 'SENT', 3),
    ];
    expect(capturesInFlight(cancel(), auth(), dependents)).toMatchObject({ siblings: ['cap-2'] });
    // A capture checked after the cancel registered waits for captures only, never for the cancel.
    expect(siblingsAhead(op('capture', 1000, { id: 'cap-3' }), auth(), dependents, 4)?.siblings).toEqual(['cap-2']);
  });

  it('goes once every capture succeeded or failed; a refund in flight, a sale, or another command never holds it', () => {
    expect(capturesInFlight(cancel(), auth(), [capture('cap-1', 'SUCCEEDED'), capture('cap-2', 'FAILED')])).toBeNull();
    expect(capturesInFlight(cancel(), auth(), [{ id: 'ref-1', command: 'refund', state: 'SENT', amount: 1000, registered: 2 }])).toBeNull();
    expect(capturesInFlight(cancel(), op('sale', 5000, { state: 'SUCCEEDED' }), [capture('cap-1', 'SENT')])).toBeNull();
    expect(capturesInFlight(op('refund', 1000), auth(), [capture('cap-1', 'SENT')])).toBeNull();
  });
});

describe('refundsInFlight and refundsOfCaptured: a cancel that would void what refunds give back', () => {
  const auth = () => op('authorize', 5000, { state: 'SUCCEEDED' });
  const sale = () => op('sale', 5000, { state: 'SUCCEEDED' });
  const cancel = () => op('cancel', 5000, { id: 'can-1' });
  const capture = (amount = 5000): DependentSummary => ({ id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount, registered: 1 });
  const refund = (id: string, state: DependentSummary['state'], amount = 1000, extra: Partial<DependentSummary> = {}): DependentSummary => ({
    id,
    command: 'refund',
    state,
    amount,
    registered: 2,
    ...extra,
  });

  it('waits while a refund of the capture it would void (one capture took it all) or of a sale is in flight, naming each with its state', () => {
    for (const state of ['RECEIVED', 'SENT', 'UNKNOWN', 'PENDING', 'UNRESOLVED'] as const) {
      const wait = refundsInFlight(cancel(), auth(), [capture(), refund('ref-1', state)]);
      expect(wait).toMatchObject({ siblings: ['ref-1'], awaiting: 'refunds' });
      expect(wait?.wait).toContain(`ref-1 ${state}`);
      expect(refundsInFlight(cancel(), sale(), [refund('ref-1', state)])).toMatchObject({ siblings: ['ref-1'] });
    }
  });

  it('does not wait when a refund succeeded already (refused at once), or when they all failed or were undone (the void goes)', () => {
    expect(refundsInFlight(cancel(), auth(), [capture(), refund('ref-1', 'SUCCEEDED'), refund('ref-2', 'SENT')])).toBeNull();
    expect(refundsInFlight(cancel(), auth(), [capture(), refund('ref-1', 'FAILED'), refund('ref-2', 'SUCCEEDED', 1000, { undone: true })])).toBeNull();
  });

  it('does not wait when the cancel voids nothing: nothing captured, a remainder released, several captures (refused), a sale already undone', () => {
    expect(refundsInFlight(cancel(), auth(), [refund('ref-1', 'SENT')])).toBeNull();
    expect(refundsInFlight(cancel(), auth(), [capture(3000), refund('ref-1', 'SENT')])).toBeNull();
    const two: DependentSummary[] = [capture(2000), { ...capture(3000), id: 'cap-2' }, refund('ref-1', 'SENT')];
    expect(refundsInFlight(cancel(), auth(), two)).toBeNull();
    expect(refundsInFlight(cancel(), op('sale', 5000, { state: 'SUCCEEDED', undoneBy: 'x' }), [refund('ref-1', 'SENT')])).toBeNull();
    expect(refundsInFlight(op('refund', 1000), auth(), [capture(), refund('ref-1', 'SENT')])).toBeNull();
  });

  it('lists the refunds that gave money back or may still, with what is left to refund after them', () => {
    const dependents = [capture(), refund('ref-1', 'SUCCEEDED', 1500), refund('ref-2', 'SENT', 500), refund('ref-3', 'FAILED', 900)];
    expect(refundsOfCaptured(cancel(), auth(), dependents)).toEqual({
      refunds: [
        { id: 'ref-1', amount: 1500, inFlight: false },
        { id: 'ref-2', amount: 500, inFlight: true },
      ],
      currency: 'EUR',
      left: 3000,
    });
    expect(refundsOfCaptured(cancel(), auth(), [capture(), refund('ref-3', 'FAILED')])).toBeNull();
  });

  it('counts what the PSP refunded outside the bridge as given back: less is left, and it alone is a refund a void would return again', () => {
    const dependents = [capture(), refund('ref-1', 'SUCCEEDED', 1500)];
    expect(refundsOfCaptured(cancel(), auth(), dependents, undefined, 700)).toEqual({
      refunds: [{ id: 'ref-1', amount: 1500, inFlight: false }],
      currency: 'EUR',
      left: 2800,
      refundedOutsideBridge: 700,
    });
    expect(refundsOfCaptured(cancel(), sale(), [], undefined, 5000)).toEqual({ refunds: [], currency: 'EUR', left: 0, refundedOutsideBridge: 5000 });
    // The same rest the refund check leaves.
    expect(leftToRefund(auth(), dependents, 700)).toBe(2800);
  });
});

describe('voidsAhead and refundsInFlight: a refund and a cancel that would void what it refunds never both go, and never wait for each other', () => {
  const auth = () => op('authorize', 5000, { id: 'auth-1', state: 'SUCCEEDED' });
  const sale = () => op('sale', 5000, { id: 'sale-1', state: 'SUCCEEDED' });
  const capture = (amount = 5000): DependentSummary => ({ id: 'cap-1', command: 'capture', state: 'SUCCEEDED', amount, registered: 1 });
  const cancel = (state: DependentSummary['state'], registered = 2): DependentSummary => ({ id: 'can-1', command: 'cancel', state, amount: 5000, registered });
  const refund = (state: DependentSummary['state'], registered = 3): DependentSummary => ({ id: 'ref-1', command: 'refund', state, amount: 1000, registered });

  it('a refund waits for a cancel registered before it that would void what it refunds, whatever the cancel is doing', () => {
    for (const state of ['RECEIVED', 'SENT', 'UNKNOWN', 'PENDING', 'UNRESOLVED'] as const) {
      const wait = voidsAhead(op('refund', 1000, { id: 'ref-1' }), auth(), [capture(), cancel(state)], 3);
      expect(wait).toMatchObject({ siblings: ['can-1'], awaiting: 'void' });
      expect(wait?.wait).toContain(`can-1 ${state}`);
      expect(voidsAhead(op('refund', 1000, { id: 'ref-1' }), sale(), [cancel(state)], 3)).toMatchObject({ siblings: ['can-1'] });
    }
  });

  it('does not wait for a cancel decided, registered after it, or that voids nothing (a remainder released, a sale undone)', () => {
    const r = op('refund', 1000, { id: 'ref-1' });
    expect(voidsAhead(r, auth(), [capture(), cancel('SUCCEEDED')], 3)).toBeNull();
    expect(voidsAhead(r, auth(), [capture(), cancel('FAILED')], 3)).toBeNull();
    expect(voidsAhead(r, auth(), [capture(), cancel('RECEIVED', 4)], 3)).toBeNull();
    expect(voidsAhead(r, auth(), [capture(3000), cancel('SENT')], 3)).toBeNull();
    expect(voidsAhead(r, op('sale', 5000, { state: 'SUCCEEDED', undoneBy: 'x' }), [cancel('SENT')], 3)).toBeNull();
    expect(voidsAhead(op('capture', 1000), auth(), [capture(), cancel('SENT')], 3)).toBeNull();
  });

  it('a cancel neither waits for nor counts a refund registered after it and not yet sent (that one waits for the cancel), but does one sent already', () => {
    const c = op('cancel', 5000, { id: 'can-1' });
    expect(refundsInFlight(c, auth(), [capture(), refund('RECEIVED')], 2)).toBeNull();
    expect(refundsOfCaptured(c, auth(), [capture(), refund('RECEIVED')], 2)).toBeNull();
    expect(refundsInFlight(c, auth(), [capture(), refund('RECEIVED', 1)], 2)).toMatchObject({ siblings: ['ref-1'] });
    expect(refundsInFlight(c, auth(), [capture(), refund('SENT')], 2)).toMatchObject({ siblings: ['ref-1'] });
    expect(refundsOfCaptured(c, auth(), [capture(), refund('SUCCEEDED')], 2)?.refunds).toEqual([{ id: 'ref-1', amount: 1000, inFlight: false }]);
    // Whichever registered first goes first: the refund waits for the cancel, the cancel not for the refund.
    const dependents = [capture(), cancel('RECEIVED'), refund('RECEIVED')];
    expect(voidsAhead(op('refund', 1000, { id: 'ref-1' }), auth(), dependents, 3)).not.toBeNull();
    expect(refundsInFlight(c, auth(), dependents, 2)).toBeNull();
  });
});

describe('capturesNotYetDelivered: a cancel and the captures of its authorization on record but not yet registered', () => {
  const auth = () =>
    op('authorize', 5000, {
      id: 'auth-1',
      state: 'SUCCEEDED',
      gatewayReference: 'psp-auth-1',
      payment: { ...op('authorize', 5000).payment, order_id: 'ORD-9' },
    });
  const onRecord = (id: string, command: OperationRecord['command'], state: OperationRecord['state'], key: string): OperationRecord =>
    op(command, 3000, { id, state, payment: { ...op(command, 3000).payment, gateway_key: key, order_id: 'ORD-9' } });
  const ledger = (records: OperationRecord[]) => ({ operationsOfOrder: jest.fn(async () => records) });

  it('waits for a capture of the authorization (by our id or its PSP reference) on record and not yet decided nor registered', async () => {
    const records = [onRecord('cap-1', 'capture', 'RECEIVED', 'auth-1'), onRecord('cap-2', 'capture', 'RECEIVED', 'psp-auth-1')];
    const wait = await capturesNotYetDelivered(op('cancel', 5000, { id: 'can-1' }), auth(), [], ledger(records));
    expect(wait).toMatchObject({ siblings: ['cap-1', 'cap-2'], awaiting: 'undelivered_captures' });
  });

  it('leaves registered captures (capturesInFlight), decided ones, other commands and other authorizations alone; reads nothing for a sale or without an order', async () => {
    const records = [
      onRecord('cap-1', 'capture', 'RECEIVED', 'auth-1'),
      onRecord('cap-2', 'capture', 'SUCCEEDED', 'auth-1'),
      onRecord('ref-1', 'refund', 'RECEIVED', 'auth-1'),
      onRecord('cap-3', 'capture', 'RECEIVED', 'auth-2'),
    ];
    const registered: DependentSummary[] = [{ id: 'cap-1', command: 'capture', state: 'RECEIVED', amount: 3000, registered: 1 }];
    expect(await capturesNotYetDelivered(op('cancel', 5000, { id: 'can-1' }), auth(), registered, ledger(records))).toBeNull();
    const none = ledger(records);
    expect(await capturesNotYetDelivered(op('cancel', 5000), op('sale', 5000, { state: 'SUCCEEDED', payment: auth().payment }), [], none)).toBeNull();
    const noOrder = op('authorize', 5000, { id: 'auth-1', state: 'SUCCEEDED' });
    expect(await capturesNotYetDelivered(op('cancel', 5000), { ...noOrder, payment: { ...noOrder.payment, order_id: undefined } }, [], none)).toBeNull();
    expect(await capturesNotYetDelivered(op('refund', 1000), auth(), [], none)).toBeNull();
    expect(none.operationsOfOrder).not.toHaveBeenCalled();
  });
});
