import type { Config } from '../config/config';
import type { Logger } from '../logging/logger';
import { GatewayError } from '../errors/gateway-error';
import { isoAmountStepFor } from '../gateways/gateway-registry';
import { FxLock, lockAt, lockDetails, settlementCurrency } from '../fx/fx-lock';
import { convertedPayment, linesOmitted } from '../fx/locked-rate';
import { RateBook, RateGateway, RateQuote, RateRefusal } from '../fx/rate-book';
import { counter } from '../metrics/metrics-registry';
import { reportFxLinesOmitted } from './orchestration-metrics';
import { OrchestrationStage, REFUSAL_LOST, RefusalTally, StageInput, StageResult } from './orchestration-stage';

/** Commands FX converts here: the ones that open a payment. Captures and refunds reuse its locked rate (operation-context). */
const CONVERTED = new Set(['authorize', 'sale']);

const conversions = () =>
  counter(
    'pb_fx_decisions_total',
    'Currency conversion decisions, by gateway, result (native, converted, refused once on record, refusal_lost) and rate source',
    ['gateway', 'result', 'source'],
  );

/**
 * The FX stage: when the order's currency is not one the routed gateway (and account) settles in
 * (`fx.settlement_currencies`), converts the amount into the first settlement currency at the gateway's own
 * rate (Stripe's exchange rates) or a configured one, half-even to the gateway's step in the target currency
 * (its currency table: whole IDR at Adyen, tens of fils at Stripe; else the ISO exponent), and locks the
 * conversion with the operation: the decision's details carry the rate, its source and time, and both
 * amounts (`lockDetails`), stored in the operation's routing record. A stale or missing rate refuses the
 * payment (`FX_RATE_STALE`, `FX_RATE_UNAVAILABLE`). Inactive (free) without settlement currencies.
 */
export class FxStage implements OrchestrationStage {
  readonly name = 'fx' as const;
  private readonly book: RateBook;

  constructor(
    private readonly config: Config,
    gateways: ReadonlyMap<string, RateGateway>,
    private readonly logger?: Logger,
    now: () => number = Date.now,
  ) {
    this.book = new RateBook(config.limits.fx, gateways, now);
  }

  active(): boolean {
    return Object.keys(this.config.limits.fx.settlementCurrencies).length > 0;
  }

  decideNow(input: StageInput): StageResult | undefined {
    const target = this.target(input);
    if (target === null) return this.native(input);
    const quote = this.book.quoteNow(input.plan.candidates[input.plan.index], input.plan.payment.currency, target);
    return quote === undefined ? undefined : this.converted(input, target, quote);
  }

  async decide(input: StageInput): Promise<StageResult> {
    const target = this.target(input);
    if (target === null) return this.native(input);
    const gateway = input.plan.candidates[input.plan.index];
    try {
      return this.converted(input, target, await this.book.quote(gateway, input.plan.payment.currency, target));
    } catch (err) {
      if (!(err instanceof GatewayError) || !err.retryable) throw err;
      // The gateway's rates are out of reach for now and nothing else is configured: try again shortly.
      this.logger?.warn('exchange rates unavailable from the gateway; conversion retried later', { operation_id: input.op.id, gateway, kind: err.kind });
      return {
        verdict: 'wait',
        delayMs: this.config.delivery.backoffBaseMs,
        decision: { stage: 'fx', outcome: 'held', reasons: ['fx_rates_unreachable'], details: { gateway } },
      };
    }
  }

  /** The currency to convert into, or null (not an opening command, or the gateway settles in the order's currency). */
  private target({ op, plan }: StageInput): string | null {
    if (!CONVERTED.has(op.command)) return null;
    return settlementCurrency(this.config.limits.fx, plan.candidates[plan.index], op.payment.gateway_account, plan.payment.currency);
  }

  private native({ op, plan }: StageInput): StageResult {
    // A capture or refund of a converted payment is converted at its authorization's locked rate by delivery (operation-context).
    if (!CONVERTED.has(op.command)) return { verdict: 'continue', plan, decision: { stage: 'fx', outcome: 'default', reasons: ['not_an_opening_command'] } };
    // Counted once its plan is used (`DecisionCount`), as a conversion is.
    const count = (): void => void conversions().inc({ gateway: plan.candidates[plan.index], result: 'native', source: 'none' });
    return { verdict: 'continue', plan, decision: { stage: 'fx', outcome: 'allowed', reasons: ['settles_in_currency'] }, count };
  }

