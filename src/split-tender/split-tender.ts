import type { Redis } from 'ioredis';
import { GIFT_CARD_METHOD } from '../contracts/stored-value';
import { Channel, PaymentCommand } from '../contracts/payment-command';
import { counter } from '../metrics/metrics-registry';
import { Logger } from '../logging/logger';

/**
 * Split tender: one order paid partly by a gift card and partly by a card.
 *
 * Order of steps (each a canonical command under a reference derived from the split's id, so every
 * step is idempotent end to end: the ledger, the delivery job and the PSP's idempotency key all dedupe it):
 * 1. `<id>.gc`: redeem the gift card part (`authorize`, or `sale` when `capture` is set, method `giftcard`);
 * 2. `<id>.card`: only once the redemption SUCCEEDED, the card for the remainder (`total - gift card part`);
 * 3. the card part FAILED: `<id>.gc-void` voids the redemption (`cancel`; a captured sale is refunded in full,
 *    `<id>.gc-refund`), and the split is ROLLED_BACK: no money stays held.
 * A redemption that FAILED ends the split FAILED before any card is charged.
 *
 * Refunds go back card first, then gift card (`refundOrder`): the card's money returns to the bank that
 * lent it, and only what the card part cannot take goes back onto the gift card (a merchant that prefers
 * the gift card first passes `order: 'gift_card_first'`).
 *
 * Crash safety: the split's state lives in one Redis hash (`<prefix>split:{<id>}`), written before each
 * step is submitted; `run` reads it and resumes at the step it names, resubmitting the step's command under
 * the same reference (a duplicate is dropped by the ledger), so a crash at any line loses nothing and
 * charges nothing twice.
 */

/** Where a split stands. REDEEMING → CHARGING_CARD → DONE; CHARGING_CARD → ROLLING_BACK → ROLLED_BACK; REDEEMING → FAILED. */
export type SplitTenderState = 'REDEEMING' | 'CHARGING_CARD' | 'DONE' | 'ROLLING_BACK' | 'ROLLED_BACK' | 'FAILED';

/** One order's split. Amounts are integers of minor units of `currency`. */
export interface SplitTenderPlan {
  /** The split's id: the root of every step's operation reference (letters, digits, `.`, `_`, `-`). */
  id: string;
  channel: Exclude<Channel, 'bridge'>;
  order_id: string;
  currency: string;
  /** The order's total. */
  total: number;
  /** `sale` (redeem and charge at once) or `authorize` (capture later). Default `authorize`. */
  capture?: boolean;
  gift_card: { gateway: string; gateway_account: string; gateway_key: string; brand?: string; amount: number };
  card: { gateway: string; gateway_account: string; gateway_key: string };
}

/** What a step's operation became, as the ledger says (SUCCEEDED or FAILED are final; anything else: not yet). */
export type StepOutcome = { state: 'SUCCEEDED'; gatewayReference?: string } | { state: 'FAILED'; reason?: string } | { state: 'OPEN' };

/** What the coordinator needs from the bridge: a way in for commands and the ledger's view of an operation. */
export interface SplitTenderPorts {
  /** Puts a command on the commands exchange (confirmed); a repeat under the same reference is harmless. */
  submit(command: PaymentCommand): Promise<void>;
  /** The operation's outcome by its reference (the ledger record's state). */
  outcome(operationId: string): Promise<StepOutcome>;
  redis: Redis;
  /** Redis key prefix of the deployment (`redis.key_prefix`). */
  keyPrefix: string;
  logger: Logger;
  /** How long `run` waits for one step before returning the split still open (ms). Default 30000. */
  stepTimeoutMs?: number;
  /** Poll interval while waiting for a step (ms). Default 100. */
  pollMs?: number;
}

function splitsTotal() {
  return counter('pb_split_tenders_total', 'Split tender orders (gift card plus card) by final state', ['state'] as const);
}

/** The references of a split's steps. */
export function stepReferences(id: string): { giftCard: string; card: string; giftCardVoid: string; giftCardRefund: string } {
  return { giftCard: `${id}.gc`, card: `${id}.card`, giftCardVoid: `${id}.gc-void`, giftCardRefund: `${id}.gc-refund` };
}

/** The card part: the total less the gift card part. Refuses a plan whose parts cannot add up. */
export function cardAmount(plan: SplitTenderPlan): number {
  const { total, gift_card } = plan;
  if (!Number.isSafeInteger(total) || !Number.isSafeInteger(gift_card.amount) || gift_card.amount <= 0 || gift_card.amount > total) {
    throw new RangeError('split tender: gift_card.amount must be an integer between 1 and total');
  }
  return total - gift_card.amount;
}

export class SplitTenderCoordinator {
  constructor(private readonly ports: SplitTenderPorts) {}

  private key(id: string): string {
    return `${this.ports.keyPrefix}split:{${id}}`;
  }

  /** The split's stored state, or null when it was never started. */
  async state(id: string): Promise<SplitTenderState | null> {
    return (await this.ports.redis.hget(this.key(id), 'state')) as SplitTenderState | null;
  }

  private async move(id: string, state: SplitTenderState): Promise<void> {
    await this.ports.redis.hset(this.key(id), 'state', state);
  }

