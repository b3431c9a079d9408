import { currencyExponent, isKnownCurrency } from '../money/currencies';

/**
 * What kind of fix a dead letter needs, from its reason code:
 * - `hard`: the message itself is wrong (malformed, invalid, card data, an idempotency conflict): replaying
 *   it as it is fails again; the sender must send a corrected command.
 * - `config`: our configuration refused it (a gateway not configured): fix the key, then replay.
 * - `outage`: a dependency or the broker gave up on it (expired, queue length or delivery limit, a
 *   dependency error): replay once the dependency is back.
 * - `unknown`: anything else (an unexpected error, a code this version does not know): look at it first.
 */
export type TriageCategory = 'hard' | 'config' | 'outage' | 'unknown';

export const TRIAGE_CATEGORIES: readonly TriageCategory[] = ['hard', 'config', 'outage', 'unknown'];

const HARD_CODES = new Set(['INVALID_PARAMS', 'INVALID_REQUEST', 'PARSE_ERROR', 'UNKNOWN_METHOD', 'CARD_DATA_REJECTED', 'IDEMPOTENCY_CONFLICT']);
const CONFIG_CODES = new Set(['GATEWAY_NOT_CONFIGURED', 'UNKNOWN_GATEWAY']);
/** The broker's own reasons (x-death) that mean "it waited too long or the queue was full": an outage or a backlog. */
const OUTAGE_BROKER_REASONS = /\b(expired|maxlen|delivery_limit)\b/;
/** Error classes and texts of an unexpected error that name a dependency failing rather than the message. */
const OUTAGE_ERRORS = /DependencyUnavailable|Timeout|ECONN|EPIPE|ETIMEDOUT|MaxRetriesPerRequest|ConnectionClosed/i;

/** The triage category of a dead letter's reason `code` (and `reason` text, for the broker's and unexpected ones). Pure. */
export function triageCategory(code: string, reason = ''): TriageCategory {
  if (HARD_CODES.has(code)) return 'hard';
  if (CONFIG_CODES.has(code) || /CONFIG/.test(code)) return 'config';
  if (code === 'BROKER_DEAD_LETTERED') return OUTAGE_BROKER_REASONS.test(reason) ? 'outage' : 'unknown';
  if (code === 'UNEXPECTED_ERROR') return OUTAGE_ERRORS.test(reason) ? 'outage' : 'unknown';
  if (/UNAVAILABLE|OUTAGE|TIMEOUT/.test(code)) return 'outage';
  return 'unknown';
}

/** How much a command type weighs in the impact score: money that moves now counts most. */
const COMMAND_WEIGHT: Readonly<Record<string, number>> = {
  capture: 3,
  sale: 3,
  refund: 3,
  authorize: 2,
  validate: 2,
  revalidate: 2,
  cancel: 1,
  tokenize: 1,
};

/**
 * The impact score of a dead letter, for listing the ones that matter first: the amount in major units
 * (100.00 EUR counts 100, as 100 JPY does: comparable enough across currencies without an FX table)
 * times the command's weight (capture, sale, refund 3; authorize, validate, revalidate 2; cancel, tokenize 1;
 * unknown 1). No amount, or an unknown currency: 0. Pure.
 */
export function impactScore(fields: { command?: string; amount?: number; currency?: string }): number {
  const { amount, currency, command } = fields;
  if (amount === undefined || !Number.isSafeInteger(amount) || amount <= 0 || currency === undefined || !isKnownCurrency(currency)) return 0;
  const major = amount / 10 ** currencyExponent(currency);
  return Math.round(major * (COMMAND_WEIGHT[command ?? ''] ?? 1) * 100) / 100;
}
