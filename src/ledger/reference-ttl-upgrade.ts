import { counter } from '../metrics/metrics-registry';
import { shardKeysOf } from '../redis/key-layout';
import { scanKeys } from '../redis/key-scan';
import { RedisClient } from '../redis/redis-connection';
import { REFERENCE_TTL_S } from './ledger';

/** What PSP reference index entries lived before {@link REFERENCE_TTL_S}, seconds (90 days). */
const EARLIER_REFERENCE_TTL_S = 90 * 86_400;

const extended = counter(
  'pb_reference_ttls_extended_total',
  'PSP reference index entries the one-off upgrade gave the lifetime of their record (they were set to lapse after 90 days)',
);

/** The key marking the upgrade done (a string: when it finished, epoch ms). */
export function referenceTtlUpgradeMarker(prefix: string): string {
  return `${prefix}migrations:reference-ttl`;
}

/** `text` as a literal in a SCAN MATCH pattern. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * Gives the PSP reference index entries set before this release (`S ref:<gateway>:<reference>`, 90 days) the
 * lifetime entries get now ({@link REFERENCE_TTL_S}, counted from when each was set), once. Without it, a dispute or another late fact naming
 * a payment of the 90 days before the upgrade by its PSP reference would find no payment once the entry
 * lapsed, as before. Only entries that still expire within 90 days are touched; the marker
 * ({@link referenceTtlUpgradeMarker}) is written last, so a run cut short runs again whole at the next start.
 * Only keys that are a shard's reference entries are touched (an operation whose id holds `:ref:` is not).
 */
export async function extendReferenceTtls(redis: RedisClient, prefix: string, now = Date.now()): Promise<{ alreadyDone: boolean; extended: number }> {
  const marker = referenceTtlUpgradeMarker(prefix);
  if ((await redis.exists(marker)) === 1) return { alreadyDone: true, extended: 0 };
  let count = 0;
  // One walk of the keyspace; the pattern's `*` in the shard tag also matches an operation whose own id holds
  // `:ref:` (`{s:3}:op:abc:ref:x`), so each key is then checked to be a reference entry of a real shard.
  const bases = new Set(shardKeysOf(prefix).map((keys) => keys.reference('')));
  const isReference = (key: string): boolean => {
    const end = key.indexOf('}:ref:');
    return end > 0 && bases.has(key.slice(0, end + 6));
  };
  await scanKeys(redis, `${globLiteral(prefix)}{s:*}:ref:*`, async (found, node) => {
    const keys = found.filter(isReference);
    const ttls = await Promise.all(keys.map((key) => node.ttl(key)));
    const due = keys.flatMap((key, i) => (ttls[i] > 0 && ttls[i] <= EARLIER_REFERENCE_TTL_S ? [{ key, ttl: ttls[i] }] : []));
    // Each keeps its age: it expires when one set at the same moment under this release would. Where two
    // shards' entries name one reference, the one set last is the one with the most time left
    // (`Ledger.findByReference`), and that order must hold across the upgrade.
    const done = await Promise.all(due.map(({ key, ttl }) => node.expire(key, ttl + REFERENCE_TTL_S - EARLIER_REFERENCE_TTL_S)));
    const n = done.filter((r) => r === 1).length;
    count += n;
    extended.inc(n);
  });
  await redis.set(marker, String(now));
  return { alreadyDone: false, extended: count };
}
