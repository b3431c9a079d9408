import type { OperationRecord } from '../ledger/record-fields';
import type { Logger } from '../logging/logger';
import type { MethodBinding } from '../routing/method-binding';
import { SkippedCandidate, reportFailoverSkips } from './orchestration-metrics';
import {
  DecisionCount,
  HoldApplied,
  OrchestrationPlan,
  OrchestrationStage,
  RefusalTally,
  StageDecision,
  StageRelease,
  StageResult,
} from './orchestration-stage';
import { FailoverStep, RoutingRecord, routedPayment } from '../ledger/routing-record';

/**
 * What the pipeline decided for one attempt: send it (with this plan), refuse it (fail unsent, with the
 * reason), or wait (come back after `delayMs`). `decisions` is everything decided, in stage order. A plan's `count` is
 * the stages' counts and log lines of it, for the caller to run once it records the attempt that carries it
 * (`DecisionCount`); a refusal's `tally` the refusing stage's (and the stages' before it), for the caller to call once it
 * knows whether the refusal is on record; a new hold's `applied`, its writes, for the caller to run once its notice is on
 * record (`HoldApplied`). A wait counts nothing of what the stages before it decided: it is decided again.
 */
export type PipelineResult =
  | { kind: 'send'; plan: OrchestrationPlan; count?: DecisionCount }
  | { kind: 'refuse'; reason: string; field?: string; decisions: StageDecision[]; plan: OrchestrationPlan; tally?: RefusalTally }
  | { kind: 'wait'; delayMs: number; decisions: StageDecision[]; plan: OrchestrationPlan; applied?: HoldApplied };

/**
 * Runs the orchestration stages in order (route ▸ risk ▸ FX ▸ caps) for one attempt of an operation.
 * Stages that are not `active()` are skipped at no cost; with none active the plan is the command's own
 * gateway and nothing is recorded (`recorded` false). Stateless; safe to share between workers.
 */
export class OrchestrationPipeline {
  private readonly stages: readonly OrchestrationStage[];
  /** Which candidates can use an operation's method data (its vaults are reported at start). */
  readonly binding: MethodBinding | undefined;
  private readonly logger: Pick<Logger, 'warn'> | undefined;

  /**
   * @param stages in the order they run; the first is the route stage (skipped on failover: the route stands).
   * @param options.binding which candidates can use an operation's method data: failover skips the others
   *   (a route recorded before them, or before the configuration changed, may still name them). Absent: none skipped.
   * @param options.logger where a skipped candidate is reported.
   */
  constructor(stages: readonly OrchestrationStage[], options: { binding?: MethodBinding; logger?: Pick<Logger, 'warn'> } = {}) {
    this.stages = stages;
    this.binding = options.binding;
    this.logger = options.logger;
  }

  /** Whether any stage has anything configured. When not, `planNow` always answers at once with the plain plan. */
  get active(): boolean {
    return this.stages.some((s) => s.active());
  }

  /** The stages, in order (tests, docs). */
  get stageNames(): string[] {
    return this.stages.map((s) => s.name);
  }

  /**
   * The plan without I/O (the fast path): `undefined` when an active stage needs I/O (`decideNow` absent
   * or undecided); the caller then takes the plain path and awaits `plan`. Nothing is reserved.
   * @param pinned the gateway the operation must go to (a capture, cancel or refund: its authorization's).
   */
  planNow(op: OperationRecord, now: number, pinned?: string): PipelineResult | undefined {
    let plan = initialPlan(op, pinned);
    const counts: DecisionCount[] = [];
    for (const stage of this.stages) {
      if (!stage.active()) continue;
      if (!stage.decideNow) return undefined;
      const result = stage.decideNow({ op, plan, now });
      if (result === undefined) return undefined;
      const next = afterStage(plan, result);
      if (next.kind !== 'send') return next;
      if (result.verdict === 'continue' && result.count) counts.push(result.count);
      plan = next.plan;
    }
    // The stages' counts of this plan, for the caller to run once it is used (`DecisionCount`).
    return counts.length > 0 ? { kind: 'send', plan, count: () => counts.forEach((c) => c()) } : { kind: 'send', plan };
  }

  /**
   * The plan, with whatever I/O the active stages need (the plain path). Nothing is counted or logged for a decision to go
   * on: the caller runs the result's `count` once the attempt carrying it is on record (`tally` for a refusal).
   */
  async plan(op: OperationRecord, now: number, pinned?: string): Promise<PipelineResult> {
    return this.run(op, initialPlan(op, pinned), now, 0);
  }

