import { RedisClient } from '../redis/redis-connection';
import type { TriageConfig } from '../config/channels-config';
import { describeDeadLetterBody } from './dead-letter-body';
import { currencyExponent, isKnownCurrency } from '../money/currencies';
import { COMMAND_TYPES } from '../contracts/payment-command';
import { Logger } from '../logging/logger';
import { redactText } from '../logging/redact';
import { counter } from '../metrics/metrics-registry';

/**
 * Dead-letter triage, the one implementation: what kind of fix a dead letter needs (`triageCategory`), how
 * much it weighs (`impactScore`, the archive's order: the console and `payment-bridge ops dead-letters`),
 * and the writers' priority triage below. Bodies are read by `describeDeadLetterBody`.
 *
 * Priority triage of dead letters. Each dead letter is summarised (never its body: channel, command, money,
 * gateway and account, order, operation id, code, field, reason) and scored by impact; a high-impact one
 * (amount at or above the threshold of its currency, or a command type or channel configured as
 * high-impact) also goes to the triage queue `<dead-letter queue>:triage`, counts in
 * `pb_dead_letters_high_impact_total{channel,command,code}` and writes a warning. Every summary is indexed in
 * Redis by impact score (`<prefix>{dead-letters}:impact`, a sorted set, with the summaries in the hash
 * `<prefix>{dead-letters}:summary`; one hash tag, so the transaction writing both is single-slot on Redis
 * Cluster; `<prefix>dead-letters:impact|summary` before it), the `index_size` highest kept, so operators
 * can list dead letters by impact: {@link listDeadLettersByImpact}.
 */

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
 * unknown 1, whatever the body named). No amount, or an unknown currency: 0. Always finite. Pure.
 */
export function impactScore(fields: { command?: string; amount?: number; currency?: string }): number {
  const { amount, currency, command } = fields;
  if (amount === undefined || !Number.isSafeInteger(amount) || amount <= 0 || currency === undefined || !isKnownCurrency(currency)) return 0;
  const major = amount / 10 ** currencyExponent(currency);
  // Own keys only: the command is whatever the body said, and `constructor` or `toString` would read
  // Object.prototype's function (a NaN score the archive's ZADD refuses, wedging the queue behind it).
  const weight = command !== undefined && Object.hasOwn(COMMAND_WEIGHT, command) ? COMMAND_WEIGHT[command] : 1;
  return Math.round(major * weight * 100) / 100;
}

/** What the index keeps of one dead letter. No body, no card data (the record is redacted before this). */
export interface DeadLetterSummary {
  /** Unique id of the dead-letter record (also its `x-pb-dead-letter-id` header). */
  id: string;
  /** ISO 8601 time it was dead-lettered. */
  at: string;
  code: string;
  field: string;
  reason: string;
  /** `amqp:<queue>` or `http:intake`. */
  source: string;
  /** What kind of fix it needs (see {@link triageCategory}): the same as the archive shows. */
  category: TriageCategory;
  /** `bus`, `web`, `pos`, `marketplace`, or `unknown` when the body did not say. */
  channel: string;
  /** Command type (`capture`, …), or `unknown`. */
  command: string;
  /** Minor units, when the body carried an integer amount. */
  amount?: number;
  currency?: string;
  gateway?: string;
  account?: string;
  orderId?: string;
  operationReference?: string;
  /** `high` (priority triage) or `normal`. */
  impact: 'high' | 'normal';
  /** Why it is high-impact: `amount`, `command`, `channel` (empty when normal). */
  impactReasons: string[];
  /** The sort key: high-impact first, then by amount. */
  score: number;
}

const HIGH = 1e15;

type Json = Record<string, unknown>;

/** Impact of a dead letter under the triage configuration. */
export function impactOf(
  summary: Pick<DeadLetterSummary, 'channel' | 'command' | 'amount' | 'currency'>,
  triage: TriageConfig,
): { impact: 'high' | 'normal'; reasons: string[]; score: number } {
  const reasons: string[] = [];
  const threshold = (summary.currency !== undefined ? triage.minAmountByCurrency[summary.currency] : undefined) ?? triage.minAmount;
  if (summary.amount !== undefined && summary.amount >= threshold) reasons.push('amount');
  if (triage.commands.includes(summary.command)) reasons.push('command');
  if (triage.channels.includes(summary.channel)) reasons.push('channel');
  const amount = Math.min(summary.amount ?? 0, HIGH - 1);
  return { impact: reasons.length > 0 ? 'high' : 'normal', reasons, score: (reasons.length > 0 ? HIGH : 0) + amount };
}

/** Keys of the impact index under a Redis key prefix. */
export function impactIndexKeys(keyPrefix: string): { byImpact: string; summaries: string } {
  return { byImpact: `${keyPrefix}{dead-letters}:impact`, summaries: `${keyPrefix}{dead-letters}:summary` };
}

function highImpactTotal() {
  return counter('pb_dead_letters_high_impact_total', 'High-impact dead letters sent to the priority triage queue, by channel, command and code', [
    'channel',
    'command',
    'code',
  ] as const);
}

const CHANNELS = new Set(['bus', 'web', 'pos', 'marketplace']);
const COMMANDS: ReadonlySet<string> = new Set(COMMAND_TYPES);

