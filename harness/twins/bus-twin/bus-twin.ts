import { randomBytes, timingSafeEqual } from 'node:crypto';
import http, { IncomingMessage, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { JSON_RPC, JsonRpcId, jsonRpcError, jsonRpcResult } from '../../../src/bus/json-rpc';
import { preciseNow } from '../../workload/precise-clock';

/** A JSON-RPC notification the delegate endpoint received, in arrival order. */
export interface Notification {
  method: string;
  params: Record<string, unknown>;
  /** Arrival time, milliseconds since the epoch, with sub-millisecond precision (latency figures of a few ms). */
  receivedAt: number;
}

/** One endpoint registered with `magento.service_bus.remote.register`. */
export interface Registration {
  id: string;
  url: string;
  secret: string;
  subscribes: string[];
  /** When it was (last) registered, milliseconds since the epoch. */
  registeredAt: number;
}

export interface BusTwinOptions {
  /** OAuth client id the token endpoint accepts. */
  clientId: string;
  /** OAuth client secret the token endpoint accepts. */
  clientSecret: string;
  /** Listening port. Default 0 (any free port). */
  port?: number;
  /** Lifetime of issued tokens, seconds. Default 3600. */
  tokenTtlS?: number;
  /** JSON-RPC path for register/unregister. Default `/`. */
  rpcPath?: string;
  /** Delegate path that records notifications. Default `/delegate/oms`. */
  delegatePath?: string;
  /** OAuth token path. Default `/oauth/token`. */
  tokenPath?: string;
  /** Extra check on a registration's secret (e.g. minimum length); return an error text to refuse it with -32602. */
  registrationSecretCheck?: (secret: string) => string | undefined;
  /** Register method name. Default `magento.service_bus.remote.register`. */
  registerMethod?: string;
  /** Unregister method name. Default `magento.service_bus.remote.unregister`. */
  unregisterMethod?: string;
  /**
   * What of a notification's `params` to keep (the notification is parsed and checked in full either way).
   * Default: all of it. The bench keeps only the fields it reads ({@link terminalSummary}), so a run of
   * 100 000 commands does not hold 100 000 parsed events.
   */
  keepParams?: (params: Record<string, unknown>) => Record<string, unknown>;
  /** Called with each recorded notification as it arrives (e.g. to forward it to another process). */
  onNotification?: (notification: Notification) => void;
  /**
   * Notification methods this bus does not know: the delegate answers them 200 with a JSON-RPC -32601 (method not
   * found) error and keeps them in `refused`, not in `notifications`. Default none.
   */
  unknownMethods?: readonly string[];
}

/**
 * The fields of a payment event that the bench's terminal tracker reads (`event_id`, `operation_reference`,
 * `status`, `gateway_response.reference`), as a `params` of their own: a compact record for `keepParams`.
 */
export function terminalSummary(params: Record<string, unknown>): Record<string, unknown> {
  const payment = params.payment;
  if (!isObject(payment)) return {};
  const response = payment.gateway_response;
  const reference = isObject(response) ? response.reference : undefined;
  return {
    payment: {
      event_id: payment.event_id,
      operation_reference: payment.operation_reference,
      status: payment.status,
      ...(reference === undefined ? {} : { gateway_response: { reference } }),
    },
  };
}

export interface BusTwin {
  /** Base URL, e.g. `http://127.0.0.1:40123`; it is both `service_bus.url` and `mom_client.oauth_server_url`. */
  readonly url: string;
  /** Notifications received on the delegate path, in order. */
  readonly notifications: Notification[];
  /** Notifications refused as of a method not found (`unknownMethods`), in order. */
  readonly refused: Notification[];
  /** Current registrations by endpoint id. */
  readonly registrations: Map<string, Registration>;
  /** Tokens issued so far. */
  readonly tokensIssued: number;
  /** While down, the delegate path answers 503 (outage drills). */
  setDelegateDown(down: boolean): void;
  /** Resolves with the notifications once at least `count` have arrived; rejects after `timeoutMs` (default 5000). */
  waitForNotifications(count: number, timeoutMs?: number): Promise<Notification[]>;
  /** Forgets every issued token, so the next call with one gets 401. */
  revokeTokens(): void;
  /** Clears notifications, registrations, tokens and the delegate-down switch. */
  reset(): void;
  stop(): Promise<void>;
}

/** The delegate's answer to every recorded notification, serialised once. */
const DELEGATE_ANSWER = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: null, result: {} }));

