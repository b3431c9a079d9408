import { GatewayOutcome, OperationContext } from '../gateways/gateway-adapter';
import { GatewayRoute } from '../gateways/gateway-route';

/** What a status inquiry found: the outcome (null: the PSP has no trace of the operation) and its duration. */
export interface InquiryResult {
  outcome: GatewayOutcome | null;
  /** Round trip of the inquiry, ms. */
  elapsedMs: number;
}

/**
 * Asks the gateway about the operation's own object only, with the gateway's own credentials (our
 * operation id as metadata or merchant reference, or the PSP object the operation's own authorization
 * named), so no other operation's answer comes back and no webhook scope check applies here; an amount the
 * PSP confirms that differs from the command is its fact about our object, reported, not refused.
 *
 * Asks the gateway what became of an operation (UNKNOWN resolution, the poller). Transport failures and
 * answers the transformer cannot read both throw a GatewayError, classified once, for the caller's policy.
 */
export async function inquireStatus(route: GatewayRoute, ctx: OperationContext): Promise<InquiryResult> {
  const response = await route.client.send(route.transformer.buildStatusRequest(ctx, route.gateway));
  return { outcome: route.transformer.parseStatusResponse(ctx, response, route.gateway), elapsedMs: response.elapsedMs };
}
