import { Payment } from '../contracts/payment-command';
import type { SplitTenderPlan } from '../split-tender/split-tender-plan';
import { isPersonalField } from '../logging/personal-fields';
import type { StoredCard } from '../gateways/stored-card';
import type { ScheduleDefinition } from '../recurring/recurring-schedule';

export { isPersonalField };

/**
 * What erasure keeps and what it removes (docs/DATA.md, "Erasure"). Accounting and reconciliation need the
 * ids, amounts, currencies, states and times; the PSP's and our references; the card's BIN, last four
 * digits and brand (what a chargeback or a customer query is matched by). Everything that describes the
 * customer goes: names, e-mail and postal addresses, phone numbers, custom attributes, bank details, the
 * card's holder name and expiry, product names and any free text.
 */

/**
 * Every payment field, kept or erased: a field added to `Payment` does not compile until it is classified
 * here. The payment is scrubbed by this allowlist (a field the type does not know goes too).
 */
const PAYMENT_FIELD_POLICY: Record<keyof Payment, 'keep' | 'erase'> = {
  gateway: 'keep',
  gateway_account: 'keep',
  gateway_key: 'keep',
  amount: 'keep',
  currency: 'keep',
  order_id: 'keep',
  operation_reference: 'keep',
  new_gateway_key: 'keep',
  orphan_reversal: 'keep',
  extra_authorization_of: 'keep',
  // Sellers' sub-merchant accounts and amounts: what settlement is reconciled by.
  splits: 'keep',
  // A merged gift card's token (like gateway_key): what the PSP's records name.
  stored_value: 'keep',
  lines: 'keep',
  method_details: 'keep',
  custom_attributes: 'erase',
  // The shopper's e-mail, name, address and a one-time method's token: the customer's.
  payment_method: 'erase',
  // Schedule id, cycle and the scheme's transaction id: what a recurring charge is reconciled by.
  recurring: 'keep',
  // Split tender: the tenders' gateways, tokens and amounts (what each part is reconciled by), and the refund flag.
  tenders: 'keep',
  split_tender: 'keep',
  // 3-D Secure asked for, and a challenge's transaction id: the PSP's references, nothing of the customer.
  three_ds: 'keep',
  action_result: 'keep',
};

const KEPT_PAYMENT_FIELDS = keptFields(PAYMENT_FIELD_POLICY);

/** The fields a keep/erase policy keeps. */
function keptFields<K extends string>(policy: Readonly<Record<K, 'keep' | 'erase'>>): ReadonlySet<string> {
  return new Set(Object.keys(policy).filter((k) => policy[k as K] === 'keep'));
}

/** Every field of the command's payment, kept or not: in an event's `payment` the rest are the event's own. */
const PAYMENT_FIELDS: ReadonlySet<string> = new Set(Object.keys(PAYMENT_FIELD_POLICY));

const KEPT_LINE_FIELDS: ReadonlySet<string> = new Set([
  'line_number',
  'item_sku',
  'item_type',
  'quantity',
  'unit_price_gross',
  'refund_amount',
  'tax_amount',
  'tax_rate',
]);
const KEPT_METHOD_FIELDS: ReadonlySet<string> = new Set(['method', 'submethod']);
const KEPT_CARD_FIELDS: ReadonlySet<string> = new Set(['bin', 'last_four_digits', 'brand']);
const KEPT_SPLIT_FIELDS: ReadonlySet<string> = new Set(['type', 'account', 'reference', 'amount']);

function pick(value: unknown, kept: ReadonlySet<string>, nested: Record<string, (v: unknown) => unknown> = {}): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (!kept.has(k)) continue;
    const scrubbed = nested[k] ? nested[k](v) : v;
    if (scrubbed !== undefined) out[k] = scrubbed;
  }
  return out;
}

const scrubCard = (card: unknown) => pick(card, KEPT_CARD_FIELDS);
const scrubMethod = (method: unknown) => pick(method, new Set([...KEPT_METHOD_FIELDS, 'card']), { card: scrubCard });
const scrubLines = (lines: unknown) => (Array.isArray(lines) ? lines.map((l) => pick(l, KEPT_LINE_FIELDS) ?? {}) : undefined);
const scrubSplits = (splits: unknown) => (Array.isArray(splits) ? splits.map((p) => pick(p, KEPT_SPLIT_FIELDS) ?? {}) : undefined);

/** The payment with only what accounting needs (see `KEPT_PAYMENT_FIELDS`). Pure; idempotent. */
export function scrubPayment(payment: Payment): Payment {
  return pick(payment, KEPT_PAYMENT_FIELDS, { lines: scrubLines, method_details: scrubMethod, splits: scrubSplits }) as Payment;
}

/**
 * Every field of the stored card an operation's record keeps (the PSP's description of the card, camel-case
 * names), kept or erased as `method_details.card`'s are: its brand and last four digits stay (`brand`,
 * `last_four_digits`), its expiry goes. A field added to `StoredCard` does not compile until it is classified here.
 */
