import { DECLINE_OF_NEW_REQUEST, EARLIER_ATTEMPT_MAY_HAVE_LANDED, failHeldBack, failMaySettle, failoverHeld } from '../../../src/delivery/held-failover';

/** A history entry as read (the fields the rule reads). */
type Entry = { readonly event: string; readonly [detail: string]: unknown };

const attempt = (n: number): Entry => ({ event: 'attempt', attempt: n });
const error = (kind: string, httpStatus?: number): Entry => ({ event: 'send_error', kind, ...(httpStatus ? { http_status: httpStatus } : {}) });
const notSentHeld = (history: readonly Entry[]) => failoverHeld(history, 'not_sent', false) === EARLIER_ATTEMPT_MAY_HAVE_LANDED;

describe('failoverHeld (not_sent): whether a failover on a not-sent attempt waits for an earlier attempt', () => {
  it('goes ahead on a first attempt not sent: the only attempt is proven absent by its own error', () => {
    expect(failoverHeld([{ event: 'received' }, attempt(1)], 'not_sent', false)).toBeNull();
  });

  it('is held after a 5xx under the same key: that attempt may be live at the PSP', () => {
    expect(notSentHeld([{ event: 'received' }, attempt(1), error('server_error', 500), attempt(2)])).toBe(true);
  });

  it('is held after a timeout, or an attempt with no recorded end (a worker killed mid-call), before it', () => {
    expect(notSentHeld([attempt(1), error('outcome_unknown'), attempt(2)])).toBe(true);
    expect(notSentHeld([attempt(1), attempt(2)])).toBe(true);
  });

  it('goes ahead when every earlier attempt is proven absent: not sent, 429, refused credentials, or a status inquiry miss under its key', () => {
    expect(notSentHeld([attempt(1), error('not_sent'), attempt(2), error('rate_limited', 429), attempt(3)])).toBe(false);
    expect(notSentHeld([attempt(1), error('authentication', 401), attempt(2)])).toBe(false);
    const missed = [attempt(1), error('server_error', 500), attempt(2), error('outcome_unknown'), { event: 'inquiry', found: false }, attempt(3)];
    expect(notSentHeld(missed)).toBe(false);
  });

  it('is held when a status inquiry only lagged (its miss proves nothing yet)', () => {
    expect(notSentHeld([attempt(1), error('outcome_unknown'), { event: 'inquiry_lag', found: false }, attempt(2)])).toBe(true);
  });

  it('is held after a 5xx at a gateway left before: a failover on a later decline proves only the declined attempt', () => {
    const history = [
      attempt(1),
      error('server_error', 500),
      attempt(2),
      { event: 'failover', from: 'sima', to: 'simb', trigger: 'declined:insufficient_funds' },
      attempt(3),
    ];
    expect(notSentHeld(history)).toBe(true);
  });

  it('goes ahead after a failover from a not-sent first attempt: both attempts proven absent', () => {
    expect(notSentHeld([attempt(1), { event: 'failover', from: 'dead', to: 'sima', trigger: 'not_sent' }, attempt(2)])).toBe(false);
  });

  it('reads the same whether or not the gateway takes a resend as a new request', () => {
    expect(failoverHeld([attempt(1), error('server_error', 500), attempt(2)], 'not_sent', true)).toBe(EARLIER_ATTEMPT_MAY_HAVE_LANDED);
  });
});

