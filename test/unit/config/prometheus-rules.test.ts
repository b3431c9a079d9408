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
import { metricDefinitions } from '../../support/metric-definitions';

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
  groups: { rules: { record?: string; alert?: string; expr: string; annotations?: Record<string, string> }[] }[];
}

/** Labels every scraped series carries besides its own (the target's), and a histogram bucket's bound. */
const TARGET_LABELS: ReadonlySet<string> = new Set(['job', 'instance']);

/**
 * The label names an expression reads that no metric it names has: a matcher's (`pb_x{label="…"}`), an
 * aggregation's (`by (label)`, `without (label)`) and, for an alert, its annotations' `$labels.label`. A label
 * renamed in src/ leaves the rule matching nothing, so the alert never fires; promtool cannot see it.
 */
function unknownLabelsIn(expr: string, annotations: Record<string, string>, labelsOf: (metric: string) => readonly string[] | undefined): string[] {
  const unknown: string[] = [];
  const everyLabel = new Set<string>(TARGET_LABELS);
  for (const name of metricsIn(expr)) for (const l of labelsOf(name) ?? []) everyLabel.add(l);
  for (const m of expr.matchAll(/\b(pb_[a-zA-Z0-9_]+)\s*\{([^}]*)\}/g)) {
    const own = labelsOf(m[1]);
    if (own === undefined) continue; // an unknown metric: the name check says so
    for (const matcher of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g))
      if (!own.includes(matcher[1]) && !TARGET_LABELS.has(matcher[1])) unknown.push(`${m[1]}{${matcher[1]}}`);
  }
  for (const m of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g))
    for (const label of m[1]
      .split(',')
      .map((l) => l.trim())
      .filter((l) => l !== ''))
      if (!everyLabel.has(label)) unknown.push(`by (${label})`);
  for (const text of Object.values(annotations))
    for (const m of text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)) if (!everyLabel.has(m[1])) unknown.push(`$labels.${m[1]}`);
  return unknown;
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

describe('every query reads only labels its metrics have', () => {
  const defined = metricDefinitions();
  const rules = (parse(readFileSync(rulesPath, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);
  /** A metric's label names; a histogram's series (`_bucket` also has `le`); undefined for a name src/ does not define. */
  function labelsOf(name: string): readonly string[] | undefined {
    const def = defined.get(name);
    if (def) return def.labels;
    const series = /^(.*)_(bucket|sum|count)$/.exec(name);
    const base = series ? defined.get(series[1]) : undefined;
    if (base?.type !== 'histogram') return undefined;
    return series![2] === 'bucket' ? [...base.labels, 'le'] : base.labels;
  }

  it('finds a renamed label (sanity: the check works)', () => {
    expect(unknownLabelsIn('sum by (psp) (increase(pb_commands_total{result="x"}[5m]))', { summary: '{{ $labels.route }}' }, labelsOf)).toEqual([
      'pb_commands_total{result}',
      'by (psp)',
      '$labels.route',
    ]);
    expect(unknownLabelsIn('sum by (le, gateway) (rate(pb_gateway_request_duration_seconds_bucket{le="1"}[5m]))', {}, labelsOf)).toEqual([]);
  });

  it('in the alert rules (matchers, by/without and the annotations)', () => {
    const unknown = rules.flatMap((r) => unknownLabelsIn(r.expr, r.annotations ?? {}, labelsOf).map((l) => `${r.alert ?? r.record}: ${l}`));
    expect(unknown).toEqual([]);
  });

  it('in the Grafana dashboard (config/grafana/payment-bridge.json)', () => {
    const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const unknown = dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => unknownLabelsIn(t.expr, {}, labelsOf).map((l) => `${p.title}: ${l}`)));
    expect(unknown).toEqual([]);
  });
});
