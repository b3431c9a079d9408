import { ID_CLAIM_TTL_S, operationShardOfClaim } from '../ledger/ledger';
import { CLAIM_KEY_SCRIPT, RELEASE_KEY_SCRIPT } from '../redis/key-claim';
import { idClaimKeyOf, splitRefundClaimKey } from '../redis/key-layout';
import { RedisClient } from '../redis/redis-connection';
import { RefundOrder, SplitRefundState, SplitTenderState } from './split-tender-decision';
import { SplitTenderPlan, StepIds, TenderPart } from './split-tender-plan';

/**
 * The split tender's durable state in Redis. One hash per split, `<prefix>split:{<id>}` (one hash slot: every
 * script here touches that one key), holding the plan, the state, what its refunds have taken per tender
 * and each refund's parts and state (`refund:<refund id>…` fields, so reserving a refund's parts and
 * recording it is one atomic step). The open index `<prefix>split-tender:open` (a sorted set scored by the
 * time a member is due) names every split and refund not yet settled and reported: `s:<id>` or
 * `r:<split id>:<refund id>` (ids are in the reference alphabet, never holding `:`). The worker's sweep
 * advances what is due, so a split a crashed worker left half done is resumed by the next one.
 *
 * A split's id and each of its refunds' ids are also claimed in the ledger's id claims (`ShardKeys.idClaim`,
 * holders {@link splitReferenceHolder}, {@link refundReferenceHolder}), where the ledger's creation of an
 * ordinary operation already looks (`Ledger.create`): an ordinary command under a split's or refund's reference
 * is refused there as an idempotency conflict, at no cost to the commands that take no such reference.
 */

/** The split hash's field holding how a tender's reversal was decided (`reversal`: the gift card's, as first stored). */
function reversalField(tender: TenderPart): string {
  return tender === 'gift_card' ? 'reversal' : 'card_reversal';
}

/** A split refund as stored: its parts (minor units), its state, and the refund command's JSON. */
export interface StoredRefund {
  refundId: string;
  card: number;
  gift_card: number;
  order: RefundOrder;
  state: SplitRefundState;
  /** The refund command as accepted (JSON), for its events. */
  command: string;
  /** How its parts are named (`refundReferences`): `namespaced` for every refund begun since; absent on older ones. */
  stepIds?: StepIds;
}

/** Why a refund could not be recorded against its split. */
export type RefundRefusal = 'split_tender_not_found' | 'split_tender_not_settled' | 'amount_exceeds_refundable';

const BEGIN = `
if redis.call('HEXISTS', KEYS[1], 'plan') == 1 then
  return {0, redis.call('HGET', KEYS[1], 'digest') or '', redis.call('HGET', KEYS[1], 'state') or 'REDEEMING'}
end
redis.call('HSET', KEYS[1], 'plan', ARGV[1], 'digest', ARGV[2], 'state', 'REDEEMING', 'created_at', ARGV[3], 'updated_at', ARGV[3])
return {1, ARGV[2], 'REDEEMING'}`;

const MOVE = `
if (redis.call('HGET', KEYS[1], 'state') or 'REDEEMING') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updated_at', ARGV[3])
return 1`;

// Replaces a tender's reversal decision ARGV[2] by ARGV[3] only while it is ARGV[2] (field ARGV[1]) and the split is
// rolling back (one ended meanwhile sends nothing more): one re-decision.
const REDECIDE_REVERSAL = `
if redis.call('HGET', KEYS[1], 'state') ~= 'ROLLING_BACK' then return 0 end
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

// Reserves a refund's parts against what each tender has left, and records the refund, in one step: a
// redelivered refund command finds its record and reserves nothing twice.
const BEGIN_REFUND = `
local f = 'refund:' .. ARGV[1]
if redis.call('HEXISTS', KEYS[1], f) == 1 then
  local held = redis.call('HGET', KEYS[1], f)
  local card, gc = string.match(held, '^(%d+),(%d+),')
  if tonumber(card) + tonumber(gc) ~= tonumber(ARGV[2]) then return {'conflict', held} end
  return {'exists', held}
