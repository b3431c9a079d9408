import { createHash, createHmac } from 'node:crypto';
import { purposeKey } from '../config/purpose-key';
import { ScoredEntry, scoredEntries } from '../redis/scored-entries';
import { ConfirmChannel, GetMessage } from 'amqplib';
import { RedisClient } from '../redis/redis-connection';
import { AmqpConnection } from '../amqp/amqp-connection';
import { AUTHENTICATED_CHANNEL_HEADER, redactBody } from '../amqp/dead-letter-writer';
import {
  BusSecrets,
  StampKeys,
  busSecretsInUse,
  deadLetterStampKeys,
  parkedStampHolds,
  parkedStampOf,
  stampSigningKey,
  stampedChannel,
} from '../amqp/dead-letter-stamp';
import { declareTopology, parkedQueueOf } from '../amqp/topology';
import { closeChannelWithin } from '../amqp/channel-close';
import { BrokerTimeoutPolicy, openChannelWithin, withTimeout } from '../amqp/broker-deadline';
import { movedProperties } from '../amqp/moved-properties';
import { errorClassOf, isDependencyOutage } from '../errors/dependency-outage';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { Config } from '../config/config';
import { redactText } from '../logging/redact';
import { counter, gauge } from '../metrics/metrics-registry';
import { TriageCategory, impactScore, triageCategory } from '../amqp/dead-letter-triage';
import { describeDeadLetterBody } from '../amqp/dead-letter-body';
import { deadLetterOnceKey, isDerivedDeadLetterId } from '../amqp/dead-letter-once';

/** A dead letter as the archive holds it: its reason, what it was about, its triage and its replays. No card data (bodies are redacted). */
export interface DeadLetterRecord {
  /**
   * `dl-<24 hex>`: a digest of the message and its reason headers, so importing the same message twice is one record
   * (and two dead letters of one message under its derived `deadLetterId` too: `recordFromMessage`).
   */
  id: string;
  /**
   * The writer's `x-pb-dead-letter-id` (the `dead_letter_id` of its log lines), when it is UUID-shaped. One derived from
   * the message's identity (`isDerivedDeadLetterId`) names its one-per-message mark, which goes when the record is dropped.
   */
  deadLetterId?: string;
  /** When it was dead-lettered, epoch ms (`x-pb-dead-lettered-at`, else when it was archived). */
  deadLetteredAt: number;
  archivedAt: number;
  code: string;
  field: string;
  reason: string;
  /** `amqp:<queue>`, `http:intake`, `delivery`… (`x-pb-source`). */
  source: string;
  /** The routing key it was published with (`x-pb-routing-key`), when known. */
  routingKey?: string;
  /** The operation it names (`x-pb-operation-id`), when known. */
  operationId?: string;
  orderId?: string;
  command?: string;
  channel?: string;
  gateway?: string;
  /** Minor units of `currency`. */
  amount?: number;
  currency?: string;
  /** The writer marked it as meant for replay once the cause is fixed (`x-pb-replayable`). */
  replayable: boolean;
  /** The channel whose signature of the original was verified before it was refused (`x-pb-authenticated-channel`). */
  authenticatedChannel?: string;
  category: TriageCategory;
  /** See `impactScore`. */
  impact: number;
  /** The message body as dead-lettered (redacted JSON text). */
  body: string;
  /** Replays executed so far, and the last one's time (epoch ms), actor and operation id. */
  replays: number;
  lastReplayAt?: number;
  lastReplayBy?: string;
}

/** How the archive lists: newest first, or highest impact first. */
export type DeadLetterOrder = 'time' | 'impact';

/** A place in one of the archive's orders: a record's score there (dead-letter time, or impact) and its id, which breaks ties as Redis does (byte order). */
export interface DeadLetterCursor {
  score: number;
  /** Absent: the place is the score itself (`before`: every record scored below it). */
  id?: string;
}

/** One page of the archive: its records, and the cursors of its first and last rows when there are newer (higher) or older (lower) ones. */
export interface DeadLetterPage {
  records: DeadLetterRecord[];
  /** The first row's place, when records rank above it: `after` it gives the page before this one. */
  newer?: DeadLetterCursor;
  /** The last row's place, when records rank below it: `before` it gives the page after this one. */
  older?: DeadLetterCursor;
}

/**
 * Most records one page of {@link DeadLetterStore.page} holds: the `--limit` bound of `ops dead-letters list`
 * (the console shows at most 100 a page). One page is one index read and one pipeline of that many hashes.
 */
export const DEAD_LETTER_PAGE_MAX = 1000;

/** Index entries one score read of a page takes past its limit, to step over ties of a vanished cursor; at most {@link TIE_READS} such reads. */
const TIE_SLACK = 100;
const TIE_READS = 5;

/** Records the archive keeps at most; past it, the oldest are dropped at the next import. */
export const DEAD_LETTER_ARCHIVE_MAX = 50_000;

/** Most dead letters one import moves (the default `limit`); the next import goes on where it stopped. */
export const ARCHIVE_BATCH = 1000;

