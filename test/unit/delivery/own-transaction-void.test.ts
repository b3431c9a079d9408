import { ownTransactionVoidOf } from '../../../src/delivery/own-transaction-void';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { channelCommand } from '../../support/fixtures';
import { requiredCredentials } from '../../support/gateway-credentials';
import { testConfig } from '../../support/test-config';

/**
 * What finding whether a cancel names one of our captures or refunds costs on a cancel's outcome (every Cybersource
 * cancel's success and failure asks it): the ledger reads, each at least one Redis round trip.
 */
const config = testConfig({
  gateways: {
    cybs: { type: 'cybersource', base_url: 'http://127.0.0.1:1', ...requiredCredentials('cybersource') },
  },
});

function record(command: OperationRecord['command'], key: string, extra: Partial<OperationRecord> = {}): OperationRecord {
  const c = channelCommand(command, {}, { gateway: 'cybs', gateway_key: key, order_id: 'ORD-own-void', amount: 5000, currency: 'USD' });
  return { ...draftRecord(c.payment.operation_reference!, c, 0), ...extra };
}

/** A ledger holding `records` by id and `references` (PSP reference → id), counting the reads asked of it. */
function countingLedger(records: OperationRecord[], references: Record<string, string> = {}) {
  const reads: string[] = [];
  const ledger: Pick<Ledger, 'get' | 'findByReference'> = {
    get: (id: string) => {
      reads.push(`get ${id}`);
      return Promise.resolve(records.find((r) => r.id === id) ?? null);
    },
    findByReference: (_gateway: string, reference: string) => {
      reads.push(`findByReference ${reference}`);
      return Promise.resolve(references[reference] ?? null);
    },
  };
  return { ledger, reads };
}

describe('ownTransactionVoidOf: whether a cancel voids one of our captures or refunds, and its reads', () => {
  const auth = record('authorize', 'tok', { state: 'SUCCEEDED', gatewayReference: '7000000000000000000001' });
  const capture = record('capture', auth.id, { state: 'SUCCEEDED', gatewayReference: '7000000000000000000002', authorizationId: auth.id });
  const references = { [auth.gatewayReference!]: auth.id, [capture.gatewayReference!]: capture.id };

  it('reads nothing for a cancel of the authorization named by its Cybersource reference, linked to it with its attempt', async () => {
    const cancel = record('cancel', auth.gatewayReference!, { authorizationId: auth.id });
    const { ledger, reads } = countingLedger([auth, capture], references);
    expect(await ownTransactionVoidOf(cancel, config, ledger)).toBeNull();
    expect(reads).toEqual([]);
  });

  it('still finds a capture named by its Cybersource id (no link is recorded for a void), with its reads', async () => {
    const cancel = record('cancel', capture.gatewayReference!);
    const { ledger, reads } = countingLedger([auth, capture], references);
    expect(await ownTransactionVoidOf(cancel, config, ledger)).toMatchObject({ command: 'capture', named: { id: capture.id } });
    expect(reads).toHaveLength(3);
  });

  it('still finds a capture named by our operation id, in one read', async () => {
    const cancel = record('cancel', capture.id);
    const { ledger, reads } = countingLedger([auth, capture], references);
    expect(await ownTransactionVoidOf(cancel, config, ledger)).toMatchObject({ command: 'capture', named: { id: capture.id } });
    expect(reads).toEqual([`get ${capture.id}`]);
  });

  it('a cancel of the authorization by our operation id: one read, not one of ours to void', async () => {
    const cancel = record('cancel', auth.id);
    const { ledger, reads } = countingLedger([auth, capture], references);
    expect(await ownTransactionVoidOf(cancel, config, ledger)).toBeNull();
    expect(reads).toEqual([`get ${auth.id}`]);
  });
});
