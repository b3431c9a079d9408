import { counter, metricValue, metricsRegistry } from '../../../src/metrics/metrics-registry';

describe('metrics registry', () => {
  it('returns the same counter for the same name, so modules can share one metric', () => {
    const a = counter('pb_test_shared_total', 'test', ['gateway']);
    const b = counter('pb_test_shared_total', 'test', ['gateway']);
    expect(a).toBe(b);
  });

  it('sums a counter over the label values asked for', async () => {
    const c = counter('pb_test_sum_total', 'test', ['gateway', 'kind']);
    c.inc({ gateway: 'stripe', kind: 'a' });
    c.inc({ gateway: 'stripe', kind: 'b' }, 2);
    c.inc({ gateway: 'adyen', kind: 'a' });
    expect(await metricValue('pb_test_sum_total', { gateway: 'stripe' })).toBe(3);
    expect(await metricValue('pb_test_sum_total', { kind: 'a' })).toBe(2);
    expect(await metricValue('pb_test_missing_total')).toBe(0);
  });

  it('exposes registered metrics in the Prometheus text format', async () => {
    counter('pb_test_exposed_total', 'exposed for the test').inc();
    expect(await metricsRegistry.metrics()).toContain('pb_test_exposed_total 1');
  });
});
