import { JSON_RPC, JsonRpcId } from '../bus/json-rpc';
import { CommandValidationError } from '../errors/command-validation-error';
import { holdsCardNumber } from '../contracts/card-data-policy';

/**
 * A JSON-RPC request whose envelope holds: `jsonrpc` exactly "2.0", a string `method`, and an `id` that is
 * a string, null, a safe integer, or absent (a notification). `params` is not checked yet: which error a
 * bad one gets depends on the method being known (see {@link paramsOf}).
 */
export interface JsonRpcEnvelope {
  readonly ok: true;
  readonly id: JsonRpcId;
  readonly method: string;
  readonly params: unknown;
  /** No `id` member: the server must not reply (JSON-RPC 2.0, section 4.1). */
  readonly notification: boolean;
}

/** A request refused before its method is looked at: the JSON-RPC error to answer and why. */
export interface JsonRpcRefusal {
  readonly ok: false;
  readonly id: JsonRpcId;
  readonly code: number;
  readonly error: CommandValidationError;
}

function refusal(id: JsonRpcId, code: number, field: string, reason: string, kind: CommandValidationError['code']): JsonRpcRefusal {
  return { ok: false, id, code, error: new CommandValidationError(field, reason, kind) };
}

/**
 * Checks the envelope of a decoded JSON-RPC body, the same for every method the intake answers (payment
 * commands, payment method options, recurring schedules), before any of them runs: -32600 otherwise.
 * A numeric id must be a safe integer: a larger one (or `1e400`) was rounded when parsed, so it would be
 * echoed changed and two ids would become one operation (RFC 8259 §6). An id holding a card number is
 * refused as card data (`CARD_DATA_REJECTED`), never echoed. A bad id is answered with a null id.
 */
export function readJsonRpcEnvelope(body: unknown): JsonRpcEnvelope | JsonRpcRefusal {
  if (Array.isArray(body)) return refusal(null, JSON_RPC.INVALID_REQUEST, '(root)', 'batches are not supported', 'INVALID_REQUEST');
  if (body === null || typeof body !== 'object')
    return refusal(null, JSON_RPC.INVALID_REQUEST, '(root)', 'must be a JSON-RPC request object', 'INVALID_REQUEST');
  const req = body as Record<string, unknown>;
  const rawId = req.id;
  if (rawId !== undefined && rawId !== null && typeof rawId !== 'string' && typeof rawId !== 'number') {
    return refusal(null, JSON_RPC.INVALID_REQUEST, 'id', 'must be a string or a number', 'INVALID_REQUEST');
  }
  if (typeof rawId === 'number' && !Number.isSafeInteger(rawId)) {
    return refusal(
      null,
      JSON_RPC.INVALID_REQUEST,
      'id',
      'must be a string or an integer of at most 2^53 - 1 in size: a larger or fractional number is not carried exactly',
      'INVALID_REQUEST',
    );
  }
  // Every answer echoes the id (JSON-RPC 2.0, section 5): one holding a card number would carry it out of the
  // bridge, in an error answer too, and a long one (a digest as the sequence) would never reach the card scan.
  if ((typeof rawId === 'string' || typeof rawId === 'number') && holdsCardNumber(String(rawId))) {
    return refusal(null, JSON_RPC.INVALID_REQUEST, 'id', 'holds card data; an id is never a card number', 'CARD_DATA_REJECTED');
  }
  const id: JsonRpcId = rawId ?? null;
  if (req.jsonrpc !== '2.0') return refusal(id, JSON_RPC.INVALID_REQUEST, 'jsonrpc', 'must be "2.0"', 'INVALID_REQUEST');
  if (typeof req.method !== 'string') return refusal(id, JSON_RPC.INVALID_REQUEST, 'method', 'must be a string', 'INVALID_REQUEST');
  return { ok: true, id, method: req.method, params: req.params, notification: !('id' in req) };
}

/**
 * The named params of a request to a known method: JSON-RPC lets params be omitted or an array, the bus
 * always sends an object and every method here reads named params. -32602 otherwise.
 */
export function paramsOf(envelope: JsonRpcEnvelope): { ok: true; params: Record<string, unknown> } | JsonRpcRefusal {
  const { params } = envelope;
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    return refusal(envelope.id, JSON_RPC.INVALID_PARAMS, 'params', 'must be an object', 'INVALID_PARAMS');
  }
  return { ok: true, params: params as Record<string, unknown> };
}
