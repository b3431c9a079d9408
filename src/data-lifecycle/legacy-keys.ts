import { impactIndexKeys } from '../amqp/dead-letter-triage';
import { counter } from '../metrics/metrics-registry';
import { deadLetterArchiveKeys } from '../ops/dead-letter-store';
import { RecurringStore, recurringKeys } from '../recurring/recurring-store';
import { RedisClient } from '../redis/redis-connection';

/**
 * Keys renamed for Redis Cluster (hash tags, so the scripts, transactions and pipelines over them are
 * single-slot), and the move of data written under their old names by an earlier release on the same
 * Redis. Each family is found through its old index (no SCAN of the keyspace): its members' keys first,
 * the index itself last, so a move cut short is finished by the next one.
 *
 * A key is moved whole (DUMP, RESTORE with its TTL, UNLINK) when the new name is free; when the new name
 * already holds data (a process of the new release wrote there first) the old content is merged in, the
 * new content winning (hash fields HSETNX, sorted set members ZADD NX, set members SADD, a string SET NX),
 * then the old key is removed. Idempotent: with nothing under the old names it costs one EXISTS per index.
 */

/** One family: its old index (a sorted set of member ids), and the old and new name of each key. */
interface LegacyFamily {
  name: string;
  /** The old index key, whose members name the member keys; `null` for families of fixed keys only. */
  oldIndex: string | null;
  /** Old → new key of a member id (absent: the index lists no keys of its own). */
  member?: (id: string) => [string, string];
  /** Fixed keys (indexes), old → new, moved after the members. */
  fixed: Array<[string, string]>;
  /**
   * Writes what the new release derives from a member (the recurring order index an erasure finds schedules by: a
   * moved schedule keeps its old creation score, before the mark of a catch-up that ran meanwhile, which never walks
   * back to it). Called for every member the old index lists, moved now or by an earlier move cut short (the old
   * index goes last, so a crash anywhere before it calls this again for every member); idempotent.
   */
  derive?: (redis: RedisClient, id: string) => Promise<void>;
}

/** The families renamed for Redis Cluster, under `prefix` (docs/DATA.md lists them). */
export function legacyKeyFamilies(prefix: string): LegacyFamily[] {
  const archive = deadLetterArchiveKeys(prefix);
  const triage = impactIndexKeys(prefix);
  const recurring = recurringKeys(prefix);
  return [
    {
      name: 'dead_letter_archive',
      oldIndex: `${prefix}dls:time`,
      member: (id) => [`${prefix}dl:${id}`, archive.record(id)],
      fixed: [
        [`${prefix}dls:impact`, archive.impact],
        [`${prefix}dls:time`, archive.time],
      ],
    },
    {
      name: 'dead_letter_triage',
      oldIndex: null,
      fixed: [
        [`${prefix}dead-letters:summary`, triage.summaries],
        [`${prefix}dead-letters:impact`, triage.byImpact],
      ],
    },
    {
      name: 'recurring',
      oldIndex: `${prefix}recurring:schedules`,
      member: (id) => [`${prefix}recurring:schedule:${id}`, recurring.schedule(id)],
      fixed: [
        [`${prefix}recurring:due`, recurring.due],
        [`${prefix}recurring:schedules`, recurring.all],
      ],
      derive: (redis, id) => new RecurringStore(redis, prefix).indexOrderOf(id),
    },
  ];
}

const moved = counter('pb_legacy_keys_moved_total', 'Redis keys moved from their names before the Redis Cluster layout, by family', ['family']);

/** Members read from an old index per round. */
const PAGE = 500;

/**
 * Moves every key of `prefix` still under its old name (see the module's comment).
 * @returns keys moved, by family (zero everywhere when there was nothing to move).
 */
export async function moveLegacyKeys(redis: RedisClient, prefix: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const family of legacyKeyFamilies(prefix)) {
    let n = 0;
    if (family.oldIndex !== null && family.member && (await redis.exists(family.oldIndex)) === 1) {
      // Members are moved, not removed from the old index, so page by position over a stable index.
      for (let start = 0; ; start += PAGE) {
        const ids = await redis.zrange(family.oldIndex, start, start + PAGE - 1);
        for (const id of ids) {
          const [from, to] = family.member(id);
          if (await moveKey(redis, from, to)) n += 1;
          if (family.derive) await family.derive(redis, id);
        }
        if (ids.length < PAGE) break;
      }
    }
    for (const [from, to] of family.fixed) if (await moveKey(redis, from, to)) n += 1;
    if (n > 0) moved.inc({ family: family.name }, n);
    out[family.name] = n;
  }
  return out;
}

/** Moves one key (false: nothing under the old name). Separate commands: the two names may be in different slots. */
async function moveKey(redis: RedisClient, from: string, to: string): Promise<boolean> {
  const type = await redis.type(from);
  if (type === 'none') return false;
  if ((await redis.exists(to)) === 0) {
    const [dump, ttl] = await Promise.all([redis.dumpBuffer(from), redis.pttl(from)]);
    if (dump === null) return false;
    try {
      await redis.restore(to, ttl > 0 ? ttl : 0, dump);
      await redis.unlink(from);
      return true;
    } catch (err) {
      // Written under the new name meanwhile: merge below.
      if (!(err instanceof Error) || !err.message.startsWith('BUSYKEY')) throw err;
    }
  }
  switch (type) {
    case 'hash': {
      const fields = await redis.hgetall(from);
      for (const [field, value] of Object.entries(fields)) await redis.hsetnx(to, field, value);
      break;
    }
    case 'zset': {
      const flat = await redis.zrange(from, 0, -1, 'WITHSCORES');
      for (let i = 0; i + 1 < flat.length; i += 2 * PAGE) {
        const pairs: string[] = [];
        for (let j = i; j + 1 < Math.min(flat.length, i + 2 * PAGE); j += 2) pairs.push(flat[j + 1], flat[j]);
        await redis.zadd(to, 'NX', ...pairs);
      }
      break;
    }
    case 'set': {
      const members = await redis.smembers(from);
      if (members.length > 0) await redis.sadd(to, ...members);
      break;
    }
    case 'string': {
      const value = await redis.get(from);
      if (value !== null) await redis.set(to, value, 'NX');
      break;
    }
    default:
      // No family above keeps another type; leave it for an operator rather than lose it.
      return false;
  }
  await redis.unlink(from);
  return true;
}
