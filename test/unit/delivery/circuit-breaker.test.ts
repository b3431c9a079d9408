import { CircuitBreaker } from '../../../src/delivery/circuit-breaker';

describe('CircuitBreaker', () => {
  let now = 0;
  const clock = () => now;

  beforeEach(() => {
    now = 0;
  });

  it('stays closed below the failure threshold', () => {
    const b = new CircuitBreaker(3, 1000, clock);
    b.failure();
    b.failure();
    expect(b.permit()).toEqual({ allowed: true });
    expect(b.state).toBe('closed');
  });

  it('opens at the threshold and tells callers when to come back', () => {
    const b = new CircuitBreaker(3, 1000, clock);
    b.failure();
    b.failure();
    b.failure();
    now = 200;
    const p = b.permit();
    expect(p.allowed).toBe(false);
    expect(p.allowed === false && p.retryInMs).toBe(800);
  });

  it('lets exactly one probe through after the open interval', () => {
    const b = new CircuitBreaker(1, 1000, clock);
    b.failure();
    now = 1000;
    expect(b.permit()).toEqual({ allowed: true });
    expect(b.state).toBe('half-open');
    expect(b.permit().allowed).toBe(false);
  });

  it('closes on a successful probe, so recovery is seen within one interval', () => {
    const b = new CircuitBreaker(1, 1000, clock);
    b.failure();
    now = 1000;
    b.permit();
    b.success();
    expect(b.state).toBe('closed');
    expect(b.permit()).toEqual({ allowed: true });
  });

  it('reopens on a failed probe', () => {
    const b = new CircuitBreaker(5, 1000, clock);
    for (let i = 0; i < 5; i += 1) b.failure();
    now = 1000;
    b.permit();
    b.failure();
    expect(b.state).toBe('open');
    now = 1500;
    expect(b.permit().allowed).toBe(false);
  });

  it('release frees a reserved probe without closing the breaker: the next permit probes at once, still half-open', () => {
    const b = new CircuitBreaker(1, 1000, clock);
    b.failure();
    now = 1000;
    expect(b.permit()).toEqual({ allowed: true });
    b.release();
    expect(b.state).toBe('open');
    expect(b.permit()).toEqual({ allowed: true });
    expect(b.state).toBe('half-open');
  });

  it('release on a closed breaker keeps the failures in a row (no call was made)', () => {
    const b = new CircuitBreaker(3, 1000, clock);
    b.failure();
    b.failure();
    b.release();
    b.failure();
    expect(b.state).toBe('open');
  });
});