/** Scores, indexes and raises the alert for each dead letter; see the file comment. */
export class DeadLetterTriage {
  constructor(
    private readonly deps: {
      redis: RedisClient;
      keyPrefix: string;
      triage: TriageConfig;
      logger: Logger;
      /** `service_bus.amount_units` (default `minor`): the unit of a bus call's amount in a dead-lettered body. */
      busAmountUnits?: 'minor' | 'major';
    },
  ) {}

  /** The summary of a dead letter (its redacted body and reason). */
  summarise(id: string, redactedBody: Buffer, why: { code: string; field: string; reason: string; source: string }, at: Date): DeadLetterSummary {
    const about = describeDeadLetterBody(redactedBody, this.deps.busAmountUnits);
    const amount = about.amount !== undefined && about.amount >= 0 ? about.amount : undefined;
    const base = {
      channel: about.channel !== undefined && CHANNELS.has(about.channel) ? about.channel : 'unknown',
      command: about.command !== undefined && COMMANDS.has(about.command) ? about.command : 'unknown',
      amount,
      currency: about.currency,
    };
    const { impact, reasons, score } = impactOf(base, this.deps.triage);
    const summary: DeadLetterSummary = {
      id,
      at: at.toISOString(),
      code: why.code,
      field: why.field,
      reason: why.reason,
      source: why.source,
      category: triageCategory(why.code, why.reason),
      ...base,
      impact,
      impactReasons: reasons,
      score,
    };
    const optional: Array<[keyof DeadLetterSummary, unknown]> = [
      ['gateway', about.gateway],
      ['account', about.account],
      ['orderId', about.orderId],
      ['operationReference', about.operationReference],
    ];
    // Read from the body's values: masked again, as a value the body's redaction could not see must not reach the index.
    for (const [k, v] of optional) if (v !== undefined) (summary as unknown as Json)[k] = typeof v === 'string' ? redactText(v) : v;
    if (summary.amount === undefined) delete summary.amount;
    if (summary.currency === undefined) delete summary.currency;
    return summary;
  }

  /**
   * Indexes the summary and, when high-impact, counts and logs it. An index failure (Redis down) is logged
   * and never blocks the dead letter itself, which is already in the queue.
   */
  async record(summary: DeadLetterSummary): Promise<void> {
    const { redis, keyPrefix, triage, logger } = this.deps;
    if (summary.impact === 'high') {
      highImpactTotal().inc({ channel: summary.channel, command: summary.command, code: summary.code });
      logger.warn('high-impact dead letter: sent to the priority triage queue', {
        dead_letter_id: summary.id,
        channel: summary.channel,
        command: summary.command,
        code: summary.code,
        field: summary.field,
        amount: summary.amount,
        currency: summary.currency,
        impact_reasons: summary.impactReasons,
        operation_reference: summary.operationReference,
      });
    }
    const keys = impactIndexKeys(keyPrefix);
    try {
      await redis.multi().zadd(keys.byImpact, summary.score, summary.id).hset(keys.summaries, summary.id, JSON.stringify(summary)).exec();
      const size = await redis.zcard(keys.byImpact);
      if (size > triage.indexSize) {
        const dropped = await redis.zpopmin(keys.byImpact, size - triage.indexSize);
        const ids = dropped.filter((_, i) => i % 2 === 0);
        if (ids.length > 0) await redis.hdel(keys.summaries, ...ids);
      }
    } catch (err) {
      logger.warn('dead-letter impact index not updated (the dead letter itself is in the queue)', {
        dead_letter_id: summary.id,
        error: (err as Error).message,
      });
    }
  }
}

/** Options of {@link listDeadLettersByImpact}. */
export interface ListByImpactOptions {
  /** Most summaries returned. Default 50. */
  limit?: number;
  /** Only high-impact ones. Default false. */
  highOnly?: boolean;
  /** Leave out (and drop from the index) summaries older than this, milliseconds. Default: no limit. */
  retentionMs?: number;
  /** The clock, ms since the epoch (tests). Default `Date.now`. */
  now?: () => number;
}

/**
 * Dead letters by impact, highest first (high-impact ones first, then by amount): what the ops console and
 * `payment-bridge ops` list. Reads the index the writers keep; summaries past `retentionMs` are dropped.
 * @param keyPrefix `redis.key_prefix`.
 */
export async function listDeadLettersByImpact(redis: RedisClient, keyPrefix: string, options: ListByImpactOptions = {}): Promise<DeadLetterSummary[]> {
  const keys = impactIndexKeys(keyPrefix);
  const limit = options.limit ?? 50;
  const now = (options.now ?? Date.now)();
  const ids = options.highOnly
    ? await redis.zrevrangebyscore(keys.byImpact, '+inf', HIGH, 'LIMIT', 0, limit * 2)
    : await redis.zrevrange(keys.byImpact, 0, limit * 2 - 1);
  if (ids.length === 0) return [];
  const raw = await redis.hmget(keys.summaries, ...ids);
  const out: DeadLetterSummary[] = [];
  const expired: string[] = [];
  raw.forEach((text, i) => {
    if (text === null) return;
    const summary = JSON.parse(text) as DeadLetterSummary;
    if (options.retentionMs !== undefined && now - Date.parse(summary.at) > options.retentionMs) expired.push(ids[i]);
    else if (out.length < limit) out.push(summary);
  });
  if (expired.length > 0)
    await redis
      .multi()
      .zrem(keys.byImpact, ...expired)
      .hdel(keys.summaries, ...expired)
      .exec();
  return out;
}
