import http from 'node:http';
import https from 'node:https';
import { JsonRpcId, jsonRpcRequest } from '../../../src/bus/json-rpc';
import { SignatureAlgorithm, signBody } from '../../../src/bus/x-signature';

export interface SignedCommand {
  /** Our intake URL, e.g. `http://127.0.0.1:8080/bus`. */
  url: string;
  /** The registration secret (`service_bus.secret`). */
  secret: string;
  method: string;
  params: Record<string, unknown>;
  /** JSON-RPC id; the bus always sends one with a command. */
  id: JsonRpcId;
  /** Signature algorithm. Default `sha1`, as the bus signs. */
  algorithm?: SignatureAlgorithm;
  /** Whole-call timeout, milliseconds. Default 30000. */
  timeoutMs?: number;
}

/**
 * One keep-alive pool for every command sent: the workload and the bench's web rows send thousands. Plain
 * `node:http` rather than the product's axios client: the sender stands in for the bus, which runs elsewhere,
 * so its CPU on this machine is measurement overhead (axios cost the bench several times the bus twin's).
 */
const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 256 }), https: new https.Agent({ keepAlive: true, maxSockets: 256 }) };

/**
 * Posts a JSON-RPC command signed exactly as the bus signs it: `X-Signature: sha1=<hex HMAC-SHA1 of the raw
 * body keyed by the secret>`. Resolves with the HTTP status and the body (parsed JSON, or the raw text when
 * it is not JSON) whatever the status; rejects only when no answer came (including after `timeoutMs`).
 */
export function sendSignedCommand(command: SignedCommand): Promise<{ status: number; body: unknown; retryAfter?: string }> {
  const raw = JSON.stringify(jsonRpcRequest(command.method, command.params, command.id));
  const url = new URL(command.url);
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    // The signature covers exactly these bytes: they go out as they are.
    const request = (secure ? https : http).request(
      url,
      {
        method: 'POST',
        agent: secure ? agents.https : agents.http,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(raw),
          'x-signature': signBody(raw, command.secret, command.algorithm ?? 'sha1'),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', fail);
        response.on('end', () => {
          clearTimeout(timer);
          const retryAfter = response.headers['retry-after'];
          const text = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8');
          resolve({ status: response.statusCode ?? 0, body: parseBody(text), ...(typeof retryAfter === 'string' ? { retryAfter } : {}) });
        });
      },
    );
    const timeoutMs = command.timeoutMs ?? 30_000;
    const timer = setTimeout(() => request.destroy(new Error(`no answer from ${url.origin} within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(err);
    }
    request.on('error', fail);
    request.end(raw);
  });
}

function parseBody(text: string): unknown {
  if (typeof text !== 'string' || text === '') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
