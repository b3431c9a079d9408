import { RedisClient } from '../redis/redis-connection';
import { CommandType, Payment, PaymentCommand } from '../contracts/payment-command';
import { LuaFragment, LuaScript, LuaStep, LuaValues } from '../redis/lua-script';
import { redact } from '../logging/redact';
import { AUTHORIZATION_BY_REFERENCE_SCRIPT } from './authorization-by-reference';
import { commandDigest } from './command-digest';
import {
  AUTHORIZATION_VIEW_SCRIPT,
  CREATE_SCRIPT,
  HOLD_SCRIPT,
  PARK_SCRIPT,
  RELEASE_SCRIPT,
  ReadBack,
  TRANSITION_INPUTS,
  TRANSITION_SCRIPT,
  transitionWithStepScript,
} from './ledger-scripts';
import { ERASE_SCRIPT, EXPIRE_SCRIPT, RESTORE_SCRIPT } from './lifecycle-scripts';
import { OPERATION_STATES, OperationState, POLLED_STATES } from './operation-state';
import { orderIndexKey } from './order-index';
import { OperationRecord, TransitionFields, decodeRecord, draftRecord, encodeRecord, encodeTransitionFields, hashFromPairs } from './record-fields';

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
}

/** The PSP object a transition's outcome names, indexed to the operation in the same step (`findByReference`). */
export interface PspReference {
  gateway: string;
  reference: string;
}

type TransitionKey = (typeof TRANSITION_INPUTS.keys)[number];
type TransitionArg = (typeof TRANSITION_INPUTS.args)[number];

/** The transition script with a step attached, one per step fragment (built once, on first use). */
const withStepScripts = new WeakMap<LuaFragment<string, string>, LuaScript<string, string>>();

/** A command acting on an authorization, as `Ledger.authorizationView` lists it. */
export interface DependentSummary {
  id: string;
  command: CommandType;
  state: OperationState;
  /** What the PSP confirmed for it, else what it asked for; minor units. */
  amount: number;
}

/** How long a PSP reference → operation id index entry lives, seconds (90 days). */
const REFERENCE_TTL_S = 90 * 24 * 3600;

/**
 * The operation ledger in Redis. Key layout under the configured prefix P:
 *   P op:{id}                hash: the record
 *   P op:{id}:interactions   list: append-only history (JSON, redacted)
 *   P ops:state:{STATE}      sorted set of ids; score = next check time for PENDING/UNKNOWN/UNRESOLVED, else updated_at
 *   P ops:created            sorted set of ids by creation time
 *   P order:{order_id}       sorted set of the order's operation ids by creation time (order-index.ts)
 *   P ops:settling           sorted set of ids whose outcome is being written and its event not yet
 *                            recorded; score = when it started (the recovery sweep finishes stale ones)
 * Every write is one Lua script (ledger-scripts.ts), so a state change, its index move and its history
 * entry are atomic. Records are written and read through one field table (record-fields.ts).
 */
export class Ledger {
  constructor(
    private readonly redis: RedisClient,
    /** Key prefix, e.g. `pb:`; tests use their own so they never collide. */
    readonly prefix: string,
  ) {}

  private opKey(id: string): string {
    return `${this.prefix}op:${id}`;
  }

  private logKey(id: string): string {
    return `${this.prefix}op:${id}:interactions`;
  }

