import { randomUUID } from 'node:crypto';
import { RedisClient } from '../redis/redis-connection';
import type { Config } from '../config/config';
import type { Logger } from '../logging/logger';
import type { OperationRecord } from '../ledger/record-fields';
import { CapCandidate, CapDecision, CapReservations } from '../caps/cap-reservations';
import { CapRefusal } from '../caps/cap-rules';
import { settlementCurrency } from '../fx/fx-lock';
import { fxLockOfDecisions } from '../fx/locked-rate';
import { isoAmountStepFor } from '../gateways/gateway-registry';
import { counter } from '../metrics/metrics-registry';
import { OrchestrationPlan, OrchestrationStage, REFUSAL_LOST, StageDecision, StageInput, StageRelease, StageResult } from './orchestration-stage';

/** Commands caps apply to: the ones that commit volume at the PSP. */
const CAPPED = new Set(['authorize', 'sale']);

/** The reason an operation fails with when every candidate is over a cap (event `reason`, decline limit_exceeded). */
export const CAP_EXCEEDED = 'CAP_EXCEEDED';

const decisions = () =>
  counter(
    'pb_caps_decisions_total',
    'Transaction cap decisions, by gateway tried first, result (refused once on record, refusal_lost) and the limit that refused (none when within)',
    ['gateway', 'result', 'limit'],
  );
const releases = () =>
  counter(
    'pb_caps_releases_total',
    'Cap reservations given back, by gateway and why (failed, refused, failover once the move is on record, abandoned, replanned, reclaimed: no live claim left)',
    ['gateway', 'why'],
  );
const kept = () =>
  counter(
    'pb_caps_reservations_kept_total',
    'Cap reservations a plan abandoned but left standing because another delivery of the operation claims it (it may send on it), by gateway',
    ['gateway'],
  );

const reclaimed = () =>
  counter(
    'pb_caps_claims_reclaimed_total',
    "Claims on cap reservations dropped because their plan can never go on record (its worker died between the claim and the move: the operation's record moved past the attempt it was decided on), by gateway",
    ['gateway'],
  );

/**
 * The caps stage: reserves room under every applicable cap (per gateway and per merchant account, per
 * currency: per-transaction bounds, daily and monthly volume and count) for the candidate about to be tried,
 * in one Redis round trip, and falls back to the next candidate of the route when the first is over a cap
 * (same round trip); over every candidate: refused with `CAP_EXCEEDED`, the decision naming the cap.
 * Authorize and sale only. A reservation is marked per operation and gateway: what an attempt reserved is given back
 * when it fails (`release`), and what the operation holds at a candidate it left, or in another currency than its
 * plan's, once the attempt at its next candidate is on record (`settled`). Inactive (free) without `caps.rules`.
 */
export class CapsStage implements OrchestrationStage {
  readonly name = 'caps' as const;
  private readonly caps: CapReservations;

  constructor(
    private readonly config: Config,
    redis: RedisClient,
    private readonly logger?: Logger,
  ) {
    this.caps = new CapReservations(redis, config.redis.keyPrefix, config.limits.caps.rules);
  }

  active(): boolean {
    return this.caps.configured;
  }

  /** Every currency FX converts into (the first of each `fx.settlement_currencies` list). */
  private get conversionTargets(): string[] {
    return Object.values(this.config.limits.fx.settlementCurrencies).flatMap((list) => list.slice(0, 1));
  }

  /** Caps keep counters: only a command they do not apply to is decided without Redis. */
  decideNow(input: StageInput): StageResult | undefined {
    if (!CAPPED.has(input.op.command))
      return { verdict: 'continue', plan: input.plan, decision: { stage: 'caps', outcome: 'default', reasons: ['not_capped_command'] } };
    return undefined;
  }

  async decide(input: StageInput): Promise<StageResult> {
    const early = this.decideNow(input);
    if (early) return early;
    const { op, plan, now } = input;
    const { candidates, skipped } = this.candidates(op, plan);
    const first = plan.candidates[plan.index];
    // This plan's claim on the reservation it makes or finds: another plan of the operation abandoning it leaves it. It
    // names the attempt count its move to SENT applies to only: once the record is past it, the claim is dead (`settled`).
    const claim = `${op.attempts}:${randomUUID()}`;
    const result = await this.caps.reserve(op.id, candidates, now, claim);
    return this.resultOf(op, { ...plan, claim }, candidates, result, first, skipped);
  }

