/**
 * Transaction caps: per gateway and per merchant (`payment.gateway_account`), per currency: the smallest and
 * largest single transaction, and the volume (sum of minor units) and count per UTC day and per UTC month.
 * Pure: which limits apply to an attempt, and the Redis counters they are kept in. Only authorizations and
 * sales are capped (they are what commit a PSP's or an acquirer's volume); captures, refunds and voids act
 * on money already counted.
 */
import { CapLimit, CapRule, CountedLimit } from '../config/limits-config';

export { COUNTED_LIMITS } from '../config/limits-config';
export type { CapLimit, CapRule, CapScope, CountedLimit } from '../config/limits-config';

/** The attempt a cap is checked for: where it goes and what it moves (after conversion). */
export interface CapAttempt {
  gateway: string;
  account: string;
  /** Minor units of `currency`. */
  amount: number;
  currency: string;
}

/** One counted limit of one rule, as the reservation script checks it. */
export interface CounterCheck {
  /** Stable name of the cap, for events, logs and metrics' `limit` label: `gateway:stripe:EUR:daily_volume`. */
  cap: string;
  limit: CountedLimit;
  /** Redis key of the counter (day or month bucket). */
  key: string;
  /** The configured maximum (minor units for volume, transactions for count). */
  max: number;
  /** What this attempt adds: the amount for a volume, 1 for a count. */
  add: number;
  /** When the bucket's key may go, epoch seconds (a day after its period ends, so a late release still finds it). */
  expireAt: number;
}

/** Why an attempt is over a cap. */
export interface CapRefusal {
  cap: string;
  limit: CapLimit;
  /** The configured bound. */
  max: number;
  /** The amount (min/max) or the counter's value before this attempt (counted limits). */
  current: number;
}

/**
 * The name of a rule's limit as events and logs show it: `gateway:stripe:EUR:daily_volume`, a merchant's on every
 * gateway `merchant:acme-eu:EUR:monthly_volume`, on one gateway `merchant:acme-eu@stripe:EUR:monthly_volume`.
 */
export function capName(rule: CapRule, limit: CapLimit): string {
  return `${rule.scope}:${rule.name}${onGateway(rule) ? `@${rule.gateway}` : ''}:${rule.currency}:${limit}`;
}

/**
 * Whether the rule is a merchant's on one gateway only. Such a rule counts that gateway's attempts alone, so it
 * keeps counters of its own: sharing the account's (`merchant:<name>`) would count its other gateways' volume
 * against it, and an attempt its rule on every gateway counts too would be added twice to one counter.
 */
function onGateway(rule: CapRule): boolean {
  return rule.scope === 'merchant' && rule.gateway !== '*';
}

/** The rules that apply to an attempt: its gateway's, and its merchant account's (on any or on that gateway), in its currency. */
export function applicableRules(rules: readonly CapRule[], a: CapAttempt): CapRule[] {
  return rules.filter(
    (r) => r.currency === a.currency && (r.scope === 'gateway' ? r.name === a.gateway : r.name === a.account && (r.gateway === '*' || r.gateway === a.gateway)),
  );
}

/** A per-transaction bound the attempt breaks (min, then max), if any. No I/O. */
export function amountRefusal(rules: readonly CapRule[], a: CapAttempt): CapRefusal | null {
  for (const r of rules) {
    if (r.minAmount !== null && a.amount < r.minAmount) return { cap: capName(r, 'min_amount'), limit: 'min_amount', max: r.minAmount, current: a.amount };
    if (r.maxAmount !== null && a.amount > r.maxAmount) return { cap: capName(r, 'max_amount'), limit: 'max_amount', max: r.maxAmount, current: a.amount };
  }
  return null;
}

/**
 * The counters an attempt must fit in, with their keys. Every key of one currency carries the hash tag
 * `{caps:<CUR>}`: the reservation script touches a gateway's and a merchant's counters (and the
 * operation's reservation mark) at once, so on Redis Cluster they must share a slot.
 */
export function counterChecks(prefix: string, rules: readonly CapRule[], a: CapAttempt, now: number): CounterCheck[] {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const day = `${y}${pad(m + 1)}${pad(d.getUTCDate())}`;
  const month = `${y}${pad(m + 1)}`;
  const dayEnd = Date.UTC(y, m, d.getUTCDate() + 1) / 1000;
  const monthEnd = Date.UTC(y, m + 1, 1) / 1000;
  const out: CounterCheck[] = [];
  for (const r of rules) {
    // A merchant's rule on every gateway keeps the key it always had; one on one gateway adds `@<gateway>` (both
    // parts encoded, so `@` never comes from a name).
    const owner = encodeURIComponent(r.name) + (onGateway(r) ? `@${encodeURIComponent(r.gateway)}` : '');
    const base = `${capsTag(prefix, r.currency)}:${r.scope}:${owner}`;
    const push = (limit: CountedLimit, max: number | null, bucket: string, end: number, add: number) => {
      if (max === null) return;
      const key = `${base}:${bucket}:${limit.endsWith('volume') ? 'v' : 'n'}`;
      // Two rules of one owner bounding the same counter (a configuration naming it twice) count the attempt once, in
      // one check with the tighter bound: two checks of one key would each add to it.
      const same = out.findIndex((c) => c.key === key);
      const check = { cap: capName(r, limit), limit, key, max, add, expireAt: end + DAY_S };
      if (same < 0) out.push(check);
      else if (max < out[same].max) out[same] = check;
    };
    push('daily_volume', r.dailyVolume, `d${day}`, dayEnd, a.amount);
    push('daily_count', r.dailyCount, `d${day}`, dayEnd, 1);
    push('monthly_volume', r.monthlyVolume, `m${month}`, monthEnd, a.amount);
    push('monthly_count', r.monthlyCount, `m${month}`, monthEnd, 1);
  }
  return out;
}

/** The key prefix (with hash tag) of every caps key of one currency. */
export function capsTag(prefix: string, currency: string): string {
  return `${prefix}{caps:${currency}}`;
}

const DAY_S = 86400;

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