  /**
   * Records a new operation in state RECEIVED, unless it already exists (a duplicate or a redelivery).
   * With `firstAttempt` (the worker's fast path), the operation is created in SENT with one
   * attempt and that attempt's history entry: the same as `create` then `transition(…, 'SENT', …,
   * { countAttempt: true })`, in one atomic round trip. The attempt is on record before the request leaves.
   * The command's digest (`commandDigest`) is stored with the record and compared in the same script when
   * the operation exists: `conflict` says the existing one was created from a command with other money
   * fields (an idempotency conflict; the existing record is left untouched).
   * @returns whether it was created, its current state, whether it conflicts, and (when created) the record
   *   as written.
   */
  async create(
    id: string,
    command: PaymentCommand,
    now = Date.now(),
    firstAttempt?: Omit<Interaction, 'at'>,
    extra: Pick<OperationRecord, 'routing'> = {},
  ): Promise<{ created: boolean; state: OperationState; conflict: boolean; digest: string; record?: OperationRecord }> {
    const state: OperationState = firstAttempt ? 'SENT' : 'RECEIVED';
    const digest = commandDigest(command);
    // `extra.routing`: the orchestration's decision for the first attempt, written with it.
    const fields = encodeRecord({ ...draftRecord(id, command, now), state, attempts: firstAttempt ? 1 : 0, digest, ...extra });
    const interaction = JSON.stringify({ at: now, event: 'received', channel: command.channel });
    const attempt = firstAttempt ? historyEntry({ ...firstAttempt, to: 'SENT' }, now) : '';
    const [created, current, conflict] = (await CREATE_SCRIPT.run(
      this.redis,
      {
        keys: { op: this.opKey(id), log: this.logKey(id), order: orderIndexKey(this.prefix, command.payment.order_id) },
        args: { prefix: this.prefix, id, now, interaction, state, attempt, digest },
      },
      fields,
    )) as [number, string, number?];
    if (created !== 1) return { created: false, state: current as OperationState, conflict: conflict === 1, digest };
    // The record as Redis now holds it, built from the very fields written: the caller can deliver it
    // without reading it back (one round trip less per command).
    return { created: true, state, conflict: false, digest, record: decodeRecord(hashFromPairs(fields), command.payment) };
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
    const [applied, from] = (await TRANSITION_SCRIPT.run(this.redis, this.transitionValues(id, to, interaction, fields, now, null, 'none', false))) as [
      number,
      string,
    ];
    return { applied: applied === 1, from: from === '' ? null : (from as OperationState) };
  }

  /**
   * `transition`, plus in the same atomic round trip: the PSP reference index (see `findByReference`) when
   * `reference` is given (set even when the move does not apply), the settling mark (see `settlingBefore`)
   * when `markSettling` is set, and the record as it stands afterwards: what the outcome recorder needs to
   * emit the event without reading it back. Pass the operation's `payment` when you hold it (it never
   * changes): it is then not read back nor parsed.
   */
  async transitionAndGet(
    id: string,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields = {},
    options: { reference?: PspReference | null; markSettling?: boolean; payment?: Payment; now?: number } = {},
  ): Promise<TransitionWithRecord> {
    const { payment, now = Date.now() } = options;
    const values = this.transitionValues(
      id,
      to,
      interaction,
      fields,
      now,
      options.reference ?? null,
      payment ? 'without_payment' : 'whole',
      options.markSettling ?? false,
    );
    const [applied, from, flat] = (await TRANSITION_SCRIPT.run(this.redis, values)) as [number, string, string[]?];
    return { ...readTransition(applied, from), record: flat && flat.length > 0 ? decodeRecord(hashFromPairs(flat), payment) : null };
  }

  /**
   * `transitionAndGet` (with the settling mark, the payment held by the caller) that also runs `step` (another
   * module's write: the event store's recording of the outcome's event, `EventStore.recordStep`) in the same
   * atomic step, when the move applies to exactly `expected`: the record the caller holds and built the step
   * from (same state, updated_at and attempts in Redis). The step then takes the place of the settling mark.
   * Otherwise nothing else is written (`recorded: null`) and the caller builds its step from the returned
   * record as usual. One round trip either way.
   */
  async transitionAndRecord<R>(
    expected: OperationRecord,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields,
    step: LuaStep<R>,
    options: { reference?: PspReference | null; now?: number } = {},
  ): Promise<TransitionWithRecord & { recorded: R | null }> {
    const now = options.now ?? Date.now();
    let script = withStepScripts.get(step.fragment);
    if (!script) {
      script = transitionWithStepScript(step.fragment, step.call);
      withStepScripts.set(step.fragment, script);
    }
    const own = this.transitionValues(expected.id, to, interaction, fields, now, options.reference ?? null, 'without_payment', true);
    const values: LuaValues<string, string> = {
      keys: { ...step.values.keys, ...own.keys },
      args: {
        ...step.values.args,
        ...own.args,
        expected_state: expected.state,
        expected_updated_at: String(expected.updatedAt),
        expected_attempts: String(expected.attempts),
      },
    };
    const [applied, from, flat, ran, stepReply] = (await script.run(this.redis, values)) as [number, string, string[]?, number?, unknown?];
    const hash = hashFromPairs(flat ?? []);
    return {
      ...readTransition(applied, from),
      record: hash.state ? decodeRecord(hash, expected.payment) : null,
      recorded: ran === 1 ? step.read(stepReply) : null,
    };
  }

