import {
  BOUNDED_WAIT_REFUSALS,
  LONG_WAIT_MS,
  VOID_WAIT_EXPIRED,
  VOID_WAIT_MAX_MS,
  WAIT_FOR_CAPTURES_EXPIRED,
  WAIT_FOR_TRANSACTION_EXPIRED,
  WAIT_FOR_OTHER_VOID_EXPIRED,
  WAIT_FOR_REFUNDS_EXPIRED,
  WAIT_FOR_VOID_EXPIRED,
  WAIT_FOR_AUTH_EXPIRED,
  WAIT_FOR_SIBLINGS_EXPIRED,
  dependentWaitDelay,
  expiredWait,
  waitKind,
  waitReason,
  waitStartField,
  waitersTtlSeconds,
} from '../../../src/delivery/dependent-wait';

/** Checks a wait of `totalMs` takes when each is followed by `dependentWaitDelay` of the wait so far. */
function checksOver(totalMs: number, baseMs: number, maxMs: number): number {
  let t = 0;
  let checks = 0;
  while (t < totalMs) {
    checks += 1;
    t += dependentWaitDelay(t, baseMs, maxMs);
  }
  return checks;
}

describe('dependentWaitDelay: the delay before a waiting capture, cancel or refund is checked again', () => {
  it('stays at delivery.backoff_base_ms for the first ten base delays: a capture sent right after its authorization is checked as often as before', () => {
    expect(dependentWaitDelay(0, 500, 60_000)).toBe(500);
    expect(dependentWaitDelay(1_200, 500, 60_000)).toBe(500);
    expect(dependentWaitDelay(4_999, 500, 60_000)).toBe(500);
  });

  it('then grows as a tenth of the wait so far', () => {
    expect(dependentWaitDelay(10_000, 500, 60_000)).toBe(1_000);
    expect(dependentWaitDelay(60_000, 500, 60_000)).toBe(6_000);
    expect(dependentWaitDelay(5 * 60_000, 500, 60_000)).toBe(30_000);
  });

  it('is capped at delivery.backoff_max_ms (reached after ten times it: 10 minutes by default)', () => {
    expect(dependentWaitDelay(LONG_WAIT_MS, 500, 60_000)).toBe(60_000);
    expect(dependentWaitDelay(3 * 24 * 3600_000, 500, 60_000)).toBe(60_000);
    expect(dependentWaitDelay(3 * 24 * 3600_000, 100, 2_000)).toBe(2_000);
  });

  it('never goes below the base (a clock that went back, a record from the future)', () => {
    expect(dependentWaitDelay(-5_000, 500, 60_000)).toBe(500);
  });

  it('costs a few dozen checks for a long wait, not two a second', () => {
    // An authorization PENDING for a day: 172 800 checks at a fixed 500 ms.
    const day = checksOver(24 * 3600_000, 500, 60_000);
    expect(day).toBeLessThan(1_500);
    // Ten minutes (3-D Secure abandoned): 1 200 checks at a fixed 500 ms.
    expect(checksOver(LONG_WAIT_MS, 500, 60_000)).toBeLessThan(70);
    // Two seconds (an authorization answered quickly): as before.
    expect(checksOver(2_000, 500, 60_000)).toBe(4);
  });
});

describe('waitReason and waitersTtlSeconds', () => {
  it('labels a wait by the state of the authorization it waits for, else by what else holds it', () => {
    expect(waitReason({ authorization: { state: 'ACTION_REQUIRED' } })).toBe('authorization_action_required');
    expect(waitReason({ authorization: { state: 'PENDING' } })).toBe('authorization_pending');
    expect(waitReason({ awaiting: 'void' })).toBe('void');
    expect(waitReason({})).toBe('siblings');
  });

  it('keeps the waiters set an hour, or ten maximal delays when longer', () => {
    expect(waitersTtlSeconds(60_000)).toBe(3600);
    expect(waitersTtlSeconds(900_000)).toBe(9000);
  });
});

