import type { Payment } from '../contracts/payment-command';
import type { OperationRecord } from '../ledger/record-fields';
import type { StageDecision, StageName } from '../ledger/routing-record';

/**
 * The orchestration step that runs before every gateway call: route ▸ risk ▸ FX ▸ caps, each an
 * `OrchestrationStage`. A stage reads the plan the stages before it left (`OrchestrationPlan`), may change
 * it (another candidate order, a converted amount, a fallback route) and returns its `StageDecision`: what
 * it decided and why, recorded in the operation's history (the attempt's `orchestration` entry) and on its
 * events (`routing`). See docs/ARCHITECTURE.md, "Orchestration".
 */

export { STAGE_NAMES, STAGE_OUTCOMES } from '../ledger/routing-record';
export type { RuleEvaluation, StageDecision, StageName, StageOutcome } from '../ledger/routing-record';

/**
 * The plan the stages build: where to send and what. `candidates[index]` is the gateway being tried;
 * later candidates are the failover order (authorize and sale only).
 */
export interface OrchestrationPlan {
  /** Configured gateway names in order of preference; never empty. */
  candidates: string[];
  /** Which candidate this attempt goes to. */
  index: number;
  /**
   * The payment the gateway transformer is given for this candidate. Starts as the command's own (with
   * `gateway` = the candidate); FX may convert `amount`/`currency`. The ledger keeps the command's.
   */
  payment: Payment;
  /** The name of the routing rule that chose the candidates; absent: `payment.gateway` by default. */
  rule?: string;
  /** The decisions so far, in stage order. */
  decisions: StageDecision[];
  /**
   * This plan's claim on what the stages reserved or found for it (caps: `CapReservations.reserve`), unique per
   * decision: an abandoned plan gives back only what no other plan of the operation claims (another worker may be
   * sending on it). Set by the stage that reserves; never recorded (a plan read back from the record has none).
   */
  claim?: string;
}

/** What a stage is given: the operation (as recorded) and the plan so far. */
export interface StageInput {
  op: OperationRecord;
  plan: OrchestrationPlan;
  /** Epoch ms of the decision (stages never read the clock themselves: tests pass it). */
  now: number;
}

/**
 * Counts a stage's refusal in the stage's own metric once its fate is known, and logs it: `true` when the refusal is on
 * record (the operation FAILED unsent: counted and logged as refused), `false` when it lost to another worker that moved
 * the operation meanwhile (counted apart, under its own label value; the caller logs that it lost). A stage counts and
 * logs nothing for a refusal itself: a refusal decided on a stale read, or on the fast path that the plain path decides
 * again, must not read as one that applied.
 */
export type RefusalTally = (recorded: boolean) => void;

/**
 * A stage's own count and log lines of a decision to go on, for the caller to run once that plan is used: its attempt
 * recorded (`DeliveryService.deliver`: the fast path's with the creation, the plain path's when it records the attempt
 * that carries the plan, a failover's for the attempt that goes to the next candidate), or the refusal of a later stage
 * on record. A plan that is not used (the fast path drops it: no route, an open breaker, a duplicate command; the plain
 * path waits: an open breaker, a rate source out of reach, a hold) counts and logs nothing, and is decided again, so an
 * operator reads one decision per command. `decide` and `decideNow` never count or log a decision to go on themselves.
 */
export type DecisionCount = () => void;

/** The label value a stage's own metric counts a refusal under when it lost to another worker's move (`RefusalTally`). */
export const REFUSAL_LOST = 'refusal_lost';

/**
 * A stage's answer: its decision and the plan to go on with (the one it was given when it changed
 * nothing), and whether the operation goes on (`continue`), fails unsent (`refuse`, with the decision's
 * first reason as the operation's reason), or waits (`wait`: come back after `delayMs`, e.g. a hold).
 */
export type StageResult =
  | { verdict: 'continue'; decision: StageDecision; plan: OrchestrationPlan; count?: DecisionCount }
  | { verdict: 'refuse'; decision: StageDecision; reason: string; field?: string; tally?: RefusalTally }
  | { verdict: 'wait'; decision: StageDecision; delayMs: number; applied?: HoldApplied };

