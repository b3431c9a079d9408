import { maskedSnapshot } from '../../../src/data-lifecycle/export';
import { OperationSnapshot } from '../../../src/data-lifecycle/operation-snapshot';
import { luhnComplete } from '../../support/luhn';

const PAN = '4111111111111111';
const PAN_MASK = '[PAN REDACTED]';
/** A Visa transaction identifier (15 digits) passing the Luhn check: no card data where the bridge writes it. */
const NETWORK_ID = luhnComplete('48301928374650');
/** What the export's placeholders for set-aside network ids looked like (`~pbntid` and letters). */
const OLD_PLACEHOLDERS = '~pbntida~ and ~pbntidb~';

/** A SUCCEEDED charge whose PSP named `NETWORK_ID`, in its record, its outcome entry and its event, with `payment` extra. */
function snapshot(payment: Record<string, unknown>): OperationSnapshot {
  const command = { gateway: 'simulator', gateway_account: 'acc', gateway_key: 'tok_1', amount: 1000, currency: 'EUR', ...payment };
  return {
    type: 'operation',
    id: 'op-masking-1',
    record: { state: 'SUCCEEDED', payment: JSON.stringify(command), network_transaction_id: NETWORK_ID, created_at: '1', updated_at: '2' },
    history: [JSON.stringify({ event: 'attempt', at: 1 }), JSON.stringify({ event: 'outcome', at: 2, network_transaction_id: NETWORK_ID })],
    indexes: {},
    dependents: [],
    references: [],
    adjustments: [],
    events: [
      {
        id: 'op-masking-1.SUCCEEDED',
        hash: { params: JSON.stringify({ payment: { ...command, status: 'SUCCESS', network_transaction_id: NETWORK_ID } }), sequence: '1' },
      },
    ],
    payment: null,
  };
}

const paymentOf = (snap: OperationSnapshot) => JSON.parse(snap.record.payment) as { custom_attributes: Record<string, string> };

describe('maskedSnapshot and the network transaction ids the bridge wrote', () => {
  it('a free-text field holding the old placeholder text comes back byte for byte when card data beside it is masked', () => {
    const snap = snapshot({ custom_attributes: { note: OLD_PLACEHOLDERS, card: PAN } });
    const { snap: masked, paths } = maskedSnapshot(snap);

    expect(paths).toEqual(['record.payment', 'events[0].hash.params']);
    expect(paymentOf(masked).custom_attributes).toEqual({ note: OLD_PLACEHOLDERS, card: PAN_MASK });
    const event = JSON.parse(masked.events[0].hash.params) as { payment: { custom_attributes: Record<string, string> } };
    expect(event.payment.custom_attributes).toEqual({ note: OLD_PLACEHOLDERS, card: PAN_MASK });
    expect(JSON.stringify(masked)).not.toContain(PAN);
  });

  it('keeps the id whole in the record, the outcome entry and the event while card data beside it is masked', () => {
    const snap = snapshot({ custom_attributes: { card: PAN } });
    const { snap: masked } = maskedSnapshot(snap);

    expect(masked.record.network_transaction_id).toBe(NETWORK_ID);
    expect(masked.history).toEqual(snap.history);
    expect(masked.events[0].hash.params).toBe(snap.events[0].hash.params.split(PAN).join(PAN_MASK));
    expect(masked.record.payment).toBe(snap.record.payment.split(PAN).join(PAN_MASK));
  });

  it('finds nothing in a line whose only card-like value is the id where the bridge writes it, and returns it as it is', () => {
    const snap = snapshot({});
    expect(maskedSnapshot(snap)).toEqual({ snap, paths: [] });
  });

  it('masks the same digits anywhere else: a note, an entry other than an outcome', () => {
    const snap = snapshot({ custom_attributes: { note: NETWORK_ID } });
    const other = { ...snap, history: [...snap.history, JSON.stringify({ event: 'webhook', network_transaction_id: NETWORK_ID })] };
    const { snap: masked, paths } = maskedSnapshot(other);

    expect(paths).toEqual(['record.payment', 'history[2]', 'events[0].hash.params']);
    expect(paymentOf(masked).custom_attributes.note).toBe(PAN_MASK);
    expect(masked.history[2]).not.toContain(NETWORK_ID);
    expect(masked.record.network_transaction_id).toBe(NETWORK_ID);
    expect(masked.history[1]).toBe(snap.history[1]);
  });

  it('scans an outcome entry its re-serialization would change as stored, its id with it', () => {
    const spaced = `{"event": "outcome", "network_transaction_id": "${NETWORK_ID}"}`;
    const snap = { ...snapshot({}), history: [spaced] };
    const { snap: masked, paths } = maskedSnapshot(snap);

    expect(paths).toEqual(['history[0]']);
    expect(masked.history[0]).toBe(`{"event": "outcome", "network_transaction_id": "${PAN_MASK}"}`);
  });
});

describe('maskedSnapshot on import, where the file may have been edited', () => {
  it('leaves no card number in an outcome entry a PSP identifier’s stand-in would fold into its kept id', () => {
    // The record's gateway_reference (exempt, a PSP's) spans the end of the entry's id and the start of a member beside
    // it: once it is set aside, that member's card number would read as part of the id the entry keeps.
    const entry = JSON.stringify({ event: 'outcome', network_transaction_id: 'MCC01', note: `5555555555554444 ${PAN}` });
    const reference = 'MCC01","note":"5555555555554444';
    const base = snapshot({});
    const snap = { ...base, record: { ...base.record, gateway_reference: reference }, history: [entry] };
    const { snap: masked, paths } = maskedSnapshot(snap, [], new Set(), undefined, new Set());

    expect(paths).toContain('history[0]');
    expect(masked.history[0]).not.toContain(PAN);
  });
});

describe('maskedSnapshot and members whose names read as the path of a kept id', () => {
  it('masks a card number under an extra member named as an outcome entry’s path', () => {
    const base = snapshot({});
    const snap = { ...base, 'history[1]': JSON.stringify({ network_transaction_id: PAN }) } as OperationSnapshot;
    const { snap: masked, paths } = maskedSnapshot(snap, [], new Set(), undefined, new Set([NETWORK_ID]));

    expect(paths).toEqual(['history[1]']);
    expect(JSON.stringify(masked)).not.toContain(PAN);
  });
});

describe('maskedSnapshot and the PSP identifiers it sets aside while it scans', () => {
  /** An Adyen-like 16-digit pspReference passing the Luhn check: no card data in the record's own field. */
  const PSP_REFERENCE = luhnComplete('488301234567890');

  it("a free-text field holding the stand-in's own text comes back byte for byte, and the identifier stays whole, when card data beside them is masked", () => {
    const text = '~pbpspida~ ~pbpspidb~ ~pbpspidxa~';
    const base = snapshot({ custom_attributes: { note: text, card: PAN } });
    const snap: OperationSnapshot = { ...base, record: { ...base.record, gateway_reference: PSP_REFERENCE } };
    const { snap: masked, paths } = maskedSnapshot(snap);

    expect(paths).toEqual(['record.payment', 'events[0].hash.params']);
    expect(masked.record.gateway_reference).toBe(PSP_REFERENCE);
    expect(paymentOf(masked).custom_attributes).toEqual({ note: text, card: PAN_MASK });
    const event = JSON.parse(masked.events[0].hash.params) as { payment: { custom_attributes: Record<string, string> } };
    expect(event.payment.custom_attributes).toEqual({ note: text, card: PAN_MASK });
    expect(JSON.stringify(masked)).not.toContain(PAN);
  });
});
