import { Payment } from '../contracts/payment-command';
import { RISK_ACTIONS, RiskAction, RiskConfig, RiskRule, RiskSignal, VelocityDimension, VelocityLimit } from '../config/limits-config';

export { RISK_ACTIONS, RISK_SIGNALS, VELOCITY_DIMENSIONS } from '../config/limits-config';
export type { RiskAction, RiskConfig, RiskRule, RiskSignal, VelocityDimension, VelocityLimit } from '../config/limits-config';

/**
 * Local risk rules, run before an authorization or a sale leaves for the PSP. Signals are facts about the
 * payment (high amount, velocity, country mismatch, a new token with a high amount); rules map a set of
 * signals to one of four actions; the most severe matching rule decides. Pure: velocity counts and whether
 * the token is new come from Redis (`risk-counters.ts`) and are passed in.
 */

/** The payment attributes the rules read (`payment.custom_attributes`, by these names). */
export const RISK_ATTRIBUTES = {
  customer: 'customer_id',
  ip: 'ip_address',
  email: 'email',
  billingCountry: 'billing_country',
  cardCountry: 'card_country',
  ipCountry: 'ip_country',
  deviceFingerprint: 'device_fingerprint',
  radarSession: 'radar_session',
} as const;

/**
 * The counter a velocity limit is checked against: its dimension and window (`customer:3600000`). Limits alike (one
 * dimension and window, another `max_count`) share it, so an operation is counted once there.
 */
export function velocityCounter(limit: Pick<VelocityLimit, 'by' | 'windowMs'>): string {
  return `${limit.by}:${limit.windowMs}`;
}

/**
 * How many operations a counter's set keeps (`risk-counters.ts`): the largest `max_count` of the limits sharing it, plus
 * one. A count up to it is exact; one above it (that + 1) may stand for more, the set having dropped the oldest.
 */
export function velocityKeep(config: Pick<RiskConfig, 'velocity'>, counter: string): number {
  let keep = 0;
  for (const limit of config.velocity) if (velocityCounter(limit) === counter) keep = Math.max(keep, limit.maxCount + 1);
  return keep;
}

/** What the Redis counters said about one payment. */
export interface RiskCounts {
  /**
   * Authorizations within the window before now (sliding: the last `window_ms`) per counter (`velocityCounter`: each
   * limit's own window, never another window's count), this one included (absent: no value for its dimension, or not
   * counted). Above the largest `max_count` of a counter's limits plus one (`velocityKeep`) a count may be capped (at that
   * `max_count` + 2): the counter keeps no more members than a decision needs, so such a count is a floor.
   */
  velocity: Partial<Record<string, number>>;
  /** Whether the token was seen for the first time (absent: not asked). */
  newToken?: boolean;
}

/** A decision with its reasons: the matching rule and the signals that fired (recorded and put on the event). */
export interface RiskDecision {
  action: RiskAction;
  /** The rule that decided; absent for allow by default. */
  rule?: string;
  /** Every signal that fired, with what made it fire (no raw e-mail, IP or token: dimensions and counts only). */
  signals: Array<{ signal: RiskSignal; detail: string }>;
}

/** A string attribute from `custom_attributes` (map form or `[{name, value}]` / `[{key: value}]` list forms). */
export function attribute(payment: Payment, name: string): string | undefined {
  const attrs = payment.custom_attributes;
  if (attrs === undefined) return undefined;
  for (const entry of Array.isArray(attrs) ? attrs : [attrs]) {
    const direct = entry[name];
    if (typeof direct === 'string' && direct.length > 0) return direct;
    const value = entry.value;
    if ((entry.name === name || entry.key === name) && typeof value === 'string' && value.length > 0) return value;
  }
  return undefined;
}

/** The value velocity is counted by for a dimension, if the payment has one. */
export function velocityValue(payment: Payment, by: VelocityDimension): string | undefined {
  if (by === 'token') return payment.gateway_key || undefined;
  const raw = attribute(payment, RISK_ATTRIBUTES[by]);
  // E-mail addresses compare case-insensitively in practice; IPs and ids as given.
  return by === 'email' ? raw?.trim().toLowerCase() : raw?.trim();
}

/** The signals a payment fires, given its counters. Pure. */
export function riskSignals(config: RiskConfig, payment: Payment, counts: RiskCounts): RiskDecision['signals'] {
  const out: RiskDecision['signals'] = [];
  const threshold = config.amountThresholds[payment.currency];
  if (threshold !== undefined && payment.amount >= threshold)
    out.push({ signal: 'high_amount', detail: `amount ${payment.amount} >= ${threshold} ${payment.currency}` });
  for (const limit of config.velocity) {
    const counter = velocityCounter(limit);
    const count = counts.velocity[counter];
    if (count !== undefined && count > limit.maxCount) {
      // Above what the counter keeps the count is a floor: told as one, never as the count (it goes on the OMS's event).
      const floor = count > velocityKeep(config, counter) ? 'at least ' : '';
      out.push({
        signal: `velocity_${limit.by}`,
        detail: `${floor}${count} authorizations by ${limit.by} within ${limit.windowMs} ms (max ${limit.maxCount})`,
      });
    }
  }
  const billing = attribute(payment, RISK_ATTRIBUTES.billingCountry)?.toUpperCase();
  if (billing) {
    for (const [what, name] of [
      ['card', RISK_ATTRIBUTES.cardCountry],
      ['ip', RISK_ATTRIBUTES.ipCountry],
    ] as const) {
      const other = attribute(payment, name)?.toUpperCase();
      if (other && other !== billing) {
        out.push({ signal: 'country_mismatch', detail: `billing country ${billing} vs ${what} country ${other}` });
        break;
      }
    }
  }
  const newTokenAt = config.newTokenAmounts[payment.currency];
  if (counts.newToken === true && newTokenAt !== undefined && payment.amount >= newTokenAt)
    out.push({ signal: 'new_token_high_amount', detail: `new token, amount ${payment.amount} >= ${newTokenAt} ${payment.currency}` });
  return out;
}

/** The rule set's decision: the most severe rule whose signals all fired; allow when none. Pure. */
export function decideRisk(config: RiskConfig, signals: RiskDecision['signals']): RiskDecision {
  const fired = new Set(signals.map((s) => s.signal));
  let best: RiskRule | undefined;
  for (const rule of config.rules) {
    if (rule.when.length === 0 || !rule.when.every((s) => fired.has(s))) continue;
    if (!best || RISK_ACTIONS.indexOf(rule.action) > RISK_ACTIONS.indexOf(best.action)) best = rule;
  }
  return best ? { action: best.action, rule: best.name, signals } : { action: 'allow', signals };
}

/** Whether the new-token check is needed at all (some rule reads it and a threshold exists for the currency). */
export function needsTokenCheck(config: RiskConfig, payment: Payment): boolean {
  const at = config.newTokenAmounts[payment.currency];
  return at !== undefined && payment.amount >= at && config.rules.some((r) => r.when.includes('new_token_high_amount'));
}
