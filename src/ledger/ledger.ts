import { ChainableCommander } from 'ioredis';
import { RedisClient } from '../redis/redis-connection';
import { CommandType, Payment, PaymentCommand } from '../contracts/payment-command';
import { holdsOneTimeMethodData, withoutMethodToken } from '../contracts/payment-method';
import { LuaFragment, LuaScript, LuaStep } from '../redis/lua-script';
import { redact } from '../logging/redact';
import { ShardKeys, ShardMemo, issuedTokenKeyOf, probeShard, shardKeysOf, shardMemoOf, shardOfAnchor, shardOfOrder, shardOfPayment } from '../redis/key-layout';
import { scoredEntries } from '../redis/scored-entries';
import { getEach, lowestAcrossKeys, scoredAcrossKeys } from '../redis/shard-probe';
import { entriesAfter } from '../redis/sorted-set-cursor';
import { AUTHORIZATION_VIEW_SCRIPT, CLOSE_AUTHORIZATION_SCRIPT, DEPENDENTS_SCRIPT, followToAuthorization } from './authorization-by-reference';
import { commandDigest } from './command-digest';
import {
  APPEND_AS_READ_SCRIPT,
  CREATE_SCRIPT,
  DISCARD_CREATED_SCRIPT,
  HOLD_SCRIPT,
  MARK_VOIDED_SCRIPT,
  PARK_SCRIPT,
  READ_FIELDS_SCRIPT,
  RELEASE_HELD_FOR_PSP_RETRY_SCRIPT,
  RELEASE_SCRIPT,
  ReadBack,
  STATE_INDEX_INPUTS,
  TRANSITION_INPUTS,
  TRANSITION_SCRIPT,
  asReadStepScript,
  transitionWithStepScript,
} from './ledger-scripts';
import { ERASE_SCRIPT, EXPIRE_SCRIPT, RESTORE_SCRIPT } from './lifecycle-scripts';
import {
  CLAIM_REFUNDED_BEYOND_SCRIPT,
  MARK_REFUNDS_UNDECIDED_SCRIPT,
  REFUNDED_BEYOND_SAID_PREFIX,
  REFUNDS_ALARM_WITHDRAWN_FIELD,
  REFUNDS_UNDECIDED_FIELD,
  REFUNDS_UNDECIDED_REFS_FIELD,
  WITHDRAW_REFUND_ALARMS_SCRIPT,
  givenUpClaimField,
} from './refunds-undecided-mark';
import { DependentWaker, TAKE_WAITERS_SCRIPT, WAITERS_FLAG, WAIT_FOR_SCRIPT, WaitedMove } from './dependent-waiters';
import { RECORD_RECONCILED_WINDOW_SCRIPT, ReconciledWindow, reconciledWindowOf } from './reconciled-mark';
import { OPERATION_STATES, OperationState, POLLED_STATES, isTerminal } from './operation-state';
import { CLAIM_KEY_SCRIPT, RELEASE_KEY_SCRIPT, claimKey } from '../redis/key-claim';
import { operationIdsOfOrder, orderKeyPart } from './order-index';
import { MovedAmountFields, amountIn, amountInCommandCurrency, convertedAmount, parseRoutingRecord } from './routing-record';
import { CANCEL_EFFECT_FIELD, CancelEffect, UNDONE_BY_VOID_FIELD, parseCancelEffect } from './cancel-effect';
import { SUCCEEDED_AFTER_FAILURE_FIELD, SuccessAfterFailureMark, UNDONE_FIELD, parseSuccessAfterFailureMark } from '../adjustments/adjustment';
import { REPLICA_PROBE_TTL_MS, replicaAcknowledgedKeys } from '../redis/replica-wait';
import {
  CAPTURED_AT_PSP_FIELD,
  HELD_FOR_PSP_RETRY_FIELD,
  HELD_FOR_PSP_RETRY_RELEASED_FIELD,
  OperationRecord,
  TransitionFields,
  afterTransition,
  decodeRecord,
  decodeRecordPairs,
  draftRecord,
  encodeRecord,
  encodeTransitionFields,
  hashFromPairs,
  hashNamesOf,
  parseCapturedAtPsp,
} from './record-fields';

export type { OperationRecord, TransitionFields } from './record-fields';

/** One appended entry of an operation's history: what happened, when, how long it took. Redacted. */
export interface Interaction {
  at: number;
  event: string;
  [detail: string]: unknown;
}

export interface TransitionResult {
  applied: boolean;
  /** State before the call (`null`: no such operation). */
  from: OperationState | null;
}

/** A transition's result plus the record as it stands right after it (`null`: no such operation). */
export interface TransitionWithRecord extends TransitionResult {
  record: OperationRecord | null;
  /**
   * The move applied, changed the state, and dependents registered as waiting for this operation
   * (`waitFor`): woken already by the ledger (`wakeDependentsWith`), unless the caller deferred it
   * (`deferWake`: it then calls `wakeWaiters`). False for every move nobody waits for.
   */
  waiters: boolean;
  /**
   * The adjustment id of a late refund fact whose reading, undecided, counted this capture as in flight
   * (`REFUNDS_UNDECIDED_FIELD`), as the record held it at the move (applied or not); absent for none.
   */
  refundsUndecidedBy?: string;
}

/** The PSP object a transition's outcome names, indexed to the operation in the same step (`findByReference`). */
export interface PspReference {
  gateway: string;
  reference: string;
  /**
   * Index it only when no operation holds it yet (default false: it points at this operation from now on).
   * For a refusal of a command on an existing PSP object: a Stripe capture or cancel refused names the
   * PaymentIntent it left alone, which stays with the operation that holds it.
   */
  ifUnclaimed?: boolean;
}

type TransitionKey = (typeof TRANSITION_INPUTS.keys)[number];
type TransitionArg = (typeof TRANSITION_INPUTS.args)[number];

/** The transition script's values: its keys in two parts (see `Ledger.transitionValues`), its arguments. */
interface TransitionValues {
  keys: [Readonly<Partial<Record<TransitionKey, string>>>, Readonly<Partial<Record<TransitionKey, string>>>];
  args: Record<TransitionArg, string | number>;
}

/** The transition script with a step attached, one per step fragment (built once, on first use). */
const withStepScripts = new WeakMap<LuaFragment<string, string>, LuaScript<string, string>>();
/** Another module's step run only on the record as read (`Ledger.runAsRead`), one per step fragment. */
const asReadScripts = new WeakMap<LuaFragment<string, string>, LuaScript<string, string>>();

/** A command acting on an authorization, as `Ledger.authorizationView` lists it. */
export interface DependentSummary {
  id: string;
  command: CommandType;
  state: OperationState;
  /**
   * What the PSP confirmed for it, else what it asked for; minor units of the command's currency (a converted dependent
   * counts what it asked). One FAILED that the PSP did after all (`succeededAfterFailure`): what the PSP confirmed then.
   */
  amount: number;
  /**
   * Its place in the order the authorization's dependents were registered in (1, 2, …; 0 for one registered
   * before that order was kept): of two concurrent ones, the later registered saw the earlier.
   */
  registered: number;
  /**
   * A refund or capture that SUCCEEDED and that the PSP later undid (`UNDONE_FIELD`): a refund that gave the
   * shopper nothing (it failed, or its money came back) is not summed as refunded; a capture that collected
   * nothing (`capture_failed`) is not summed as captured money a refund can give back. Absent otherwise.
   */
  undone?: true;
  /**
   * A capture, sale, refund or cancel the ledger holds FAILED that the PSP later said it did after all (a
   * `succeeded_after_failure` recorded for it, `SUCCEEDED_AFTER_FAILURE_FIELD`): it counts as a SUCCEEDED one does
   * (`doneAtPsp`), at the amount the PSP confirmed, and a later failure of a capture, sale or refund marks it `undone`
   * as it would that one. Absent otherwise.
   */
  succeededAfterFailure?: true;
  /**
   * A capture or refund recorded FAILED whose PSP retries it itself (`HELD_FOR_PSP_RETRY_FIELD`: Adyen's technical
   * issue), not done after all yet: it moved nothing, but the PSP may still do it, so the capture check counts a
   * capture's amount as claimed of the authorization, the refund check a refund's as given back. Absent otherwise.
   */
  heldForPspRetry?: true;
  /**
   * A capture or refund recorded FAILED and held for its PSP's own retry (`HELD_FOR_PSP_RETRY_FIELD`, or released by an
   * operator since: `HELD_FOR_PSP_RETRY_RELEASED_FIELD`) that the PSP then did (`succeededAfterFailure`: Adyen's CAPTURE
   * "Transaction Recaptured"), not undone since: a capture so done leaves its payment captured at the PSP, which no
   * cancel undoes. Absent otherwise.
   */
  doneByPspRetry?: true;
  /**
   * What its gateway was asked when that is in another currency than the command's (a capture or refund of a
   * converted authorization, at its locked rate: the routing record's `amount` and `currency`), fixed with its
   * first attempt. Absent before that, and for one sent in the command's currency.
   */
  converted?: { amount: number; currency: string };
  /** The PSP's reference for it (`gateway_reference`), once an outcome named one: what a void of a capture names. */
  gatewayReference?: string;
  /**
   * A cancel recorded FAILED because the PSP said the payment is captured already (`OperationRecord.capturedAtPsp`): what
   * it stated captured, minor units of the command's currency (absent when it stated none, or in another currency).
   */
  capturedAtPsp?: number;
  /**
   * A cancel's `payment.gateway_key`: what it names (the authorization's id or PSP reference, or, a cancel voiding one
   * of our captures by its own id, that capture's operation id). Absent for other commands.
   */
  names?: string;
}

/**
 * Whether dependent `d` did what it asked at the PSP, as the PSP last said: SUCCEEDED, or recorded FAILED and done by
 * the PSP after all (`succeededAfterFailure`); one the PSP undid after (`undone`) included, for the caller to weigh.
 * What the amount checks sum as captured or refunded (with `undone` left out) and as claimed of an authorization. Pure.
 */
export function doneAtPsp(d: { state: OperationState; succeededAfterFailure?: boolean }): boolean {
  return d.state === 'SUCCEEDED' || (d.state === 'FAILED' && d.succeededAfterFailure === true);
}

/**
 * A FAILED cancel's `captured_at_psp` (`OperationRecord.capturedAtPsp`) as a dependent counts it: the amount the PSP stated
 * captured, when in the cancel's own currency (`{}` otherwise: not comparable, none counted).
 */
function capturedAtPspOf(state: string, stored: string | null | undefined, currency: string): { capturedAtPsp?: number } {
  if (state !== 'FAILED' || !stored) return {};
  let read: ReturnType<typeof parseCapturedAtPsp>;
  try {
    read = parseCapturedAtPsp(JSON.parse(stored) as unknown);
  } catch {
    return {};
  }
  return read?.amount !== undefined && read.currency === currency.toUpperCase() ? { capturedAtPsp: read.amount } : {};
}

/** A stored success-after-failure mark, read; undefined when it does not read as one. */
function readMark(stored: string): SuccessAfterFailureMark | undefined {
  try {
    return parseSuccessAfterFailureMark(JSON.parse(stored) as unknown);
  } catch {
    return undefined;
  }
}

/**
 * Where a walk through the operations created in a window stands (`Ledger.createdPage`): the shard it reads
 * (shards in order, 0 first; past the last one the walk is over) and the place in that shard's creation index
 * it goes on after (the last operation read and its creation time; `id: ''` with the window's start: none yet).
 */
export interface CreatedCursor {
  shard: number;
  score: number;
  id: string;
}

/** One page of a walk through a window's operations (`Ledger.createdPage`). */
export interface CreatedPage {
  /** The ids read, by shard, each shard's oldest first (shards without any left out). */
  shards: { shard: number; ids: string[] }[];
  /** Where the next page starts. */
  next: CreatedCursor;
  /** Every shard is read to the window's end: there is no next page. */
  done: boolean;
}

/** What `Ledger.locateMany` looks up. */
export interface OperationLookup {
  /** Operation ids: which shard holds each (its creation index). */
  ids: readonly string[];
  /** The gateway whose PSP references `references` are. */
  gateway: string;
  /** PSP references on `gateway`: the operations the reference index names. */
  references: readonly string[];
  /** Order ids: the operations of each (the order index). */
  orders: readonly string[];
  /** Operations read per order at most, oldest first (below 1: none). */
  perOrder: number;
}

/** What `Ledger.locateMany` found, each list in the order asked. */
export interface OperationsLocated {
  /** Per id, the lowest-numbered shard whose creation index holds it; null when none does. */
  ids: (number | null)[];
  /** Per reference, the operation each shard's entry names, by shard (none, one, or rarely two). */
  references: { id: string; shard: number }[][];
  /** Per order, its operations' ids, oldest first, in the order's shard. */
  orders: { id: string; shard: number }[][];
}

/** An adjustment recorded on an operation (`Ledger.adjustmentsOfEach`): its id and the fields asked, raw (null where absent). */
export interface RecordedAdjustmentFields {
  id: string;
  fields: (string | null)[];
}

type StateIndexKeys = Record<(typeof STATE_INDEX_INPUTS)[number], string>;

/** Each state's index key of a shard, by the transition script's input name: built once per shard. */
const stateKeysByShard = new WeakMap<ShardKeys, Readonly<StateIndexKeys>>();

