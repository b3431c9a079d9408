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
