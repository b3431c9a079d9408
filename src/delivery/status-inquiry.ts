import { Counter } from 'prom-client';
import { GatewayError } from '../errors/gateway-error';
import { GatewayOutcome, OperationContext } from '../gateways/gateway-adapter';
import { GatewayRoute } from '../gateways/gateway-route';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

/** What a status inquiry found: the outcome (null: the PSP has no trace of the operation) and its duration. */
export interface InquiryResult {
  outcome: GatewayOutcome | null;
  /** Round trip of the inquiry, ms (every request's when it took several: pages, a follow-up). */
  elapsedMs: number;
}

/**
 * The most pages of a paged status answer (`GatewayTransformer.nextStatusPage`) one inquiry reads: 10, a thousand
 * Stripe refunds of one PaymentIntent. Past it the inquiry stops without an answer (`STATUS_PAGES_CAPPED`), never
 * with "no trace": the operation may be on a page not read, and "no trace" would send it again.
 */
export const STATUS_INQUIRY_MAX_PAGES = 10;

/** The gateway code of the error a status inquiry throws when it stopped at {@link STATUS_INQUIRY_MAX_PAGES}. */
export const STATUS_PAGES_CAPPED = 'STATUS_PAGES_CAPPED';

/**
 * `pb_status_inquiry_pages_capped_total{gateway,command}`: status inquiries that read {@link STATUS_INQUIRY_MAX_PAGES}
 * pages of the PSP's list without finding the operation while the list went on. Each leaves the operation's
 * outcome unknown (asked again, then UNRESOLVED): look it up at the PSP.
 */
export function statusPagesCapped(): Counter<'gateway' | 'command'> {
  return counter(
    'pb_status_inquiry_pages_capped_total',
    "Status inquiries that stopped at the page cap without finding the operation in the PSP's longer list (outcome left unknown), by gateway and command",
    ['gateway', 'command'],
  );
}

/**
 * Asks the gateway about the operation's own object only, with the gateway's own credentials (our
 * operation id as metadata or merchant reference, or the PSP object the operation's own authorization
 * named), so no other operation's answer comes back and no webhook scope check applies here; an amount the
 * PSP confirms that differs from the command is its fact about our object, reported, not refused.
 *
 * Asks the gateway what became of an operation (UNKNOWN resolution, the poller). Transport failures and
 * answers the transformer cannot read both throw a GatewayError, classified once, for the caller's policy.
 * A paged answer that does not show the operation is read on through its next pages
 * (`nextStatusPage`), at most {@link STATUS_INQUIRY_MAX_PAGES}; past them a GatewayError (`outcome_unknown`,
 * {@link STATUS_PAGES_CAPPED}, `pspAnswered`), counted and logged to `logger`. A second request is sent only when the
 * transformer's `statusFollowUp` asks for one from the first answer (a Cybersource partial authorization's
 * amount); every other inquiry is one round trip.
 */
export async function inquireStatus(route: GatewayRoute, ctx: OperationContext, logger?: Pick<Logger, 'warn'>): Promise<InquiryResult> {
  const { transformer, gateway, client } = route;
  let response = await client.send(transformer.buildStatusRequest(ctx, gateway));
  let outcome = transformer.parseStatusResponse(ctx, response, gateway);
  let elapsedMs = response.elapsedMs;
  for (let pages = 1; outcome === null && transformer.nextStatusPage; pages += 1) {
    const next = transformer.nextStatusPage(ctx, response, gateway);
    if (next === null) break;
    if (pages >= STATUS_INQUIRY_MAX_PAGES) {
      statusPagesCapped().inc({ gateway: gateway.name, command: ctx.command });
      logger?.warn(
        "status inquiry stopped at its page cap: the PSP's list goes on and the operation was on none of the pages read; its outcome stays unknown (never 'no trace', never sent again on it): look it up at the PSP",
        {
          operation_id: ctx.operationId,
          gateway: gateway.name,
          command: ctx.command,
          pages,
        },
      );
      // Every page was answered: the cap is ours, so it counts against neither the breaker nor the gateway's health.
      throw new GatewayError('outcome_unknown', gateway.name, `status list longer than ${STATUS_INQUIRY_MAX_PAGES} pages without the operation`, {
        gatewayCode: STATUS_PAGES_CAPPED,
        pspAnswered: true,
      });
    }
    response = await client.send(next);
    elapsedMs += response.elapsedMs;
    outcome = transformer.parseStatusResponse(ctx, response, gateway);
  }
  const followUp = transformer.statusFollowUp;
  if (outcome === null || !followUp) return { outcome, elapsedMs };
  const first = { outcome, response };
  const request = followUp.buildRequest(ctx, first, gateway);
  if (request === null) return { outcome, elapsedMs };
  const second = await client.send(request);
  return { outcome: followUp.parseResponse(ctx, first, second, gateway), elapsedMs: elapsedMs + second.elapsedMs };
}
