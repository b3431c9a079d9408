import { counter } from '../metrics/metrics-registry';
import { ShardKeys, shardBase, shardKeysOf, splitRefundClaimKey } from '../redis/key-layout';
import { globLiteral, scanKeys } from '../redis/key-scan';
import { RedisClient } from '../redis/redis-connection';
import { ID_CLAIM_TTL_S, REFERENCE_TTL_S } from './ledger';

/** What the keys of every {@link KeyLifetimeUpgrade} lived before it, seconds (90 days). */
const EARLIER_TTL_S = 90 * 86_400;

const extended = counter(
  'pb_key_lifetimes_extended_total',
  'Keys a one-off upgrade gave the lifetime of the record they name (they were set to lapse after 90 days), by family: reference (PSP reference index entries), id_claim (operation, split tender and split refund id claims)',
  ['family'],
);

/**
 * A family of expiring keys that an earlier release set to lapse after 90 days and that now live as long as the
 * record they name, with how the one-off upgrade finds them.
 */
export interface KeyLifetimeUpgrade {
  /** The metric's `family` label. */
  family: 'reference' | 'id_claim';
  /** The marker's name: `<prefix>migrations:<marker>` says the upgrade is done. */
  marker: string;
  /** What an operator reads in the upgrade's log line. */
  description: string;
  /** What each lives now, seconds. */
  ttlS: number;
  /** SCAN MATCH patterns under `prefix` that find the family's keys (and possibly others, which `isMember` drops). */
  patterns(prefix: string): string[];
  /** Whether a key a pattern found is one of the family's. */
  isMember(prefix: string): (key: string) => boolean;
}

/**
 * The pattern and the membership test of a per-shard key family (`keyOf(keys, '')` is the family's start in a
 * shard). The pattern's `*` in the shard tag also matches an operation whose own id holds the family's name
 * (`{s:3}:op:abc:ref:x`), so each key is checked to start with the family's start in a real shard.
 */
function shardFamily(keyOf: (keys: ShardKeys, rest: string) => string): Pick<KeyLifetimeUpgrade, 'patterns' | 'isMember'> {
  const segment = (prefix: string): string => keyOf(shardKeysOf(prefix)[0], '').slice(shardBase(prefix, 0).length);
  return {
    patterns: (prefix) => [`${globLiteral(prefix)}{s:*}:${globLiteral(segment(prefix))}*`],
    isMember: (prefix) => {
      const starts = new Set(shardKeysOf(prefix).map((keys) => keyOf(keys, '')));
      const marker = `}:${segment(prefix)}`;
      return (key) => {
        const end = key.indexOf(marker);
        return end > 0 && starts.has(key.slice(0, end + marker.length));
      };
    },
  };
}

/** The PSP reference index (`S ref:<gateway>:<reference>`): a dispute names its payment by PSP reference alone. */
export const REFERENCE_LIFETIME: KeyLifetimeUpgrade = {
  family: 'reference',
  marker: 'reference-ttl',
  description: 'PSP reference index entries',
  ttlS: REFERENCE_TTL_S,
  ...shardFamily((keys, rest) => keys.reference(rest)),
};

const shardClaims = shardFamily((keys, rest) => keys.idClaim(rest));

/** What a split refund id's claim key holds before and after the refund id. */
function refundClaimEnds(prefix: string): [string, string] {
  const [head, tail] = splitRefundClaimKey(prefix, '\0').split('\0');
  return [head, tail];
}

/**
 * The id claims: an operation's, a split tender's and a split refund's (`S claim:<id>`), and a split refund id's
 * (`splitRefundClaimKey`): while one lives, a second payment or
 * refund under its id is refused.
 */
export const ID_CLAIM_LIFETIME: KeyLifetimeUpgrade = {
  family: 'id_claim',
  marker: 'id-claim-ttl',
  description: 'operation, split tender and split refund id claims',
  ttlS: ID_CLAIM_TTL_S,
  patterns: (prefix) => {
    const [head, tail] = refundClaimEnds(prefix);
    return [...shardClaims.patterns(prefix), `${globLiteral(head)}*${globLiteral(tail)}`];
  },
  isMember: (prefix) => {
    const claim = shardClaims.isMember(prefix);
    const [head, tail] = refundClaimEnds(prefix);
    return (key) => claim(key) || (key.startsWith(head) && key.endsWith(tail));
  },
};

/** Every family, in the order the poller runs them: before the claim backfills, whose claims already get the new lifetime. */
export const KEY_LIFETIME_UPGRADES: readonly KeyLifetimeUpgrade[] = [ID_CLAIM_LIFETIME, REFERENCE_LIFETIME];

/** The key marking `upgrade` done (a string: when it finished, epoch ms). */
export function keyLifetimeUpgradeMarker(prefix: string, upgrade: KeyLifetimeUpgrade): string {
  return `${prefix}migrations:${upgrade.marker}`;
}

/**
 * Gives the keys of `upgrade`'s family set before this release (90 days) the lifetime they get now, counted
 * from when each was set, once: one SCAN of the keyspace. Only keys that still expire within 90 days are touched,
 * and each keeps its age: it expires when one set at the same moment under this release would, so where two
 * shards' keys name one thing, the one set last still has the most time left (`Ledger.findByReference`). The
 * marker ({@link keyLifetimeUpgradeMarker}) is written last, so a run cut short runs again whole at the next
 * start. Run it before a backfill that sets this family's keys with the new lifetime: a backfilled key of an old
 * record may legitimately lapse within 90 days.
 */
export async function extendKeyLifetimes(
  redis: RedisClient,
  prefix: string,
  upgrade: KeyLifetimeUpgrade,
  now = Date.now(),
): Promise<{ alreadyDone: boolean; extended: number }> {
  const marker = keyLifetimeUpgradeMarker(prefix, upgrade);
  if ((await redis.exists(marker)) === 1) return { alreadyDone: true, extended: 0 };
  const isMember = upgrade.isMember(prefix);
  let count = 0;
  for (const pattern of upgrade.patterns(prefix)) {
    await scanKeys(redis, pattern, async (found, node) => {
      const keys = found.filter(isMember);
      const ttls = await Promise.all(keys.map((key) => node.ttl(key)));
      const due = keys.flatMap((key, i) => (ttls[i] > 0 && ttls[i] <= EARLIER_TTL_S ? [{ key, ttl: ttls[i] }] : []));
      const done = await Promise.all(due.map(({ key, ttl }) => node.expire(key, ttl + upgrade.ttlS - EARLIER_TTL_S)));
      const n = done.filter((r) => r === 1).length;
      count += n;
      extended.inc({ family: upgrade.family }, n);
    });
  }
  await redis.set(marker, String(now));
  return { alreadyDone: false, extended: count };
}
