import { LINE_MONEY_FIELDS } from '../contracts/payment-command';
import { isKnownCurrency } from '../money/currencies';
import { minorToDecimalMajor } from '../money/minor-units';
import type { PaymentEvent } from './payment-event';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One money field to convert: where it is, and the currency it is in. */
interface MoneyField {
  holder: Json;
  key: string;
  currency: unknown;
}

/** Every money field of an event's params, with its currency. */
function moneyFields(params: Json): MoneyField[] {
  const fields: MoneyField[] = [];
  const payment = params.payment;
  if (isObject(payment)) {
    fields.push({ holder: payment, key: 'amount', currency: payment.currency });
    fields.push({ holder: payment, key: 'requested_amount', currency: payment.requested_currency ?? payment.currency });
    fields.push({ holder: payment, key: 'amount_capturable', currency: payment.currency });
    // The command's own lists (echoed as it came) are in the command's currency.
    const commandCurrency = payment.requested_currency ?? payment.currency;
    if (Array.isArray(payment.lines)) {
      for (const line of payment.lines) if (isObject(line)) for (const key of LINE_MONEY_FIELDS) fields.push({ holder: line, key, currency: commandCurrency });
    }
    for (const list of [payment.splits, payment.tenders]) {
      if (Array.isArray(list)) for (const part of list) if (isObject(part)) fields.push({ holder: part, key: 'amount', currency: commandCurrency });
    }
    if (isObject(payment.balance)) fields.push({ holder: payment.balance, key: 'amount', currency: payment.balance.currency });
    // What a cancel released (docs/EVENTS.md, `gateway_response.released`).
    const released = isObject(payment.gateway_response) ? payment.gateway_response.released : undefined;
    if (isObject(released)) fields.push({ holder: released, key: 'amount', currency: released.currency });
    // A cancel's success that left the payment refunded beyond what stands captured (docs/EVENTS.md): its figures.
    const beyond = payment.refunded_beyond_captured;
    if (isObject(beyond))
      for (const key of ['captured_amount', 'refunded_amount', 'excess_amount']) fields.push({ holder: beyond, key, currency: beyond.currency });
    // The orchestration's decisions (`payment.routing.decisions[].details`): an FX lock's amounts and a cap's bound
    // and figure are money too, each in its own currency, said in the event's units like the rest.
    if (isObject(payment.routing) && Array.isArray(payment.routing.decisions))
      for (const decision of payment.routing.decisions) if (isObject(decision) && isObject(decision.details)) fields.push(...decisionMoney(decision));
    // A split tender's totals are in the order's currency; each tender's operation says its own.
    for (const split of [payment.split_tender, payment.split_tender_refund]) {
      if (!isObject(split)) continue;
      for (const key of ['card_amount', 'gift_card_amount']) fields.push({ holder: split, key, currency: payment.currency });
      // What the OMS's own refunds gave back of a tender before its authorize split rolled back, per tender.
      const refundedBefore = split.refunded_before_rollback;
      if (isObject(refundedBefore)) for (const key of ['gift_card', 'card']) fields.push({ holder: refundedBefore, key, currency: payment.currency });
      for (const list of [split.tenders, split.parts]) {
        if (Array.isArray(list)) for (const part of list) if (isObject(part)) fields.push({ holder: part, key: 'amount', currency: part.currency });
      }
    }
  } else {
    // An event without a payment (the refund pre-notice) says its money at the top.
    fields.push({ holder: params, key: 'amount', currency: params.currency });
  }
  if (isObject(params.adjustment)) {
    fields.push({ holder: params.adjustment, key: 'amount', currency: params.adjustment.currency });
    // A payment refunded beyond what stands captured (docs/EVENTS.md): its figures, in the order's currency.
    const beyond = params.adjustment.refunded_beyond_captured;
    if (isObject(beyond))
      for (const key of ['captured_amount', 'refunded_amount', 'excess_amount']) fields.push({ holder: beyond, key, currency: beyond.currency });
  }
  return fields.filter((f) => typeof f.holder[f.key] === 'number');
}

/** Cap limits whose bound and figure are amounts (the others count commands). */
const AMOUNT_CAP_LIMITS: ReadonlySet<unknown> = new Set(['min_amount', 'max_amount', 'daily_volume', 'monthly_volume']);

/**
 * The money fields of one orchestration decision's details (src/ledger/routing-record.ts): the FX stage's lock
 * (`from_amount` in `from_currency`; `to_amount` and the gateway's `to_step` in `to_currency`) and a caps
 * decision's `cap_max` and `cap_current` when its limit is an amount (`cap_limit`), in the currency its cap's
 * name ends with (`<scope>:<name>:<currency>:<limit>`). Counts and rates are no money.
 */
function decisionMoney(decision: Json): MoneyField[] {
  const details = decision.details as Json;
  if (decision.stage === 'fx')
    return [
      { holder: details, key: 'from_amount', currency: details.from_currency },
      { holder: details, key: 'to_amount', currency: details.to_currency },
      { holder: details, key: 'to_step', currency: details.to_currency },
    ];
  if (decision.stage === 'caps' && AMOUNT_CAP_LIMITS.has(details.cap_limit) && typeof details.cap === 'string') {
    const currency = details.cap.split(':').at(-2);
    return [
      { holder: details, key: 'cap_max', currency },
      { holder: details, key: 'cap_current', currency },
    ];
  }
  return [];
}

/**
 * An event in the bus's amount units. Minor units (the default): the event as built. Major units (a bus
 * configured with `service_bus.amount_units: major`, which sends its commands so): every money field
 * converted back to major units, as the MIB payment specification types amounts (floats: 1999 USD is `19.99`,
 * exactly, in the JSON text), and `payment.amount_units` saying which the event uses. A figure in a currency we
 * do not know the exponent of cannot be converted: that event keeps every figure in minor units and says `minor`.
 */
export function inBusUnits(event: PaymentEvent, units: 'minor' | 'major'): PaymentEvent {
  if (units === 'minor') return event;
  const params = structuredClone(event.params) as Json;
  const fields = moneyFields(params);
  // The units are said where the money is: in the payment, or at the top of an event without one.
  const says = isObject(params.payment) ? params.payment : fields.length > 0 ? params : null;
  if (says === null) return event;
  const converted = fields.map((f) =>
    typeof f.currency === 'string' && isKnownCurrency(f.currency) && Number.isSafeInteger(f.holder[f.key])
      ? minorToDecimalMajor(f.holder[f.key] as number, f.currency)
      : undefined,
  );
  const whole = converted.every((v) => v !== undefined);
  if (whole) fields.forEach((f, i) => (f.holder[f.key] = converted[i]));
  says.amount_units = whole ? 'major' : 'minor';
  return { ...event, params };
}
