import { IncomingMessage, ServerResponse } from 'node:http';
import { Logger, silentLogger } from '../logging/logger';
import { LogThrottle } from '../logging/log-throttle';
import { WebRoute, sendJson } from '../web/web-server';

/** A dependency the readiness probe checks; resolves when reachable, rejects otherwise. */
export type ReadinessCheck = () => Promise<void>;

/**
 * `/healthz`: the process is alive (always 200 while the event loop turns).
 * `/readyz`: every dependency answered within `timeoutMs` (200), else 503 naming the ones that did not.
 * Both are unauthenticated, so `/readyz` answers only `ok` / `down` per dependency: the error text (host
 * names, addresses, user names) goes to the log, at most once per dependency per minute.
 */
export class HealthRoute implements WebRoute {
  private readonly failures: LogThrottle;

  constructor(
    private readonly checks: Record<string, ReadinessCheck>,
    /** Per-check timeout, milliseconds. Default 1000. */
    private readonly timeoutMs = 1000,
    /** Where a failing check's error goes (rate-limited). Default: nowhere. */
    logger: Logger = silentLogger(),
  ) {
    this.failures = new LogThrottle(logger);
  }

  matches(path: string): boolean {
    return path === '/healthz' || path === '/readyz';
  }

  async handle(_req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok', uptime_s: Math.round(process.uptime()) });
      return;
    }
    const results: Record<string, 'ok' | 'down'> = {};
    await Promise.all(
      Object.entries(this.checks).map(async ([name, check]) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            check(),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`no answer in ${this.timeoutMs} ms`)), this.timeoutMs);
            }),
          ]);
          results[name] = 'ok';
        } catch (err) {
          results[name] = 'down';
          this.failures.warn(name, 'readiness check failed (rate-limited: one line per dependency per minute)', {
            dependency: name,
            error: (err as Error).message,
          });
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const ready = Object.values(results).every((r) => r === 'ok');
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks: results });
  }
}