  /**
   * The conversion at `quote`, counting and logging nothing itself: a conversion counts and logs with its `count`, once
   * its plan is used; a refusal with its `tally`, once it is on record (a plan decided again after a wait, or dropped by
   * the fast path, is never counted or logged twice).
   */
  private converted({ op, plan }: StageInput, target: string, quote: RateQuote | RateRefusal): StageResult {
    const gateway = plan.candidates[plan.index];
    const { amount, currency } = plan.payment;
    if (typeof quote === 'string') {
      const line = (): void =>
        void this.logger?.warn('currency conversion refused: no usable rate', { operation_id: op.id, gateway, from: currency, to: target, reason: quote });
      return {
        verdict: 'refuse',
        reason: quote,
        field: 'payment.currency',
        decision: { stage: 'fx', outcome: 'refused', reasons: [quote.toLowerCase()], details: { from_currency: currency, to_currency: target } },
        tally: refusalTally(gateway, line),
      };
    }
    // Rounded to what this gateway takes, or its adapter would refuse the converted amount as unrepresentable.
    const type = this.config.gateways[gateway]?.type;
    let lock: FxLock;
    try {
      lock = lockAt(quote, amount, currency, target, type === undefined ? 1 : isoAmountStepFor(type, target));
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      return this.outOfRange(op.id, gateway, currency, target, amount, 'the converted amount is out of range');
    }
    // Less than half the gateway's step rounds to 0: a payment of nothing, which Adyen would even take as a
    // zero-value authorization (a card check that holds no money) while the OMS thinks the amount is held.
    if (lock.to.amount <= 0) return this.outOfRange(op.id, gateway, currency, target, amount, 'the converted amount rounds to nothing');
    const source = quote.source.startsWith('gateway:') ? 'gateway' : 'configured';
    // Its lines go in the converted currency too, or not at all (never in the order's beside a converted amount).
    const payment = convertedPayment(plan.payment, lock, lock.to.amount);
    const reasons = [`converted:${currency}->${target}`];
    const omitted = linesOmitted(plan.payment, payment);
    if (omitted) reasons.push('lines_not_convertible');
    // Counted and logged once its plan is used: one conversion line per command.
    const count = (): void => {
      conversions().inc({ gateway, result: 'converted', source });
      this.logger?.info('payment converted at a locked rate', { operation_id: op.id, gateway, ...lockDetails(lock) });
      if (omitted) reportFxLinesOmitted(this.logger, op, gateway, plan.payment.lines?.length ?? 0);
    };
    return { verdict: 'continue', plan: { ...plan, payment }, decision: { stage: 'fx', outcome: 'changed', reasons, details: lockDetails(lock) }, count };
  }

  /**
   * A conversion refused for its amount (beyond the largest minor amount, or rounding to nothing): the same
   * amount and rate fail the same way every time, so a refusal naming the amount, never a retry.
   */
  private outOfRange(operationId: string, gateway: string, from: string, to: string, amount: number, why: string): StageResult {
    const line = (): void => void this.logger?.warn(`currency conversion refused: ${why}`, { operation_id: operationId, gateway, from, to, amount });
    return {
      verdict: 'refuse',
      reason: 'FX_AMOUNT_OUT_OF_RANGE',
      field: 'payment.amount',
      decision: { stage: 'fx', outcome: 'refused', reasons: ['fx_amount_out_of_range'], details: { from_currency: from, to_currency: to } },
      tally: refusalTally(gateway, line),
    };
  }
}

/**
 * A conversion refused at `gateway`, counted once its fate is known (`RefusalTally`): `refused`, with its `line` logged,
 * or `refusal_lost` (the caller logs that it lost).
 */
function refusalTally(gateway: string, line: () => void): RefusalTally {
  return (recorded) => {
    conversions().inc({ gateway, result: recorded ? 'refused' : REFUSAL_LOST, source: 'none' });
    if (recorded) line();
  };
}
