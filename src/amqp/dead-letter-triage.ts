import { RedisClient } from '../redis/redis-connection';
import type { TriageConfig } from '../config/channels-config';
import { describeContractBody } from '../contracts/channel-contracts';
import { COMMAND_TYPES } from '../contracts/payment-command';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

/**
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
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length <= 128 ? v : undefined);

/** The payment, channel and command a (redacted) dead-letter body names: a canonical command, a channel contract's payload or a bus JSON-RPC call. */
export function describeBody(body: Buffer): { channel: string; command: string; payment: Json | undefined } {
  let parsed: Json | undefined;
  try {
    parsed = obj(JSON.parse(body.toString('utf8')) as unknown);
  } catch {
    parsed = undefined;
  }
  if (!parsed) return { channel: 'unknown', command: 'unknown', payment: undefined };
  if (typeof parsed.method === 'string') {
    const method = parsed.method;
    return { channel: 'bus', command: method.slice(method.lastIndexOf('.') + 1) || 'unknown', payment: obj(obj(parsed.params)?.payment) };
  }
  const contract = describeContractBody(parsed);
  if (contract) return contract;
  return { channel: str(parsed.channel) ?? 'unknown', command: str(parsed.command) ?? 'unknown', payment: obj(parsed.payment) };
}

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
  constructor(private readonly deps: { redis: RedisClient; keyPrefix: string; triage: TriageConfig; logger: Logger }) {}

  /** The summary of a dead letter (its redacted body and reason). */
  summarise(id: string, redactedBody: Buffer, why: { code: string; field: string; reason: string; source: string }, at: Date): DeadLetterSummary {
    const { channel, command, payment } = describeBody(redactedBody);
    const amount = typeof payment?.amount === 'number' && Number.isSafeInteger(payment.amount) && payment.amount >= 0 ? payment.amount : undefined;
    const base = {
      channel: CHANNELS.has(channel) ? channel : 'unknown',
      command: COMMANDS.has(command) ? command : 'unknown',
      amount,
      currency: str(payment?.currency),
    };
    const { impact, reasons, score } = impactOf(base, this.deps.triage);
    const summary: DeadLetterSummary = {
      id,
      at: at.toISOString(),
      code: why.code,
      field: why.field,
      reason: why.reason,
      source: why.source,
      ...base,
      impact,
      impactReasons: reasons,
      score,
    };
    const optional: Array<[keyof DeadLetterSummary, unknown]> = [
      ['gateway', str(payment?.gateway)],
      ['account', str(payment?.gateway_account)],
      ['orderId', str(payment?.order_id)],
      ['operationReference', str(payment?.operation_reference)],
    ];
    for (const [k, v] of optional) if (v !== undefined) (summary as unknown as Json)[k] = v;
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