/** What one import did; `droppedThrough` (epoch ms) when the archive dropped its oldest records. */
export interface DeadLetterImport {
  /** Messages taken off the dead-letter queue, the parked ones included. */
  moved: number;
  created: number;
  dropped: number;
  droppedThrough?: number;
  /** Messages that could not be archived as they are: kept whole in the parking queue, a stand-in record archived for each. */
  parked: ParkedDeadLetter[];
  /** Stand-in records removed because the dead letter they stood for was archived as it is (`DeadLetterStore.archiveReplacing`). */
  replaced: number;
  /**
   * Messages that were a second dead letter of a message already archived (its derived `x-pb-dead-letter-id`, another
   * time): written past the message's one-per-message mark (Redis away, a writer stopped between its publish and its
   * mark, a claim held past the wait or outlived by its publish, a copy after the mark's 24 h). Acked, no second record.
   */
  duplicates: number;
}

/** A dead letter set aside by an import: the stand-in record's id, and why (an error's class, never its message or the body). */
export interface ParkedDeadLetter {
  id: string;
  reason: string;
}

/** What a writer's `x-pb-dead-letter-id` looks like (random, or derived from the message's identity). */
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The dead-letter id of the one-per-message mark a stored record names, if any. A record that cannot be read names
 * none: it is dropped all the same, for a trim that threw on it would never keep the archive within its bound again.
 */
function markNamedBy(text: string): string | undefined {
  try {
    const record: unknown = JSON.parse(text);
    const named = record !== null && typeof record === 'object' ? (record as Partial<DeadLetterRecord>).deadLetterId : undefined;
    return typeof named === 'string' && isDerivedDeadLetterId(named) ? named : undefined;
  } catch {
    return undefined;
  }
}

/** The code of the stand-in record of a dead letter that could not be archived as it is. */
export const UNARCHIVABLE = 'UNARCHIVABLE';

const parkedCounter = counter(
  'pb_dead_letters_parked_total',
  'Dead letters that could not be archived as they are (unreadable, or refused by Redis), kept whole in the parking queue `<dead-letter queue>:parked` with a stand-in UNARCHIVABLE record archived, by stage (read, write)',
  ['stage'],
);

const standInsReplaced = counter(
  'pb_dead_letters_unarchivable_replaced_total',
  'UNARCHIVABLE stand-in records removed from the archive because the dead letter they stood for was archived as it is (moved back from the parking queue, or its cause fixed)',
);

const archivedTwice = counter(
  'pb_dead_letters_archived_twice_total',
  "Dead letters the archive found already archived as their message's one record (same derived dead-letter id, another time): a second dead letter of the message written past its one-per-message mark (Redis away, a writer stopped between its publish and its mark, a claim held past the wait or outlived by its publish, a copy after the mark's 24 h); acked, one record kept",
);

const dropped = counter(
  'pb_dead_letters_dropped_total',
  `Archived dead letters dropped, oldest first, to keep the archive at ${DEAD_LETTER_ARCHIVE_MAX} records (their messages were acked from the queue when archived: gone)`,
);

const archivedGauge = gauge(
  'pb_dead_letters_archived',
  'Dead letters in the archive (moved from the dead-letter queue by the workers every amqp.dead_letter_archive_interval_ms, or at once by the console or `ops dead-letters`), by triage category and whether they were replayed',
  ['category', 'replayed'],
);

// KEYS: record hash, time index, impact index, then the hashes of the stand-ins it replaces. ARGV: id, record
// JSON, time score, impact score, then the stand-ins' ids. Writes a new record and indexes it; a record already
// archived (a re-import) is left as it is. Either way each named stand-in that is one (a hash whose record has
// code UNARCHIVABLE; anything else is left alone) is removed: the dead letter it stood for is archived now.
// Returns { 1 when the record is new, stand-ins removed, 1 when the record was there at another time (a second
// copy of its message, not a re-import of the same one) }.
const ARCHIVE_LUA = `
local created = 0
local again = 0
if redis.call('HSETNX', KEYS[1], 'record', ARGV[2]) == 1 then
  redis.call('HSET', KEYS[1], 'replays', '0')
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
  created = 1
else
  local at = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if at and tonumber(at) ~= tonumber(ARGV[3]) then again = 1 end
end
local replaced = 0
for i = 4, #KEYS do
  if KEYS[i] ~= KEYS[1] and redis.call('TYPE', KEYS[i]).ok == 'hash' then
    local ok, standIn = pcall(cjson.decode, redis.call('HGET', KEYS[i], 'record') or '')
    if ok and type(standIn) == 'table' and standIn.code == '${UNARCHIVABLE}' then
      redis.call('DEL', KEYS[i])
      redis.call('ZREM', KEYS[2], ARGV[i + 1])
      redis.call('ZREM', KEYS[3], ARGV[i + 1])
      replaced = replaced + 1
    end
  end
end
return { created, replaced, again }
`;

