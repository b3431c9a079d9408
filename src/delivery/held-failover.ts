import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import type { GatewayTransformer, OutcomeStatus } from '../gateways/gateway-adapter';
import type { OperationRecord } from '../ledger/ledger';
import { isTerminal } from '../ledger/operation-state';
import { HistoryEntryRead, anyAttemptMayHaveLanded, unprovenUnderCurrentKey } from './attempt-ends';

/** A `reason` of {@link failoversHeld}: a not-sent attempt's failover, after an earlier attempt that may be at the PSP. */
export const EARLIER_ATTEMPT_MAY_HAVE_LANDED = 'earlier_attempt_may_have_landed';

/**
 * A `reason` of {@link failoversHeld}: a decline "try elsewhere" of a request the PSP took as a new one (it takes no
 * idempotency key: `GatewayTransformer.resendIsNewRequest`), after an earlier attempt under the key that may be there.
 */
export const DECLINE_OF_NEW_REQUEST = 'decline_of_new_request';

/** Why a failover is held back: the `reason` label of {@link failoversHeld}. */
export type FailoverHeldReason = typeof EARLIER_ATTEMPT_MAY_HAVE_LANDED | typeof DECLINE_OF_NEW_REQUEST;

/** What ended the current attempt, for a failover that may be held back: provably not sent, or declined "try elsewhere". */
export type HeldFailoverTrigger = 'not_sent' | 'declined';

/** The current attempt's end as each trigger writes or reads it: proof of that attempt alone (src/delivery/attempt-ends.ts). */
const CURRENT_ATTEMPT_END: { readonly [T in HeldFailoverTrigger]: HistoryEntryRead } = {
  not_sent: { event: 'send_error', kind: 'not_sent' },
  declined: { event: 'attempt_ended', trigger: 'declined' },
};

/**
 * Why a failover on the current attempt's end (`trigger`) must be held back, or `null` when it may go. Both ends prove
 * only that attempt absent (its own end, `CURRENT_ATTEMPT_END`); what matters is an earlier attempt that may still be
 * live, which the next gateway's charge would sit beside (the customer charged twice):
 * - `not_sent`: held after any attempt that may have reached the PSP (`anyAttemptMayHaveLanded`, the check the
 *   breaker-open failover makes): a 5xx or a timeout under the same idempotency key may be live at this gateway; retried
 *   here under that key, the PSP answers for it ({@link EARLIER_ATTEMPT_MAY_HAVE_LANDED}).
 * - `declined`: where the PSP replays a key's first answer (`resendIsNewRequest` false: Stripe, Adyen, the simulator),
 *   the decline is its answer for the key, an earlier attempt's under it included: never held. Where a resend is a new
 *   request (`resendIsNewRequest` true: Cybersource), the decline answers that request only: held after an attempt
 *   under the same key (since the last failover, at this gateway) not proven absent, whether a 5xx, a timeout or one
 *   with no recorded end ({@link DECLINE_OF_NEW_REQUEST}). An attempt at a gateway left before was failed over from on
 *   its own proof. The same hold applies to a decline that would not fail over (no failover configured, no candidate
 *   left, a code not "try elsewhere"): it answers the new request only, and is no FAIL of the operation either.
 *
 * `history`: the operation's, the current attempt's `attempt` entry last. `resendIsNewRequest`: the gateway's
 * `GatewayTransformer.resendIsNewRequest` for the command. Pure.
 */
export function failoverHeld(history: readonly HistoryEntryRead[], trigger: HeldFailoverTrigger, resendIsNewRequest: boolean): FailoverHeldReason | null {
  const read = [...history, CURRENT_ATTEMPT_END[trigger]];
  if (trigger === 'not_sent') return anyAttemptMayHaveLanded(read) ? EARLIER_ATTEMPT_MAY_HAVE_LANDED : null;
  if (!resendIsNewRequest) return null;
  return unprovenUnderCurrentKey(read).length > 0 ? DECLINE_OF_NEW_REQUEST : null;
}

/** Whether `entry` is the end of an attempt whose decline of a resend was held back (`heldDecline`: UNRESOLVED). */
function isHeldDecline(entry: HistoryEntryRead): boolean {
  return entry.event === 'attempt_ended' && (entry.decline_held === DECLINE_OF_NEW_REQUEST || entry.failover_held === DECLINE_OF_NEW_REQUEST);
}