  /** The transition script's inputs, by name (ledger-scripts.ts `TRANSITION_INPUTS`). */
  private transitionValues(
    id: string,
    to: OperationState,
    interaction: Omit<Interaction, 'at'>,
    fields: TransitionFields,
    now: number,
    reference: PspReference | null,
    readBack: ReadBack,
    markSettling: boolean,
  ): LuaValues<TransitionKey, TransitionArg> {
    const score = POLLED_STATES.has(to) && fields.nextCheckAt !== undefined ? fields.nextCheckAt : now;
    return {
      keys: { op: this.opKey(id), log: this.logKey(id) },
      args: {
        prefix: this.prefix,
        id,
        now,
        to,
        score,
        fields: JSON.stringify(encodeTransitionFields(fields)),
        interaction: historyEntry({ ...interaction, to }, now),
        count_attempt: fields.countAttempt ? '1' : '0',
        ref_key: reference ? this.referenceKey(reference.gateway, reference.reference) : '',
        ref_ttl: REFERENCE_TTL_S,
        read_back: readBack,
        settling: markSettling ? this.settlingKey : '',
      },
    };
  }

  /** Appends a history entry without changing state (e.g. a retry scheduled, a duplicate seen). */
  async appendInteraction(id: string, interaction: Omit<Interaction, 'at'>, now = Date.now()): Promise<void> {
    await this.redis.rpush(this.logKey(id), historyEntry(interaction, now));
  }

  /**
   * The digest stored with operation `id` (`null`: no such operation, or one created before digests were
   * stored). One read: the intake's cheap idempotency-conflict check.
   */
  async digestOf(id: string): Promise<string | null> {
    return this.redis.hget(this.opKey(id), 'digest');
  }

  async get(id: string): Promise<OperationRecord | null> {
    const h = await this.redis.hgetall(this.opKey(id));
    if (!h.state) return null;
    return decodeRecord(h);
  }

  async interactions(id: string): Promise<Interaction[]> {
    const raw = await this.redis.lrange(this.logKey(id), 0, -1);
    return raw.map((r) => JSON.parse(r) as Interaction);
  }

  /** The event of `id`'s current state is recorded: nothing left for the sweep. */
  async markSettled(id: string): Promise<void> {
    await this.redis.zrem(this.settlingKey, id);
  }

  /** Key of the settling index: the event store clears an operation's mark when it records its event. */
  get settlingKey(): string {
    return `${this.prefix}ops:settling`;
  }

  /**
   * Ids whose settling started before `maxScore` (ms) and never finished. An operation is settling while its
   * outcome is written and its event not recorded yet (a crash in between leaves the id here for the
   * recovery sweep): the outcome recorder sets the mark inside the transition itself (`transitionAndGet`
   * with `markSettling`), the event store clears it when it records the event, `markSettled` when there is
   * no event to record.
   */
  async settlingBefore(maxScore: number, limit = 1000): Promise<string[]> {
    return this.redis.zrangebyscore(this.settlingKey, '-inf', String(maxScore), 'LIMIT', 0, limit);
  }

  /** Ids in `state` whose index score is at most `maxScore` (for PENDING/UNKNOWN/UNRESOLVED: due for a check). */
  async idsInState(state: OperationState, maxScore = Number.POSITIVE_INFINITY, limit = 1000): Promise<string[]> {
    const max = Number.isFinite(maxScore) ? String(maxScore) : '+inf';
    return this.redis.zrangebyscore(`${this.prefix}ops:state:${state}`, '-inf', max, 'LIMIT', 0, limit);
  }