describe('failoverHeld (declined): whether a failover on a decline "try elsewhere" waits for an earlier attempt', () => {
  const after5xx = [attempt(1), error('server_error', 500), attempt(2)];

  it("never holds where the PSP replays a key's first answer (resendIsNewRequest false): the decline is its answer for the key", () => {
    expect(failoverHeld(after5xx, 'declined', false)).toBeNull();
    expect(failoverHeld([attempt(1), attempt(2)], 'declined', false)).toBeNull();
  });

  it('goes ahead on a first attempt declined, where a resend is a new request: nothing before it', () => {
    expect(failoverHeld([{ event: 'received' }, attempt(1)], 'declined', true)).toBeNull();
  });

  it('is held after a 5xx under the same key where a resend is a new request: the decline answers the resend only', () => {
    expect(failoverHeld(after5xx, 'declined', true)).toBe(DECLINE_OF_NEW_REQUEST);
  });

  it('is held after a timeout, an attempt with no recorded end, or a lagging or held-back miss, before it', () => {
    expect(failoverHeld([attempt(1), error('outcome_unknown'), attempt(2)], 'declined', true)).toBe(DECLINE_OF_NEW_REQUEST);
    expect(failoverHeld([attempt(1), attempt(2)], 'declined', true)).toBe(DECLINE_OF_NEW_REQUEST);
    expect(failoverHeld([attempt(1), error('outcome_unknown'), { event: 'inquiry_lag', found: false }, attempt(2)], 'declined', true)).toBe(
      DECLINE_OF_NEW_REQUEST,
    );
    // A not-sent retry held back after a 5xx proves only itself absent: the 5xx is still unproven.
    expect(failoverHeld([...after5xx, error('not_sent'), attempt(3)], 'declined', true)).toBe(DECLINE_OF_NEW_REQUEST);
  });

  it('goes ahead when a status inquiry under the key found no trace, or every earlier attempt proved itself absent', () => {
    const missed = [attempt(1), { event: 'unfinished_attempt' }, { event: 'inquiry', found: false }, attempt(2)];
    expect(failoverHeld(missed, 'declined', true)).toBeNull();
    expect(failoverHeld([attempt(1), error('not_sent'), attempt(2), error('rate_limited', 429), attempt(3)], 'declined', true)).toBeNull();
  });

  it('goes ahead after a failover from a gateway left before: an attempt there was failed over from on its own proof, under another key', () => {
    const history = [
      attempt(1),
      error('server_error', 500),
      attempt(2),
      { event: 'failover', from: 'sima', to: 'cybs', trigger: 'declined:insufficient_funds' },
      attempt(3),
    ];
    expect(failoverHeld(history, 'declined', true)).toBeNull();
  });
});

describe('failMaySettle: whether a FAIL reported afterwards (a webhook, a reconciliation line) may settle the operation', () => {
  const held = (detail: Record<string, unknown>): Entry[] => [
    { event: 'received' },
    attempt(1),
    error('server_error', 400),
    attempt(2),
    { event: 'attempt_ended', trigger: 'declined', gateway: 'cybs', ...detail },
    { event: 'unresolved', to: 'UNRESOLVED' },
  ];
  /** A 5xx, then the resend sent: its answer not on record yet. */
  const resendInFlight: Entry[] = [{ event: 'received' }, attempt(1), error('server_error', 500), attempt(2)];

  it('may on a first attempt, whatever the gateway: nothing before it', () => {
    expect(failMaySettle([{ event: 'received' }, attempt(1)], true)).toBe(true);
    expect(failMaySettle([{ event: 'received' }, attempt(1)], false)).toBe(true);
    expect(failMaySettle([], true)).toBe(true);
  });

  it("always may where the PSP replays a key's answer (resendIsNewRequest false): a FAIL there answers for the key", () => {
    expect(failMaySettle(resendInFlight, false)).toBe(true);
    expect(failMaySettle([attempt(1), error('outcome_unknown'), attempt(2), { event: 'outcome', to: 'PENDING' }], false)).toBe(true);
  });

  it('may not after a decline of a resend held back, failover or not: the FAIL speaks for one transaction, the earlier one may hold the money', () => {
    expect(failMaySettle(held({ decline_held: DECLINE_OF_NEW_REQUEST }), true)).toBe(false);
    expect(failMaySettle(held({ failover_held: DECLINE_OF_NEW_REQUEST }), true)).toBe(false);
    // Entries after the hold (a webhook held, a poll that lagged) leave it held.
    expect(failMaySettle([...held({ decline_held: DECLINE_OF_NEW_REQUEST }), { event: 'webhook_fail_held' }], true)).toBe(false);
  });

  it('may not while a resend is in flight after an attempt not proven absent (5xx, timeout, no recorded end): its reject came before its own answer', () => {
    expect(failMaySettle(resendInFlight, true)).toBe(false);
    expect(failMaySettle([attempt(1), error('outcome_unknown'), { event: 'inquiry_lag', found: false }, attempt(2)], true)).toBe(false);
    expect(failMaySettle([attempt(1), attempt(2)], true)).toBe(false);
    // Its own answer on record (PENDING, then a review's reject) does not speak for the earlier attempt either.
    expect(failMaySettle([...resendInFlight, { event: 'outcome', source: 'response', to: 'PENDING' }], true)).toBe(false);
  });

  it('may when every attempt before the latest is proven absent: not sent, or a status inquiry under the key found no trace', () => {
    expect(failMaySettle([attempt(1), error('not_sent'), attempt(2)], true)).toBe(true);
    expect(failMaySettle([attempt(1), error('outcome_unknown'), { event: 'inquiry', found: false }, attempt(2)], true)).toBe(true);
    expect(failMaySettle([attempt(1), { event: 'outcome', source: 'response', to: 'FAILED' }], true)).toBe(true);
    expect(failMaySettle([attempt(1), { event: 'attempt_ended', trigger: 'not_sent', gateway: 'sima' }], true)).toBe(true);
  });

  it('may with a resend in flight after a failover, the earlier attempt at another gateway (under another key): failed over from on its own proof', () => {
    const history = [
      attempt(1),
      error('server_error', 500),
      attempt(2),
      { event: 'failover', from: 'sima', to: 'cybs', trigger: 'declined:insufficient_funds' },
      attempt(3),
    ];
    expect(failMaySettle(history, true)).toBe(true);
    // A 5xx at the gateway failed over to, then a resend there: held again.
    expect(failMaySettle([...history, error('server_error', 502), attempt(4)], true)).toBe(false);
  });

  it('may not after a later attempt while the first one is still unproven; may once a status inquiry found no trace before it', () => {
    expect(failMaySettle([...held({ decline_held: DECLINE_OF_NEW_REQUEST }), attempt(3)], true)).toBe(false);
    expect(failMaySettle([...held({ decline_held: DECLINE_OF_NEW_REQUEST }), { event: 'inquiry', found: false }, attempt(3)], true)).toBe(true);
  });
});

