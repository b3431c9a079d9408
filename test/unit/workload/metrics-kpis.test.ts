import { histogramQuantile, kpiRows, parseExposition } from '../../../harness/workload/metrics-kpis';

const TEXT = `# HELP pb_commands_total x
# TYPE pb_commands_total counter
pb_commands_total{channel="bus",command="capture",outcome="succeeded"} 97
pb_commands_total{channel="pos",command="authorize",outcome="declined"} 1
pb_commands_total{channel="pos",command="authorize",outcome="failed"} 2
pb_gateway_requests_total{gateway="simulator",call="send",result="ok"} 90
pb_gateway_requests_total{gateway="simulator",call="send",result="server_error"} 10
pb_command_e2e_seconds_bucket{channel="bus",outcome="succeeded",le="0.1"} 50
pb_command_e2e_seconds_bucket{channel="bus",outcome="succeeded",le="0.5"} 100
pb_command_e2e_seconds_bucket{channel="bus",outcome="succeeded",le="+Inf"} 100
`;

describe('KPIs from /metrics', () => {
  it('parses the exposition and computes success rate, error frequency and latency quantiles as the PromQL would', () => {
    const samples = parseExposition(TEXT);
    expect(samples).toHaveLength(8);
    expect(histogramQuantile(samples, 'pb_command_e2e_seconds', 0.5)).toBeCloseTo(0.1);
    expect(histogramQuantile(samples, 'pb_command_e2e_seconds', 0.75)).toBeCloseTo(0.3);
    const rows = new Map(kpiRows(samples).map((r) => [r.kpi, r]));
    expect(rows.get('success rate (PSP decided / all)')?.value).toBe('98.00 %');
    expect(rows.get('success rate (PSP decided / all)')?.promql).toContain('pb_commands_total');
    expect(rows.get('error frequency (gateway calls not ok)')?.value).toBe('10.00 %');
  });
});