// KEYS: an index. ARGV: id, score, 'below' or 'above', limit. The entries (id, score, …) ranked below the
// record, or just above it (the first `limit` when fewer are), or nil when the record is not there at that
// score. One script: the rank and the read see the same index.
const PAGE_LUA = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then return false end
local r = redis.call('ZREVRANK', KEYS[1], ARGV[1])
local n = tonumber(ARGV[4])
if ARGV[3] == 'below' then return redis.call('ZREVRANGE', KEYS[1], r + 1, r + n, 'WITHSCORES') end
if r < n then return redis.call('ZREVRANGE', KEYS[1], 0, n - 1, 'WITHSCORES') end
return redis.call('ZREVRANGE', KEYS[1], r - n, r - 1, 'WITHSCORES')
`;

/**
 * The archive's keys under the prefix P, all with the hash tag `{dl}` (one Redis Cluster slot: the archive
 * script writes a record and both indexes at once, and listings read many records in one pipeline; the
 * archive is bounded by {@link DEAD_LETTER_ARCHIVE_MAX}, so one slot holds it):
 *   P {dl}:dl:<id>      hash: `record` (JSON), `replays`, `last_replay_at`, `last_replay_by`
 *   P {dl}:dls:time     sorted set of ids by dead-letter time
 *   P {dl}:dls:impact   sorted set of ids by impact score
 * Before the cluster layout they were `P dl:<id>`, `P dls:time`, `P dls:impact` (src/data-lifecycle/legacy-keys.ts moves them).
 */
export function deadLetterArchiveKeys(prefix: string): { record(id: string): string; time: string; impact: string } {
  const base = `${prefix}{dl}:`;
  return { record: (id) => `${base}dl:${id}`, time: `${base}dls:time`, impact: `${base}dls:impact` };
}

/**
 * The dead-letter archive: dead letters moved from the dead-letter queue into Redis, where an operator can
 * list them (by time or impact), read one, triage and replay it; the queue itself can only be read front
 * to back. Keys: {@link deadLetterArchiveKeys}.
 * `importFromQueue` moves messages: each is written here before it is acked, so a crash in between leaves
 * it in the queue and the re-import finds the same id (one record).
 */
export class DeadLetterStore {
  private readonly keys: ReturnType<typeof deadLetterArchiveKeys>;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /**
     * `deadLetterStampKeys(service_bus)`: the first makes the stamps of what it parks, any verifies the stamps of
     * what it imports (the previous secret's: one made before a rotation; the next secret's: one made by a process
     * already switched to it). Without: none holds.
     */
    private readonly stampKeys?: StampKeys,
    /** Records kept at most (default {@link DEAD_LETTER_ARCHIVE_MAX}); past it an import drops the oldest. */
    private readonly maxRecords = DEAD_LETTER_ARCHIVE_MAX,
    /** `service_bus.amount_units` (default `minor`): the unit of a bus call's amount in what it imports. */
    private readonly busAmountUnits: 'minor' | 'major' = 'minor',
    /**
     * `deadLetterStandInKeys(service_bus)`: the first keys the ids of the stand-ins it parks, every one finds stand-ins
     * made before a rotation or by a process already switched ({@link standInIdsOf}). Without: unkeyed ids, as an
     * earlier release made them.
     */
    private readonly standInKeys: readonly Buffer[] = [],
  ) {
    // Its key count varies (the stand-ins it replaces): given first on each call.
    redis.defineCommand('pbDeadLetterArchive', { lua: ARCHIVE_LUA });
    redis.defineCommand('pbDeadLetterPage', { numberOfKeys: 1, lua: PAGE_LUA });
    this.keys = deadLetterArchiveKeys(prefix);
  }

  /**
   * The archive a deployment's processes share: stamps and stand-in ids keyed from `service_bus`'s secrets, amounts read
   * in `service_bus.amount_units`, at most {@link DEAD_LETTER_ARCHIVE_MAX} records.
   */
  static forConfig(redis: RedisClient, config: Pick<Config, 'redis' | 'serviceBus'>): DeadLetterStore {
    const bus = config.serviceBus;
    return new DeadLetterStore(redis, config.redis.keyPrefix, deadLetterStampKeys(bus), undefined, bus.amountUnits, deadLetterStandInKeys(bus));
  }

  private key(id: string): string {
    return this.keys.record(id);
  }

  private get timeKey(): string {
    return this.keys.time;
  }

  private get impactKey(): string {
    return this.keys.impact;
  }

  /**
   * Archives one record; false when it was already there (a re-import, or a second dead letter of the same message:
   * see {@link recordFromMessage}). A score that is not finite is refused (RangeError) before anything is written.
   */
  async archive(record: DeadLetterRecord): Promise<boolean> {
    return (await this.archiveReplacing(record, [])).created;
  }

  /**
   * Archives one record (as {@link archive}) and, in the same script, removes each of `standIns` (ids) that is a
   * stand-in record (code {@link UNARCHIVABLE}) of the dead letter it is: listed once, as it is, never also as
   * the stand-in of its parking. An id naming any other record is left alone (a header is anyone's to set).
   * @returns whether the record is new, how many stand-ins were removed, and whether it was already archived at
   * another time (`again`: for a dead letter of the queue, a second one of its message, counted by `importFromQueue` in
   * `pb_dead_letters_archived_twice_total`).
   */
  async archiveReplacing(record: DeadLetterRecord, standIns: readonly string[]): Promise<{ created: boolean; replaced: number; again: boolean }> {
    // Redis refuses a NaN score in the script after HSETNX wrote the hash: a record stored but never indexed.
    if (!Number.isFinite(record.deadLetteredAt) || !Number.isFinite(record.impact)) throw new RangeError('dead-letter record score is not finite');
    const r = this.redis as RedisClient & {
      pbDeadLetterArchive(numKeys: number, ...keysThenArgs: Array<string | number>): Promise<[number, number, number]>;
    };
    const { replays: _r, lastReplayAt: _a, lastReplayBy: _b, ...stored } = record;
    const ids = [...new Set(standIns)].filter((id) => id !== record.id);
    const [created, replaced, again] = await r.pbDeadLetterArchive(
      3 + ids.length,
      this.key(record.id),
      this.timeKey,
      this.impactKey,
      ...ids.map((id) => this.key(id)),
      record.id,
      JSON.stringify(stored),
      record.deadLetteredAt,
      record.impact,
      ...ids,
    );
    if (replaced > 0) standInsReplaced.inc(replaced);
    return { created: created === 1, replaced, again: again === 1 };
  }

  /**
   * Moves up to `limit` messages from the dead-letter queue into the archive (write, then ack). Returns how
   * many were moved, how many of them were new, and how many of the oldest records the archive dropped to
   * stay within its bound (`droppedThrough`: when the newest of those was dead-lettered, epoch ms).
   * A message that cannot be archived for a reason of its own (it cannot be read, or Redis refuses its record)
   * is set aside rather than left at the head of the queue, where it would hold every one behind it: see
   * {@link park}. A Redis or broker outage is thrown as before: the message stays in the queue for the next pass;
   * so is a broker call not answered within `amqp.publish_timeout_ms` (`BrokerTimeoutError`, counted in
   * `pb_amqp_call_timeouts_total{what="dead_letter_archive"}`).
   * `onTimeout` (default `abandon`): what a channel opening or close not answered within that bound does to
   * `connection`. `abandon` leaves it up (a worker's connection, whose consumers hold unacked messages under way):
   * the channel is given up, what it holds unacked returns to the queue once the broker answers its close. `drop`
   * drops it, for a connection that is the caller's own.
   */
  async importFromQueue(
    connection: AmqpConnection,
    amqp: Config['amqp'],
    limit = ARCHIVE_BATCH,
    now = Date.now(),
    onTimeout: BrokerTimeoutPolicy = 'abandon',
  ): Promise<DeadLetterImport> {
    const model = await connection.connect();
    // Every broker call is bounded (`amqp.publish_timeout_ms`): a broker that stops answering must not hold the
    // pass for ever, and the worker's shutdown behind it. Confirms: a parked message is acked here only once the
    // broker has it in the parking queue.
    const watch = { what: 'dead_letter_archive', logger: connection.logger };
    const bounded = <T>(call: Promise<T>, what: string): Promise<T> => withTimeout(call, amqp.publishTimeoutMs, what, watch);
    const channel = await openChannelWithin(model, (m) => m.createConfirmChannel(), { ...watch, timeoutMs: amqp.publishTimeoutMs, onTimeout });
    // A channel the broker closes (a queue declared with other arguments, deleted under the pass) fails this
    // pass through the operation it refused; unheard, its 'error' would drop the whole connection (amqplib),
    // and in a worker the command consumers' channels with it.
    channel.on('error', () => undefined);
    let moved = 0;
    let created = 0;
    let replaced = 0;
    let duplicates = 0;
    const parked: ParkedDeadLetter[] = [];
    let trimmed: { dropped: number; droppedThrough?: number } = { dropped: 0 };
    try {
      await bounded(declareTopology(channel, amqp), 'declaring the topology');
      for (; moved < limit; moved += 1) {
        // Answered after its bound, the get hands its message to nobody: unacked, it returns to the queue with the channel.
        const msg = await bounded(channel.get(amqp.deadLetterQueue, { noAck: false }), `reading ${amqp.deadLetterQueue}`);
        if (!msg) break;
        let stage: 'read' | 'write' = 'read';
        try {
          const record = recordFromMessage(msg, now, this.stampKeys, this.busAmountUnits);
          stage = 'write';
          const archived = await this.archiveReplacing(record, standInIdsOf(msg, this.stampKeys, this.standInKeys));
          if (archived.created) created += 1;
          // Counted here, of a dead letter of the queue under its derived id: a stand-in parked again, or a record
          // without a time of its own (archived at `now`) read again after a crash before its ack, is no second one.
          if (archived.again && record.deadLetterId !== undefined && isDerivedDeadLetterId(record.deadLetterId)) {
            duplicates += 1;
            archivedTwice.inc();
          }
          replaced += archived.replaced;
        } catch (err) {
          if (isDependencyOutage(err)) throw err;
          parked.push(await this.park(channel, amqp, msg, stage, err, now));
        }
        channel.ack(msg);
      }
      if (moved > 0) trimmed = await this.trim();
    } finally {
      // Bounded: a broker that never answers the close would hold the pass (and the worker's shutdown behind it).
      await closeChannelWithin(channel, { timeoutMs: amqp.publishTimeoutMs, what: 'dead_letter_archive', logger: connection.logger, onTimeout });
    }
    return { moved, created, replaced, duplicates, ...trimmed, parked };
  }

  /**
   * Sets aside a dead letter that cannot be archived as it is: a stand-in record (code {@link UNARCHIVABLE},
   * the reason, no body) is archived so listings show it, then the message is copied whole to the parking
   * queue `<dead-letter queue>:parked` (mandatory) and confirmed within `amqp.publishTimeoutMs`; the caller acks
   * it only after that. A failure of either step (a nack, no confirm in time, the copy returned unroutable) is
   * thrown (the message stays at the head of the queue, the pass is retried): both are idempotent.
   */
  private async park(
    channel: ConfirmChannel,
    amqp: Config['amqp'],
    msg: GetMessage,
    stage: 'read' | 'write',
    err: unknown,
    now: number,
  ): Promise<ParkedDeadLetter> {
    const queue = parkedQueueOf(amqp);
    // The error's class (and a Redis reply's first word, e.g. WRONGTYPE): a message may quote the body.
    const word = err instanceof Error && err.name === 'ReplyError' ? /^[A-Z]+/.exec(err.message)?.[0] : undefined;
    const cause = `${errorClassOf(err)}${word ? ` ${word}` : ''}`;
    const reason = `${stage === 'read' ? 'could not be read' : 'the archive refused its record'} (${cause}); kept whole in ${queue}`;
    const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
    const id = standInIdOf(msg, this.standInKeys[0]);
    await this.archive({
      id,
      deadLetteredAt: now,
      archivedAt: now,
      code: UNARCHIVABLE,
      field: '(root)',
      reason,
      source: `amqp:${queue}`,
      replayable: false,
      category: triageCategory(UNARCHIVABLE, reason),
      impact: 0,
      body: JSON.stringify({ withheld: `not archived: ${reason}`, bytes: msg.content.length }),
      replays: 0,
    });
    const parkedHeaders: Record<string, string> = { 'x-pb-parked-reason': reason, 'x-pb-parked-at': new Date(now).toISOString(), 'x-pb-parked-record': id };
    // Binds the stand-in's id to this body: only this message, moved back, may name the stand-in to replace.
    const stampKey = this.stampKeys && stampSigningKey(this.stampKeys);
    if (stampKey) parkedHeaders['x-pb-parked-stamp'] = parkedStampOf(stampKey, id, msg.content);
    const options = movedProperties(msg);
    // Mandatory: the broker confirms a message no queue took too (the parking queue deleted meanwhile), and
    // acking the original on that confirm would lose it; its basic.return comes before the confirm.
    let returned = false;
    const onReturn = (): void => {
      returned = true;
    };
    channel.on('return', onReturn);
    try {
      try {
        channel.sendToQueue(queue, msg.content, { ...options, mandatory: true, headers: { ...headers, ...parkedHeaders } });
      } catch {
        // Headers the client cannot encode again: the body goes without them, and says so.
        channel.sendToQueue(queue, msg.content, {
          ...options,
          mandatory: true,
          headers: { ...parkedHeaders, 'x-pb-parked-headers': 'dropped: not encodable' },
        });
      }
      // A confirm that never comes (a quorum queue without its majority, a blocked connection) must not hold
      // the pass, and the worker's shutdown behind it: the message stays in the dead-letter queue.
      await confirmedWithin(channel, amqp.publishTimeoutMs);
    } finally {
      channel.off('return', onReturn);
    }
    if (returned) throw new DependencyUnavailableError('rabbitmq', `${queue} took no message (unroutable): the dead letter stays in the queue`);
    parkedCounter.inc({ stage });
    return { id, reason };
  }

  /**
   * Drops the oldest records past the bound, with the one-per-message mark each names (`deadLetterId`): a mark that
   * outlived its record would ack a later copy as a duplicate of nothing. How many, and when the newest of them was
   * dead-lettered.
   */
  private async trim(): Promise<{ dropped: number; droppedThrough?: number }> {
    const excess = (await this.redis.zcard(this.timeKey)) - this.maxRecords;
    if (excess <= 0) return { dropped: 0 };
    const oldest = await this.redis.zrange(this.timeKey, 0, excess - 1, 'WITHSCORES');
    const ids = oldest.filter((_, i) => i % 2 === 0);
    const reads = this.redis.pipeline();
    for (const id of ids) reads.hget(this.key(id), 'record');
    const marks = ((await reads.exec()) ?? []).flatMap(([err, text]) => {
      if (err || typeof text !== 'string') return [];
      const named = markNamedBy(text);
      return named !== undefined ? [deadLetterOnceKey(this.prefix, named)] : [];
    });
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.del(this.key(id)).zrem(this.timeKey, id).zrem(this.impactKey, id);
    for (const mark of marks) pipeline.del(mark);
    await pipeline.exec();
    dropped.inc(oldest.length / 2);
    return { dropped: oldest.length / 2, droppedThrough: Number(oldest[oldest.length - 1]) };
  }

  /** One record, or null. */
  async get(id: string): Promise<DeadLetterRecord | null> {
    if (!/^dl-[0-9a-f]{24}$/.test(id)) return null;
    const h = await this.redis.hgetall(this.key(id));
    return h.record ? fromHash(h) : null;
  }

  /**
   * Records newest first (`time`) or highest impact first (`impact`), optionally of one triage category,
   * at most `limit`. A category filter reads up to ten times `limit` records to find them.
   */
  async list(options: { order?: DeadLetterOrder; category?: TriageCategory; limit?: number } = {}): Promise<DeadLetterRecord[]> {
    const limit = options.limit ?? 50;
    const scan = options.category ? limit * 10 : limit;
    const ids = await this.redis.zrevrange(options.order === 'impact' ? this.impactKey : this.timeKey, 0, scan - 1);
    const records = await this.getMany(ids);
    return records.filter((r) => !options.category || r.category === options.category).slice(0, limit);
  }

  /**
   * One page of `limit` records (at most {@link DEAD_LETTER_PAGE_MAX}) in `order`, highest first: the first page,
   * the records ranked below `before`, or those just above `after` (the first page when fewer than `limit` are).
   * A cursor is a record's place, so records archived meanwhile (new ones rank first by time) shift no page
   * as an offset would. Bounded reads: the cursor's rank and `limit` index entries in one script; when its
   * record has gone (erased, or dropped as the oldest), by score, at most {@link TIE_READS} reads.
   */
  async page(options: { order: DeadLetterOrder; limit: number; before?: DeadLetterCursor; after?: DeadLetterCursor }): Promise<DeadLetterPage> {
    const key = options.order === 'impact' ? this.impactKey : this.timeKey;
    const limit = Math.max(1, Math.min(DEAD_LETTER_PAGE_MAX, Math.floor(options.limit)));
    const cursor = options.after ?? options.before;
    const direction = options.after ? 'above' : 'below';
    let flat: string[] | null = null;
    if (!cursor) flat = await this.redis.zrevrange(key, 0, limit - 1, 'WITHSCORES');
    else if (cursor.id !== undefined) {
      const r = this.redis as RedisClient & { pbDeadLetterPage(k: string, id: string, score: number, dir: string, n: number): Promise<string[] | null> };
      flat = await r.pbDeadLetterPage(key, cursor.id, cursor.score, direction, limit);
    }
    const entries = flat ? scoredEntries(flat) : await this.pageByScore(key, cursor as DeadLetterCursor, direction, limit);
    if (entries.length === 0) return { records: [] };
    const first = entries[0];
    const last = entries[entries.length - 1];
    const ranks = (await this.redis.pipeline().zrevrank(key, first.id).zrevrank(key, last.id).zcard(key).exec()) ?? [];
    const [firstRank, lastRank, total] = ranks.map(([err, v]) => (err || v === null ? null : Number(v)));
    return {
      records: await this.getMany(entries.map((e) => e.id)),
      ...(firstRank !== null && firstRank > 0 ? { newer: { score: first.score, id: first.id } } : {}),
      ...(lastRank !== null && total !== null && lastRank < total - 1 ? { older: { score: last.score, id: last.id } } : {}),
    };
  }

  /** A page by score alone: the cursor names no record, or its record has gone. Ties at the cursor's score are placed by id. */
  private async pageByScore(key: string, cursor: DeadLetterCursor, direction: 'above' | 'below', limit: number): Promise<ScoredEntry[]> {
    const { score, id } = cursor;
    if (id === undefined) {
      return direction === 'below'
        ? scoredEntries(await this.redis.zrevrangebyscore(key, `(${score}`, '-inf', 'WITHSCORES', 'LIMIT', 0, limit))
        : this.topIfShort(key, scoredEntries(await this.redis.zrangebyscore(key, `(${score}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit)).reverse(), limit);
    }
    // Those tied with the cursor's score on the wrong side of its id are stepped over, a bounded number of reads.
    const kept = (e: ScoredEntry) =>
      direction === 'below' ? e.score < score || (e.score === score && e.id < id) : e.score > score || (e.score === score && e.id > id);
    const batch = limit + TIE_SLACK;
    const out: ScoredEntry[] = [];
    for (let read = 0; read < TIE_READS && out.length < limit; read += 1) {
      const got = scoredEntries(
        direction === 'below'
          ? await this.redis.zrevrangebyscore(key, score, '-inf', 'WITHSCORES', 'LIMIT', read * batch, batch)
          : await this.redis.zrangebyscore(key, score, '+inf', 'WITHSCORES', 'LIMIT', read * batch, batch),
      );
      out.push(...got.filter(kept));
      if (got.length < batch) break;
    }
    const page = out.slice(0, limit);
    return direction === 'below' ? page : this.topIfShort(key, page.reverse(), limit);
  }

  /** `above` a cursor near the top: the first page rather than a short one. */
  private async topIfShort(key: string, entries: ScoredEntry[], limit: number): Promise<ScoredEntry[]> {
    return entries.length < limit ? scoredEntries(await this.redis.zrevrange(key, 0, limit - 1, 'WITHSCORES')) : entries;
  }

  /** How many records the archive holds. */
  async count(): Promise<number> {
    return this.redis.zcard(this.timeKey);
  }

  /** Counts by category and whether replayed, over the newest `scan` records; sets `pb_dead_letters_archived`. */
  async summary(scan = 5000): Promise<Record<TriageCategory, { open: number; replayed: number }>> {
    const out: Record<TriageCategory, { open: number; replayed: number }> = {
      hard: { open: 0, replayed: 0 },
      config: { open: 0, replayed: 0 },
      outage: { open: 0, replayed: 0 },
      unknown: { open: 0, replayed: 0 },
    };
    const records = await this.getMany(await this.redis.zrevrange(this.timeKey, 0, scan - 1));
    for (const r of records) {
      if (r.replays > 0) out[r.category].replayed += 1;
      else out[r.category].open += 1;
    }
    for (const [category, n] of Object.entries(out)) {
      archivedGauge.set({ category, replayed: 'no' }, n.open);
      archivedGauge.set({ category, replayed: 'yes' }, n.replayed);
    }
    return out;
  }

  /** Notes an executed replay of `id` (count, time, who). */
  async markReplayed(id: string, actor: string, now = Date.now()): Promise<void> {
    await this.redis.multi().hincrby(this.key(id), 'replays', 1).hset(this.key(id), 'last_replay_at', String(now), 'last_replay_by', actor).exec();
  }

  private async getMany(ids: string[]): Promise<DeadLetterRecord[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.key(id));
    const replies = (await pipeline.exec()) ?? [];
    const out: DeadLetterRecord[] = [];
    for (const [err, h] of replies) {
      const hash = h as Record<string, string>;
      if (!err && hash.record) out.push(fromHash(hash));
    }
    return out;
  }
}

