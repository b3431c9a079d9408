import { maskedSnapshot } from '../../../src/data-lifecycle/export';
import { OperationSnapshot } from '../../../src/data-lifecycle/operation-snapshot';
import { outcomeEvent } from '../../../src/events/payment-event';
import { OperationRecord } from '../../../src/ledger/ledger';
import { decodeRecord, encodeRecord } from '../../../src/ledger/record-fields';
import { PspNetworkTransactionId } from '../../../src/logging/network-transaction-id-field';
import { PAN_MASK, containsCardNumber, redact } from '../../../src/logging/redact';
import { testConfig } from '../../support/test-config';

const config = testConfig();

/** 15 digits as a Visa network transaction id, starting with a card-issuing digit and passing the Luhn check. */
const NTI = '483297510463217';

function sale(overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: 'op-nti-1',
    command: 'sale',
    channel: 'bus',
    state: 'SUCCEEDED',
    payment: {
      gateway: 'simulator',
      gateway_account: 'acme',
      gateway_key: 'pm_card_visa',
      amount: 500,
      currency: 'EUR',
      order_id: 'O-1',
      custom_attributes: { note: `first payment ${NTI}` },
    },
    receivedAt: 1000,
    createdAt: 1000,
    updatedAt: 1250,
    attempts: 1,
    gatewayStatus: 'captured',
    gatewayReference: 'auth_1',
    networkTransactionId: NTI,
    ...overrides,
  };
}

describe('network transaction id: carried whole in its own field, the same digits masked anywhere else', () => {
  it('is kept on the record (read back only when it has an id’s shape)', () => {
    const hash = Object.fromEntries(chunks(encodeRecord(sale())));
    expect(hash.network_transaction_id).toBe(NTI);
    expect(decodeRecord(hash).networkTransactionId).toBe(NTI);
    expect(decodeRecord({ ...hash, network_transaction_id: 'not an id' }).networkTransactionId).toBeUndefined();
  });

  it('is on the SUCCESS event as payment.network_transaction_id, and on no other', () => {
    const payment = outcomeEvent(sale(), config)?.params.payment as Record<string, unknown>;
    expect(payment.network_transaction_id).toBe(NTI);
    const failed = outcomeEvent(sale({ state: 'FAILED', reason: 'card_declined' }), config)?.params.payment as Record<string, unknown>;
    expect(failed.network_transaction_id).toBeUndefined();
    const none = outcomeEvent(sale({ networkTransactionId: undefined }), config)?.params.payment as Record<string, unknown>;
    expect(none).not.toHaveProperty('network_transaction_id');
  });

  it("passes the log redactor (the history) whole as the PSP's; the same digits in free text, or a plain string of its name, are masked", () => {
    expect(containsCardNumber(NTI)).toBe(true);
    const event = outcomeEvent(sale(), config);
    const out = redact({
      operation_id: 'op-nti-1',
      network_transaction_id: PspNetworkTransactionId.of(NTI),
      note: `first payment ${NTI}`,
      event: event?.params,
    }) as Record<string, unknown>;
    expect(JSON.parse(JSON.stringify(out)).network_transaction_id).toBe(NTI);
    expect(out.note).toBe(`first payment ${PAN_MASK}`);
    // The event's own field is a plain string: a log line quoting the event masks it (the outbox keeps it whole).
    const payment = (out.event as { payment: Record<string, unknown> }).payment;
    expect(payment.network_transaction_id).toBe(PAN_MASK);
    expect((payment.custom_attributes as Record<string, unknown>).note).toBe(`first payment ${PAN_MASK}`);
    expect(PspNetworkTransactionId.of('4832 9751 0463 217')).toBeUndefined();
    // Any other field name holding it is masked as ever, and so is a value that is no id (a card number with spaces).
    expect(redact({ transaction_id: NTI, networkTransactionId: NTI })).toEqual({ transaction_id: PAN_MASK, networkTransactionId: PAN_MASK });
    expect(redact({ network_transaction_id: '4832 9751 0463 217' })).toEqual({ network_transaction_id: PAN_MASK });
  });

  it('passes the export and archive check whole in its field (record and event); the same digits in free text are masked', () => {
    const op = sale();
    const event = outcomeEvent(op, config);
    const record = Object.fromEntries(chunks(encodeRecord(op)));
    const snap: OperationSnapshot = {
      type: 'operation',
      id: op.id,
      record,
      history: [JSON.stringify({ event: 'outcome', network_transaction_id: NTI, note: `said ${NTI}` })],
      indexes: {},
      dependents: [],
      references: [],
      adjustments: [],
      events: [{ id: 'op-nti-1.SUCCEEDED', hash: { params: JSON.stringify(event?.params) } }],
      payment: null,
    };
    const { snap: masked, paths } = maskedSnapshot(snap);
    expect(paths.sort()).toEqual(['events[0].hash.params', 'history[0]', 'record.payment']);
    expect(masked.record.network_transaction_id).toBe(NTI);
    const params = JSON.parse(masked.events[0].hash.params) as { payment: Record<string, unknown> };
    expect(params.payment.network_transaction_id).toBe(NTI);
    expect((params.payment.custom_attributes as Record<string, unknown>).note).toBe(`first payment ${PAN_MASK}`);
    expect(JSON.parse(masked.record.payment)).toMatchObject({ custom_attributes: { note: `first payment ${PAN_MASK}` } });
    expect(JSON.parse(masked.history[0])).toEqual({ event: 'outcome', network_transaction_id: NTI, note: `said ${PAN_MASK}` });
    // Without the free text, nothing on the line is card data: the line is exported as it is.
    const clean = sale({ payment: { ...op.payment, custom_attributes: undefined } });
    const cleanSnap = {
      ...snap,
      record: Object.fromEntries(chunks(encodeRecord(clean))),
      history: [],
      events: [{ id: 'e', hash: { params: JSON.stringify(outcomeEvent(clean, config)?.params) } }],
    };
    expect(maskedSnapshot(cleanSnap).paths).toEqual([]);
  });
});