/** Largest accepted request body, bytes. */
const BODY_LIMIT = 1024 * 1024;

/**
 * The bus twin: a local stand-in for the MIB service bus and its OAuth server, on one node:http server on
 * 127.0.0.1. It issues client-credentials tokens, serves register/unregister over JSON-RPC, records
 * delegate notifications, and offers `/twin/*` routes so other processes can inspect and steer it.
 */
export async function startBusTwin(options: BusTwinOptions): Promise<BusTwin> {
  const tokenTtlS = options.tokenTtlS ?? 3600;
  const rpcPath = options.rpcPath ?? '/';
  const delegatePath = options.delegatePath ?? '/delegate/oms';
  const tokenPath = options.tokenPath ?? '/oauth/token';
  const registerMethod = options.registerMethod ?? 'magento.service_bus.remote.register';
  const unregisterMethod = options.unregisterMethod ?? 'magento.service_bus.remote.unregister';

  const notifications: Notification[] = [];
  const refused: Notification[] = [];
  const unknownMethods = new Set(options.unknownMethods ?? []);
  const registrations = new Map<string, Registration>();
  /** token → expiry, ms since the epoch. */
  const tokens = new Map<string, number>();
  let tokensIssued = 0;
  let delegateDown = false;
  let waiters: Array<{ count: number; resolve: (n: Notification[]) => void }> = [];
  const keepParams = options.keepParams;
  const onNotification = options.onNotification;

  const validBearer = (req: IncomingMessage): boolean => {
    const header = req.headers.authorization;
    if (!header || !header.startsWith('Bearer ')) return false;
    const expiresAt = tokens.get(header.slice(7));
    return expiresAt !== undefined && Date.now() < expiresAt;
  };

  const handleToken = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const form = new URLSearchParams(body.toString('utf8'));
    let id = form.get('client_id') ?? '';
    let secret = form.get('client_secret') ?? '';
    const basic = req.headers.authorization;
    if (basic && basic.startsWith('Basic ')) {
      const decoded = Buffer.from(basic.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon >= 0) {
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
        secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
      }
    }
    if (form.get('grant_type') !== 'client_credentials') {
      sendJson(res, 400, { error: 'unsupported_grant_type' });
      return;
    }
    if (!safeEqual(id, options.clientId) || !safeEqual(secret, options.clientSecret)) {
      sendJson(res, 401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="bus-twin"' });
      return;
    }
    const token = randomBytes(24).toString('hex');
    tokens.set(token, Date.now() + tokenTtlS * 1000);
    tokensIssued += 1;
    sendJson(res, 200, { access_token: token, token_type: 'Bearer', expires_in: tokenTtlS });
  };

  const handleRpc = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    if (!validBearer(req)) {
      sendJson(res, 401, { error: 'invalid_token' });
      return;
    }
    let request: unknown;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch {
      sendJson(res, 200, jsonRpcError(null, JSON_RPC.PARSE_ERROR, 'Parse error'));
      return;
    }
    if (!isObject(request) || request.jsonrpc !== '2.0' || typeof request.method !== 'string') {
      sendJson(res, 200, jsonRpcError(null, JSON_RPC.INVALID_REQUEST, 'Invalid Request'));
      return;
    }
    const id: JsonRpcId = typeof request.id === 'string' || typeof request.id === 'number' ? request.id : null;
    const params = isObject(request.params) ? request.params : {};
    if (request.method === registerMethod) {
      const problem = registrationProblem(params) ?? options.registrationSecretCheck?.(String(params.secret));
      if (problem) {
        sendJson(res, 200, jsonRpcError(id, JSON_RPC.INVALID_PARAMS, `Invalid params: ${problem}`));
        return;
      }
      const reg: Registration = {
        id: params.id as string,
        url: params.url as string,
        secret: params.secret as string,
        subscribes: [...(params.subscribes as string[])],
        registeredAt: Date.now(),
      };
      registrations.set(reg.id, reg);
      sendJson(res, 200, jsonRpcResult(id, {}));
      return;
    }
    if (request.method === unregisterMethod) {
      if (typeof params.id !== 'string' || params.id === '') {
        sendJson(res, 200, jsonRpcError(id, JSON_RPC.INVALID_PARAMS, 'Invalid params: id must be a non-empty string'));
        return;
      }
      registrations.delete(params.id);
      sendJson(res, 200, jsonRpcResult(id, {}));
      return;
    }
    sendJson(res, 200, jsonRpcError(id, JSON_RPC.METHOD_NOT_FOUND, 'Method not found'));
  };

  // Lean on purpose: the benchmark pushes thousands of notifications per second through it.
  const handleDelegate = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    if (!validBearer(req)) {
      sendJson(res, 401, { error: 'invalid_token' });
      return;
    }
    if (delegateDown) {
      sendJson(res, 503, { error: 'delegate down' });
      return;
    }
    let request: unknown;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch {
      sendJson(res, 400, jsonRpcError(null, JSON_RPC.PARSE_ERROR, 'Parse error'));
      return;
    }
    if (!isObject(request) || typeof request.method !== 'string') {
      sendJson(res, 400, jsonRpcError(null, JSON_RPC.INVALID_REQUEST, 'Invalid Request'));
      return;
    }
    const receivedAt = preciseNow();
    const params = isObject(request.params) ? request.params : {};
    const notification: Notification = { method: request.method, params: keepParams ? keepParams(params) : params, receivedAt };
    if (unknownMethods.has(request.method)) {
      refused.push(notification);
      sendJson(res, 200, jsonRpcError(null, JSON_RPC.METHOD_NOT_FOUND, 'Method not found'));
      return;
    }
    notifications.push(notification);
    onNotification?.(notification);
    if (waiters.length > 0) {
      const ready = waiters.filter((w) => notifications.length >= w.count);
      if (ready.length > 0) {
        waiters = waiters.filter((w) => notifications.length < w.count);
        for (const w of ready) w.resolve(notifications.slice());
      }
    }
    sendBytes(res, 200, DELEGATE_ANSWER);
  };

  const reset = (): void => {
    notifications.length = 0;
    refused.length = 0;
    registrations.clear();
    tokens.clear();
    delegateDown = false;
  };

  const handleTwin = (req: IncomingMessage, res: ServerResponse, path: string, body: Buffer): boolean => {
    if (req.method === 'GET' && path === '/twin/notifications') sendJson(res, 200, notifications);
    else if (req.method === 'GET' && path === '/twin/registrations') sendJson(res, 200, [...registrations.values()]);
    else if (req.method === 'POST' && path === '/twin/delegate-down') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        parsed = undefined;
      }
      if (!isObject(parsed) || typeof parsed.down !== 'boolean') {
        sendJson(res, 400, { error: 'body must be {"down": true|false}' });
      } else {
        delegateDown = parsed.down;
        sendJson(res, 200, { down: delegateDown });
      }
    } else if (req.method === 'POST' && path === '/twin/reset') {
      reset();
      sendJson(res, 200, {});
    } else return false;
    return true;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= BODY_LIMIT) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > BODY_LIMIT) {
        sendJson(res, 413, { error: 'body too large' });
        return;
      }
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'POST' && path === delegatePath) handleDelegate(req, res, body);
      else if (req.method === 'POST' && path === tokenPath) handleToken(req, res, body);
      else if (req.method === 'POST' && path === rpcPath) handleRpc(req, res, body);
      else if (!handleTwin(req, res, path, body)) sendJson(res, 404, { error: 'not found' });
    });
  });
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    notifications,
    refused,
    registrations,
    get tokensIssued() {
      return tokensIssued;
    },
    setDelegateDown(down: boolean) {
      delegateDown = down;
    },
    waitForNotifications(count: number, timeoutMs = 5000) {
      if (notifications.length >= count) return Promise.resolve(notifications.slice());
      return new Promise<Notification[]>((resolve, reject) => {
        const waiter = {
          count,
          resolve: (n: Notification[]) => {
            clearTimeout(timer);
            resolve(n);
          },
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(new Error(`bus twin: ${notifications.length} of ${count} notifications after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    revokeTokens() {
      tokens.clear();
    },
    reset,
    stop() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function registrationProblem(params: Record<string, unknown>): string | undefined {
  for (const key of ['id', 'url', 'secret'] as const) {
    if (typeof params[key] !== 'string' || params[key] === '') return `${key} must be a non-empty string`;
  }
  const subscribes = params.subscribes;
  if (!Array.isArray(subscribes) || !subscribes.every((s) => typeof s === 'string')) return 'subscribes must be an array of strings';
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function sendBytes(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
