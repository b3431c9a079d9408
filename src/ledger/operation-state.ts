/**
 * States of an operation (DESIGN §3) and the only moves allowed between them. Transitions only go
 * forward: a late or repeated webhook never turns a terminal state back.
 *
 *   RECEIVED → SENT → SUCCEEDED | FAILED | PENDING | UNKNOWN
 *   PENDING  → SUCCEEDED | FAILED | UNKNOWN
 *   UNKNOWN  → SUCCEEDED | FAILED | PENDING | SENT   (SENT: the status inquiry found no trace; resend, same key)
 *   RECEIVED → FAILED                              (refused before any gateway call: no route, unsupported)
 */
export const OPERATION_STATES = ['RECEIVED', 'SENT', 'PENDING', 'UNKNOWN', 'SUCCEEDED', 'FAILED'] as const;
export type OperationState = (typeof OPERATION_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<OperationState> = new Set(['SUCCEEDED', 'FAILED']);

export const ALLOWED_TRANSITIONS: Readonly<Record<OperationState, readonly OperationState[]>> = {
  RECEIVED: ['SENT', 'FAILED'],
  SENT: ['SENT', 'SUCCEEDED', 'FAILED', 'PENDING', 'UNKNOWN'],
  PENDING: ['SUCCEEDED', 'FAILED', 'UNKNOWN', 'PENDING'],
  UNKNOWN: ['SUCCEEDED', 'FAILED', 'PENDING', 'SENT', 'UNKNOWN'],
  SUCCEEDED: [],
  FAILED: [],
};

export function isTerminal(state: OperationState): boolean {
  return TERMINAL_STATES.has(state);
}

export function canTransition(from: OperationState, to: OperationState): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}
