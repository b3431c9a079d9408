import { channelCommand } from '../../support/fixtures';
import type { Payment } from '../../../src/contracts/payment-command';
import type { OperationRecord } from '../../../src/ledger/ledger';
import type { OperationState } from '../../../src/ledger/operation-state';
import {
  EXTRA_AUTHORIZATION_NOT_SUCCEEDED,
  EXTRA_AUTHORIZATION_RECORDED,
  extraAuthorizationGate,
  extraAuthorizationOf,
  isExtraAuthorizationVoid,
} from '../../../src/delivery/extra-authorization-void';

const HOLD = '6381278241084565908266';

function record(
  id: string,
  command: 'authorize' | 'cancel',
  state: OperationState,
  extra: Partial<OperationRecord> = {},
  payment: Partial<Payment> = {},
): OperationRecord {
  const c = channelCommand(command, {}, { gateway: 'cybs', gateway_key: HOLD, amount: 9000, currency: 'USD', ...payment });
  return { id, command, channel: c.channel, payment: c.payment, state, attempts: 0, createdAt: 1, receivedAt: 1, updatedAt: 1, ...extra } as OperationRecord;
}

const voidOf = (authorizeId: string) =>
  record(
    `_${authorizeId}-extra-0123456789abcdef.void`,
    'cancel',
    'RECEIVED',
    {},
    { orphan_reversal: 'extra_authorization', extra_authorization_of: authorizeId },
  );

function ledgerWith(...records: OperationRecord[]) {
  return { get: async (id: string) => records.find((r) => r.id === id) ?? null };
}

describe('extra authorization void: which authorize it belongs to', () => {
  it('is a cancel with orphan_reversal extra_authorization only', () => {
    expect(isExtraAuthorizationVoid(voidOf('op-1'))).toBe(true);
    expect(isExtraAuthorizationVoid(record('_op-1.void', 'cancel', 'RECEIVED', {}, { orphan_reversal: 'uncaptured_past_age' }))).toBe(false);
  });

  it('reads payment.extra_authorization_of, else the authorize id in an unhashed void id, else nothing', () => {
    expect(extraAuthorizationOf(voidOf('op-1'))).toBe('op-1');
    expect(extraAuthorizationOf(record('_op-2-extra-0123456789abcdef.void', 'cancel', 'RECEIVED'))).toBe('op-2');
    expect(extraAuthorizationOf(record('_void-0123', 'cancel', 'RECEIVED'))).toBeUndefined();
  });
});

describe('extraAuthorizationGate', () => {
  it.each(['RECEIVED', 'SENT', 'PENDING', 'ACTION_REQUIRED', 'UNKNOWN', 'UNRESOLVED'] as const)('waits on the authorize while it is %s', async (state) => {
    const auth = record('op-1', 'authorize', state);
    expect(await extraAuthorizationGate(voidOf('op-1'), ledgerWith(auth))).toEqual({
      wait: expect.stringContaining(state),
      authorization: { id: 'op-1', payment: auth.payment, state },
    });
  });

  it('refuses EXTRA_AUTHORIZATION_RECORDED when the authorize SUCCEEDED on this very hold', async () => {
    const auth = record('op-1', 'authorize', 'SUCCEEDED', { gatewayReference: HOLD });
    expect(await extraAuthorizationGate(voidOf('op-1'), ledgerWith(auth))).toMatchObject({ fail: EXTRA_AUTHORIZATION_RECORDED, field: 'payment.gateway_key' });
  });

  it('lets the void go when the authorize SUCCEEDED on another hold', async () => {
    const auth = record('op-1', 'authorize', 'SUCCEEDED', { gatewayReference: '7000000000000000000001' });
    expect(await extraAuthorizationGate(voidOf('op-1'), ledgerWith(auth))).toBeNull();
  });

  it('refuses EXTRA_AUTHORIZATION_NOT_SUCCEEDED when the authorize FAILED or is not on record', async () => {
    expect(await extraAuthorizationGate(voidOf('op-1'), ledgerWith(record('op-1', 'authorize', 'FAILED')))).toMatchObject({
      fail: EXTRA_AUTHORIZATION_NOT_SUCCEEDED,
      detail: { operation_id: 'op-1', state: 'FAILED' },
    });
    expect(await extraAuthorizationGate(voidOf('op-1'), ledgerWith())).toMatchObject({
      fail: EXTRA_AUTHORIZATION_NOT_SUCCEEDED,
      detail: { operation_id: 'op-1' },
    });
  });
});
