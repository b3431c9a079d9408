import { CommandType } from '../contracts/payment-command';
import { OperationContext } from '../gateways/gateway-adapter';
import { Ledger, OperationRecord } from '../ledger/ledger';

/** Commands that act on an earlier authorization named by `gateway_key`. */
export const DEPENDENT: ReadonlySet<CommandType> = new Set(['capture', 'cancel', 'refund', 'validate', 'revalidate']);
/** Commands whose success creates an authorization later commands may name by our operation id. */
const AUTHORIZING: ReadonlySet<CommandType> = new Set(['authorize', 'sale', 'revalidate']);

/**
 * What the gateway transformer is given for an operation, or why it cannot be given anything yet:
 * `wait` (the authorization it names is not decided), `fail` (that authorization failed, or succeeded
 * without a PSP reference).
 */
export type ContextResolution = { context: OperationContext } | { wait: string } | { fail: string };

/**
 * The context of `op` for its gateway: a capture, cancel, refund, validate or revalidate whose `gateway_key`
 * is the operation id of one of OUR authorizations acts on the PSP's reference for it (its new gateway
 * key, else its gateway reference), which exists only once that authorization succeeded. Every other
 * command is sent as the OMS gave it. Used for the request itself (delivery) and for any status inquiry
 * about it (delivery's UNKNOWN resolution, the poller), so both name the same PSP object.
 */
export async function resolveOperationContext(op: OperationRecord, ledger: Ledger): Promise<ContextResolution> {
  const context: OperationContext = { operationId: op.id, command: op.command, payment: op.payment };
  if (!DEPENDENT.has(op.command)) return { context };
  const auth = op.payment.gateway_key === op.id ? null : await ledger.get(op.payment.gateway_key);
  if (!auth || !AUTHORIZING.has(auth.command)) return { context };
  switch (auth.state) {
    case 'SUCCEEDED': {
      const key = auth.newGatewayKey ?? auth.gatewayReference;
      if (!key) return { fail: 'AUTHORIZATION_REFERENCE_MISSING' };
      return { context: { ...context, payment: { ...op.payment, gateway_key: key } } };
    }
    case 'FAILED':
      return { fail: 'AUTHORIZATION_FAILED' };
    case 'RECEIVED':
    case 'SENT':
    case 'PENDING':
    case 'UNKNOWN':
    case 'UNRESOLVED':
      return { wait: `authorization ${auth.id} is ${auth.state}` };
  }
}
