/**
 * Folder-level import cycles of `src/`, read from dependency-cruiser's JSON on standard input
 * (`npm run depcheck` pipes it in). A folder is the first path segment under `src/` (`src/gateways/stripe/x.ts`
 * belongs to `gateways`). Prints each cycle (a strongly connected set of folders with an example import for
 * every edge) and exits 1 when a cycle is not in the known list (`.dependency-cruiser-known-folder-cycles.json`),
 * so no new cycle lands while the known ones are being broken. A known cycle that is gone is reported too, so
 * the list only shrinks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CruiseOutput {
  modules: { source: string; dependencies: { resolved: string; dependencyTypes: string[] }[] }[];
}

/** The folder a `src/` module belongs to; `null` outside `src/`. */
export function folderOf(path: string): string | null {
  const m = /^src\/([^/]+)\//.exec(path);
  if (m) return m[1];
  return path.startsWith('src/') ? '(src)' : null;
}

/** Strongly connected components with more than one folder (Tarjan), each sorted, the list sorted. */
export function folderCycles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let index = 0;
  const indexes = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    indexes.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!indexes.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, indexes.get(w) ?? 0));
    }
    if (low.get(v) === indexes.get(v)) {
      const component: string[] = [];
      for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!indexes.has(v)) visit(v);
  return out.sort((a, b) => a.join().localeCompare(b.join()));
}

function main(): number {
  const cruise = JSON.parse(readFileSync(0, 'utf8')) as CruiseOutput;
  const edges = new Map<string, Set<string>>();
  const example = new Map<string, string>();
  for (const mod of cruise.modules) {
    const from = folderOf(mod.source);
    if (!from) continue;
    for (const dep of mod.dependencies) {
      const to = folderOf(dep.resolved);
      if (!to || to === from || dep.dependencyTypes.includes('type-only')) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)?.add(to);
      if (!example.has(`${from}>${to}`)) example.set(`${from}>${to}`, `${mod.source} → ${dep.resolved}`);
    }
  }
  const knownPath = join(process.cwd(), '.dependency-cruiser-known-folder-cycles.json');
  const known = existsSync(knownPath) ? (JSON.parse(readFileSync(knownPath, 'utf8')) as string[][]).map((c) => [...c].sort().join(' ↔ ')) : [];
  const found = folderCycles(edges);
  let failed = false;
  for (const cycle of found) {
    const name = cycle.join(' ↔ ');
    const isKnown = known.includes(name);
    if (!isKnown) failed = true;
    process.stdout.write(`${isKnown ? 'known' : 'NEW  '} folder cycle: ${name}\n`);
    for (const from of cycle)
      for (const to of cycle) {
        const e = example.get(`${from}>${to}`);
        if (e) process.stdout.write(`        ${from} → ${to}: ${e}\n`);
      }
  }
  const names = found.map((c) => c.join(' ↔ '));
  for (const k of known) if (!names.includes(k)) process.stdout.write(`gone  folder cycle: ${k} (remove it from ${knownPath})\n`);
  process.stdout.write(`${found.length} folder cycle(s), ${found.filter((c) => !known.includes(c.join(' ↔ '))).length} new\n`);
  return failed ? 1 : 0;
}

if (require.main === module) process.exit(main());
