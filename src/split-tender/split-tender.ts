import { RedisClient } from '../redis/redis-connection';
import { PaymentCommand } from '../contracts/payment-command';
import { counter } from '../metrics/metrics-registry';
import { Logger } from '../logging/logger';
import { authorizationRefusals, refundsRefusedForOutsideRefunds } from '../delivery/authorization-metrics';
import { AUTHORIZATION_REFUSALS } from '../delivery/operation-context';
import {
  FINAL_SPLIT_STATES,
  RefundOrder,
  RollbackCause,
  SplitRefundState,
  afterRefusedVoid,
  SplitStep,
  SplitTenderState,
  SplitView,
  StepOutcome,
  confirmedOrPlanned,
  nextRefundAction,
  nextSplitAction,
  PendingReversal,
  Reversal,
  parseReversal,
  rollbackCause,
  splitReason,
  StepRefunds,
  unsettledRefunds,
} from './split-tender-decision';
import { SplitTenderPlan, TenderPart, cardAmount, planDigest, refundReferences, stepCommand, stepReferences } from './split-tender-plan';
import { SplitTenderStore, StoredRefund } from './split-tender-store';

export type { SplitTenderPlan } from './split-tender-plan';
export { cardAmount, stepReferences } from './split-tender-plan';
export type { SplitTenderState, StepOutcome } from './split-tender-decision';

/**
 * Split tender: one order paid partly by a gift card and partly by a card.
 *
 * Order of steps (each a canonical command under a reference derived from the split's id, so every step is
 * an operation of its own, idempotent end to end: the ledger, the delivery job and the PSP's idempotency
 * key all dedupe it; `_<id>` is the root a channel's reference can never be, see `StepIds`):
 * 1. `_<id>.gc`: redeem the gift card part (`authorize`, or `sale` when `capture` is set, method `giftcard`);
 * 2. `_<id>.card`: only once the redemption SUCCEEDED, the card for the remainder (`total - gift card part`);
 * 3. the card part FAILED: `_<id>.gc-void` voids the redemption (`cancel`; a redeemed sale is refunded,
 *    `_<id>.gc-refund`), and the split is ROLLED_BACK: no money stays held.
 * A redemption that FAILED ends the split FAILED before any card is charged. A part its PSP approved for less
 * than planned (a partial approval) counts as failed: the split is rolled back, the card part released too
 * (`_<id>.card-void`, or `_<id>.card-refund` for a sale), every reversal at what its PSP confirmed. A tender of an
 * `authorize` split captured before the rollback is refunded instead of voided, or, refunded in full by the OMS
 * already, left as it is (`reversalOf`).
 *
 * Refunds go back in the configured order (card first by default: see `refundParts` and
 * docs/payment-methods/stored-value.md), one part after the other, each under its own reference.
 *
 * Crash safety: the split's plan and state live in one Redis hash (`SplitTenderStore`), written before a
 * step is submitted and moved forward only by compare-and-set; `advance` reads it and resumes at the step
 * it names, resubmitting that step under the same reference (a duplicate is dropped by the ledger), so a
 * crash at any line loses nothing and redeems or charges nothing twice. The worker's sweep advances every
 * open split (`split-tender-service.ts`).
 */

/** What the coordinator needs from the bridge: a way in for commands and the ledger's view of an operation. */
export interface SplitTenderPorts {
  /** Records the command as an operation and gets it delivered; a repeat under the same reference is harmless. */
  submit(command: PaymentCommand): Promise<void>;
  /** The operation's outcome by its reference (the ledger record's state). */
  outcome(operationId: string): Promise<StepOutcome>;
  redis: RedisClient;
  /** Redis key prefix of the deployment (`redis.key_prefix`). */
  keyPrefix: string;
  logger: Logger;
  /** How long `run` waits for one step before returning the split still open (ms). Default 30000. */
  stepTimeoutMs?: number;
  /** Poll interval of `run` while waiting for a step (ms). Default 100. */
  pollMs?: number;
  /** Called once a split is final (DONE, ROLLED_BACK, FAILED, REVERSAL_FAILED): records its event. Must be idempotent. */
  settled?(plan: SplitTenderPlan, state: SplitTenderState): Promise<void>;
  /** Called once a split refund is final: records its event. Must be idempotent. */
  refundSettled?(plan: SplitTenderPlan, refund: StoredRefund): Promise<void>;
  /**
   * Whether the PSP reported, after the fact, that a refund part the ledger holds FAILED succeeded (a
   * `succeeded_after_failure` adjustment: the ledger never moves back): false when not; what the PSP confirmed then,
   * minor units of the order's currency, when it named an amount; true when it named none (what was asked counts).
   * Absent: never.
   */
  succeededLater?(operationId: string): Promise<boolean | number>;
  /**
   * What the PSP refunded of a payment operation outside the bridge that still stands (`refundedOutsideBridge`: its
   * `refund_outside_bridge` adjustments, none failed or reversed after), minor units of the order's currency. The
   * card part's is money given back already, not refundable again through the split. Absent: 0.
   */
  refundedOutside?(operationId: string): Promise<number>;
  /**
   * What a refund of split `splitId`'s step `operationId` may give back before the split's own refunds, minor units of
   * the order's currency: what was collected (`collectedForRefund`: a sale's confirmed amount, an authorization's
   * succeeded captures; an `authorize` split is captured per tender by the OMS, in part or not yet) less what other
   * refunds of that operation gave back (an OMS refund naming the step) or may still give back (recorded FAILED, held
   * for the PSP's own retry: `amount_held_by_failed_refund` at delivery); null when it cannot be told (not recorded,
   * not SUCCEEDED, closed by a command the ledger did not register). Absent or null: what the PSP confirmed of the step.
   */
  collected?(operationId: string, splitId: string): Promise<number | null>;
  /**
   * What the captures of step `operationId` that succeeded took, minor units of the order's currency (a sale's
   * confirmed amount); null when it cannot be told. With {@link collected}: a step captured whose refunds gave it all
   * back holds nothing a reversal could take. Absent: null.
   */
  captured?(operationId: string): Promise<number | null>;
  /**
   * What the refunds of step `operationId` stand at, minor units of the order's currency, from one read of them: given
   * back as the PSP confirmed; recorded FAILED that its PSP retries itself (`held_for_psp_retry`, not done by the PSP
   * yet, nor released by an operator); with no final outcome yet (sent, `PENDING`, `UNKNOWN`…; not one held by the split
   * itself, never sent). The last two are money the PSP has not confirmed given back, nor confirmed kept. Absent: all 0.
   */
  refundsOf?(operationId: string): Promise<StepRefunds>;
  /**
   * How long a tender's reversal waits for refunds of the OMS in flight, none held for their PSP's retry, since it began to
   * wait (`reversal_waiting`), ms (`delivery.void_wait_max_ms`): an `UNRESOLVED` refund may stay so for good (nothing
   * asks the PSP again, or nothing answers), and the rollback with it. Past it the reversal is decided on what the PSP
   * confirmed, those refunds counted as not given back. Absent: no bound.
   */
  reversalWaitMaxMs?: number;
  /**
   * Whether the ledger holds operation `operationId` in any state (an OPEN outcome says "not final", not "never sent").
   * Absent: whether its outcome is final.
   */
  recorded?(operationId: string): Promise<boolean>;
}

