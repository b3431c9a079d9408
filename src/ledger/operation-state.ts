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
 *
 * UNRESOLVED is where an operation goes when we stop expecting an answer (the poll schedule ran out):
 * not terminal, because the PSP may still have moved the money; it is reported and alerted, and any later
 * PSP fact settles it. It is never sent again (only asked about).
 */
export const OPERATION_STATES = ['RECEIVED', 'SENT', 'PENDING', 'UNKNOWN', 'UNRESOLVED', 'SUCCEEDED', 'FAILED'] as const;
export type OperationState = (typeof OPERATION_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<OperationState> = new Set(['SUCCEEDED', 'FAILED']);

export const ALLOWED_TRANSITIONS: Readonly<Record<OperationState, readonly OperationState[]>> = {
  RECEIVED: ['SENT', 'FAILED'],
  SENT: ['SENT', 'SUCCEEDED', 'FAILED', 'PENDING', 'UNKNOWN', 'UNRESOLVED'],
  PENDING: ['SUCCEEDED', 'FAILED', 'UNKNOWN', 'PENDING', 'UNRESOLVED'],
  UNKNOWN: ['SUCCEEDED', 'FAILED', 'PENDING', 'SENT', 'UNKNOWN', 'UNRESOLVED'],
  // UNRESOLVED → UNRESOLVED reschedules the next slow inquiry.
  UNRESOLVED: ['SUCCEEDED', 'FAILED', 'PENDING', 'UNRESOLVED'],
  SUCCEEDED: [],
  FAILED: [],
};

export function isTerminal(state: OperationState): boolean {
  return TERMINAL_STATES.has(state);
}

export function canTransition(from: OperationState, to: OperationState): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/** States the poller asks about: their index score is the next check time (epoch ms). */
export const POLLED_STATES: ReadonlySet<OperationState> = new Set(['PENDING', 'UNKNOWN', 'UNRESOLVED']);