describe('expiredWait: the bound on the guards between voids and refunds', () => {
  const since = 1_000_000;
  it.each(['capture_void', 'refund_in_flight'])('refuses a capture void waiting on %s once it reached VOID_WAIT_MAX_MS, not before', (awaiting) => {
    const wait = { wait: 'void of capture c1 waits for …', awaiting, siblings: ['r1', 'r2'] };
    expect(expiredWait(wait, since, since + VOID_WAIT_MAX_MS - 1)).toBeNull();
    expect(expiredWait(wait, since, since + VOID_WAIT_MAX_MS)).toMatchObject({
      fail: VOID_WAIT_EXPIRED,
      field: 'payment.gateway_key',
      detail: { named_command: 'capture', awaiting, waited_ms: VOID_WAIT_MAX_MS, siblings: 'r1,r2' },
    });
  });

  it.each([
    ['refunds', WAIT_FOR_REFUNDS_EXPIRED],
    ['void', WAIT_FOR_VOID_EXPIRED],
    ['void_in_flight', WAIT_FOR_OTHER_VOID_EXPIRED],
    ['captures_in_flight', WAIT_FOR_CAPTURES_EXPIRED],
    ['named_transaction', WAIT_FOR_TRANSACTION_EXPIRED],
    ['undelivered_captures', WAIT_FOR_CAPTURES_EXPIRED],
  ])('refuses a %s wait once it reached the bound with a code naming what it waited for (%s), not before', (awaiting, fail) => {
    const wait = { wait: 'w', awaiting, siblings: ['x1'] };
    expect(expiredWait(wait, since, since + VOID_WAIT_MAX_MS - 1)).toBeNull();
    const refused = expiredWait(wait, since, since + VOID_WAIT_MAX_MS);
    expect(refused).toMatchObject({ fail, field: 'payment.gateway_key', detail: { awaiting, waited_ms: VOID_WAIT_MAX_MS, siblings: 'x1' } });
    expect(refused?.detail.named_command).toBeUndefined();
  });

  it('names the capture or refund a named_transaction wait waited for as its siblings (the one to settle)', () => {
    const wait = { wait: 'capture c1 is UNRESOLVED', awaiting: 'named_transaction', authorization: { id: 'c1' } };
    expect(expiredWait(wait, since, since + VOID_WAIT_MAX_MS)?.detail).toMatchObject({ awaiting: 'named_transaction', siblings: 'c1' });
  });

  it('takes the bound it is given', () => {
    const wait = { wait: 'w', awaiting: 'void' };
    expect(expiredWait(wait, since, since + 59_999, 60_000)).toBeNull();
    expect(expiredWait(wait, since, since + 60_000, 60_000)).toMatchObject({ fail: WAIT_FOR_VOID_EXPIRED, detail: { wait_max_ms: 60_000 } });
  });

  it('bounds a wait for the authorization (WAIT_FOR_AUTH_EXPIRED, naming it) and for siblings of the same command (WAIT_FOR_SIBLINGS_EXPIRED) alike', () => {
    const onAuthorization = { wait: 'authorization a1 is UNRESOLVED', authorization: { id: 'a1' } };
    expect(expiredWait(onAuthorization, since, since + VOID_WAIT_MAX_MS - 1)).toBeNull();
    expect(expiredWait(onAuthorization, since, since + VOID_WAIT_MAX_MS)).toMatchObject({
      fail: WAIT_FOR_AUTH_EXPIRED,
      field: 'payment.gateway_key',
      detail: { awaiting: 'authorization', siblings: 'a1', waited_ms: VOID_WAIT_MAX_MS },
    });
    const onSiblings = { wait: 'capture of 3000 waits for 1 capture(s)…', siblings: ['c1'] };
    expect(expiredWait(onSiblings, since, since + VOID_WAIT_MAX_MS - 1)).toBeNull();
    expect(expiredWait(onSiblings, since, since + VOID_WAIT_MAX_MS)).toMatchObject({
      fail: WAIT_FOR_SIBLINGS_EXPIRED,
      detail: { awaiting: 'siblings', siblings: 'c1' },
    });
    expect(BOUNDED_WAIT_REFUSALS.has(WAIT_FOR_AUTH_EXPIRED) && BOUNDED_WAIT_REFUSALS.has(WAIT_FOR_SIBLINGS_EXPIRED)).toBe(true);
  });

  it('keys each wait by its kind, and so its start: its awaiting, else authorization, else siblings', () => {
    expect(waitKind({ awaiting: 'void', authorization: { id: 'x' } })).toBe('void');
    expect(waitKind({ authorization: { id: 'a1' } })).toBe('authorization');
    expect(waitKind({})).toBe('siblings');
    expect(new Set(['void', 'refunds', 'siblings'].map(waitStartField)).size).toBe(3);
  });

  it('is longer than the long-wait warning', () => {
    expect(VOID_WAIT_MAX_MS).toBeGreaterThan(LONG_WAIT_MS);
  });
});