  /**
   * Moves the index score of those of `ids` still in `state` to `score` (epoch ms); an id that moved on
   * meanwhile is not put back (ZADD XX). The recovery sweep: what it queued is left to the queue for another
   * stale period instead of being picked up again at every pass.
   */
  async rescoreInState(state: OperationState, ids: readonly string[], score: number): Promise<void> {
    if (ids.length === 0) return;
    await this.redis.zadd(`${this.prefix}ops:state:${state}`, 'XX', ...ids.flatMap((id) => [score, id]));
  }

  /**
   * An authorization and the commands that acted on it (captures, refunds: what its remaining amount is
   * made of), registering `dependentId` among them in the same round trip. A second round trip reads the
   * other dependents, only when there are any. Not on the hot path: only captures and refunds naming one
   * of our authorizations, before their first attempt.
   * @returns `null` when there is no such operation.
   */
  async authorizationView(authId: string, dependentId: string): Promise<{ auth: OperationRecord; dependents: DependentSummary[] } | null> {
    const [flat, members] = (await AUTHORIZATION_VIEW_SCRIPT.run(this.redis, {
      keys: { op: this.opKey(authId), dependents: this.dependentsKey(authId) },
      args: { dependent: dependentId },
    })) as [string[], string[]];
    if (flat.length === 0) return null;
    const auth = decodeRecord(hashFromPairs(flat));
    const others = members.filter((m) => m !== dependentId);
    if (others.length === 0) return { auth, dependents: [] };
    const pipeline = this.redis.pipeline();
    for (const id of others) pipeline.hmget(this.opKey(id), 'state', 'command', 'confirmed_amount', 'payment');
    const replies = (await pipeline.exec()) ?? [];
    const dependents: DependentSummary[] = [];
    replies.forEach(([err, reply], i) => {
      if (err) throw err;
      const [state, command, confirmed, payment] = reply as (string | null)[];
      if (!state || !command || !payment) return;
      const amount = confirmed !== null ? Number(confirmed) : (JSON.parse(payment) as Payment).amount;
      dependents.push({ id: others[i], command: command as CommandType, state: state as OperationState, amount });
    });
    return { auth, dependents };
  }

  /**
   * The operation the PSP's `reference` on `gateway` names (the reference index, see
   * `authorization-by-reference.ts`), followed back to the authorization it belongs to when the index holds
   * one of its dependents (a Stripe capture answers with the PaymentIntent id). With `dependentId`, that
   * dependent is registered among the authorization's dependents and the others are listed, as in
   * `authorizationView`. One round trip; only for a dependent command whose `gateway_key` is not one of our
   * operation ids.
   * @returns `null` when the reference is unknown; `authorization: false` when only a related operation of
   *   the same payment was reached (its scope and currency still hold, not its amounts).
   */
  async authorizationByReference(
    gateway: string,
    reference: string,
    dependentId = '',
  ): Promise<{ record: OperationRecord; authorization: boolean; dependents: DependentSummary[] } | null> {
    const [flat, isAuth, rows] = (await AUTHORIZATION_BY_REFERENCE_SCRIPT.run(this.redis, {
      keys: {},
      args: { prefix: this.prefix, gateway, reference, dependent: dependentId },
    })) as [string[], number, string[]];
    if (flat.length === 0) return null;
    const dependents: DependentSummary[] = [];
    for (let i = 0; i + 4 < rows.length; i += 5) {
      const [id, state, command, confirmed, payment] = rows.slice(i, i + 5);
      const amount = confirmed !== '' ? Number(confirmed) : (JSON.parse(payment) as Payment).amount;
      dependents.push({ id, command: command as CommandType, state: state as OperationState, amount });
    }
    return { record: decodeRecord(hashFromPairs(flat)), authorization: isAuth === 1, dependents };
  }

  private dependentsKey(authId: string): string {
    return `${this.prefix}op:${authId}:dependents`;
  }

  /** How many operations are in each state (one pipelined round trip): the operator's overview. */
  async countByState(): Promise<Record<OperationState, number>> {
    const states: readonly OperationState[] = OPERATION_STATES;
    const pipeline = this.redis.pipeline();
    for (const s of states) pipeline.zcard(`${this.prefix}ops:state:${s}`);
    const results = (await pipeline.exec()) ?? [];
    return Object.fromEntries(states.map((s, i) => [s, Number(results[i]?.[1] ?? 0)])) as Record<OperationState, number>;
  }