  /**
   * Gives back what this operation reserved: `failed` and `refused` (the operation FAILED), at every candidate of the
   * plan and every configured gateway, and the operation's mark whatever gateway it names (a plan decided before a
   * configuration reload may have reserved where this route no longer goes); `abandoned` (a plan never put on record:
   * a failover that went nowhere), at the plan's own candidate, unless another plan of the operation claims that
   * reservation (`releaseAbandoned`: another worker may be sending on it); `failover` (the move to the plan's candidate
   * is on record), what `settled` gives back.
   */
  async release(op: OperationRecord, plan: OrchestrationPlan, why: StageRelease): Promise<void> {
    if (!CAPPED.has(op.command)) return;
    if (why === 'failover') return this.settled(op, plan);
    if (why === 'abandoned') return this.abandoned(op, plan);
    const all = plan.candidates.map((gateway, index) => ({ gateway, index }));
    // Gateways outside the plan's route (no index: a mark of the release before names its candidate by index alone).
    const others = Object.keys(this.config.gateways)
      .filter((gateway) => !plan.candidates.includes(gateway))
      .map((gateway) => ({ gateway, index: -1 }));
    for (const currency of this.currencies(op, plan)) await this.give(op, currency, [...all, ...others], () => why, undefined, { strays: 'any' });
  }

  /**
   * A failover's plan that never went on record gives back its reservation at its own candidate, in every currency it
   * could be in, unless another plan still claims it: counted and logged as `abandoned`, or counted
   * (`pb_caps_reservations_kept_total`) and logged as kept.
   */
  private async abandoned(op: OperationRecord, plan: OrchestrationPlan): Promise<void> {
    const candidate = { gateway: plan.candidates[plan.index], index: plan.index };
    for (const currency of this.currencies(op, plan)) {
      const { released, claimed } = await this.caps.releaseAbandoned(op.id, currency, candidate, plan.claim);
      if (released) {
        releases().inc({ gateway: candidate.gateway, why: 'abandoned' });
        this.logger?.info('cap reservation released', { operation_id: op.id, gateway: candidate.gateway, currency, why: 'abandoned' });
      } else if (claimed) {
        // Another delivery of the operation (another worker) found this reservation and may be sending on it.
        kept().inc({ gateway: candidate.gateway });
        this.logger?.info('cap reservation kept: another delivery of the operation claims it', {
          operation_id: op.id,
          gateway: candidate.gateway,
          currency,
          why: 'abandoned',
        });
      }
    }
  }

  /**
   * The attempt carrying `plan` is on record: what the operation still holds anywhere else is no reservation of that
   * attempt, and is given back. At the candidates before the plan's (a failover reserves at the next one first and
   * gives back the one it leaves only once the move is on record: `failover`), at the plan's own candidate in another
   * currency than the plan's, and at a gateway outside the plan's route (an earlier plan, decided before a wait, that
   * came out in another currency or, under the configuration before a reload, at another gateway: `replanned`).
   * When `fresh` (a pass put the plan it decided on record: the job's next run after a worker died), at the candidates
   * after the plan's, the claims of plans decided on a record of fewer attempts than `op`'s are dropped (they can never
   * go on record: a failover whose worker died between its claim and its move) and a reservation no claim holds then is
   * given back (`reclaimDead`; counted `pb_caps_claims_reclaimed_total`, `pb_caps_releases_total{why="reclaimed"}`, and
   * logged): one MGET per currency more when the route has such candidates; none on the other later passes.
   * Idempotent; no Redis call when there is nothing it could hold (the first candidate, one currency) unless `fresh`.
   * @param op the record as it stands with the plan's attempt on it (its attempt count decides which claims are dead).
   * @param fresh the plan was decided in this pass: an earlier pass may have decided another before a wait, so the
   *   operation's mark is read whatever the route (one MGET per currency).
   */
  async settled(op: OperationRecord, plan: OrchestrationPlan, fresh = false): Promise<void> {
    if (!CAPPED.has(op.command)) return;
    const current = plan.candidates[plan.index];
    const later = plan.candidates.slice(plan.index + 1).map((gateway, i) => ({ gateway, index: plan.index + 1 + i }));
    if (fresh && later.length > 0) for (const currency of this.currencies(op, plan)) await this.reclaimAt(op, currency, later);
    const earlier = plan.candidates.slice(0, plan.index).map((gateway, index) => ({ gateway, index }));
    const left = new Set(earlier.map((c) => c.gateway));
    // Configured gateways the route no longer names: an earlier plan's reservation there (when read anyway).
    const others = fresh
      ? Object.keys(this.config.gateways)
          .filter((gateway) => !plan.candidates.includes(gateway))
          .map((gateway) => ({ gateway, index: -1 }))
      : [];
    for (const currency of this.currencies(op, plan)) {
      const own = currency === plan.payment.currency;
      const candidates = [...earlier, ...(own ? [] : [{ gateway: current, index: plan.index }]), ...others];
      // In the plan's currency the record's reservation stands: moved where a worker of the release before finds it.
      const kept = own ? { gateway: current, index: plan.index } : undefined;
      await this.give(op, currency, candidates, (gateway) => (left.has(gateway) ? 'failover' : 'replanned'), kept, { strays: plan.candidates, read: fresh });
    }
  }

