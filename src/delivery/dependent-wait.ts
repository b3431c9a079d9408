import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import type { Payment } from '../contracts/payment-command';
import type { DependentWaker } from '../ledger/dependent-waiters';
import type { Ledger } from '../ledger/ledger';
import type { OperationState } from '../ledger/operation-state';
import type { Logger } from '../logging/logger';
import { WAIT_FOR_SPLIT_TENDER_EXPIRED } from './split-step-wait';

/**
 * How a capture, cancel or refund that cannot go yet (its authorization not decided, siblings in flight) is
 * looked at again: after a delay that grows with how long it has waited, and at once when what it waits for (the
 * authorization, or each sibling it names) moves: it registers on each (`Ledger.waitFor`), and the ledger wakes
 * the registered waiters on any move of it, whoever makes the move ({@link dependentWaker}).
 */

/**
 * The share of the wait so far a dependent's next check waits: a tenth. A check then adds at most 10 % to a
 * wait that nothing ends early, and a wait of T costs about 10·ln(T / (10 × base)) checks until the cap
 * instead of T / base: from 5 s to 10 min some 50 checks instead of 1 200, then one per
 * `delivery.backoff_max_ms`. Stateless: read from the start of the wait (the record's creation for its authorization, else
 * the first wait of its kind: `waitStartField`) at each check.
 */
export const WAIT_SHARE = 10;

/** How long a dependent may wait before its wait is logged once as long (10 minutes, ms). */
export const LONG_WAIT_MS = 10 * 60_000;

/**
 * The default of `delivery.void_wait_max_ms` (`Config.delivery.voidWaitMaxMs`): how long a cancel or refund waits,
 * unsent, on a guard between voids and refunds of its payment (`awaiting`, one of {@link BOUNDED_WAITS}) before it is
 * refused with that wait's code: 24 hours, ms. What it waits for may stay undecided for good (an `UNRESOLVED` refund,
 * void or capture settles only by a later PSP fact; a capture parked for replay may never be delivered), and
 * Cybersource voids a capture or refund only until its batch settles, usually within the day: a void sent later would
 * be refused `NOT_VOIDABLE` whatever the wait ended in. Refused unsent, the command moved nothing, so no money moves on
 * a guess, and what waits behind it goes on.
 */
export const VOID_WAIT_MAX_MS = 24 * 60 * 60_000;

/**
 * The default of `delivery.authorization_wait_max_ms` (`Config.delivery.authorizationWaitMaxMs`): how long a dependent
 * waits, unsent, for its authorization to be decided before it is refused `WAIT_FOR_AUTH_EXPIRED`: 65 days, ms. An
 * asynchronous method's authorization waits for its customer for days (a voucher, a bank transfer: up to
 * `authentication.max_action_wait_ms`, 62 days, then PENDING while the PSP confirms it; the action's grace, 3 days):
 * its capture must not be refused while the payment may still go through. Past it, no card authorization is valid.
 */
export const AUTHORIZATION_WAIT_MAX_MS = 65 * 24 * 60 * 60_000;

/**
 * The bound of a wait of kind `kind` ({@link waitKind}), ms: `delivery.authorization_wait_max_ms` for its authorization,
 * `delivery.void_wait_max_ms` for every other. Pure.
 */
export function waitMaxMs(kind: string, delivery: { voidWaitMaxMs: number; authorizationWaitMaxMs: number }): number {
  return kind === 'authorization' ? delivery.authorizationWaitMaxMs : delivery.voidWaitMaxMs;
}

