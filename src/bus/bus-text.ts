import { boundedSafeText } from '../errors/psp-text';

/**
 * Longest part of the bus's or the OAuth server's own text (a JSON-RPC error message, an OAuth `error` code)
 * an error carries. That text is the peer's to choose: it may quote what we sent (a payment, our access token,
 * the registration secret) or run to megabytes, and an error's message is logged and kept by BullMQ in Redis.
 */
export const MAX_BUS_TEXT_CHARS = 256;

/**
 * Longest access token the bridge takes from the OAuth server (characters): a token goes in an
 * `Authorization` header, which servers refuse past 8 to 16 KiB. Also how far past the cut {@link busText}
 * masks, so a token the peer quotes is masked whole, never left in part.
 */
export const MAX_ACCESS_TOKEN_CHARS = 16 * 1024;

/**
 * The peer's `text` as an error may carry it: card numbers, bearer credentials and registered secrets (the
 * client secret, our recent access tokens) masked, then cut at {@link MAX_BUS_TEXT_CHARS} with its length
 * said (`boundedSafeText`). Masking reads {@link MAX_ACCESS_TOKEN_CHARS} past the cut, so a token or a card
 * number the cut crosses is masked whole first, and a text of megabytes costs no more than 16 KiB of one.
 */
export function busText(text: string): string {
  return boundedSafeText(text, MAX_BUS_TEXT_CHARS, true, MAX_ACCESS_TOKEN_CHARS);
}