function stateKeysOf(keys: ShardKeys): Readonly<StateIndexKeys> {
  let known = stateKeysByShard.get(keys);
  if (!known) {
    const built = {} as StateIndexKeys;
    OPERATION_STATES.forEach((s, i) => (built[STATE_INDEX_INPUTS[i]] = keys.state(s)));
    known = Object.freeze(built);
    stateKeysByShard.set(keys, known);
  }
  return known;
}

/** The keys a creation writes (and a discarded creation removes): the record, its history and its index entries. */
type CreationKeys = Record<'op' | 'log' | 'order' | 'state_index' | 'created', string>;

/**
 * The shard an id claim's holder names (`ShardKeys.idClaim`: an operation's claim holds its shard's number), or
 * null when the id is claimed by something that is no operation: a split tender or a split refund
 * (`SplitTenderStore`), whose reference an ordinary command may not take either.
 */
export function operationShardOfClaim(holder: string): number | null {
  return /^[0-9]+$/.test(holder) ? Number(holder) : null;
}

/** The longest a terminal operation's record can be kept, days: `retention.expire_after_days`' maximum. */
export const RECORD_MAX_DAYS = 3650;

/**
 * How long a PSP reference → operation id index entry lives, seconds: as long as the record it names can
 * ({@link RECORD_MAX_DAYS}, plus a month). Retention's expiry deletes the entry with its record, so this is only
 * a backstop. Late facts find their payment by this reference alone: a Stripe dispute names its PaymentIntent,
 * and card schemes allow disputes up to 120 days after the charge, for some reasons 540. An entry that lapsed
 * before its record (it lived 90 days) left such a chargeback with no payment to adjust, in its webhook and
 * in reconciliation alike.
 */
export const REFERENCE_TTL_S = (RECORD_MAX_DAYS + 30) * 86_400;

/**
 * How long an operation id's claim (`ShardKeys.idClaim`) lives, seconds: as long as the record it names can, like
 * {@link REFERENCE_TTL_S}. Retention's expiry releases the claim with its record (`expireTerminal`), so this is
 * only a backstop. While it lives, a second payment under the same id (another order, so another shard) is
 * refused. A claim that lapsed before its record (they lived 90 days) let that payment be created beside the
 * first: two records under one id, and every lookup by id (a webhook's merchant reference, the OMS's re-send,
 * an event id) then found one of the two.
 */
export const ID_CLAIM_TTL_S = REFERENCE_TTL_S;

/**
 * How long an issued-token index entry (`ShardKeys.issuedToken`) lives, seconds, from the token's last recording:
 * {@link REFERENCE_TTL_S}, past any card's validity, so past the token's use. Not tied to the record that got the
 * token: the OMS charges a stored token for years (a subscription), long after retention expired the payment that
 * stored it. Erasure of the order drops the entry (docs/DATA.md).
 */
export const ISSUED_TOKEN_TTL_S = REFERENCE_TTL_S;

/**
 * The operation ledger in Redis, in SHARD_COUNT shards (src/redis/key-layout.ts: the layout, and why an
 * operation lives in its payment's shard). Per shard S:
 *   S op:{id}                hash: the record
 *   S op:{id}:interactions   list: append-only history (JSON, redacted)
 *   S ops:state:{STATE}      sorted set of ids; score = next check time for PENDING/UNKNOWN/UNRESOLVED, else updated_at
 *   S ops:created            sorted set of ids by creation time
 *   S order:{order_id}       sorted set of the order's operation ids by creation time (order-index.ts)
 *   S ops:settling           sorted set of ids whose outcome is being written and its event not yet
 *                            recorded; score = when it started (the recovery sweep finishes stale ones)
 *   S ref:{gateway}:{ref}    the operation a PSP reference names
 * Every write is one Lua script (ledger-scripts.ts) over keys of one shard, all declared, so a state
 * change, its index move and its history entry are atomic, on Redis Cluster too. Records are written and
 * read through one field table (record-fields.ts).
 *
 * Callers name operations by id. The ledger knows an id's shard from its payment when it has one, else
 * from a bounded in-process memo filled by whatever learnt it (creation, reads, sweeps, reference lookups),
 * else it asks every shard at once (one round trip, rare paths only).
 */
export class Ledger {
  private readonly shards: readonly ShardKeys[];
  private readonly memo: ShardMemo;
  /** Wakes the dependents of an operation a move found waiting (`wakeDependentsWith`); none: they stay registered. */
  private waker: DependentWaker | undefined;

  constructor(
    private readonly redis: RedisClient,
    /** Key prefix, e.g. `pb:`; tests use their own so they never collide. */
    readonly prefix: string,
  ) {
    this.shards = shardKeysOf(prefix);
    this.memo = shardMemoOf(prefix, 'operations');
  }

  /** The keys of shard `n`. */
  keysOf(shard: number): ShardKeys {
    return this.shards[shard];
  }

  /** The keys of the shard an operation of `payment` lives in (and notes `id` there). */
  keysFor(id: string, payment: Payment): ShardKeys {
    const shard = shardOfPayment(payment);
    this.memo.set(id, shard);
    return this.shards[shard];
  }

  /** Notes that `id` lives in `shard` (a sweep or lookup that found it there). */
  remember(id: string, shard: number): void {
    this.memo.set(id, shard);
  }

  /**
   * The shard operation `id` lives in: the memo, else every shard asked at once. `null`: no such operation.
   * @param fresh skip the memo (it pointed at a shard without the record).
   */
  async shardOf(id: string, fresh = false): Promise<number | null> {
    const known = fresh ? undefined : this.memo.get(id);
    if (known !== undefined) return known;
    const shard = await probeShard(this.redis, this.shards, (keys) => keys.op(id), this.memo, id);
    return shard < 0 ? null : shard;
  }

  /** The keys of `id`'s shard; with no such operation, those of shard 0 (where reads then find nothing). */
  private async keysOfId(id: string, fresh = false): Promise<ShardKeys> {
    return this.shards[(await this.shardOf(id, fresh)) ?? 0];
  }

  /**
   * Runs `work` on `id`'s shard; when the memo sent it to a shard without the record (`missing` says so on
   * its result), once more on the shard the record is found in, if any.
   * @param absent the result when no shard holds `id`, given instead of running `work` on shard 0 (where
   *   it finds nothing): a read of an id that is not ours, as the intake's idempotency check of every new
   *   command and a capture naming a PSP reference, then costs the probe alone, not a further round trip.
   */
  private async onShard<T>(id: string, work: (keys: ShardKeys) => Promise<T>, missing: (result: T) => boolean, absent?: () => T): Promise<T> {
    const remembered = this.memo.get(id) !== undefined;
    const shard = await this.shardOf(id);
    if (shard === null && absent !== undefined) return absent();
    const result = await work(this.shards[shard ?? 0]);
    if (!remembered || !missing(result)) return result;
    const found = await this.shardOf(id, true);
    return found === null ? result : work(this.shards[found]);
  }

  /**
   * Records a new operation in state RECEIVED, unless it already exists (a duplicate or a redelivery).
   * With `firstAttempt` (the worker's fast path), the operation is created in SENT with one
   * attempt and that attempt's history entry: the same as `create` then `transition(…, 'SENT', …,
   * { countAttempt: true })`, in one atomic round trip. The attempt is on record before the request leaves.
   * The command's digest (`commandDigest`) is stored with the record and compared in the same script when
   * the operation exists: `conflict` says the existing one was created from a command with other money
   * fields (an idempotency conflict; the existing record is left untouched). An id a split tender or a split
   * refund claims (`operationShardOfClaim`) is a conflict too: nothing is created, `state` is null and
   * `heldBy` says which split holds it.
   * @returns whether it was created, its current state, whether it conflicts, and (when created) the record
   *   as written.
   */
  async create(
    id: string,
    command: PaymentCommand,
    now = Date.now(),
    firstAttempt?: Omit<Interaction, 'at'>,
    extra: Pick<OperationRecord, 'routing'> = {},
  ): Promise<{ created: boolean; state: OperationState | null; conflict: boolean; digest: string; record?: OperationRecord; heldBy?: string }> {
    const state: OperationState = firstAttempt ? 'SENT' : 'RECEIVED';
    const digest = commandDigest(command);
    // `extra.routing`: the orchestration's decision for the first attempt, written with it.
    // The draft is fresh: completed in place rather than copied by spreads.
    const draft = draftRecord(id, command, now);
    draft.state = state;
    draft.attempts = firstAttempt ? 1 : 0;
    if (firstAttempt) draft.firstAttemptAt = now;
    draft.digest = digest;
    if (extra.routing !== undefined) draft.routing = extra.routing;
    const fields = encodeRecord(draft);
    const interaction = JSON.stringify({ at: now, event: 'received', channel: command.channel });
    const attempt = firstAttempt ? historyEntry(firstAttempt, now, 'SENT') : '';
    const keys = this.keysFor(id, command.payment);
    const order = orderKeyPart(command.payment.order_id);
    const createKeys: CreationKeys = {
      op: keys.op(id),
      log: keys.history(id),
      order: order === '' ? keys.op(id) : keys.order(order),
      state_index: keys.state(state),
      created: keys.created,
    };
    const hasOrder = order === '' ? '0' : '1';
    // The id's claim goes out with the creation (one SET NX beside it, no round trip more for a new id; an id already
    // claimed takes one more, `claimKey` reading its holder): only it can tell that another payment's shard, or a split
    // tender or split refund (no operation, so no record the script could see), already holds this id.
    const idClaim = this.shards[shardOfAnchor(id)].idClaim(id);
    const claim = claimKey(this.redis, idClaim, keys.shard, ID_CLAIM_TTL_S);
    const creation = CREATE_SCRIPT.run(
      this.redis,
      { keys: createKeys, args: { id, now, interaction, state, attempt, digest, has_order: hasOrder } },
      fields,
    ) as Promise<[number, string, number?]>;
    const [holder, [created, current, conflict]] = await Promise.all([claim, creation]);
    // Only a record this creation wrote can be a second payment's: one already in this shard is this payment's
    // own (its digest decided above), even where another shard holds the id from before claims existed.
    if (created === 1 && holder !== '' && Number(holder) !== keys.shard) {
      const mine = { claim: idClaim, shard: keys.shard, keys: createKeys };
      const conflicting = await this.heldElsewhere(id, holder, mine, state, hasOrder, digest);
      if (conflicting) return conflicting;
    }
    if (created !== 1) return { created: false, state: current as OperationState, conflict: conflict === 1, digest };
    // The record as Redis now holds it, built from the very fields written: the caller can deliver it
    // without reading it back (one round trip less per command).
    return { created: true, state, conflict: false, digest, record: decodeRecordPairs(fields, command.payment) };
  }

  /**
   * Whether operation `id`'s record (of `payment`) is on its primary and how many replicas acknowledged it: a
   * probe write to its shard (`ShardKeys.replicaProbe`), `EXISTS` of the record, then `WAIT replicas timeoutMs`,
   * pipelined to the record's node on the confirmation connection (`replicaAcknowledgedKeys`), never on the
   * ledger's own, which a `WAIT` would block. The record was written on the ledger's connection: `WAIT` counts the
   * replicas holding the probe, and so (one ordered stream per primary) every write before it. `present: false`:
   * the primary no longer holds the record (a primary that had been cut off acknowledged it, then rejoined as a
   * replica and dropped it). Takes up to `timeoutMs` (milliseconds) when too few replicas answer.
   */
  async replicaAcknowledged(id: string, payment: Payment, replicas: number, timeoutMs: number): Promise<{ present: boolean; acks: number }> {
    const keys = this.keysFor(id, payment);
    return replicaAcknowledgedKeys(this.redis, [keys.op(id)], replicas, timeoutMs, { key: keys.replicaProbe, ttlMs: REPLICA_PROBE_TTL_MS });
  }

  /**
   * The id of a command being created is claimed by another payment's shard (`holder`). When that shard holds
   * the operation (one reference, two payments: an idempotency conflict the creation script, which sees one
   * shard, cannot tell), the record just written is removed before anything reads it, and the caller is told
   * of a conflict with the operation there. When it no longer does (expired, erased), the claim is this
   * shard's now, and null says the creation stands. A claim of a split tender or split refund is a conflict
   * as it stands, with no read: the split store frees it with the split's record (retention).
   */
  private async heldElsewhere(
    id: string,
    holder: string,
    mine: { claim: string; shard: number; keys: CreationKeys },
    state: OperationState,
    hasOrder: string,
    digest: string,
  ): Promise<{ created: false; state: OperationState | null; conflict: true; digest: string; heldBy?: string } | null> {
    const shard = operationShardOfClaim(holder);
    if (shard === null) {
      await DISCARD_CREATED_SCRIPT.run(this.redis, { keys: mine.keys, args: { id, state, has_order: hasOrder } });
      return { created: false, state: null, conflict: true, digest, heldBy: holder };
    }
    const held = (await this.redis.hget(this.shards[shard].op(id), 'state')) as OperationState | null;
    if (held === null) {
      await this.redis.set(mine.claim, String(mine.shard), 'EX', ID_CLAIM_TTL_S);
      return null;
    }
    await DISCARD_CREATED_SCRIPT.run(this.redis, { keys: mine.keys, args: { id, state, has_order: hasOrder } });
    this.memo.set(id, shard);
    return { created: false, state: held, conflict: true, digest };
  }