  /**
   * The plan for the next candidate after `current` (failover) that can use the operation's method data, or
   * null when there is none: the stages after routing run again for it (risk, FX and caps of the new
   * gateway). What they reserved for the previous candidate stands: it is the one on record until the move is, and the
   * caller gives it back then (`settled`), or gives back what this plan reserved when it never goes on record
   * (`releaseAbandoned`). A candidate that cannot use the method data (bound to another PSP account) is skipped,
   * counted and logged.
   */
  async failover(op: OperationRecord, current: OrchestrationPlan, now: number): Promise<PipelineResult | null> {
    let index = current.index + 1;
    const skipped: SkippedCandidate[] = [];
    for (; index < current.candidates.length; index++) {
      const field = this.binding?.unusableAt(op.payment, current.candidates[index]) ?? null;
      if (field === null) break;
      skipped.push({ gateway: current.candidates[index], field });
    }
    if (skipped.length > 0) reportFailoverSkips(this.logger, op, current.candidates[current.index], skipped);
    if (index >= current.candidates.length) return null;
    const route = current.decisions.filter((d) => d.stage === 'route');
    const plan: OrchestrationPlan = { ...current, index, payment: { ...op.payment, gateway: current.candidates[index] }, decisions: route };
    return this.run(op, plan, now, 1);
  }

  /**
   * Releases what the stages reserved for a routed operation that ended FAILED, whoever found it (the
   * gateway's answer, a webhook, a status inquiry). Idempotent, like every stage's `release`.
   */
  async releaseFailed(op: OperationRecord): Promise<void> {
    if (op.routing && this.stages.some((s) => s.active() && s.release)) await this.release(op, planOf(op), 'failed');
  }

  /**
   * Releases what the stages reserved for an operation whose refusal (`plan`'s `refuse`) is on record. Only then: a
   * refusal that lost to another worker's send must leave the reservation that send holds (caps would undercount).
   */
  async releaseRefused(op: OperationRecord, plan: OrchestrationPlan): Promise<void> {
    await this.release(op, plan, 'refused');
  }

  /**
   * Gives back what the stages reserved for `plan`, a failover's plan that never went on record (the next gateway's
   * route refused, its breaker open with no candidate after it): the record still names the candidate before it. What
   * another plan of the operation claims stays (another worker's failover may be sending on it: `plan.claim`).
   */
  async releaseAbandoned(op: OperationRecord, plan: OrchestrationPlan): Promise<void> {
    await this.release(op, plan, 'abandoned');
  }

  /**
   * The attempt carrying `plan` (the operation's routing record) is on record: the stages give back what the operation
   * holds elsewhere (a candidate it left, a plan of another currency or route decided before a wait). Idempotent; a
   * later pass of the operation calls it again (a worker killed before it). `fresh`: `plan` was decided in this pass
   * (`OrchestrationStage.settled`).
   */
  async settled(op: OperationRecord, plan: OrchestrationPlan, fresh = false): Promise<void> {
    for (const stage of this.stages) if (stage.active() && stage.settled) await stage.settled(op, plan, fresh);
  }

  /**
   * A resend carrying `plan` (the record's own) is on record, `op` as it left it: the stages give back what only plans
   * decided on the record before it hold (`OrchestrationStage.reclaim`).
   */
  async reclaim(op: OperationRecord, plan: OrchestrationPlan): Promise<void> {
    for (const stage of this.stages) if (stage.active() && stage.reclaim) await stage.reclaim(op, plan);
  }

  /**
   * A routed operation reached SUCCEEDED (found by a webhook, a status inquiry, a reconciliation: the outcome recorder's
   * `afterSuccess`): no plan of it can go on record any more, so the stages give back what only plans never on record hold, whatever attempt count
   * they were decided on (`OrchestrationStage.reclaim`, `ended`). Idempotent; nothing for a route of one candidate.
   */
  async releaseSucceeded(op: OperationRecord): Promise<void> {
    if (op.routing && op.routing.index + 1 < op.routing.candidates.length && this.stages.some((s) => s.active() && s.reclaim))
      for (const stage of this.stages) if (stage.active() && stage.reclaim) await stage.reclaim(op, planOf(op), true);
  }

  /** Releases what the stages reserved for `plan` (`StageRelease`: an attempt that failed for good, a refusal, a failover). */
  async release(op: OperationRecord, plan: OrchestrationPlan, why: StageRelease): Promise<void> {
    for (const stage of this.stages) if (stage.active() && stage.release) await stage.release(op, plan, why);
  }

