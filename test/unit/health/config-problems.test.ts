import { ConfigProblems } from '../../../src/health/config-problems';

describe('ConfigProblems', () => {
  it('keeps a gateway problem until the gateway answers, and forgets an unrepeated missing gateway after its window', () => {
    let now = 0;
    const problems = new ConfigProblems(600_000, () => now);
    expect(problems.report('credentials_refused', 'stripe', 'gateways.stripe.api_key')).toBe(true);
    expect(problems.report('credentials_refused', 'stripe', 'gateways.stripe.api_key')).toBe(false);
    expect(problems.report('missing_gateway', 'backup', 'gateways.backup')).toBe(true);
    problems.clearGateway('backup');
    expect(
      problems
        .list()
        .map((p) => p.kind)
        .sort(),
    ).toEqual(['credentials_refused', 'missing_gateway']);
    now = 600_001;
    expect(problems.list().map((p) => p.kind)).toEqual(['credentials_refused']);
    problems.clearGateway('stripe');
    expect(problems.list()).toEqual([]);
  });

  it('stays bounded whatever gateway names commands carry', () => {
    const problems = new ConfigProblems();
    for (let i = 0; i < 500; i += 1) problems.report('missing_gateway', `gw${i}`, `gateways.gw${i}`);
    expect(problems.list()).toHaveLength(100);
  });
});