describe('failHeldBack: the read-and-decide both a webhook and a reconciliation line use', () => {
  const newRequest = { resendIsNewRequest: (command: string) => command !== 'tokenize' };
  const replays = {};
  const op = (over: Partial<{ state: string; attempts: number; command: string }> = {}) =>
    ({ id: 'op-1', state: 'SENT', attempts: 2, command: 'authorize', ...over }) as Parameters<typeof failHeldBack>[0];
  const reads: string[] = [];
  const history = (entries: Entry[]) => async (id: string) => {
    reads.push(id);
    return entries;
  };
  const inFlight = [attempt(1), error('server_error', 500), attempt(2)];
  beforeEach(() => (reads.length = 0));

  it('holds a FAIL of an open operation with a resend in flight after a 5xx at a gateway whose resend is a new request', async () => {
    expect(await failHeldBack(op(), 'FAIL', newRequest, history(inFlight))).toBe(true);
    expect(await failHeldBack(op({ state: 'UNRESOLVED' }), 'FAIL', newRequest, history(inFlight))).toBe(true);
    expect(reads).toEqual(['op-1', 'op-1']);
  });

  it('reads no history for a first attempt, a PSP that replays keys, a command resent as before, an unconfigured gateway, another status, a terminal operation', async () => {
    expect(await failHeldBack(op({ attempts: 1 }), 'FAIL', newRequest, history(inFlight))).toBe(false);
    expect(await failHeldBack(op(), 'FAIL', replays, history(inFlight))).toBe(false);
    expect(await failHeldBack(op({ command: 'tokenize' }), 'FAIL', newRequest, history(inFlight))).toBe(false);
    expect(await failHeldBack(op(), 'FAIL', undefined, history(inFlight))).toBe(false);
    expect(await failHeldBack(op(), 'SUCCESS', newRequest, history(inFlight))).toBe(false);
    expect(await failHeldBack(op({ state: 'FAILED' }), 'FAIL', newRequest, history(inFlight))).toBe(false);
    expect(reads).toEqual([]);
  });

  it('applies a FAIL whose history proves every earlier attempt absent', async () => {
    expect(await failHeldBack(op(), 'FAIL', newRequest, history([attempt(1), error('not_sent'), attempt(2)]))).toBe(false);
  });
});
