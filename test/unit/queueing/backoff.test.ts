import { backoffDelay } from '../../../src/queueing/backoff';

describe('backoffDelay', () => {
  const policy = { baseMs: 100, maxMs: 5000 };

  it('doubles the ceiling with each attempt, keeping at least half of it', () => {
    expect(backoffDelay(1, policy, 0, () => 0)).toBe(50);
    expect(backoffDelay(1, policy, 0, () => 1)).toBe(100);
    expect(backoffDelay(2, policy, 0, () => 1)).toBe(200);
    expect(backoffDelay(4, policy, 0, () => 0.5)).toBe(600);
  });

  it('never exceeds the cap, however many attempts', () => {
    expect(backoffDelay(60, policy, 0, () => 1)).toBe(5000);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, policy, 0, () => 1)).toBe(5000);
  });

  it("honours a server's Retry-After as a floor, itself capped", () => {
    expect(backoffDelay(1, policy, 1000, () => 0)).toBe(1000);
    expect(backoffDelay(1, policy, 60000, () => 0)).toBe(5000);
  });
});

describe('backoffDelay with a Retry-After ceiling of its own', () => {
  const policy = { baseMs: 100, maxMs: 5000, retryAfterMaxMs: 300_000 };

  it("honours a server's Retry-After above the backoff cap, up to retryAfterMaxMs", () => {
    expect(backoffDelay(1, policy, 60_000, () => 0)).toBe(60_000);
    expect(backoffDelay(1, policy, 300_000, () => 0)).toBe(300_000);
  });

  it('never waits longer than retryAfterMaxMs, whatever the server asks', () => {
    expect(backoffDelay(1, policy, 86_400_000, () => 0)).toBe(300_000);
  });
});
