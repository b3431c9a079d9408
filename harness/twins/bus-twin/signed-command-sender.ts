import { AxiosInstance } from 'axios';
import { createOutboundHttp } from '../../../src/http/axios-http';
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

/** One keep-alive pool for every command sent: the workload sends thousands. */
let shared: AxiosInstance | undefined;

function client(): AxiosInstance {
  shared ??= createOutboundHttp({ timeoutMs: 30_000, maxSockets: 256 });
  return shared;
}

/**
 * Posts a JSON-RPC command signed exactly as the bus signs it: `X-Signature: sha1=<hex HMAC-SHA1 of the raw
 * body keyed by the secret>`. Resolves with the HTTP status and the body (parsed JSON, or the raw text when
 * it is not JSON) whatever the status; rejects only when no answer came.
 */
export async function sendSignedCommand(command: SignedCommand): Promise<{ status: number; body: unknown; retryAfter?: string }> {
  const raw = JSON.stringify(jsonRpcRequest(command.method, command.params, command.id));
  const response = await client().post<string>(command.url, raw, {
    headers: { 'content-type': 'application/json', 'x-signature': signBody(raw, command.secret, command.algorithm ?? 'sha1') },
    // The signature covers exactly these bytes: no re-serialisation on the way out.
    transformRequest: [(data: unknown) => data],
    timeout: command.timeoutMs ?? 30_000,
  });
  const retryAfter = response.headers['retry-after'];
  return { status: response.status, body: parseBody(response.data), ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
}

function parseBody(text: string): unknown {
  if (typeof text !== 'string' || text === '') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
