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

/** Counts a converted payment sent without its lines (see `convertedPayment`). */
export function countFxLinesOmitted(gateway: string, command: string): void {
  fxLinesOmittedTotal.inc({ gateway, command });
}
