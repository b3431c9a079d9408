/**
 * config/prometheus/alerts.yml and config/grafana/payment-bridge.json: the rules pass `promtool check
 * rules`, their unit tests (`alerts.test.yml`) pass `promtool test rules`, and every query of the rules and
 * of the dashboard names a metric the product exports (or a recording rule of alerts.yml). promtool comes
 * from Debian's `prometheus` package, which `scripts/services.sh` installs when it is missing.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const root = join(__dirname, '..', '..', '..');
const rulesPath = join(root, 'config', 'prometheus', 'alerts.yml');
const rulesTestPath = join(root, 'config', 'prometheus', 'alerts.test.yml');
const dashboardPath = join(root, 'config', 'grafana', 'payment-bridge.json');

function promtool(args: string[]): string {
  try {
    return execFileSync('promtool', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT')
      throw new Error("promtool is missing: run `bash scripts/services.sh start` (installs Debian's prometheus package)", { cause: err });
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

/** Every `pb_…` metric name registered by the product's source (counter/gauge/histogram calls). */
function exportedMetrics(): { names: Set<string>; histograms: Set<string> } {
  const names = new Set<string>();
  const histograms = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        for (const m of text.matchAll(/\b(counter|gauge|histogram)(?:<[^>]*>)?\(\s*'(pb_[a-z0-9_]+)'/g)) {
          names.add(m[2]);
          if (m[1] === 'histogram') histograms.add(m[2]);
        }
      }
    }
  };
  walk(join(root, 'src'));
  return { names, histograms };
}

/** Metric names a PromQL expression reads (`pb_…` selectors; `pb:` recording rules kept as they are). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(pb[_:][a-zA-Z0-9_:]+)/g)].map((m) => m[1]);
}

interface RuleFile {
  groups: { rules: { record?: string; alert?: string; expr: string }[] }[];
}

describe('Prometheus alert rules (config/prometheus/alerts.yml)', () => {
  it('pass promtool check rules', () => {
    expect(promtool(['check', 'rules', rulesPath])).toContain('SUCCESS');
  });

  it('pass their unit tests (promtool test rules alerts.test.yml)', () => {
    expect(promtool(['test', 'rules', rulesTestPath])).toContain('SUCCESS');
  });

  it('include the alerts operators asked for: success rate under 98.5 %, breaker open, PENDING/UNKNOWN ageing, dead letters growing, recovery over 3 s', () => {
    const rules = (parse(readFileSync(rulesPath, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);
    const alerts = new Map(rules.filter((r) => r.alert).map((r) => [r.alert!, r.expr]));
    const success = rules.find((r) => r.record === 'pb:command_success_ratio:rate5m');
    expect(success?.expr).toContain('pb_commands_total');
    expect(alerts.get('PaymentBridgeSuccessRateLow')).toContain('< 0.985');
    expect(alerts.get('PaymentBridgeBreakerOpen')).toContain('pb_gateway_breaker_state');
    expect(alerts.get('PaymentBridgeOperationsAgeing')).toContain('PENDING|UNKNOWN');
    expect(alerts.get('PaymentBridgeDeadLettersGrowing')).toContain('dead_letter');
    expect(alerts.get('PaymentBridgeRecoverySlow')).toContain('le="3"');
  });
});

describe('every query names a metric the code exports', () => {
  const { names, histograms } = exportedMetrics();
  const rules = (parse(readFileSync(rulesPath, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);
  const recorded = new Set(rules.filter((r) => r.record).map((r) => r.record!));

  function unknownIn(expr: string): string[] {
    return metricsIn(expr).filter((name) => {
      if (recorded.has(name) || names.has(name)) return false;
      const base = name.replace(/_(bucket|sum|count)$/, '');
      return !histograms.has(base);
    });
  }

  it('finds the product metrics (sanity: the scan works)', () => {
    expect(names.has('pb_commands_total')).toBe(true);
    expect(histograms.has('pb_command_e2e_seconds')).toBe(true);
  });

  it('in the alert rules', () => {
    const unknown = rules.flatMap((r) => unknownIn(r.expr).map((n) => `${r.alert ?? r.record}: ${n}`));
    expect(unknown).toEqual([]);
  });

  it('in the Grafana dashboard (config/grafana/payment-bridge.json)', () => {
    const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(10);
    const unknown = exprs.flatMap(({ title, expr }) => unknownIn(expr).map((n) => `${title}: ${n}`));
    expect(unknown).toEqual([]);
    // Every panel reads at least one product metric.
    expect(exprs.every(({ expr }) => metricsIn(expr).length > 0)).toBe(true);
  });
});
