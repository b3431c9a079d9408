import { ChildProcess, spawn } from 'node:child_process';
import { AddressInfo, createServer } from 'node:net';
import path from 'node:path';
import axios from 'axios';

/** A running Prism mock of one official spec from `test/fixtures/specs/`. */
export interface PrismMock {
  url: string;
  stop(): Promise<void>;
}

/**
 * Where the PSPs' official specs live: `$PB_SPECS_DIR`, else `test/fixtures/specs/` (copies kept in the
 * repo, with their sources in its README, so a clean clone tests against them).
 */
export function specPath(file: string): string {
  const dir = process.env.PB_SPECS_DIR ?? path.resolve(__dirname, '../fixtures/specs');
  return path.join(dir, file);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `prism mock --errors` on a free loopback port for `specFile` and waits until it answers (the
 * big specs take 3 to 5 s). With `--errors`, an invalid request gets a 4xx and the reasons are in the
 * `sl-violations` response header.
 */
export async function startPrism(specFile: string, timeoutMs = 60000): Promise<PrismMock> {
  const port = await freePort();
  const bin = path.resolve(__dirname, '../../node_modules/.bin/prism');
  const child: ChildProcess = spawn(bin, ['mock', '-h', '127.0.0.1', '-p', String(port), '--errors', specPath(specFile)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`prism exited (${child.exitCode}): ${output.slice(-2000)}`);
    if (/Prism is listening/.test(output)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!/Prism is listening/.test(output)) {
    child.kill('SIGKILL');
    throw new Error(`prism did not start within ${timeoutMs} ms: ${output.slice(-2000)}`);
  }
  // One request to be sure the HTTP side is up.
  await axios.get(url, { validateStatus: () => true, timeout: 5000 }).catch(() => undefined);
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

/** One entry of Prism's `sl-violations` header. */
export interface PrismViolation {
  location: string[];
  code: string;
  message: string;
}

/**
 * The violations of the *request* in an `sl-violations` header (undefined when there are none). Prism also
 * reports its own canned responses breaking the spec's response schemas, which says nothing about what we
 * sent.
 */
export function requestViolations(header: string | undefined): PrismViolation[] | undefined {
  if (header === undefined) return undefined;
  const found = (JSON.parse(header) as PrismViolation[]).filter((v) => v.location[0] === 'request');
  return found.length > 0 ? found : undefined;
}
