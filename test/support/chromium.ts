import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where Debian's `chromium` package puts the browser (the wrapper script and the binary itself). */
const CANDIDATES = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'];

/**
 * The path of a headless-capable Chromium for the browser tests: Debian's `chromium` package, installed
 * here when it is missing (as scripts/services.sh installs RabbitMQ and Redis; scripts/prepare.sh does the
 * same before `npm test`). `PB_CHROMIUM` points at another binary.
 */
export function chromiumPath(): string {
  if (process.env.PB_CHROMIUM) return process.env.PB_CHROMIUM;
  let found = CANDIDATES.find((p) => existsSync(p));
  if (!found) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env });
    found = CANDIDATES.find((p) => existsSync(p));
  }
  if (!found) throw new Error('chromium is not installed and could not be installed (apt-get install -y chromium)');
  return found;
}