  /**
   * A resend at the plan's own candidate is on record (`op`, an attempt more): at the candidates after it, the claims of
   * plans decided on a record of fewer attempts are dropped and a reservation no claim holds then is given back, as
   * `settled` does for a plan decided in its pass (a failover decided on the record before the resend, whose worker
   * died between its claim and its move, can never go on record). One MGET per currency when the route has candidates
   * after the plan's; nothing else. `ended` (`op` SUCCEEDED, its attempt count final): every claim there that names an
   * attempt count is dead, the one the record ends with included (a failover decided on the last attempt, whose worker
   * died, with no attempt after it that would reclaim it).
   */
  async reclaim(op: OperationRecord, plan: OrchestrationPlan, ended = false): Promise<void> {
    if (!CAPPED.has(op.command)) return;
    const later = plan.candidates.slice(plan.index + 1).map((gateway, i) => ({ gateway, index: plan.index + 1 + i }));
    const below = ended ? op.attempts + 1 : op.attempts;
    if (later.length > 0) for (const currency of this.currencies(op, plan)) await this.reclaimAt(op, currency, later, below);
  }

  /**
   * Drops the dead claims on what `op` holds in `currency` at `later` (candidates after its record's) and gives back a
   * reservation no claim holds then (`CapReservations.reclaimDead`), counted and logged. `below`: the claims of plans
   * decided on fewer attempts than this are dead (default: the record's attempt count).
   */
  private async reclaimAt(op: OperationRecord, currency: string, later: ReadonlyArray<{ gateway: string; index: number }>, below = op.attempts): Promise<void> {
    for (const { gateway, claims, released } of await this.caps.reclaimDead(op.id, currency, later, below)) {
      if (claims > 0) reclaimed().inc({ gateway }, claims);
      if (released) releases().inc({ gateway, why: 'reclaimed' });
      // A worker died between its claim and its move (or a claim outlived its plan): say what came back.
      this.logger?.info('cap reservation claims reclaimed: their plans can never go on record', {
        operation_id: op.id,
        gateway,
        currency,
        claims,
        released,
        state: op.state,
        attempts: op.attempts,
        why: 'reclaimed',
      });
    }
  }

  /** Releases the marks of `candidates` in `currency`, each counted and logged with its gateway and why (`kept`, `options`: `releaseMarks`). */
  private async give(
    op: OperationRecord,
    currency: string,
    candidates: ReadonlyArray<{ gateway: string; index: number }>,
    why: (gateway: string) => string,
    kept?: { gateway: string; index: number },
    options?: { strays?: readonly string[] | 'any'; read?: boolean },
  ): Promise<void> {
    for (const gateway of await this.caps.releaseMarks(op.id, currency, candidates, kept, options)) {
      releases().inc({ gateway, why: why(gateway) });
      this.logger?.info('cap reservation released', { operation_id: op.id, gateway, currency, why: why(gateway) });
    }
  }

  /**
   * The currencies a reservation of this operation may be in: the command's own, the plan's, every currency FX converts
   * into for some gateway or account (an earlier plan, decided before a wait, may have had another route), and each
   * failover's converted one (`routing.failovers[].fx`). A currency the configuration no longer converts into at all is
   * not found here (docs/LIMITS.md).
   */
  private currencies(op: OperationRecord, plan: OrchestrationPlan): Set<string> {
    const out = new Set([op.payment.currency, plan.payment.currency, ...this.conversionTargets]);
    for (const step of op.routing?.failovers ?? []) {
      const to = step.fx?.to_currency;
      if (typeof to === 'string') out.add(to);
    }
    return out;
  }

