import { DEFAULT_MIX, SCENARIO_KINDS, buildScenarios, commandCount, seededRandom } from '../../../harness/workload/payment-scenarios';

describe('payment scenarios', () => {
  it('are the same for the same seed and differ for another seed', () => {
    expect(buildScenarios(50, { seed: 7 })).toEqual(buildScenarios(50, { seed: 7 }));
    expect(buildScenarios(50, { seed: 7 })).not.toEqual(buildScenarios(50, { seed: 8 }));
  });

  it('cover every kind in a workload of a few hundred payments', () => {
    const kinds = new Set(buildScenarios(400).map((s) => s.kind));
    expect([...kinds].sort()).toEqual([...SCENARIO_KINDS].sort());
  });

  it('keep every amount a positive integer of minor units, captures within the authorization and refunds within the capture', () => {
    for (const s of buildScenarios(1000, { seed: 3 })) {
      for (const step of s.steps) {
        expect(Number.isInteger(step.amount)).toBe(true);
        if (step.command !== 'tokenize') expect(step.amount).toBeGreaterThan(0);
      }
      const auth = s.steps[0].amount;
      const capture = s.steps.find((x) => x.command === 'capture');
      if (capture && s.kind !== 'declined') expect(capture.amount).toBeLessThanOrEqual(auth);
      const refund = s.steps.find((x) => x.command === 'refund');
      if (refund) expect(refund.amount).toBeLessThanOrEqual(capture?.amount ?? auth);
    }
  });

  it('only let later steps act on an earlier step of the same payment', () => {
    for (const s of buildScenarios(300)) {
      s.steps.forEach((step, i) => {
        if ('fromStep' in step.gatewayKey) expect(step.gatewayKey.fromStep).toBeLessThan(i);
        else expect(i).toBe(0);
      });
    }
  });

  it('send bus commands only for the five MIB commands, and start each payment on a non-bus channel', () => {
    for (const s of buildScenarios(300)) {
      expect(s.steps[0].channel).not.toBe('bus');
      for (const step of s.steps.slice(1)) {
        expect(step.channel).toBe('bus');
        expect(['validate', 'revalidate', 'capture', 'cancel', 'refund']).toContain(step.command);
      }
    }
  });

  it('expect a failure exactly for declined authorizations and the captures that follow them', () => {
    for (const s of buildScenarios(300)) {
      for (const step of s.steps) expect(step.expect).toBe(s.kind === 'declined' ? 'FAIL' : 'SUCCESS');
    }
  });

  it('give unique order ids and count their commands', () => {
    const scenarios = buildScenarios(200, { runId: 'r1' });
    expect(new Set(scenarios.map((s) => s.orderId)).size).toBe(200);
    expect(commandCount(scenarios)).toBe(scenarios.reduce((n, s) => n + s.steps.length, 0));
  });

  it('follow the mix: a kind with weight zero never appears', () => {
    const kinds = new Set(buildScenarios(300, { mix: { ...DEFAULT_MIX, tokenize: 0 } }).map((s) => s.kind));
    expect(kinds.has('tokenize')).toBe(false);
  });

  it('draw uniformly distributed numbers in [0, 1) from the seeded generator', () => {
    const random = seededRandom(1);
    const draws = Array.from({ length: 10000 }, random);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
  });
});
