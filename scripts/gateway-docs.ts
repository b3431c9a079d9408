import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderGatewayDocs } from './gateway-docs/gateway-docs-tables';

/**
 * `npm run docs:gateways`: writes `docs/gateways/*.md` (fact and decline tables) from the code.
 * `--check`: writes nothing, exits 1 when a committed page differs from what the code renders.
 */
function main(): void {
  const root = join(__dirname, '..', '..');
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [path, text] of renderGatewayDocs()) {
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
      process.stderr.write(`${path} is out of date: run npm run docs:gateways\n`);
      continue;
    }
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    process.stdout.write(`wrote ${path}\n`);
  }
  if (stale > 0) process.exit(1);
}

main();