  /**
   * The candidates from the current one on, each with what it would move: the current one the plan's
   * payment (converted if FX converted it); a later one the same payment when it takes that currency; a later
   * one needing another conversion is not a cap fallback,
   * nor one whose step in the converted currency does not divide the step the amount was rounded to (its
   * adapter would refuse the amount as unrepresentable, and the captures at the locked step too).
   * All in the current one's currency (one slot, one round trip).
   */
  private candidates(op: OperationRecord, plan: OrchestrationPlan): { candidates: CapCandidate[]; skipped: string[] } {
    const out: CapCandidate[] = [];
    const skipped: string[] = [];
    const { fx } = this.config.limits;
    const account = op.payment.gateway_account;
    const current = plan.payment.currency;
    // The step FX rounded the converted amount to, for the current candidate (its lock; 1: the ISO minor unit).
    const lockedStep = current === op.payment.currency ? null : (fxLockOfDecisions(plan.decisions)?.step ?? 1);
    const takesLockedStep = (gateway: string): boolean => {
      const type = this.config.gateways[gateway]?.type;
      return lockedStep === null || type === undefined || lockedStep % isoAmountStepFor(type, current) === 0;
    };
    plan.candidates.forEach((gateway, index) => {
      if (index < plan.index) return;
      if (index === plan.index) {
        out.push({ index, gateway, account, amount: plan.payment.amount, currency: plan.payment.currency });
        return;
      }
      // A candidate that settles in another currency would need a conversion of its own: no cap fallback.
      if (settlementCurrency(fx, gateway, account, current) !== null) return;
      if (takesLockedStep(gateway)) out.push({ index, gateway, account, amount: plan.payment.amount, currency: current });
      else skipped.push(gateway);
    });
    return { candidates: out, skipped };
  }

  private resultOf(
    op: OperationRecord,
    plan: OrchestrationPlan,
    candidates: CapCandidate[],
    result: CapDecision,
    first: string,
    skipped: readonly string[],
  ): StageResult {
    const refusals = result.refusals.map(refusalReason);
    // The candidates passed over for the converted amount's step, on the decision and in its log line.
    const refusedDetails = {
      ...(result.refusals[0] ? refusalDetails(result.refusals[0]) : {}),
      ...(skipped.length > 0 ? { fallback_skipped_step: skipped.join(',') } : {}),
    };
    if (result.kind === 'over') {
      const main = result.refusals[0];
      const limit = main?.limit ?? 'none';
      const decision: StageDecision = {
        stage: 'caps',
        outcome: 'refused',
        reasons: refusals.length > 0 ? refusals : ['cap_exceeded'],
        details: refusedDetails,
      };
      // Counted once its fate is known: on record (`refused`, and logged), or lost to another worker's move (`refusal_lost`).
      const tally = (recorded: boolean): void => {
        decisions().inc({ gateway: first, result: recorded ? 'refused' : REFUSAL_LOST, limit });
        if (!recorded) return; // the caller logs that it lost
        this.logger?.warn('transaction cap exceeded on every candidate; refused before any gateway call', {
          operation_id: op.id,
          gateway: first,
          caps: refusals,
          ...refusedDetails,
        });
      };
      return { verdict: 'refuse', decision, reason: CAP_EXCEEDED, tally };
    }
    const chosen = candidates.find((c) => c.index === result.index);
    const gateway = plan.candidates[result.index];
    // What goes on is counted (and a fallback logged) once its plan is used (`DecisionCount`): not for each pass that
    // reserves again (idempotently) and then waits.
    if (result.index === plan.index || !chosen) {
      const count = (): void => void decisions().inc({ gateway: first, result: result.kind === 'unlimited' ? 'unlimited' : 'within', limit: 'none' });
      const reasons = [result.kind === 'unlimited' ? 'no_cap_applies' : result.kind === 'already' ? 'already_reserved' : 'within_caps'];
      return { verdict: 'continue', plan, decision: { stage: 'caps', outcome: 'allowed', reasons, candidates: plan.candidates.slice(plan.index) }, count };
    }
    const count = (): void => {
      decisions().inc({ gateway: first, result: 'fallback', limit: result.refusals[0]?.limit ?? 'none' });
      this.logger?.info('transaction cap exceeded; falling back to the next route', {
        operation_id: op.id,
        from: first,
        to: gateway,
        caps: refusals,
        ...(skipped.length > 0 ? { fallback_skipped_step: skipped.join(',') } : {}),
      });
    };
    const next: OrchestrationPlan = { ...plan, index: result.index, payment: { ...plan.payment, gateway, amount: chosen.amount, currency: chosen.currency } };
    return {
      verdict: 'continue',
      plan: next,
      decision: {
        stage: 'caps',
        outcome: 'fallback',
        reasons: refusals,
        candidates: plan.candidates.slice(result.index),
        details: { ...refusedDetails, fallback: gateway },
      },
      count,
    };
  }
}

function refusalReason(r: CapRefusal): string {
  return `cap_exceeded:${r.cap}`;
}

function refusalDetails(r: CapRefusal): Record<string, string | number> {
  return { cap: r.cap, cap_limit: r.limit, cap_max: r.max, cap_current: r.current };
}