  /** How many operations are in `state` (one ZCARD): e.g. the UNRESOLVED gauge. */
  async countInState(state: OperationState): Promise<number> {
    return this.redis.zcard(`${this.prefix}ops:state:${state}`);
  }

  /** The operation a PSP object (`reference` on `gateway`) belongs to, as the transitions that named it indexed it (90 days). */
  async findByReference(gateway: string, reference: string): Promise<string | null> {
    return this.redis.get(this.referenceKey(gateway, reference));
  }

  /**
   * The first of `gateways` whose reference index holds `reference` (one pipelined round trip), or null:
   * where a PSP reference lives when the command names another gateway than the one holding it (an
   * authorization routed or failed over elsewhere). Only on that rare path.
   */
  async gatewayHoldingReference(gateways: readonly string[], reference: string): Promise<string | null> {
    if (gateways.length === 0) return null;
    const pipeline = this.redis.pipeline();
    for (const gateway of gateways) pipeline.get(this.referenceKey(gateway, reference));
    const replies = (await pipeline.exec()) ?? [];
    const index = replies.findIndex(([err, value]) => !err && typeof value === 'string');
    return index < 0 ? null : gateways[index];
  }

  private referenceKey(gateway: string, reference: string): string {
    return `${this.prefix}ref:${gateway}:${reference}`;
  }

  // --- Holds: operations whose gateway is missing from the configuration (delivery/config-hold.ts) ---

  /**
   * Notes that `id` is held for a configuration fix (first time only) and reads its hold marks, in one
   * round trip: `held_since` (epoch ms, set once, cleared by `releaseHold`) and `parked_at` (set by
   * `markParked`). `null`: no such operation. Rare path only.
   */
  async markHeld(id: string, now = Date.now()): Promise<{ heldSince: number; parkedAt: number | null; first: boolean } | null> {
    const reply = (await HOLD_SCRIPT.run(this.redis, { keys: { op: this.opKey(id) }, args: { now: String(now) } })) as [string, string | null, number] | null;
    if (!reply) return null;
    const [since, parked, first] = reply;
    return { heldSince: Number(since), parkedAt: parked ? Number(parked) : null, first: first === 1 };
  }

  /** Marks a held operation as parked (its dead letter is written). Only while it is still RECEIVED. */
  async markParked(id: string, now = Date.now()): Promise<boolean> {
    return (await PARK_SCRIPT.run(this.redis, { keys: { op: this.opKey(id) }, args: { now: String(now) } })) === 1;
  }

  /**
   * A re-sent (or replayed) command of a held or parked operation that was never sent: clears its hold
   * marks so it gets a fresh grace period and is delivered again. Returns whether there was a hold to
   * release (false: not held, or it moved on from RECEIVED, so nothing to redeliver).
   */
  async releaseHold(id: string): Promise<boolean> {
    return (await RELEASE_SCRIPT.run(this.redis, { keys: { op: this.opKey(id) }, args: {} })) === 1;
  }

  // --- Data lifecycle: restore, retention, erasure (src/data-lifecycle/, docs/DATA.md). Never on the hot path. ---

  /**
   * Writes an operation back from an export: `plan` is the list of writes (src/data-lifecycle/restore-plan.ts)
   * that rebuild its record, history, every index entry and its companions, applied in one atomic step.
   * @returns false (and writes nothing) when the operation already exists.
   */
  async restoreOperation(id: string, plan: readonly RestoreStep[]): Promise<boolean> {
    return (await RESTORE_SCRIPT.run(this.redis, { keys: { op: this.opKey(id) }, args: { plan: JSON.stringify(plan) } })) === 1;
  }