/** `fail` of a cancel voiding a capture whose wait for another capture's void or for refunds in flight ran out. */
export const VOID_WAIT_EXPIRED = 'VOID_WAIT_EXPIRED';
/** `fail` of a cancel that would void a captured payment whose wait for refunds of it in flight ran out (`refunds`). */
export const WAIT_FOR_REFUNDS_EXPIRED = 'WAIT_FOR_REFUNDS_EXPIRED';
/** `fail` of a refund whose wait for a cancel that would void what it refunds ran out (`void`). */
export const WAIT_FOR_VOID_EXPIRED = 'WAIT_FOR_VOID_EXPIRED';
/** `fail` of a cancel whose wait for another void of the same transaction ran out (`void_in_flight`). */
export const WAIT_FOR_OTHER_VOID_EXPIRED = 'WAIT_FOR_OTHER_VOID_EXPIRED';
/** `fail` of a cancel voiding one of our captures or refunds by its own id whose wait for that capture or refund to be decided ran out (`named_transaction`). */
export const WAIT_FOR_TRANSACTION_EXPIRED = 'WAIT_FOR_TRANSACTION_EXPIRED';
/** `fail` of a cancel whose wait for captures of its authorization in flight, or accepted and not yet delivered, ran out (`captures_in_flight`, `undelivered_captures`). */
export const WAIT_FOR_CAPTURES_EXPIRED = 'WAIT_FOR_CAPTURES_EXPIRED';
/** `fail` of a capture, cancel, refund, validate or revalidate whose wait for its authorization to be decided ran out (`authorization`). */
export const WAIT_FOR_AUTH_EXPIRED = 'WAIT_FOR_AUTH_EXPIRED';
/** `fail` of a capture or refund whose wait for others of the same command of its authorization in flight ahead of it ran out (`siblings`). */
export const WAIT_FOR_SIBLINGS_EXPIRED = 'WAIT_FOR_SIBLINGS_EXPIRED';
/** `fail` of a capture, cancel or refund of a split tender's step whose wait for its split to settle ran out (`split_tender`). */
export { WAIT_FOR_SPLIT_TENDER_EXPIRED };

/** A bounded wait: the code it is refused with once it ran out, what it waited for (said in `why`), the command a void names when known. */
export interface BoundedWait {
  fail: string;
  waitedFor: string;
  namedCommand?: 'capture';
}

/**
 * The bounded waits (by {@link waitMaxMs}: `delivery.authorization_wait_max_ms` for `authorization`, else
 * `delivery.void_wait_max_ms`), by kind ({@link waitKind}: `awaiting`, `operation-context.ts` `Awaiting`;
 * else `authorization` or `siblings`): every guard between voids and refunds, the wait for an undecided authorization
 * (it may stay `UNRESOLVED` for good, settled only by a later PSP fact) and the wait for siblings of the same command
 * ahead of it (one may), each refused with a code naming what it waited for. All are checked before the first attempt
 * only (`checkAmounts`; `named_transaction` and `authorization`, before the command is sent: what it names is decided by
 * then), and delivery refuses only a record never attempted, so what they refuse was never sent.
 */
export const BOUNDED_WAITS: Readonly<Record<string, BoundedWait>> = {
  authorization: { fail: WAIT_FOR_AUTH_EXPIRED, waitedFor: 'its authorization to be decided' },
  siblings: { fail: WAIT_FOR_SIBLINGS_EXPIRED, waitedFor: 'others of its authorization in flight ahead of it' },
  capture_void: { fail: VOID_WAIT_EXPIRED, waitedFor: 'the void of another capture of the payment', namedCommand: 'capture' },
  refund_in_flight: { fail: VOID_WAIT_EXPIRED, waitedFor: 'refunds of the payment in flight', namedCommand: 'capture' },
  refunds: { fail: WAIT_FOR_REFUNDS_EXPIRED, waitedFor: 'refunds in flight of the captured payment it would void' },
  void: { fail: WAIT_FOR_VOID_EXPIRED, waitedFor: 'a cancel that would void what it refunds' },
  void_in_flight: { fail: WAIT_FOR_OTHER_VOID_EXPIRED, waitedFor: 'another void of the same transaction' },
  captures_in_flight: { fail: WAIT_FOR_CAPTURES_EXPIRED, waitedFor: 'captures of its authorization in flight' },
  undelivered_captures: { fail: WAIT_FOR_CAPTURES_EXPIRED, waitedFor: 'captures of its authorization accepted and not yet delivered' },
  named_transaction: { fail: WAIT_FOR_TRANSACTION_EXPIRED, waitedFor: 'the capture or refund it voids' },
  split_tender: { fail: WAIT_FOR_SPLIT_TENDER_EXPIRED, waitedFor: 'its split tender to settle' },
};

/** The codes a bounded wait is refused with ({@link BOUNDED_WAITS}): each refusal counted in {@link voidWaitsExpired}. */
export const BOUNDED_WAIT_REFUSALS: ReadonlySet<string> = new Set(Object.values(BOUNDED_WAITS).map((b) => b.fail));

/**
 * What a dependent's wait is for, the key of {@link BOUNDED_WAITS} and of its start (`waitStartField`): its `awaiting`
 * when it has one (a guard between voids and refunds, or `named_transaction`), else `authorization` (its undecided
 * authorization), else `siblings` (others of the same command of its authorization ahead of it). Pure.
 */