/**
 * What a hold writes once it applied, for the caller to run only then: the hold's notice is on record while the
 * operation stood as the stage read it (`OutcomeRecorder.emitAsRead`). A hold decided on a stale read (another worker
 * sent the operation meanwhile) writes nothing of its own: no review record for an operator to release, no count.
 * `told`: the deadline the notice on record told the OMS, when an earlier pass recorded it and then failed before its
 * review record (a crash, a Redis error): the record keeps that deadline, not the one this later pass decided.
 */
export type HoldApplied = (told?: number) => Promise<void>;

/**
 * One stage of the orchestration pipeline. Implementations: `RouteStage` (routing rules and merchant
 * agreements); risk, FX and caps plug in beside it (`buildOrchestrationPipeline`).
 *
 * Cost rule: the fast path (`DeliveryService.prepareFirstAttempt`) is pure and synchronous. A stage that
 * can decide without I/O implements `decideNow`; a stage that needs Redis or a PSP (caps, a rate fetch)
 * returns `undefined` there, and the operation then takes the plain path, where `decide` is awaited. A
 * stage with nothing configured says so with `active() === false`: it is skipped entirely (no decision
 * recorded, no cost), so an unconfigured deployment behaves exactly as before.
 */
export interface OrchestrationStage {
  readonly name: StageName;
  /** Whether the stage has anything configured at all. Checked once per command; keep it O(1). */
  active(): boolean;
  /**
   * The decision without I/O, when the stage can make it so; `undefined` when it needs `decide`. Must not
   * reserve, count or log anything (it may run for a command that is then not sent on the fast path): what goes on
   * counts and logs in its `count`; a refusal or a hold is always decided again by `decide`. Optional.
   */
  decideNow?(input: StageInput): StageResult | undefined;
  /**
   * The decision, with whatever I/O it needs (Redis counters, a rate source); like `decideNow`, it counts and logs what
   * goes on in its `count` and a refusal in its `tally`, for the caller to run once their fate is known. Must be idempotent per
   * operation and candidate: the same operation may be planned again (after a wait, a crash, a redelivery)
   * before its attempt is recorded, so a reservation is keyed by operation id and gateway, never counted twice.
   */
  decide(input: StageInput): Promise<StageResult>;
  /**
   * The attempt this plan was made for will not use what `decide` reserved (`StageRelease` says which part). Undo it
   * (release a cap reservation). Idempotent: may be called more than once for the same operation and candidate. Optional.
   */
  release?(op: OperationRecord, plan: OrchestrationPlan, why: StageRelease): Promise<void>;
  /**
   * The attempt carrying `plan` is on record (its move to the plan's candidate applied): give back what the operation
   * holds anywhere else (a candidate it left, a plan of another currency or route decided before a wait). Idempotent;
   * called again by a later pass of the operation, so a worker killed before it leaks nothing. `fresh`: the plan was
   * decided in this pass, so an earlier pass may have decided another (before a wait, under the configuration before a
   * reload): look for what that one holds whatever it costs. Optional.
   */
  settled?(op: OperationRecord, plan: OrchestrationPlan, fresh?: boolean): Promise<void>;
  /**
   * A resend at the record's own candidate is on record (`op`, an attempt more): a plan decided on the record before it
   * (a failover whose worker died between its reservation and its move) can never go on record: give back what only
   * such plans hold. `ended`: `op` reached SUCCEEDED instead (a webhook, an inquiry): no plan can
   * go on record any more, whatever attempt count it was decided on (FAILED gives everything back: `release`). Optional.
   */
  reclaim?(op: OperationRecord, plan: OrchestrationPlan, ended?: boolean): Promise<void>;
}

/**
 * Why a stage's reservations are given back: `failed` (the operation FAILED) and `refused` (a refusal of ours on
 * record), all of the operation's; `failover` (the move to the plan's candidate is on record), those of the candidates
 * it left (`settled`); `abandoned` (a plan never put on record: a failover that went nowhere), its own candidate's that
 * no other plan of the operation claims (`OrchestrationPlan.claim`).
 */
export type StageRelease = 'failed' | 'failover' | 'refused' | 'abandoned';