  /**
   * Moves an operation to `to` if that is a forward move; otherwise changes nothing and says so.
   * The interaction is redacted and appended in the same atomic step.
   */
  async transition(
    id: string,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields = {},
    now = Date.now(),
  ): Promise<TransitionResult> {
    const reply = await this.onShard(
      id,
      (keys) => {
        const values = this.transitionValues(keys, id, to, interaction, fields, now, null, 'none', false, undefined);
        return TRANSITION_SCRIPT.runParts(this.redis, values.keys, [values.args]) as Promise<TransitionReply>;
      },
      (r) => r[1] === '',
    );
    await this.finishClosing(id, fields, reply[5]);
    if (reply[6] === 1) await this.wakeWaiters({ id, to, source: moverOf(interaction) });
    return readTransition(reply[0], reply[1]);
  }

  /**
   * `transition`, plus in the same atomic round trip: the PSP reference index (see `findByReference`) when
   * `reference` is given (set even when the move does not apply), the settling mark (see `settlingBefore`)
   * when `markSettling` is set, and the record as it stands afterwards: what the outcome recorder needs to
   * emit the event without reading it back. Pass the operation's `payment` when you hold it (it never
   * changes): it is then not read back nor parsed. Dependents waiting for the operation are woken as by
   * `transition`, unless `deferWake` (default false): the caller then calls `wakeWaiters` when `waiters` says so.
   */
  async transitionAndGet(
    id: string,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields = {},
    options: { reference?: PspReference | null; markSettling?: boolean; payment?: Payment; now?: number; deferWake?: boolean } = {},
  ): Promise<TransitionWithRecord> {
    const { payment, now = Date.now() } = options;
    const run = (keys: ShardKeys): Promise<TransitionReply> => {
      const values = this.transitionValues(
        keys,
        id,
        to,
        interaction,
        fields,
        now,
        options.reference ?? null,
        payment ? 'without_payment' : 'whole',
        options.markSettling ?? false,
        payment,
      );
      return TRANSITION_SCRIPT.runParts(this.redis, values.keys, [values.args]) as Promise<TransitionReply>;
    };
    const reply = payment ? await run(this.keysFor(id, payment)) : await this.onShard(id, run, (r) => r[1] === '');
    const [applied, from, flat] = reply;
    await this.finishClosing(id, fields, reply[5]);
    if (reply[6] === 1 && options.deferWake !== true) await this.wakeWaiters({ id, to, source: moverOf(interaction), ...(payment ? { payment } : {}) });
    return {
      applied: applied === 1,
      from: fromState(from),
      record: flat && flat.length > 0 ? decodeRecordPairs(flat, payment) : null,
      waiters: reply[6] === 1,
      ...undecidedMarkOf(reply),
    };
  }

  /**
   * `transitionAndGet` (with the settling mark, the payment held by the caller) that also runs `step` (another
   * module's write: the event store's recording of the outcome's event, `EventStore.recordStep`) in the same
   * atomic step, when the move applies to exactly `expected`: the record the caller holds and built the step
   * from (same state, updated_at and attempts in Redis). The step then takes the place of the settling mark.
   * Otherwise nothing else is written (`recorded: null`) and the caller builds its step from the returned
   * record as usual. One round trip either way.
   * @param options.after `afterTransition(expected, to, fields, now)` when the caller built it already (it is
   *   the record returned when the step ran without a read-back); default: built here when needed.
   * @param options.deferWake leave the dependents waiting for the operation to the caller (`wakeWaiters`, when
   *   `waiters` says so), to wake after what it must do first; default false: woken here, as by `transition`.
   */
  async transitionAndRecord<R>(
    expected: OperationRecord,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields,
    step: LuaStep<R>,
    options: { reference?: PspReference | null; now?: number; after?: OperationRecord; deferWake?: boolean } = {},
  ): Promise<TransitionWithRecord & { recorded: R | null }> {
    const now = options.now ?? Date.now();
    let script = withStepScripts.get(step.fragment);
    if (!script) {
      script = transitionWithStepScript(step.fragment, step.call);
      withStepScripts.set(step.fragment, script);
    }
    const own = this.transitionValues(
      this.keysFor(expected.id, expected.payment),
      expected.id,
      to,
      interaction,
      fields,
      now,
      options.reference ?? null,
      'without_payment',
      true,
      expected.payment,
    );
    // The parts are passed as they are, never merged into one object: a merged object of some fifty names
    // is a dictionary V8 builds one property at a time (several KiB and a measurable share of CPU per command).
    const expectedArgs = {
      expected_state: expected.state,
      expected_updated_at: String(expected.updatedAt),
      expected_attempts: String(expected.attempts),
    };
    const reply = (await script.runParts(
      this.redis,
      [step.values.keys, own.keys[0], own.keys[1]],
      [step.values.args, own.args, expectedArgs],
    )) as TransitionReply;
    const [applied, from, flat, ran, stepReply, closing, waiters] = reply;
    await this.finishClosing(expected.id, fields, closing);
    if (waiters === 1 && options.deferWake !== true) await this.wakeWaiters({ id: expected.id, payment: expected.payment, to, source: moverOf(interaction) });
    let record = flat && flat.length > 0 ? decodeRecordPairs(flat, expected.payment) : null;
    if (record && !record.state) record = null;
    // The step ran without a read-back (the script skips it then, see ledger-scripts.ts): the move applied
    // to exactly `expected`, so the record it left is `expected` moved.
    if (record === null && ran === 1) record = options.after ?? afterTransition(expected, to, fields, now);
    return {
      applied: applied === 1,
      from: fromState(from),
      record,
      recorded: ran === 1 ? step.read(stepReply) : null,
      waiters: waiters === 1,
      ...undecidedMarkOf(reply),
    };
  }

  /**
   * Runs another module's step (the event store's recording of an event, `EventStore.recordStep`) only while operation
   * `read` still stands as the caller read it: the same state and attempt count in Redis, checked in the same atomic
   * script. For what a decision on that read sends on its own, without moving the operation: a risk hold's PENDING
   * notice, which must not reach the OMS for an operation another worker sent meanwhile. Nothing else is written.
   * @returns the step's reply, or null when the operation moved (or is gone) and the step did not run.
   */
  async runAsRead<R>(read: OperationRecord, step: LuaStep<R>): Promise<R | null> {
    let script = asReadScripts.get(step.fragment);
    if (!script) {
      script = asReadStepScript(step.fragment, step.call);
      asReadScripts.set(step.fragment, script);
    }
    const op = this.keysFor(read.id, read.payment).op(read.id);
    const reply = (await script.runParts(
      this.redis,
      [step.values.keys, { op }],
      [step.values.args, { read_state: read.state, read_attempts: String(read.attempts) }],
    )) as [number, unknown?];
    return reply[0] === 1 ? step.read(reply[1]) : null;
  }

  /**
   * The transition script's inputs, by name (ledger-scripts.ts `TRANSITION_INPUTS`), in `keys`' shard: its keys
   * in two parts (the shard's state indexes, built once, and the operation's own), for `LuaScript.runParts`.
   */
  private transitionValues(
    keys: ShardKeys,
    id: string,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields,
    now: number,
    reference: PspReference | null,
    readBack: ReadBack,
    markSettling: boolean,
    payment: Payment | undefined,
  ): TransitionValues {
    const score = POLLED_STATES.has(to) && fields.nextCheckAt !== undefined ? fields.nextCheckAt : now;
    const op = keys.op(id);
    const closes = fields.closesAuthorization;
    return {
      keys: [
        stateKeysOf(keys),
        {
          op,
          log: keys.history(id),
          settling: keys.settling,
          // Unused keys are given the record's own key: every declared key stays in the operation's slot.
          ref: reference ? keys.reference(`${reference.gateway}:${reference.reference}`) : op,
          auths_open: keys.authsOpen,
          auths_expiry: keys.authsExpiry,
          close_op: closes ? keys.op(closes.key) : op,
          close_ref: closes ? keys.reference(`${closes.gateway}:${closes.key}`) : op,
          close_auth: closes?.id !== undefined ? keys.op(closes.id) : op,
        },
      ],
      args: {
        id,
        now,
        to,
        score,
        fields: JSON.stringify(encodeTransitionFields(fields)),
        interaction: historyEntry(interaction, now, to),
        count_attempt: fields.countAttempt ? '1' : '0',
        has_ref: reference ? (reference.ifUnclaimed === true ? 'nx' : '1') : '0',
        ref_ttl: REFERENCE_TTL_S,
        read_back: readBack,
        settle: markSettling ? '1' : '0',
        close: closes ? '1' : '0',
        close_id: closes?.id ?? '',
        // Card data is not kept once the operation has ended (PCI DSS: no security code after authorization):
        // the one-time method data only served to send the command, and an ended operation is never sent again.
        scrubbed_payment: payment && dropsMethodData(to, payment) ? JSON.stringify(withoutMethodToken(payment)) : '',
        only_from: fields.onlyFrom ?? '',
        only_attempts: fields.onlyAttempts === undefined ? '' : String(fields.onlyAttempts),
        preceding: fields.precededBy && fields.precededBy.length > 0 ? JSON.stringify(fields.precededBy.map((entry) => historyEntry(entry, now))) : '',
      },
    };
  }

  /**
   * What the transition script left of closing the authorization it names (see `AUTHORIZATION_INDEX_LUA`):
   * the authorization's own `closed_by` when it was found through a reference entry and is not the id the
   * caller resolved the reference to (`closesAuthorization.id`, whose record the script declares), or the
   * whole closing when the authorization lives in another shard (a command of another order or payment
   * anchor). Rare: an extra round trip only then.
   */
  private async finishClosing(closer: string, fields: TransitionFields, left: string | number | undefined): Promise<void> {
    if (typeof left !== 'string' || left === '' || !fields.closesAuthorization) return;
    let auth = left;
    let namedByRef = true;
    if (left.startsWith('?')) {
      const { gateway, key } = fields.closesAuthorization;
      const asId = await this.shardOf(key);
      // By reference: the entry of another shard than the closer's (it may have just taken the reference over).
      const found = asId !== null ? { id: key, shard: asId } : await this.locateReference(gateway, key, closer);
      if (!found || found.id === closer) return;
      auth = found.id;
      namedByRef = asId === null;
      const own = await this.keysOfId(closer);
      await this.redis.hset(own.op(closer), 'authorization_id', auth);
    }
    await this.closeAuthorization(auth, closer, namedByRef);
  }

  /** Appends a history entry without changing state (e.g. a retry scheduled, a duplicate seen). */
  async appendInteraction(id: string, interaction: Omit<Interaction, 'at'>, now = Date.now()): Promise<void> {
    const keys = await this.keysOfId(id);
    await this.redis.rpush(keys.history(id), historyEntry(interaction, now));
  }

  /**
   * Appends a history entry only while operation `read` stands as the caller read it (same state and attempt count, in
   * the same atomic script): see `APPEND_AS_READ_SCRIPT`. Redacted as every entry.
   * @returns whether it was appended (false: the operation moved meanwhile, or is gone) and the state found (`null`: gone).
   */
  async appendAsRead(
    read: Pick<OperationRecord, 'id' | 'state' | 'attempts' | 'payment'>,
    interaction: Omit<Interaction, 'at'>,
    now = Date.now(),
  ): Promise<{ appended: boolean; state: OperationState | null }> {
    const keys = this.keysFor(read.id, read.payment);
    const [appended, state] = (await APPEND_AS_READ_SCRIPT.run(this.redis, {
      keys: { op: keys.op(read.id), log: keys.history(read.id) },
      args: { read_state: read.state, read_attempts: String(read.attempts), interaction: historyEntry(interaction, now) },
    })) as [number, string];
    return { appended: appended === 1, state: state === '' ? null : (state as OperationState) };
  }

  /**
   * Claims the one completion request of a customer action (`payment.action_result`) for operation `id`:
   * true the first time (the caller sends it), false once claimed (it may have reached the PSP: only an
   * inquiry may follow). One field of the operation's own hash, so it lives and expires with it.
   */
  async claimActionCompletion(id: string, now = Date.now()): Promise<boolean> {
    // Never writes where no record is: an operation that does not exist has nothing to claim.
    const shard = await this.shardOf(id);
    if (shard === null) return false;
    return (await this.redis.hsetnx(this.shards[shard].op(id), 'action_completion_at', String(now))) === 1;
  }

  /**
   * The digest stored with operation `id` (`null`: no such operation, or one created before digests were
   * stored). One read when the shard is known: the intake's cheap idempotency-conflict check.
   */
  async digestOf(id: string): Promise<string | null> {
    return this.onShard(
      id,
      (keys) => this.redis.hget(keys.op(id), 'digest'),
      (d) => d === null,
      () => null,
    );
  }

  async get(id: string): Promise<OperationRecord | null> {
    const h = await this.onShard(
      id,
      (keys) => this.redis.hgetall(keys.op(id)),
      (r) => !r.state,
      (): Record<string, string> => ({}),
    );
    if (!h.state) return null;
    return decodeRecord(h);
  }

  /**
   * The operations of order `orderId` as recorded, oldest first (its order index; at most `limit`, default
   * 200). Every one lives in the order's shard, so each is one read there. Not on the hot path.
   */
  async operationsOfOrder(orderId: string, limit = 200): Promise<OperationRecord[]> {
    const ids = await operationIdsOfOrder(this.redis, this.prefix, orderId, limit);
    const shard = shardOfOrder(orderId);
    for (const id of ids) this.memo.set(id, shard);
    const records = await Promise.all(ids.map((id) => this.get(id)));
    return records.filter((r): r is OperationRecord => r !== null);
  }

