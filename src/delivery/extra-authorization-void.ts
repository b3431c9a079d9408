import type { Ledger, OperationRecord } from '../ledger/ledger';
import { BRIDGE_ID_PREFIX } from '../ledger/operation-id';
import type { WaitedOn } from './dependent-wait';

/**
 * Why the void of an extra authorization (orphan reversal, `extra_authorization`) is refused unsent: the hold it names
 * is on record as an operation's own (recorded after the void was requested), never voided by it.
 */
export const EXTRA_AUTHORIZATION_RECORDED = 'EXTRA_AUTHORIZATION_RECORDED';

/**
 * Why the void of an extra authorization is refused unsent: the authorize it belongs to ended without a success (FAILED),
 * or its record is gone, so nothing on record says which hold the OMS has: no money moves on a guess.
 */
export const EXTRA_AUTHORIZATION_NOT_SUCCEEDED = 'EXTRA_AUTHORIZATION_NOT_SUCCEEDED';

/** The reason a bridge void of an extra authorization carries (`payment.orphan_reversal`; one of `ORPHAN_REASONS`). */
const EXTRA_AUTHORIZATION = 'extra_authorization';

/** `_<authorize id>-extra-<16 hex>.void`, the shape of `extraHoldVoidId` when not hashed (a record made before `extra_authorization_of`). */
const EXTRA_VOID_ID = new RegExp(`^${BRIDGE_ID_PREFIX}(.+)-extra-[0-9a-f]{16}\\.void$`);

/** Whether `op` is orphan reversal's void of an extra authorization. Pure. */
export function isExtraAuthorizationVoid(op: Pick<OperationRecord, 'command' | 'payment'>): boolean {
  return op.command === 'cancel' && op.payment.orphan_reversal === EXTRA_AUTHORIZATION;
}

/**
 * The operation id of the authorize whose extra hold void `op` reverses: `payment.extra_authorization_of`, else read
 * from its id (a void requested before that field existed), else undefined (a hashed id without the field). Pure.
 */
export function extraAuthorizationOf(op: Pick<OperationRecord, 'id' | 'payment'>): string | undefined {
  return op.payment.extra_authorization_of ?? EXTRA_VOID_ID.exec(op.id)?.[1];
}

/** What holds back the void of an extra authorization: a refusal, or a wait for the authorize it belongs to. */
export type ExtraAuthorizationGate = { fail: string; field: string; detail: Record<string, unknown> } | { wait: string; authorization: WaitedOn };

/**
 * Whether void `op` of an extra authorization (`isExtraAuthorizationVoid`) may go, read against the authorize it
 * belongs to ({@link extraAuthorizationOf}). It was requested before that authorize's success went on record (a
 * SUCCEEDED authorize is never asked about again), and until that success lands a move of the hold it names (a webhook,
 * a retried one after a crash) may make that very hold the operation's, the one the OMS is told of and captures name.
 * So: while the authorize is not terminal, it waits unsent (a dependent wait on it, `authorization`: woken when it
 * moves, bounded by `delivery.authorization_wait_max_ms`, past which no card authorization is valid anyway);
 * SUCCEEDED with this hold as its reference (`gatewayReference`, `newGatewayKey`): refused
 * {@link EXTRA_AUTHORIZATION_RECORDED}; SUCCEEDED on another: null, it goes; FAILED, or its record gone: refused
 * {@link EXTRA_AUTHORIZATION_NOT_SUCCEEDED} (that hold, if live, is for a person). One read.
 */
export async function extraAuthorizationGate(op: OperationRecord, ledger: Pick<Ledger, 'get'>): Promise<ExtraAuthorizationGate | null> {
  const authorizeId = extraAuthorizationOf(op);
  const auth = authorizeId !== undefined ? await ledger.get(authorizeId) : null;
  const field = 'payment.gateway_key';
  if (!auth) {
    return {
      fail: EXTRA_AUTHORIZATION_NOT_SUCCEEDED,
      field,
      detail: { operation_id: authorizeId ?? null, why: 'the authorize this extra hold belongs to is not on record: which hold the OMS has cannot be told' },
    };
  }
  switch (auth.state) {
    case 'SUCCEEDED': {
      const hold = op.payment.gateway_key;
      if (auth.gatewayReference === hold || auth.newGatewayKey === hold) {
        return { fail: EXTRA_AUTHORIZATION_RECORDED, field, detail: { operation_id: auth.id, command: auth.command } };
      }
      return null;
    }
    case 'FAILED':
      return {
        fail: EXTRA_AUTHORIZATION_NOT_SUCCEEDED,
        field,
        detail: { operation_id: auth.id, command: auth.command, state: auth.state, why: 'the authorize this extra hold belongs to ended without a success' },
      };
    default:
      return {
        wait: `authorize ${auth.id} whose extra hold it voids is ${auth.state}`,
        authorization: { id: auth.id, payment: auth.payment, state: auth.state },
      };
  }
}
