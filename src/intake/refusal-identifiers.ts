import { describeContractBody } from '../contracts/channel-contracts';
import { redactText } from '../logging/redact';
/**
 * The identifiers an operator looks a refused command up by, read best-effort from its raw body: the order
 * id and the JSON-RPC id (a bus call's `id`; a queued bus command's `sequence`). Only on the refusal path
 * (never per accepted command); a body that does not parse gives nothing. Values are strings (redacted, then
 * cut to 128 characters) or numbers; the logger's redaction still applies to them.
 */
export function refusalIdentifiers(raw: Buffer | string): { order_id?: string; rpc_id?: string | number } {
  let body: unknown;
  try {
    body = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return {}; // not JSON, or nested past what the parser takes: the refusal itself says why
  }
  if (!isObject(body)) return {};
  const params = isObject(body.params) ? body.params : body;
  // A channel contract's payload keeps its order id under its own name.
  const payment = describeContractBody(body)?.payment ?? (isObject(params.payment) ? params.payment : undefined);
  const orderId = scalar(payment?.order_id);
  const rpcId = 'jsonrpc' in body ? scalar(body.id) : body.channel === 'bus' ? scalar(body.sequence) : undefined;
  return { ...(orderId !== undefined ? { order_id: String(orderId) } : {}), ...(rpcId !== undefined ? { rpc_id: rpcId } : {}) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function scalar(value: unknown): string | number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  // Redacted before the cut: a cut through a card number leaves digits the redaction no longer sees as one
  // (15 of 16 digits fail the Luhn check, and give the 16th).
  if (typeof value === 'string' && value !== '') return redactText(value).slice(0, 128);
  return undefined;
}

/** The same identifiers as dead-letter headers (`x-pb-order-id`, `x-pb-rpc-id`), for listing and lookup. */
export function refusalHeaders(ids: { order_id?: string; rpc_id?: string | number }): Record<string, string> {
  return {
    ...(ids.order_id !== undefined ? { 'x-pb-order-id': ids.order_id } : {}),
    ...(ids.rpc_id !== undefined ? { 'x-pb-rpc-id': String(ids.rpc_id) } : {}),
  };
}