function startedTotal() {
  return counter('pb_split_tenders_started_total', 'Split tender orders (gift card plus card) started', [] as const);
}

function splitsTotal() {
  return counter(
    'pb_split_tenders_total',
    'Split tender orders by final state: DONE (completed), ROLLED_BACK (a part failed or was approved for less, what was taken reversed), FAILED (redemption declined), REVERSAL_FAILED; reason as the split_tender_settled event says it (none for DONE)',
    ['state', 'reason'] as const,
  );
}

function refundsTotal() {
  return counter('pb_split_tender_refunds_total', 'Refunds of split tender orders by final state (REFUNDED, REFUND_FAILED)', ['state'] as const);
}

function refundPartsShort() {
  return counter(
    'pb_split_tender_refund_parts_short_total',
    'Split refund parts (tender: gift_card, card) the PSP confirmed for less than asked: only the confirmed amount stays reserved, the rest is released for a later refund',
    ['tender'] as const,
  );
}

/** Each tender's reversal, as decided, or waiting to be (`pending`). */
type Reversals = Partial<Record<TenderPart, Reversal | PendingReversal>>;

function reversalsByRefund() {
  return counter(
    'pb_split_tender_reversals_by_refund_total',
    "Split tender rollbacks that found a tender of an authorization split (tender: gift_card, card) captured already: refunded what was captured instead of voiding it (outcome refunded), or nothing sent, the OMS having refunded it all (outcome nothing_left); its reversal left to wait for refunds of the OMS held for their PSP's retry (outcome held_for_psp_retry) or with no final outcome yet (outcome refund_in_flight), then one of the others once they settle; a wait for refunds in flight past delivery.void_wait_max_ms decided on what the PSP confirmed (outcome refund_in_flight_expired, beside the decision's own)",
    ['tender', 'outcome'] as const,
  );
}

function voidsRefusedAsCaptured() {
  return counter(
    'pb_split_tender_voids_refused_captured_total',
    "Split tender rollbacks whose void of a tender its PSP refused because the payment was captured at the PSP (an operator's capture in its dashboard, an automatic capture), by the tender's gateway: a refund decided of what the PSP stated captured less what was refunded of it already (outcome refunded), nothing sent, all of it refunded already (outcome nothing_left), or left REVERSAL_FAILED, the PSP's refusal stating no captured amount (outcome amount_not_stated)",
    ['gateway', 'outcome'] as const,
  );
}

/** Each tender's void step, in the order a rollback reads them. */
const VOID_STEPS = [
  ['gift_card', 'reverse'],
  ['card', 'release_card'],
] as const;

/** The log line of a split ROLLED_BACK, by why it was rolled back. */
const ROLLED_BACK_LINES: Record<RollbackCause, string> = {
  card_part_failed: 'split tender rolled back: the gift card redemption was reversed',
  card_part_short: 'split tender rolled back: the card part was approved for less than asked; it was released and the gift card redemption reversed',
  gift_card_part_short: 'split tender rolled back: the gift card part was approved for less than asked and reversed; no card was charged',
};

export class SplitTenderCoordinator {
  readonly store: SplitTenderStore;

  constructor(private readonly ports: SplitTenderPorts) {
    this.store = new SplitTenderStore(ports.redis, ports.keyPrefix);
  }

  /** The split's stored state, or null when it was never started. */
  async state(id: string): Promise<SplitTenderState | null> {
    return this.store.state(id);
  }

  /**
   * Records a split (first time only) and puts it on the open index: durable before the command that
   * started it is acked. `conflict`: the id is taken by a split with other money, or (`state` null) by an
   * operation of the ledger or by a split refund (`takenBy`, its claim's holder).
   */
  async begin(plan: SplitTenderPlan): Promise<{ created: boolean; conflict: boolean; state: SplitTenderState | null; takenBy?: string }> {
    cardAmount(plan);
    const result = await this.store.begin(plan, planDigest(plan));
    if (result.created) {
      startedTotal().inc();
      this.ports.logger.info('split tender started', {
        split: plan.id,
        order_id: plan.order_id,
        total: plan.total,
        gift_card_amount: plan.gift_card.amount,
        card_amount: plan.total - plan.gift_card.amount,
        currency: plan.currency,
        capture: plan.capture === true,
      });
    }
    return result;
  }

