import { Ledger, OperationRecord } from '../ledger/ledger';
import { OperationState } from '../ledger/operation-state';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

const openModifications = counter(
  'pb_webhook_open_modification_matches_total',
  "Webhook facts about a payment's own PSP object that show one of its modifications done (Stripe: a manual-capture PaymentIntent captured by our capture, or cancelled), by gateway, command (capture, cancel) and what was done: applied (to the one open operation of that command on the authorization named), ambiguous (more than one operation of that command may have done it: left to the poller)",
  ['gateway', 'command', 'outcome'],
);

/**
 * States of a modification whose request may have reached the PSP without its answer being recorded: the ones a PSP
 * fact settles here. Not SENT (its answer is on its way) nor ACTION_REQUIRED (no capture or cancel waits for a customer).
 */
const OPEN: ReadonlySet<OperationState> = new Set(['PENDING', 'UNKNOWN', 'UNRESOLVED']);

/** The commands whose PSP object a capture or cancel acts on (a sale has nothing left to capture or cancel). */
const AUTHORIZATIONS: ReadonlySet<string> = new Set(['authorize', 'revalidate']);

/** A modification the webhook's fact settles, and the job's data as that modification's outcome. */
export interface OpenModification {
  op: OperationRecord;
  data: GatewayOutcomeJobData;
}

/**
 * The open operation a webhook's modification reading (`job.modification`, see `WebhookEvent.modification`) settles,
 * among the commands registered on the authorization the webhook names (`named`, `Ledger.dependentsOf`): the
 * operations of the reading's command that were sent and did not fail (what may have done it), only the one it names
 * when it names one. Exactly one, routed to the webhook's gateway and open (`OPEN`): that one, with the job's data
 * as its outcome (`outcome` the reading's, `operationId` its id). More than one: the fact cannot tell which did it, so
 * none is chosen (counted `ambiguous`, an info line) and the poller settles them. One already SUCCEEDED: the fact is
 * that one's. The caller still checks the operation's scope (gateway, account, amount) before applying anything.
 * @returns null when nothing is settled here: `job.outcome` goes to `named` as usual.
 */
export async function openModificationOf(
  named: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'get' | 'dependentsOf'>; logger: Logger },
): Promise<OpenModification | null> {
  const reading = job.modification;
  if (reading === undefined || job.adjustment !== undefined || !AUTHORIZATIONS.has(named.command)) return null;
  const sent = (await deps.ledger.dependentsOf(named.id)).filter((d) => d.command === reading.command && d.state !== 'RECEIVED' && d.state !== 'FAILED');
  const candidates = reading.operationId === undefined ? sent : sent.filter((d) => d.id === reading.operationId);
  if (candidates.length > 1) {
    openModifications.inc({ gateway: job.gateway, command: reading.command, outcome: 'ambiguous' });
    deps.logger.info('webhook shows a modification done that more than one operation asked for: left to the poller', {
      named_operation_id: named.id,
      command: reading.command,
      candidates: candidates.map((c) => `${c.id}:${c.state}`),
      gateway: job.gateway,
      gateway_status: reading.outcome.gatewayStatus,
      event_id: job.eventId,
    });
    return null;
  }
  if (candidates.length === 0 || !OPEN.has(candidates[0].state)) return null;
  const op = await deps.ledger.get(candidates[0].id);
  if (op === null || !OPEN.has(op.state) || gatewayOf(op) !== job.gateway) return null;
  const { modification: _reading, ...rest } = job;
  return { op, data: { ...rest, operationId: op.id, outcome: reading.outcome } };
}

/** Counts a modification's outcome applied to its open operation, and says so (info line). */
export function noteOpenModification(logger: Logger, named: OperationRecord, found: OpenModification): void {
  const { op, data } = found;
  openModifications.inc({ gateway: data.gateway, command: op.command, outcome: 'applied' });
  logger.info("webhook shows the payment's open modification done: applied to that operation", {
    operation_id: op.id,
    command: op.command,
    state: op.state,
    named_operation_id: named.id,
    gateway: data.gateway,
    gateway_status: data.outcome.gatewayStatus,
    webhook_status: data.outcome.status,
    confirmed_amount: data.outcome.amount,
    event_id: data.eventId,
  });
}
