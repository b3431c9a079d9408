import type { Logger } from '../logging/logger';
import type { VaultGroup } from '../gateways/gateway-vaults';
import type { Counter } from 'prom-client';
import { counter, gauge } from '../metrics/metrics-registry';
import { METHOD_BOUND } from '../routing/method-binding';
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

/**
 * `pb_risk_review_notices_withheld_total`: risk holds decided on a stale read whose PENDING `RISK_REVIEW` notice was not
 * sent, the operation having moved meanwhile (another worker sent it): the OMS hears what that attempt reports instead.
 */
export function riskReviewNoticesWithheld(): Counter {
  return counter(
    'pb_risk_review_notices_withheld_total',
    "Risk review holds whose PENDING RISK_REVIEW notice was not sent because another worker moved the operation after the hold's read",
  );
}

/** Counts the decisions recorded for one attempt (once, where they are written to the ledger). */
export function countDecisions(decisions: readonly StageDecision[]): void {
  for (const d of decisions) decisionsTotal.inc({ stage: d.stage, outcome: d.outcome });
}

const candidatesDroppedTotal = counter(
  'pb_routing_candidates_dropped_total',
  "Candidate gateways a command was not sent to, by step (route: dropped by the route stage, counted once per operation; failover: passed over when moving on), reason (method_bound: it cannot use the command's method data, bound to the PSP account of payment.gateway; agreement_<status>) and the gateway dropped",
  ['step', 'reason', 'gateway'],
);

const amountBoundMissesTotal = counter(
  'pb_routing_amount_bound_misses_total',
  "Routing rules passed over because the command's amount broke one of their amount bounds (counted once per operation), by rule, bound (min_amount, max_amount; no_bound: the rule's per-currency bounds name none for the currency) and the command's currency",
  ['rule', 'bound', 'currency'],
);

/** A route stage reason naming a dropped candidate: `method_bound:<gateway>`, `agreement_<status>:<gateway>`. */
const DROPPED = new RegExp(`^(${METHOD_BOUND}|agreement_[a-z]+):(.+)$`);

/**
 * Counts the candidates the route stage dropped, and logs (info) those that could not use the command's
 * method data; counts and logs (debug) the rules an amount bound passed over. Call once per operation: where
 * its route is first recorded (its first attempt, or its refusal).
 */
export function reportRouteDrops(
  logger: Pick<Logger, 'info' | 'debug'>,
  op: { id: string; command: string; payment: { gateway: string; amount: number; currency: string } },
  decisions: readonly StageDecision[],
): void {
  const route = decisions.find((d) => d.stage === 'route');
  if (!route) return;
  reportAmountBoundMisses(logger, op, route);
  const bound: string[] = [];
  for (const reason of route.reasons) {
    const m = DROPPED.exec(reason);
    if (!m) continue;
    candidatesDroppedTotal.inc({ step: 'route', reason: m[1], gateway: m[2] });
    if (m[1] === METHOD_BOUND) bound.push(m[2]);
  }
  if (bound.length > 0) {
    logger.info("route: candidates dropped that cannot use the command's method data (bound to the PSP account of payment.gateway)", {
      operation_id: op.id,
      command: op.command,
      gateway: op.payment.gateway,
      dropped: bound,
      candidates: route.candidates ?? [],
    });
  }
}

/**
 * The rules the route stage passed over on an amount bound: counted by rule, side and currency (labels bounded
 * by the configured rules and the ISO 4217 list), and one debug line per operation naming each bound (the
 * operation's history has them too, `rules[].bound`). Debug: a rule for small amounts passes over every
 * larger payment, by design.
 */