  /**
   * The command of a step. A reversal asks what its step holds (what the PSP confirmed, which a partial
   * approval makes less than the part planned): a PSP refuses to reverse more than it holds.
   */
  private stepCommandOf(plan: SplitTenderPlan, step: SplitStep, outcomes: SplitView['outcomes'], reversals: Reversals = {}): PaymentCommand {
    const refs = stepReferences(plan);
    const redeem = plan.capture === true ? 'sale' : 'authorize';
    switch (step) {
      case 'redeem':
        return stepCommand(plan, redeem, refs.giftCard, 'gift_card', plan.gift_card.amount);
      case 'charge_card':
        return stepCommand(plan, redeem, refs.card, 'card', cardAmount(plan));
      case 'reverse': {
        // An authorization is voided (cancel names our redemption by its operation id); a sale is refunded.
        const held = confirmedOrPlanned(outcomes.redeem, plan.gift_card.amount);
        // A redemption captured before the rollback (an operator at the PSP, a capture sent before captures waited for
        // the split) cannot be voided: what was captured is refunded, under its own fixed id, at the decided amount.
        const reversal = reversals.gift_card;
        if (plan.capture !== true && reversal?.by === 'refund')
          return stepCommand(plan, 'refund', refs.giftCardRefund, 'gift_card', reversal.amount, { key: refs.giftCard });
        return plan.capture === true
          ? stepCommand(plan, 'refund', refs.giftCardRefund, 'gift_card', held, { key: refs.giftCard })
          : stepCommand(plan, 'cancel', refs.giftCardVoid, 'gift_card', held, { key: refs.giftCard });
      }
      case 'release_card': {
        const held = confirmedOrPlanned(outcomes.charge_card, cardAmount(plan));
        // A card part captured before the rollback is refunded, as the redemption is (`reversalOf`).
        const reversal = reversals.card;
        if (plan.capture !== true && reversal?.by === 'refund')
          return stepCommand(plan, 'refund', refs.cardRefund, 'card', reversal.amount, { key: refs.card });
        return plan.capture === true
          ? stepCommand(plan, 'refund', refs.cardRefund, 'card', held, { key: refs.card })
          : stepCommand(plan, 'cancel', refs.cardVoid, 'card', held, { key: refs.card });
      }
    }
  }

  /** The steps whose outcomes decide a split in `state` (ROLLING_BACK: what was taken, and its reversals). */
  private stepsToRead(state: SplitTenderState): SplitStep[] {
    switch (state) {
      case 'REDEEMING':
        return ['redeem'];
      case 'CHARGING_CARD':
        return ['charge_card'];
      default:
        return ['redeem', 'charge_card', 'reverse', 'release_card'];
    }
  }

  /** The ledger's outcomes of `steps`. */
  private async outcomesOf(plan: SplitTenderPlan, steps: readonly SplitStep[], reversals: Reversals = {}): Promise<SplitView['outcomes']> {
    const outcomes: SplitView['outcomes'] = {};
    // The reversals' commands need what the first steps hold: read in order.
    for (const step of steps) {
      // A tender the OMS's refunds gave back in full is reversed already: nothing is sent, nothing to read.
      const tender = step === 'reverse' ? reversals.gift_card : step === 'release_card' ? reversals.card : undefined;
      if (tender?.by === 'none') outcomes[step] = { state: 'SUCCEEDED', confirmedAmount: 0 };
      // Not decided yet: nothing was sent under it.
      else if (tender?.by === 'pending') outcomes[step] = { state: 'OPEN' };
      else outcomes[step] = await this.ports.outcome(this.stepCommandOf(plan, step, outcomes, reversals).payment.operation_reference ?? '');
    }
    return outcomes;
  }