/**
 * Whether a FAIL the PSP reports for the operation afterwards, not as the answer to a request of ours (a webhook's, a
 * reconciliation line's), may settle it, from its history. Where the PSP replays a key's answer
 * (`resendIsNewRequest` false: Stripe, Adyen, the simulator) always: a FAIL there answers for the key, every attempt
 * under it included. Where a resend is a new request (`resendIsNewRequest` true: Cybersource), the operation may be
 * several transactions at the PSP under one merchant reference, and a FAIL speaks for one of them only (most likely
 * the resend's); so it may not settle it:
 * - when its latest attempt's decline was held ({@link failoverHeld}, trigger `declined`): the decision on record;
 * - while an attempt under the current key before the latest is not proven absent (`unprovenUnderCurrentKey` over the
 *   history up to the latest `attempt` entry): the same case before the latest attempt's own end is on record (its
 *   reject webhook handled before its synchronous DECLINED), or with that end an answer of its own (PENDING).
 * An attempt at a gateway left before (under an earlier key) was failed over from on its own proof: it holds nothing.
 * Held, the operation stays open for the poller, whose status inquiry reads every transaction under the merchant
 * reference (its FAIL is never held: it is how the hold resolves); a SUCCESS settles it as ever (the PSP's fact).
 * `history`: the operation's, oldest first. `resendIsNewRequest`: the operation's gateway's
 * `GatewayTransformer.resendIsNewRequest` for its command. Pure.
 */
export function failMaySettle(history: readonly HistoryEntryRead[], resendIsNewRequest: boolean): boolean {
  if (!resendIsNewRequest) return true;
  for (let i = history.length - 1; i >= 0; i--) {
    if (isHeldDecline(history[i])) return false;
    if (history[i].event === 'attempt') return unprovenUnderCurrentKey(history.slice(0, i)).length === 0;
  }
  return true;
}

/** What {@link failHeldBack} reads: the FAIL's operation, as read. */
export type FailHeldBackOperation = Pick<OperationRecord, 'id' | 'state' | 'attempts' | 'command'>;

/**
 * Whether a FAIL reported for `op` by a webhook or a reconciliation line must be held back, not applied
 * ({@link failMaySettle}): the one check both make. Never for another status, nor for an operation terminal already
 * (a FAIL of it is a late fact, handled as such). Reads the history only for an operation sent more than once at a
 * gateway whose resend is a new request (`transformer`: the operation's gateway's, `undefined` when it is no longer
 * configured); a first attempt, or a PSP that replays a key's answer, costs no round trip.
 * @returns true: the caller applies nothing (it records, counts and logs the hold); false: apply it as ever.
 */
export async function failHeldBack(
  op: FailHeldBackOperation,
  status: OutcomeStatus,
  transformer: Pick<GatewayTransformer, 'resendIsNewRequest'> | undefined,
  history: (operationId: string) => Promise<readonly HistoryEntryRead[]>,
): Promise<boolean> {
  if (status !== 'FAIL' || isTerminal(op.state) || op.attempts < 2) return false;
  if (transformer?.resendIsNewRequest?.(op.command) !== true) return false;
  return !failMaySettle(await history(op.id), true);
}

/**
 * `pb_routing_failovers_held_total{gateway,reason}`: failovers not made because an earlier attempt may have reached the
 * PSP at `gateway`, the one the operation stays at. `reason` ({@link FailoverHeldReason}):
 * {@link EARLIER_ATTEMPT_MAY_HAVE_LANDED} (a not-sent attempt: retried there under the same key) or
 * {@link DECLINE_OF_NEW_REQUEST} (a decline "try elsewhere" that answers a new request only: UNRESOLVED, never FAILED).
 */
export function failoversHeld(): Counter<'gateway' | 'reason'> {
  return counter(
    'pb_routing_failovers_held_total',
    'Failovers not made because an earlier attempt (a 5xx, a timeout, one with no recorded end) may have reached the PSP: a request provably not sent is retried at the gateway under the same key; a decline "try elsewhere" of a resend the PSP took as a new request (no idempotency key) leaves the operation UNRESOLVED; by gateway and reason',
    ['gateway', 'reason'],
  );
}
