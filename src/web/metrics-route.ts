import { IncomingMessage, ServerResponse } from 'node:http';
import { WebRoute, sendJson } from './web-server';
import { metricsRegistry } from '../metrics/metrics-registry';

/** `GET /metrics`: the process registry in Prometheus' text exposition format. */
export class MetricsRoute implements WebRoute {
  matches(path: string): boolean {
    return path === '/metrics';
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'GET only' }, { Allow: 'GET' });
      return;
    }
    const body = await metricsRegistry.metrics();
    res.writeHead(200, { 'content-type': metricsRegistry.contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}