  async interactions(id: string): Promise<Interaction[]> {
    const keys = await this.keysOfId(id);
    const raw = await this.redis.lrange(keys.history(id), 0, -1);
    return raw.map((r) => JSON.parse(r) as Interaction);
  }

  /** The event of `id`'s current state is recorded: nothing left for the sweep. */
  async markSettled(id: string): Promise<void> {
    const keys = await this.keysOfId(id);
    await this.redis.zrem(keys.settling, id);
  }

  /**
   * Ids whose settling started before `maxScore` (ms) and never finished, from every shard. An operation is
   * settling while its outcome is written and its event not recorded yet (a crash in between leaves the id
   * here for the recovery sweep): the outcome recorder sets the mark inside the transition itself
   * (`transitionAndGet` with `markSettling`), the event store clears it when it records the event,
   * `markSettled` when there is no event to record.
   */
  async settlingBefore(maxScore: number, limit = 1000): Promise<string[]> {
    return this.scan((keys) => keys.settling, String(maxScore), limit);
  }

  /**
   * Moves the settling mark of `id`, if it still has one, to `score` (epoch ms; ZADD XX: a mark cleared
   * meanwhile is not put back). The recovery sweep: a mark it cannot settle goes behind the others.
   */
  async rescoreSettling(id: string, score: number): Promise<void> {
    const keys = await this.keysOfId(id);
    await this.redis.zadd(keys.settling, 'XX', score, id);
  }

  /**
   * Ids in `state` whose index score is at most `maxScore` (for PENDING/UNKNOWN/UNRESOLVED: due for a
   * check), from every shard, lowest scores first, at most `limit`.
   */
  async idsInState(state: OperationState, maxScore = Number.POSITIVE_INFINITY, limit = 1000): Promise<string[]> {
    return this.scan((keys) => keys.state(state), Number.isFinite(maxScore) ? String(maxScore) : '+inf', limit);
  }

  /**
   * Up to `limit` members scored at most `max` of one index per shard, lowest scores first; each id's shard
   * is remembered (the caller reads or moves them next). See `lowestAcrossKeys` for the round trips.
   */
  private async scan(index: (keys: ShardKeys) => string, max: string, limit: number): Promise<string[]> {
    return lowestAcrossKeys(this.redis, this.shards.map(index), '-inf', max, limit, (id, shard) => this.memo.set(id, shard));
  }

  /**
   * Authorizations in an authorization lifecycle index (authorization-index.ts: `expiry`, scored by when
   * they expire; `open`, by when they become orphans) scored at most `maxScore`, from every shard.
   */
  async authorizationsDue(index: 'expiry' | 'open', maxScore: number, limit: number): Promise<string[]> {
    return this.scan((keys) => (index === 'expiry' ? keys.authsExpiry : keys.authsOpen), String(maxScore), limit);
  }

  /** Whether `id` is in the authorization lifecycle index `index` of its shard. */
  async inAuthorizationIndex(index: 'expiry' | 'open', id: string): Promise<boolean> {
    const keys = await this.keysOfId(id);
    return (await this.redis.zscore(index === 'expiry' ? keys.authsExpiry : keys.authsOpen, id)) !== null;
  }

  /** Takes `id` out of the authorization lifecycle index `index` (of every shard when its record is gone). */
  async dropFromAuthorizationIndex(index: 'expiry' | 'open', id: string): Promise<void> {
    const shard = await this.shardOf(id);
    const shards = shard === null ? this.shards : [this.shards[shard]];
    await Promise.all(shards.map((keys) => this.redis.zrem(index === 'expiry' ? keys.authsExpiry : keys.authsOpen, id)));
  }

  /**
   * An authorization the PSP no longer holds (it lapsed, or its cancellation was confirmed) leaves both
   * lifecycle indexes: no `authorization_expiring` notice and no orphan void of it follow. Idempotent.
   */
  async releaseAuthorization(id: string): Promise<void> {
    await Promise.all([this.dropFromAuthorizationIndex('expiry', id), this.dropFromAuthorizationIndex('open', id)]);
  }

  /**
   * Moves `id`'s score in the authorization lifecycle index `index` to `score` (a sweep puts back an
   * authorization it faulted on, behind the others); one that left the index meanwhile is not put back (ZADD XX).
   */
  async postponeInAuthorizationIndex(index: 'expiry' | 'open', id: string, score: number): Promise<void> {
    const shard = await this.shardOf(id);
    if (shard === null) return;
    const keys = this.shards[shard];
    await this.redis.zadd(index === 'expiry' ? keys.authsExpiry : keys.authsOpen, 'XX', score, id);
  }

  /** Takes `id` out of the index of `state` of every shard: an entry left behind by a record that is gone. */
  async dropFromStateIndex(state: OperationState, id: string): Promise<void> {
    await Promise.all(this.shards.map((keys) => this.redis.zrem(keys.state(state), id)));
  }

  /**
   * Registers `dependentId` as waiting for operation `on` (its authorization, or a sibling ahead of it) to leave
   * `state`, for `ttlS` seconds: whatever moves `on` next wakes it (`wakeDependentsWith`). Only while `on` is
   * still in `state`, checked atomically with the moves; `false` when it has left it (or is gone): the dependent
   * then looks again at once. One round trip (two when `on.payment` is not given and its shard is not known
   * yet); only for a dependent that waits, once per re-check.
   */
  async waitFor(on: { id: string; payment?: Payment }, dependentId: string, state: OperationState, ttlS: number): Promise<boolean> {
    const keys = on.payment ? this.keysFor(on.id, on.payment) : await this.keysOfId(on.id);
    const reply = await WAIT_FOR_SCRIPT.run(this.redis, {
      keys: { op: keys.op(on.id), waiters: keys.waiters(on.id) },
      args: { dependent: dependentId, state, ttl: Math.max(1, Math.ceil(ttlS)), flag: WAITERS_FLAG },
    });
    return reply === 1;
  }

  /**
   * The dependents waiting for operation `id` (of `payment`, when known) to move, taken: the set deleted and the
   * record's flag cleared in one step. For the {@link DependentWaker} of a move that reported `waiters`.
   */
  async takeWaiters(id: string, payment?: Payment): Promise<string[]> {
    const keys = payment ? this.keysFor(id, payment) : await this.keysOfId(id);
    const ids = await TAKE_WAITERS_SCRIPT.run(this.redis, { keys: { op: keys.op(id), waiters: keys.waiters(id) }, args: { flag: WAITERS_FLAG } });
    return Array.isArray(ids) ? ids.map(String) : [];
  }

  /**
   * Wakes, from now on, the dependents of every operation this ledger moves while they wait for it (`waitFor`),
   * through `waker`: each of `transition`, `transitionAndGet` and `transitionAndRecord` calls it when its move
   * applied, changed the state and found the record flagged, whoever the mover is (the outcome recorder, the
   * delivery's own moves, any later caller). Without one (a process that moves nothing others wait on), the
   * waiters stay registered for the next mover that has one, or their own re-check. Set once per process.
   */
  wakeDependentsWith(waker: DependentWaker): void {
    this.waker = waker;
  }

  /**
   * Wakes the dependents waiting for an operation a move found flagged (see {@link wakeDependentsWith}): what the
   * transitions do themselves, and what a caller that deferred it (`deferWake`) calls once it may.
   */
  async wakeWaiters(moved: WaitedMove): Promise<void> {
    if (this.waker) await this.waker(moved);
  }

  /** Sets `field` on operation `id`'s record unless it is set (HSETNX); whether this call set it. */
  async setFieldOnce(id: string, field: string, value: string): Promise<boolean> {
    const keys = await this.keysOfId(id);
    return (await this.redis.hsetnx(keys.op(id), field, value)) === 1;
  }

  /**
   * `setFieldOnce` that also says what the field holds: `value` when this call set it, else what an earlier one
   * set. One round trip (HSETNX and HGET on one key, in MULTI).
   */
  async setFieldOnceAndGet(id: string, field: string, value: string): Promise<{ set: boolean; value: string }> {
    const key = (await this.keysOfId(id)).op(id);
    const replies = await this.redis.multi().hsetnx(key, field, value).hget(key, field).exec();
    if (!replies) throw new Error(`setting ${field} on operation ${id} was aborted`);
    const [setReply, getReply] = replies;
    if (setReply[0]) throw setReply[0];
    if (getReply[0]) throw getReply[0];
    return { set: setReply[1] === 1, value: typeof getReply[1] === 'string' ? getReply[1] : value };
  }

  /**
   * Records what cancel `id`, recorded FAILED, did at the PSP after all (a `succeeded_after_failure`), once: the effect
   * recorded first stands, as a success's does (`cancelEffect`). One round trip.
   * @returns the effect the record holds, and whether this call recorded it.
   */
  async recordCancelEffectOnce(id: string, effect: CancelEffect): Promise<{ recorded: boolean; effect: CancelEffect }> {
    const { set, value } = await this.setFieldOnceAndGet(id, CANCEL_EFFECT_FIELD, JSON.stringify(effect));
    if (set) return { recorded: true, effect };
    let stored: CancelEffect | undefined;
    try {
      stored = parseCancelEffect(JSON.parse(value) as unknown);
    } catch {
      stored = undefined;
    }
    return { recorded: false, effect: stored ?? effect };
  }

  /**
   * Marks capture `id`, counted in flight by the undecided reading of late refund fact `adjustmentId`, so its move to
   * FAILED reads its payment again (`REFUNDS_UNDECIDED_FIELD`, read by the transition itself). Only while the capture is
   * not settled (or FAILED held for its PSP's retry, which the reading counts in flight and an operator's release reads
   * again: `releaseHeldForPspRetry` in ops): `settled` when it is SUCCEEDED or FAILED already (its move is past; the caller reads the payment again
   * itself), `marked` otherwise (the first mark kept), `missing` when there is no such operation. One round trip.
   * `reference`: the PSP refund a refund of ours' fact names, kept with the mark (`REFUNDS_UNDECIDED_REFS_FIELD`).
   */
  async markRefundsUndecided(id: string, adjustmentId: string, reference?: string): Promise<'marked' | 'settled' | 'missing'> {
    const reply = (await this.onShard(
      id,
      (keys) =>
        MARK_REFUNDS_UNDECIDED_SCRIPT.run(this.redis, {
          keys: { op: keys.op(id) },
          args: {
            field: REFUNDS_UNDECIDED_FIELD,
            adjustment: adjustmentId,
            refs_field: REFUNDS_UNDECIDED_REFS_FIELD,
            reference: reference ?? '',
            held_field: HELD_FOR_PSP_RETRY_FIELD,
            late_field: SUCCEEDED_AFTER_FAILURE_FIELD,
          },
        }),
      (r) => r === -1,
      () => -1,
    )) as number;
    return reply === 1 ? 'marked' : reply === 0 ? 'settled' : 'missing';
  }

  /**
   * Keeps on capture or sale `id` that refunded-beyond alarms `alarms` raised when it failed no longer hold, or on
   * payment `id` (its authorization or sale) that alarms a late refund fact or a void said of it (their ids) no longer
   * hold (`REFUNDS_ALARM_WITHDRAWN_FIELD`: `by` the success fact's adjustment id, `reading` what the payment read again
   * found, `at` epoch ms), once per alarm: one withdrawn already is left out. `claims` of the payment held by an alarm
   * withdrawn now are given up in the same step (`WITHDRAW_REFUND_ALARMS_SCRIPT`). One round trip, one key.
   * @returns the alarms withdrawn by this call (empty: all were already), or null when there is no such operation.
   */
  async withdrawRefundAlarmsOnce(
    id: string,
    entry: { alarms: readonly string[]; by: string; reading: string; at: number; claims?: readonly { field: string; by: string }[] },
  ): Promise<string[] | null> {
    const reply = (await this.onShard(
      id,
      (keys) =>
        WITHDRAW_REFUND_ALARMS_SCRIPT.run(this.redis, {
          keys: { op: keys.op(id) },
          args: {
            field: REFUNDS_ALARM_WITHDRAWN_FIELD,
            alarms: JSON.stringify(entry.alarms),
            by: entry.by,
            reading: entry.reading,
            at: String(entry.at),
            // cjson reads [] as an empty table either way.
            claims: JSON.stringify((entry.claims ?? []).map((c) => [c.field, c.by, givenUpClaimField(c.field)])),
          },
        }),
      (r) => r === -1,
      () => -1,
    )) as string | number;
    if (typeof reply !== 'string') return null;
    const fresh = JSON.parse(reply) as unknown;
    // cjson encodes an empty table as an object: nothing withdrawn now.
    return Array.isArray(fresh) ? fresh.filter((a): a is string => typeof a === 'string') : [];
  }

  /**
   * Claims refunded-beyond `field` (`refundedBeyondSaidField`) of payment `id` (its authorization or sale) for `by`, once
   * (`CLAIM_REFUNDED_BEYOND_SCRIPT`): the holder it finds or sets, `withdrawn` when `by`'s alarm was withdrawn on that
   * record (it takes no claim back), or null when there is no such payment. One round trip, one key.
   */
  async claimRefundedBeyond(id: string, field: string, by: string): Promise<{ holder: string } | 'withdrawn' | null> {
    const reply = (await this.onShard(
      id,
      (keys) =>
        CLAIM_REFUNDED_BEYOND_SCRIPT.run(this.redis, {
          keys: { op: keys.op(id) },
          args: { field, by, withdrawn_field: REFUNDS_ALARM_WITHDRAWN_FIELD },
        }),
      (r) => r === -1,
      () => -1,
    )) as string | number;
    if (reply === -1) return null;
    return reply === '' ? 'withdrawn' : { holder: String(reply) };
  }