  /**
   * How a rolling back `authorize` split reverses `tender` (its redemption, its card part), decided once and kept in the
   * split's record (`SplitTenderStore.decideReversal`, both tenders at the rollback's first pass): a void; or, when the
   * step was captured already (`collected`: its captures that succeeded, less other refunds of it), a refund of what is
   * left of it (a void of a captured authorization fails, leaving the tender charged for an order the OMS was told
   * failed); or nothing, when it was captured and refunds of the OMS gave all of it back (a void fails, a refund has
   * nothing to take). Undefined for a sale (always refunded at what its PSP confirmed).
   * Not decided while refunds of the OMS of that captured step are held for their PSP's retry, or have no final outcome
   * yet (sent, `PENDING`, `UNKNOWN`…) (`pending`): they are not confirmed given back, nor confirmed kept, so neither
   * "refunded in full already" nor the amount of a refund of the rest would be the PSP's word (a refund of it all sent
   * beside one that then succeeds is refused at delivery, the split REVERSAL_FAILED though the money is back); the
   * rollback waits for their outcome, sending the other tender's reversal meanwhile.
   */
  private async reversalOf(plan: SplitTenderPlan, tender: TenderPart): Promise<Reversal | PendingReversal | undefined> {
    if (plan.capture === true) return undefined;
    let stored = await this.store.reversal(plan.id, tender);
    if (stored === null) {
      const refs = stepReferences(plan);
      const step = tender === 'gift_card' ? refs.giftCard : refs.card;
      // Read before what was collected and again after it (`unsettledRefunds`): a refund released, done, sent or
      // created between two reads of the ledger would otherwise be counted by `collected` on a figure not the PSP's.
      const before = await this.refundsOf(step);
      const left = (await this.ports.collected?.(step, plan.id)) ?? null;
      const captured = left !== null && left <= 0 ? ((await this.ports.captured?.(step)) ?? null) : null;
      const chosen = left !== null && left > 0 ? `refund:${left}` : captured !== null && captured > 0 ? `none:${captured - Math.max(left ?? 0, 0)}` : 'void';
      // A void of the tender already on record (sent by a release that always voided, the split rolling back across the
      // upgrade) is its reversal: a refund or nothing beside it would be a second reversal of one tender, or none at all.
      const voidId = tender === 'gift_card' ? refs.giftCardVoid : refs.cardVoid;
      const voidSent = chosen !== 'void' && (await this.recorded(voidId));
      const after = chosen !== 'void' && !voidSent ? await this.refundsOf(step) : null;
      const pending = after ? unsettledRefunds(before, after) : null;
      let waitedOut: number | null = null;
      if (pending && after) {
        // Refunds that only moved between the reads: nothing to wait for, the next pass reads them again.
        const waits = pending.held > 0 || pending.inFlight > 0;
        if (waits && (await this.store.markReversalWaiting(plan.id, tender))) this.reversalWaits(plan, tender, step, pending);
        // Only refunds in flight, the reading otherwise standing: bounded (`reversalWaitMaxMs`); a held one waits for its
        // PSP's retry or an operator's release.
        const stands = pending.held === 0 && pending.inFlight > 0 && before.givenBack === after.givenBack;
        waitedOut = stands ? await this.inFlightWaitedOut(plan.id, tender) : null;
        if (waitedOut === null) return pending;
      }
      const value = voidSent ? 'void' : chosen;
      const decision = await this.store.decideReversal(plan.id, value, tender);
      stored = decision.value;
      if (decision.decided && pending && waitedOut !== null) this.inFlightWaitExpired(plan, tender, step, pending, waitedOut, value);
      if (decision.decided && voidSent) this.voidKept(plan, tender, step, voidId, chosen);
      else if (decision.decided && value !== 'void') this.reversalDecided(plan, tender, step, value, left ?? 0, captured ?? 0);
    }
    return parseReversal(stored);
  }

  /**
   * How long (ms) tender `tender` of split `id` has waited for refunds of the OMS in flight when that is past
   * `reversalWaitMaxMs` (since `reversal_waiting`); null while within it, or with no bound.
   */
  private async inFlightWaitedOut(id: string, tender: TenderPart): Promise<number | null> {
    const max = this.ports.reversalWaitMaxMs;
    if (max === undefined) return null;
    const since = await this.store.reversalWaitingSince(id, tender);
    const waited = since === null ? 0 : Date.now() - since;
    return waited > max ? waited : null;
  }

  /** Metric and warn line of a tender's reversal decided once its wait for refunds of the OMS in flight ran out (once: the decision is a set-if-absent). */
  private inFlightWaitExpired(plan: SplitTenderPlan, tender: TenderPart, step: string, pending: PendingReversal, waited: number, value: string): void {
    reversalsByRefund().inc({ tender, outcome: 'refund_in_flight_expired' });
    this.ports.logger.warn(
      'split tender: a tender captured before the rollback waited past delivery.void_wait_max_ms for refunds of the OMS still in flight; its reversal is decided on what the PSP confirmed, those refunds counted as not given back',
      {
        split: plan.id,
        order_id: plan.order_id,
        tender,
        operation_id: step,
        in_flight_refunds: pending.inFlight,
        waited_ms: waited,
        reversal: value,
        currency: plan.currency,
      },
    );
  }

  /** What the refunds of step `operationId` stand at (`SplitTenderPorts.refundsOf`; absent: none). */
  private async refundsOf(operationId: string): Promise<StepRefunds> {
    return (await this.ports.refundsOf?.(operationId)) ?? { givenBack: 0, held: 0, inFlight: 0 };
  }

  /** Whether the ledger holds `operationId` (`SplitTenderPorts.recorded`). */
  private async recorded(operationId: string): Promise<boolean> {
    return this.ports.recorded ? this.ports.recorded(operationId) : (await this.ports.outcome(operationId)).state !== 'OPEN';
  }

  /** Warn line of a tender found captured whose void was on record already: the void is kept (once: a set-if-absent). */
  private voidKept(plan: SplitTenderPlan, tender: TenderPart, step: string, voidId: string, chosen: string): void {
    this.ports.logger.warn('split tender: a tender captured before the rollback had its void sent already; keeping the void, never a second reversal', {
      split: plan.id,
      order_id: plan.order_id,
      tender,
      operation_id: step,
      void_operation_id: voidId,
      would_have_been: chosen,
      currency: plan.currency,
    });
  }

  /**
   * Metric and log line of a tender's reversal left to wait for refunds of the OMS not confirmed (once: a set-if-absent):
   * by the first cause seen, a refund held for its PSP's retry before one in flight (the hold may need an operator).
   */
  private reversalWaits(plan: SplitTenderPlan, tender: TenderPart, step: string, pending: PendingReversal): void {
    const fields = { split: plan.id, order_id: plan.order_id, tender, operation_id: step, currency: plan.currency };
    const inFlight = pending.inFlight > 0 ? { in_flight_refunds: pending.inFlight } : {};
    if (pending.held > 0) {
      reversalsByRefund().inc({ tender, outcome: 'held_for_psp_retry' });
      this.ports.logger.warn(
        "split tender: a tender captured before the rollback has refunds of the OMS held for their PSP's retry, not confirmed; its reversal waits for their outcome",
        { ...fields, held_by_refunds: pending.held, ...inFlight },
      );
      return;
    }
    reversalsByRefund().inc({ tender, outcome: 'refund_in_flight' });
    this.ports.logger.warn(
      'split tender: a tender captured before the rollback has refunds of the OMS still in flight, not confirmed; its reversal waits for their outcome',
      { ...fields, ...inFlight },
    );
  }

