import { RedisClient } from '../redis/redis-connection';
import { SplitTenderPlan, refundReferences, splitIdOfStep, stepReferences } from '../split-tender/split-tender-plan';
import { SplitTenderStore, memberOf, refundParts, refundReferenceHolder, splitReferenceHolder } from '../split-tender/split-tender-store';
import { scrubJsonText, scrubSplitTenderPlan } from './customer-data';
import { shardOfOrder } from '../redis/key-layout';
import { OperationKeys, operationKeysOf } from './key-families';

/**
 * A split tender's own record in the data lifecycle (docs/DATA.md): the `SplitTenderStore` hash (plan,
 * state, digest, each refund's parts, state and command) and the split's and its refunds' entries in the
 * open index. Its steps are operations of the ledger; the record travels with them: every step's export
 * line carries it (`OperationSnapshot.split_tender`), an import writes it back once, an erasure of the
 * order scrubs it, and retention keeps the steps while the split is open and deletes the record with the
 * last of them. The record's key is the store's (its own slot), so these are commands of their own, next
 * to the ledger's atomic steps: each is idempotent, and a crash between leaves a state the next pass ends.
 */
export interface SplitTenderSnapshot {
  id: string;
  /** The record's hash as stored (field → value). */
  hash: Record<string, string>;
  /** Its members of the open index (`s:<id>`, `r:<id>:<refund id>`) and their scores, as Redis prints them. */
  open: Record<string, string>;
}

/**
 * The split an operation is a step of: its payment's `custom_attributes.split_tender_id`, else (an
 * erased record has no custom attributes any more) the root of a step reference (`_<split>.gc`, `<split>.gc`…).
 * May name a split that does not exist (an older refund part `<refund id>.card`): reading it finds nothing.
 */
export function splitTenderIdOf(operationId: string, record: Readonly<Record<string, string>>): string | null {
  try {
    const payment = JSON.parse(record.payment ?? '{}') as { custom_attributes?: { split_tender_id?: unknown } };
    const id = payment.custom_attributes?.split_tender_id;
    if (typeof id === 'string' && id !== '') return id;
  } catch {
    // an unreadable payment: fall back to the reference
  }
  return splitIdOfStep(operationId);
}

/** The refund ids a record's hash holds (`refund:<id>` fields). */
function refundIdsOf(hash: Readonly<Record<string, string>>): string[] {
  return Object.keys(hash)
    .filter((f) => f.startsWith('refund:') && f.indexOf(':', 7) < 0)
    .map((f) => f.slice(7));
}

/** Each refund a record's hash holds, with its amount (minor units: its card and gift card parts). */
function refundsOf(hash: Readonly<Record<string, string>>): Array<{ refundId: string; amount: number }> {
  return refundIdsOf(hash).map((refundId) => {
    const parts = refundParts(hash[`refund:${refundId}`] ?? '');
    return { refundId, amount: parts.card + parts.gift_card };
  });
}

/** The open index members a split may have: the split's own and one per refund. */
function openMembers(id: string, hash: Readonly<Record<string, string>>): string[] {
  return [memberOf({ kind: 'split', id }), ...refundIdsOf(hash).map((refundId) => memberOf({ kind: 'refund', splitId: id, refundId }))];
}

/** Reads the records of `ids` (absent ones are left out): one HGETALL each, then the open index scores. */
export async function readSplitTenders(redis: RedisClient, prefix: string, ids: readonly string[]): Promise<Map<string, SplitTenderSnapshot>> {
  const out = new Map<string, SplitTenderSnapshot>();
  const unique = [...new Set(ids)];
  if (unique.length === 0) return out;
  const store = new SplitTenderStore(redis, prefix);
  const hashes = await Promise.all(unique.map((id) => redis.hgetall(store.key(id))));
  const found = unique.map((id, n) => ({ id, hash: hashes[n] })).filter((r) => r.hash.plan !== undefined);
  if (found.length === 0) return out;
  const members = found.map((r) => openMembers(r.id, r.hash));
  const flat = members.flat();
  const scores = flat.length === 0 ? [] : await redis.zmscore(store.openKey, ...flat);
  let k = 0;
  found.forEach((r, n) => {
    const open: Record<string, string> = {};
    for (const member of members[n]) {
      const score = scores[k++];
      if (score !== null && score !== undefined) open[member] = String(score);
    }
    out.set(r.id, { id: r.id, hash: r.hash, open });
  });
  return out;
}

