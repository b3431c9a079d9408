/**
 * The README's metrics table ("Metrics and alerts") says what the registry holds: every metric it names is
 * defined in src/ with the type and the label names the row gives. Metrics the table does not name yet are
 * listed in readme-metrics-undocumented.json, a list that only shrinks: a new metric goes in the table.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MetricDefinition, metricDefinitions } from '../../support/metric-definitions';

const root = join(__dirname, '..', '..', '..');
const undocumentedPath = join(__dirname, 'readme-metrics-undocumented.json');

interface TableRow {
  line: number;
  names: string[];
  types: string;
  labels: string;
}

/** The rows of the README's metrics table (the table whose header starts `| metric`). */
function metricsTable(): TableRow[] {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n');
  const start = lines.findIndex((l) => /^\| metric\s+\| type\s+\| labels\s+\|/.test(l));
  if (start < 0) throw new Error('README.md: no metrics table (a header row `| metric | type | labels | what |`)');
  const rows: TableRow[] = [];
  for (let i = start + 2; i < lines.length && lines[i].startsWith('|'); i++) {
    const cells = lines[i]
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim());
    rows.push({ line: i + 1, names: [...cells[0].matchAll(/`(pb_[a-z0-9_]+)`/g)].map((m) => m[1]), types: cells[1], labels: cells[2] });
  }
  return rows;
}

/**
 * The type a row gives each of its metrics: one type for all, one per metric (`gauge, counter`), or one
 * with an exception (`counter (parked: gauge)`: the metric whose name holds `parked` is a gauge).
 */
function typesOf(row: TableRow): string[] {
  const exception = /^(\w+) \((\w+): (\w+)\)$/.exec(row.types);
  if (exception) return row.names.map((n) => (n.includes(exception[2]) ? exception[3] : exception[1]));
  const types = row.types.split(',').map((t) => t.trim());
  return types.length === 1 ? row.names.map(() => types[0]) : types;
}

/**
 * The label names a row gives each of its metrics: one list for all, or one per metric separated by `;`.
 * A label's values may follow it in parentheses; `—` or nothing: no labels.
 */
function labelsOf(row: TableRow): string[][] {
  const parts = row.labels
    .replace(/\s*\([^)]*\)/g, '')
    .split(';')
    .map((part) =>
      part
        .split(',')
        .map((l) => l.trim())
        .filter((l) => l !== '' && l !== '—')
        .sort(),
    );
  return parts.length === 1 ? row.names.map(() => parts[0]) : parts;
}

describe("README's metrics table (Metrics and alerts)", () => {
  const defined = metricDefinitions();
  const rows = metricsTable();
  const documented = new Set(rows.flatMap((r) => r.names));

  it('is found and read (sanity: the parser works)', () => {
    expect(rows.length).toBeGreaterThan(100);
    expect(documented.has('pb_commands_total')).toBe(true);
    expect(defined.get('pb_commands_total')).toMatchObject({ type: 'counter', labels: ['channel', 'command', 'outcome'] });
  });

  it('names only metrics src/ defines, each with its type and its label names', () => {
    const wrong: string[] = [];
    for (const row of rows) {
      const types = typesOf(row);
      const labels = labelsOf(row);
      if (types.length !== row.names.length || labels.length !== row.names.length) {
        wrong.push(`README.md:${row.line}: ${row.names.length} metrics, ${types.length} types, ${labels.length} label lists`);
        continue;
      }
      row.names.forEach((name, i) => {
        const def: MetricDefinition | undefined = defined.get(name);
        if (!def) return wrong.push(`README.md:${row.line}: ${name} is defined nowhere in src/`);
        if (def.type !== types[i]) wrong.push(`README.md:${row.line}: ${name} is a ${def.type} (${def.at}), the table says ${types[i]}`);
        const actual = [...def.labels].sort().join(', ');
        if (actual !== labels[i].join(', '))
          wrong.push(`README.md:${row.line}: ${name} has labels {${actual}} (${def.at}), the table says {${labels[i].join(', ')}}`);
      });
    }
    expect(wrong).toEqual([]);
  });

  it('names every metric src/ defines, but for the known undocumented ones (a list that only shrinks)', () => {
    const known = JSON.parse(readFileSync(undocumentedPath, 'utf8')) as string[];
    const undocumented = [...defined.keys()].filter((n) => !documented.has(n)).sort();
    // A metric added without its row fails here; one documented (or removed) since must leave the list.
    expect(undocumented.filter((n) => !known.includes(n))).toEqual([]);
    expect(known.filter((n) => !undocumented.includes(n))).toEqual([]);
  });
});