  /** Metric and log line of a tender found captured when its reversal was decided (once: the decision is a set-if-absent). */
  private reversalDecided(plan: SplitTenderPlan, tender: TenderPart, step: string, value: string, left: number, captured: number): void {
    const refs = stepReferences(plan);
    const fields = { split: plan.id, order_id: plan.order_id, tender, operation_id: step, currency: plan.currency };
    if (value.startsWith('refund:')) {
      reversalsByRefund().inc({ tender, outcome: 'refunded' });
      const line =
        tender === 'gift_card'
          ? 'split tender: the gift card redemption was captured before the rollback; refunding what was captured instead of voiding it'
          : 'split tender: the card part was captured before the rollback; refunding what was captured instead of voiding it';
      this.ports.logger.warn(line, { ...fields, captured: left, refund_operation_id: tender === 'gift_card' ? refs.giftCardRefund : refs.cardRefund });
      return;
    }
    reversalsByRefund().inc({ tender, outcome: 'nothing_left' });
    this.ports.logger.warn('split tender: a tender captured before the rollback was refunded in full by the OMS already; nothing sent to reverse it', {
      ...fields,
      captured,
      refunded: captured - Math.max(left, 0),
    });
  }

  /** Each tender's reversal (`reversalOf`), decided together at the rollback's first pass. */
  private async reversalsOf(plan: SplitTenderPlan): Promise<Reversals> {
    const gift = await this.reversalOf(plan, 'gift_card');
    const card = await this.reversalOf(plan, 'card');
    return { ...(gift ? { gift_card: gift } : {}), ...(card ? { card } : {}) };
  }

  /**
   * One pass: moves the split forward as far as the ledger's outcomes allow, submitting the steps it waits
   * for (once each per pass). Returns the state it stopped at: final, or waiting for a step's outcome. Never
   * blocks on the PSP: call again later (the sweep does).
   */
  async advance(plan: SplitTenderPlan): Promise<SplitTenderState> {
    const parts = { gift_card: plan.gift_card.amount, card: cardAmount(plan) };
    let submitted = new Set<SplitStep>();
    for (;;) {
      const state = (await this.store.state(plan.id)) ?? 'REDEEMING';
      if (FINAL_SPLIT_STATES.has(state)) {
        if (!(await this.store.reported(plan.id))) {
          await this.ports.settled?.(plan, state);
          await this.store.markReported(plan.id);
        }
        return state;
      }
      const reversals = state === 'ROLLING_BACK' ? await this.reversalsOf(plan) : {};
      const outcomes = await this.outcomesOf(plan, this.stepsToRead(state), reversals);
      // A void refused because the payment is captured at the PSP: re-decided as a refund, read again before any move.
      if (state === 'ROLLING_BACK' && (await this.refundRefusedVoids(plan, reversals, outcomes))) continue;
      const waiting = new Set<SplitStep>();
      if (reversals.gift_card?.by === 'pending') waiting.add('reverse');
      if (reversals.card?.by === 'pending') waiting.add('release_card');
      const action = nextSplitAction(state, { outcomes, submitted, parts, waiting });
      if (action.kind === 'wait') return state;
      if (action.kind === 'submit') {
        await this.ports.submit(this.stepCommandOf(plan, action.step, outcomes, reversals));
        submitted.add(action.step);
        continue;
      }
      if (action.kind === 'final') return state;
      submitted = new Set();
      if (await this.store.move(plan.id, state, action.to)) this.moved(plan, state, action.to, outcomes, action.cause);
    }
  }

  /**
   * Re-decides, as a refund of what the PSP stated captured under the tender's own refund id, each tender of an
   * `authorize` split whose void FAILED because its PSP said the payment is captured already (`afterRefusedVoid`: a
   * capture made at the PSP, which the ledger did not hold when the void was decided). True when a tender's reversal is
   * now a refund it was not at this pass's reading (this call's re-decision, or another process's): the pass reads again.
   */
  private async refundRefusedVoids(plan: SplitTenderPlan, reversals: Reversals, outcomes: SplitView['outcomes']): Promise<boolean> {
    if (plan.capture === true) return false;
    let redecided = false;
    for (const [tender, step] of VOID_STEPS) {
      if (reversals[tender]?.by !== 'void') continue;
      const after = afterRefusedVoid(outcomes[step]);
      if (after?.by !== 'refund') continue;
      const given = await this.givenBackOf(plan, tender);
      const left = after.amount - given;
      const value = left > 0 ? `refund:${left}` : `none:${after.amount}`;
      if (await this.store.redecideReversal(plan.id, tender, 'void', value)) {
        this.voidRefusedAsCaptured(plan, tender, after.amount, left, given);
        redecided = true;
      } else if (((await this.store.reversal(plan.id, tender)) ?? 'void') !== 'void') redecided = true;
    }
    return redecided;
  }

  /**
   * What was given back already of `tender`'s step, minor units of the order's currency: refunds of it the PSP confirmed
   * (the OMS's: `refundsOf`) and what the PSP refunded of it outside the bridge (`refundedOutside`). A PSP's figure of
   * what it captured is gross (a refund leaves Stripe's `amount_received` as it was), so these come off it; refunds held
   * for their PSP's retry or in flight do not (not confirmed given back: a refund beside them waits or is refused at delivery).
   */
  private async givenBackOf(plan: SplitTenderPlan, tender: TenderPart): Promise<number> {
    const refs = stepReferences(plan);
    const step = tender === 'gift_card' ? refs.giftCard : refs.card;
    const refunds = await this.refundsOf(step);
    const outside = (await this.ports.refundedOutside?.(step)) ?? 0;
    return Math.max(0, refunds.givenBack) + Math.max(0, outside);
  }

