import { GatewayConfig } from '../../src/config/config';
import { GatewayResponse, GatewayTransformer, OperationContext, OutcomeStatus } from '../../src/gateways/gateway-adapter';

/**
 * What each gateway adapter provides to the shared conformance suite. One file per gateway in
 * `test/conformance/fixtures/<name>.ts`, default-exporting a `ConformanceFixtures`; the suite picks up
 * every file in that folder, so adding a gateway is adding a fixture file.
 */
export interface ConformanceFixtures {
  name: string;
  transformer: GatewayTransformer;
  gateway: GatewayConfig;
  /** A context for `command` (amounts in minor units, currency of the fixture's choice). */
  context(command: OperationContext['command']): OperationContext;
  /** A recorded or documented successful response to the request built for `ctx`. */
  successResponse(ctx: OperationContext): GatewayResponse;
  /** A documented decline of an authorization (`authorize` context). */
  declineResponse(ctx: OperationContext): GatewayResponse;
  /** A documented 5xx error body. */
  serverErrorResponse(ctx: OperationContext): GatewayResponse;
  /** A documented 429 / rate-limit response. */
  rateLimitResponse(ctx: OperationContext): GatewayResponse;
  /**
   * The status-inquiry answer when the PSP never saw the operation; for a transformer whose inquiry replays
   * the request (Adyen), a 404 to that replay (read as outcome unknown, never as "never saw it").
   */
  statusNotFoundResponse(ctx: OperationContext): GatewayResponse;
  /** A webhook correctly signed at `now`, and the outcome status it must map to. */
  signedWebhook(now: Date): { rawBody: Buffer; headers: Record<string, string>; expected: OutcomeStatus };
  /**
   * Changes a signed webhook body in a way its signature covers. Default: appends a space before the last
   * character (right for PSPs that sign the raw bytes). A PSP that signs named fields rather than bytes
   * (Adyen's HMAC over pspReference, amount, eventCode…) changes one of those fields instead.
   */
  tamper?(rawBody: Buffer): Buffer;
}