  /**
   * Who says each refunded-beyond standing of payment `id` (its authorization or sale): the claims on its record
   * (`refundedBeyondSaidField` → the adjustment or cancel id holding it), in no order; none when it has none or is not
   * found. One read of the record (HGETALL: a payment's record is small).
   */
  async refundedBeyondClaims(id: string): Promise<{ field: string; by: string }[]> {
    const hash = await this.redis.hgetall((await this.keysOfId(id)).op(id));
    return Object.entries(hash)
      .filter(([field]) => field.startsWith(REFUNDED_BEYOND_SAID_PREFIX))
      .map(([field, by]) => ({ field, by }));
  }

  /** The raw stored `fields` of each of `ids` (null where absent), one read each, sent together. */
  async fieldsOf(ids: readonly string[], fields: readonly string[]): Promise<(string | null)[][]> {
    return Promise.all(ids.map(async (id) => this.redis.hmget((await this.keysOfId(id)).op(id), ...fields)));
  }

  /**
   * Moves the index score of those of `ids` still in `state` to `score` (epoch ms); an id that moved on
   * meanwhile is not put back (ZADD XX). The recovery sweep: what it queued is left to the queue for another
   * stale period instead of being picked up again at every pass.
   */
  async rescoreInState(state: OperationState, ids: readonly string[], score: number): Promise<void> {
    for (const [shard, members] of await this.byShard(ids)) {
      await this.redis.zadd(this.shards[shard].state(state), 'XX', ...members.flatMap((id) => [score, id]));
    }
  }

  /** `ids` grouped by the shard they live in (ids of no operation are left out). */
  private async byShard(ids: readonly string[]): Promise<Map<number, string[]>> {
    const groups = new Map<number, string[]>();
    const shards = await Promise.all(ids.map((id) => this.shardOf(id)));
    ids.forEach((id, i) => {
      const shard = shards[i];
      if (shard === null) return;
      const group = groups.get(shard);
      if (group) group.push(id);
      else groups.set(shard, [id]);
    });
    return groups;
  }

  /**
   * An authorization and the commands that acted on it (captures and refunds, what its remaining amount is
   * made of; cancels and revalidates, which close it), registering `dependentId` among them in the same round
   * trip. A second round trip reads the other dependents, only when there are any. Not on the hot path: only
   * commands naming one of our authorizations, before their first attempt.
   * @returns `null` when there is no such operation.
   */
  async authorizationView(authId: string, dependentId: string): Promise<{ auth: OperationRecord; dependents: DependentSummary[]; registered: number } | null> {
    const view = await this.viewWithDependent(authId, dependentId);
    return view && { auth: decodeRecord(view.hash), dependents: view.dependents, registered: view.registered };
  }

  /**
   * `AUTHORIZATION_VIEW_SCRIPT` on `id`'s shard: the operation, and when it authorizes, `dependentId`
   * registered among its dependents and the others summed up. `null` when no shard holds it.
   */
  private async viewWithDependent(
    id: string,
    dependentId: string,
  ): Promise<{ hash: Record<string, string>; authorizing: boolean; dependents: DependentSummary[]; registered: number } | null> {
    const [flat, members, authorizing, orders] = await this.onShard(
      id,
      (keys) =>
        AUTHORIZATION_VIEW_SCRIPT.run(this.redis, {
          keys: { op: keys.op(id), dependents: keys.dependents(id) },
          args: { dependent: dependentId },
        }) as Promise<[string[], string[], number, number[]]>,
      (r) => r[0].length === 0,
      (): [string[], string[], number, number[]] => [[], [], 0, []],
    );
    if (flat.length === 0) return null;
    return { hash: hashFromPairs(flat), authorizing: authorizing === 1, ...(await this.dependentsRead(members, orders, dependentId)) };
  }

  /**
   * What the succeeded captures of authorization `authId` took, in minor units of `currency` (the order's, or
   * the PSP's of a converted authorization): each one's amount in it (`amountIn`: confirmed, else asked of
   * the PSP at the locked rate, else the command's); 0 with none. `null` when one of them moved an amount
   * known in no figure of that currency.
   */
  async capturedIn(authId: string, currency: string): Promise<number | null> {
    return this.movedIn(authId, currency, (d) => d.command === 'capture' && doneAtPsp(d));
  }

  /**
   * What the refunds registered on `paymentId` (a sale, or an authorization) gave back, in minor units of `currency`:
   * each one the PSP did (`doneAtPsp`: SUCCEEDED, or FAILED and done after all) and did not undo after (`undone`: its
   * money came back, or it failed at the scheme), at its amount in that currency (`amountIn`: confirmed, else asked
   * in it); 0 with none. Those not decided yet are not counted (the caller waits for them). `null` when one of them
   * gave back an amount known in no figure of that currency.
   */
  async refundedIn(paymentId: string, currency: string): Promise<number | null> {
    return this.movedIn(paymentId, currency, (d) => d.command === 'refund' && doneAtPsp(d) && !d.undone);
  }

  /**
   * Puts capture or refund `id`, recorded FAILED and held for its PSP's own retry (`HELD_FOR_PSP_RETRY_FIELD`), in its
   * shard's index of held ones (`ShardKeys.heldForPspRetry`) since `at` (epoch ms), unless it is there already (the
   * first hold's time stays). Idempotent: the recorder calls it on every reading of the failure.
   */
  async indexHeldForPspRetry(id: string, at: number): Promise<void> {
    await this.redis.zadd((await this.keysOfId(id)).heldForPspRetry, 'NX', at, id);
  }

  /**
   * When capture or refund `id` entered its shard's index of those held for their PSP's own retry
   * (`indexHeldForPspRetry`: when first held), epoch ms; null when it is not in it (not held, or held by a release
   * before the index and not backfilled yet).
   */
  async heldForPspRetryIndexedAt(id: string): Promise<number | null> {
    const score = await this.onShard(
      id,
      (keys) => this.redis.zscore(keys.heldForPspRetry, id),
      (v) => v === null,
      () => null,
    );
    return score === null ? null : Number(score);
  }

  /** Takes `id` out of its shard's index of operations held for their PSP's retry (done after all). Idempotent. */
  async unindexHeldForPspRetry(id: string): Promise<void> {
    await this.redis.zrem((await this.keysOfId(id)).heldForPspRetry, id);
  }

  /**
   * An operator releases capture or refund `id` from its hold for the PSP's own retry (the PSP confirmed no retry will
   * come): in one script on its shard, checked against the record as it stands (a retry success recorded meanwhile
   * wins), the hold mark is replaced by a release mark (`HELD_FOR_PSP_RETRY_RELEASED_FIELD`: when, who, why, the PSP
   * reason it held), a `held_for_psp_retry_released` history entry is appended and its index entry removed. Its amount
   * then no longer counts as held: a cancel of its authorization, or another capture or refund of that amount, is
   * checked as for any FAILED one. Should the PSP's retry come after all, the release mark still says the capture was
   * held (`DependentSummary.doneByPspRetry`): a cancel is then refused `captured_by_psp_retry`, as without a release.
   * `reason` and `by` are redacted before they are stored.
   * @returns `released` with the PSP reason it held, or why not: `not_found`, `not_held` (no hold, or not FAILED),
   *   `retry_succeeded` (the PSP's retry is recorded done: it stays captured or refunded), `already_released`.
   */
  async releaseHeldForPspRetry(
    id: string,
    release: { reason: string; by: string },
    now = Date.now(),
  ): Promise<{ result: 'released'; pspReason: string } | { result: 'not_found' | 'not_held' | 'retry_succeeded' | 'already_released' }> {
    const shard = await this.shardOf(id, true);
    if (shard === null) return { result: 'not_found' };
    const keys = this.shards[shard];
    const said = redact({ by: release.by, reason: release.reason });
    const [code, value] = (await RELEASE_HELD_FOR_PSP_RETRY_SCRIPT.run(this.redis, {
      keys: { op: keys.op(id), log: keys.history(id), held_index: keys.heldForPspRetry },
      args: {
        op_id: id,
        held_field: HELD_FOR_PSP_RETRY_FIELD,
        released_field: HELD_FOR_PSP_RETRY_RELEASED_FIELD,
        late_field: SUCCEEDED_AFTER_FAILURE_FIELD,
        mark: JSON.stringify({ ...said, at: now }),
        interaction: historyEntry({ event: 'held_for_psp_retry_released', ...said }, now),
      },
    })) as [number, string];
    if (code === 1) return { result: 'released', pspReason: value };
    return { result: value as 'not_found' | 'not_held' | 'retry_succeeded' | 'already_released' };
  }

  /** The release mark of `id` (`releaseHeldForPspRetry`: JSON `{ at, by, reason, psp_reason }`), or null when none was released. */
  async heldForPspRetryRelease(id: string): Promise<string | null> {
    return this.onShard(
      id,
      (keys) => this.redis.hget(keys.op(id), HELD_FOR_PSP_RETRY_RELEASED_FIELD),
      (v) => v === null,
      () => null,
    );
  }

  /**
   * The captures and refunds in the index of those held for their PSP's own retry (`indexHeldForPspRetry`) held since
   * `before` (epoch ms) or earlier, oldest first, at most `limit`, every shard; each read again (one read each), and one
   * no longer held (done after all, its record gone) taken out of the index rather than listed.
   */
  async heldForPspRetrySince(before: number, limit: number): Promise<{ record: OperationRecord; heldSince: number }[]> {
    const indexes = this.shards.map((keys) => keys.heldForPspRetry);
    const oldest = (await scoredAcrossKeys(this.redis, indexes, '-inf', String(before), limit)).slice(0, limit);
    const read = await Promise.all(oldest.map(async (e) => ({ ...e, record: await this.get(e.member) })));
    const held: { record: OperationRecord; heldSince: number }[] = [];
    for (const e of read) {
      if (e.record && e.record.state === 'FAILED' && e.record.heldForPspRetry !== undefined && e.record.succeededAfterFailure === undefined)
        held.push({ record: e.record, heldSince: e.score });
      else await this.redis.zrem(indexes[e.keyIndex], e.member);
    }
    return held;
  }

  /**
   * What the refunds registered on `paymentId` that are recorded FAILED and held for their PSP's own retry
   * (`HELD_FOR_PSP_RETRY_FIELD`: Adyen's technical REFUND_FAILED, not done after all yet) may still give back, in minor
   * units of `currency` (as {@link refundedIn} counts); 0 with none. `null` when one of them is known in no figure of it.
   */
  async heldForRetryIn(paymentId: string, currency: string): Promise<number | null> {
    return this.movedIn(paymentId, currency, (d) => d.command === 'refund' && d.heldForPspRetry);
  }

  /**
   * The sum, in minor units of `currency`, of what the dependents registered on `id` that `counts` moved (`amountIn`);
   * `null` when one of them moved an amount known in no figure of that currency. One read of the set, one per member.
   */
  private async movedIn(
    id: string,
    currency: string,
    counts: (d: { command: CommandType; state: OperationState; undone: boolean; succeededAfterFailure: boolean; heldForPspRetry: boolean }) => boolean,
  ): Promise<number | null> {
    const members = await this.redis.smembers((await this.keysOfId(id)).dependents(id));
    let moved = 0;
    for (const d of await this.movedAmounts(members)) {
      if (!counts(d)) continue;
      const amount = amountIn(d.moved, currency);
      if (amount === null) return null;
      moved += amount;
    }
    return moved;
  }

  /**
   * The commands registered on authorization `authId` (captures, cancels, refunds… that viewed it), each with
   * its command, state and amount; read one record each, wherever its shard. Registration order is not read (0).
   */
  async dependentsOf(authId: string): Promise<DependentSummary[]> {
    const members = await this.redis.smembers((await this.keysOfId(authId)).dependents(authId));
    return this.dependentSummaries(members, new Map());
  }

  /**
   * Closes authorization `authId` for `closerId` in the authorization's own shard: out of the open and expiry
   * indexes, `closed_by` set unless another closer holds it. The step a closing command's transition leaves
   * for a second write when the authorization lives in another shard, for a sweep to finish when a crash came
   * between the two. `namedByRef`: the closer named it by its PSP reference (it then takes `closed_by` over
   * from an earlier closer). Idempotent.
   */
  async closeAuthorization(authId: string, closerId: string, namedByRef = false): Promise<void> {
    const keys = await this.keysOfId(authId);
    await CLOSE_AUTHORIZATION_SCRIPT.run(this.redis, {
      keys: { auth_op: keys.op(authId), auths_open: keys.authsOpen, auths_expiry: keys.authsExpiry },
      args: { auth: authId, closer: closerId, named_by_ref: namedByRef ? '1' : '0' },
    });
  }

  /** The dependents a script listed (`members`, registered in `orders`) other than `dependentId`, and where `dependentId` was registered. */
  private async dependentsRead(
    members: readonly string[],
    orders: readonly number[],
    dependentId: string,
  ): Promise<{ dependents: DependentSummary[]; registered: number }> {
    const registered = new Map(members.map((m, i) => [m, Number(orders[i] ?? 0)]));
    const dependents = await this.dependentSummaries(
      members.filter((m) => m !== dependentId),
      registered,
    );
    return { dependents, registered: registered.get(dependentId) ?? 0 };
  }