  /**
   * Metric and warn line of a tender's void refused because the payment was captured at the PSP, re-decided (once: a
   * compare-and-set): a refund of what is left of what the PSP stated captured (`left`), or nothing, all of it given back.
   */
  private voidRefusedAsCaptured(plan: SplitTenderPlan, tender: TenderPart, captured: number, left: number, given: number): void {
    const refs = stepReferences(plan);
    const gateway = tender === 'gift_card' ? plan.gift_card.gateway : plan.card.gateway;
    const fields = {
      split: plan.id,
      order_id: plan.order_id,
      tender,
      gateway,
      operation_id: tender === 'gift_card' ? refs.giftCard : refs.card,
      void_operation_id: tender === 'gift_card' ? refs.giftCardVoid : refs.cardVoid,
      captured,
      ...(given > 0 ? { given_back: given } : {}),
      currency: plan.currency,
    };
    if (left <= 0) {
      voidsRefusedAsCaptured().inc({ gateway, outcome: 'nothing_left' });
      this.ports.logger.warn(
        'split tender: the PSP refused the void of a tender because it was captured at the PSP; all of it was refunded already, nothing sent',
        fields,
      );
      return;
    }
    voidsRefusedAsCaptured().inc({ gateway, outcome: 'refunded' });
    this.ports.logger.warn('split tender: the PSP refused the void of a tender because it was captured at the PSP; refunding what the PSP stated captured', {
      ...fields,
      refund: left,
      refund_operation_id: tender === 'gift_card' ? refs.giftCardRefund : refs.cardRefund,
    });
  }

  /** Metric and log line of a move (once: the move is a compare-and-set). */
  private moved(plan: SplitTenderPlan, from: SplitTenderState, to: SplitTenderState, outcomes: SplitView['outcomes'], cause?: RollbackCause): void {
    const { logger } = this.ports;
    // The latest step's failure: a reversal's, else the card part's, else the redemption's.
    const failed = (['reverse', 'release_card', 'charge_card', 'redeem'] as const).map((step) => outcomes[step]).find((o) => o?.state === 'FAILED');
    const reason = failed?.state === 'FAILED' ? failed.reason : undefined;
    const fields = { split: plan.id, order_id: plan.order_id, from, state: to, ...(reason ? { reason } : {}), ...(cause ? { cause } : {}) };
    if (to === 'ROLLING_BACK') {
      const taken = {
        gift_card_planned: plan.gift_card.amount,
        gift_card_confirmed: confirmedOrPlanned(outcomes.redeem, plan.gift_card.amount),
        card_planned: cardAmount(plan),
        ...(outcomes.charge_card?.state === 'SUCCEEDED' ? { card_confirmed: confirmedOrPlanned(outcomes.charge_card, cardAmount(plan)) } : {}),
        currency: plan.currency,
      };
      if (cause === 'card_part_failed') logger.warn('split tender: card part failed, reversing the gift card redemption', fields);
      else if (cause === 'card_part_short')
        logger.warn('split tender: card part approved for less than asked, releasing it and reversing the gift card redemption', { ...fields, ...taken });
      else logger.warn('split tender: gift card part approved for less than asked, reversing it; no card is charged', { ...fields, ...taken });
    }
    if (!FINAL_SPLIT_STATES.has(to)) return;
    const finalReason = splitReason(to, outcomes);
    splitsTotal().inc({ state: to, reason: finalReason ?? 'none' });
    // A void refused because the payment was captured at the PSP whose refusal stated no amount: no refund sized on a guess.
    const unstated = to === 'REVERSAL_FAILED' ? VOID_STEPS.filter(([, step]) => afterRefusedVoid(outcomes[step])?.by === 'unstated') : [];
    for (const [tender] of unstated)
      voidsRefusedAsCaptured().inc({ gateway: tender === 'gift_card' ? plan.gift_card.gateway : plan.card.gateway, outcome: 'amount_not_stated' });
    const captured = unstated.length > 0 ? { captured_at_psp: 'amount_not_stated', captured_tenders: unstated.map(([tender]) => tender).join(',') } : {};
    const final = { ...fields, ...(finalReason ? { split_reason: finalReason } : {}), ...captured };
    if (to === 'DONE') logger.info('split tender completed', final);
    else if (to === 'ROLLED_BACK') logger.warn(ROLLED_BACK_LINES[rollbackCause(outcomes)], final);
    else if (to === 'FAILED') logger.info('split tender failed: the gift card redemption was declined, no card was charged', final);
    // Never left silently: the operator must release the hold by hand (refund it, captured at the PSP).
    else if (unstated.length > 0)
      logger.error('split tender: the PSP refused a void because the tender was captured at the PSP and stated no captured amount; refund it by hand', final);
    else if (finalReason === 'card_release_failed')
      logger.error('split tender: the card part approved for less could not be released; release it by hand', final);
    else logger.error('split tender: the gift card redemption could not be reversed; release it by hand', final);
  }

  /**
   * Begins (if needed) and runs the split to a final state, polling the ledger: DONE, ROLLED_BACK, FAILED or
   * REVERSAL_FAILED; the state it stopped at when a step is still open after the step timeout (call again:
   * it resumes there). The worker does not use it (its sweep calls `advance`); tools and tests do.
   */
  async run(plan: SplitTenderPlan): Promise<SplitTenderState> {
    await this.begin(plan);
    let until = Date.now() + (this.ports.stepTimeoutMs ?? 30_000);
    let last: SplitTenderState | null = null;
    for (;;) {
      const state = await this.advance(plan);
      if (FINAL_SPLIT_STATES.has(state)) {
        await this.store.close({ kind: 'split', id: plan.id });
        return state;
      }
      if (state !== last) until = Date.now() + (this.ports.stepTimeoutMs ?? 30_000);
      last = state;
      if (Date.now() > until) return state;
      await new Promise((r) => setTimeout(r, this.ports.pollMs ?? 100));
    }
  }

