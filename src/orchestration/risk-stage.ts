import { RedisClient } from '../redis/redis-connection';
import type { Config } from '../config/config';
import type { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { RiskCounters } from '../risk/risk-counters';
import { RiskCounts, RiskDecision, RiskSignal, decideRisk, needsTokenCheck, riskSignals, velocityValue } from '../risk/risk-rules';
import { withPspRiskFields } from '../risk/psp-risk-fields';
import type { Payment } from '../contracts/payment-command';
import type { GatewayRequest } from '../gateways/gateway-adapter';
import type { ReviewNotice } from '../events/risk-review-event';
import { ReviewHold, ReviewStore } from '../risk/review-store';
import { RISK_DECLINED, RISK_REVIEW_EXPIRED } from '../risk/risk-reasons';
import { OrchestrationStage, REFUSAL_LOST, RefusalTally, StageDecision, StageInput, StageResult } from './orchestration-stage';

/** Commands the risk rules run before: the ones that open a payment. */
const ASSESSED = new Set(['authorize', 'sale']);

const decisions = () =>
  counter(
    'pb_risk_decisions_total',
    'Risk rule decisions, by action and the rule that decided (none: allowed by default); a decline is counted once on record, one that lost to another worker as action refusal_lost',
    ['action', 'rule'],
  );

/**
 * The risk stage: local rules before an authorization or a sale (amount threshold per currency, velocity per
 * customer, token, IP or e-mail, country mismatch, a new token with a high amount) decide one of four:
 * - allow: sent as it is;
 * - psp_review: sent with the fields the PSP's own risk engine documents (`risk/psp-risk-fields.ts`, applied
 *   by delivery from this decision);
 * - hold: not sent; held for review (`ReviewStore`) until an operator releases it (`payment-bridge ops
 *   risk-release`) or `risk.review_window_ms` passes, when the poller voids it (FAIL `RISK_REVIEW_EXPIRED`);
 *   the OMS hears a PENDING event with the deadline;
 * - decline: FAIL `RISK_DECLINED` (decline category suspected_fraud).
 * Every decision carries its rule and signals. Inactive (free) without `risk.rules`.
 */
export class RiskStage implements OrchestrationStage {
  readonly name = 'risk' as const;
  private readonly counters: RiskCounters | null;
  readonly reviews: ReviewStore | null;

  constructor(
    private readonly config: Config,
    redis: RedisClient | undefined,
    private readonly logger?: Logger,
  ) {
    const risk = config.limits.risk;
    this.counters = redis ? new RiskCounters(redis, config.redis.keyPrefix, risk, risk.hashKey || config.serviceBus.secret) : null;
    this.reviews = redis ? new ReviewStore(redis, config.redis.keyPrefix) : null;
  }

  active(): boolean {
    return this.config.limits.risk.rules.length > 0;
  }

  /** Decided without Redis when no velocity or new-token counter applies and the decision is not a hold. */
  decideNow(input: StageInput): StageResult | undefined {
    if (!ASSESSED.has(input.op.command))
      return { verdict: 'continue', plan: input.plan, decision: { stage: 'risk', outcome: 'default', reasons: ['not_assessed_command'] } };
    if (this.needsCounters(input)) return undefined;
    const decision = decideRisk(this.config.limits.risk, riskSignals(this.config.limits.risk, input.plan.payment, { velocity: {} }));
    return decision.action === 'hold' ? undefined : this.resultOf(input, decision);
  }

  async decide(input: StageInput): Promise<StageResult> {
    if (!ASSESSED.has(input.op.command)) return this.decideNow(input)!;
    const { op, plan, now } = input;
    // A hold already decided stands (its counters are not counted again): released, declined, expired or still held.
    const existing = this.reviews ? await this.reviews.get(op.id) : null;
    if (existing) return this.reviewed(input, existing);
    const counts: RiskCounts = this.counters && this.needsCounters(input) ? await this.counters.count(op.id, plan.payment, now) : { velocity: {} };
    const decision = decideRisk(this.config.limits.risk, riskSignals(this.config.limits.risk, plan.payment, counts));
    const reviews = this.reviews;
    if (decision.action === 'hold' && reviews) {
      const deadline = now + this.config.limits.risk.reviewWindowMs;
      const rule = decision.rule ?? '';
      const signals = decision.signals.map((s) => s.signal).join(' ');
      const held = this.reviewed(input, { operationId: op.id, state: 'held', deadline, rule, signals, createdAt: now }, decision);
      if (held.verdict !== 'wait') return held;
      // Written only once the hold applied (its notice on record as read: `HoldApplied`): a hold decided on a stale read
      // would leave a review record for an operation another worker sent, listed for an operator to release.
      const applied = async (told?: number): Promise<void> => {
        const hold = await reviews.hold(op.id, told ?? deadline, rule, signals, now);
        this.logger?.warn('authorization held for review by the risk rules', {
          operation_id: op.id,
          rule: decision.rule,
          signals: decision.signals.map((s) => s.detail),
          review_deadline: new Date(hold.deadline).toISOString(),
        });
        decisions().inc({ action: 'hold', rule: decision.rule ?? 'none' });
      };
      return { ...held, applied };
    }
    return this.resultOf(input, decision);
  }

  private needsCounters({ plan }: StageInput): boolean {
    const risk = this.config.limits.risk;
    return risk.velocity.some((v) => velocityValue(plan.payment, v.by) !== undefined) || needsTokenCheck(risk, plan.payment);
  }

  /**
   * The result of `decision`, counting and logging nothing itself: what goes on counts and logs with its `count`, once its
   * plan is used; a refusal with its `tally`, once it is on record (a plan decided again after a wait, or dropped by the
   * fast path, is never counted or logged twice).
   */
  private resultOf({ op, plan }: StageInput, decision: RiskDecision): StageResult {
    const base = { stage: 'risk' as const, details: detailsOf(decision) };
    const rule = decision.rule ? `rule:${decision.rule}` : 'no_rule_matched';
    const labels = { action: decision.action, rule: decision.rule ?? 'none' };
    // What goes on is counted and logged once its plan is used (`count`), so an operator reads one decision per command; a
    // refusal once its fate is known (`refusalTally`).
    const count = (): void => void decisions().inc(labels);
    switch (decision.action) {
      case 'allow':
        return { verdict: 'continue', plan, decision: { ...base, outcome: 'allowed', reasons: [rule, ...signalReasons(decision)] }, count };
      case 'psp_review': {
        const reviewed = (): void => {
          count();
          this.logger?.info('risk rules ask the PSP risk engine', { operation_id: op.id, rule: decision.rule, signals: decision.signals.map((s) => s.detail) });
        };
        return {
          verdict: 'continue',
          plan,
          decision: { ...base, outcome: 'changed', reasons: ['psp_review', rule, ...signalReasons(decision)] },
          count: reviewed,
        };
      }
      case 'decline': {
        const counted = refusalTally(labels);
        const tally = (recorded: boolean): void => {
          counted(recorded);
          if (!recorded) return; // the caller logs that it lost
          this.logger?.warn('authorization declined by the risk rules; not sent', {
            operation_id: op.id,
            rule: decision.rule,
            signals: decision.signals.map((s) => s.detail),
          });
        };
        return {
          verdict: 'refuse',
          reason: RISK_DECLINED,
          decision: { ...base, outcome: 'refused', reasons: ['decline', rule, ...signalReasons(decision)] },
          tally,
        };
      }
      case 'hold':
        // No review store (no Redis): a hold cannot be kept, so it is not sent either.
        return {
          verdict: 'refuse',
          reason: RISK_DECLINED,
          decision: { ...base, outcome: 'refused', reasons: ['hold_unavailable', rule, ...signalReasons(decision)] },
          tally: refusalTally(labels),
        };
    }
  }

  /** A held operation: waits until released (then goes on), declined by an operator or expired (then fails). */
  private reviewed({ op, plan, now }: StageInput, hold: ReviewHold, decision?: RiskDecision): StageResult {
    const { state, deadline, rule, signals } = hold;
    const details = { ...(decision ? detailsOf(decision) : {}), review_deadline: new Date(deadline).toISOString(), review_rule: rule, review_signals: signals };
    if (state === 'released') {
      return {
        verdict: 'continue',
        plan,
        decision: {
          stage: 'risk',
          outcome: 'allowed',
          reasons: ['review_released', `rule:${rule}`],
          details: { ...details, released_by: hold.releasedBy ?? null },
        },
      };
    }
    if (state === 'declined') {
      // Logged once the refusal is on record (`tally`), as a decline is: not for a pass that lost to another worker.
      const tally = (recorded: boolean): void => {
        if (recorded) this.logger?.warn('review hold declined by an operator; authorization refused before it was sent', { operation_id: op.id, rule });
      };
      return {
        verdict: 'refuse',
        reason: RISK_DECLINED,
        decision: {
          stage: 'risk',
          outcome: 'refused',
          reasons: ['review_declined', `rule:${rule}`],
          details: { ...details, declined_by: hold.declinedBy ?? null },
        },
        tally,
      };
    }
    if (state === 'expired' || now >= deadline) {
      const tally = (recorded: boolean): void => {
        if (recorded) this.logger?.warn('review deadline passed; authorization voided before it was sent', { operation_id: op.id, rule });
      };
      return {
        verdict: 'refuse',
        reason: RISK_REVIEW_EXPIRED,
        decision: { stage: 'risk', outcome: 'refused', reasons: ['review_expired', `rule:${rule}`], details },
        tally,
      };
    }
    const held: StageDecision = { stage: 'risk', outcome: 'held', reasons: ['hold_for_review', `rule:${rule}`], details };
    // Come back at the deadline; an operator's release or the poller's void requeue it sooner.
    return { verdict: 'wait', decision: held, delayMs: Math.max(deadline - now, 1000) };
  }
}

/** A refusal's count once its fate is known (`RefusalTally`): under its action on record, `refusal_lost` when it lost. */
function refusalTally(labels: { action: string; rule: string }): RefusalTally {
  return (recorded) => decisions().inc(recorded ? labels : { ...labels, action: REFUSAL_LOST });
}

function signalReasons(d: RiskDecision): string[] {
  return [...new Set(d.signals.map((s) => `signal:${s.signal}`))];
}

function detailsOf(d: RiskDecision): Record<string, string> {
  return { risk_action: d.action, risk_rule: d.rule ?? 'none', risk_signals: d.signals.map((s) => s.detail).join('; ') };
}

/**
 * The request with the PSP's risk-engine fields when the risk stage asked for the PSP's review
 * (`psp_review`) in `decisions`; otherwise the request as built. Pure.
 */
export function withRiskReviewFields(
  gatewayType: string,
  request: GatewayRequest,
  payment: Payment,
  decisions: readonly StageDecision[] | undefined,
): GatewayRequest {
  const review = decisions?.find((d) => d.stage === 'risk' && d.outcome === 'changed' && d.reasons[0] === 'psp_review');
  if (!review) return request;
  const rule = review.details?.risk_rule;
  const signals = review.reasons.filter((r) => r.startsWith('signal:')).map((r) => ({ signal: r.slice('signal:'.length) as RiskSignal, detail: '' }));
  return withPspRiskFields(gatewayType, request, payment, {
    action: 'psp_review',
    rule: typeof rule === 'string' && rule !== 'none' ? rule : undefined,
    signals,
  });
}

/** The review hold a wait's decisions stand for (the risk stage's `hold_for_review`), for the OMS event. */
export function reviewNoticeOf(decisions: readonly StageDecision[]): ReviewNotice | null {
  const held = decisions.find((d) => d.stage === 'risk' && d.outcome === 'held' && d.reasons[0] === 'hold_for_review');
  const deadline = held?.details?.review_deadline;
  if (!held || typeof deadline !== 'string') return null;
  return { deadline: Date.parse(deadline), rule: String(held.details?.review_rule ?? ''), signals: String(held.details?.review_signals ?? '') };
}
