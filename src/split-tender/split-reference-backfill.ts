import { walkCreatedSince } from '../ledger/id-claim-backfill';
import { ID_CLAIM_TTL_S, operationShardOfClaim } from '../ledger/ledger';
import { counter } from '../metrics/metrics-registry';
import { ALL_SHARDS, shardKeysOf } from '../redis/key-layout';
import { RedisClient } from '../redis/redis-connection';
import { refundIdOfPart, splitIdOfStep } from './split-tender-plan';
import { OpenMember, SplitTenderStore, parseMember, refundReferenceHolder, splitReferenceHolder } from './split-tender-store';

const backfilled = counter(
  'pb_split_reference_claims_backfilled_total',
  "Split tenders and split refunds of the last 90 days whose id claim among the ledger's id claims the one-off backfill looked at, by kind (split, refund) and outcome: claimed (it had none), present (a split tender's record holds it), operation (an ordinary operation holds it: one reference used twice before these claims)",
  ['kind', 'outcome'],
);

/** What one backfill did. */
export interface SplitReferenceBackfill {
  /** True when an earlier run had finished it (nothing was looked at). */
  alreadyDone: boolean;
  claimed: number;
  present: number;
  /** Split and refund ids an operation's claim holds (its shard: `holder`). First 20 only. */
  operations: Array<{ kind: 'split' | 'refund'; id: string; holder: string }>;
  operationCount: number;
}

/** The key marking the backfill done (a string: when it finished, epoch ms). */
export function splitReferenceBackfillMarker(prefix: string): string {
  return `${prefix}migrations:split-reference-claims`;
}

/** Operations read per page of a shard's created index. */
const DEFAULT_BATCH = 500;

/**
 * Gives the splits and split refunds recorded before they claimed their ids among the ledger's id claims
 * (`SplitTenderStore.claimReference`) that claim, once, so an ordinary command under one of their references is
 * refused as for newer ones. They are found through their steps and parts in each shard's created index of the
 * last {@link ID_CLAIM_TTL_S} seconds (`_<id>.gc`, `_<refund id>.refund-card`… and the older namings) and the
 * open index (one whose first step is not created yet), never by a scan of the keyspace. A split's claim
 * expires when one made at its start would have; a refund's with its refund id claim
 * (`<prefix>split-refund:{<refund id>}`), which also names its split: a refund without one (older than a claim
 * lives) is left.
 *
 * An id an operation already claims (one reference used for a split and an ordinary operation, from before these
 * claims) is left as it is, counted and returned. Idempotent (a claim is only set where there is none); the
 * marker ({@link splitReferenceBackfillMarker}) is written last, so a run cut short runs again whole at the next
 * start.
 */
export async function backfillSplitReferenceClaims(
  redis: RedisClient,
  prefix: string,
  now = Date.now(),
  batch = DEFAULT_BATCH,
): Promise<SplitReferenceBackfill> {
  const marker = splitReferenceBackfillMarker(prefix);
  const report: SplitReferenceBackfill = { alreadyDone: false, claimed: 0, present: 0, operations: [], operationCount: 0 };
  if ((await redis.exists(marker)) === 1) return { ...report, alreadyDone: true };
  const store = new SplitTenderStore(redis, prefix);
  const since = now - ID_CLAIM_TTL_S * 1000;
  const seen = { split: new Set<string>(), refund: new Set<string>() };

  const counted = (kind: 'split' | 'refund', id: string, held: string): void => {
    const outcome = held === '' ? 'claimed' : operationShardOfClaim(held) === null ? 'present' : 'operation';
    backfilled.inc({ kind, outcome });
    if (outcome === 'claimed') report.claimed += 1;
    else if (outcome === 'present') report.present += 1;
    else {
      report.operationCount += 1;
      if (report.operations.length < 20) report.operations.push({ kind, id, holder: held });
    }
  };
  const claimSplit = async (id: string): Promise<void> => {
    const createdAt = await redis.hget(store.key(id), 'created_at');
    // No record: an operation named like a step (`<id>.gc` of an ordinary command), not a split's.
    if (createdAt === null) return;
    const ttl = Math.ceil((Number(createdAt) - since) / 1000);
    if (!(ttl > 0)) return;
    counted('split', id, await store.claimReference(id, splitReferenceHolder(id), ttl));
  };
  const claimRefund = async (id: string): Promise<void> => {
    const key = store.refundClaimKey(id);
    const [refunds, ttlMs] = await Promise.all([redis.get(key), redis.pttl(key)]);
    // Its refund id claim names the split it refunds (`<split id>:<amount>`) and says how long it lives.
    if (refunds === null || ttlMs <= 0 || refunds.lastIndexOf(':') <= 0) return;
    const holder = refundReferenceHolder(refunds.slice(0, refunds.lastIndexOf(':')));
    counted('refund', id, await store.claimReference(id, holder, Math.ceil(ttlMs / 1000)));
  };
  // Each id once per run (a split has several steps, a refund two parts), the page's ids in parallel.
  const claimEach = async (splits: readonly string[], refunds: readonly string[]): Promise<void> => {
    const newSplits = [...new Set(splits)].filter((id) => !seen.split.has(id));
    const newRefunds = [...new Set(refunds)].filter((id) => !seen.refund.has(id));
    for (const id of newSplits) seen.split.add(id);
    for (const id of newRefunds) seen.refund.add(id);
    await Promise.all([...newSplits.map(claimSplit), ...newRefunds.map(claimRefund)]);
  };

  const shards = shardKeysOf(prefix);
  for (const shard of ALL_SHARDS) {
    await walkCreatedSince(redis, shards[shard], since, batch, async (page) => {
      const ids = page.map((p) => p.id);
      await claimEach(
        ids.map(splitIdOfStep).filter((id): id is string => id !== null),
        ids.map(refundIdOfPart).filter((id): id is string => id !== null),
      );
    });
  }
  const open = (await redis.zrange(store.openKey, 0, -1)).map(parseMember).filter((m): m is OpenMember => m !== null);
  await claimEach(
    open.map((m) => (m.kind === 'split' ? m.id : m.splitId)),
    open.flatMap((m) => (m.kind === 'refund' ? [m.refundId] : [])),
  );
  await redis.set(marker, String(now));
  return report;
}