  /**
   * Expires terminal operation `id` if it was last updated at or before `cutoff` (epoch ms) and nothing of it
   * is live (see `EXPIRE_SCRIPT` for every reason it is kept), deleting it with its `companions`' keys, all in
   * one atomic step. With `requireReconciled`, it must also be older than its gateway's reconciled-through
   * mark (`markReconciledThrough`).
   * @returns `{expired: true}` or the reason it was kept.
   */
  async expireTerminal(
    id: string,
    cutoff: number,
    companions: ExpiryCompanions,
    options: { orderKey: string; requireReconciled: boolean },
  ): Promise<{ expired: true } | { expired: false; kept: string }> {
    const [done, reason] = (await EXPIRE_SCRIPT.run(this.redis, {
      keys: {
        op: this.opKey(id),
        log: this.logKey(id),
        dependents: this.dependentsKey(id),
        op_adjustments: `${this.opKey(id)}:adjustments`,
        order: options.orderKey,
      },
      args: { prefix: this.prefix, id, cutoff, require_reconciled: options.requireReconciled ? '1' : '0', companions: JSON.stringify(companions) },
    })) as [number, string?];
    return done === 1 ? { expired: true } : { expired: false, kept: reason ?? 'unknown' };
  }

  /**
   * Keeps `id` out of retention's expiry (reconciliation left it for a person, an operator put a legal hold on
   * it) until `releaseExpiryHold`. Score: when held (ms).
   */
  async holdFromExpiry(id: string, now = Date.now()): Promise<void> {
    await this.redis.zadd(`${this.prefix}retention:hold`, now, id);
  }

  async releaseExpiryHold(id: string): Promise<void> {
    await this.redis.zrem(`${this.prefix}retention:hold`, id);
  }

  /**
   * Records that `gateway`'s operations updated up to `through` (epoch ms) have been reconciled (the mark
   * only moves forward). Retention with `retention.require_reconciliation` expires nothing newer.
   */
  async markReconciledThrough(gateway: string, through: number): Promise<void> {
    const key = `${this.prefix}retention:reconciled_through:${gateway}`;
    const current = Number((await this.redis.get(key)) ?? 0);
    if (through > current) await this.redis.set(key, String(through));
  }

  /** The gateway's reconciled-through mark (epoch ms), or null when no run has set one. */
  async reconciledThrough(gateway: string): Promise<number | null> {
    const raw = await this.redis.get(`${this.prefix}retention:reconciled_through:${gateway}`);
    return raw === null ? null : Number(raw);
  }

  /**
   * Replaces operation `id`'s payment (when `patch.payment` is given and differs), the history entries and
   * the event params in `patch` (each only if it still holds what the caller read), and sets `erased_at` the
   * first time. One atomic step; idempotent.
   * @returns `null` for no such operation, else what changed.
   */
  async eraseCustomerData(id: string, patch: ErasurePatch, now = Date.now()): Promise<{ record: boolean; history: number; events: number } | null> {
    const reply = (await ERASE_SCRIPT.run(this.redis, {
      keys: { op: this.opKey(id), log: this.logKey(id) },
      args: { now, patch: JSON.stringify({ payment: patch.payment, history: patch.history, events: patch.events }) },
    })) as number[];
    if (reply[0] === -1) return null;
    return { record: reply[0] === 1, history: Number(reply[1]), events: Number(reply[2]) };
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
  history: [number, string, string][];
  events: [string, string, string][];
}

/** One history entry as stored: redacted JSON with its time. */
function historyEntry(interaction: Omit<Interaction, 'at'>, now: number): string {
  // `at` is added after redaction: one epoch-ms timestamp in ten passes the Luhn check and would be masked.
  return JSON.stringify({ ...redact(toMicroseconds(interaction)), at: now });
}

/**
 * The entry with its fractional numbers (durations such as `elapsed_ms`, measured to the nanosecond)
 * rounded to three decimals: a float's 15 or so digits can pass the Luhn check, and the card-number scan
 * would then store the duration as a masked card number. A microsecond is finer than any reader needs.
 */
function toMicroseconds(interaction: Omit<Interaction, 'at'>): Omit<Interaction, 'at'> {
  let rounded: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(interaction)) {
    if (typeof value === 'number' && !Number.isInteger(value) && Number.isFinite(value)) {
      rounded ??= { ...interaction };
      rounded[key] = Math.round(value * 1000) / 1000;
    }
  }
  return (rounded as Omit<Interaction, 'at'> | undefined) ?? interaction;
}

/** A transition reply's first two elements. */
function readTransition(applied: number, from: string): TransitionResult {
  return { applied: applied === 1, from: from === '' ? null : (from as OperationState) };
}