end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'split_tender_not_found', ''} end
if state ~= 'DONE' then return {'split_tender_not_settled', state} end
-- Never below 0: a cap lowered since (a part the PSP confirmed for less than planned) may be under what was reserved.
local cardLeft = math.max(0, tonumber(ARGV[3]) - tonumber(redis.call('HGET', KEYS[1], 'refunded_card') or '0'))
local gcLeft = math.max(0, tonumber(ARGV[4]) - tonumber(redis.call('HGET', KEYS[1], 'refunded_gift_card') or '0'))
local amount = tonumber(ARGV[2])
if amount > cardLeft + gcLeft then return {'amount_exceeds_refundable', string.format('%d', cardLeft + gcLeft)} end
local card, gc
if ARGV[5] == 'card_first' then
  card = math.min(amount, cardLeft); gc = amount - card
else
  gc = math.min(amount, gcLeft); card = amount - gc
end
redis.call('HINCRBY', KEYS[1], 'refunded_card', card)
redis.call('HINCRBY', KEYS[1], 'refunded_gift_card', gc)
local record = string.format('%d', card) .. ',' .. string.format('%d', gc) .. ',' .. ARGV[5]
redis.call('HSET', KEYS[1], f, record, f .. ':state', 'REFUNDING', f .. ':command', ARGV[6], f .. ':step_ids', ARGV[7])
return {'created', record}`;

// A refund that failed gives back what its unrefunded parts had reserved, once (only from REFUNDING).
const FINISH_REFUND = `
local f = 'refund:' .. ARGV[1]
if redis.call('HGET', KEYS[1], f .. ':state') ~= 'REFUNDING' then return 0 end
redis.call('HSET', KEYS[1], f .. ':state', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('HINCRBY', KEYS[1], 'refunded_card', -tonumber(ARGV[3])) end
if tonumber(ARGV[4]) > 0 then redis.call('HINCRBY', KEYS[1], 'refunded_gift_card', -tonumber(ARGV[4])) end
return 1`;

/** A refund's record (`refund:<id>` field, `<card>,<gift card>,<order>`): its parts, minor units, and their order. */
export function refundParts(record: string): { card: number; gift_card: number; order: RefundOrder } {
  const [card, gift, order] = record.split(',');
  return { card: Number(card), gift_card: Number(gift), order: order === 'gift_card_first' ? 'gift_card_first' : 'card_first' };
}

/** What a refund id's claim holds: the split and the amount (minor units) the refund takes. */
function refundClaimOf(splitId: string, amount: number): string {
  return `${splitId}:${amount}`;
}

/** The holder of a split's own id in the ledger's id claims: the split's record. */
export function splitReferenceHolder(splitId: string): string {
  return `split:${splitId}`;
}

/** The holder of a split refund's id in the ledger's id claims: the record of the split it refunds. */
export function refundReferenceHolder(splitId: string): string {
  return `split-refund:${splitId}`;
}

/** What a split's or a split refund's claim on an id says, for an operator: `split tender <id>`, `split refund of <split id>`. */
export function describeReferenceHolder(holder: string): string {
  if (holder.startsWith('split:')) return `split tender ${holder.slice('split:'.length)}`;
  if (holder.startsWith('split-refund:')) return `split refund of ${holder.slice('split-refund:'.length)}`;
  return holder;
}

/** How a refund recorded now names its parts (one recorded before keeps its own: `StepIds`). */
const NEW_STEP_IDS: StepIds = 'namespaced';

// Counts one more fault of a member in its split's hash (never creating a hash: -1 when the split is gone).
const FAULT = `
if redis.call('HEXISTS', KEYS[1], 'plan') == 0 then return -1 end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4], ARGV[3], ARGV[5])
return n`;

/** Score of a parked member in the open index: still open (retention keeps its steps), never due. */
const PARKED = '+inf';

/** A member of the open index: a split, or a refund of one. */
export type OpenMember = { kind: 'split'; id: string } | { kind: 'refund'; splitId: string; refundId: string };

/** The open index member of a split (`s:<id>`) or refund (`r:<split id>:<refund id>`). */
export function memberOf(m: OpenMember): string {
  return m.kind === 'split' ? `s:${m.id}` : `r:${m.splitId}:${m.refundId}`;
}

/** The split a member is, or belongs to. */
export function splitIdOf(member: OpenMember): string {
  return member.kind === 'split' ? member.id : member.splitId;
}

/** The split or refund an open index member names; null for anything else. */
export function parseMember(raw: string): OpenMember | null {
  const parts = raw.split(':');
  if (parts[0] === 's' && parts.length === 2 && parts[1]) return { kind: 'split', id: parts[1] };
  if (parts[0] === 'r' && parts.length === 3 && parts[1] && parts[2]) return { kind: 'refund', splitId: parts[1], refundId: parts[2] };
  return null;
}

/** The hash fields of a member's faults: the split's own, or its refund's (`refund:<id>:…`, never a refund id field). */
function faultFields(member: OpenMember): { faults: string; faultClass: string; faultAt: string; parkedAt: string } {
  const p = member.kind === 'split' ? '' : `refund:${member.refundId}:`;
  return { faults: `${p}faults`, faultClass: `${p}fault_class`, faultAt: `${p}fault_at`, parkedAt: `${p}parked_at` };
}

export class SplitTenderStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyPrefix: string,
  ) {}

  key(id: string): string {
    return `${this.keyPrefix}split:{${id}}`;
  }

  /** The open index (a sorted set of `memberOf` members, scored by when each is due). */
  get openKey(): string {
    return `${this.keyPrefix}split-tender:open`;
  }

  /**
   * Records a split's plan (first time only) and puts it on the open index. `conflict`: the id is taken by
   * a split with other money (another digest), or, with `state` null, by an operation of the ledger.
   */
  async begin(
    plan: SplitTenderPlan,
    digest: string,
    now = Date.now(),
  ): Promise<{ created: boolean; conflict: boolean; state: SplitTenderState | null; takenBy?: string }> {
    // The reference first (the ledger's claim, another slot than the split's hash): a crash after it leaves a
    // claim the redelivery holds. An operation's claim is one taken since the consumer looked at the ledger;
    // a split refund's (`split-refund:<its split>`) is a refund that took this id first.
    const held = await this.claimReference(plan.id, splitReferenceHolder(plan.id));
    if (operationShardOfClaim(held) !== null) return { created: false, conflict: true, state: null };
    if (held !== '' && held !== splitReferenceHolder(plan.id)) return { created: false, conflict: true, state: null, takenBy: held };
    const [created, stored, state] = (await this.redis.eval(BEGIN, 1, this.key(plan.id), JSON.stringify(plan), digest, String(now))) as [
      number,
      string,
      string,
    ];
    const conflict = created === 0 && stored !== digest;
    if (!conflict) await this.schedule({ kind: 'split', id: plan.id }, now);
    return { created: created === 1, conflict, state: state as SplitTenderState };
  }

  /** The split's stored plan; null when it was never started. Throws when the stored plan is not JSON. */
  async plan(id: string): Promise<SplitTenderPlan | null> {
    const raw = await this.redis.hget(this.key(id), 'plan');
    return raw ? (JSON.parse(raw) as SplitTenderPlan) : null;
  }

  /** The plan of a member's split (as {@link plan}) and the member's faults in a row, in one read. */
  async planOfMember(member: OpenMember): Promise<{ plan: SplitTenderPlan | null; faults: number }> {
    const [raw, faults] = await this.redis.hmget(this.key(splitIdOf(member)), 'plan', faultFields(member).faults);
    return { plan: raw ? (JSON.parse(raw) as SplitTenderPlan) : null, faults: Number(faults ?? 0) };
  }

  /** The split's plan and state in one read (as {@link plan} and {@link state}); null when it was never started. */
  async planAndState(id: string): Promise<{ plan: SplitTenderPlan; state: SplitTenderState } | null> {
    const [raw, state] = await this.redis.hmget(this.key(id), 'plan', 'state');
    if (!raw) return null;
    return { plan: JSON.parse(raw) as SplitTenderPlan, state: (state ?? 'REDEEMING') as SplitTenderState };
  }

  /** The split's state; null when it was never started. */
  async state(id: string): Promise<SplitTenderState | null> {
    const h = await this.redis.hmget(this.key(id), 'plan', 'state');
    if (!h[0]) return null;
    return (h[1] ?? 'REDEEMING') as SplitTenderState;
  }

  /**
   * How the split's rollback reverses a tender of an `authorize` split, once decided: `void`, `refund:<amount>` (the
   * step was captured before the rollback: what was captured is refunded) or `none:<refunded>` (captured, and refunds
   * of the OMS gave it all back: nothing is sent). Field `reversal` for the gift card, `card_reversal` for the card.
   * Null before it was decided.
   */
  async reversal(id: string, tender: TenderPart = 'gift_card'): Promise<string | null> {
    return this.redis.hget(this.key(id), reversalField(tender));
  }

  /**
   * Decides how a tender is reversed (`value`, as {@link reversal}), once: the first decision stands, so the reversal
   * keeps one operation id and one amount whatever a later pass reads. Returns the decision that stands, and whether
   * this call made it.
   */
  async decideReversal(id: string, value: string, tender: TenderPart = 'gift_card'): Promise<{ value: string; decided: boolean }> {
    const decided = (await this.redis.hsetnx(this.key(id), reversalField(tender), value)) === 1;
    return { value: decided ? value : ((await this.reversal(id, tender)) ?? value), decided };
  }

  /**
   * Replaces a tender's reversal decision `from` by `to` (as {@link reversal}), only while it is `from` and the split is
   * `ROLLING_BACK` (one a process moved to its end meanwhile keeps its decision: nothing more is sent for it): a void its
   * PSP refused because the payment is captured, re-decided as a refund of what the PSP stated captured. True when this
   * call replaced it (its log line and metric are said once).
   */
  async redecideReversal(id: string, tender: TenderPart, from: string, to: string): Promise<boolean> {
    return (await this.redis.eval(REDECIDE_REVERSAL, 1, this.key(id), reversalField(tender), from, to)) === 1;
  }

  /**
   * Marks a tender's reversal as waiting for refunds of the OMS held for their PSP's retry or in flight (`reversal_waiting`,
   * `card_reversal_waiting`: since when, epoch ms), once: true when this call marked it (its log line and metric are said once).
   */
  async markReversalWaiting(id: string, tender: TenderPart, now = Date.now()): Promise<boolean> {
    return (await this.redis.hsetnx(this.key(id), `${reversalField(tender)}_waiting`, String(now))) === 1;
  }

  /** Since when (epoch ms) a tender's reversal waits for refunds of the OMS ({@link markReversalWaiting}); null when it does not. */
  async reversalWaitingSince(id: string, tender: TenderPart): Promise<number | null> {
    const since = await this.redis.hget(this.key(id), `${reversalField(tender)}_waiting`);
    return since === null ? null : Number(since);
  }

  /** Whether the split's final outcome was reported (its event recorded). */
  async reported(id: string): Promise<boolean> {
    return (await this.redis.hget(this.key(id), 'reported')) === '1';
  }

  async markReported(id: string): Promise<void> {
    await this.redis.hset(this.key(id), 'reported', '1');
  }

  /** Moves the split from `from` to `to`; false when it is no longer in `from` (another process moved it). */
  async move(id: string, from: SplitTenderState, to: SplitTenderState, now = Date.now()): Promise<boolean> {
    return (await this.redis.eval(MOVE, 1, this.key(id), from, to, String(now))) === 1;
  }

  /**
   * Claims operation reference `id` (a split's or a split refund's id) in the ledger's id claims for `holder`
   * ({@link splitReferenceHolder}, {@link refundReferenceHolder}) unless it is claimed: '' when this call claimed
   * it, else what holds it (an operation's shard, or a split or refund that took the id first, which covers it).
   * Lives as long as the ledger's id claims ({@link ID_CLAIM_TTL_S}), or `ttlS` seconds (a backfill's claim
   * expiring when one made at the split's start would have).
   */
  async claimReference(id: string, holder: string, ttlS = ID_CLAIM_TTL_S): Promise<string> {
    return (await CLAIM_KEY_SCRIPT.run(this.redis, { keys: { claim: idClaimKeyOf(this.keyPrefix, id) }, args: { holder, ttl_s: ttlS } })) as string;
  }

  /** Frees reference `id` in the ledger's id claims if `holder` holds it (an operation's or another split's claim stays). */
  async releaseReference(id: string, holder: string): Promise<void> {
    await RELEASE_KEY_SCRIPT.run(this.redis, { keys: { claim: idClaimKeyOf(this.keyPrefix, id) }, args: { holder } });
  }

  /**
   * The claim on a split refund's id, `<prefix>split-refund:{<refund id>}`: which split and amount it refunds.
   * A refund id names one refund, whatever split it is sent against: its parts' operation ids derive from it
   * alone, so the same id on a second split would find the first one's parts and report their outcome as its
   * own. The claim lives as long as the ledger's id claims ({@link ID_CLAIM_TTL_S}).
   */
  refundClaimKey(refundId: string): string {
    return splitRefundClaimKey(this.keyPrefix, refundId);
  }

  /**
   * Claims `refundId` for the refund of `amount` (minor units) of split `splitId` unless it is claimed: what
   * holds it (`<split id>:<amount>`), and whether this call claimed it.
   */
  async claimRefundId(splitId: string, refundId: string, amount: number): Promise<{ holder: string; claimedNow: boolean }> {
    const mine = refundClaimOf(splitId, amount);
    const held = (await CLAIM_KEY_SCRIPT.run(this.redis, {
      keys: { claim: this.refundClaimKey(refundId) },
      args: { holder: mine, ttl_s: ID_CLAIM_TTL_S },
    })) as string;
    return held === '' ? { holder: mine, claimedNow: true } : { holder: held, claimedNow: false };
  }

  /** Frees `refundId` if that refund of that split holds it (another's claim stays). */
  async releaseRefundId(splitId: string, refundId: string, amount: number): Promise<void> {
    await RELEASE_KEY_SCRIPT.run(this.redis, { keys: { claim: this.refundClaimKey(refundId) }, args: { holder: refundClaimOf(splitId, amount) } });
  }

  /**
   * Records a refund (`created`, or `exists` for a repeat of the same refund) and schedules it; or says why
   * it cannot be (`refused`), or that `refundId` already refunds another split or other money (`conflict`,
   * what holds the refund id), or is an operation's reference (`operation`, the shard its claim names), or a
   * split's own id (`taken`, the claim's holder, `split:<id>`); nothing recorded or reserved then.
   */
  async beginRefund(
    splitId: string,
    refundId: string,
    amount: number,
    caps: { card: number; gift_card: number },
    order: RefundOrder,
    commandJson: string,
  ): Promise<{ refund: StoredRefund } | { refused: RefundRefusal; detail: string } | { conflict: string } | { operation: number } | { taken: string }> {
    // The claims first (other slots than the split's hash): a crash after them leaves claims its redelivery holds.
    const { holder, claimedNow } = await this.claimRefundId(splitId, refundId, amount);
    if (holder !== refundClaimOf(splitId, amount)) return { conflict: holder };
    const reference = refundReferenceHolder(splitId);
    const referenceHeld = await this.claimReference(refundId, reference);
    const release = async (withReference = true) => {
      if (claimedNow) await this.releaseRefundId(splitId, refundId, amount);
      if (withReference && referenceHeld === '') await this.releaseReference(refundId, reference);
    };
    // An operation's claim: one taken since the consumer looked at the ledger.
    const operationShard = operationShardOfClaim(referenceHeld);
    if (operationShard !== null) {
      await release();
      return { operation: operationShard };
    }
    // A split's own id (`split:<id>`), or another refund's of another split: the id names that, not this refund.
    if (referenceHeld !== '' && referenceHeld !== reference) {
      await release(false);
      return { taken: referenceHeld };
    }
    const [outcome, value] = (await this.redis.eval(
      BEGIN_REFUND,
      1,
      this.key(splitId),
      refundId,
      String(amount),
      String(caps.card),
      String(caps.gift_card),
      order,
      commandJson,
      NEW_STEP_IDS,
    )) as [string, string];
    if (outcome === 'conflict') {
      // Recorded before refund ids were claimed, with other money: this call's claim names the wrong amount, while
      // its reference claim names the right split (the refund is this split's) and stays.
      await release(false);
      return { conflict: `${splitId}:${value}` };
    }
    if (outcome !== 'created' && outcome !== 'exists') {
      // Nothing was recorded: the id stays free for a corrected refund.
      await release();
      return { refused: outcome as RefundRefusal, detail: value };
    }
    await this.schedule({ kind: 'refund', splitId, refundId });
    const refund = await this.refund(splitId, refundId);
    if (!refund) throw new Error('split tender refund vanished after it was recorded');
    return { refund };
  }

  async refund(splitId: string, refundId: string): Promise<StoredRefund | null> {
    const f = `refund:${refundId}`;
    const [record, state, command, stepIds] = await this.redis.hmget(this.key(splitId), f, `${f}:state`, `${f}:command`, `${f}:step_ids`);
    if (!record) return null;
    return {
      refundId,
      ...refundParts(record),
      state: (state ?? 'REFUNDING') as SplitRefundState,
      command: command ?? '{}',
      ...(stepIds === NEW_STEP_IDS ? { stepIds: NEW_STEP_IDS } : {}),
    };
  }

  /** The split's refunds that ended REFUND_FAILED (one read of its hash). */
  async failedRefunds(splitId: string): Promise<StoredRefund[]> {
    const hash = await this.redis.hgetall(this.key(splitId));
    const failed: StoredRefund[] = [];
    for (const [field, record] of Object.entries(hash)) {
      // `refund:<id>` (ids never hold `:`); its `refund:<id>:…` fields say the rest.
      if (!field.startsWith('refund:') || field.indexOf(':', 'refund:'.length) >= 0) continue;
      if (hash[`${field}:state`] !== 'REFUND_FAILED') continue;
      const stepIds = hash[`${field}:step_ids`];
      failed.push({
        refundId: field.slice('refund:'.length),
        ...refundParts(record),
        state: 'REFUND_FAILED',
        command: hash[`${field}:command`] ?? '{}',
        ...(stepIds === NEW_STEP_IDS ? { stepIds: NEW_STEP_IDS } : {}),
      });
    }
    return failed;
  }

  /** Settles a refund once; `release` gives back what its parts that did not succeed had reserved. */
  async finishRefund(splitId: string, refundId: string, to: Exclude<SplitRefundState, 'REFUNDING'>, release: Record<TenderPart, number>): Promise<boolean> {
    return (await this.redis.eval(FINISH_REFUND, 1, this.key(splitId), refundId, to, String(release.card), String(release.gift_card))) === 1;
  }

  /** Puts a member on the open index, due at `at` (ms). */
  async schedule(member: OpenMember, at = Date.now()): Promise<void> {
    await this.redis.zadd(this.openKey, at, memberOf(member));
  }

  /** Moves a member that is still open to be due at `at` (ms); a member closed meanwhile is not put back. */
  async postpone(member: OpenMember, at: number): Promise<void> {
    await this.redis.zadd(this.openKey, 'XX', at, memberOf(member));
  }

  /** Takes a member off the open index (settled and reported). */
  async close(member: OpenMember): Promise<void> {
    await this.redis.zrem(this.openKey, memberOf(member));
  }

  /**
   * Members due at `now`, oldest first, and the entries that name no split or refund (`unreadable`: an
   * import of a damaged file), which the caller takes off the index so they never fill a batch.
   */
  async due(now: number, limit: number): Promise<{ members: OpenMember[]; unreadable: string[] }> {
    const raw = await this.redis.zrangebyscore(this.openKey, '-inf', now, 'LIMIT', 0, limit);
    const members: OpenMember[] = [];
    const unreadable: string[] = [];
    for (const entry of raw) {
      const member = parseMember(entry);
      if (member) members.push(member);
      else unreadable.push(entry);
    }
    return { members, unreadable };
  }

  /** Takes entries off the open index as they are (unreadable ones). */
  async dropEntries(entries: readonly string[]): Promise<void> {
    if (entries.length > 0) await this.redis.zrem(this.openKey, ...entries);
  }

  /** How many splits and refunds are open, parked ones included (a gauge for operators). */
  async openCount(): Promise<number> {
    return this.redis.zcard(this.openKey);
  }

  /**
   * Counts one more fault of an advance of `member` (in its split's hash: `faults`, or `refund:<id>:faults`
   * for a refund; with the error's class and the time). Returns the faults in a row, or -1 when the split
   * has no record any more.
   */
  async recordFault(member: OpenMember, errorClass: string, now = Date.now()): Promise<number> {
    const f = faultFields(member);
    return (await this.redis.eval(FAULT, 1, this.key(splitIdOf(member)), f.faults, f.faultClass, f.faultAt, errorClass, String(now))) as number;
  }

  /** Forgets a member's faults (an advance went through again). */
  async clearFaults(member: OpenMember): Promise<void> {
    const f = faultFields(member);
    await this.redis.hdel(this.key(splitIdOf(member)), f.faults, f.faultClass, f.faultAt, f.parkedAt);
  }

  /**
   * Parks a member that keeps faulting: it stays on the open index (its steps are kept, it counts as open)
   * but is never due again until {@link resume}; `parked_at` in its split's hash says since when.
   */
  async park(member: OpenMember, now = Date.now()): Promise<void> {
    await this.redis.zadd(this.openKey, 'XX', PARKED, memberOf(member));
    await this.redis.hset(this.key(splitIdOf(member)), faultFields(member).parkedAt, String(now));
  }

  /** Parked members (oldest entries first), for operators. */
  async parked(limit = 1000): Promise<OpenMember[]> {
    const raw = await this.redis.zrangebyscore(this.openKey, PARKED, PARKED, 'LIMIT', 0, limit);
    return raw.map(parseMember).filter((m): m is OpenMember => m !== null);
  }

  /** A member's faults as recorded (0 and nulls when it has none). */
  async faultsOf(member: OpenMember): Promise<{ faults: number; faultClass: string | null; faultAt: number | null; parkedAt: number | null }> {
    const f = faultFields(member);
    const [faults, faultClass, faultAt, parkedAt] = await this.redis.hmget(this.key(splitIdOf(member)), f.faults, f.faultClass, f.faultAt, f.parkedAt);
    return {
      faults: Number(faults ?? 0),
      faultClass,
      faultAt: faultAt === null ? null : Number(faultAt),
      parkedAt: parkedAt === null ? null : Number(parkedAt),
    };
  }

  /** How many members are parked. */
  async parkedCount(): Promise<number> {
    return this.redis.zcount(this.openKey, PARKED, PARKED);
  }

  /** Puts a parked member back on the sweep (due at `now`, its faults forgotten); false when it is not open. */
  async resume(member: OpenMember, now = Date.now()): Promise<boolean> {
    await this.clearFaults(member);
    return (await this.redis.zadd(this.openKey, 'XX', 'CH', now, memberOf(member))) === 1;
  }

  /** Takes the split's advance lock (one process advances a split at a time) for `ms`; the token, or null. */
  async lock(splitId: string, ms: number): Promise<string | null> {
    const token = `${process.pid}.${Math.random().toString(36).slice(2)}`;
    const ok = await this.redis.set(`${this.key(splitId)}:lock`, token, 'PX', ms, 'NX');
    return ok === 'OK' ? token : null;
  }

  async unlock(splitId: string, token: string): Promise<void> {
    await RELEASE_KEY_SCRIPT.run(this.redis, { keys: { claim: `${this.key(splitId)}:lock` }, args: { holder: token } });
  }
}
