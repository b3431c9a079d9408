/**
 * Every metric src/ defines, read from the source with the TypeScript parser: each call of the registry's
 * `counter(` / `gauge(` / `histogram(` with a literal `pb_…` name, its type and its label names. Tests
 * compare the README's metrics table and the Prometheus rules against it without importing (and so
 * starting) every module of the product.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as ts from 'typescript';

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  name: string;
  type: MetricType;
  labels: string[];
  /** Its help text when the source gives it as one string literal, else null. */
  help: string | null;
  /** Where it is defined (`src/…:line`), for failure messages. */
  at: string;
}

const root = join(__dirname, '..', '..');
const TYPES: ReadonlySet<string> = new Set<MetricType>(['counter', 'gauge', 'histogram']);

function stringsOf(node: ts.Expression | undefined): string[] | null {
  if (node === undefined) return [];
  let inner: ts.Expression = node;
  while (ts.isAsExpression(inner) || ts.isParenthesizedExpression(inner)) inner = inner.expression;
  if (!ts.isArrayLiteralExpression(inner)) return null;
  const out: string[] = [];
  for (const element of inner.elements) {
    if (!ts.isStringLiteralLike(element)) return null;
    out.push(element.text);
  }
  return out;
}

/**
 * The metric definitions of src/, by name. Throws when a definition's labels are not a literal list (the
 * checks could not see them) or one name is defined with two types or label sets.
 */
export function metricDefinitions(): Map<string, MetricDefinition> {
  const found = new Map<string, MetricDefinition>();
  const visitFile = (path: string): void => {
    const text = readFileSync(path, 'utf8');
    if (!/\b(counter|gauge|histogram)\b/.test(text)) return;
    const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && TYPES.has(node.expression.text)) {
        const [nameArg, helpArg, labelsArg] = node.arguments;
        if (nameArg !== undefined && ts.isStringLiteralLike(nameArg) && nameArg.text.startsWith('pb_')) {
          const at = `${relative(root, path)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
          const labels = stringsOf(labelsArg);
          if (labels === null) throw new Error(`${at}: the labels of ${nameArg.text} are not a literal list`);
          const help = helpArg !== undefined && ts.isStringLiteralLike(helpArg) ? helpArg.text : null;
          const definition: MetricDefinition = { name: nameArg.text, type: node.expression.text as MetricType, labels, help, at };
          const earlier = found.get(definition.name);
          if (earlier && (earlier.type !== definition.type || earlier.labels.join() !== definition.labels.join()))
            throw new Error(`${definition.name} is defined twice, differently: ${earlier.at} and ${at}`);
          if (!earlier) found.set(definition.name, definition);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  };
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) visitFile(path);
    }
  };
  walk(join(root, 'src'));
  return found;
}
