import { createSeededRandom } from '../../../../harness/twins/psp-simulator/seeded-random';
import { hasRequestFaults, parseFaults, pickLatencyMs, pickRequestFault } from '../../../../harness/twins/psp-simulator/simulator-faults';

describe('simulator faults', () => {
  it('accepts every documented fault and keeps their values', () => {
    const faults = {
      latencyMs: { min: 1, max: 5 },
      error5xxRate: 0.1,
      rateLimitRate: 0.1,
      resetRate: 0.1,
      timeoutRate: 0.1,
      commitThenTimeoutRate: 0.1,
      duplicateWebhookRate: 0.5,
      outOfOrderWebhooks: true,
    };
    expect(parseFaults(faults)).toEqual(faults);
    expect(parseFaults(undefined)).toEqual({});
  });

  it('refuses unknown keys, rates outside [0, 1] and a latency whose max is below its min', () => {
    expect(() => parseFaults({ errorRate: 0.1 })).toThrow(/unknown fault "errorRate"/);
    expect(() => parseFaults({ error5xxRate: 1.5 })).toThrow(/error5xxRate/);
    expect(() => parseFaults({ resetRate: '0.1' })).toThrow(/resetRate/);
    expect(() => parseFaults({ latencyMs: { min: 10, max: 5 } })).toThrow(/latencyMs/);
    expect(() => parseFaults({ outOfOrderWebhooks: 'yes' })).toThrow(/outOfOrderWebhooks/);
    expect(() => parseFaults([1])).toThrow(/object/);
  });

  it('stacks the rates in a fixed order on one draw', () => {
    const faults = { error5xxRate: 0.1, rateLimitRate: 0.1, resetRate: 0.1, timeoutRate: 0.1, commitThenTimeoutRate: 0.1 };
    expect(pickRequestFault(faults, 0.05)).toBe('503');
    expect(pickRequestFault(faults, 0.15)).toBe('429');
    expect(pickRequestFault(faults, 0.25)).toBe('reset');
    expect(pickRequestFault(faults, 0.35)).toBe('timeout');
    expect(pickRequestFault(faults, 0.45)).toBe('commit_then_timeout');
    expect(pickRequestFault(faults, 0.55)).toBe('none');
    expect(pickRequestFault({}, 0)).toBe('none');
    expect(pickRequestFault({ error5xxRate: 1 }, 0.999)).toBe('503');
  });

  it('knows when no per-request fault is set, so the hot path skips the draw', () => {
    expect(hasRequestFaults({})).toBe(false);
    expect(hasRequestFaults({ duplicateWebhookRate: 1, outOfOrderWebhooks: true, latencyMs: { min: 0, max: 1 } })).toBe(false);
    expect(hasRequestFaults({ timeoutRate: 0.01 })).toBe(true);
  });

  it('draws a latency uniformly between min and max', () => {
    expect(pickLatencyMs({}, 0.5)).toBe(0);
    expect(pickLatencyMs({ latencyMs: { min: 10, max: 20 } }, 0)).toBe(10);
    expect(pickLatencyMs({ latencyMs: { min: 10, max: 20 } }, 0.5)).toBe(15);
  });

  it('replays the same draws from the same seed', () => {
    const a = createSeededRandom(7);
    const b = createSeededRandom(7);
    const c = createSeededRandom(8);
    const seqA = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(seqA);
    expect([c(), c(), c()]).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });
});
