import type { Payment, PaymentLine } from '../contracts/payment-command';
import type { OperationRecord } from './record-fields';

/*
 * The orchestration's decisions as the ledger stores them (the record's `routing` field) and events carry
 * them. The stages themselves live in src/orchestration/.
 */

/** The stages, in the order they run. */
export const STAGE_NAMES = ['route', 'risk', 'fx', 'caps'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

/**
 * What a stage decided (a bounded set: it is a metric label, `pb_routing_decisions_total{stage,outcome}`).
 * - `default`: nothing configured applied; the command's own choice stands (`payment.gateway`, no change).
 * - `routed`: a rule chose the candidates.
 * - `allowed`: checked and let through unchanged (risk, caps within limits).
 * - `changed`: let through with a change to the plan (FX converted, a PSP risk check requested).
 * - `fallback`: let through on another candidate than the preferred one (a cap's fallback route).
 * - `held`: not sent now; the operation waits (`StageResult.verdict` `wait`), e.g. held for review.
 * - `refused`: not sent at all; the operation fails with `reasons[0]` (`StageResult.verdict` `refuse`).
 */
export const STAGE_OUTCOMES = ['default', 'routed', 'allowed', 'changed', 'fallback', 'held', 'refused'] as const;
export type StageOutcome = (typeof STAGE_OUTCOMES)[number];

/** One rule a stage evaluated: its id (its name in configuration, else `rules[i]`) and whether it matched, and why not. */
export interface RuleEvaluation {
  rule: string;
  matched: boolean;
  /** The first condition that did not hold (`currency EUR not in [USD]`), when it did not match. */
  why?: string;
  /**
   * When that condition was an amount bound: its key (`max_amount.EUR`, `min_amount` for a one-number bound,
   * `no_bound.JPY` when per-currency bounds name none for the command's currency).
   */
  bound?: string;
}

/** A stage's explainable decision. Never holds card data, secrets or tokens. */
export interface StageDecision {
  stage: StageName;
  outcome: StageOutcome;
  /** Short machine-readable reasons, first one the main (`rule:eu-cards`, `agreement_suspended:adyen`, `cap_exceeded:daily_volume`). */
  reasons: string[];
  /** Rules evaluated, in order (route, risk); absent when the stage has no rules. */
  rules?: RuleEvaluation[];
  /** Gateway names still candidates after this stage, in order of preference. */
  candidates?: string[];
  /** Stage-specific facts an operator needs (FX rate and both amounts, the cap counter). Small, JSON-safe. */
  details?: Record<string, string | number | boolean | null>;
}

/** One move to another candidate (failover): from where, to where, and what triggered it. */
export interface FailoverStep {
  from: string;
  to: string;
  /** `breaker_open`, `not_sent`, `declined:<code>`, `inquiry_not_found`. */
  trigger: string;
  /** Epoch ms. */
  at: number;
  /**
   * The conversion the attempt left was asked at (`lockDetails` of its FX decision), when it was converted: what
   * `from` was asked, in its currency, and at which locked rate. The routing record keeps only the current
   * gateway's decisions, so this is what tells what `from` may still hold (a late success there, reversed by
   * `OrphanReversal.requestAtEarlierGateway`). Absent: not converted, or a step recorded before it was kept.
   */
  fx?: Record<string, string | number>;
}

/**
 * What the orchestration decided for an operation, kept on its ledger record (field `routing`, JSON) so that
 * every later step (retries, status inquiries, webhooks, the poller, captures against it) goes to the same
 * gateway, and so the event can carry it without reading the history. Absent on operations that were
 * never orchestrated (nothing configured): their gateway is `payment.gateway`.
 */
export interface RoutingRecord {
  /** The gateway the operation is (now) sent to: `candidates[index]`. */
  gateway: string;
  /** The gateway the command named (`payment.gateway`). */
  requested: string;
  candidates: string[];
  index: number;
  /** The routing rule that chose the candidates; absent: the default (`payment.gateway`). */
  rule?: string;
  decisions: StageDecision[];
  failovers?: FailoverStep[];
  /**
   * What the gateway was asked for when it differs from the command (FX conversion): amount in minor units
   * of `currency`. Retries and status inquiries reuse it, so one operation is one amount at its gateway.
   */
  amount?: number;
  currency?: string;
  /**
   * The lines the gateway was asked with when `currency` is not the command's: converted to add up to
   * `amount` (absent: sent without lines, never the command's, which are in the order's currency).
   */
  lines?: PaymentLine[];
}

/** The gateway an operation is routed to: its routing record's, else the one the command named. */
export function gatewayOf(op: Pick<OperationRecord, 'payment' | 'routing'>): string {
  return op.routing?.gateway ?? op.payment.gateway;
}

/** The payment as its gateway sees it: the command's, with the routed gateway and any converted amount and lines. */
export function routedPayment(op: Pick<OperationRecord, 'payment' | 'routing'>): Payment {
  const r = op.routing;
  if (!r) return op.payment;
  const payment = { ...op.payment, gateway: r.gateway, amount: r.amount ?? op.payment.amount, currency: r.currency ?? op.payment.currency };
  if (payment.currency === op.payment.currency) return payment;
  // Converted: the command's lines are in the order's currency, so only converted ones go (or none).
  const { lines: _ordered, ...rest } = payment;
  return r.lines ? { ...rest, lines: r.lines } : rest;
}

/** The fields of a record that say what it moved, and in which currency. */
export type MovedAmountFields = Pick<OperationRecord, 'payment' | 'routing' | 'confirmedAmount' | 'confirmedCurrency'>;

/**
 * What an operation moved, in minor units of `currency`: what the PSP confirmed (a partial approval holds
 * less than was asked) when that figure is in `currency`; else what the command asked, when the command is in
 * `currency`; else what its gateway was asked (a converted operation's amount at its locked rate), when that is
 * in `currency`. `null` when none of them is: what it moved in `currency` is not known.
 */
export function amountIn(op: MovedAmountFields, currency: string): number | null {
  const wanted = currency.toUpperCase();
  const asked = op.routing?.currency ?? op.payment.currency;
  if (op.confirmedAmount !== undefined && (op.confirmedCurrency ?? asked).toUpperCase() === wanted) return op.confirmedAmount;
  if (op.payment.currency.toUpperCase() === wanted) return op.payment.amount;
  if (op.routing?.currency?.toUpperCase() === wanted && op.routing.amount !== undefined) return op.routing.amount;
  return null;
}

/**
 * What an operation moved, in minor units of its command's currency: what the PSP confirmed (a partial
 * approval holds less than was asked), when that figure is in the command's currency; else (a converted
 * operation, whose PSP figure is in the gateway's currency, or nothing confirmed) what the command asked.
 */
export function amountInCommandCurrency(op: MovedAmountFields): number {
  return amountIn(op, op.payment.currency) ?? op.payment.amount;
}

/** What an operation's gateway was asked when that is in another currency than its command's (converted at a locked rate), else null. */
export function convertedAmount(op: Pick<OperationRecord, 'payment' | 'routing'>): { amount: number; currency: string } | null {
  const r = op.routing;
  if (r?.amount === undefined || r.currency === undefined || r.currency.toUpperCase() === op.payment.currency.toUpperCase()) return null;
  return { amount: r.amount, currency: r.currency };
}

/**
 * The money the PSP confirmed for an operation, else `asked`: an amount with its own currency, never one
 * with the other's. A confirmed currency without its amount (the PSP's figure could not be read: a currency
 * our table of it lacks, a figure not in whole minor units) does not relabel the asked amount, which is in
 * the asked currency. The confirmed currency upper-cased; `asked` as given. Pure.
 */
export function confirmedOrAsked(
  op: Pick<MovedAmountFields, 'confirmedAmount' | 'confirmedCurrency'>,
  asked: { amount: number; currency: string },
): { amount: number; currency: string } {
  return op.confirmedAmount === undefined ? asked : { amount: op.confirmedAmount, currency: op.confirmedCurrency?.toUpperCase() ?? asked.currency };
}

/** The `routing` object of an event: where the operation went and why (docs/EVENTS.md). */
export function routingEventField(r: RoutingRecord): Record<string, unknown> {
  return {
    gateway: r.gateway,
    requested_gateway: r.requested,
    ...(r.rule !== undefined ? { rule: r.rule } : {}),
    candidates: r.candidates,
    ...(r.failovers && r.failovers.length > 0 ? { failovers: r.failovers.map((f) => ({ from: f.from, to: f.to, trigger: f.trigger })) } : {}),
    decisions: r.decisions.map((d) => ({ stage: d.stage, outcome: d.outcome, reasons: d.reasons, ...(d.details ? { details: d.details } : {}) })),
  };
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const LINE_NUMBERS = ['line_number', 'quantity', 'unit_price_gross', 'refund_amount', 'tax_amount', 'tax_rate'] as const;
const LINE_STRINGS = ['item_name', 'item_sku', 'item_type'] as const;

/** A converted line as stored: its money fields integers, its other fields of their type. */
function isLine(v: unknown): v is PaymentLine {
  if (!isObject(v)) return false;
  return LINE_NUMBERS.every((k) => v[k] === undefined || typeof v[k] === 'number') && LINE_STRINGS.every((k) => v[k] === undefined || isString(v[k]));
}

/** A stored routing record, or undefined when it does not have the expected shape (never throws). */
export function parseRoutingRecord(value: unknown): RoutingRecord | undefined {
  if (!isObject(value)) return undefined;
  const { gateway, requested, candidates, index, decisions } = value;
  if (!isString(gateway) || !isString(requested) || typeof index !== 'number') return undefined;
  if (!Array.isArray(candidates) || !candidates.every(isString) || !Array.isArray(decisions)) return undefined;
  const parsed: RoutingRecord = {
    gateway,
    requested,
    candidates,
    index,
    decisions: decisions.filter(
      (d): d is StageDecision =>
        isObject(d) &&
        (STAGE_NAMES as readonly unknown[]).includes(d.stage) &&
        (STAGE_OUTCOMES as readonly unknown[]).includes(d.outcome) &&
        Array.isArray(d.reasons),
    ),
  };
  if (isString(value.rule)) parsed.rule = value.rule;
  if (Array.isArray(value.failovers)) {
    parsed.failovers = value.failovers.filter(
      (f): f is FailoverStep => isObject(f) && isString(f.from) && isString(f.to) && isString(f.trigger) && typeof f.at === 'number',
    );
  }
  if (typeof value.amount === 'number' && Number.isInteger(value.amount)) parsed.amount = value.amount;
  if (isString(value.currency)) parsed.currency = value.currency;
  if (Array.isArray(value.lines) && value.lines.every(isLine)) parsed.lines = value.lines;
  return parsed;
}