export function waitKind(wait: { awaiting?: string; authorization?: unknown }): string {
  return wait.awaiting ?? (wait.authorization !== undefined ? 'authorization' : 'siblings');
}

/**
 * The refusal of a dependent whose wait (of kind {@link waitKind}, since `since`, epoch ms: when that wait began) ran
 * past `maxMs` (ms: delivery passes {@link waitMaxMs} of its kind; {@link VOID_WAIT_MAX_MS} by default) at `now`, or
 * null: only for the waits {@link BOUNDED_WAITS} names. Pure.
 */
export function expiredWait(
  wait: { wait: string; awaiting?: string; siblings?: readonly string[]; authorization?: { id: string }; voids?: { id: string; command: string } },
  since: number,
  now: number,
  maxMs: number = VOID_WAIT_MAX_MS,
): { fail: string; field: string; detail: Record<string, unknown> } | null {
  const kind = waitKind(wait);
  const bounded = BOUNDED_WAITS[kind];
  if (bounded === undefined) return null;
  const waited = now - since;
  if (waited < maxMs) return null;
  return {
    fail: bounded.fail,
    field: 'payment.gateway_key',
    detail: {
      // A cancel voiding our capture or refund as its own transaction names it, as that void's other refusals do.
      ...(wait.voids
        ? { named_operation_id: wait.voids.id, named_command: wait.voids.command }
        : bounded.namedCommand
          ? { named_command: bounded.namedCommand }
          : {}),
      awaiting: kind,
      waited_for: bounded.waitedFor,
      waited_ms: waited,
      wait_max_ms: maxMs,
      // What to settle: the siblings waited for, or the one operation a wait in an authorization's form waited for
      // (its authorization; `named_transaction`: the capture or refund the cancel voids).
      siblings: (wait.siblings ?? (wait.authorization ? [wait.authorization.id] : [])).join(','),
      why: `${wait.wait}; ${bounded.waitedFor} still undecided after ${Math.floor(waited / 3_600_000)} h: refused unsent; settle what it waited for with the PSP, then send what is still owed`,
    },
  };
}

/**
 * The hash field on a dependent's record that holds when its first wait of kind `kind` ({@link waitKind}) began (epoch ms,
 * written once): each wait is bounded and backed off from its own start, so a refund that waited hours for siblings ahead
 * of it and then waits for a void is given the whole bound for the void. A wait for the authorization needs none: it is
 * the first thing a dependent can wait for (what follows reads the authorization decided, which it stays), so it counts
 * from the record's creation.
 */
export function waitStartField(kind: string): string {
  return `wait_started_at:${kind}`;
}

/**
 * The delay before a dependent that has waited `waitedMs` is checked again, ms: a tenth of the wait so far
 * ({@link WAIT_SHARE}), never below `baseMs` (`delivery.backoff_base_ms`: a capture sent right after its
 * authorization, answered within a second or two, is checked as often as before: the first 10 × base ms
 * of a wait stay at the base) nor above `maxMs` (`delivery.backoff_max_ms`). Pure.
 */
export function dependentWaitDelay(waitedMs: number, baseMs: number, maxMs: number): number {
  const share = Math.floor(Math.max(0, waitedMs) / WAIT_SHARE);
  return Math.min(maxMs, Math.max(baseMs, share));
}

/**
 * How long a waiter stays registered without checking again, seconds: the waiters set expires after it (every
 * check registers again). An hour, or ten checks at `delivery.backoff_max_ms` when that is longer.
 */
export function waitersTtlSeconds(maxMs: number): number {
  return Math.max(3600, Math.ceil((10 * maxMs) / 1000));
}

/**
 * An operation a dependent waits for, as the dependent saw it: its authorization, or a sibling ahead of it (a
 * capture, refund or cancel of the same authorization in flight). What it registers on (`Ledger.waitFor`).
 */
export interface WaitedOn {
  /** Its operation id. */
  id: string;
  /**
   * Its payment (it never changes): where its record, and its waiters, live. Absent for a sibling read through
   * its authorization's dependents: its shard is then found by its id.
   */
  payment?: Payment;
  /** The state the dependent saw; the registration holds only while the operation is still in it. */
  state: OperationState;
}