  /** What `ids` (dependents of an authorization) are and moved, with their registration order; those not found are left out. */
  private async dependentSummaries(ids: readonly string[], registered: ReadonlyMap<string, number>): Promise<DependentSummary[]> {
    // Summed against the authorization in the order's currency: a converted dependent counts what it asked.
    // Its converted amount comes with the same read: the next part of a converted payment is sent for what
    // the parts before it leave of their converted total.
    return (await this.movedAmounts(ids)).map((d) => {
      const converted = convertedAmount(d.moved);
      return {
        id: d.id,
        command: d.command,
        state: d.state,
        amount: amountInCommandCurrency(d.moved),
        registered: registered.get(d.id) ?? 0,
        ...(converted ? { converted } : {}),
        ...(d.undone ? { undone: true as const } : {}),
        ...(d.succeededAfterFailure ? { succeededAfterFailure: true as const } : {}),
        ...(d.heldForPspRetry ? { heldForPspRetry: true as const } : {}),
        ...(d.doneByPspRetry ? { doneByPspRetry: true as const } : {}),
        ...(d.gatewayReference ? { gatewayReference: d.gatewayReference } : {}),
        ...(d.command === 'cancel' ? { names: d.moved.payment.gateway_key } : {}),
        ...(d.capturedAtPsp !== undefined ? { capturedAtPsp: d.capturedAtPsp } : {}),
      };
    });
  }

  /**
   * What `ids` are, their state and the fields that say what they moved, whether the PSP later undid them (a refund or
   * capture, `UNDONE_FIELD`), and whether one recorded FAILED was done by the PSP after all
   * (`SUCCEEDED_AFTER_FAILURE_FIELD`: what it moved is then what the PSP confirmed in that mark, else what it asked),
   * and whether one recorded FAILED is held for the PSP's own retry (`HELD_FOR_PSP_RETRY_FIELD`) or was, until an
   * operator released it (`HELD_FOR_PSP_RETRY_RELEASED_FIELD`); those not found are left out.
   */
  private async movedAmounts(ids: readonly string[]): Promise<
    Array<{
      id: string;
      command: CommandType;
      state: OperationState;
      moved: MovedAmountFields;
      undone: boolean;
      succeededAfterFailure: boolean;
      heldForPspRetry: boolean;
      doneByPspRetry: boolean;
      gatewayReference?: string;
      capturedAtPsp?: number;
    }>
  > {
    if (ids.length === 0) return [];
    // One read per operation, sent together (dependents may live in other shards than their authorization).
    const replies = await Promise.all(
      ids.map(async (id) =>
        this.redis.hmget(
          (await this.keysOfId(id)).op(id),
          'state',
          'command',
          'confirmed_amount',
          'confirmed_currency',
          'payment',
          'routing',
          UNDONE_FIELD,
          SUCCEEDED_AFTER_FAILURE_FIELD,
          ...hashNamesOf(['gatewayReference']),
          HELD_FOR_PSP_RETRY_FIELD,
          HELD_FOR_PSP_RETRY_RELEASED_FIELD,
          CAPTURED_AT_PSP_FIELD,
        ),
      ),
    );
    return replies.flatMap((reply, i) => {
      const [state, command, confirmed, confirmedCurrency, paymentJson, routing, undoneBy, lateJson, reference, heldForRetry, released, capturedJson] = reply;
      if (!state || !command || !paymentJson) return [];
      const late = state === 'FAILED' && lateJson !== null ? readMark(lateJson) : undefined;
      const moved: MovedAmountFields = {
        payment: JSON.parse(paymentJson) as Payment,
        routing: routing ? parseRoutingRecord(JSON.parse(routing)) : undefined,
        // Done after a failure: what the PSP confirmed then, not a figure its refusal may have carried.
        confirmedAmount: late ? late.amount : confirmed !== null ? Number(confirmed) : undefined,
        confirmedCurrency: late ? late.currency : (confirmedCurrency ?? undefined),
      };
      return [
        {
          id: ids[i],
          command: command as CommandType,
          state: state as OperationState,
          moved,
          undone: undoneBy !== null,
          succeededAfterFailure: late !== undefined,
          // Done after all once re-captured: then counted as done, no longer as held.
          heldForPspRetry: state === 'FAILED' && late === undefined && heldForRetry !== null && heldForRetry !== '',
          // The hold's mark stays with the late success: the PSP's retry did it. So does an operator's release mark (which
          // replaced the hold's): a release frees the amount while no retry comes, yet Adyen may re-capture after all.
          doneByPspRetry:
            state === 'FAILED' && late !== undefined && undoneBy === null && ((heldForRetry !== null && heldForRetry !== '') || released !== null),
          ...(reference ? { gatewayReference: reference } : {}),
          ...capturedAtPspOf(state, capturedJson, moved.payment.currency),
        },
      ];
    });
  }

  /**
   * The operation the PSP's `reference` on `gateway` names (the reference index), followed back to the
   * authorization it belongs to when the index holds one of its dependents (a Stripe capture answers with
   * the PaymentIntent id; see `followToAuthorization`). With `dependentId`, that dependent is registered
   * among the authorization's dependents and the others are listed, as in `authorizationView`. A few round
   * trips; only for a dependent command whose `gateway_key` is not one of our operation ids.
   * @returns `null` when the reference is unknown; `authorization: false` when only a related operation of
   *   the same payment was reached (its scope and currency still hold, not its amounts).
   */
  async authorizationByReference(
    gateway: string,
    reference: string,
    dependentId = '',
  ): Promise<{ record: OperationRecord; authorization: boolean; dependents: DependentSummary[]; registered: number } | null> {
    const id = await this.findByReference(gateway, reference);
    if (!id) return null;
    const hashOf = async (other: string): Promise<Record<string, string> | null> => {
      const h = await this.onShard(
        other,
        (keys) => this.redis.hgetall(keys.op(other)),
        (r) => !r.state,
        (): Record<string, string> => ({}),
      );
      return h.state ? h : null;
    };
    let first: Record<string, string> | null;
    if (dependentId !== '') {
      // Usually the reference names the authorization itself: read it and register the dependent at once.
      const view = await this.viewWithDependent(id, dependentId);
      if (!view) return null;
      if (view.authorizing) return { record: decodeRecord(view.hash), authorization: true, dependents: view.dependents, registered: view.registered };
      first = view.hash;
    } else {
      first = await hashOf(id);
    }
    if (!first) return null;
    const reached = await followToAuthorization({ id, hash: first }, { hash: hashOf, findByReference: (ref) => this.findByReference(gateway, ref) });
    const record = decodeRecord(reached.hash);
    if (!reached.authorization || dependentId === '') return { record, authorization: reached.authorization, dependents: [], registered: 0 };
    const keys = await this.keysOfId(reached.id);
    const [members, orders] = (await DEPENDENTS_SCRIPT.run(this.redis, {
      keys: { op: keys.op(reached.id), dependents: keys.dependents(reached.id) },
      args: { dependent: dependentId },
    })) as [string[], number[]];
    return { record, authorization: true, ...(await this.dependentsRead(members, orders, dependentId)) };
  }

  /** How many operations are in each state, summed over the shards (one round trip): the operator's overview. */
  async countByState(): Promise<Record<OperationState, number>> {
    const counts = await Promise.all(OPERATION_STATES.map((s) => this.countInState(s)));
    return Object.fromEntries(OPERATION_STATES.map((s, i) => [s, counts[i]])) as Record<OperationState, number>;
  }

  /** How many operations are in `state` (one ZCARD per shard, sent together): e.g. the UNRESOLVED gauge. */
  async countInState(state: OperationState): Promise<number> {
    const counts = await Promise.all(this.shards.map((keys) => this.redis.zcard(keys.state(state))));
    return counts.reduce((a, b) => a + b, 0);
  }

  // --- Reads over every shard for the operator views (src/ops/) and reconciliation. Never on the hot path. ---

  /**
   * How many operations were created at or after `since` (epoch ms), summed over the shards (one ZCOUNT of
   * each shard's creation index, sent together).
   */
  async countCreatedSince(since: number): Promise<number> {
    return this.countFrom((keys) => keys.created, since);
  }

  /**
   * How many operations in `state` have an index score at or after `since` (epoch ms), summed over the
   * shards (one ZCOUNT each, sent together). For SUCCEEDED and FAILED the score is the time of the move into
   * the state, so this counts those that settled since `since`; for PENDING, UNKNOWN and UNRESOLVED it is the
   * next check; for RECEIVED and SENT the move's time, or where the recovery sweep moved it (`rescoreInState`).
   */
  async countInStateSince(state: OperationState, since: number): Promise<number> {
    return this.countFrom((keys) => keys.state(state), since);
  }

