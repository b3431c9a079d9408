import http, { IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Logger } from '../logging/logger';

/** One route family of the `web` process (intake, webhooks, health, metrics). */
export interface WebRoute {
  /** Whether this route serves `path` (method checks belong to the handler: it answers 405 itself). */
  matches(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

export interface WebServer {
  server: http.Server;
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  close(): Promise<void>;
}

/** Writes a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * The `web` process' HTTP server: routes by path prefix, never lets a handler error crash the process
 * (it answers 500 and logs), keeps connections alive for the bus and the PSPs.
 */
export async function startWebServer(routes: WebRoute[], options: { host: string; port: number; logger: Logger }): Promise<WebServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const route = routes.find((r) => r.matches(path));
    if (!route) {
      sendJson(res, 404, { error: 'not found' });
      return;
    }
    route.handle(req, res, path).catch((err: Error) => {
      options.logger.error('request handler failed', { path, error: err.message, stack: err.stack });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65000;
  server.headersTimeout = 66000;
  server.requestTimeout = 30000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