/**
 * Why a dependent waits, the `reason` label of {@link dependentWaits}: `authorization_<state>` (lower case:
 * received, sent, pending, action_required, unknown, unresolved), or what else holds it: `siblings` (captures or
 * refunds of the same authorization in flight ahead of it, or not yet sent), `captures_in_flight`, `undelivered_captures`, `refunds`,
 * `void`, `void_in_flight`, `capture_void`, `refund_in_flight`, `split_tender` (`operation-context.ts` `Awaiting`).
 */
export function waitReason(wait: { authorization?: { state: OperationState }; awaiting?: string }): string {
  if (wait.authorization) return `authorization_${wait.authorization.state.toLowerCase()}`;
  return wait.awaiting ?? 'siblings';
}

/**
 * `pb_delivery_dependent_waits_total{reason}`: checks of a capture, cancel, refund… that found it could not go
 * yet, each followed by a delayed re-check (see {@link dependentWaitDelay}); `reason` per {@link waitReason}.
 */
export function dependentWaits(): Counter<'reason'> {
  return counter(
    'pb_delivery_dependent_waits_total',
    'Checks of a capture, cancel or refund that could not go yet and were put back with a growing delay, by reason (authorization_<state> of the authorization it waits for, siblings, captures_in_flight, undelivered_captures, refunds, void, void_in_flight, capture_void, refund_in_flight, split_tender)',
    ['reason'],
  );
}

/**
 * `pb_void_waits_expired_total{gateway,awaiting}`: dependents refused unsent because what they waited for (`awaiting`,
 * a kind of {@link BOUNDED_WAITS}: a guard between voids and refunds, their authorization, siblings ahead of them)
 * stayed undecided past their bound ({@link waitMaxMs}; the code names it). Each one is a payment for a person to settle
 * with the PSP.
 */
export function voidWaitsExpired(): Counter<'gateway' | 'awaiting'> {
  return counter(
    'pb_void_waits_expired_total',
    'Captures, cancels, refunds, validates and revalidates refused unsent because what they waited for stayed undecided past the bounded wait (delivery.void_wait_max_ms; delivery.authorization_wait_max_ms for the authorization), by gateway and awaiting (capture_void, refund_in_flight, refunds, void, void_in_flight, captures_in_flight, undelivered_captures, named_transaction, split_tender, authorization, siblings)',
    ['gateway', 'awaiting'],
  );
}

/**
 * `pb_delivery_dependents_woken_total{state}`: dependents made to run at once because what they waited for (their
 * authorization, or a sibling ahead of them) moved, whoever moved it, by the state it moved to.
 */
export function dependentsWoken(): Counter<'state'> {
  return counter(
    'pb_delivery_dependents_woken_total',
    'Dependents (captures, cancels, refunds) made to run at once because the operation they waited for (their authorization, or a sibling ahead of them) moved, by the state it moved to',
    ['state'],
  );
}

/**
 * The {@link DependentWaker} a process gives its ledger (`Ledger.wakeDependentsWith`): takes the dependents
 * waiting for the operation that moved and makes each one's delivery run now (`wake`: `requeueDelivery`), so what
 * their backed-off wait would add never comes after what they wait for moves. Counted
 * ({@link dependentsWoken}) and logged (info). A wake that fails is only a warning: that dependent's own
 * re-check, later, finds the same. Only for a flagged move: a move nobody waits for never comes here.
 */
export function dependentWaker(deps: {
  ledger: Pick<Ledger, 'takeWaiters'>;
  /** Makes the delivery of dependent `operationId` run now. */
  wake: (operationId: string) => Promise<unknown>;
  logger: Logger;
}): DependentWaker {
  const { ledger, wake, logger } = deps;
  return async ({ id, payment, to, source }) => {
    try {
      const ids = await ledger.takeWaiters(id, payment);
      const woken: string[] = [];
      for (const dependent of ids) {
        try {
          await wake(dependent);
          woken.push(dependent);
        } catch (err) {
          logger.warn('could not wake a dependent of an operation that moved; it runs at its backed-off re-check', {
            operation_id: dependent,
            waited_for: id,
            error: (err as Error).message,
          });
        }
      }
      if (woken.length > 0) dependentsWoken().inc({ state: to }, woken.length);
      logger.info('dependents woken: the operation they waited for moved', {
        waited_for: id,
        state: to,
        source,
        dependents: woken.join(','),
        count: woken.length,
      });
    } catch (err) {
      logger.warn('could not read the dependents waiting for an operation that moved; they run at their backed-off re-check', {
        waited_for: id,
        state: to,
        error: (err as Error).message,
      });
    }
  };
}
