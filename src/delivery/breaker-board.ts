import { hostname } from 'node:os';
import { RedisClient } from '../redis/redis-connection';

/** One worker's breaker for one gateway, as it last reported it. */
export interface BreakerReport {
  gateway: string;
  /** `<host>:<pid>` of the worker. */
  worker: string;
  state: 'closed' | 'open' | 'half-open';
  /** When it changed to this state, epoch ms. */
  since: number;
}

/** Reports older than this are not shown (a worker that died with an open breaker), ms. */
export const BREAKER_REPORT_MAX_AGE_MS = 24 * 3600 * 1000;

/** The hash of breaker reports: field `<gateway>|<worker>`, value the report (JSON). */
export function breakerBoardKey(prefix: string): string {
  return `${prefix}breakers`;
}

/**
 * Where workers say how their (in-process) breakers stand, so the operator console of a web process can
 * show them: one HSET per state change (rare: a breaker opens, probes, closes), never per request. Best
 * effort: a failed write is dropped (the breaker itself, the metrics and the log line do not depend on it).
 */
export class BreakerBoard {
  private readonly worker = `${hostname()}:${process.pid}`;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  report(gateway: string, state: BreakerReport['state'], now = Date.now()): void {
    const report: BreakerReport = { gateway, worker: this.worker, state, since: now };
    void this.redis.hset(breakerBoardKey(this.prefix), `${gateway}|${this.worker}`, JSON.stringify(report)).catch(() => undefined);
  }
}

/** Every breaker report younger than {@link BREAKER_REPORT_MAX_AGE_MS}, closed ones included. */
export async function readBreakerBoard(redis: RedisClient, prefix: string, now = Date.now()): Promise<BreakerReport[]> {
  const all = await redis.hgetall(breakerBoardKey(prefix));
  const out: BreakerReport[] = [];
  for (const json of Object.values(all)) {
    try {
      const r = JSON.parse(json) as BreakerReport;
      if (now - r.since <= BREAKER_REPORT_MAX_AGE_MS || r.state !== 'closed') out.push(r);
    } catch {
      // not ours
    }
  }
  return out.sort((a, b) => a.gateway.localeCompare(b.gateway) || a.worker.localeCompare(b.worker));
}
