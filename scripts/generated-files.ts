import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Writes files rendered from the code (path from the repository root → text), only those that changed.
 * With `--check` on the command line it writes nothing and exits 1 when a committed file differs, naming
 * `command` as the way to render them again.
 */
export function writeGeneratedFiles(files: Iterable<readonly [string, string]>, command: string): void {
  const root = join(__dirname, '..', '..');
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [path, text] of files) {
    const file = join(root, path);
    let current: string | undefined;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === text) continue;
    if (check) {
      stale += 1;
      process.stderr.write(`${path} is out of date: run ${command}\n`);
      continue;
    }
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    process.stdout.write(`wrote ${path}\n`);
  }
  if (stale > 0) process.exit(1);
}