// Writes the record only where there is none: an import never overwrites a split it finds.
const RESTORE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1`;

/** Writes a split's record back (an import) unless one exists, and its open index entries. True when written. */
export async function restoreSplitTender(redis: RedisClient, prefix: string, snap: SplitTenderSnapshot): Promise<boolean> {
  const store = new SplitTenderStore(redis, prefix);
  const fields = Object.entries(snap.hash).flat();
  if (fields.length === 0) return false;
  const written = (await redis.eval(RESTORE, 1, store.key(snap.id), ...fields)) === 1;
  if (written) {
    const entries = Object.entries(snap.open);
    for (const [member, score] of entries) await redis.zadd(store.openKey, 'NX', score === 'inf' ? '+inf' : score, member);
    // Its refund ids are claimed again, so the same id on another split is still a conflict; its own id and its
    // refund ids as references too, so an ordinary command under one of them is still refused.
    for (const { refundId, amount } of refundsOf(snap.hash)) if (Number.isSafeInteger(amount)) await store.claimRefundId(snap.id, refundId, amount);
    await store.claimReference(snap.id, splitReferenceHolder(snap.id));
    for (const refundId of refundIdsOf(snap.hash)) await store.claimReference(refundId, refundReferenceHolder(snap.id));
  }
  return written;
}

/**
 * The splits retention is retiring (`P split-tender:retiring`, a sorted set of split ids scored by when a pass
 * looks at each again): a split enters before any of its steps is expired and leaves once its record is gone.
 * A crash or a fault between the expiry of its last step and the deletion of its record (or between that
 * deletion's writes) then leaves the split here for the next pass (`RetentionSweep`), where otherwise no
 * step would be left to bring a pass back to it: its record, customer data included, would outlive retention.
 */
export function retiringSplitsKey(prefix: string): string {
  return `${prefix}split-tender:retiring`;
}

/** Marks split `id` as being retired (first time only: an earlier mark's time stands). */
export async function markSplitTenderRetiring(redis: RedisClient, prefix: string, id: string, now: number): Promise<void> {
  await redis.zadd(retiringSplitsKey(prefix), 'NX', now, id);
}

/** The shard of the order a split's plan names (where its steps live), else every shard (a plan that does not decode). */
function stepShards(prefix: string, hash: Readonly<Record<string, string>>): OperationKeys[] {
  const all = operationKeysOf(prefix);
  try {
    const order = (JSON.parse(hash.plan ?? '{}') as Partial<SplitTenderPlan>).order_id;
    if (typeof order === 'string' && order !== '') return [all[shardOfOrder(order)]];
  } catch {
    // an unreadable plan: every shard is asked
  }
  return all;
}

/**
 * Deletes a split's record (retention, after expiring one of its steps) once it is not open and none of
 * its steps, nor any of its refunds' parts, is left in the ledger (in `shards`, default the shard of the
 * order its plan names, where they live), then takes it off the retiring set. Its claims
 * are released before the record goes: each release is idempotent (only the split's own claim is freed),
 * so a pass that finds the record again releases again and deletes it. `'deleted'`, `'gone'` (no record:
 * taken off the set) or `'used'` (kept).
 */
export async function dropSplitTenderIfUnused(
  redis: RedisClient,
  prefix: string,
  id: string,
  shards?: readonly OperationKeys[],
): Promise<'deleted' | 'gone' | 'used'> {
  const [snap] = (await readSplitTenders(redis, prefix, [id])).values();
  if (!snap) {
    await redis.zrem(retiringSplitsKey(prefix), id);
    return 'gone';
  }
  if (Object.keys(snap.open).length > 0) return 'used';
  // Both namings (`StepIds`): reading the plan to know which would fail for a plan that no longer decodes.
  const steps = [
    ...(['namespaced', undefined] as const).flatMap((stepIds) => Object.values(stepReferences({ id, step_ids: stepIds }))),
    ...refundIdsOf(snap.hash).flatMap((refundId) =>
      (['namespaced', undefined] as const).flatMap((stepIds) => Object.values(refundReferences({ refundId, stepIds }))),
    ),
  ];
  const left = await Promise.all((shards ?? stepShards(prefix, snap.hash)).flatMap((keys) => steps.map((step) => redis.exists(keys.op(step)))));
  if (left.some((n) => n > 0)) return 'used';
  const store = new SplitTenderStore(redis, prefix);
  // Its refund ids are free again, and its own id and its refund ids as references, as an expired operation's id is.
  for (const { refundId, amount } of refundsOf(snap.hash)) if (Number.isSafeInteger(amount)) await store.releaseRefundId(id, refundId, amount);
  await store.releaseReference(id, splitReferenceHolder(id));
  for (const refundId of refundIdsOf(snap.hash)) await store.releaseReference(refundId, refundReferenceHolder(id));
  await redis.del(store.key(id));
  await redis.zrem(retiringSplitsKey(prefix), id);
  return 'deleted';
}

// Replaces each named field only if it still holds what was read (a concurrent write wins; a repeat finds nothing to do).
const SCRUB = `
local changed = 0
for i = 1, #ARGV - 1, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    changed = changed + 1
  end
end
if changed > 0 then redis.call('HSET', KEYS[1], 'erased_at', ARGV[#ARGV]) end
return changed`;

/**
 * Scrubs a split's record of customer data (erasure of its order): the plan keeps its ids, gateways,
 * tokens and amounts (`scrubSplitTenderPlan`), each refund's command is scrubbed as a stored command is.
 * True when something changed (false on a repeat).
 */
export async function eraseSplitTender(redis: RedisClient, prefix: string, id: string, now = Date.now()): Promise<boolean> {
  const [snap] = (await readSplitTenders(redis, prefix, [id])).values();
  if (!snap) return false;
  const patch: string[] = [];
  try {
    const plan = JSON.stringify(scrubSplitTenderPlan(JSON.parse(snap.hash.plan) as SplitTenderPlan));
    if (plan !== snap.hash.plan) patch.push('plan', snap.hash.plan, plan);
  } catch {
    patch.push('plan', snap.hash.plan, JSON.stringify('[erased]'));
  }
  for (const refundId of refundIdsOf(snap.hash)) {
    const field = `refund:${refundId}:command`;
    const stored = snap.hash[field];
    if (stored === undefined) continue;
    const scrubbed = scrubJsonText(stored);
    if (scrubbed !== stored) patch.push(field, stored, scrubbed);
  }
  if (patch.length === 0) return false;
  const store = new SplitTenderStore(redis, prefix);
  return ((await redis.eval(SCRUB, 1, store.key(id), ...patch, String(now))) as number) > 0;
}
