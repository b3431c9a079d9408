import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TargetCheck } from './bench-targets';

/** A titled table of the run, rendered both as text (stdout) and as Markdown (the results file). */
export interface BenchSection {
  title: string;
  header: string[];
  rows: string[][];
}

/** Renders sections and the target checks as a Markdown document. */
export function toMarkdown(title: string, preamble: string[], sections: BenchSection[], targets: TargetCheck[]): string {
  const escape = (c: string) => c.replace(/\|/g, '\\|');
  const table = (header: string[], rows: string[][]) =>
    [`| ${header.map(escape).join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`, ...rows.map((r) => `| ${r.map(escape).join(' | ')} |`)].join('\n');
  const parts = [`# ${title}`, '', ...preamble.map((p) => `- ${p}`), ''];
  for (const s of sections) parts.push(`## ${s.title}`, '', table(s.header, s.rows), '');
  parts.push(
    '## Targets',
    '',
    table(
      ['target', 'measured', 'result'],
      targets.map((t) => [t.target, t.measured, t.met ? 'MET' : 'MISSED']),
    ),
    '',
  );
  return parts.join('\n');
}

/**
 * Writes `<dir>/<stamp>.json` and `<dir>/<stamp>.md` (stamp: UTC time, `2026-11-22T22-40-05Z`) and
 * returns both paths. `dir` is created if missing.
 */
export function writeResults(dir: string, startedAt: Date, json: unknown, markdown: string): { json: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = startedAt
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  const paths = { json: join(dir, `${stamp}.json`), markdown: join(dir, `${stamp}.md`) };
  writeFileSync(paths.json, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(paths.markdown, markdown);
  return paths;
}
