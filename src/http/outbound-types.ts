import type { TransportFailure } from './outbound-http';

/** One outbound request. The body is sent as these exact bytes (callers serialize and sign them). */
export interface OutboundRequest {
  method: string;
  /** Absolute URL (http or https). */
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** A response of any status: callers classify statuses. */
export interface OutboundResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from send to the last byte (sub-millisecond precision). */
  elapsedMs: number;
}

/** A request that got no response: the transport failure, classified by how far the request got. */
export class OutboundRequestError extends Error {
  constructor(
    readonly failure: TransportFailure,
    options?: { cause?: unknown },
  ) {
    super(failure.description, options);
    this.name = 'OutboundRequestError';
  }
}

/** Largest response body we read, bytes (8 MiB): a peer streaming more is treated as a broken answer. */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** The transport code of a call whose answer went past {@link MAX_RESPONSE_BYTES} (read no further). */
export const RESPONSE_TOO_LARGE = 'ERESPONSETOOLARGE';