  private async run(op: OperationRecord, start: OrchestrationPlan, now: number, from: number): Promise<PipelineResult> {
    let plan = start;
    const ran: OrchestrationStage[] = [];
    // The stages' counts of what goes on, run by the caller once the plan is used (a plan decided again after a wait
    // would count and log each pass otherwise: an operation behind an open breaker, once per retry).
    const counts: DecisionCount[] = [];
    for (const stage of this.stages.slice(from)) {
      if (!stage.active()) continue;
      const result = await stage.decide({ op, plan, now });
      const next = afterStage(plan, result);
      if (next.kind === 'refuse') {
        // Not released here: the reservations are the operation's, not this attempt's (a reservation is idempotent by
        // operation id), and the refusal may lose to another worker that sent it on them. The caller releases them
        // once its refusal is on record (`releaseRefused`). The decisions before it count with it, once it is on record.
        return counts.length > 0 ? { ...next, tally: withCounts(counts, next.tally) } : next;
      }
      if (next.kind !== 'send') {
        // A stage held: only the stages that ran before it in this run may have reserved for this attempt (caps, the one
        // stage that reserves, runs last: in practice none). Never a later stage's: a reservation is the operation's, and
        // one this run did not make may be the one another worker sent on (a hold decided on a stale read).
        for (const earlier of ran) if (earlier.release) await earlier.release(op, plan, 'abandoned');
        return next;
      }
      ran.push(stage);
      if (result.verdict === 'continue' && result.count) counts.push(result.count);
      plan = next.plan;
    }
    return counts.length > 0 ? { kind: 'send', plan, count: () => counts.forEach((c) => c()) } : { kind: 'send', plan };
  }
}

/** The plan before any stage: the command's own gateway (or the pinned one), its own payment. */
export function initialPlan(op: OperationRecord, pinned?: string): OrchestrationPlan {
  const gateway = pinned ?? op.payment.gateway;
  return { candidates: [gateway], index: 0, payment: gateway === op.payment.gateway ? op.payment : { ...op.payment, gateway }, decisions: [] };
}

/** The plan an operation's stored routing record stands for (its current candidate, what it was asked for). */
export function planOf(op: OperationRecord): OrchestrationPlan {
  const r = op.routing;
  if (!r) return initialPlan(op);
  return {
    candidates: r.candidates,
    index: r.index,
    rule: r.rule,
    decisions: r.decisions,
    // The payment as its gateway sees it (converted amount and lines included): routing-record.ts says how.
    payment: routedPayment(op),
  };
}

/** The routing record to store for `plan` (with the failovers so far). */
export function routingRecordOf(op: OperationRecord, plan: OrchestrationPlan, failovers?: FailoverStep[]): RoutingRecord {
  const gateway = plan.candidates[plan.index];
  const converted = plan.payment.amount !== op.payment.amount || plan.payment.currency !== op.payment.currency;
  return {
    gateway,
    requested: op.payment.gateway,
    candidates: plan.candidates,
    index: plan.index,
    ...(plan.rule !== undefined ? { rule: plan.rule } : {}),
    decisions: plan.decisions,
    ...(failovers && failovers.length > 0 ? { failovers } : {}),
    ...(converted ? { amount: plan.payment.amount, currency: plan.payment.currency } : {}),
    // In another currency, the lines are the converted ones (or none): the command's are in the order's.
    ...(plan.payment.currency !== op.payment.currency && plan.payment.lines ? { lines: plan.payment.lines } : {}),
  };
}

/** A refusal's tally that also runs, once the refusal is on record, the counts of the decisions before it. */
function withCounts(counts: readonly DecisionCount[], tally: RefusalTally | undefined): RefusalTally {
  return (recorded) => {
    if (recorded) counts.forEach((c) => c());
    tally?.(recorded);
  };
}

function afterStage(plan: OrchestrationPlan, result: StageResult): PipelineResult {
  const decisions = [...plan.decisions, result.decision];
  switch (result.verdict) {
    case 'continue': {
      const next = result.plan;
      // The payment always names the candidate being tried.
      const gateway = next.candidates[next.index];
      const payment = next.payment.gateway === gateway ? next.payment : { ...next.payment, gateway };
      return { kind: 'send', plan: { ...next, payment, decisions } };
    }
    case 'refuse':
      return {
        kind: 'refuse',
        reason: result.reason,
        ...(result.field ? { field: result.field } : {}),
        decisions,
        plan: { ...plan, decisions },
        ...(result.tally ? { tally: result.tally } : {}),
      };
    case 'wait':
      return { kind: 'wait', delayMs: result.delayMs, decisions, plan: { ...plan, decisions }, ...(result.applied ? { applied: result.applied } : {}) };
  }
}
