import { GatewayOutcome, OperationContext } from '../gateways/gateway-adapter';
import { GatewayRoute } from '../gateways/gateway-route';

/** What a status inquiry found: the outcome (null: the PSP has no trace of the operation) and its duration. */
export interface InquiryResult {
  outcome: GatewayOutcome | null;
  /** Round trip of the inquiry, ms (both requests' when it took a follow-up). */
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
 * A second request is sent only when the transformer's `statusFollowUp` asks for one from the first answer
 * (a Cybersource partial authorization's amount); every other inquiry is one round trip.
 */
export async function inquireStatus(route: GatewayRoute, ctx: OperationContext): Promise<InquiryResult> {
  const { transformer, gateway, client } = route;
  const response = await client.send(transformer.buildStatusRequest(ctx, gateway));
  const outcome = transformer.parseStatusResponse(ctx, response, gateway);
  const followUp = transformer.statusFollowUp;
  if (outcome === null || !followUp) return { outcome, elapsedMs: response.elapsedMs };
  const first = { outcome, response };
  const request = followUp.buildRequest(ctx, first, gateway);
  if (request === null) return { outcome, elapsedMs: response.elapsedMs };
  const second = await client.send(request);
  return { outcome: followUp.parseResponse(ctx, first, second, gateway), elapsedMs: response.elapsedMs + second.elapsedMs };
}
