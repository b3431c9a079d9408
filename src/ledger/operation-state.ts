/**
 * States of an operation and the only moves allowed between them. Transitions only go forward: a late or
 * repeated webhook never turns a terminal state back.
 *
 *   RECEIVED   → SENT → SUCCEEDED | FAILED | PENDING | UNKNOWN
 *   PENDING    → SUCCEEDED | FAILED | UNKNOWN | UNRESOLVED
 *   UNKNOWN    → SUCCEEDED | FAILED | PENDING | SENT | UNRESOLVED  (SENT: the status inquiry found no trace; resend, same key)
 *   SENT       → UNRESOLVED  (`delivery.max_age_ms` passed after an attempt that may have reached the PSP)
 *   UNRESOLVED → SUCCEEDED | FAILED | PENDING  (a later PSP fact: webhook, slow inquiry, reconciliation)
 *   RECEIVED   → FAILED      (refused before any gateway call: no route, unsupported)
 *   SENT | PENDING | UNKNOWN | UNRESOLVED → ACTION_REQUIRED  (the PSP waits for the customer: 3-D Secure, a redirect)
 *   ACTION_REQUIRED → SUCCEEDED | FAILED | PENDING | UNRESOLVED  (webhook, inquiry, or the poller's expiry: FAILED; UNRESOLVED when its inquiry keeps erring)
 *
 * UNRESOLVED is where an operation goes when we stop expecting an answer (the poll schedule ran out):
 * not terminal, because the PSP may still have moved the money; it is reported and alerted, and any later
 * PSP fact settles it. It is never sent again (only asked about).
 *
 * ACTION_REQUIRED waits for the customer (the storefront got the PSP's action on the event): not terminal,
 * never sent again; its index score is when the action expires (the PSP's own deadline plus a grace when it
 * named one, a voucher's; else `authentication.action_timeout_ms`), when the poller asks the PSP once more
 * and, still waiting, fails it and voids what the PSP holds.
 */
export const OPERATION_STATES = ['RECEIVED', 'SENT', 'PENDING', 'ACTION_REQUIRED', 'UNKNOWN', 'UNRESOLVED', 'SUCCEEDED', 'FAILED'] as const;
export type OperationState = (typeof OPERATION_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<OperationState> = new Set(['SUCCEEDED', 'FAILED']);

export const ALLOWED_TRANSITIONS: Readonly<Record<OperationState, readonly OperationState[]>> = {
  RECEIVED: ['SENT', 'FAILED'],
  SENT: ['SENT', 'SUCCEEDED', 'FAILED', 'PENDING', 'ACTION_REQUIRED', 'UNKNOWN', 'UNRESOLVED'],
  PENDING: ['SUCCEEDED', 'FAILED', 'UNKNOWN', 'PENDING', 'ACTION_REQUIRED', 'UNRESOLVED'],
  // ACTION_REQUIRED → ACTION_REQUIRED: a repeated notice (a webhook) keeps it waiting, same expiry.
  ACTION_REQUIRED: ['SUCCEEDED', 'FAILED', 'PENDING', 'ACTION_REQUIRED', 'UNRESOLVED'],
  UNKNOWN: ['SUCCEEDED', 'FAILED', 'PENDING', 'ACTION_REQUIRED', 'SENT', 'UNKNOWN', 'UNRESOLVED'],
  // UNRESOLVED → UNRESOLVED reschedules the next slow inquiry.
  UNRESOLVED: ['SUCCEEDED', 'FAILED', 'PENDING', 'ACTION_REQUIRED', 'UNRESOLVED'],
  SUCCEEDED: [],
  FAILED: [],
};

export function isTerminal(state: OperationState): boolean {
  return TERMINAL_STATES.has(state);
}

export function canTransition(from: OperationState, to: OperationState): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/**
 * States the poller looks at: their index score is the next check time (epoch ms); for ACTION_REQUIRED,
 * when the customer's action expires.
 */
export const POLLED_STATES: ReadonlySet<OperationState> = new Set(['PENDING', 'ACTION_REQUIRED', 'UNKNOWN', 'UNRESOLVED']);
