import { notSentFailoverHeld } from '../../../src/delivery/not-sent-failover';

/** A history entry as read (the fields the rule reads). */
type Entry = { readonly event: string; readonly [detail: string]: unknown };

const attempt = (n: number): Entry => ({ event: 'attempt', attempt: n });
const error = (kind: string, httpStatus?: number): Entry => ({ event: 'send_error', kind, ...(httpStatus ? { http_status: httpStatus } : {}) });
/** The entry the current attempt's not-sent error writes. */
const notSent = error('not_sent');

describe('notSentFailoverHeld: whether a failover on a not-sent attempt waits for an earlier attempt', () => {
  it('goes ahead on a first attempt not sent: the only attempt is proven absent by its own error', () => {
    expect(notSentFailoverHeld([{ event: 'received' }, attempt(1)], notSent)).toBe(false);
  });

  it('is held after a 5xx under the same key: that attempt may be live at the PSP', () => {
    expect(notSentFailoverHeld([{ event: 'received' }, attempt(1), error('server_error', 500), attempt(2)], notSent)).toBe(true);
  });

  it('is held after a timeout, or an attempt with no recorded end (a worker killed mid-call), before it', () => {
    expect(notSentFailoverHeld([attempt(1), error('outcome_unknown'), attempt(2)], notSent)).toBe(true);
    expect(notSentFailoverHeld([attempt(1), attempt(2)], notSent)).toBe(true);
  });

  it('goes ahead when every earlier attempt is proven absent: not sent, 429, refused credentials, or a status inquiry miss under its key', () => {
    expect(notSentFailoverHeld([attempt(1), error('not_sent'), attempt(2), error('rate_limited', 429), attempt(3)], notSent)).toBe(false);
    expect(notSentFailoverHeld([attempt(1), error('authentication', 401), attempt(2)], notSent)).toBe(false);
    const missed = [attempt(1), error('server_error', 500), attempt(2), error('outcome_unknown'), { event: 'inquiry', found: false }, attempt(3)];
    expect(notSentFailoverHeld(missed, notSent)).toBe(false);
  });

  it('is held when a status inquiry only lagged (its miss proves nothing yet)', () => {
    expect(notSentFailoverHeld([attempt(1), error('outcome_unknown'), { event: 'inquiry_lag', found: false }, attempt(2)], notSent)).toBe(true);
  });

  it('is held after a 5xx at a gateway left before: a failover on a later decline proves only the declined attempt', () => {
    const history = [
      attempt(1),
      error('server_error', 500),
      attempt(2),
      { event: 'failover', from: 'sima', to: 'simb', trigger: 'declined:insufficient_funds' },
      attempt(3),
    ];
    expect(notSentFailoverHeld(history, notSent)).toBe(true);
  });

  it('goes ahead after a failover from a not-sent first attempt: both attempts proven absent', () => {
    expect(notSentFailoverHeld([attempt(1), { event: 'failover', from: 'dead', to: 'sima', trigger: 'not_sent' }, attempt(2)], notSent)).toBe(false);
  });
});
