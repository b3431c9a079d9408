import { DependentSummary, Ledger, OperationRecord } from '../ledger/ledger';
import { OperationState } from '../ledger/operation-state';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

const openModifications = counter(
  'pb_webhook_open_modification_matches_total',
  "Webhook facts about a payment's own PSP object that show one of its modifications done (Stripe: a manual-capture PaymentIntent captured by our capture, or cancelled; or the authorization lapsed, failing an open capture or cancel of it), by gateway, command (capture, cancel) and what was done: applied (to the one open operation of that command on the authorization named), ambiguous (more than one operation of that command may have done it: left to the poller; or, none open, more than one recorded FAILED: none chosen), contradicted (a final failure of every such modification, while one SUCCEEDED: left as it is, a warning)",
  ['gateway', 'command', 'outcome'],
);

/**
 * States of a modification whose request may have reached the PSP without its answer being recorded: the ones a PSP
 * fact settles here. Not SENT (its answer is on its way) nor ACTION_REQUIRED (no capture or cancel waits for a customer).
 */
const OPEN: ReadonlySet<OperationState> = new Set(['PENDING', 'UNKNOWN', 'UNRESOLVED']);

/**
 * The open states for a `final` reading (the PSP's object never moves again): SENT too, whose answer, when it comes, can
 * only agree (a request to an object in its final state is refused).
 */
const OPEN_FOR_FINAL: ReadonlySet<OperationState> = new Set([...OPEN, 'SENT']);

/** The commands whose PSP object a capture or cancel acts on (a sale has nothing left to capture or cancel). */
const AUTHORIZATIONS: ReadonlySet<string> = new Set(['authorize', 'revalidate']);

/** A modification the webhook's fact is about, and the job's data as that modification's outcome. */
export interface OpenModification {
  op: OperationRecord;
  data: GatewayOutcomeJobData;
  /**
   * `open`: the fact settles it. `failed`: it was recorded FAILED (the OMS was told so) and the PSP shows it done: the
   * fact is a success after failure, reported as such (`handleSuccessAfterFailure`), never applied; the authorization
   * it acted on is closed by it once that success is reported.
   */
  kind: 'open' | 'failed';
}

/**
 * The operation a webhook's modification reading (`job.modification`, see `WebhookEvent.modification`) is about,
 * among the commands registered on the authorization the webhook names (`named`, `Ledger.dependentsOf`): the
 * operations of the reading's command that were sent and did not fail (what may have done it), only the one it names
 * when it names one. Exactly one, routed to the webhook's gateway and open (`OPEN`): that one (`kind: 'open'`), with
 * the job's data as its outcome (`outcome` the reading's, `operationId` its id). More than one: the fact cannot tell
 * which did it, so none is chosen (counted `ambiguous`, an info line) and the poller settles them. One already
 * SUCCEEDED: the fact is that one's. None, and exactly one that was recorded FAILED after its request went to the PSP
 * (the one the reading names, or the only one of its command): the PSP did what the OMS was told failed (a refusal misread, an inquiry that disagreed),
 * so that one is returned (`kind: 'failed'`) for its success to be reported as a success after failure; several
 * FAILED: none is chosen (`ambiguous`). A `final` reading settles a SENT one too (`OPEN_FOR_FINAL`); a `final` FAIL
 * meeting one that SUCCEEDED (which the PSP's final object contradicts) leaves it as it is, counted `contradicted`, a
 * warning. The caller still checks the operation's scope (gateway, account, amount) before applying anything.
 * @returns null when nothing is settled here: `job.outcome` goes to `named` as usual.
 */
