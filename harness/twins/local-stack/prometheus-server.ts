import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from './local-stack';

/** A real Prometheus (Debian's `prometheus` package) scraping a local stack, for tests and the demo. */
export interface PrometheusServer {
  readonly url: string;
  /** An instant query; the result vector as `{labels, value}`. */
  query(expr: string): Promise<{ labels: Record<string, string>; value: number }[]>;
  /** The single value of an instant query (sum of the vector; 0 when empty). */
  scalar(expr: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts `prometheus` on 127.0.0.1 (a free port) with its own storage under `dir`, scraping `targets`
 * (`host:port`, path `/metrics`) every `scrapeIntervalMs`, and waits until it is ready.
 * @param scrapeIntervalMs default 1000.
 */
export async function startPrometheus(options: { dir: string; targets: string[]; scrapeIntervalMs?: number; binary?: string }): Promise<PrometheusServer> {
  const interval = `${options.scrapeIntervalMs ?? 1000}ms`;
  mkdirSync(join(options.dir, 'data'), { recursive: true });
  const configPath = join(options.dir, 'prometheus.yml');
  writeFileSync(
    configPath,
    stringify({
      global: { scrape_interval: interval, evaluation_interval: interval },
      scrape_configs: [{ job_name: 'payment-bridge', scrape_interval: interval, scrape_timeout: interval, static_configs: [{ targets: options.targets }] }],
    }),
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    options.binary ?? 'prometheus',
    [`--config.file=${configPath}`, `--storage.tsdb.path=${join(options.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = createWriteStream(join(options.dir, 'prometheus.log'));
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(new Error(`prometheus did not start (${err.message}): install Debian's prometheus package (scripts/services.sh does)`)),
    ),
  );
  spawnError.catch(() => undefined);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await Promise.race([
      fetch(`${url}/-/ready`)
        .then((r) => r.ok)
        .catch(() => false),
      spawnError,
    ]);
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`prometheus not ready (see ${join(options.dir, 'prometheus.log')})`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const query = async (expr: string) => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success' || !body.data) throw new Error(`prometheus query ${expr} failed: ${body.error ?? res.status}`);
    return body.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
  };
  return {
    url,
    query,
    scalar: async (expr) => (await query(expr)).reduce((n, r) => n + r.value, 0),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
