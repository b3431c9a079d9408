import { ExtraHold, GatewayOutcome } from '../../../src/gateways/gateway-adapter';
import { OperationRecord } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { holdsBeside, releaseExtraHolds } from '../../../src/delivery/extra-holds-release';

function record(overrides: Partial<OperationRecord> = {}): OperationRecord {
  return {
    id: 'auth-1',
    command: 'authorize',
    channel: 'web',
    state: 'UNKNOWN',
    payment: { gateway: 'cybs', gateway_account: 'acct', gateway_key: 'pm', amount: 10000, currency: 'USD', order_id: 'ORD-1' },
    receivedAt: 0,
    createdAt: 0,
    updatedAt: 0,
    attempts: 1,
    ...overrides,
  };
}

const success = (extraHolds: ExtraHold[]): GatewayOutcome => ({
  status: 'SUCCESS',
  gatewayStatus: 'AUTHORIZED (3 holding funds)',
  gatewayReference: 'NEWEST',
  extraHolds,
});

/** Runs `releaseExtraHolds` against a ledger that reads `current`; returns the PSP ids handed to the releaser. */
async function released(op: OperationRecord, outcome: GatewayOutcome, current: OperationRecord | null = op): Promise<string[]> {
  const asked: string[] = [];
  const release = (_op: OperationRecord, hold: ExtraHold) => {
    asked.push(hold.pspReference);
    return Promise.resolve({ outcome: 'voided' });
  };
  const handed = await releaseExtraHolds({ ledger: { get: () => Promise.resolve(current) }, logger: silentLogger(), release }, op, outcome, 'inquiry');
  expect(handed).toEqual(asked);
  return asked;
}

describe('releaseExtraHolds (the extra authorizations of an authorize, before its success is recorded)', () => {
  it('hands every extra hold to orphan reversal, one by one', async () => {
    expect(await released(record(), success([{ pspReference: 'FIRST', amount: 9000, currency: 'USD' }, { pspReference: 'SECOND' }]))).toEqual([
      'FIRST',
      'SECOND',
    ]);
  });

  it('never the authorization the outcome names or the operation records', async () => {
    const op = record({ gatewayReference: 'RECORDED' });
    expect(await released(op, success([{ pspReference: 'NEWEST' }, { pspReference: 'RECORDED' }, { pspReference: 'FIRST' }]))).toEqual(['FIRST']);
  });

  it('nothing once the operation is settled (another move recorded its outcome meanwhile), nor for a sale or a non-success', async () => {
    const holds = [{ pspReference: 'FIRST' }];
    expect(await released(record(), success(holds), record({ state: 'SUCCEEDED', gatewayReference: 'FIRST' }))).toEqual([]);
    expect(await released(record({ command: 'sale' }), success(holds))).toEqual([]);
    expect(await released(record(), { ...success(holds), status: 'PENDING' })).toEqual([]);
  });
});

describe('holdsBeside: what may be voided as extra', () => {
  it('leaves out every kept authorization, ignores an absent one, and keeps each other PSP id once, in order', () => {
    const holds: ExtraHold[] = [{ pspReference: 'A', amount: 100 }, { pspReference: 'KEPT' }, { pspReference: 'B' }, { pspReference: 'A', amount: 100 }];
    expect(holdsBeside(holds, ['KEPT', undefined])).toEqual([{ pspReference: 'A', amount: 100 }, { pspReference: 'B' }]);
  });

  it('is empty when every hold is kept', () => {
    expect(holdsBeside([{ pspReference: 'X' }, { pspReference: 'Y' }], ['Y', 'X'])).toEqual([]);
  });
});
