import { Interaction } from '../../../src/ledger/ledger';
import {
  ATTEMPT_END_KINDS,
  ATTEMPT_ENDS,
  AttemptEndKind,
  NotLandedProof,
  anyAttemptMayHaveLanded,
  lastAttemptUnfinished,
  notLandedProof,
  unprovenAttempts,
} from '../../../src/delivery/attempt-ends';
import { readInquiryMiss } from '../../../src/delivery/inquiry-miss';

const NOW = 1_800_000_000_000;
const DAY = 24 * 3_600_000;
const attempt = (at: number): Interaction => ({ at, event: 'attempt', attempt: 1 });
/** A history entry before it is written (no `at`). */
type Entry = { readonly event: string; readonly [detail: string]: unknown };

/**
 * Entries of each kind that ends an attempt, with what each proves of the attempts before it. A record over every
 * kind: a kind added to the set does not compile here until it has its entries.
 */
const ENDS: { readonly [K in AttemptEndKind]: readonly { readonly entry: Entry; readonly proves: NotLandedProof }[] } = {
  outcome: [{ entry: { event: 'outcome', source: 'response', gateway_status: 'authorized' }, proves: 'none' }],
  send_error: [
    { entry: { event: 'send_error', kind: 'not_sent' }, proves: 'own' },
    { entry: { event: 'send_error', kind: 'rate_limited', http_status: 429 }, proves: 'own' },
    { entry: { event: 'send_error', kind: 'authentication', http_status: 401 }, proves: 'own' },
    { entry: { event: 'send_error', kind: 'server_error', http_status: 500 }, proves: 'none' },
    { entry: { event: 'send_error', kind: 'outcome_unknown' }, proves: 'none' },
  ],
  inquiry: [{ entry: { event: 'inquiry', found: false, elapsed_ms: 40 }, proves: 'key' }],
  inquiry_error: [
    { entry: { event: 'inquiry_error', kind: 'outcome_unknown' }, proves: 'none' },
    // An error about the question: it says nothing of the attempt asked about.
    { entry: { event: 'inquiry_error', kind: 'rate_limited', http_status: 429 }, proves: 'none' },
  ],
  inquiry_lag: [{ entry: { event: 'inquiry_lag', found: false, elapsed_ms: 40, attempt_age_ms: 60_000, lag_ms: 900_000 }, proves: 'none' }],
  failover: [{ entry: { event: 'failover', from: 'sima', to: 'simb', trigger: 'not_sent' }, proves: 'own' }],
  attempt_ended: [{ entry: { event: 'attempt_ended', trigger: 'declined', failover_waits: 'circuit open for simb' }, proves: 'own' }],
};

const cases = ATTEMPT_END_KINDS.flatMap((kind) => ENDS[kind].map((c) => ({ kind, ...c, name: `${kind} ${JSON.stringify(c.entry)}` })));
const at = (entry: Entry, time: number): Interaction => ({ ...entry, at: time });

describe('ATTEMPT_ENDS: the history entries that end a delivery attempt', () => {
  it('are outcome, send_error, inquiry, inquiry_error, inquiry_lag, failover and attempt_ended', () => {
    expect([...ATTEMPT_END_KINDS]).toEqual(['outcome', 'send_error', 'inquiry', 'inquiry_error', 'inquiry_lag', 'failover', 'attempt_ended']);
    expect([...ATTEMPT_ENDS]).toEqual([...ATTEMPT_END_KINDS]);
  });

  it('prove an attempt absent only by a miss, a failover, its waiting end, or an error saying the request never landed', () => {
    for (const c of cases) expect({ name: c.name, proves: notLandedProof(c.entry) }).toEqual({ name: c.name, proves: c.proves });
  });

  it('leave every other entry proving nothing, the attempt itself and an inquiry that found something included', () => {
    for (const entry of [
      { event: 'attempt' },
      { event: 'received' },
      { event: 'unfinished_attempt' },
      { event: 'poll', found: false },
      { event: 'inquiry', found: true },
    ])
      expect(notLandedProof(entry)).toBe('none');
  });
});

