import { Logger } from '../logging/logger';
import { MetricsRoute } from '../web/metrics-route';
import { EdgeAccess, guardRoute } from '../web/edge-access';
import { EdgeLimits, WebServer, startWebServer } from '../web/web-server';
import { HealthRoute, ReadinessCheck } from './health-route';

/**
 * The small HTTP port of a role without a web server of its own (`worker`, `poller`): `GET /metrics`
 * (the process registry), `/healthz` (alive) and `/readyz` (every check answers; 503 naming the failing
 * ones as `down`, the reason in the log). Binds `host` (loopback by default: `monitoring.host`). With
 * `access`, `/metrics` answers only `edge.allow.admin` (403 otherwise), as on the web role; `limits`
 * (default: the `edge.*` defaults) caps connections and slow clients.
 */
export async function startMonitoringServer(options: {
  host: string;
  port: number;
  checks: Record<string, ReadinessCheck>;
  logger: Logger;
  access?: EdgeAccess;
  limits?: EdgeLimits;
}): Promise<WebServer> {
  const health = new HealthRoute(options.checks, 1000, options.logger);
  const metrics = options.access ? guardRoute(new MetricsRoute(), options.access, () => ({ surface: 'admin' })) : new MetricsRoute();
  return startWebServer([health, metrics], { host: options.host, port: options.port, logger: options.logger, limits: options.limits });
}
