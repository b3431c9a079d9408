/** JSON-RPC 2.0 as the bus speaks it: `params` always an object, no batches, case-sensitive names. */

export type JsonRpcId = string | number | null;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id?: JsonRpcId;
  method: string;
  params: Record<string, unknown>;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export type JsonRpcResponse = { jsonrpc: '2.0'; id: JsonRpcId; result: unknown } | { jsonrpc: '2.0'; id: JsonRpcId; error: JsonRpcErrorObject };

/** Standard JSON-RPC 2.0 error codes, plus the server-error code we use for "retry later". */
export const JSON_RPC = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** Implementation-defined server error: the command was not accepted; send it again later. */
  UNAVAILABLE: -32000,
  /** Implementation-defined: the signature is missing or wrong. */
  UNAUTHORIZED: -32001,
  /** Implementation-defined (HTTP 429): a rate limit of the channel or account is reached; send it again after Retry-After. */
  RATE_LIMITED: -32002,
} as const;

export function jsonRpcResult(id: JsonRpcId, result: unknown = {}): JsonRpcResponse {
  return { jsonrpc: '2.0', id, result };
}

export function jsonRpcError(id: JsonRpcId, code: number, message: string, data?: unknown): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

export function jsonRpcRequest(method: string, params: Record<string, unknown>, id?: JsonRpcId): JsonRpcRequest {
  return id === undefined ? { jsonrpc: '2.0', method, params } : { jsonrpc: '2.0', id, method, params };
}