const STORED_CARD_FIELD_POLICY: Record<keyof StoredCard, 'keep' | 'erase'> = {
  brand: 'keep',
  lastFour: 'keep',
  expiryMonth: 'erase',
  expiryYear: 'erase',
};
const KEPT_STORED_CARD_FIELDS = keptFields(STORED_CARD_FIELD_POLICY);

/**
 * A record's `stored_card` JSON with only what accounting needs (see `STORED_CARD_FIELD_POLICY`); text that is
 * not a JSON object is replaced by an empty card (nothing of it can be told safe). Pure; idempotent.
 */
export function scrubStoredCardText(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return '{}';
  }
  return JSON.stringify(pick(parsed, KEPT_STORED_CARD_FIELDS) ?? {});
}

/**
 * Every field of a split tender's plan, kept or erased (a field added to the plan does not compile until it
 * is classified here): the tenders' gateways, tokens and amounts stay (what each part is reconciled by),
 * the card's method details are scrubbed like a payment's, the starting command's custom attributes go.
 */
const SPLIT_PLAN_FIELD_POLICY: Record<keyof SplitTenderPlan, 'keep' | 'erase'> = {
  id: 'keep',
  channel: 'keep',
  order_id: 'keep',
  currency: 'keep',
  total: 'keep',
  capture: 'keep',
  gift_card: 'keep',
  card: 'keep',
  custom_attributes: 'erase',
  step_ids: 'keep',
};
const KEPT_SPLIT_PLAN_FIELDS = keptFields(SPLIT_PLAN_FIELD_POLICY);
const KEPT_TENDER_FIELDS: ReadonlySet<string> = new Set(['gateway', 'gateway_account', 'gateway_key', 'brand', 'amount', 'method_details']);

/** A split tender's plan with only what accounting needs (see `SPLIT_PLAN_FIELD_POLICY`). Pure; idempotent. */
export function scrubSplitTenderPlan(plan: SplitTenderPlan): SplitTenderPlan {
  if (plan === null || typeof plan !== 'object') return plan;
  const tender = (t: unknown) => pick(t, KEPT_TENDER_FIELDS, { method_details: scrubMethod });
  return pick(plan, KEPT_SPLIT_PLAN_FIELDS, { gift_card: tender, card: tender }) as SplitTenderPlan;
}

/**
 * Every field of a recurring schedule's definition (its cycles' command), kept or erased as the same field of an
 * operation's payment is (`PAYMENT_FIELD_POLICY`): the ids, gateway, account, stored token (`gateway_key`, kept
 * as the record keeps it), amount, currency, order, model, timing and the scheme's transaction id stay; the custom
 * attributes (a Stripe Customer, an Adyen shopper reference, e-mail addresses…) go. A field added to the
 * definition does not compile until it is classified here.
 */
const SCHEDULE_FIELD_POLICY: Record<keyof ScheduleDefinition, 'keep' | 'erase'> = {
  id: 'keep',
  gateway: 'keep',
  gateway_account: 'keep',
  gateway_key: 'keep',
  amount: 'keep',
  currency: 'keep',
  order_id: 'keep',
  model: 'keep',
  command: 'keep',
  start_at: 'keep',
  interval: 'keep',
  max_cycles: 'keep',
  network_transaction_id: 'keep',
  custom_attributes: 'erase',
};
const KEPT_SCHEDULE_FIELDS = keptFields(SCHEDULE_FIELD_POLICY);

/** A schedule's definition with only what accounting needs (see `SCHEDULE_FIELD_POLICY`). Pure; idempotent. */
export function scrubScheduleDefinition(definition: ScheduleDefinition): ScheduleDefinition {
  return pick(definition, KEPT_SCHEDULE_FIELDS) as ScheduleDefinition;
}

/**
 * Any stored JSON value (a history entry, an event's params) without customer data: a `payment` object is
 * scrubbed like the record's (its non-payment fields, the event's own, kept unless personal), `lines`,
 * `method_details`, `card` and `stored_card` wherever they appear, and every field named by a personal word is removed.
 * Pure; idempotent.
 */
export function scrubStored(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => scrubStored(v));
  if (value === null || typeof value !== 'object') return value;
  if (key === 'method_details') return scrubMethod(value);
  // An event's `stored_card` is the PSP's description of the same card: kept as much as `card` is.
  if (key === 'card' || key === 'stored_card') return scrubCard(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'payment' && PAYMENT_FIELDS.has(k) && !KEPT_PAYMENT_FIELDS.has(k)) continue;
    if (isPersonalField(k)) continue;
    if (k === 'lines' || k === 'splits') {
      const parts = k === 'lines' ? scrubLines(v) : scrubSplits(v);
      if (parts !== undefined) out[k] = parts;
      continue;
    }
    out[k] = scrubStored(v, k);
  }
  return out;
}

/** A stored JSON text scrubbed (`scrubStored`); text that is not JSON is replaced as a whole (free text). */
export function scrubJsonText(text: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return JSON.stringify('[erased]');
  }
  return JSON.stringify(scrubStored(parsed));
}
