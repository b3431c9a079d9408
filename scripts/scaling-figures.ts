/**
 * `npm run scaling-figures [-- <results.json>]`: writes the measured-unit table of docs/SCALING.md (F1…F16)
 * from one bench results file (default: the newest in bench/results/), between the document's
 * `<!-- scaling-figures:begin -->` and `<!-- scaling-figures:end -->` markers. `--print` prints it instead.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BenchResultsFile, replaceBetweenMarkers, scalingFiguresMarkdown } from '../harness/bench/scaling-figures';
import { projectRoot } from '../harness/twins/local-stack/local-stack';
import { formatMarkdown } from './format-markdown';

function newestResults(dir: string): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const newest = files.at(-1);
  if (newest === undefined) throw new Error(`no results in ${dir}: run \`npm run bench\` first`);
  return join(dir, newest);
}

/** The table and its source line as Prettier formats them (aligned columns), so docs/SCALING.md stays format-clean. */
export async function scalingFiguresBlock(results: BenchResultsFile, fileName: string): Promise<string> {
  return (await formatMarkdown(scalingFiguresMarkdown(results, fileName))).trimEnd();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const print = args.includes('--print');
  const path = args.find((a) => !a.startsWith('--')) ?? newestResults(join(projectRoot(), 'bench', 'results'));
  const results = JSON.parse(readFileSync(path, 'utf8')) as BenchResultsFile;
  const table = await scalingFiguresBlock(results, basename(path));
  if (print) {
    process.stdout.write(`${table}\n`);
    return;
  }
  const doc = join(projectRoot(), 'docs', 'SCALING.md');
  writeFileSync(doc, replaceBetweenMarkers(readFileSync(doc, 'utf8'), table));
  process.stdout.write(`docs/SCALING.md: figures from ${basename(path)} (git ${results.git ?? '?'})\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`scaling-figures: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
