import { Interaction } from '../../../src/ledger/ledger';
import { readInquiryMiss } from '../../../src/delivery/inquiry-miss';

const NOW = 1_800_000_000_000;
const LAG = 15 * 60_000;
const attempt = (at: number): Interaction => ({ at, event: 'attempt', attempt: 1 });

describe('readInquiryMiss', () => {
  it('is proof that the attempt never landed when the gateway declares no search lag', () => {
    expect(readInquiryMiss([attempt(NOW - 1)], { lagMs: 0, resendReplays: false }, NOW)).toEqual({ kind: 'no_trace' });
  });

  it('proves nothing while the latest attempt is younger than the lag, and resends only where the PSP replays', () => {
    const history = [attempt(NOW - 3 * LAG), { at: NOW - 3 * LAG + 5, event: 'send_error', kind: 'outcome_unknown' }, attempt(NOW - 60_000)];
    expect(readInquiryMiss(history, { lagMs: LAG, resendReplays: false }, NOW)).toEqual({ kind: 'index_lag', resend: false, attemptAgeMs: 60_000, lagMs: LAG });
    expect(readInquiryMiss(history, { lagMs: LAG, resendReplays: true }, NOW)).toMatchObject({ kind: 'index_lag', resend: true });
  });

  it('is proof once the latest attempt is as old as the lag', () => {
    expect(readInquiryMiss([attempt(NOW - LAG)], { lagMs: LAG, resendReplays: false }, NOW)).toEqual({ kind: 'no_trace' });
  });

  it('never resends when the PSP said it holds the request, however old the attempt', () => {
    const history = [attempt(NOW - 10 * LAG), { at: NOW - 10 * LAG, event: 'send_error', kind: 'outcome_unknown', psp_has_request: true }];
    expect(readInquiryMiss(history, { lagMs: 0, resendReplays: true }, NOW)).toEqual({ kind: 'psp_has_request' });
  });

  it('is proof for an operation with no recorded attempt (nothing was sent to lag behind)', () => {
    expect(readInquiryMiss([{ at: NOW - 1, event: 'received' }], { lagMs: LAG, resendReplays: false }, NOW)).toEqual({ kind: 'no_trace' });
  });
});

describe('readInquiryMiss beyond the search horizon', () => {
  const WEEK = 7 * 24 * 3_600_000;
  const rules = { lagMs: LAG, resendReplays: false, horizonMs: WEEK };

  it('proves nothing when an attempt not yet proven absent is older than what the search reaches', () => {
    // Sent 8 days ago with no answer; the inquiry (a 7-day search) only now runs: its miss cannot see it.
    const history = [attempt(NOW - 8 * 24 * 3_600_000), { at: NOW - 8 * 24 * 3_600_000 + 5, event: 'send_error', kind: 'outcome_unknown' }];
    expect(readInquiryMiss(history, rules, NOW)).toEqual({ kind: 'beyond_horizon', attemptAgeMs: 8 * 24 * 3_600_000, horizonMs: WEEK });
  });

  it('reads the oldest unproven attempt, not the latest (a landed first attempt is what a resend would repeat)', () => {
    const history = [attempt(NOW - WEEK - 1), attempt(NOW - 2 * LAG)];
    expect(readInquiryMiss(history, rules, NOW)).toMatchObject({ kind: 'beyond_horizon', attemptAgeMs: WEEK + 1 });
  });

  it('leaves out attempts an earlier miss proved absent', () => {
    const history = [attempt(NOW - 2 * WEEK), { at: NOW - 2 * WEEK + LAG, event: 'inquiry', found: false }, attempt(NOW - 2 * LAG)];
    expect(readInquiryMiss(history, rules, NOW)).toEqual({ kind: 'no_trace' });
  });

  it('has no horizon when the gateway declares none', () => {
    expect(readInquiryMiss([attempt(NOW - 30 * WEEK)], { lagMs: LAG, resendReplays: false }, NOW)).toEqual({ kind: 'no_trace' });
  });
});

describe('readInquiryMiss beyond the search horizon: attempts proven absent otherwise', () => {
  const DAY = 24 * 3_600_000;
  const WEEK = 7 * DAY;
  const rules = { lagMs: LAG, resendReplays: false, horizonMs: WEEK };

  it('leaves out attempts whose error proves they never landed (credentials refused for 8 days, then a timeout)', () => {
    const history = [
      attempt(NOW - 8 * DAY),
      { at: NOW - 8 * DAY + 5, event: 'send_error', kind: 'authentication' },
      attempt(NOW - 3 * DAY),
      { at: NOW - 3 * DAY + 5, event: 'send_error', kind: 'rate_limited' },
      attempt(NOW - 2 * LAG),
      { at: NOW - 2 * LAG + 5, event: 'send_error', kind: 'outcome_unknown' },
    ];
    // The only attempt that may have landed is within the search: its miss proves it did not.
    expect(readInquiryMiss(history, rules, NOW)).toEqual({ kind: 'no_trace' });
  });

  it('still reads an older attempt that may have landed when a later one is proven not to have', () => {
    const history = [
      attempt(NOW - 8 * DAY),
      { at: NOW - 8 * DAY + 5, event: 'send_error', kind: 'server_error' },
      attempt(NOW - 2 * LAG),
      { at: NOW - 2 * LAG + 5, event: 'send_error', kind: 'not_sent' },
    ];
    expect(readInquiryMiss(history, rules, NOW)).toMatchObject({ kind: 'beyond_horizon', attemptAgeMs: 8 * DAY });
  });

  it('leaves out the attempts at the gateway failed over from (a failover follows proof that they did nothing)', () => {
    const history = [
      attempt(NOW - 8 * DAY),
      { at: NOW - 8 * DAY + 5, event: 'failover', from: 'adyen', to: 'cybersource', trigger: 'declined:refused' },
      attempt(NOW - 2 * LAG),
    ];
    expect(readInquiryMiss(history, rules, NOW)).toEqual({ kind: 'no_trace' });
  });

  it('leaves out the attempt a waiting failover recorded the end of (attempt_ended), as a failover would', () => {
    const history = [
      attempt(NOW - 8 * DAY),
      { at: NOW - 8 * DAY + 5, event: 'attempt_ended', trigger: 'declined', gateway: 'cybersource', failover_waits: 'circuit open for adyen' },
      attempt(NOW - 2 * LAG),
    ];
    expect(readInquiryMiss(history, rules, NOW)).toEqual({ kind: 'no_trace' });
  });
});