  /**
   * Records a refund of `amount` of a DONE split under `refundId` (its parts reserved against what each
   * tender has left, in `order`), or says why it cannot be (`SplitTenderStore.beginRefund`). Idempotent by `refundId`.
   * `told`: called with a refusal before it is counted and logged (the service records its FAIL event there), so a
   * refusal whose event could not be recorded, its command retried, is counted once.
   */
  async beginRefund(
    plan: SplitTenderPlan,
    refundId: string,
    amount: number,
    order: RefundOrder,
    command: PaymentCommand | null,
    told?: (refused: { refused: string; detail: string }) => Promise<void>,
  ): Promise<{ refund: StoredRefund } | { refused: string; detail: string } | { conflict: string } | { operation: number } | { taken: string }> {
    // What the PSPs confirmed of each part, not the plan: a part approved for less can give back no more;
    // less what failed refund parts gave back after all (their reservation was released when they failed).
    // Less what the PSP refunded of the card part outside the bridge (a Customer Area or Dashboard refund), as a refund
    // of ours of that payment counts it (`refundedOutsideBridge`).
    // Of an `authorize` split, only what the OMS captured of each tender, and never what other refunds of a tender's
    // operation gave back: a part beyond it would be refused at its delivery (amount_exceeds_captured), the refund
    // failing where the other tender could have given it back.
    const refs = stepReferences(plan);
    const late = await this.refundedAfterFailure(plan);
    const outside = cardAmount(plan) > 0 && this.ports.refundedOutside ? await this.ports.refundedOutside(refs.card) : 0;
    const held = {
      card: cardAmount(plan) > 0 ? await this.heldBy(plan, refs.card, cardAmount(plan)) : null,
      gift_card: await this.heldBy(plan, refs.giftCard, plan.gift_card.amount),
    };
    const caps = {
      card: (held.card?.refundable ?? 0) - late.card - outside,
      gift_card: held.gift_card.refundable - late.gift_card,
    };
    const begun = await this.store.beginRefund(plan.id, refundId, amount, caps, order, JSON.stringify(command ?? {}));
    if ('refused' in begun && told) await told(begun);
    const uncaptured = [held.card, held.gift_card].reduce((sum, h) => sum + (h === null ? 0 : h.confirmed - h.refundable), 0);
    if (uncaptured > 0 && 'refused' in begun && begun.refused === 'amount_exceeds_refundable') {
      // Counted as the card part's delivery counted it before (when only the uncaptured part kept it from fitting).
      if (amount <= Number(begun.detail) + uncaptured) authorizationRefusals().inc({ gateway: plan.card.gateway, reason: AUTHORIZATION_REFUSALS.refund });
      this.ports.logger.warn('split tender refund refused: more than was captured of its tenders, less their other refunds', {
        split: plan.id,
        refund: refundId,
        amount,
        refundable: Number(begun.detail),
        card_confirmed: held.card?.confirmed ?? 0,
        card_refundable: held.card?.refundable ?? 0,
        gift_card_confirmed: held.gift_card.confirmed,
        gift_card_refundable: held.gift_card.refundable,
      });
    }
    if (outside > 0 && 'refused' in begun && begun.refused === 'amount_exceeds_refundable') {
      // Refused only for the outside refunds: what the OMS's books lack (the card part's refund_outside_bridge events).
      if (amount <= Number(begun.detail) + outside) refundsRefusedForOutsideRefunds().inc({ gateway: plan.card.gateway });
      this.ports.logger.warn('split tender refund refused: the card part was refunded outside the bridge, not refundable again', {
        split: plan.id,
        refund: refundId,
        amount,
        refundable: Number(begun.detail),
        card_operation_id: refs.card,
        refunded_outside_bridge: outside,
      });
    }
    return begun;
  }

  /**
   * What a step's payment operation holds (`confirmed`: what its PSP confirmed, else the `planned` part) and what a
   * refund of it may give back before the split's own refunds (`refundable`: of that, what was collected less other
   * refunds of it, {@link SplitTenderPorts.collected}).
   */
  private async heldBy(plan: SplitTenderPlan, operationId: string, planned: number): Promise<{ confirmed: number; refundable: number }> {
    const confirmed = confirmedOrPlanned(await this.ports.outcome(operationId), planned);
    const collected = this.ports.collected ? await this.ports.collected(operationId, plan.id) : null;
    return { confirmed, refundable: collected === null ? confirmed : Math.min(confirmed, collected) };
  }

  /**
   * What the parts of the split's failed refunds gave back after all, per tender: a part the ledger holds
   * FAILED that the PSP later reported succeeded (`succeededLater`), at what the PSP confirmed. Its reservation was released when it
   * failed, so without this the money could be refunded twice. Only failed refunds are read (rare).
   */
  private async refundedAfterFailure(plan: SplitTenderPlan): Promise<Record<TenderPart, number>> {
    const late = { card: 0, gift_card: 0 };
    const { succeededLater } = this.ports;
    if (!succeededLater) return late;
    for (const refund of await this.store.failedRefunds(plan.id)) {
      for (const part of ['card', 'gift_card'] as const) {
        const reference = refundReferences(refund)[part];
        if (refund[part] <= 0 || (await this.ports.outcome(reference)).state !== 'FAILED') continue;
        const later = await succeededLater(reference);
        if (later === false) continue;
        // At what the PSP confirmed it gave back, not what was asked.
        const amount = later === true ? refund[part] : Math.max(later, 0);
        late[part] += amount;
        this.ports.logger.warn('split tender refund part failed, then the PSP reported it succeeded: it counts as refunded', {
          split: plan.id,
          refund: refund.refundId,
          part,
          amount,
          asked: refund[part],
        });
      }
    }
    return late;
  }

