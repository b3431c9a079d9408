import type { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { StageDecision } from './orchestration-stage';

const decisionsTotal = counter('pb_routing_decisions_total', 'Orchestration decisions recorded with an attempt, by stage (route, risk, fx, caps) and outcome', [
  'stage',
  'outcome',
]);

const failoversTotal = counter(
  'pb_routing_failovers_total',
  'Authorizations and sales moved to their next candidate gateway, by the gateway left, the one tried next and the trigger',
  ['from', 'to', 'trigger'],
);

/** Counts the decisions recorded for one attempt (once, where they are written to the ledger). */
export function countDecisions(decisions: readonly StageDecision[]): void {
  for (const d of decisions) decisionsTotal.inc({ stage: d.stage, outcome: d.outcome });
}

/** Failover trigger labels (bounded): breaker open, request provably not sent, a "try elsewhere" decline, an inquiry that found nothing. */
export type FailoverTrigger = 'breaker_open' | 'not_sent' | 'declined' | 'inquiry_not_found';

export function countFailover(from: string, to: string, trigger: FailoverTrigger): void {
  failoversTotal.inc({ from, to, trigger });
}

const fxLinesOmittedTotal = counter(
  'pb_fx_lines_omitted_total',
  'Converted payments sent without their lines, which could not be converted to add up to the converted amount, by gateway and command',
  ['gateway', 'command'],
);

/**
 * A converted payment sent without its lines (see `convertedPayment`): counted, and its warn line. One report
 * for both places a payment is converted: the FX stage, and a capture or refund at its authorization's rate.
 */
export function reportFxLinesOmitted(logger: Pick<Logger, 'warn'> | undefined, op: { id: string; command: string }, gateway: string, lines: number): void {
  fxLinesOmittedTotal.inc({ gateway, command: op.command });
  logger?.warn('converted payment sent without its lines: they cannot be converted to add up to the converted amount', {
    operation_id: op.id,
    command: op.command,
    gateway,
    lines,
  });
}