  /** Members of one index per shard scored at or after `since` (epoch ms), summed. */
  private async countFrom(index: (keys: ShardKeys) => string, since: number): Promise<number> {
    const from = String(since);
    const counts = await Promise.all(this.shards.map((keys) => this.redis.zcount(index(keys), from, '+inf')));
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * The `count` ids of `state` with the highest index scores over every shard (each shard's highest `count`,
   * merged), highest first: for SUCCEEDED and FAILED, the ones that entered it last. Each id's shard is
   * remembered (the caller reads them next). One ZREVRANGE per shard, sent together; none for a `count` below 1
   * (a stop of -1 would read each index whole).
   */
  async newestInState(state: OperationState, count: number): Promise<string[]> {
    if (count < 1) return [];
    const pages = await Promise.all(
      this.shards.map(async (keys) => {
        const flat = await this.redis.zrevrange(keys.state(state), 0, count - 1, 'WITHSCORES');
        return scoredEntries(flat).map((e) => ({ ...e, shard: keys.shard }));
      }),
    );
    const newest = pages
      .flat()
      .sort((a, b) => b.score - a.score)
      .slice(0, count);
    for (const e of newest) this.memo.set(e.id, e.shard);
    return newest.map((e) => e.id);
  }

  /** How many operations were created at `from` ≤ t < `to` (epoch ms), over every shard (one ZCOUNT each, sent together). */
  async countCreatedBetween(from: number, to: number): Promise<number> {
    const counts = await Promise.all(this.shards.map((keys) => this.redis.zcount(keys.created, String(from), `(${to}`)));
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * The next `count` (at least 1) operations created at `from` ≤ t < `to` (epoch ms) after `cursor` (none: the
   * window's start), shard after shard, each shard's in creation order (its index's: time, then id), and where
   * the page after starts. Each shard read is one script over its creation index (`entriesAfter`), which finds
   * the cursor's place by its time and id as it reads: an operation removed before it (retention) or written
   * with an earlier time meanwhile (an import, a creating worker's slower clock) moves nothing, so no operation
   * the window held when the walk began is passed over, as pages by rank would. One more entry is asked than
   * needed, so a shard read to its end is seen to be without a second read.
   */
  async createdPage(from: number, to: number, cursor: CreatedCursor | undefined, count: number): Promise<CreatedPage> {
    let { shard, score, id } = cursor ?? { shard: 0, score: from, id: '' };
    const shards: CreatedPage['shards'] = [];
    let left = Math.max(1, count);
    while (left > 0 && shard < this.shards.length) {
      const entries = await entriesAfter(this.redis, this.shards[shard].created, { score, id }, left + 1, `(${to}`);
      const taken = entries.slice(0, left);
      if (taken.length > 0) shards.push({ shard, ids: taken.map((e) => e.id) });
      left -= taken.length;
      if (entries.length > taken.length) ({ score, id } = taken[taken.length - 1]);
      else ({ shard, score, id } = { shard: shard + 1, score: from, id: '' });
    }
    return { shards, next: { shard, score, id }, done: shard >= this.shards.length };
  }

  /**
   * The raw stored `fields` of each of `ids`, every one an operation of shard `shard` (null where absent; a
   * row of nulls for an id with no record there). One script for them all (`READ_FIELDS_SCRIPT`).
   */
  async fieldsInShard(shard: number, ids: readonly string[], fields: readonly string[]): Promise<(string | null)[][]> {
    if (ids.length === 0) return [];
    const keys = this.shards[shard];
    return (await READ_FIELDS_SCRIPT.run(
      this.redis,
      { keys: {}, args: {} },
      fields,
      ids.map((id) => keys.op(id)),
    )) as (string | null)[][];
  }

  /**
   * Where operation ids, PSP references and orders lead, in one round trip of one pipeline per shard (a few
   * commands each, whatever the number asked): for each id, the shard whose creation index holds it (ZMSCORE);
   * for each reference, every shard's reference index entry (MGET: two shards may hold one when an operation of
   * another anchor took it over); for each order, its first `perOrder` operations (the order index, in the
   * order's shard). Nothing is remembered: the caller notes the shards of the ids it goes on with.
   */
  async locateMany(query: OperationLookup): Promise<OperationsLocated> {
    const { ids, gateway, references, orders, perOrder } = query;
    const refNames = references.map((reference) => `${gateway}:${reference}`);
    const orderShards = orders.map((order) => (orderKeyPart(order) === '' ? -1 : shardOfOrder(order)));
    // Reply slots per shard: [ZMSCORE]? [MGET]? then that shard's orders, in the order asked.
    const replies = await this.pipelineEach((keys, p) => {
      let n = 0;
      if (ids.length > 0) {
        p.zmscore(keys.created, ...ids);
        n += 1;
      }
      if (refNames.length > 0) {
        p.mget(...refNames.map((name) => keys.reference(name)));
        n += 1;
      }
      orders.forEach((order, i) => {
        // Not read for a `perOrder` below 1 (a stop of -1 is the whole index): an empty list below.
        if (orderShards[i] !== keys.shard || perOrder < 1) return;
        p.zrange(keys.order(orderKeyPart(order)), 0, perOrder - 1);
        n += 1;
      });
      return n;
    });
    const refSlot = ids.length > 0 ? 1 : 0;
    const orderSlot = refSlot + (refNames.length > 0 ? 1 : 0);
    const idShards = ids.map((_id, n) => {
      for (let s = 0; s < replies.length; s += 1) {
        const scores = replies[s][0] as (string | null)[] | undefined;
        if (scores && scores[n] !== null && scores[n] !== undefined) return s;
      }
      return null;
    });
    const byReference = refNames.map((_name, n) => {
      const held: { id: string; shard: number }[] = [];
      for (let s = 0; s < replies.length; s += 1) {
        const id = (replies[s][refSlot] as (string | null)[] | undefined)?.[n];
        if (typeof id === 'string') held.push({ id, shard: s });
      }
      return held;
    });
    const nextOrder = this.shards.map(() => orderSlot);
    const byOrder = orderShards.map((shard) =>
      shard < 0 || perOrder < 1 ? [] : (replies[shard][nextOrder[shard]++] as string[]).map((id) => ({ id, shard })),
    );
    return { ids: idShards, references: byReference, orders: byOrder };
  }

  /**
   * The adjustments recorded on each of `ids` (`S op:<id>:adjustments`, oldest first), each with its raw
   * `fields` (null where absent: an adjustment id whose hash is gone is listed all the same). Ids of no
   * operation are left out; give each id once (a repeated one lists its adjustments twice). Each id's shard as
   * `shardOf` finds it (remembered, else asked), then two rounds of one pipeline per shard, the second only when
   * some operation has one.
   */
  async adjustmentsOfEach(ids: readonly string[], fields: readonly string[]): Promise<Map<string, RecordedAdjustmentFields[]>> {
    const groups = await this.byShard(ids);
    const lists = await this.pipelineEach((keys, p) => {
      const group = groups.get(keys.shard) ?? [];
      for (const id of group) p.zrange(keys.operationAdjustments(id), 0, -1);
      return group.length;
    });
    const owners: { id: string; adjustment: string }[][] = this.shards.map(() => []);
    const out = new Map<string, RecordedAdjustmentFields[]>();
    for (const [shard, group] of groups) {
      group.forEach((id, n) => {
        out.set(id, []);
        for (const adjustment of (lists[shard][n] as string[] | undefined) ?? []) owners[shard].push({ id, adjustment });
      });
    }
    if (owners.every((o) => o.length === 0)) return out;
    const rows = await this.pipelineEach((keys, p) => {
      for (const o of owners[keys.shard]) p.hmget(keys.adjustment(o.adjustment), ...fields);
      return owners[keys.shard].length;
    });
    owners.forEach((list, shard) =>
      list.forEach(({ id, adjustment }, n) => {
        out.get(id)?.push({ id: adjustment, fields: (rows[shard][n] as (string | null)[] | undefined) ?? [] });
      }),
    );
    return out;
  }

  /**
   * Runs `add` for each shard with that shard's pipeline (Redis Cluster: a pipeline's keys share one slot),
   * skipped when it queued nothing, all sent together; returns each shard's replies (`[]` for a skipped one).
   */
  private async pipelineEach(add: (keys: ShardKeys, pipeline: ChainableCommander) => number): Promise<unknown[][]> {
    return Promise.all(
      this.shards.map(async (keys) => {
        const pipeline = this.redis.pipeline();
        if (add(keys, pipeline) === 0) return [];
        return ((await pipeline.exec()) ?? []).map(([err, reply]) => {
          if (err) throw err;
          return reply;
        });
      }),
    );
  }

  /**
   * The operation a PSP object (`reference` on `gateway`) belongs to, as the transitions that named it
   * indexed it (as long as its record: {@link REFERENCE_TTL_S}). The entry lives in the shard of the operation that set it, so every shard is asked
   * (one round trip); when operations of two shards named it, the one that named it last wins (longest
   * time to live left), as a single entry would have been overwritten.
   */
  async findByReference(gateway: string, reference: string): Promise<string | null> {
    return (await this.locateReference(gateway, reference))?.id ?? null;
  }

  /**
   * Notes that the bridge hands the OMS a stored token of `gateway` whose keyed digest is `digest`
   * (`ledger/issued-tokens.ts`; never the token itself): one SET in the digest's own shard, living
   * {@link ISSUED_TOKEN_TTL_S} from now.
   */
  async indexIssuedToken(digest: string, gateway: string): Promise<void> {
    await this.redis.set(issuedTokenKeyOf(this.prefix, digest), gateway, 'EX', ISSUED_TOKEN_TTL_S);
  }

  /**
   * Whether the issued-token entry of `digest` is on its primary and how many replicas acknowledged it (the shard's
   * probe, `EXISTS`, `WAIT`: `replicaAcknowledgedKeys`, on the confirmation connection). Takes up to `timeoutMs`.
   */
  async issuedTokenAcknowledged(digest: string, replicas: number, timeoutMs: number): Promise<{ present: boolean; acks: number }> {
    const shard = shardKeysOf(this.prefix)[shardOfAnchor(digest)];
    return replicaAcknowledgedKeys(this.redis, [shard.issuedToken(digest)], replicas, timeoutMs, { key: shard.replicaProbe, ttlMs: REPLICA_PROBE_TTL_MS });
  }

  /** The gateway of the issued token whose keyed digest is `digest`, or null when the bridge issued none such (one GET). */
  async issuedTokenGateway(digest: string): Promise<string | null> {
    return this.redis.get(issuedTokenKeyOf(this.prefix, digest));
  }

  /**
   * The gateways of the issued tokens whose keyed digests are `digests` (null: none such), in the order asked: one MGET
   * per shard holding any of them (an entry lives in its digest's own shard, `issuedTokenKeyOf`), all sent together.
   */
  async issuedTokenGateways(digests: readonly string[]): Promise<(string | null)[]> {
    if (digests.length === 0) return [];
    const shards = digests.map((digest) => shardOfAnchor(digest));
    const replies = await this.pipelineEach((keys, p) => {
      const mine = digests.filter((_d, i) => shards[i] === keys.shard);
      if (mine.length === 0) return 0;
      p.mget(...mine.map((digest) => keys.issuedToken(digest)));
      return 1;
    });
    const next = replies.map(() => 0);
    return digests.map((_d, i) => {
      const values = replies[shards[i]][0] as (string | null)[];
      return values[next[shards[i]]++] ?? null;
    });
  }

  /** Drops the issued-token entry of `digest` (erasure); true when there was one. */
  async dropIssuedToken(digest: string): Promise<boolean> {
    return (await this.redis.del(issuedTokenKeyOf(this.prefix, digest))) > 0;
  }

  /**
   * The first of `gateways` whose reference index holds `reference` (every shard asked, all at once), or
   * null: where a PSP reference lives when the command names another gateway than the one holding it (an
   * authorization routed or failed over elsewhere). Only on that rare path.
   */
  async gatewayHoldingReference(gateways: readonly string[], reference: string): Promise<string | null> {
    if (gateways.length === 0) return null;
    const found = await Promise.all(gateways.map((gateway) => this.locateReference(gateway, reference)));
    const index = found.findIndex((f) => f !== null);
    return index < 0 ? null : gateways[index];
  }

  /** `findByReference`, with the shard of the operation found; `except`: an operation not to return. */
  async locateReference(gateway: string, reference: string, except?: string): Promise<{ id: string; shard: number } | null> {
    const name = `${gateway}:${reference}`;
    const ids = await getEach(
      this.redis,
      this.shards.map((keys) => keys.reference(name)),
    );
    const hits = ids.flatMap((id, shard) => (id === null || id === except ? [] : [{ id, shard }]));
    if (hits.length === 0) return null;
    let found = hits[0];
    if (hits.length > 1) {
      const ttls = await Promise.all(hits.map((h) => this.redis.pttl(this.shards[h.shard].reference(name))));
      found = hits[ttls.indexOf(Math.max(...ttls))];
    }
    this.memo.set(found.id, found.shard);
    return found;
  }

  // --- Holds: operations whose gateway is missing from the configuration (delivery/config-hold.ts) ---

  /**
   * Notes that `id` is held for a configuration fix (first time only) and reads its hold marks, in one
   * round trip: `held_since` (epoch ms, set once, cleared by `releaseHold`) and `parked_at` (set by
   * `markParked`). `null`: no such operation. Rare path only.
   */
  async markHeld(id: string, now = Date.now()): Promise<{ heldSince: number; parkedAt: number | null; first: boolean } | null> {
    const reply = (await this.onShard(
      id,
      (keys) => HOLD_SCRIPT.run(this.redis, { keys: { op: keys.op(id) }, args: { now: String(now) } }),
      (r) => r === null,
      () => null,
    )) as [string, string | null, number] | null;
    if (!reply) return null;
    const [since, parked, first] = reply;
    return { heldSince: Number(since), parkedAt: parked ? Number(parked) : null, first: first === 1 };
  }

  /**
   * Marks SUCCEEDED capture or sale `id` (or a FAILED one the PSP did after all, `succeededAfterFailure`) undone by
   * cancel `cancelId`, which voided it at the PSP: its amount no longer counts as captured (a refund of it is refused
   * as `amount_exceeds_captured`). One script: the mark
   * (`UNDONE_FIELD`, set once) and a history entry on the voided record. Idempotent: a retry finds the mark.
   * @returns `marked` now, `already` (a mark is there: `by` names it), or `not_captured` (no SUCCEEDED
   *   capture or sale under `id`).
   */
  async markUndoneByVoid(
    id: string,
    cancelId: string,
    now = Date.now(),
    /** Also a SUCCEEDED refund (a cancel that voided the refund itself): it then no longer counts as refunded. Default false. */
    refund = false,
  ): Promise<{ result: 'marked' | 'already'; by: string } | { result: 'not_captured'; state: string }> {
    const keys = await this.keysOfId(id);
    const [code, value] = (await MARK_VOIDED_SCRIPT.run(this.redis, {
      keys: { op: keys.op(id), log: keys.history(id) },
      args: {
        undone_field: UNDONE_FIELD,
        void_field: UNDONE_BY_VOID_FIELD,
        late_field: SUCCEEDED_AFTER_FAILURE_FIELD,
        by: cancelId,
        refund: refund ? '1' : '0',
        interaction: historyEntry({ event: 'undone', by: cancelId, kind: 'void' }, now),
      },
    })) as [number, string];
    if (code === -1) return { result: 'not_captured', state: value };
    return { result: code === 1 ? 'marked' : 'already', by: value };
  }

  /** Marks a held operation as parked (its dead letter is written). Only while it is still RECEIVED. */
  async markParked(id: string, now = Date.now()): Promise<boolean> {
    const keys = await this.keysOfId(id);
    return (await PARK_SCRIPT.run(this.redis, { keys: { op: keys.op(id) }, args: { now: String(now) } })) === 1;
  }

  /**
   * A re-sent (or replayed) command of a held or parked operation that was never sent: clears its hold
   * marks so it gets a fresh grace period and is delivered again. Returns whether there was a hold to
   * release (false: not held, or it moved on from RECEIVED, so nothing to redeliver).
   */
  async releaseHold(id: string): Promise<boolean> {
    const keys = await this.keysOfId(id);
    return (await RELEASE_SCRIPT.run(this.redis, { keys: { op: keys.op(id) }, args: {} })) === 1;
  }

  // --- Data lifecycle: restore, retention, erasure (src/data-lifecycle/, docs/DATA.md). Never on the hot path. ---

  /**
   * Writes an operation back from an export: `plan` is the list of writes (src/data-lifecycle/restore-plan.ts)
   * that rebuild its record, history, every index entry and its companions in shard `shard` (its payment's),
   * applied in one atomic step.
   * @returns false (and writes nothing) when the operation already exists.
   */
  async restoreOperation(id: string, shard: number, plan: readonly RestoreStep[]): Promise<boolean> {
    const keys = this.shards[shard];
    const { indexed, list } = keyList(plan.map((step) => step.k));
    const steps = plan.map((step) => ({ ...step, k: indexed.get(step.k) }));
    const restored = (await RESTORE_SCRIPT.run(this.redis, { keys: { op: keys.op(id) }, args: { plan: JSON.stringify(steps) } }, [], list)) === 1;
    if (restored) {
      this.memo.set(id, shard);
      await CLAIM_KEY_SCRIPT.run(this.redis, { keys: { claim: this.shards[shardOfAnchor(id)].idClaim(id) }, args: { holder: shard, ttl_s: ID_CLAIM_TTL_S } });
    }
    return restored;
  }

  /**
   * Expires terminal operation `id` if it was last updated at or before `cutoff` (epoch ms) and nothing of it
   * is live (see `EXPIRE_SCRIPT` for every reason it is kept), deleting it with its `companions`' keys, all in
   * one atomic step. With `requireReconciled`, it must also be older than its gateway's reconciled-through
   * mark (`markReconciledThrough`). Its dependents and the other operations of its order are read first: those
   * of its own shard are checked again inside the step; those of another (a command without the order's
   * anchor) only before it.
   * @returns `{expired: true}` or the reason it was kept.
   */
  async expireTerminal(
    id: string,
    cutoff: number,
    companions: ExpiryCompanions,
    options: { orderKey: string; requireReconciled: boolean },
  ): Promise<{ expired: true } | { expired: false; kept: string }> {
    const shard = await this.shardOf(id);
    if (shard === null) return { expired: false, kept: 'missing' };
    const keys = this.shards[shard];
    const [gateway, dependents, inOrder] = await Promise.all([
      this.redis.hget(keys.op(id), 'payment').then((p) => gatewayOfPayment(p)),
      this.redis.smembers(keys.dependents(id)),
      options.orderKey === '' ? Promise.resolve([] as string[]) : this.redis.zrange(options.orderKey, 0, 999),
    ]);
    const through = options.requireReconciled ? await this.redis.get(this.reconciledThroughKey(gateway)) : null;
    // Related operations in other shards: checked here, outside the atomic step.
    const related = [
      ...dependents.map((d) => ({ id: d, why: 'live_dependent' })),
      ...inOrder.filter((o) => o !== id).map((o) => ({ id: o, why: 'live_in_order' })),
    ];
    const shardsOf = await Promise.all(related.map((r) => this.shardOf(r.id)));
    const local = { dependents: [] as string[], order: [] as string[] };
    for (let i = 0; i < related.length; i++) {
      const other = shardsOf[i];
      if (other === null) continue;
      if (other === shard) {
        (related[i].why === 'live_dependent' ? local.dependents : local.order).push(this.shards[other].op(related[i].id));
        continue;
      }
      const state = await this.redis.hget(this.shards[other].op(related[i].id), 'state');
      if (state && state !== 'SUCCEEDED' && state !== 'FAILED') return { expired: false, kept: related[i].why };
    }
    const rest = [
      ...companions.events.map((e) => e.k),
      ...companions.adjustments.map((a) => a.k),
      ...companions.refs,
      ...companions.payment,
      ...local.dependents,
      ...local.order,
    ];
    const { indexed, list } = keyList(rest);
    const at = (k: string): number => indexed.get(k) ?? 0;
    const plan = {
      events: companions.events.map((e) => ({ k: at(e.k), id: e.id })),
      adjustments: companions.adjustments.map((a) => ({ k: at(a.k), id: a.id })),
      refs: companions.refs.map(at),
      payment: companions.payment.map(at),
      dependents: local.dependents.map(at),
      order: local.order.map(at),
    };
    const [done, reason] = (await EXPIRE_SCRIPT.run(
      this.redis,
      {
        keys: {
          op: keys.op(id),
          log: keys.history(id),
          dependents: keys.dependents(id),
          op_adjustments: keys.operationAdjustments(id),
          order: options.orderKey === '' ? keys.op(id) : options.orderKey,
          st_succeeded: keys.state('SUCCEEDED'),
          st_failed: keys.state('FAILED'),
          created: keys.created,
          auths_open: keys.authsOpen,
          auths_expiry: keys.authsExpiry,
          settling: keys.settling,
          hold: keys.retentionHold,
          unsent: keys.unsentEvents,
          adjustments: keys.adjustments,
          recaptures_held: keys.heldRecaptures,
          recaptures_surfaced: keys.surfacedRecaptures,
          held_psp_retry: keys.heldForPspRetry,
          rejected: keys.rejectedEvents,
          dismissed: keys.dismissedEvents,
        },
        args: {
          id,
          cutoff,
          require_reconciled: options.requireReconciled ? '1' : '0',
          reconciled_through: through ?? '',
          has_order: options.orderKey === '' ? '0' : '1',
          related: String(dependents.length + inOrder.filter((o) => o !== id).length),
          companions: JSON.stringify(plan),
        },
      },
      [],
      list,
    )) as [number, string?];
    if (done !== 1) return { expired: false, kept: reason ?? 'unknown' };
    // Its id's claim lives in another slot (the id's own shard): released after, so the id is free again.
    await RELEASE_KEY_SCRIPT.run(this.redis, { keys: { claim: this.shards[shardOfAnchor(id)].idClaim(id) }, args: { holder: keys.shard } });
    return { expired: true };
  }

  /**
   * Keeps `id` out of retention's expiry (reconciliation left it for a person, an operator put a legal hold on
   * it) until `releaseExpiryHold`. Score: when held (ms).
   */
  async holdFromExpiry(id: string, now = Date.now()): Promise<void> {
    const keys = await this.keysOfId(id);
    await this.redis.zadd(keys.retentionHold, now, id);
  }

  async releaseExpiryHold(id: string): Promise<void> {
    const keys = await this.keysOfId(id);
    await this.redis.zrem(keys.retentionHold, id);
  }

  /** Key of `gateway`'s reconciled-through mark (not sharded: one per gateway, read before the expiry step). */
  reconciledThroughKey(gateway: string): string {
    return `${this.prefix}retention:reconciled_through:${gateway}`;
  }

  /**
   * Records that `gateway`'s operations updated up to `through` (epoch ms) have been reconciled (the mark
   * only moves forward). Retention with `retention.require_reconciliation` expires nothing newer. Sets the mark
   * as given, windows kept past it untouched: reconciliation runs record their windows with
   * `recordReconciledWindow`, which also holds the mark for a window with PSP lines not read.
   */
  async markReconciledThrough(gateway: string, through: number): Promise<void> {
    const key = this.reconciledThroughKey(gateway);
    const current = Number((await this.redis.get(key)) ?? 0);
    if (through > current) await this.redis.set(key, String(through));
  }

  /**
   * Key of the windows reconciled past `gateway`'s mark, not yet joined to it (a sorted set). Its hash tag is the
   * mark's key itself, which has no braces (`redis.key_prefix` and gateway names allow none): the two share a Redis
   * Cluster slot, for the one script that moves the mark through them.
   */
  reconciledWindowsKey(gateway: string): string {
    return `${this.prefix}retention:reconciled_windows:{${this.reconciledThroughKey(gateway)}}`;
  }

  /**
   * Records a finished, applied reconciliation run of `gateway` over `window` against the reconciled-through mark,
   * in one step: `complete` (the run read every PSP line) moves the mark to the window's end when the window joins
   * it, and on through the windows reconciled past it before, or keeps the window until the gap before it is
   * reconciled; not `complete` holds the mark at or before the window's start (see `ReconciledMarkOutcome`).
   */
  async recordReconciledWindow(gateway: string, window: { from: number; to: number }, complete: boolean): Promise<ReconciledWindow> {
    const reply = await RECORD_RECONCILED_WINDOW_SCRIPT.run(this.redis, {
      keys: { mark: this.reconciledThroughKey(gateway), windows: this.reconciledWindowsKey(gateway) },
      args: { from: window.from, to: window.to, complete: complete ? '1' : '0' },
    });
    return reconciledWindowOf(reply);
  }

  /** The gateway's reconciled-through mark (epoch ms), or null when no run has set one. */
  async reconciledThrough(gateway: string): Promise<number | null> {
    const raw = await this.redis.get(this.reconciledThroughKey(gateway));
    return raw === null ? null : Number(raw);
  }

  /**
   * Replaces operation `id`'s payment (when `patch.payment` is given and differs), its stored card, the history entries and
   * the event params in `patch` (each only if it still holds what the caller read), and sets `erased_at` the
   * first time. One atomic step; idempotent. The events' keys (`patch.events[i][0]`) are in the operation's shard.
   * @returns `null` for no such operation, else what changed.
   */
  async eraseCustomerData(id: string, patch: ErasurePatch, now = Date.now()): Promise<{ record: boolean; history: number; events: number } | null> {
    const keys = await this.keysOfId(id);
    const { indexed, list } = keyList(patch.events.map((e) => e[0]));
    const reply = (await ERASE_SCRIPT.run(
      this.redis,
      {
        keys: { op: keys.op(id), log: keys.history(id) },
        args: {
          now,
          patch: JSON.stringify({
            payment: patch.payment,
            stored_card: patch.storedCard ?? null,
            history: patch.history,
            events: patch.events.map((e) => [indexed.get(e[0]), e[1], e[2]]),
          }),
        },
      },
      [],
      list,
    )) as number[];
    if (reply[0] === -1) return null;
    return { record: reply[0] === 1, history: Number(reply[1]), events: Number(reply[2]) };
  }
}

/**
 * Distinct keys of `keys` in first-seen order, and each one's position among a script's extra keys as Lua
 * counts them from the first extra key (1-based, relative: the script adds its own named keys' count).
 */
function keyList(keys: readonly string[]): { indexed: Map<string, number>; list: string[] } {
  const indexed = new Map<string, number>();
  const list: string[] = [];
  for (const k of keys) {
    if (indexed.has(k)) continue;
    list.push(k);
    indexed.set(k, list.length);
  }
  return { indexed, list };
}

/**
 * Whether a move to `to` drops `payment`'s one-time method data from the ledger (the transition script does
 * it when the move applies): card data is not kept once the operation has ended.
 */
export function dropsMethodData(to: OperationState, payment: Payment): boolean {
  return isTerminal(to) && holdsOneTimeMethodData(payment);
}

/** The gateway a stored payment JSON names ('' when unreadable). */
function gatewayOfPayment(json: string | null): string {
  try {
    const p = JSON.parse(json ?? '') as { gateway?: unknown };
    return typeof p.gateway === 'string' ? p.gateway : '';
  } catch {
    return '';
  }
}

/** One write of a restore plan (see `RESTORE_SCRIPT`): values are strings as Redis holds them. */
export type RestoreStep =
  | { c: 'hset'; k: string; f: string[] }
  | { c: 'rpush'; k: string; v: string[] }
  | { c: 'zadd'; k: string; s: string; m: string }
  | { c: 'sadd'; k: string; m: string[] }
  | { c: 'set'; k: string; v: string; at: number }
  | { c: 'max'; k: string; v: string };

/** What an expiring operation takes with it (see `EXPIRE_SCRIPT`): keys and the ids they index under. */
export interface ExpiryCompanions {
  events: { k: string; id: string }[];
  adjustments: { k: string; id: string }[];
  refs: string[];
  /** The payment's sequence counter keys [seq, sent], deleted once its order has no operation left; [] for none. */
  payment: string[];
}

/** An erasure's writes (see `Ledger.eraseCustomerData`): [position, old, new] entries, [key, old, new] events. */
export interface ErasurePatch {
  payment: string | null;
  /** The record's `stored_card` [as read, scrubbed], when scrubbing changes it. */
  storedCard?: [string, string] | null;
  history: [number, string, string][];
  events: [string, string, string][];
}

/**
 * One history entry as stored: redacted JSON with its time; with `to`, the entry also names the state it
 * moved to (as `{ ...interaction, to }` would: in place of an own `to`, else last before `at`).
 */
function historyEntry(interaction: Omit<Interaction, 'at'>, now: number, to?: OperationState): string {
  // `redact` returns a fresh copy, completed in place (no spread of it): `to` (a state name, which redaction
  // leaves as it is), then `at`, added after redaction: one epoch-ms timestamp in ten passes the Luhn check
  // and would be masked.
  const entry = redact(toMicroseconds(interaction)) as Record<string, unknown>;
  if (to !== undefined) entry.to = to;
  entry.at = now;
  return JSON.stringify(entry);
}

/**
 * The entry with its fractional numbers (durations such as `elapsed_ms`, measured to the nanosecond)
 * rounded to three decimals: a float's 15 or so digits can pass the Luhn check, and the card-number scan
 * would then store the duration as a masked card number. A microsecond is finer than any reader needs.
 */
function toMicroseconds(interaction: Omit<Interaction, 'at'>): Omit<Interaction, 'at'> {
  let rounded: Record<string, unknown> | undefined;
  for (const key of Object.keys(interaction)) {
    const value = interaction[key];
    if (typeof value === 'number' && !Number.isInteger(value) && Number.isFinite(value)) {
      rounded ??= { ...interaction };
      rounded[key] = Math.round(value * 1000) / 1000;
    }
  }
  return (rounded as Omit<Interaction, 'at'> | undefined) ?? interaction;
}

/** What the transition scripts return: applied, from, record, step ran, step reply, closing left, waiters, undecided mark (ledger-scripts.ts). */
type TransitionReply = [number, string, string[]?, number?, unknown?, (string | number)?, number?, string?];

/** The undecided refund mark a transition's reply carries, as `TransitionWithRecord.refundsUndecidedBy`. */
function undecidedMarkOf(reply: TransitionReply): { refundsUndecidedBy?: string } {
  const by = reply[7];
  return typeof by === 'string' && by !== '' ? { refundsUndecidedBy: by } : {};
}

/** What made a move, for the wake's line: the history entry's `source`, else its `event`. */
function moverOf(interaction: Omit<Interaction, 'at'>): string {
  const by = interaction.source ?? interaction.event;
  return typeof by === 'string' ? by : '';
}

/** A transition reply's first two elements. */
function readTransition(applied: number, from: string): TransitionResult {
  return { applied: applied === 1, from: fromState(from) };
}

/** A transition reply's `from`: `null` for no such operation. */
function fromState(from: string): OperationState | null {
  return from === '' ? null : (from as OperationState);
}
