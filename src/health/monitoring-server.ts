import { Logger } from '../logging/logger';
import { MetricsRoute } from '../metrics/metrics-route';
import { WebServer, startWebServer } from '../web/web-server';
import { HealthRoute, ReadinessCheck } from './health-route';

/**
 * The small HTTP port of a role without a web server of its own (`worker`, `poller`): `GET /metrics`
 * (the process registry), `/healthz` (alive) and `/readyz` (every check answers; 503 naming the failing
 * ones as `down`, the reason in the log). Binds `host` (loopback by default: `monitoring.host`).
 */
export async function startMonitoringServer(options: { host: string; port: number; checks: Record<string, ReadinessCheck>; logger: Logger }): Promise<WebServer> {
  const health = new HealthRoute(options.checks, 1000, options.logger);
  return startWebServer([health, new MetricsRoute()], { host: options.host, port: options.port, logger: options.logger });
}
