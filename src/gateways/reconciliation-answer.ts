import { GatewayError, GatewayErrorKind } from '../errors/gateway-error';
import { containsCardNumber } from '../logging/redact';
import { PspRecordError } from '../errors/psp-record-error';
import type { UnreadablePspLine } from '../reconciliation/psp-record';

/**
 * The JSON object of a reconciliation list or search answer (Stripe lists, Cybersource searches). A
 * non-2xx answer throws a `GatewayError` classified by its status only (401/403 credentials, 404, 429,
 * 5xx retryable, other 4xx a request the PSP refuses); a 2xx that is not a JSON object throws a
 * `PspRecordError`. Neither message carries the body.
 */
export function reconciliationAnswer(gateway: string, what: string, answer: { status: number; body: string }): Record<string, unknown> {
  if (answer.status < 200 || answer.status > 299) {
    throw new GatewayError(statusKind(answer.status), gateway, `${what} answered HTTP ${answer.status}`, { httpStatus: answer.status });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch (cause) {
    throw new PspRecordError(gateway, what, 'body', 'is not JSON', { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new PspRecordError(gateway, what, 'body', 'is not a JSON object');
  return parsed as Record<string, unknown>;
}

/** The error kind of a non-2xx status, for calls that carry no PSP error code worth reading. */
export function statusKind(status: number): GatewayErrorKind {
  if (status === 401 || status === 403) return 'authentication';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  return status >= 500 ? 'server_error' : 'invalid_request';
}

/** `value` when it is a non-empty string, else undefined. */
export function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** `value` when it is a plain object, else undefined. */
export function object(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * A reference copied into a `PspRecord` (our ids, a merchant reference): undefined when it is empty or
 * holds something that looks like a card number, so no card data ever reaches a record, a report or a log.
 */
export function safeReference(value: unknown): string | undefined {
  const s = text(value);
  if (s === undefined) return undefined;
  // containsCardNumber counts digits of every script first (no allocation): a number in full-width or
  // Arabic-Indic digits is one too, which a count of ASCII digits alone let through.
  return containsCardNumber(s) ? undefined : s;
}

/** Longest PSP type or status a record keeps (`safePspType`). */
export const MAX_PSP_TYPE_CHARS = 64;
/** The `pspType` of a line whose type holds something that looks like a card number. */
export const UNREADABLE_PSP_TYPE = 'unreadable_type';

/**
 * A PSP's type or status string (a balance transaction's `type`, an Adyen journal type, a Cybersource service
 * name) as a record's `pspType` and the part of its line id that names the type: as the PSP wrote it, cut at
 * {@link MAX_PSP_TYPE_CHARS} characters, or {@link UNREADABLE_PSP_TYPE} when it holds something that looks like
 * a card number. An unknown type is reported as it came (the report, a `not a payment` note, an adjustment's
 * `psp_<type>` reason), so it must hold no card data, as `safeReference` keeps none in a reference.
 */
export function safePspType(value: string): string {
  return safeReference(value) === undefined && value !== '' ? UNREADABLE_PSP_TYPE : value.slice(0, MAX_PSP_TYPE_CHARS);
}

/**
 * One line of a page read with `read`. A line it cannot read (`PspRecordError`) is set aside in `unreadable`
 * with its reason, and `undefined` returned: the lines behind it are read, and the page's cursor moves past it.
 * `where` names the line when the error could not (a line without its id). Anything else is thrown on.
 */
export function readLine<T>(read: () => T, unreadable: UnreadablePspLine[], where: () => string): T | undefined {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof PspRecordError)) throw err;
    unreadable.push({ line: err.line === '?' ? where() : err.line, field: err.field, problem: err.explanation });
    return undefined;
  }
}
