import { Ledger, OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

const reviewDecisions = counter(
  'pb_psp_review_decisions_total',
  "PSP manual review decisions of a payment (Adyen MANUAL_REVIEW_ACCEPT / MANUAL_REVIEW_REJECT), recorded in the payment's history and never reported as money: what the PSP then does to the payment comes in a notification of its own, by gateway and decision (accepted, rejected)",
  ['gateway', 'decision'],
);

/**
 * A PSP's manual review of the payment `op` decided (`reviewDecision`): a history entry `psp_review_decision`
 * (`decision`, `gateway_status`, `state`, `provider_event_id`), `pb_psp_review_decisions_total` and a log line; the
 * operation does not move and the OMS is sent nothing.
 *
 * Adyen's case management: an accepted payment goes on as it was (authorised already: captured by Adyen when the
 * account captures automatically, reported as that CAPTURE); a rejected one is cancelled, or refunded when captured
 * already, when the merchant's case management settings ask for it, and that cancel or refund comes as a
 * CANCEL_OR_REFUND (or CANCELLATION) notification of its own. The settings are not in the notification, so the
 * rejection alone never says the money was released (the safe reading: with no action set, the authorization still
 * holds it): reporting it released here could tell the OMS of money freed that is still held, and, with the
 * cancellation's own notification, tell it twice. The warn line of a rejection says what to look for.
 * @returns the operation's state (unchanged).
 */
export async function recordReviewDecision(
  op: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'appendInteraction'>; logger: Logger },
): Promise<string> {
  const decision = job.reviewDecision;
  if (decision === undefined) return op.state;
  const reference = job.outcome.gatewayReference ?? job.gatewayReference;
  await deps.ledger.appendInteraction(op.id, {
    event: 'psp_review_decision',
    source: 'webhook',
    gateway: job.gateway,
    decision,
    gateway_status: job.outcome.gatewayStatus,
    state: op.state,
    provider_event_id: job.eventId,
    ...(reference !== undefined ? { gateway_reference: reference } : {}),
  });
  reviewDecisions.inc({ gateway: job.gateway, decision });
  const fields = {
    operation_id: op.id,
    command: op.command,
    state: op.state,
    gateway: job.gateway,
    gateway_status: job.outcome.gatewayStatus,
    event_id: job.eventId,
    ...(reference !== undefined ? { gateway_reference: reference } : {}),
  };
  if (decision === 'rejected') {
    deps.logger.warn(
      "PSP manual review rejected the payment: nothing reported yet; the PSP's cancel or refund of it, if its review settings ask for one, comes as a notification of its own (else the authorization still holds the money: cancel it)",
      fields,
    );
  } else {
    deps.logger.info('PSP manual review accepted the payment: it goes on as authorised', fields);
  }
  return op.state;
}