describe('each reader of the history reads every kind of ATTEMPT_ENDS as an attempt end', () => {
  it.each(cases)('lastAttemptUnfinished: $name ends the attempt before it', ({ entry }) => {
    expect(lastAttemptUnfinished([at({ event: 'received' }, NOW), attempt(NOW), at(entry, NOW)])).toBe(false);
    expect(lastAttemptUnfinished([attempt(NOW - 2), at(entry, NOW - 1), attempt(NOW)])).toBe(true);
  });

  it.each(cases)('anyAttemptMayHaveLanded (the give-up and failover checks): $name proves the attempt absent only as the rule says', ({ entry, proves }) => {
    expect(anyAttemptMayHaveLanded([attempt(NOW), at(entry, NOW)])).toBe(proves === 'none');
    // An entry not yet written (a failover decided in this pass) reads the same.
    expect(anyAttemptMayHaveLanded([attempt(NOW), entry])).toBe(proves === 'none');
  });

  it.each(cases)('unprovenAttempts: $name leaves the attempt before it unproven only when it proves nothing', ({ entry, proves }) => {
    expect(unprovenAttempts([attempt(NOW), at(entry, NOW)])).toHaveLength(proves === 'none' ? 1 : 0);
  });

  it.each(cases)('readInquiryMiss (the status search horizon): $name proves the attempt before it absent only as the rule says', ({ entry, proves }) => {
    const rules = { lagMs: 0, resendReplays: false, horizonMs: 7 * DAY };
    const miss = readInquiryMiss([attempt(NOW - 8 * DAY), at(entry, NOW - 8 * DAY + 1)], rules, NOW);
    expect(miss.kind).toBe(proves === 'none' ? 'beyond_horizon' : 'no_trace');
  });
});

describe('the readers agree on which attempts a proof covers', () => {
  // Two attempts under one key (a 5xx retried, then a timeout) before the status inquiry about that key missed: the
  // miss proves both absent, as the failover it leads to takes for granted.
  const retriedThenMissed = [
    attempt(NOW - 50),
    at({ event: 'send_error', kind: 'server_error', http_status: 500 }, NOW - 49),
    attempt(NOW - 40),
    at({ event: 'send_error', kind: 'outcome_unknown' }, NOW - 39),
    at({ event: 'inquiry', found: false }, NOW - 30),
  ];
  const histories: Record<string, Interaction[]> = {
    'two attempts under one key, then a miss': retriedThenMissed,
    'then a failover and a request at the next gateway never sent': [
      ...retriedThenMissed,
      at({ event: 'failover', from: 'sima', to: 'simb', trigger: 'inquiry_not_found' }, NOW - 30),
      attempt(NOW - 20),
      at({ event: 'send_error', kind: 'not_sent' }, NOW - 19),
    ],
    'then a failover and a request at the next gateway that timed out': [
      ...retriedThenMissed,
      at({ event: 'failover', from: 'sima', to: 'simb', trigger: 'inquiry_not_found' }, NOW - 30),
      attempt(NOW - 20),
      at({ event: 'send_error', kind: 'outcome_unknown' }, NOW - 19),
    ],
    'a 5xx retried and then never sent: the first may have landed': [
      attempt(NOW - 50),
      at({ event: 'send_error', kind: 'server_error', http_status: 500 }, NOW - 49),
      attempt(NOW - 40),
      at({ event: 'send_error', kind: 'not_sent' }, NOW - 39),
    ],
    'an error proves its own attempt only, not one proven before it by a failover': [
      attempt(NOW - 50),
      at({ event: 'send_error', kind: 'server_error', http_status: 500 }, NOW - 49),
      attempt(NOW - 40),
      at({ event: 'failover', from: 'sima', to: 'simb', trigger: 'breaker_open' }, NOW - 39),
      at({ event: 'send_error', kind: 'not_sent' }, NOW - 38),
    ],
  };

  it('anyAttemptMayHaveLanded reads an inquiry miss as proof of every attempt under the key it asked about, as the status search horizon does', () => {
    expect(anyAttemptMayHaveLanded(retriedThenMissed)).toBe(false);
    expect(anyAttemptMayHaveLanded(histories['then a failover and a request at the next gateway never sent'])).toBe(false);
  });

  it.each(Object.keys(histories))('%s: may have landed exactly when an attempt is left unproven', (name) => {
    const history = histories[name];
    expect(anyAttemptMayHaveLanded(history)).toBe(unprovenAttempts(history).length > 0);
  });

  it('an error that says the request never landed proves its own attempt, never an earlier one', () => {
    const history = [
      attempt(NOW - 50),
      at({ event: 'send_error', kind: 'server_error', http_status: 500 }, NOW - 49),
      attempt(NOW - 40),
      at({ event: 'send_error', kind: 'not_sent' }, NOW - 39),
      at({ event: 'send_error', kind: 'not_sent' }, NOW - 38),
    ];
    expect(unprovenAttempts(history)).toEqual([history[0]]);
    expect(anyAttemptMayHaveLanded(history)).toBe(true);
  });
});

