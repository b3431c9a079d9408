import { transportErrorCode } from '../http/outbound-http';
import { MAX_RESPONSE_BYTES, RESPONSE_TOO_LARGE } from '../http/outbound-types';

/** True when a doctor's call failed because the answer went past {@link MAX_RESPONSE_BYTES}. */
export function answerTooLarge(err: unknown): boolean {
  return transportErrorCode(err) === RESPONSE_TOO_LARGE;
}

/**
 * Why a doctor's HTTP call got no answer, for its report line: the transport code, and in words when the answer
 * was larger than the bridge reads of one (the same bound as the gateway and bus client, `MAX_RESPONSE_BYTES`):
 * no answer of the API the key names is that large, so the URL most likely reaches something else.
 */
export function callFailure(err: unknown): string {
  const code = transportErrorCode(err);
  return code === RESPONSE_TOO_LARGE ? `${code}: the answer is larger than ${MAX_RESPONSE_BYTES / (1024 * 1024)} MiB, the most the bridge reads of one` : code;
}