function reportAmountBoundMisses(
  logger: Pick<Logger, 'debug'>,
  op: { id: string; command: string; payment: { gateway: string; amount: number; currency: string } },
  route: StageDecision,
): void {
  const missed = (route.rules ?? []).filter((r) => r.bound !== undefined);
  if (missed.length === 0) return;
  for (const r of missed) {
    const side = (r.bound ?? '').split('.')[0];
    amountBoundMissesTotal.inc({ rule: r.rule, bound: side, currency: op.payment.currency });
  }
  logger.debug('route: rules passed over on an amount bound', {
    operation_id: op.id,
    command: op.command,
    amount: op.payment.amount,
    currency: op.payment.currency,
    rules: missed.map((r) => `${r.rule} (${r.bound ?? ''}: ${r.why ?? ''})`),
    decision: route.reasons[0],
    candidates: route.candidates ?? [],
  });
}

/** A failover candidate passed over: it cannot use the operation's method data in `field`. */
export interface SkippedCandidate {
  gateway: string;
  field: string;
}

/** Counts and logs (warn) the candidates a failover passed over: the route on record named gateways the method data cannot go to. */
export function reportFailoverSkips(
  logger: Pick<Logger, 'warn'> | undefined,
  op: { id: string; command: string; payment: { gateway: string } },
  from: string,
  skipped: readonly SkippedCandidate[],
): void {
  for (const s of skipped) candidatesDroppedTotal.inc({ step: 'failover', reason: METHOD_BOUND, gateway: s.gateway });
  logger?.warn("failover: candidates skipped that cannot use the operation's method data (bound to the PSP account of payment.gateway)", {
    operation_id: op.id,
    command: op.command,
    gateway: op.payment.gateway,
    from,
    skipped: skipped.map((s) => `${s.gateway} (${s.field})`),
  });
}

const gatewayVaultInfo = gauge(
  'pb_gateway_vault_info',
  "1 per configured gateway entry, labelled with its vault (the PSP account's store of the method data it issued; entries of one vault may take each other's stored tokens and customers on a route or a failover): the declared gateways.<name>.vault, else its first entry's name, and source (declared, or configuration: the same type, account and key)",
  ['gateway', 'vault', 'source'],
);

/**
 * Says at start which gateway entries are one vault (info line and `pb_gateway_vault_info`): what routing and
 * failover may move method data between. Names only, never a key value.
 */
export function reportVaults(logger: Pick<Logger, 'info'>, groups: readonly VaultGroup[]): void {
  gatewayVaultInfo.reset();
  for (const g of groups) for (const gateway of g.gateways) gatewayVaultInfo.set({ gateway, vault: g.name, source: g.source }, 1);
  logger.info("method data vaults: gateway entries that may take each other's stored tokens and customers on a route or a failover", {
    vaults: groups.map((g) => ({ vault: g.name, source: g.source, type: g.type, gateways: g.gateways })),
  });
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

const fxRefundsBoundedTotal = counter(
  'pb_fx_refunds_bounded_total',
  'Refunds of a converted payment sent for other than their own conversion, bounded by what its captures (or sale) took in the PSP currency, by gateway and direction (less, more)',
  ['gateway', 'direction'],
);

/**
 * A refund of a converted payment sent for what its captures (or its sale) took in the PSP's currency rather than its
 * own conversion (docs/LIMITS.md, "Currency conversion"): less, when that would give back more than is left of it; more,
 * when it completes the refunds and the captures took a step more than their conversion. Counted, and its info line
 * naming the converted amounts asked (its own conversion) and sent; once, when its attempt goes out.
 */
export function reportFxRefundBounded(
  logger: Pick<Logger, 'info'> | undefined,
  op: { id: string; command: string; amount: number; currency: string },
  gateway: string,
  bounded: { asked: number; sent: number; currency: string; taken: number },
): void {
  fxRefundsBoundedTotal.inc({ gateway, direction: bounded.sent < bounded.asked ? 'less' : 'more' });
  logger?.info('converted refund sent for what the captures took, not its own conversion', {
    operation_id: op.id,
    command: op.command,
    gateway,
    amount: op.amount,
    currency: op.currency,
    converted_asked: bounded.asked,
    converted_sent: bounded.sent,
    converted_currency: bounded.currency,
    taken_converted: bounded.taken,
  });
}

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
