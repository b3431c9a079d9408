import { createHmac } from 'node:crypto';

/** Header carrying the simulator's webhook signature. */
export const SIMULATOR_SIGNATURE_HEADER = 'Simulator-Signature';

/**
 * The `Simulator-Signature` header value for a webhook body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>">` keyed by `secret` (Stripe's scheme). Receivers verify it on the raw bytes.
 *
 * @param secret the webhook secret shared with the receiver.
 * @param rawBody the exact bytes sent.
 * @param tSeconds the signing time in unix seconds.
 */
export function signSimulatorPayload(secret: string, rawBody: Buffer | string, tSeconds: number): string {
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  const v1 = createHmac('sha256', secret).update(`${tSeconds}.`, 'utf8').update(body).digest('hex');
  return `t=${tSeconds},v1=${v1}`;
}
