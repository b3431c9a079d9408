import { wantsStoredToken } from '../contracts/payment-method';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { OperationNotFoundError } from '../errors/operation-not-found-error';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { isTerminal } from '../ledger/operation-state';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

const lateTokens = counter(
  'pb_webhook_stored_tokens_total',
  "Tokens on first use a PSP reported apart from the payment's outcome (Adyen RECURRING_CONTRACT), by gateway and what became of them: sent (handed to the OMS by an event of their own), with_success (the operation's SUCCESS event carries it: the AUTHORISATION brought it too, or it was kept before that event was built), other_token_held (the operation holds another: kept as it was), not_asked (the command asked for no token), operation_failed (the operation FAILED: nothing reported), other_gateway (from a gateway the operation failed over from: not its token)",
  ['gateway', 'outcome'],
);

/** What a late token became (the label of `pb_webhook_stored_tokens_total`). */
export type LateTokenOutcome = 'sent' | 'with_success' | 'other_token_held' | 'not_asked' | 'operation_failed' | 'other_gateway';

/** The token `op` holds: the one kept for a token on first use, or a tokenize's key. */
function heldToken(op: OperationRecord): string | undefined {
  return op.storedToken ?? (op.command === 'tokenize' ? op.newGatewayKey : undefined);
}

/**
 * A token on first use the PSP reported apart from the payment's outcome (`job.storedToken`, Adyen RECURRING_CONTRACT,
 * for the merchant accounts whose AUTHORISATION does not carry it): it takes the AUTHORISATION token's path. The caller
 * has checked that the notification is of `op`'s gateway and account (`outcome-scope.ts`); the token touches no other
 * operation.
 * - Kept only by an operation that asked for one (`payment_method.store`, or a tokenize) and holds none: written on its
 *   record once (`stored_token`, HSETNX), so the token is never replaced nor reported twice; one holding it already
 *   (the AUTHORISATION carried it), or another, is left as it is.
 * - The OMS gets it as an AUTHORISATION's token reaches it, `payment.token` on the SUCCESS event: the one the
 *   operation's success sends when the token was on the record first; else, the SUCCESS event sent without it, an
 *   event of its own restating that success with the token (`OutcomeRecorder.reportStoredToken`). A FAILED operation's
 *   token is reported nowhere. Until the operation has its final outcome the job is retried
 *   (`OperationNotFoundError`): a success built while the token was being written might not carry it.
 * A token that reads as a card number is noted in the issued-token index before it is written (the OMS may send it back
 * in `payment.gateway_key`). History entry `stored_token` (`outcome`, never the token), `pb_webhook_stored_tokens_total`, an info line (a warn one
 * when another token is held); the token itself is never logged.
 * @returns the operation's state (unchanged).
 */
export async function applyLateToken(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: {
    ledger: Pick<Ledger, 'appendInteraction' | 'setFieldOnceAndGet' | 'get'>;
    recorder: Pick<OutcomeRecorder, 'reportStoredToken' | 'indexIssuedToken'>;
    logger: Logger;
  },
): Promise<string> {
  const token = job.storedToken;
  if (token === undefined) return op.state;
  const note = async (outcome: LateTokenOutcome, current: OperationRecord): Promise<string> => {
    await deps.ledger.appendInteraction(op.id, {
      event: 'stored_token',
      source: 'webhook',
      gateway: job.gateway,
      gateway_status: job.outcome.gatewayStatus,
      outcome,
      state: current.state,
      provider_event_id: job.eventId,
    });
    lateTokens.inc({ gateway: job.gateway, outcome });
    const fields = { operation_id: op.id, command: op.command, state: current.state, gateway: job.gateway, outcome, event_id: job.eventId };
    if (outcome === 'other_token_held') deps.logger.warn('PSP reports a stored token for an operation holding another: the one it holds stays', fields);
    else deps.logger.info('PSP reports the token it stored for a payment, apart from its outcome', fields);
    return current.state;
  };
  // A gateway the operation failed over from stored it for that attempt: a token of that PSP account, not this one's.
  if (gatewayOf(op) !== job.gateway) return note('other_gateway', op);
  if (op.command !== 'tokenize' && !wantsStoredToken(op.payment)) return note('not_asked', op);
  const held = heldToken(op);
  if (held !== undefined && held !== token) return note('other_token_held', op);
  if (held === undefined) {
    if (op.state === 'FAILED') return note('operation_failed', op);
    // Noted as issued before the record holds it (so before the OMS can get it): see `OutcomeRecorder.indexIssuedToken`.
    await deps.recorder.indexIssuedToken(token, job.gateway);
    const written = await deps.ledger.setFieldOnceAndGet(op.id, 'stored_token', token);
    if (!written.set && written.value !== token) return note('other_token_held', op);
  }
  // Held already (the AUTHORISATION carried it, or an earlier attempt of this job wrote it): whether the OMS has it is
  // what the operation's SUCCESS event says, checked below as for a token written now.
  const current = (await deps.ledger.get(op.id)) ?? op;
  if (!isTerminal(current.state)) {
    throw new OperationNotFoundError(`operation ${op.id} has no final outcome yet: its token from webhook ${job.eventId} waits for it`);
  }
  if (current.state !== 'SUCCEEDED') return note('operation_failed', current);
  const reported = await deps.recorder.reportStoredToken(current);
  return note(reported, current);
}
