import http from 'node:http';
import { AddressInfo } from 'node:net';

/** A running relay: its base URL and how to stop it. */
export interface WebhookRelay {
  url: string;
  close(): Promise<void>;
}

/**
 * A local HTTP relay that forwards every request, raw body and headers as sent (but host and length), to `target()`
 * read at the time of the request, and answers with its status and body (502 when it cannot be reached). For PSP
 * simulators that need their webhook URL before the web process, which needs their URLs, is up.
 */
export async function startWebhookRelay(target: () => string): Promise<WebhookRelay> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      fetch(`${target()}${req.url ?? '/'}`, { method: req.method, headers, body: Buffer.concat(chunks) })
        .then(async (r) => {
          res.writeHead(r.status, { 'content-type': 'application/json' });
          res.end(await r.text());
        })
        .catch(() => {
          res.writeHead(502);
          res.end();
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