function chunks(flat: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
  return pairs;
}

describe("network transaction id: the exemption is the bridge's own fields', never a channel's", () => {
  // A card number (Luhn-valid, 16 digits) a channel sends under the id's name, where a command may hold it.
  const PAN = '4111111111111111';
  const command = {
    version: 1,
    command: 'sale',
    channel: 'web',
    received_at: '2026-12-07T00:00:00Z',
    payment: {
      gateway: 'simulator',
      gateway_account: 'acme',
      gateway_key: 'pm_card_visa',
      amount: 500,
      currency: 'EUR',
      recurring: { model: 'unscheduled', network_transaction_id: PAN },
      custom_attributes: { network_transaction_id: PAN },
      method_details: { bank: { network_transaction_id: PAN } },
    },
    network_transaction_id: PAN,
  };

  it('is masked by the log redactor wherever a command (a dead letter, a log line) holds it', () => {
    const out = JSON.stringify(redact(command));
    expect(out).not.toContain(PAN);
    expect(redact({ network_transaction_id: PAN })).toEqual({ network_transaction_id: PAN_MASK });
  });

  it('is found as card data by the export and import check in the stored command (record.payment)', () => {
    const op = sale({ payment: { ...sale().payment, custom_attributes: { network_transaction_id: PAN } } });
    const snap: OperationSnapshot = {
      type: 'operation',
      id: op.id,
      record: Object.fromEntries(chunks(encodeRecord(op))),
      history: [JSON.stringify({ event: 'received', payment: { recurring: { network_transaction_id: PAN } } })],
      indexes: {},
      dependents: [],
      references: [],
      adjustments: [],
      events: [],
      payment: null,
    };
    const { snap: masked, paths } = maskedSnapshot(snap);
    expect(paths.sort()).toEqual(['history[0]', 'record.payment']);
    expect(JSON.stringify(masked)).not.toContain(PAN);
    // The record's own field keeps the PSP's id whole beside it.
    expect(masked.record.network_transaction_id).toBe(NTI);
  });

  it('a set-aside id never hides a card number its JSON re-serialized would lose (a number past 2^53): the text is scanned as stored', () => {
    // 19 digits, Luhn-valid; as a JSON number it parses to 4532015112830366000, no longer Luhn-valid.
    const PAN19 = '4532015112830366120';
    const payment = `{"amount":500,"custom_attributes":{"n":${PAN19}},"recurring":{"network_transaction_id":"${NTI}"}}`;
    const params = `{"payment":{"custom_attributes":{"n":${PAN19}},"network_transaction_id":"${NTI}","recurring":{"network_transaction_id":"${NTI}"}}}`;
    const snap: OperationSnapshot = {
      type: 'operation',
      id: 'op-nti-19',
      record: { payment, network_transaction_id: NTI },
      history: [],
      indexes: {},
      dependents: [],
      references: [],
      adjustments: [],
      events: [{ id: 'op-nti-19.SUCCEEDED', hash: { params } }],
      payment: null,
    };
    // The quoted id as one the bridge reported (the export's and archive's `LineTokens.networkIds`), and without.
    for (const reported of [new Set([NTI]), undefined]) {
      const { snap: masked, paths } = maskedSnapshot(snap, [], undefined, reported);
      expect(paths.sort()).toEqual(['events[0].hash.params', 'record.payment']);
      expect(JSON.stringify(masked)).not.toContain(PAN19);
      expect(masked.record.network_transaction_id).toBe(NTI);
    }
  });
});