  private command(
    plan: SplitTenderPlan,
    type: PaymentCommand['command'],
    reference: string,
    part: 'gift_card' | 'card',
    amount: number,
    key?: string,
  ): PaymentCommand {
    const p = part === 'gift_card' ? plan.gift_card : plan.card;
    return {
      version: 1,
      command: type,
      channel: plan.channel,
      received_at: new Date().toISOString(),
      payment: {
        gateway: p.gateway,
        gateway_account: p.gateway_account,
        gateway_key: key ?? p.gateway_key,
        amount,
        currency: plan.currency,
        order_id: plan.order_id,
        operation_reference: reference,
        ...(part === 'gift_card' && type !== 'cancel' && type !== 'refund'
          ? { method_details: { method: GIFT_CARD_METHOD, ...(plan.gift_card.brand ? { submethod: plan.gift_card.brand } : {}) } }
          : {}),
      },
    };
  }

  /** Submits a step and waits for its final outcome (OPEN when it did not settle within the step timeout). */
  private async step(command: PaymentCommand): Promise<StepOutcome> {
    const reference = command.payment.operation_reference ?? '';
    const done = await this.ports.outcome(reference);
    if (done.state !== 'OPEN') return done;
    await this.ports.submit(command);
    const until = Date.now() + (this.ports.stepTimeoutMs ?? 30_000);
    for (;;) {
      const outcome = await this.ports.outcome(reference);
      if (outcome.state !== 'OPEN' || Date.now() > until) return outcome;
      await new Promise((r) => setTimeout(r, this.ports.pollMs ?? 100));
    }
  }

  /**
   * Runs (or resumes) the split to a final state: DONE, ROLLED_BACK or FAILED; the state it stopped at when
   * a step is still open after the step timeout (call again: it resumes there).
   */
  async run(plan: SplitTenderPlan): Promise<SplitTenderState> {
    const refs = stepReferences(plan.id);
    const remainder = cardAmount(plan);
    const redeem = plan.capture === true ? 'sale' : 'authorize';
    // HSETNX: a second run of the same split never restarts it.
    await this.ports.redis.hsetnx(this.key(plan.id), 'state', 'REDEEMING');
    for (;;) {
      const state = (await this.state(plan.id)) ?? 'REDEEMING';
      switch (state) {
        case 'REDEEMING': {
          const gc = await this.step(this.command(plan, redeem, refs.giftCard, 'gift_card', plan.gift_card.amount));
          if (gc.state === 'OPEN') return state;
          await this.move(plan.id, gc.state === 'SUCCEEDED' ? (remainder > 0 ? 'CHARGING_CARD' : 'DONE') : 'FAILED');
          continue;
        }
        case 'CHARGING_CARD': {
          const card = await this.step(this.command(plan, redeem, refs.card, 'card', remainder));
          if (card.state === 'OPEN') return state;
          if (card.state === 'FAILED')
            this.ports.logger.warn('split tender: card part failed, reversing the gift card redemption', { split: plan.id, reason: card.reason });
          await this.move(plan.id, card.state === 'SUCCEEDED' ? 'DONE' : 'ROLLING_BACK');
          continue;
        }
        case 'ROLLING_BACK': {
          // An authorization is voided (cancel names our redemption by its operation id); a sale is refunded.
          const undo =
            plan.capture === true
              ? this.command(plan, 'refund', refs.giftCardRefund, 'gift_card', plan.gift_card.amount, refs.giftCard)
              : this.command(plan, 'cancel', refs.giftCardVoid, 'gift_card', plan.gift_card.amount, refs.giftCard);
          const undone = await this.step(undo);
          if (undone.state === 'OPEN') return state;
          if (undone.state === 'FAILED') {
            // Never left silently: the operator must release the hold by hand; the split stays ROLLING_BACK.
            this.ports.logger.error('split tender: the gift card redemption could not be reversed', { split: plan.id, reason: undone.reason });
            return state;
          }
          await this.move(plan.id, 'ROLLED_BACK');
          continue;
        }
        case 'DONE':
        case 'ROLLED_BACK':
        case 'FAILED':
          splitsTotal().inc({ state });
          this.ports.logger.info('split tender settled', { split: plan.id, state, order_id: plan.order_id });
          return state;
      }
    }
  }

  /**
   * Refunds `amount` of a DONE split sale: card first (up to the card part), then the gift card, each under its
   * own reference (`<id>.card-refund-<n>`, `<id>.gc-refund-<n>`; `n` the caller's refund number, idempotent).
   * `order: 'gift_card_first'` reverses the order. Returns the parts refunded (minor units).
   */
  async refundOrder(
    plan: SplitTenderPlan,
    amount: number,
    n: number,
    order: 'card_first' | 'gift_card_first' = 'card_first',
  ): Promise<{ card: number; gift_card: number; failed: string[] }> {
    const refs = stepReferences(plan.id);
    const cardPart = cardAmount(plan);
    const firstIsCard = order === 'card_first';
    const firstCap = firstIsCard ? cardPart : plan.gift_card.amount;
    const first = Math.min(amount, firstCap);
    const second = amount - first;
    const parts = firstIsCard ? { card: first, gift_card: second } : { card: second, gift_card: first };
    const failed: string[] = [];
    const steps: Array<['card' | 'gift_card', number]> = firstIsCard
      ? [
          ['card', parts.card],
          ['gift_card', parts.gift_card],
        ]
      : [
          ['gift_card', parts.gift_card],
          ['card', parts.card],
        ];
    for (const [part, value] of steps) {
      if (value <= 0) continue;
      const reference = `${plan.id}.${part === 'card' ? 'card' : 'gc'}-refund-${n}`;
      const outcome = await this.step(this.command(plan, 'refund', reference, part, value, part === 'card' ? refs.card : refs.giftCard));
      if (outcome.state !== 'SUCCEEDED') failed.push(reference);
    }
    return { ...parts, failed };
  }
}
