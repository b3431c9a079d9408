import { Counter } from 'prom-client';
import { Config } from '../config/config';
import { GatewayOutcome } from '../gateways/gateway-adapter';
import { configuredVoidsOwnTransaction } from '../gateways/gateway-registry';
import { CancelEffect } from '../ledger/cancel-effect';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { scopeRefusal } from './operation-context';

/**
 * A cancel that names one of our captures or refunds (by our operation id or its own PSP reference), which its gateway voids as its own
 * transaction (`GatewayDefinition.voidsOwnTransactions`: Cybersource's "Void a Capture", "Void a Refund"; the request
 * is built from `OperationContext.voidOf`, see `resolveOperationContext`). What its outcome does to the ledger: a
 * success marks that capture or refund undone by the cancel (`Ledger.markUndoneByVoid`), so it no longer counts as
 * captured (its amount stays taken of the authorization: Cybersource captures no voided funds again) or as refunded; a decline (the batch
 * settled: `NOT_VOIDABLE`) leaves it as it was, and the OMS is told to refund instead (the decline's action).
 */

/** The capture or refund of ours a cancel voids by its own id, with what was voided. */
export interface OwnTransactionVoid {
  named: OperationRecord;
  command: 'capture' | 'refund';
}

/**
 * `pb_transaction_voids_total{gateway,command,outcome}`: cancels naming one of our captures or refunds (by its operation
 * id or its own PSP reference) that the gateway voids as its own transaction (Cybersource). `command`: `capture` or `refund`. `outcome`:
 * `voided` (the PSP confirmed the void; the capture or refund is marked undone and no longer counts), `declined` (the
 * PSP refused it, e.g. `NOT_VOIDABLE` once its batch settled: it stands, a refund returns the money), `refused` (refused
 * unsent: undone already, a capture refunds of its payment give back in part, or one whose authorization cannot be
 * read, so none of this can be checked).
 */
export function transactionVoids(): Counter<'gateway' | 'command' | 'outcome'> {
  return counter(
    'pb_transaction_voids_total',
    'Cancels voiding one of our captures or refunds by its own PSP id, by gateway, command (capture, refund) and outcome (voided, declined, refused unsent)',
    ['gateway', 'command', 'outcome'],
  );
}

/**
 * The capture or refund cancel `op` names, by our operation id or by its own PSP reference (Cybersource's capture or
 * refund id, found in the reference index of the gateway the cancel went to), when the gateway that did it voids it as
 * its own transaction (its type in `config`); null for any other cancel (one naming an authorization, by our id or its
 * PSP reference, or a stored value transaction). One named by reference is taken only when that reference is its own
 * and it is of the cancel's gateway and account (`scopeRefusal`, as delivery checked before sending): an outcome never
 * marks an operation of another. No read for a cancel linked to the authorization it acts on (`authorizationId`,
 * recorded with its attempt when its key, a PSP reference, resolved to that authorization: the common cancel by the
 * reference our SUCCESS event returned); else one read for a cancel whose key is not its own id, two more only for one
 * naming a reference at such a gateway.
 */
export async function ownTransactionVoidOf(
  op: OperationRecord,
  config: Config,
  ledger: Pick<Ledger, 'get' | 'findByReference'>,
): Promise<OwnTransactionVoid | null> {
  if (op.command !== 'cancel' || op.payment.gateway_key === op.id) return null;
  // Its attempt went to the authorization its key named (a void of a capture or refund never records one): the request
  // sent was that authorization's cancel, whatever the reference index holds now. No read on the common path.
  if (op.authorizationId !== undefined) return null;
  const key = op.payment.gateway_key;
  const named = (await ledger.get(key)) ?? (await namedByReference(op, key, config, ledger));
  if (!named || (named.command !== 'capture' && named.command !== 'refund')) return null;
  if (!configuredVoidsOwnTransaction(config, gatewayOf(named), named.command)) return null;
  return { named, command: named.command };
}

/** The capture or refund of ours whose own PSP reference on the cancel's gateway is `reference`, in the cancel's scope; null otherwise. */
async function namedByReference(
  op: OperationRecord,
  reference: string,
  config: Config,
  ledger: Pick<Ledger, 'get' | 'findByReference'>,
): Promise<OperationRecord | null> {
  const gateway = gatewayOf(op);
  if (!configuredVoidsOwnTransaction(config, gateway, 'capture') && !configuredVoidsOwnTransaction(config, gateway, 'refund')) return null;
  const id = await ledger.findByReference(gateway, reference);
  const named = id === null || id === op.id ? null : await ledger.get(id);
  if (!named || named.gatewayReference !== reference || scopeRefusal(op.payment, named) !== null) return null;
  return named;
}

/**
 * Records what the PSP confirmed for cancel `op`'s void of `voided`: marks it undone by the cancel (once: a retry, a
 * second outcome or a crash before the success was recorded finds the mark and marks nothing again), counted
 * `voided` with an info line when it marks; the effect the cancel's success records (and its event names).
 */
export async function markOwnTransactionVoided(
  op: OperationRecord,
  voided: OwnTransactionVoid,
  outcome: GatewayOutcome,
  deps: { ledger: Pick<Ledger, 'markUndoneByVoid'>; logger: Logger },
  source: string,
  now: number,
): Promise<CancelEffect> {
  const { named, command } = voided;
  const gateway = gatewayOf(named);
  const marked = await deps.ledger.markUndoneByVoid(named.id, op.id, now, command === 'refund');
  const line = { operation_id: op.id, gateway, source, voided_operation_id: named.id, command, amount: named.payment.amount, currency: named.payment.currency };
  if (marked.result === 'marked') {
    transactionVoids().inc({ gateway, command, outcome: 'voided' });
    deps.logger.info(`${command} voided by a cancel naming it: marked undone, no longer counted as ${command === 'capture' ? 'captured' : 'refunded'}`, {
      ...line,
      gateway_status: outcome.gatewayStatus,
    });
  } else if (marked.result === 'not_captured' || marked.by !== op.id) {
    // The PSP voided it, yet the ledger holds it otherwise (undone already by another, or not succeeded): an operator
    // compares with the PSP; the cancel's success still names what it voided.
    deps.logger.warn(`cancel voided a ${command} the ledger does not hold as standing: check it with the PSP`, {
      ...line,
      ...(marked.result === 'not_captured' ? { state: marked.state } : { undone_by: marked.by }),
    });
  }
  return { voided: named.id, command };
}

/**
 * Counts and logs the PSP's refusal of cancel `op`'s void of `voided` (the batch settled: `NOT_VOIDABLE`): nothing was
 * undone, the capture or refund stands and still counts; the OMS's event says so and suggests a refund instead.
 */
export function noteOwnTransactionVoidDeclined(op: OperationRecord, voided: OwnTransactionVoid, outcome: GatewayOutcome, logger: Logger, source: string): void {
  const gateway = gatewayOf(voided.named);
  transactionVoids().inc({ gateway, command: voided.command, outcome: 'declined' });
  logger.warn(`gateway declined the void of a ${voided.command}: it stands and still counts; a refund returns the money`, {
    operation_id: op.id,
    gateway,
    source,
    voided_operation_id: voided.named.id,
    command: voided.command,
    reason: outcome.reason ?? outcome.gatewayStatus,
  });
}