describe('a failover, or the end a waiting one records, proves only the attempt it ended; a miss only the attempts under its key', () => {
  const fiveHundred = (time: number) => at({ event: 'send_error', kind: 'server_error', http_status: 500 }, time);
  const failover = (time: number) => at({ event: 'failover', from: 'sima', to: 'simb', trigger: 'not_sent' }, time);

  it('a 5xx retried, the retry not sent and failed over: the 5xx attempt may still be at the first gateway (a give-up never FAILs it)', () => {
    const history = [attempt(NOW - 50), fiveHundred(NOW - 49), attempt(NOW - 40), failover(NOW - 39), attempt(NOW - 30)];
    history.push(at({ event: 'send_error', kind: 'rate_limited', http_status: 429 }, NOW - 29));
    expect(unprovenAttempts(history)).toEqual([history[0]]);
    expect(anyAttemptMayHaveLanded(history)).toBe(true);
  });

  it('a 5xx retried, the retry not sent and its failover waiting (attempt_ended): still may have landed (no failover behind an open breaker)', () => {
    const history = [
      attempt(NOW - 50),
      fiveHundred(NOW - 49),
      attempt(NOW - 40),
      at({ event: 'attempt_ended', trigger: 'not_sent', failover_waits: 'circuit open for simb' }, NOW - 39),
    ];
    expect(unprovenAttempts(history)).toEqual([history[0]]);
    expect(anyAttemptMayHaveLanded(history)).toBe(true);
  });

  it("a miss at the next gateway (under the failover's key) proves nothing of an attempt under the first key", () => {
    const history = [attempt(NOW - 50), fiveHundred(NOW - 49), attempt(NOW - 40), failover(NOW - 39), attempt(NOW - 30)];
    history.push(at({ event: 'send_error', kind: 'outcome_unknown' }, NOW - 29), at({ event: 'inquiry', found: false }, NOW - 20));
    expect(unprovenAttempts(history)).toEqual([history[0]]);
    expect(anyAttemptMayHaveLanded(history)).toBe(true);
  });

  it("an error proves its own attempt only as that attempt's first end: a not-sent entry after a 5xx with no attempt between proves nothing", () => {
    const history = [attempt(NOW - 50), fiveHundred(NOW - 49), at({ event: 'send_error', kind: 'not_sent' }, NOW - 48)];
    expect(unprovenAttempts(history)).toEqual([history[0]]);
    expect(anyAttemptMayHaveLanded(history)).toBe(true);
  });

  it('the search horizon reads only the attempts under the key asked about: one at the gateway a failover left is not searched there', () => {
    const rules = { lagMs: 0, resendReplays: false, horizonMs: 7 * DAY };
    const history = [attempt(NOW - 8 * DAY), fiveHundred(NOW - 8 * DAY + 1), attempt(NOW - 8 * DAY + 2), failover(NOW - 8 * DAY + 3), attempt(NOW - DAY)];
    history.push(at({ event: 'send_error', kind: 'outcome_unknown' }, NOW - DAY + 1));
    expect(readInquiryMiss(history, rules, NOW).kind).toBe('no_trace');
  });

  it('the search horizon still sees a 5xx attempt whose not-sent retry ended in a waiting failover (attempt_ended proves the retry only)', () => {
    const rules = { lagMs: 0, resendReplays: false, horizonMs: 7 * DAY };
    const history = [
      attempt(NOW - 8 * DAY),
      fiveHundred(NOW - 8 * DAY + 1),
      attempt(NOW - 8 * DAY + 2),
      at({ event: 'attempt_ended', trigger: 'not_sent', failover_waits: 'circuit open for simb' }, NOW - 8 * DAY + 3),
      attempt(NOW - DAY),
      at({ event: 'send_error', kind: 'outcome_unknown' }, NOW - DAY + 1),
    ];
    expect(readInquiryMiss(history, rules, NOW)).toMatchObject({ kind: 'beyond_horizon' });
  });
});