function fromHash(h: Record<string, string>): DeadLetterRecord {
  const record = JSON.parse(h.record) as DeadLetterRecord;
  record.replays = Number(h.replays ?? 0);
  if (h.last_replay_at) record.lastReplayAt = Number(h.last_replay_at);
  if (h.last_replay_by) record.lastReplayBy = h.last_replay_by;
  return record;
}

/** The channel's publishes confirmed within `ms`, else DependencyUnavailableError (a nack rejects as amqplib does). */
async function confirmedWithin(channel: ConfirmChannel, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      channel.waitForConfirms(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DependencyUnavailableError('rabbitmq', `no confirm for a parked dead letter within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The key of stand-in ids ({@link standInIdOf}), derived from a bus secret for this one purpose:
 * `HMAC-SHA-256(secret, "payment-bridge dead-letter stand-in v1")`. It stays in the process: never logged, stored or sent.
 */
export function deadLetterStandInKey(busSecret: string): Buffer {
  return purposeKey(busSecret, 'dead-letter stand-in v1');
}

/**
 * The stand-in keys of the bus secrets, as {@link deadLetterStampKeys} orders them: `service_bus.secret`'s first (the
 * one stand-ins are made with), then `secret_previous`'s and `secret_next`'s (only looked up): a stand-in parked before
 * a rotation, or by a process already switched to the next secret, is still found when its dead letter is archived.
 */
export function deadLetterStandInKeys(bus: BusSecrets): Buffer[] {
  return busSecretsInUse(bus).map(deadLetterStandInKey);
}

/**
 * The id of the stand-in record a dead letter gets when it is parked: an HMAC under `key` ({@link deadLetterStandInKeys})
 * of its body and its writer's `x-pb-dead-letter-id`, so parking the same message again (a duplicate, a second failure)
 * is one stand-in, and the id, listed in the archive and the log lines, lets nobody without the key test guesses of
 * what the body holds. Without a key: the unkeyed SHA-256 an earlier release used (only looked up now, see {@link standInIdsOf}).
 */
export function standInIdOf(msg: Pick<GetMessage, 'content' | 'properties'>, key?: Buffer): string {
  const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
  const digest = key ? createHmac('sha256', key) : createHash('sha256');
  return `dl-${digest
    .update(UNARCHIVABLE)
    .update(msg.content)
    .update(typeof headers['x-pb-dead-letter-id'] === 'string' ? headers['x-pb-dead-letter-id'] : '')
    .digest('hex')
    .slice(0, 24)}`;
}

/**
 * The stand-in records a dead letter may have in the archive: the one its parking made of it ({@link standInIdOf}:
 * also when its parking copy failed after the stand-in was written and the message stayed in the queue), under each
 * of `standInKeys` (the current secret's first) and unkeyed as an earlier release made it (during a rolling upgrade,
 * and for the stand-ins it left: the unkeyed id is computed from the message in hand, never stored or shown), and the
 * one its parking copy names (`x-pb-parked-record`: the same, unless its headers were dropped when it was parked).
 * A named one counts only with the stamp its parking made for exactly this body (`x-pb-parked-stamp`, checked
 * with `stampKeys`, the previous and next bus secrets' too; without a key, none counts): anyone who can publish to the dead-letter queue sets headers, and
 * must not remove another message's stand-in by naming it. The own one is a digest of the body, which the
 * archive never shows for a stand-in: only a copy of the parked message itself has it.
 */
export function standInIdsOf(msg: Pick<GetMessage, 'content' | 'properties'>, stampKeys?: StampKeys, standInKeys: readonly Buffer[] = []): string[] {
  const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
  const named = header(headers, 'x-pb-parked-record');
  const own = [...new Set([...standInKeys.map((key) => standInIdOf(msg, key)), standInIdOf(msg)])];
  if (named === undefined || own.includes(named) || !/^dl-[0-9a-f]{24}$/.test(named)) return own;
  return stampKeys && parkedStampHolds(stampKeys, named, header(headers, 'x-pb-parked-stamp'), msg.content) ? [...own, named] : own;
}

/** A header as text (AMQP headers may arrive as strings, buffers or numbers). */
function header(headers: Record<string, unknown>, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined || v === null) return undefined;
  return Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'object' ? undefined : String(v);
}

/**
 * The archive record of one message of the dead-letter queue. Its body is redacted again (every writer
 * redacts, but a record the broker put there itself, from an older deployment, may not be), and what the
 * listing shows (order, command, channel, gateway, amount) is read from it: a canonical command, or a
 * JSON-RPC call from the bus (`params.payment`). Its id is a digest of the body, the reason headers and the time, or,
 * for a dead letter whose `x-pb-dead-letter-id` is derived from its message's identity, that id instead of the time:
 * every dead letter of one message is one record, whichever of its copies' writers published it.
 */
export function recordFromMessage(
  msg: Pick<GetMessage, 'content' | 'properties' | 'fields'>,
  now: number,
  stampKeys?: StampKeys,
  busAmountUnits: 'minor' | 'major' = 'minor',
): DeadLetterRecord {
  const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
  const body = redactBody(msg.content).toString('utf8');
  // Every header is redacted as the body is: our writer redacts them, but anyone who can publish to the
  // queue sets their own, and what is archived is stored in Redis and shown by the console and the CLI.
  const optional = (name: string) => {
    const v = header(headers, name);
    return v === undefined ? undefined : redactText(v);
  };
  const code = optional('x-pb-code') ?? (headers['x-death'] ? 'BROKER_DEAD_LETTERED' : 'UNKNOWN');
  const reason = optional('x-pb-reason') ?? '';
  const at = Date.parse(header(headers, 'x-pb-dead-lettered-at') ?? '');
  const about = describeDeadLetterBody(body, busAmountUnits);
  const deadLetterId = header(headers, 'x-pb-dead-letter-id');
  // A dead letter whose id is derived from its message's identity is that message's one record: two copies its
  // writers both published (past the one-per-message mark, `DeadLetterOnce`: Redis away, a writer stopped before its
  // mark, a claim held past the wait or outlived by its publish, a copy after the mark's 24 h) differ only in their time, so the id
  // stands in for the time and the second is archived as already there. The body and reason stay in the digest: a
  // header is anyone's to set, and one naming another message's id with another body is a record of its own.
  const when = deadLetterId !== undefined && isDerivedDeadLetterId(deadLetterId) ? `once:${deadLetterId}` : (header(headers, 'x-pb-dead-lettered-at') ?? '');
  const id = `dl-${createHash('sha256')
    .update(JSON.stringify([body, code, reason, when, header(headers, 'x-pb-source') ?? '']))
    .digest('hex')
    .slice(0, 24)}`;
  return {
    id,
    ...(deadLetterId !== undefined && UUID_SHAPE.test(deadLetterId) ? { deadLetterId } : {}),
    deadLetteredAt: Number.isFinite(at) ? at : now,
    archivedAt: now,
    code,
    field: optional('x-pb-field') ?? '(root)',
    reason,
    source: optional('x-pb-source') ?? 'broker',
    routingKey: optional('x-pb-routing-key'),
    operationId: optional('x-pb-operation-id') ?? about.operationReference,
    orderId: about.orderId,
    command: about.command,
    channel: about.channel,
    gateway: about.gateway,
    amount: about.amount,
    currency: about.currency,
    replayable: header(headers, 'x-pb-replayable') === 'true',
    // Only a stamp our writer made for exactly this body: a header is anyone's to set.
    authenticatedChannel: stampKeys ? stampedChannel(stampKeys, header(headers, AUTHENTICATED_CHANNEL_HEADER), msg.content) : undefined,
    category: triageCategory(code, reason),
    impact: impactScore(about),
    body,
    replays: 0,
  };
}