export async function openModificationOf(
  named: OperationRecord,
  job: GatewayOutcomeJobData,
  deps: { ledger: Pick<Ledger, 'get' | 'dependentsOf'>; logger: Logger },
): Promise<OpenModification | null> {
  const reading = job.modification;
  if (reading === undefined || job.adjustment !== undefined || !AUTHORIZATIONS.has(named.command)) return null;
  const sent = (await deps.ledger.dependentsOf(named.id)).filter((d) => d.command === reading.command && d.state !== 'RECEIVED');
  const asked = reading.operationId === undefined ? sent : sent.filter((d) => d.id === reading.operationId);
  const candidates = asked.filter((d) => d.state !== 'FAILED');
  // Only when no operation that did not fail may have done it is the PSP's success one the OMS was told failed: one
  // whose request went to the PSP (one refused before any call did nothing there).
  const failed = candidates.length === 0 && reading.outcome.status === 'SUCCESS' ? await attemptedFailures(asked, deps.ledger) : [];
  const several = candidates.length > 1 ? candidates.map(label) : failed.length > 1 ? failed.map(label) : null;
  if (several) {
    openModifications.inc({ gateway: job.gateway, command: reading.command, outcome: 'ambiguous' });
    deps.logger.info(
      candidates.length > 1
        ? 'webhook shows a modification done that more than one operation asked for: left to the poller'
        : 'webhook shows a modification done that more than one operation recorded FAILED asked for: none chosen, the fact goes to the payment named',
      {
        named_operation_id: named.id,
        command: reading.command,
        candidates: several,
        gateway: job.gateway,
        gateway_status: reading.outcome.gatewayStatus,
        event_id: job.eventId,
      },
    );
    return null;
  }
  const kind: OpenModification['kind'] = failed.length === 1 ? 'failed' : 'open';
  const open = reading.final === true ? OPEN_FOR_FINAL : OPEN;
  if (kind === 'open' && candidates.length === 1 && candidates[0].state === 'SUCCEEDED' && reading.final === true && reading.outcome.status === 'FAIL') {
    noteContradicted(deps.logger, named, candidates[0], job);
  }
  if (kind === 'open' && (candidates.length === 0 || !open.has(candidates[0].state))) return null;
  const op = kind === 'failed' ? failed[0] : await deps.ledger.get(candidates[0].id);
  if (op === null || (kind === 'open' && !open.has(op.state)) || gatewayOf(op) !== job.gateway) return null;
  const { modification: _reading, ...rest } = job;
  return { op, data: { ...rest, operationId: op.id, outcome: reading.outcome }, kind };
}

/**
 * A modification recorded SUCCEEDED that a final failure of its command contradicts (Stripe: a capture SUCCEEDED while
 * the PaymentIntent shows the authorization lapsed, which a captured one never does): a terminal state never moves
 * back, so it is left as it is; counted and said for someone to look at the PSP's records.
 */
function noteContradicted(logger: Logger, named: OperationRecord, succeeded: DependentSummary, job: GatewayOutcomeJobData): void {
  const command = job.modification?.command ?? succeeded.command;
  openModifications.inc({ gateway: job.gateway, command, outcome: 'contradicted' });
  logger.warn("webhook shows a final failure of a modification the payment's operation SUCCEEDED with: left as it is (a terminal state never moves back)", {
    operation_id: succeeded.id,
    command,
    named_operation_id: named.id,
    gateway: job.gateway,
    gateway_status: job.modification?.outcome.gatewayStatus,
    reason: job.modification?.outcome.reason,
    event_id: job.eventId,
  });
}

/** The records of `summaries` that FAILED after their request went to the PSP (an attempt was made). */
async function attemptedFailures(summaries: readonly DependentSummary[], ledger: Pick<Ledger, 'get'>): Promise<OperationRecord[]> {
  const records = await Promise.all(summaries.filter((d) => d.state === 'FAILED').map((d) => ledger.get(d.id)));
  return records.filter((r): r is OperationRecord => r !== null && r.state === 'FAILED' && r.attempts > 0);
}

const label = (o: { id: string; state: OperationState }): string => `${o.id}:${o.state}`;

/**
 * Counts a modification's outcome applied to its open operation, and says so (info line). One recorded FAILED is not
 * counted here (its success is counted where it is reported: `pb_webhook_successes_after_failure_total`), only said.
 */
export function noteOpenModification(logger: Logger, named: OperationRecord, found: OpenModification): void {
  const { op, data } = found;
  if (found.kind === 'open') openModifications.inc({ gateway: data.gateway, command: op.command, outcome: 'applied' });
  const message =
    found.kind === 'open'
      ? "webhook shows the payment's open modification done: applied to that operation"
      : "webhook shows the payment's modification done by an operation recorded FAILED: checked as a success after failure";
  logger.info(message, {
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
