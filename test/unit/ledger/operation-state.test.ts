import { ALLOWED_TRANSITIONS, OPERATION_STATES, OperationState, TERMINAL_STATES, canTransition, isTerminal } from '../../../src/ledger/operation-state';

/** Every allowed move, as the module's comment describes them (self-moves reschedule or resend). */
const ALLOWED: ReadonlyArray<[OperationState, OperationState]> = [
  ['RECEIVED', 'SENT'],
  ['RECEIVED', 'FAILED'],
  ['SENT', 'SENT'],
  ['SENT', 'SUCCEEDED'],
  ['SENT', 'FAILED'],
  ['SENT', 'PENDING'],
  ['SENT', 'UNKNOWN'],
  ['PENDING', 'PENDING'],
  ['PENDING', 'SUCCEEDED'],
  ['PENDING', 'FAILED'],
  ['PENDING', 'UNKNOWN'],
  ['UNKNOWN', 'UNKNOWN'],
  ['UNKNOWN', 'SUCCEEDED'],
  ['UNKNOWN', 'FAILED'],
  ['UNKNOWN', 'PENDING'],
  ['UNKNOWN', 'SENT'],
  ['SENT', 'UNRESOLVED'],
  ['PENDING', 'UNRESOLVED'],
  ['UNKNOWN', 'UNRESOLVED'],
  ['UNRESOLVED', 'UNRESOLVED'],
  ['UNRESOLVED', 'SUCCEEDED'],
  ['UNRESOLVED', 'FAILED'],
  ['UNRESOLVED', 'PENDING'],
  // The customer's action (3-D Secure, a redirect): entered from any open state, left by any PSP fact or expiry.
  ['SENT', 'ACTION_REQUIRED'],
  ['PENDING', 'ACTION_REQUIRED'],
  ['UNKNOWN', 'ACTION_REQUIRED'],
  ['UNRESOLVED', 'ACTION_REQUIRED'],
  ['ACTION_REQUIRED', 'ACTION_REQUIRED'],
  ['ACTION_REQUIRED', 'SUCCEEDED'],
  ['ACTION_REQUIRED', 'FAILED'],
  ['ACTION_REQUIRED', 'PENDING'],
  ['ACTION_REQUIRED', 'UNRESOLVED'],
];

const allPairs = OPERATION_STATES.flatMap((from) => OPERATION_STATES.map((to) => [from, to] as [OperationState, OperationState]));
const isAllowed = (from: OperationState, to: OperationState) => ALLOWED.some(([f, t]) => f === from && t === to);

describe('canTransition', () => {
  it.each(allPairs.filter(([f, t]) => isAllowed(f, t)))('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  it.each(allPairs.filter(([f, t]) => !isAllowed(f, t)))('refuses %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });

  it('never moves a terminal state, not even to itself', () => {
    for (const from of TERMINAL_STATES) {
      for (const to of OPERATION_STATES) expect(canTransition(from, to)).toBe(false);
      expect(ALLOWED_TRANSITIONS[from]).toEqual([]);
    }
  });

  it('never goes back to RECEIVED', () => {
    for (const from of OPERATION_STATES) expect(canTransition(from, 'RECEIVED')).toBe(false);
  });

  it('never lets PENDING be sent again (only UNKNOWN, after a status inquiry, may be)', () => {
    expect(canTransition('PENDING', 'SENT')).toBe(false);
    expect(canTransition('UNKNOWN', 'SENT')).toBe(true);
  });

  it('keeps UNRESOLVED open to a later PSP fact, but never sends it again nor leaves a terminal state for it', () => {
    expect(isTerminal('UNRESOLVED')).toBe(false);
    expect(canTransition('UNRESOLVED', 'SUCCEEDED')).toBe(true);
    expect(canTransition('UNRESOLVED', 'FAILED')).toBe(true);
    expect(canTransition('UNRESOLVED', 'SENT')).toBe(false);
    expect(canTransition('SUCCEEDED', 'UNRESOLVED')).toBe(false);
    expect(canTransition('FAILED', 'UNRESOLVED')).toBe(false);
  });
});

describe('isTerminal', () => {
  it('calls SUCCEEDED and FAILED terminal and nothing else', () => {
    expect(OPERATION_STATES.filter((s) => isTerminal(s))).toEqual(['SUCCEEDED', 'FAILED']);
    expect(OPERATION_STATES.filter((s) => isTerminal(s))).toEqual(['SUCCEEDED', 'FAILED']);
  });
});