  private refundStep(plan: SplitTenderPlan, refund: StoredRefund, part: TenderPart, channel?: PaymentCommand['channel']): PaymentCommand {
    const refs = stepReferences(plan);
    const ch = channel && channel !== 'bridge' ? channel : plan.channel;
    return stepCommand(plan, 'refund', refundReferences(refund)[part], part, refund[part], {
      key: part === 'card' ? refs.card : refs.giftCard,
      channel: ch,
    });
  }

  /** One pass of a split refund: sends its parts one after the other; returns its state. */
  async advanceRefund(plan: SplitTenderPlan, refundId: string): Promise<StoredRefund | null> {
    let refund = await this.store.refund(plan.id, refundId);
    if (!refund) return null;
    const channel = channelOf(refund.command);
    const order: TenderPart[] = refund.order === 'card_first' ? ['card', 'gift_card'] : ['gift_card', 'card'];
    const submitted = new Set<TenderPart>();
    while (refund.state === 'REFUNDING') {
      const parts = [];
      for (const part of order) {
        const reference = refundReferences(refund)[part];
        const outcome = refund[part] > 0 ? await this.ports.outcome(reference) : ({ state: 'OPEN' } as const);
        parts.push({ part, amount: refund[part], outcome, submitted: submitted.has(part) });
      }
      const action = nextRefundAction(parts);
      if (action.kind !== 'finish') {
        if (action.kind === 'wait') return refund;
        await this.ports.submit(this.refundStep(plan, refund, action.part, channel));
        submitted.add(action.part);
        continue;
      }
      // A part that did not succeed gives back its whole reservation; one its PSP confirmed for less than asked keeps
      // only what was confirmed: the rest was never given back, so a later refund may still take it.
      const release = { card: 0, gift_card: 0 };
      const short: Array<{ part: TenderPart; asked: number; confirmed: number }> = [];
      for (const p of parts) {
        if (p.outcome.state !== 'SUCCEEDED') {
          release[p.part] = p.amount;
          continue;
        }
        const confirmed = confirmedOrPlanned(p.outcome, p.amount);
        if (p.amount > 0 && confirmed < p.amount) {
          release[p.part] = p.amount - Math.max(confirmed, 0);
          short.push({ part: p.part, asked: p.amount, confirmed: Math.max(confirmed, 0) });
        }
      }
      if (await this.store.finishRefund(plan.id, refundId, action.to, release)) {
        refundsTotal().inc({ state: action.to });
        const fields = { split: plan.id, refund: refundId, card: refund.card, gift_card: refund.gift_card, order: refund.order, state: action.to };
        if (action.to === 'REFUNDED') this.ports.logger.info('split tender refund completed', fields);
        else this.ports.logger.warn('split tender refund failed: the parts after the failed one were not sent', fields);
        for (const s of short) {
          refundPartsShort().inc({ tender: s.part });
          this.ports.logger.warn('split tender refund part confirmed for less than asked: the remainder is released for a later refund', {
            split: plan.id,
            refund: refundId,
            part: s.part,
            asked: s.asked,
            confirmed: s.confirmed,
            released: s.asked - s.confirmed,
            currency: plan.currency,
          });
        }
      }
      refund = (await this.store.refund(plan.id, refundId)) ?? refund;
    }
    await this.ports.refundSettled?.(plan, refund);
    return refund;
  }

  /**
   * Refunds `amount` of a DONE split, polling until settled: in `order` (card first by default), each part
   * under its own reference (`refundReferences`). Returns the parts and the references that
   * did not succeed. Tools and tests use it; the worker's sweep calls `advanceRefund`.
   */
  async refundOrder(
    plan: SplitTenderPlan,
    amount: number,
    refundId: string,
    order: RefundOrder = 'card_first',
  ): Promise<{ card: number; gift_card: number; failed: string[]; state: SplitRefundState | string }> {
    const begun = await this.beginRefund(plan, refundId, amount, order, null);
    if ('refused' in begun) return { card: 0, gift_card: 0, failed: [], state: begun.refused };
    if ('conflict' in begun || 'operation' in begun || 'taken' in begun) return { card: 0, gift_card: 0, failed: [], state: 'conflict' };
    const until = Date.now() + (this.ports.stepTimeoutMs ?? 30_000) * 2;
    for (;;) {
      const refund = await this.advanceRefund(plan, refundId);
      if (!refund) throw new Error('split tender refund vanished');
      if (refund.state !== 'REFUNDING' || Date.now() > until) {
        if (refund.state !== 'REFUNDING') await this.store.close({ kind: 'refund', splitId: plan.id, refundId });
        const failed: string[] = [];
        for (const part of ['card', 'gift_card'] as const) {
          const ref = refundReferences(refund)[part];
          if (refund[part] > 0 && (await this.ports.outcome(ref)).state !== 'SUCCEEDED') failed.push(ref);
        }
        return { card: refund.card, gift_card: refund.gift_card, failed, state: refund.state };
      }
      await new Promise((r) => setTimeout(r, this.ports.pollMs ?? 100));
    }
  }
}

function channelOf(commandJson: string): PaymentCommand['channel'] | undefined {
  try {
    const parsed = JSON.parse(commandJson) as Partial<PaymentCommand>;
    return parsed.channel;
  } catch {
    return undefined;
  }
}
