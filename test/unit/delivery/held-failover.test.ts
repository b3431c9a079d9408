import { DECLINE_OF_NEW_REQUEST, EARLIER_ATTEMPT_MAY_HAVE_LANDED, failMaySettle, failoverHeld } from '../../../src/delivery/held-failover';

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

describe('failMaySettle: whether a FAIL reported afterwards (a webhook) may settle the operation', () => {
  const held = (detail: Record<string, unknown>): Entry[] => [
    { event: 'received' },
    attempt(1),
    error('server_error', 400),
    attempt(2),
    { event: 'attempt_ended', trigger: 'declined', gateway: 'cybs', ...detail },
    { event: 'unresolved', to: 'UNRESOLVED' },
  ];

  it('may not after a decline of a resend held back, failover or not: the FAIL speaks for one transaction, the earlier one may hold the money', () => {
    expect(failMaySettle(held({ decline_held: DECLINE_OF_NEW_REQUEST }))).toBe(false);
    expect(failMaySettle(held({ failover_held: DECLINE_OF_NEW_REQUEST }))).toBe(false);
    // Entries after the hold (a webhook held, a poll that lagged) leave it held.
    expect(failMaySettle([...held({ decline_held: DECLINE_OF_NEW_REQUEST }), { event: 'webhook_fail_held' }])).toBe(false);
  });

  it('may when no decline was held: a first attempt, a decline that stood, an end of a waiting failover', () => {
    expect(failMaySettle([{ event: 'received' }, attempt(1)])).toBe(true);
    expect(failMaySettle([attempt(1), { event: 'outcome', source: 'response', to: 'FAILED' }])).toBe(true);
    expect(failMaySettle([attempt(1), { event: 'attempt_ended', trigger: 'not_sent', gateway: 'sima' }])).toBe(true);
    expect(failMaySettle([])).toBe(true);
  });

  it('may once a later attempt was made: its own end answers for it', () => {
    const history = [...held({ decline_held: DECLINE_OF_NEW_REQUEST }), attempt(3)];
    expect(failMaySettle(history)).toBe(true);
  });
});
