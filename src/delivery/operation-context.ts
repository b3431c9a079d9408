import { attemptIdempotencyKey, attemptSince } from './attempt-key';
import { CommandType, Payment } from '../contracts/payment-command';
import { CapturedByCaptures, CapturedPayment, CapturedRefunds, HeldAmount, OperationContext, uncapturedRemainder } from '../gateways/gateway-adapter';
import { DependentSummary, Ledger, OperationRecord, RecordedAdjustmentFields, doneAtPsp } from '../ledger/ledger';
import { authorizationReferenceElsewhere as referenceElsewhere, authorizationReferenceLookups as referenceLookups } from './authorization-metrics';
import { amountIn, confirmedOrAsked, gatewayOf, routedPayment } from '../ledger/routing-record';
import { AUTHORIZING } from '../ledger/authorization-by-reference';
import { OperationState, isTerminal } from '../ledger/operation-state';
import { atAuthorizationRate, convertedPayment, fxLockOf, heldInOrderCurrency } from '../fx/locked-rate';
import { atLockedRateAfter, orderAmountWithin, type FxLock, type PartsBefore } from '../fx/fx-lock';
import { CancelBasis, cancelBasisOf } from '../ledger/cancel-basis';
import { EXTRA_AUTHORIZATION_NOT_SUCCEEDED, EXTRA_AUTHORIZATION_RECORDED, extraAuthorizationGate, isExtraAuthorizationVoid } from './extra-authorization-void';
import { VOID_WAIT_EXPIRED, WAIT_FOR_OTHER_VOID_EXPIRED, WAIT_FOR_TRANSACTION_EXPIRED, type WaitedOn } from './dependent-wait';
import { RefundedBeyondCaptured, commandsUndoneBy, isAdjustmentKind, releasesHold } from '../adjustments/adjustment';
import { laterInPspTime } from '../gateways/psp-time';
import { GIFT_CARD_METHOD, isStoredValueCommand } from '../contracts/stored-value';
import { isGiftCardNumberKey, refundNamesCard } from '../contracts/gift-card-keys';
import type { SuggestedAction } from '../errors/decline';
import { SPLIT_TENDER_ROLLED_BACK, SplitTenderSteps, guardedBySplit, heldBySplit } from './split-step-wait';

/** Commands that act on an earlier authorization named by `gateway_key`. */
export const DEPENDENT: ReadonlySet<CommandType> = new Set(['capture', 'cancel', 'refund', 'validate', 'revalidate']);
/**
 * Commands registered among their authorization's dependents at their first attempt: captures and refunds
 * (what its remaining amount is made of) and the other commands that close it (cancel, revalidate), so a
 * sweep can find a closing a crash left unwritten (`finishUnwrittenClosing`). Only captures and refunds are summed.
 */
const REGISTERED: ReadonlySet<CommandType> = new Set(['capture', 'refund', 'cancel', 'revalidate']);
/** Commands that move the authorization's money: they must be in its currency. */
const MONEY_MOVING: ReadonlySet<CommandType> = new Set(['capture', 'cancel', 'refund']);

/** Reasons a dependent command is refused against our authorization (event `reason`, metric label). */
export const AUTHORIZATION_REFUSALS = {
  /** Another gateway, gateway_account or order than the authorization's. */
  scope: 'authorization_scope_mismatch',
  /** Another currency than the authorization's (conversion only happens through an explicit FX step). */
  currency: 'currency_mismatch',
  /** A capture above the authorized amount not yet captured (successful captures summed). */
  capture: 'amount_exceeds_authorized',
  /**
   * A capture that would fit but for captures of the authorization the PSP said failed after accepting them
   * (`capture_failed`, marked undone): their amount is held, the PSP may capture it again itself.
   */
  captureFailedHeld: 'amount_held_by_failed_capture',
  /**
   * A refund that would fit but for refunds of the payment recorded FAILED that the PSP retries itself (Adyen's
   * REFUND_FAILED for a technical issue): their amount is held, the PSP may still refund it.
   */
  refundFailedHeld: 'amount_held_by_failed_refund',
  /** A refund above the captured amount not yet refunded. */
  refund: 'amount_exceeds_captured',
  /**
   * A cancel of an authorization one of whose captures the PSP failed for a reason it retries itself (Adyen's technical
   * CAPTURE_FAILED): the PSP may still capture it, so the cancel is not sent and nothing tells the OMS the money was released.
   */
  cancelCaptureHeld: 'capture_held_for_psp_retry',
  /**
   * A cancel of an authorization one of whose captures the PSP failed for a reason it retries itself and then did after
   * all (Adyen's CAPTURE "Transaction Recaptured"): the payment is captured at the PSP, which refuses a cancel of it; a
   * refund gives the money back.
   */
  cancelAfterRecapture: 'captured_by_psp_retry',
  /** A second capture of an authorization its PSP captures once only (Stripe without multicapture: Klarna, and cards as we send them). */
  singleCapture: 'capture_already_made',
  /** A capture or refund of a converted authorization that comes to nothing at its locked rate (after the parts before it). */
  tooSmallToConvert: 'amount_too_small_to_convert',
} as const;

/** Why a command cannot be carried against its authorization: reason, the field at fault, details to log. */
export interface ContextRefusal {
  fail: string;
  /** The command field at fault (`payment.currency`); absent when the authorization itself is the cause. */
  field?: string;
  /** What an operator needs to see (scopes, currencies, amounts; never card data). */
  detail?: Record<string, unknown>;
  /**
   * The decline's `suggested_action` when this refusal's differs from what its reason suggests (`BRIDGE_DECLINES`):
   * absent, the reason's.
   */
  action?: SuggestedAction;
  /**
   * Set on a capture's, refund's or cancel's `AUTHORIZATION_FAILED` (a cancel's `AUTHORIZATION_RELEASED` too) when it
   * names its authorization by our operation id: an attempt of it sent while its key named nothing on record
   * (`OperationContext.keyUnrecorded`) went by reference as given, our id, which names no PSP object. After such
   * attempts only, the refusal is told even though one may have reached the PSP (`sent-before-authorization.ts`).
   */
  attemptsNamedNothing?: true;
}

/**
 * What the gateway transformer is given for an operation, or why it cannot be given anything yet:
 * `wait` (the authorization it names is not decided), `fail` (that authorization failed, succeeded without
 * a PSP reference, or does not match the command: scope, currency, amount). `authorizationId`: the
 * authorization a PSP reference the command names was resolved to (recorded with the attempt).
 */
export type ContextResolution =
  | {
      context: OperationContext;
      fxLock?: FxLock;
      authorizationId?: string;
      cancelBasisChanged?: CancelBasisChange;
      /**
       * A cancel naming an authorization the ledger holds FAILED (by PSP reference; by our id, only with a late success on
       * record): what it was sent for, and why.
       */
      failedAuthorization?: FailedAuthorizationCancel;
      /** A refund its captures' (or sale's) converted amount bounded: said once its attempt is on record ({@link refundBoundedOf}). */
      refundBounded?: RefundBounded;
    }
  /**
   * `siblings`: the captures or refunds of the same authorization in flight ahead of it (`siblingsAhead`), or
   * what a cancel waits for (`capturesInFlight`, with `awaiting: 'captures_in_flight'`; `capturesNotYetDelivered`, with `awaiting: 'undelivered_captures'`;
   * `refundsInFlight`, with `awaiting: 'refunds'`), or the cancel a refund waits for (`voidsAhead`, `awaiting: 'void'`),
   * or another void of the same transaction a cancel waits for (`voidsOfSameTransaction`, `awaiting: 'void_in_flight'`);
   * `siblingsSeen`: the same, each as read (what the dependent registers on to be woken when one moves).
   * `authorization`: the undecided authorization it waits for, as read (what the dependent registers on to be woken).
   * `voids`: the capture or refund of ours a cancel voids as its own transaction ({@link voidOfDependent}), when it is such
   * a void: a bound's refusal names it and counts as that void's (`pb_transaction_voids_total{outcome="refused"}`).
   */
  | {
      wait: string;
      siblings?: readonly string[];
      siblingsSeen?: readonly WaitedOn[];
      awaiting?: Awaiting;
      authorization?: WaitedOn;
      voids?: { id: string; command: 'capture' | 'refund' };
    }
  | ContextRefusal;

/**
 * A cancel that names an authorization (or sale) the ledger holds FAILED and not marked done after all (`asDoneAtPsp`),
 * by PSP reference, or by our operation id with a late success on record, as {@link failedAuthorizationHold} read it.
 */
export interface FailedAuthorizationCancel {
  /** The FAILED authorization's operation id. */
  authorizationId: string;
  /**
   * `late_success`: a `succeeded_after_failure` recorded on it says what the PSP holds after all (`amount`,
   * `currency`), and the cancel asks no more than that; `unknown`: nothing on record says the PSP holds anything, the
   * cancel goes for its own amount and the PSP decides (one whose cancel takes no amount, Stripe's and Adyen's, voids
   * whatever it holds; Cybersource reverses that amount or refuses).
   */
  held: 'late_success' | 'unknown';
  /** What the late success confirmed, minor units of `currency`; absent when it stated none. */
  amount?: number;
  /** ISO 4217 code of `amount`, upper case. */
  currency?: string;
}

/**
 * What a dependent waits for besides siblings of its own command (see {@link ContextResolution}); `captures_in_flight`:
 * a cancel at a PSP that builds it from the captures standing waits for captures of its authorization in flight
 * ({@link capturesInFlight}); `void_in_flight`: a
 * cancel waits for another void of the same transaction not yet decided (a second cancel naming the same capture or
 * refund, a cancel of the authorization and one naming its capture), so one transaction is never voided twice;
 * `capture_void`: a cancel voiding a capture waits for the void of another capture of the payment not yet decided,
 * when both would return what refunds of it need kept ({@link refundsOverVoid}); `refund_in_flight`: a cancel voiding a
 * capture waits for refunds of the payment in flight (registered before it, or sent) when only they would make the
 * refunds give back more than the other captures collected; `named_transaction`: a cancel voiding one of our captures or
 * refunds as its own transaction waits for that capture or refund to be decided ({@link voidOfDependent}: a wait in the
 * form of an authorization's, `authorization`, so its `reason` label stays `authorization_<state>`); `split_tender`: a
 * capture, cancel or refund of a split tender's step waits for its split to settle ({@link splitStepGuard}).
 */
export type Awaiting =
  | 'refunds'
  | 'void'
  | 'captures_in_flight'
  | 'undelivered_captures'
  | 'void_in_flight'
  | 'capture_void'
  | 'refund_in_flight'
  | 'named_transaction'
  | 'split_tender';

/**
 * A wait for other dependents of the same authorization: why (`wait`), their ids (`siblings`), and each as read
 * (`siblingsSeen`): the dependent registers on each (`Ledger.waitFor`) and is woken when one of them moves.
 */
export interface SiblingWait {
  wait: string;
  siblings: string[];
  siblingsSeen: WaitedOn[];
}

/** The siblings a dependent waits for, as read: their ids and states (and payment, where read with the record). */
function seen(siblings: readonly { id: string; state: OperationState; payment?: Payment }[]): WaitedOn[] {
  return siblings.map((d) => (d.payment ? { id: d.id, payment: d.payment, state: d.state } : { id: d.id, state: d.state }));
}

/**
 * A cancel retried (or asked about) on the reading its first attempt was built on (`OperationRecord.cancelBasis`)
 * while the ledger now reads otherwise (a capture succeeded or was undone in between): what was pinned, what is read now.
 */
export interface CancelBasisChange {
  pinned: CancelBasis;
  now: CancelBasis;
}

export interface ResolveOptions {
  /**
   * Check a capture's or refund's amount against what the authorization has left, and register a capture,
   * refund, cancel or revalidate as one of the authorization's dependents. Only before the first attempt:
   * once sent, the PSP has decided, and the sums change as other captures settle. Default false (status
   * inquiries, the poller).
   */
  checkAmounts?: boolean;
  /**
   * The configured gateway names: a `gateway_key` that is a PSP reference unknown at the command's gateway
   * is looked for at these (one pipelined read, only then), because routing or failover may have put the
   * authorization at another gateway than the one the command names. Default none (the command's gateway only).
   */
  gateways?: readonly string[];
  /**
   * Whether the authorizations a gateway holds take one capture only (with `checkAmounts`): Stripe captures a
   * PaymentIntent once (`amount_to_capture` may be less; Stripe releases the rest), multicapture being a
   * card-only option we do not request. A second capture is then refused naming `payment.gateway_key`
   * rather than sent to be declined. Default: none (every gateway takes several partial captures).
   * The reference index relies on it too: a Stripe capture answers with the PaymentIntent id and takes its
   * entry over, so two captures of one PaymentIntent would leave it on the last, where the first one's report
   * line would then land: multicapture needs its captures matched by their own charge or balance transaction.
   */
  singleCapture?: (gateway: string) => boolean;
  /**
   * Whether a gateway builds a cancel from the captures standing against its authorization (with
   * `checkAmounts`): Cybersource reverses what they left, or voids the one that took it all
   * (`GatewayDefinition.cancelVoided`). A cancel there waits while a capture of its authorization is in flight
   * (`capturesInFlight`, `capturesNotYetDelivered`): sent then, it would release money that capture is about to
   * take; one that would void what was captured waits while a refund of it registered before it is in flight
   * (`refundsInFlight`), and a refund registered after such a cancel waits for it (`voidsAhead`): a void and a
   * refund of one payment would return the money twice. Default: none (the other PSPs order a cancel after the
   * captures they hold themselves, and refuse a cancel of what was captured in full).
   */
  cancelFollowsCaptures?: (gateway: string) => boolean;
  /**
   * Before a cancel's first attempt (delivery passes it with `checkAmounts`): the time now (epoch ms) and each gateway's
   * stored value void window (`GatewayDefinition.storedValueVoidWindowMs`; undefined: none documented). A cancel naming
   * one of our stored value transactions (by our operation id or its PSP reference) done longer ago than the window of
   * the gateway that did it is refused {@link VOID_WINDOW_PASSED}, unsent. Default: none (status inquiries, the poller: a
   * cancel already sent is asked about, never refused).
   */
  voidWindow?: { now: number; windowMs(gateway: string): number | undefined };
  /**
   * Whether the gateway that did a capture or refund of ours voids it as its own transaction
   * (`GatewayDefinition.voidsOwnTransactions`: Cybersource): a cancel naming it by our operation id, or by its own PSP
   * reference (`cancelNamingDependent`), is then sent as that void ({@link voidOfDependent}). Default: none (such a
   * cancel is refused `UNSUPPORTED_COMMAND`, unsent).
   */
  voidsOwnTransaction?: (gateway: string, command: 'capture' | 'refund') => boolean;
  /**
   * Which split tender an authorization is a step of (with `checkAmounts`): a capture, cancel or refund of the OMS naming
   * a split's redemption or card part waits while the split is not settled, and is refused once it rolled back
   * ({@link splitStepGuard}). Default: none (no split is looked up).
   */
  splitTenders?: SplitTenderSteps;
}

/**
 * The context of `op` for its gateway: a capture, cancel, refund, validate or revalidate whose `gateway_key`
 * is the operation id of one of OUR authorizations acts on the PSP's reference for it (its new gateway
 * key, else its gateway reference), which exists only once that authorization succeeded; a validate of one
 * of our succeeded authorizations is also given what it holds at the PSP (`held`, `heldAtPsp`). A cancel naming
 * one of our stored value transactions (a reload, an issue, a status change, a merge, a refund to a gift card) by
 * its operation id voids that transaction by its PSP reference (`voidOfTransaction`); a dependent naming any other of
 * our operations by its id is refused outside that operation's scope, and a cancel of one is refused (`ofOperation`).
 * Every other command is sent as the OMS gave it. Used for the request itself (delivery) and for any status inquiry
 * about it (delivery's UNKNOWN resolution, the poller), so both name the same PSP object.
 *
 * Our authorization is only resolved within its scope: same gateway, same gateway_account, same order_id
 * when both have one; a capture, cancel or refund must be in its currency; with `checkAmounts`, a capture
 * may not exceed the authorized amount less successful captures, a refund the captured amount less
 * successful refunds. Anything else is refused, never sent with another merchant's or order's object.
 * A `gateway_key` that is not one of our operation ids is looked up as a PSP reference of the command's
 * gateway (one extra read, only then) and checked the same way, but sent as given (`checkedByReference`).
 */
export async function resolveOperationContext(op: OperationRecord, ledger: Ledger, options: ResolveOptions = {}): Promise<ContextResolution> {
  // The payment as its gateway sees it: the routed gateway (and a converted amount), where one was decided.
  const attemptKey = attemptIdempotencyKey(op);
  const since = attemptSince(op);
  const context: OperationContext = {
    operationId: op.id,
    command: op.command,
    payment: routedPayment(op),
    ...(attemptKey !== op.id ? { idempotencyKey: attemptKey } : {}),
    ...(since !== undefined ? { attemptSince: since } : {}),
  };
  if (!DEPENDENT.has(op.command)) return { context };
  const key = op.payment.gateway_key;
  if (key === op.id) return { context };
  const registers = options.checkAmounts === true && REGISTERED.has(op.command);
  const amounts = registers && (op.command === 'capture' || op.command === 'refund');
  let auth: OperationRecord | null;
  let dependents: DependentSummary[] = [];
  let registered = 0;
  if (registers) {
    const view = await ledger.authorizationView(key, op.id);
    auth = view ? asDoneAtPsp(view.auth) : null;
    dependents = view ? namesInOurIds(view.auth, view.dependents) : [];
    registered = view?.registered ?? 0;
    // A split's own reversal of its step: the OMS's commands of that step held until the split settles are not ahead of it.
    if (heldForSplit(op, key, options)) dependents = dependents.filter((d) => !heldBySplit(d));
  } else {
    const found = await ledger.get(key);
    auth = found && asDoneAtPsp(found);
  }
  if (!auth) return checkedByReference(op, ledger, context, { amounts, registers }, options);
  if (!AUTHORIZING.has(auth.command)) return ofOperation(op, auth, context, options, ledger);
  const refused = scopeRefusal(op.payment, auth) ?? currencyRefusal(op, auth);
  if (refused) return refused;
  switch (auth.state) {
    case 'SUCCEEDED': {
      const split = registers ? await splitStepGuard(op, auth, ledger, options) : null;
      if (split) return split;
      const psp = auth.newGatewayKey ?? auth.gatewayReference;
      if (!psp) return { fail: 'AUTHORIZATION_REFERENCE_MISSING' };
      // Only authorizations whose dependents were all registered (created with a digest) can be summed.
      const summed = amounts && auth.digest !== undefined;
      const outside = summed ? await refundedOutside(op, auth, ledger) : 0;
      const over = summed ? amountRefusal(op, auth, dependents, options.singleCapture?.(gatewayOf(auth)) === true, outside) : null;
      if (over) return over;
      const heldCapture = registers ? heldCaptureRefusal(op, auth, dependents, await recapturedRefundedOutside(op, auth, dependents, ledger)) : null;
      if (heldCapture) return heldCapture;
      const ahead = summed ? siblingsAhead(op, auth, dependents, registered, outside) : null;
      if (ahead) return ahead;
      const follows = registers && options.cancelFollowsCaptures?.(gatewayOf(auth)) === true;
      const capturing = follows ? await voidGuards(op, auth, dependents, registered, ledger, heldForSplit(op, key, options)) : null;
      if (capturing) return capturing;
      // Sent to the gateway that holds the authorization (where it was routed), whatever the command names;
      // a converted authorization's captures and refunds go out at its locked rate (docs/LIMITS.md).
      const payment = { ...context.payment, gateway: gatewayOf(auth), gateway_key: psp };
      const before = takenBefore(op, auth, dependents, registered);
      if ('wait' in before) return before;
      const converted = atDependentRate(op, auth, payment, before);
      const nothing = convertedToNothing(op, auth, payment, converted, before);
      if (nothing) return nothing;
      const fxLock = converted === payment ? null : fxLockOf(auth);
      const { changed, ...captured } = await capturedFor(op, auth, registers ? { dependents, registered } : null, ledger);
      const resolved = { ...context, payment: converted, ...heldFor(op, auth), ...captured };
      const drift = changed ? { cancelBasisChanged: changed } : {};
      const bounded = refundBoundedOf(op, auth, payment, converted, before);
      return fxLock ? { context: resolved, fxLock, ...drift, ...(bounded ? { refundBounded: bounded } : {}) } : { context: resolved, ...drift };
    }
    case 'FAILED':
      // Refused unless a late success on record says the PSP holds it after all: then released as by PSP reference.
      if (op.command === 'cancel') return cancelOfFailed(op, auth, context, ledger);
      return op.command === 'capture' || op.command === 'refund'
        ? { fail: 'AUTHORIZATION_FAILED', attemptsNamedNothing: true }
        : { fail: 'AUTHORIZATION_FAILED' };
    case 'RECEIVED':
    case 'SENT':
    case 'PENDING':
    case 'ACTION_REQUIRED':
    case 'UNKNOWN':
    case 'UNRESOLVED':
      return { wait: `authorization ${auth.id} is ${auth.state}`, authorization: { id: auth.id, payment: auth.payment, state: auth.state } };
  }
}

/**
 * Whether `op` is a split's own reversal of the step `key` names (`SplitTenderSteps.reversesStep`, pure): the OMS's
 * captures, cancels and refunds of that step still unsent wait for the split ({@link splitStepGuard}), which waits for
 * this reversal, so it never waits for them (nor sums them as in flight): the two would wait for each other until the
 * bound (`delivery.void_wait_max_ms`), the rollback with them.
 */
function heldForSplit(op: OperationRecord, key: string, options: ResolveOptions): boolean {
  return options.splitTenders?.reversesStep(op.id, key) === true;
}

/**
 * Before its first attempt, a capture, cancel or refund of the OMS naming `auth`, a split tender's redemption or card
 * part that SUCCEEDED, while its split is not settled: the split may still roll back and void (or refund) that step, so
 * it waits for the split (`awaiting: 'split_tender'`, bounded by `delivery.void_wait_max_ms`), registered on the split's
 * steps not yet decided (woken when one moves, else at its backed-off re-check). Once the split is DONE it goes on as any
 * dependent; once it ended otherwise having reversed that step (its void or refund SUCCEEDED) it is refused
 * {@link SPLIT_TENDER_ROLLED_BACK} on `payment.gateway_key`, unsent: the OMS was told the order failed and the step's money
 * is back. A step the split did not reverse goes on as before. The split's own commands (ids `_…`) never wait for it. Null
 * when it may go (no split, or `options.splitTenders` absent).
 */
async function splitStepGuard(
  op: OperationRecord,
  auth: OperationRecord,
  ledger: Pick<Ledger, 'get'>,
  options: ResolveOptions,
): Promise<ContextResolution | null> {
  if (!options.splitTenders || !guardedBySplit(op)) return null;
  const split = await options.splitTenders.splitOf(auth);
  if (!split || split.steps.includes(op.id) || split.standing === 'done') return null;
  if (split.standing === 'undone') {
    // Only what the split undid itself: a step it never reversed (a card part that failed, approved by the PSP later, which
    // orphan reversal and the OMS's own commands settle; a reversal the PSP refused, left to a person) goes on as before.
    const reversals = await Promise.all(split.reversals.map((id) => ledger.get(id)));
    const reversed = reversals.find((r) => r?.state === 'SUCCEEDED');
    if (!reversed) return null;
    return {
      fail: SPLIT_TENDER_ROLLED_BACK,
      field: 'payment.gateway_key',
      detail: {
        split_tender_id: split.splitId,
        split_state: split.state,
        step: auth.id,
        reversed_by: reversed.id,
        why: `split tender ${split.splitId} ended ${split.state} (the OMS was told split_tender_settled FAIL) and ${reversed.command === 'refund' ? 'refunded' : 'voided'} its step ${auth.id} (${reversed.id}): nothing left to ${op.command}; nothing sent`,
      },
    };
  }
  const records = await Promise.all(split.steps.filter((id) => id !== auth.id).map((id) => ledger.get(id)));
  const open = records.filter((r): r is OperationRecord => r !== null && !isTerminal(r.state));
  return {
    wait: `${op.command} of split tender step ${auth.id} waits for split tender ${split.splitId} (${split.state}) to settle: the split may still roll back and reverse that step`,
    siblings: open.length > 0 ? open.map((r) => r.id) : [split.splitId],
    siblingsSeen: seen(open),
    awaiting: 'split_tender',
  };
}

/**
 * A dependent command naming by our operation id `named`, one of our operations that is not an authorization: only
 * within its scope (gateway, gateway_account, order), never another gateway's or merchant's operation (a gift card
 * void naming one of our card captures would otherwise go to the Stored Value API with our id as the transaction's
 * reference). A cancel voids one of our stored value transactions ({@link voidOfTransaction}), and one of our captures
 * or refunds at a gateway that voids it as its own transaction ({@link voidOfDependent}: Cybersource); of anything else
 * (a capture or refund elsewhere, a cancel) it is refused `UNSUPPORTED_COMMAND` on `payment.gateway_key`, unsent:
 * no PSP knows our id. Any other command is sent as the OMS gave it. Pure but for a capture void's read of its
 * payment's refunds.
 */
function ofOperation(
  op: OperationRecord,
  named: OperationRecord,
  context: OperationContext,
  options: ResolveOptions,
  ledger: Pick<Ledger, 'authorizationView' | 'authorizationByReference' | 'get' | 'adjustmentsOfEach'>,
): ContextResolution | Promise<ContextResolution> {
  if (op.command === 'cancel' && voidsByReference(named)) return voidOfTransaction(op, named, context, options.voidWindow);
  if (op.command === 'cancel' && (named.command === 'capture' || named.command === 'refund')) {
    const voids = options.voidsOwnTransaction?.(gatewayOf(named), named.command) === true;
    if (voids) return voidOfDependent(op, named, named.command, context, options, ledger);
  }
  const refused = scopeRefusal(op.payment, named);
  if (refused) return { ...refused, detail: { ...refused.detail, named_command: named.command } };
  if (op.command !== 'cancel') return { context };
  const why = `a cancel voids an authorization or a stored value transaction; ${named.id} is a ${named.command}`;
  return cancelOfNamedRefused(named, why);
}

/** `fail` of a cancel naming one of our captures or refunds that a void (or the PSP) undid already: nothing left to void. */
export const ALREADY_UNDONE = 'ALREADY_UNDONE';

/** `fail` of a cancel naming one of our captures whose void would return money refunds of the payment give back already. */
export const CAPTURE_REFUNDED = 'CAPTURE_REFUNDED';

/**
 * `fail` of a cancel naming one of our captures or refunds whose authorization cannot be read (its record gone, no
 * authorization, or a payment the bridge never held): the guards of the void cannot run, so it is not sent.
 */
export const VOID_UNCHECKABLE = 'VOID_UNCHECKABLE';

/** The refusals unsent of a cancel voiding one of our captures or refunds by its own id (`pb_transaction_voids_total{outcome=refused}`). */
export const OWN_VOID_REFUSALS: ReadonlySet<string> = new Set([
  ALREADY_UNDONE,
  CAPTURE_REFUNDED,
  VOID_UNCHECKABLE,
  VOID_WAIT_EXPIRED,
  WAIT_FOR_OTHER_VOID_EXPIRED,
  WAIT_FOR_TRANSACTION_EXPIRED,
]);

/**
 * A cancel naming by our operation id capture or refund `named` at a gateway that voids it as its own transaction
 * (`ResolveOptions.voidsOwnTransaction`: Cybersource's "Void a Capture", "Void a Refund"): within its scope and
 * currency, sent to the gateway that did it for its PSP reference (`context.voidOf` says which), with the cancel's own
 * idempotency key, once `named` SUCCEEDED (`AUTHORIZATION_REFERENCE_MISSING` without a reference). Before the first
 * attempt (`checkAmounts`) it is refused unsent when `named` was undone already by another cancel's void or by the
 * PSP ({@link ALREADY_UNDONE}: a second cancel of it voids nothing twice), and a capture's when the refunds of its
 * payment standing or in flight (and what the PSP refunded outside the bridge) would exceed what the other captures
 * leave ({@link CAPTURE_REFUNDED}: the void returns all of it while the refunds stand). It waits while `named` is
 * undecided and is refused `AUTHORIZATION_FAILED` when `named` failed (nothing to void). Before the first attempt it
 * is registered among its authorization's dependents and waits for another void of the same transaction
 * ({@link namedVoidGuards}).
 */
async function voidOfDependent(
  op: OperationRecord,
  named: OperationRecord,
  command: 'capture' | 'refund',
  context: OperationContext,
  options: ResolveOptions,
  ledger: Pick<Ledger, 'authorizationView' | 'authorizationByReference' | 'get' | 'adjustmentsOfEach'>,
): Promise<ContextResolution> {
  const refused = scopeRefusal(op.payment, named) ?? currencyRefusal(op, named);
  if (refused) return { ...refused, detail: { ...refused.detail, named_operation_id: named.id, named_command: command } };
  const detail = { named_operation_id: named.id, named_command: command };
  switch (named.state) {
    case 'SUCCEEDED': {
      // A mark of this very cancel is its own void found again (a crash before its success was recorded): not refused.
      if (options.checkAmounts === true && named.undoneBy !== undefined && named.undoneBy !== op.id) {
        return {
          fail: ALREADY_UNDONE,
          field: 'payment.gateway_key',
          detail: { ...detail, undone_by: named.undoneBy, why: `${command} ${named.id} was undone already (by ${named.undoneBy}): nothing left to void` },
        };
      }
      const psp = named.gatewayReference;
      if (!psp) return { fail: 'AUTHORIZATION_REFERENCE_MISSING', field: 'payment.gateway_key', detail };
      if (options.checkAmounts === true) {
        const held = await namedVoidGuards(op, named, command, ledger);
        if (held) return 'wait' in held ? { ...held, voids: { id: named.id, command } } : held;
      }
      const payment = { ...context.payment, gateway: gatewayOf(named), gateway_key: psp };
      return { context: { ...context, payment, voidOf: { command, operationId: named.id } } };
    }
    case 'FAILED':
      return { fail: 'AUTHORIZATION_FAILED', detail };
    case 'RECEIVED':
    case 'SENT':
    case 'PENDING':
    case 'ACTION_REQUIRED':
    case 'UNKNOWN':
    case 'UNRESOLVED':
      // Bounded (`named_transaction`): an UNRESOLVED capture or refund may stay undecided for good.
      return {
        wait: `${command} ${named.id} is ${named.state}`,
        authorization: { id: named.id, payment: named.payment, state: named.state },
        awaiting: 'named_transaction',
        voids: { id: named.id, command },
      };
  }
}

/**
 * What holds back, before its first attempt, cancel `op` voiding our capture or refund `named` by its own id: the
 * cancel is registered among the dependents of `named`'s authorization (`Ledger.authorizationView`), so a refund of the
 * payment registered after it waits for it ({@link voidsAhead}), a cancel of the authorization waits for it, and a
 * second cancel naming the same transaction does ({@link voidsOfSameTransaction}); it waits itself for another void of
 * the same transaction not yet decided (one naming it registered before, or sent; for a capture, a cancel of its
 * authorization too, which may void it); a capture's void is refused by {@link refundsOverVoid}. Without a link to
 * its authorization (`authorization_id`: only a closing capture, and one sent by the PSP's reference, record one), its
 * `gateway_key` names it, by our operation id or the PSP's reference. Refused unsent ({@link uncheckableVoid}) when
 * the authorization cannot be read that way (its record gone, no authorization, or a payment the bridge never held,
 * captured or refunded by a reference it never saw: those cannot be told apart): none of this can be checked, and no
 * money moves on a guess. Null when it may go.
 */
async function namedVoidGuards(
  op: OperationRecord,
  named: OperationRecord,
  command: 'capture' | 'refund',
  ledger: Pick<Ledger, 'authorizationView' | 'authorizationByReference' | 'get' | 'adjustmentsOfEach'>,
): Promise<ContextResolution | null> {
  const authorizationKey = named.authorizationId ?? named.payment.gateway_key;
  let view: { auth: OperationRecord; dependents: DependentSummary[]; registered: number } | null = await ledger.authorizationView(authorizationKey, op.id);
  if (!view && named.authorizationId === undefined) {
    // Its key may be the PSP's reference of the authorization (a capture or refund sent by it): the index finds it.
    const byReference = await ledger.authorizationByReference(gatewayOf(named), authorizationKey, op.id);
    if (byReference?.authorization) view = { auth: byReference.record, dependents: byReference.dependents, registered: byReference.registered };
  }
  const auth = view && asDoneAtPsp(view.auth);
  if (!view || !auth || !AUTHORIZING.has(auth.command)) return uncheckableVoid(named, command, authorizationKey);
  const dependents = namesInOurIds(auth, view.dependents);
  const rivals = voidsOfSameTransaction(op, auth, dependents, view.registered, named.id, command === 'capture');
  if (rivals) return rivals;
  return command === 'capture' ? refundsOverVoid(op, named, auth, dependents, view.registered, ledger) : null;
}

/**
 * The refusal ({@link VOID_UNCHECKABLE}, on `payment.gateway_key`) of a void of capture or refund `named` whose
 * authorization, named by `authorizationKey` (our operation id, or the PSP's reference), cannot be read: without it
 * the bridge sees neither the refunds a capture's void would undo nor another void of the same transaction in
 * flight, and no money moves on a guess. Pure.
 */
function uncheckableVoid(named: OperationRecord, command: 'capture' | 'refund', authorizationKey: string): ContextRefusal {
  const unchecked =
    command === 'capture'
      ? 'that a void would not undo what a refund of the payment needs, nor that no other void of it is in flight'
      : 'that no other void of it is in flight';
  return {
    fail: VOID_UNCHECKABLE,
    field: 'payment.gateway_key',
    detail: {
      named_operation_id: named.id,
      named_command: command,
      authorization_key: authorizationKey,
      why: `the authorization ${command} ${named.id} belongs to (${authorizationKey}) cannot be read as one, so the bridge cannot check ${unchecked}: refused unsent; check it with the PSP`,
    },
  };
}

/**
 * The cancels among `auth`'s dependents that void the same transaction as cancel `op` and are not yet decided: those
 * naming our capture or refund `namedId` (when `op` names one), or any naming one of its captures (when `op` cancels
 * the authorization itself, `namedId` undefined), and, with `authorizationCancels`, those of the authorization itself
 * (a void of its capture). Only those registered before `op` or sent already: one registered after it and not yet
 * sent waits for `op` instead, so the two never wait for each other. A wait (`awaiting: 'void_in_flight'`) on them:
 * two voids of one transaction are never both sent; once the first succeeds the second is refused (`ALREADY_UNDONE`),
 * once it fails the second goes. `null` when none. Pure.
 */
export function voidsOfSameTransaction(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  registered: number,
  namedId: string | undefined,
  authorizationCancels: boolean,
): (SiblingWait & { awaiting: 'void_in_flight' }) | null {
  const names = authorizationNames(auth);
  const ours = new Set(dependents.filter((d) => d.command === 'capture' || d.command === 'refund').map((d) => d.id));
  const rivals = dependents.filter((d) => {
    if (d.command !== 'cancel' || d.id === op.id || d.names === undefined || isTerminal(d.state)) return false;
    if (!mayWaitFor(d, op, registered)) return false;
    if (namedId === undefined) return ours.has(d.names);
    return d.names === namedId || (authorizationCancels && names.has(d.names));
  });
  if (rivals.length === 0) return null;
  const siblings = rivals.map((d) => d.id);
  return {
    wait: `cancel waits for ${siblings.length} other void(s) of the same transaction not yet decided (${rivals.map((d) => `${d.id} ${d.state}`).join(', ')}): one transaction is never voided twice`,
    siblings,
    siblingsSeen: seen(rivals),
    awaiting: 'void_in_flight',
  };
}

/** What a cancel of authorization `auth` may name: its operation id, its PSP reference, its new gateway key. Pure. */
function authorizationNames(auth: OperationRecord): Set<string> {
  return new Set([auth.id, auth.gatewayReference, auth.newGatewayKey].filter((n): n is string => n !== undefined));
}

/**
 * `dependents` of authorization `auth` with what each cancel among them names (`names`, its `gateway_key`) in our
 * operation ids: a cancel naming one of our captures or refunds by its own PSP reference (Cybersource's capture or
 * refund id) names that dependent's id, as one naming it by our id does, so the guards between voids and refunds see
 * both alike. A reference that is also one of the authorization's names (Stripe answers a capture with the
 * PaymentIntent id) stays the authorization's. Pure; the same array when no cancel names a reference.
 */
export function namesInOurIds(auth: OperationRecord, dependents: DependentSummary[]): DependentSummary[] {
  const own = authorizationNames(auth);
  const byReference = new Map<string, string>();
  for (const d of dependents) {
    if ((d.command === 'capture' || d.command === 'refund') && d.gatewayReference !== undefined && !own.has(d.gatewayReference)) {
      byReference.set(d.gatewayReference, d.id);
    }
  }
  if (byReference.size === 0 || !dependents.some((d) => d.names !== undefined && byReference.has(d.names))) return dependents;
  return dependents.map((d) => {
    const id = d.names === undefined ? undefined : byReference.get(d.names);
    return id === undefined ? d : { ...d, names: id };
  });
}

/**
 * The refusal of cancel `op`'s void of capture `capture` ({@link CAPTURE_REFUNDED}) when the refunds of its
 * authorization `auth` not failed (succeeded and not undone, or in flight: sent, or registered before `op`; one
 * registered after it and not yet sent waits for the void instead, {@link voidsAhead}) and what the PSP refunded
 * outside the bridge would give back more than the other captures standing collected: the void returns all the
 * capture took while those refunds stand. A capture named by another void not yet decided (registered before `op`,
 * or sent) does not stand: that void may undo it, and two voids of two captures would return what one refund needs
 * kept. When only such a capture makes the refunds fit, `op` waits for that void (`awaiting: 'capture_void'`), never
 * both sent: refused once it voided its capture, sent once it failed. When the refunds exceed what the other captures
 * could collect only with those in flight counted (not yet SUCCEEDED or FAILED, UNRESOLVED included: they may have
 * reached the PSP), `op` waits for them (`awaiting: 'refund_in_flight'`): refused once they succeeded, sent once they
 * failed; never sent while one that needs the capture may still succeed. Only refunds registered before `op` or sent
 * are counted, so never one that waits for `op` ({@link voidsAhead}). Null when they fit. A refund of what is left
 * returns the money instead.
 */
async function refundsOverVoid(
  op: OperationRecord,
  capture: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  registered: number,
  ledger: Pick<Ledger, 'get' | 'adjustmentsOfEach'>,
): Promise<ContextRefusal | (SiblingWait & { awaiting: 'capture_void' | 'refund_in_flight' }) | null> {
  // A capture another undecided void may undo does not stand: only voids registered before `op` or sent already, so
  // of two concurrent voids of two captures the later registered waits for the first, never both sent.
  const voids = dependents
    .filter((d) => d.command === 'cancel' && d.id !== op.id && d.names !== undefined && !isTerminal(d.state))
    .filter((d) => mayWaitFor(d, op, registered));
  const voiding = new Set(voids.map((d) => d.names!));
  const others = settledSum(
    dependents.filter((d) => d.id !== capture.id && !voiding.has(d.id)),
    'capture',
  );
  const refunds = givingRefunds(op, dependents, registered);
  const outside = await refundedOutsideBridgeOf(auth, ledger);
  const givenBack = refunds.reduce((total, d) => total + d.amount, 0) + outside;
  if (givenBack <= others) return null;
  // Those voids may yet fail (Cybersource NOT_VOIDABLE once settled): their captures would then stand, so a refusal now
  // would be a guess. Wait for the ones whose captures would make the refunds fit; refused for good only otherwise.
  const standingIfFailed = settledSum(
    dependents.filter((d) => d.id !== capture.id),
    'capture',
  );
  // Refunds in flight (not yet SUCCEEDED or FAILED, UNRESOLVED ones too) may yet fail and give nothing back: when only
  // they make the refunds exceed what could stand, wait for them; refused for good only on confirmed refunds.
  const inFlight = refunds.filter((d) => !doneAtPsp(d));
  const confirmedBack = givenBack - inFlight.reduce((total, d) => total + d.amount, 0);
  if (givenBack > standingIfFailed && confirmedBack <= standingIfFailed) {
    const siblings = inFlight.map((d) => d.id);
    return {
      wait: `void of capture ${capture.id} waits for ${siblings.length} refund(s) of the payment in flight (${inFlight.map((d) => `${d.id} ${d.state}`).join(', ')}): with them the refunds would give back ${givenBack}, more than the other captures collected (${standingIfFailed}); confirmed ${confirmedBack}`,
      siblings,
      siblingsSeen: seen(inFlight),
      awaiting: 'refund_in_flight',
    };
  }
  if (givenBack <= standingIfFailed) {
    const counted = new Set(dependents.filter((d) => d.id !== capture.id && settled(d, 'capture')).map((d) => d.id));
    const awaited = voids.filter((d) => counted.has(d.names!));
    const siblings = awaited.map((d) => d.id);
    return {
      wait: `void of capture ${capture.id} waits for ${siblings.length} void(s) of another capture of the payment not yet decided (${awaited.map((d) => `${d.id} ${d.state}`).join(', ')}): both would return what refunds of ${givenBack} need kept`,
      siblings,
      siblingsSeen: seen(awaited),
      awaiting: 'capture_void',
    };
  }
  return {
    fail: CAPTURE_REFUNDED,
    field: 'payment.gateway_key',
    detail: {
      named_operation_id: capture.id,
      named_command: 'capture',
      authorization_id: auth.id,
      refunded: givenBack,
      captured_by_others: others,
      refund_ids: refunds.map((d) => d.id).join(','),
      why: `refunds of the payment give back ${givenBack}, more than the other captures collected (${others}): a void would return all of capture ${capture.id} while they stand; refund instead`,
    },
  };
}

/**
 * Whether a cancel naming `named` (one of our operations, not an authorization) by our operation id is about a
 * stored value transaction, named at its PSP by its own reference: a stored value command, or a gift card refund
 * (one to the card, a `/load` at Adyen, or one of a redemption, which no void undoes: {@link NOT_VOIDABLE}).
 * Adyen's `/voidTransaction` takes the transaction's pspReference as `originalReference`, never our reference. Pure.
 */
function voidsByReference(named: OperationRecord): boolean {
  return isStoredValueCommand(named.command) || (named.command === 'refund' && named.payment.method_details?.method === GIFT_CARD_METHOD);
}

/**
 * Why a stored value operation named by a cancel cannot be voided, or null when it can: a balance inquiry did
 * nothing; a deactivation is voided by no provider online; a refund of a gift card payment (its key names the
 * redemption, not the card) is a payment refund, which "you cannot use [/voidTransaction] to" undo
 * (https://docs.adyen.com/payment-methods/gift-cards/stored-value-api/void). Adyen decides the rest per provider. Pure.
 */
function notVoidable(named: OperationRecord): string | null {
  if (named.command === 'refund') return refundNamesCard(named.payment) ? null : 'a refund of a gift card payment, not a Stored Value transaction';
  return NOT_VOIDABLE[named.command] ?? null;
}

/** Stored value commands no Stored Value void undoes, and why (see {@link notVoidable}). */
const NOT_VOIDABLE: Readonly<Partial<Record<CommandType, string>>> = {
  balance_inquiry: 'a balance inquiry moves nothing to void',
  deactivate: 'a deactivation is voided by no provider online',
};

/** `fail` of a cancel naming a stored value transaction done longer ago than its PSP voids one ({@link pastVoidWindow}). */
export const VOID_WINDOW_PASSED = 'VOID_WINDOW_PASSED';

/**
 * The refusal of a cancel of stored value transaction `named` (SUCCEEDED) once the void window of the gateway that did it
 * has passed (`ResolveOptions.voidWindow`), or null. Measured from when the PSP dated the success, else from when the
 * ledger recorded it: the transaction was done then at the latest, so the refusal comes only once the window has surely
 * passed, never for a void the PSP would still take. Past it the transaction stands: its effect is undone by a new
 * transaction (the decline's `reverse_with_new_transaction`). Pure.
 */
function pastVoidWindow(named: OperationRecord, voidWindow: ResolveOptions['voidWindow']): ContextRefusal | null {
  if (!voidWindow || named.state !== 'SUCCEEDED') return null;
  const gateway = gatewayOf(named);
  const windowMs = voidWindow.windowMs(gateway);
  if (windowMs === undefined) return null;
  const doneAt = named.pspSucceededAt ?? named.updatedAt;
  const ageMs = voidWindow.now - doneAt;
  if (ageMs <= windowMs) return null;
  const hours = (ms: number): string => `${Math.floor(ms / 3_600_000)} h`;
  return {
    fail: VOID_WINDOW_PASSED,
    field: 'payment.gateway_key',
    detail: {
      named_operation_id: named.id,
      named_command: named.command,
      holder_gateway: gateway,
      done_at: new Date(doneAt).toISOString(),
      age_ms: ageMs,
      void_window_ms: windowMs,
      why: `${gateway} voids a stored value transaction within ${hours(windowMs)} of it; this ${named.command} was done ${hours(ageMs)} ago and stands: undo its effect with a new transaction`,
    },
  };
}

/**
 * A cancel naming by our operation id stored value transaction `named` ({@link voidsByReference}): within its scope
 * and currency, refused `UNSUPPORTED_COMMAND` on `payment.gateway_key` unsent when it cannot be voided
 * ({@link notVoidable}), else sent to the gateway that did it for its PSP reference once it SUCCEEDED
 * (`AUTHORIZATION_REFERENCE_MISSING` without one; {@link VOID_WINDOW_PASSED} past that gateway's void window,
 * {@link pastVoidWindow}); it waits while `named` is undecided, and is refused
 * `AUTHORIZATION_FAILED` when `named` failed (nothing was done to undo). Pure.
 */
function voidOfTransaction(
  op: OperationRecord,
  named: OperationRecord,
  context: OperationContext,
  voidWindow: ResolveOptions['voidWindow'],
): ContextResolution {
  const refused = scopeRefusal(op.payment, named) ?? currencyRefusal(op, named);
  if (refused) return refused;
  const why = notVoidable(named);
  if (why) return cancelOfNamedRefused(named, why);
  switch (named.state) {
    case 'SUCCEEDED': {
      const psp = named.gatewayReference;
      if (!psp) return { fail: 'AUTHORIZATION_REFERENCE_MISSING', detail: { named_operation_id: named.id, named_command: named.command } };
      const late = pastVoidWindow(named, voidWindow);
      if (late) return late;
      return { context: { ...context, payment: { ...context.payment, gateway: gatewayOf(named), gateway_key: psp } } };
    }
    case 'FAILED':
      return { fail: 'AUTHORIZATION_FAILED', detail: { named_operation_id: named.id, named_command: named.command } };
    case 'RECEIVED':
    case 'SENT':
    case 'PENDING':
    case 'ACTION_REQUIRED':
    case 'UNKNOWN':
    case 'UNRESOLVED':
      return { wait: `${named.command} ${named.id} is ${named.state}`, authorization: { id: named.id, payment: named.payment, state: named.state } };
  }
}

/**
 * A dependent command whose `gateway_key` is not one of our operation ids: when it is a PSP reference one of
 * our outcomes indexed (what our SUCCESS event returned), the same scope and currency checks, and the amount
 * checks when the authorization itself is reached and succeeded. The reference is looked up at the gateway
 * the operation is routed to (the one it names, before any routing), then at the other configured gateways:
 * an authorization routed or failed over elsewhere is found where it is, and the command goes to that
 * gateway (a converted authorization's at its locked rate). The key is sent as given (it is the PSP's
 * already); an unknown reference is not ours to check. One extra read (two when found elsewhere).
 */
async function checkedByReference(
  op: OperationRecord,
  ledger: Ledger,
  context: OperationContext,
  { amounts, registers }: { amounts: boolean; registers: boolean },
  options: ResolveOptions,
): Promise<ContextResolution> {
  const { gateways = [], singleCapture, cancelFollowsCaptures } = options;
  const reference = op.payment.gateway_key;
  const named = gatewayOf(op);
  const dependent = registers ? op.id : '';
  let holder = named;
  let found = await ledger.authorizationByReference(named, reference, dependent);
  if (!found) {
    const elsewhere = await ledger.gatewayHoldingReference(
      gateways.filter((g) => g !== named),
      reference,
    );
    if (elsewhere) {
      found = await ledger.authorizationByReference(elsewhere, reference, dependent);
      if (found) {
        holder = elsewhere;
        referenceElsewhere().inc({ gateway: named, holder });
      }
    }
  }
  referenceLookups().inc({ gateway: named, result: !found ? 'unknown' : found.authorization ? 'authorization' : 'related' });
  // The void of an extra authorization (orphan reversal, `extra_authorization`) names a hold no operation of ours records:
  // requested before the inquiry's success went on record, a move meanwhile (a webhook of that very hold) may have made it
  // the operation's, the one the OMS was told of and captures name. Found on record now, it is never voided.
  if (found && isExtraAuthorizationVoid(op)) {
    return { fail: EXTRA_AUTHORIZATION_RECORDED, field: 'payment.gateway_key', detail: { operation_id: found.record.id, command: found.record.command } };
  }
  // Not on record yet: it may still become the operation's until the authorize it belongs to settles (a webhook of that
  // hold, a retried one after the inquiry's worker died): the void waits for that authorize, goes only once it SUCCEEDED
  // on another hold.
  if (isExtraAuthorizationVoid(op)) {
    const gate = await extraAuthorizationGate(op, ledger);
    if (gate) return gate;
  }
  // A gift card refund's long digit run that names none of our operations is no reference of a payment (an Adyen
  // pspReference has 16 characters): it is the card's number. Intake refuses it now; a record taken before is
  // refused unsent, never put in a PSP's URL or body.
  if (!found && op.command === 'refund' && op.payment.method_details?.method === GIFT_CARD_METHOD && isGiftCardNumberKey(reference)) {
    return { fail: GIFT_CARD_NUMBER_REFUSED, field: 'payment.gateway_key' };
  }
  // The bridge's own void of an extra authorization names a PSP hold, never an operation of ours: not marked.
  if (!found) return { context: isExtraAuthorizationVoid(op) ? context : { ...context, keyUnrecorded: true } };
  if (found.record.id === op.id) return { context };
  const auth = asDoneAtPsp(found.record);
  const dependents = namesInOurIds(auth, found.dependents);
  const via = (r: ContextRefusal): ContextRefusal => ({
    ...r,
    detail: {
      ...r.detail,
      psp_reference: reference,
      ...(holder !== named ? { holder_gateway: holder } : {}),
      ...(found.authorization ? {} : { related_operation: auth.command }),
    },
  });
  const refused = scopeRefusal(op.payment, auth) ?? currencyRefusal(op, auth);
  if (refused) return via(refused);
  const namedDependent = op.command === 'cancel' ? await dependentNamedBy(reference, holder, found, ledger) : null;
  if (namedDependent) return cancelNamingDependent(op, namedDependent, reference, holder, context, options, ledger, via);
  // A void of one of our stored value transactions by its PSP reference: past its PSP's void window as by our id.
  const late = op.command === 'cancel' && !found.authorization && voidsByReference(auth) ? pastVoidWindow(auth, options.voidWindow) : null;
  if (late) return via(late);
  const split = registers && found.authorization && auth.state === 'SUCCEEDED' ? await splitStepGuard(op, auth, ledger, options) : null;
  if (split) return 'fail' in split ? via(split) : split;
  if (amounts && found.authorization && auth.state === 'SUCCEEDED' && auth.digest !== undefined) {
    const outside = await refundedOutside(op, auth, ledger);
    const over = amountRefusal(op, auth, dependents, singleCapture?.(holder) === true, outside);
    if (over) return via(over);
    const ahead = siblingsAhead(op, auth, dependents, found.registered, outside);
    if (ahead) return ahead;
  }
  const heldCapture =
    registers && found.authorization && auth.state === 'SUCCEEDED'
      ? heldCaptureRefusal(op, auth, dependents, await recapturedRefundedOutside(op, auth, dependents, ledger))
      : null;
  if (heldCapture) return via(heldCapture);
  if (registers && found.authorization && auth.state === 'SUCCEEDED' && cancelFollowsCaptures?.(holder) === true) {
    const capturing = await voidGuards(op, auth, dependents, found.registered, ledger);
    if (capturing) return capturing;
  }
  // The record keeps which authorization it acts on: its closing then reaches it in the same script.
  const linked = found.authorization ? { authorizationId: auth.id } : {};
  // Sent to the gateway that holds the PSP object (found at another than the one the command names, when
  // routing or failover put it there); a converted authorization's captures and refunds at its locked rate,
  // wherever it was found: the PSP holds the converted currency, not the order's.
  const payment = holder === context.payment.gateway ? context.payment : { ...context.payment, gateway: holder };
  let converted = payment;
  let failed: { failedAuthorization: FailedAuthorizationCancel } | Record<string, never> = {};
  let bounded: { refundBounded: RefundBounded } | Record<string, never> = {};
  if (found.authorization) {
    const before = takenBefore(op, auth, dependents, found.registered);
    if ('wait' in before) return before;
    // A cancel of one the ledger holds FAILED is cut to what the PSP holds after all, never to its refusal's figure.
    const read = op.command === 'cancel' && auth.state === 'FAILED' ? await failedAuthorizationHold(auth, ledger) : null;
    if (read && 'fail' in read) return via(read);
    if (read) failed = { failedAuthorization: read.cancel };
    converted = atDependentRate(op, read?.auth ?? auth, payment, before);
    const nothing = convertedToNothing(op, auth, payment, converted, before);
    if (nothing) return via(nothing);
    const refundBounded = refundBoundedOf(op, auth, payment, converted, before);
    if (refundBounded) bounded = { refundBounded };
  }
  const fxLock = converted === payment ? null : fxLockOf(auth);
  const succeeded = found.authorization && auth.state === 'SUCCEEDED';
  const { changed, ...captured } = succeeded ? await capturedFor(op, auth, registers ? { dependents, registered: found.registered } : null, ledger) : {};
  const resolved = { ...context, payment: converted, ...(succeeded ? heldFor(op, auth) : {}), ...captured };
  const drift = changed ? { cancelBasisChanged: changed } : {};
  return fxLock ? { context: resolved, fxLock, ...linked, ...drift, ...failed, ...bounded } : { context: resolved, ...linked, ...drift, ...failed };
}

/**
 * The one of our operations a cancel's PSP `reference` names when it is not its authorization's own: one of our
 * captures or refunds (or any other dependent that is no stored value transaction) whose own PSP reference it is.
 * Sent as given, the gateway would take that id for an authorization's: Cybersource's reversal goes to
 * `/pts/v2/payments/{id}/reversals`, while a capture or refund is voided only at `/pts/v2/captures/{id}/voids` or
 * `/pts/v2/refunds/{id}/voids`, its own transaction. A reference a dependent took over that is the authorization's own
 * (Stripe answers a capture with the PaymentIntent id) names the authorization. At most two reads, only when the
 * reference is not the authorization's own. Null when the cancel names the authorization (or a stored value transaction).
 */
async function dependentNamedBy(
  reference: string,
  holder: string,
  found: { record: OperationRecord; authorization: boolean },
  ledger: Pick<Ledger, 'findByReference' | 'get'>,
): Promise<OperationRecord | null> {
  if (!found.authorization) return voidsByReference(found.record) ? null : found.record;
  const auth = found.record;
  if (auth.gatewayReference === undefined || reference === auth.gatewayReference || reference === auth.newGatewayKey) return null;
  const id = await ledger.findByReference(holder, reference);
  const named = id && id !== auth.id ? await ledger.get(id) : null;
  // Only one whose own PSP reference this is: a dependent indexed under the authorization's is not named by it.
  return named && !AUTHORIZING.has(named.command) && named.gatewayReference === reference ? named : null;
}

/**
 * A cancel naming by its PSP `reference` (on gateway `holder`) our capture or refund `named`: at a gateway that voids it
 * as its own transaction (`ResolveOptions.voidsOwnTransaction`: Cybersource) it is that void, checked, registered and
 * sent exactly as one naming it by our operation id ({@link voidOfDependent}: scope and currency against `named`, so a
 * reference of another gateway or account is refused naming the field); a refusal names the reference (`via`). Of
 * anything else it is refused `UNSUPPORTED_COMMAND` on `payment.gateway_key`, unsent, as one naming it by our id is:
 * cancel naming its authorization (a capture that took all of it is voided), or refund.
 */
async function cancelNamingDependent(
  op: OperationRecord,
  named: OperationRecord,
  reference: string,
  holder: string,
  context: OperationContext,
  options: ResolveOptions,
  ledger: Pick<Ledger, 'authorizationView' | 'authorizationByReference' | 'get' | 'adjustmentsOfEach'>,
  via: (r: ContextRefusal) => ContextRefusal,
): Promise<ContextResolution> {
  const command = named.command;
  if ((command === 'capture' || command === 'refund') && options.voidsOwnTransaction?.(gatewayOf(named), command) === true) {
    const resolved = await voidOfDependent(op, named, command, context, options, ledger);
    return 'fail' in resolved ? via(resolved) : resolved;
  }
  const why = `a cancel names an authorization; ${reference} is the ${holder} reference of ${command} ${named.id}: cancel naming its authorization (a capture that took all of it is voided), or refund`;
  return via(cancelOfNamedRefused(named, why));
}

/** A cancel naming `named`, which it cannot void (`why`): refused `UNSUPPORTED_COMMAND` on `payment.gateway_key`, unsent. */
function cancelOfNamedRefused(named: OperationRecord, why: string): ContextRefusal {
  return { fail: 'UNSUPPORTED_COMMAND', field: 'payment.gateway_key', detail: { named_operation_id: named.id, named_command: named.command, why } };
}

/**
 * A cancel naming by our operation id authorization (or sale) `auth`, which the ledger holds FAILED: refused
 * (`AUTHORIZATION_FAILED`; {@link AUTHORIZATION_RELEASED} when the PSP's release of it is the newest fact on record)
 * unless a late success recorded on it ({@link failedAuthorizationHold}: `late_success`) says the PSP holds it after all. Then it is sent as one naming it by PSP reference is: to the gateway holding it, for its
 * PSP reference (the record's, else the late success's), asking no more than that success confirmed. Without a
 * reference, `AUTHORIZATION_REFERENCE_MISSING`. One read of its adjustments, only for such a cancel.
 */
async function cancelOfFailed(op: OperationRecord, auth: OperationRecord, context: OperationContext, ledger: Ledger): Promise<ContextResolution> {
  const read = await failedAuthorizationHold(auth, ledger);
  // Named by our id: an attempt sent before that authorization was on record named nothing at the PSP, nor voided anything.
  if ('fail' in read) return { ...read, attemptsNamedNothing: true };
  // By id the bridge knows it FAILED: only a late success on record says otherwise.
  if (read.cancel.held !== 'late_success') return { fail: 'AUTHORIZATION_FAILED', attemptsNamedNothing: true };
  const psp = auth.newGatewayKey ?? auth.gatewayReference ?? read.pspReference;
  if (!psp) return { fail: 'AUTHORIZATION_REFERENCE_MISSING' };
  const payment = { ...context.payment, gateway: gatewayOf(auth), gateway_key: psp };
  const converted = atDependentRate(op, read.auth, payment, { amount: 0 });
  const fxLock = converted === payment ? null : fxLockOf(auth);
  const resolved = { context: { ...context, payment: converted }, failedAuthorization: read.cancel };
  return fxLock ? { ...resolved, fxLock } : resolved;
}

/**
 * `auth` as the checks of its dependents read it: a sale the ledger holds FAILED that the PSP did after all
 * (`succeededAfterFailure`, the OMS told so by a `succeeded_after_failure` adjustment) is the SUCCEEDED sale it is at
 * the PSP, holding what the PSP confirmed then (else what it asked): its refunds are checked against that, as a
 * SUCCEEDED sale's are; a later failure of it (`undoneBy`) leaves nothing to refund. Any other record as it is. Pure.
 */
export function asDoneAtPsp(auth: OperationRecord): OperationRecord {
  const mark = auth.succeededAfterFailure;
  if (auth.command !== 'sale' || auth.state !== 'FAILED' || mark === undefined) return auth;
  return { ...auth, state: 'SUCCEEDED', confirmedAmount: mark.amount, confirmedCurrency: mark.currency };
}

/**
 * The adjustment fields {@link failedAuthorizationHold} reads: kind, the money it confirmed, its PSP reference, and
 * when the PSP says it happened.
 */
const LATE_SUCCESS_FIELDS = ['kind', 'amount', 'currency', 'psp_reference', 'occurred_at'] as const;

/** Refused: a gift card refund's key is a gift card number naming none of our operations (see `checkedByReference`). */
export const GIFT_CARD_NUMBER_REFUSED = 'CARD_DATA_REJECTED';

export { EXTRA_AUTHORIZATION_RECORDED, EXTRA_AUTHORIZATION_NOT_SUCCEEDED };

/** Refused: the newest fact on record about a FAILED authorization is the PSP's release of it (lapse, cancellation). */
export const AUTHORIZATION_RELEASED = 'AUTHORIZATION_RELEASED';

/** A recorded adjustment of an authorization as {@link failedAuthorizationHold} orders them. */
interface HoldFact {
  id: string;
  kind: string | null;
  /** The PSP's time of it, epoch ms; absent when it gave none. */
  at?: number;
  /** Its place in the recording order (oldest first). */
  order: number;
  fields: (string | null)[];
}

/**
 * Whether release `fact` stands against late success `than`: by the PSP's times when both carry one, unless the
 * success is later by the one ordering rule (`laterInPspTime`; the same second orders nothing, and a hold is not to
 * be asked of a PSP that said it released it), else by the order they were recorded in.
 */
function laterThan(fact: HoldFact, than: HoldFact): boolean {
  return fact.at !== undefined && than.at !== undefined ? !laterInPspTime(than.at, fact.at) : fact.order > than.order;
}

/**
 * What FAILED authorization (or sale) `auth`, not marked done after all (a marked sale is the SUCCEEDED one
 * `asDoneAtPsp` makes it), holds at its PSP, as a cancel naming it reads it. Its record's confirmed figure is its
 * refusal's (0, or what was asked), never a hold, so it is not what the cancel is cut to. The newest
 * `succeeded_after_failure` recorded on it (a late success: an authorization gets no mark on its record, only that
 * adjustment) says what the PSP holds after all: `auth` with that figure as its confirmed one, so the cancel asks no
 * more (`late_success`; none stated: what was asked), and its PSP reference (`pspReference`, where it names one).
 * A release recorded later than it (`authorization_expired`, `failed_after_success`: {@link laterThan}), or with no
 * late success on record at all, says the PSP holds nothing: refused, {@link AUTHORIZATION_RELEASED}. Else nothing
 * on record says the PSP holds anything: `auth` without a confirmed figure, the cancel going for its own amount, the
 * PSP deciding (`unknown`). One read of its adjustments, only for such a cancel.
 */
export async function failedAuthorizationHold(
  auth: OperationRecord,
  ledger: Pick<Ledger, 'adjustmentsOfEach'>,
): Promise<{ auth: OperationRecord; cancel: FailedAuthorizationCancel; pspReference?: string } | ContextRefusal> {
  const recorded = (await ledger.adjustmentsOfEach([auth.id], LATE_SUCCESS_FIELDS)).get(auth.id) ?? [];
  const facts: HoldFact[] = recorded.map(({ id, fields }, order) => {
    const at = fields[4] ? Number(fields[4]) : NaN;
    return { id, kind: fields[0], order, fields, ...(Number.isFinite(at) ? { at } : {}) };
  });
  const late = facts.filter((f) => f.kind === 'succeeded_after_failure').pop();
  const released = facts.filter((f) => isAdjustmentKind(f.kind) && releasesHold(f.kind) && (!late || laterThan(f, late))).pop();
  if (released) {
    return {
      fail: AUTHORIZATION_RELEASED,
      detail: { authorization_id: auth.id, released_by: released.kind, release_adjustment_id: released.id, late_success_adjustment_id: late?.id ?? null },
    };
  }
  const cleared = { ...auth, confirmedAmount: undefined, confirmedCurrency: undefined };
  if (!late) return { auth: cleared, cancel: { authorizationId: auth.id, held: 'unknown' } };
  const [, rawAmount, rawCurrency, pspReference] = late.fields;
  const amount = rawAmount !== null && rawAmount !== '' && Number.isSafeInteger(Number(rawAmount)) ? Number(rawAmount) : undefined;
  // A figure without its currency is in the currency the gateway was asked in.
  const currency = amount !== undefined ? (rawCurrency || routedPayment(auth).currency).toUpperCase() : undefined;
  const money = amount !== undefined ? { amount, currency } : {};
  return {
    auth: { ...cleared, confirmedAmount: amount, confirmedCurrency: currency },
    cancel: { authorizationId: auth.id, held: 'late_success', ...money },
    ...(pspReference ? { pspReference } : {}),
  };
}

/**
 * A validate's `held`: what its authorization holds at the PSP (`heldAtPsp`), for a PSP whose check of the
 * hold restates its amount (Adyen's amount update). Nothing for any other command.
 */
function heldFor(op: OperationRecord, auth: OperationRecord): { held?: HeldAmount } {
  return op.command === 'validate' ? { held: heldAtPsp(auth) } : {};
}

/**
 * A cancel's `captured`: what of its succeeded authorization `auth` was captured already (a sale not undone
 * after; else its succeeded captures the PSP did not undo after, in registration order, with what `auth` holds
 * at its PSP and each capture's amount in that currency), so that a PSP whose undoing of a captured payment is
 * a void, not an authorization reversal, sends the right one, and one whose captures leave part of the hold
 * releases that part (Cybersource). `read`: the dependents read with the registration and the cancel's place
 * among them (first attempt), else `null`. Then, a cancel with a basis on record (`cancelBasis`, written with its
 * first attempt at a PSP whose cancel is built on the captures) is given that basis: one idempotency key, one
 * request, whatever captures did since; the dependents are read here (one read per dependent, only for a cancel
 * of an authorization) to say whether the ledger now reads otherwise (`changed`). Without a basis (a record
 * from before bases were kept) they are read and used. With the registration's read, the refunds of what was
 * captured that gave money back or may still (`refunded`, {@link refundsOfCaptured}): a void would return that
 * money again. Nothing for any other command.
 */
async function capturedFor(
  op: OperationRecord,
  auth: OperationRecord,
  read: { dependents: readonly DependentSummary[]; registered: number } | null,
  ledger: Pick<Ledger, 'dependentsOf' | 'adjustmentsOfEach'>,
): Promise<{ captured?: CapturedPayment; changed?: CancelBasisChange }> {
  if (op.command !== 'cancel') return {};
  const pinned = read === null ? op.cancelBasis : undefined;
  if (pinned) {
    const now = await basisNow(op, auth, pinned, ledger);
    const changed = sameBasis(pinned, now) ? {} : { changed: { pinned, now } };
    return pinned.captured ? { captured: pinned.captured, ...changed } : changed;
  }
  if (auth.command === 'sale' && auth.undoneBy !== undefined) return {};
  const captures = auth.command === 'sale' ? [] : standingCaptures(read?.dependents ?? (await ledger.dependentsOf(auth.id)));
  if (auth.command !== 'sale' && captures.length === 0) return {};
  // Something captured stands: what the PSP refunded of it outside the bridge is money a void would return again.
  const refunded = read ? refundsOfCaptured(op, auth, read.dependents, read.registered, await refundedOutsideBridgeOf(auth, ledger)) : null;
  const withRefunds = refunded ? { refunded } : {};
  if (auth.command === 'sale') return { captured: { by: 'sale', ...withRefunds } };
  return { captured: { ...capturesOf(auth, captures), ...withRefunds } };
}

/**
 * What cancel `op` would be built on now, to compare with what it was built on (`pinned`): a sale or a pinned
 * capture marked undone since still counts (this cancel's own void marks them, before its success is recorded).
 */
async function basisNow(op: OperationRecord, auth: OperationRecord, pinned: CancelBasis, ledger: Pick<Ledger, 'dependentsOf'>): Promise<CancelBasis> {
  if (auth.command === 'sale') return cancelBasisOf(auth.undoneBy === undefined || auth.undoneBy === op.id ? { by: 'sale' } : undefined);
  const ids = new Set(pinned.captured?.by === 'capture' ? pinned.captured.captures.map((c) => c.id) : []);
  const dependents = (await ledger.dependentsOf(auth.id)).map((d): DependentSummary => {
    if (d.undone !== true || !ids.has(d.id)) return d;
    const { undone: _undone, ...rest } = d;
    return rest;
  });
  const captures = standingCaptures(dependents);
  return cancelBasisOf(captures.length === 0 ? undefined : capturesOf(auth, captures));
}

/** Whether two cancel bases name the same request: the same sale, or the same captures, amounts and hold. Pure. */
function sameBasis(a: CancelBasis, b: CancelBasis): boolean {
  const x = a.captured;
  const y = b.captured;
  if (x === null || y === null) return x === y;
  if (x.by === 'sale' || y.by === 'sale') return x.by === y.by;
  return (
    x.authorized.amount === y.authorized.amount &&
    x.authorized.currency === y.authorized.currency &&
    x.captures.length === y.captures.length &&
    x.captures.every((c, i) => c.id === y.captures[i].id && c.reference === y.captures[i].reference && c.amount === y.captures[i].amount)
  );
}

/**
 * The refunds of `auth`'s captured money that gave money back or may still: succeeded and not undone after, or
 * in flight (registered, not yet SUCCEEDED or FAILED), with what is left to refund after them (what was captured,
 * `capturedToRefund`, less their amounts and less `refundedOutside`), in the order's currency; those registered after
 * cancel `op` (at `registered`) and not yet sent wait for it ({@link voidsAhead}) and are left out. `null` when there
 * are none and nothing was refunded outside the bridge. Pure.
 */
export function refundsOfCaptured(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  registered = Number.MAX_SAFE_INTEGER,
  /** What the PSP refunded of `auth` outside the bridge and still stands (`refundedOutsideBridge`), minor units of the order's currency. Default 0. */
  refundedOutside = 0,
): CapturedRefunds | null {
  const refunds = givingRefunds(op, dependents, registered);
  if (refunds.length === 0 && refundedOutside <= 0) return null;
  const given = refunds.reduce((total, d) => total + d.amount, 0);
  return {
    refunds: refunds.map((d) => ({ id: d.id, amount: d.amount, inFlight: !doneAtPsp(d) })),
    currency: auth.payment.currency.toUpperCase(),
    // Less the outside refunds too, as the refund check counts them (`leftToRefund`): the rest a refund may still ask.
    left: Math.max(0, capturedToRefund(auth, dependents) - given - Math.max(0, refundedOutside)),
    ...(refundedOutside > 0 ? { refundedOutsideBridge: refundedOutside } : {}),
  };
}

/**
 * The refunds among `dependents` (not cancel `op`) that gave money back or may still: not FAILED (unless the PSP did
 * it after all), not undone after; less those registered after `op` (at `registered`) and still RECEIVED: those wait
 * for it ({@link voidsAhead}), so it must not wait for them, nor count them (the two would wait for each other).
 */
function givingRefunds(op: OperationRecord, dependents: readonly DependentSummary[], registered: number): DependentSummary[] {
  return dependents.filter((d) => d.command === 'refund' && d.id !== op.id && tookPart(d) && d.undone !== true && mayWaitFor(d, op, registered));
}

/**
 * Whether dependent `d` took, or may still take, its part of the authorization: not FAILED, or FAILED and done by the
 * PSP after all (`succeededAfterFailure`). Pure.
 */
function tookPart(d: DependentSummary): boolean {
  return d.state !== 'FAILED' || d.succeededAfterFailure === true;
}

/** `auth`'s standing `captures` with what it holds at its PSP, each capture's amount in that currency where known. Pure. */
function capturesOf(auth: OperationRecord, captures: readonly DependentSummary[]): CapturedByCaptures {
  const authorized = heldAtPsp(auth);
  const currency = authorized.currency.toUpperCase();
  // Not converted: a capture was sent in its command's currency, the authorization's (`currencyRefusal`).
  const sameCurrency = fxLockOf(auth) === null && auth.payment.currency.toUpperCase() === currency;
  return {
    by: 'capture',
    authorized,
    captures: captures.map((d) => {
      const amount = d.converted ? (d.converted.currency.toUpperCase() === currency ? d.converted.amount : undefined) : sameCurrency ? d.amount : undefined;
      return { id: d.id, ...(d.gatewayReference ? { reference: d.gatewayReference } : {}), ...(amount !== undefined ? { amount } : {}) };
    }),
  };
}

/**
 * An authorization's captures that succeeded (or that the PSP did after the bridge recorded them FAILED) and that the
 * PSP did not undo after, in registration order.
 */
function standingCaptures(dependents: readonly DependentSummary[]): DependentSummary[] {
  return dependents
    .filter((d) => d.command === 'capture' && doneAtPsp(d) && d.undone !== true)
    .sort((a, b) => a.registered - b.registered || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * What a SUCCEEDED cancel at a gateway whose cancel can void what was captured (`GatewayDefinition.cancelVoided`)
 * did, by the same reading `capturedFor` gave its request: `sale` (the authorization it names is a sale not
 * marked undone), `capture` (its one succeeded capture not marked undone, when that capture took all the
 * authorization holds: a void of it), `released` (its captures left part of the hold: a reversal of that
 * remainder, which undid no capture; `remainder` in the PSP's currency), `ambiguous` (several captures stand
 * and took it all: a cancel of them is refused unsent, so which one was voided is not known here), `none`
 * (nothing captured stands: an uncaptured authorization reversed). A sale or capture already marked undone by
 * this cancel (a crash between the mark and the cancel's success) is found again, so its void is still named.
 * A cancel whose first attempt pinned its reading (`cancelBasis`) is read by that, as its request was built.
 */
export async function voidedByCancel(cancel: OperationRecord, ledger: Pick<Ledger, 'get' | 'dependentsOf'>): Promise<CancelReading> {
  const found = await ledger.get(cancel.authorizationId ?? cancel.payment.gateway_key);
  const auth = found && asDoneAtPsp(found);
  if (!auth || auth.state !== 'SUCCEEDED') return { kind: 'none', ids: [] };
  if (auth.command === 'sale') {
    return auth.undoneBy === undefined || auth.undoneBy === cancel.id ? { kind: 'sale', ids: [auth.id], authorizationId: auth.id } : { kind: 'none', ids: [] };
  }
  const pinned = cancel.cancelBasis ? pinnedReading(cancel.cancelBasis, auth.id) : null;
  if (pinned) return pinned;
  const dependents = await ledger.dependentsOf(auth.id);
  const captures = standingCaptures(dependents);
  if (captures.length === 0) {
    const marked = await markedBy(cancel.id, dependents, ledger);
    return marked.length > 0 ? { kind: 'capture', ids: marked, authorizationId: auth.id } : { kind: 'none', ids: [], authorizationId: auth.id };
  }
  const read = capturesOf(auth, captures);
  const remainder = uncapturedRemainder(read);
  if (remainder !== undefined && remainder > 0) {
    return { kind: 'released', ids: captures.map((d) => d.id), authorizationId: auth.id, remainder: { amount: remainder, currency: read.authorized.currency } };
  }
  if (captures.length > 1) return { kind: 'ambiguous', ids: captures.map((d) => d.id), authorizationId: auth.id };
  return { kind: 'capture', ids: [captures[0].id], authorizationId: auth.id };
}

/**
 * What a cancel of authorization `authId` built on `basis` (its first attempt's reading, `cancelBasis`) did: its
 * request was built on that reading, whatever captures did since (one succeeded while it was retried: not voided
 * by it). `null` when the basis names no request that was sent (several captures, an amount unknown: those are
 * refused unsent), so the ledger is read. Pure.
 */
function pinnedReading(basis: CancelBasis, authId: string): CancelReading | null {
  const c = basis.captured;
  if (c === null) return { kind: 'none', ids: [], authorizationId: authId };
  if (c.by !== 'capture') return null;
  const remainder = uncapturedRemainder(c);
  const ids = c.captures.map((x) => x.id);
  if (remainder !== undefined && remainder > 0)
    return { kind: 'released', ids, authorizationId: authId, remainder: { amount: remainder, currency: c.authorized.currency } };
  return remainder === 0 && ids.length === 1 ? { kind: 'capture', ids, authorizationId: authId } : null;
}

/** What {@link voidedByCancel} read. `ids`: the sale or capture voided, or the captures standing (`released`, `ambiguous`). */
export type CancelReading =
  | { kind: 'sale' | 'capture'; ids: string[]; authorizationId: string }
  | { kind: 'released'; ids: string[]; authorizationId: string; remainder: HeldAmount }
  | { kind: 'none' | 'ambiguous'; ids: string[]; authorizationId?: string };

/** The succeeded captures among `dependents` marked undone by cancel `cancelId` (one read each, only of captures marked undone). */
async function markedBy(cancelId: string, dependents: readonly DependentSummary[], ledger: Pick<Ledger, 'get'>): Promise<string[]> {
  const undone = dependents.filter((d) => d.command === 'capture' && doneAtPsp(d) && d.undone === true);
  const records = await Promise.all(undone.map((d) => ledger.get(d.id)));
  return records.filter((r): r is OperationRecord => r?.undoneBy === cancelId).map((r) => r.id);
}

/**
 * What `auth` holds at its PSP, in the PSP's currency: the amount the PSP confirmed (a partial approval holds
 * less than was asked), else what its gateway was asked (a converted amount where FX converted it). Pure.
 */
export function heldAtPsp(auth: Pick<OperationRecord, 'payment' | 'routing' | 'confirmedAmount' | 'confirmedCurrency'>): HeldAmount {
  const asked = routedPayment(auth);
  if (auth.confirmedAmount === undefined) return { amount: asked.amount, currency: asked.currency };
  return { amount: auth.confirmedAmount, currency: (auth.confirmedCurrency ?? asked.currency).toUpperCase() };
}

/**
 * A capture or refund that, with the siblings registered before it and still in flight (captures of the same
 * authorization, or refunds of the same payment, not yet SUCCEEDED or FAILED, sent or not), could take more
 * than the authorization has: it waits for them to settle (`wait`, asked again after a delay
 * growing from `delivery.backoff_base_ms`: dependent-wait.ts), and is then checked on what they did. Without this, two captures sent at the
 * same moment each passed on the settled sum and the PSP was asked for more than it holds (a PSP that allows
 * over-capture would take it). Registration and the read of the others are one script, so of two concurrent
 * ones the later registered always sees the earlier, and the earlier never waits for the later: one goes,
 * never both, and two never wait for each other. `registered`: `op`'s own place in that order. `null` when it
 * fits whatever they do, or none is ahead. Pure.
 */
export function siblingsAhead(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  registered: number,
  /** What the PSP refunded of the payment outside the bridge and still stands (`refundedOutsideBridge`), minor units of the order's currency. */
  refundedOutside = 0,
): SiblingWait | null {
  if (op.command !== 'capture' && op.command !== 'refund') return null;
  if (op.command === 'capture' && auth.command === 'sale') return null;
  const ahead = dependents.filter((d) => d.command === op.command && d.id !== op.id && !isTerminal(d.state) && registeredBefore(d, op, registered));
  if (ahead.length === 0) return null;
  if (op.command === 'refund' && closedUnregistered(auth, dependents)) return null;
  const authorized = authorizedInOrderCurrency(auth);
  const room =
    op.command === 'capture'
      ? authorized - claimedByCaptures(dependents)
      : capturedToRefund(auth, dependents) - settledSum(dependents, 'refund') - refundedOutside;
  const inFlight = ahead.reduce((total, d) => total + d.amount, 0);
  if (op.payment.amount + inFlight <= room) return null;
  const siblings = ahead.map((d) => d.id);
  return {
    wait: `${op.command} of ${op.payment.amount} waits for ${siblings.length} ${op.command}(s) of authorization ${auth.id} in flight ahead of it (${inFlight} of the ${room} left): ${siblings.join(', ')}`,
    siblings,
    siblingsSeen: seen(ahead),
  };
}

/**
 * A cancel of an authorization with captures in flight (registered against it, not yet SUCCEEDED or FAILED:
 * sent, being retried, UNKNOWN, PENDING or UNRESOLVED; registered before the cancel or after it) at a PSP that
 * builds its cancel from the captures standing (`ResolveOptions.cancelFollowsCaptures`): it waits for them
 * (`wait`, asked again after a growing delay, nothing sent), then is built on what they did. Sent
 * earlier, a reversal of "authorized less the captures standing" would release what an in-flight capture is
 * about to take (that capture then fails at the PSP, or is reported taken while its hold was released), and a
 * capture that fails after all would have left its part held. Captures never wait for a cancel, so the two never
 * wait for each other. A sale has no captures. `awaiting: 'captures_in_flight'` (bounded: an `UNRESOLVED` capture may
 * stay undecided for good). `null` when none is in flight. Pure.
 */
export function capturesInFlight(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
): (SiblingWait & { awaiting: 'captures_in_flight' }) | null {
  if (op.command !== 'cancel' || auth.command === 'sale') return null;
  const inFlight = dependents.filter((d) => d.command === 'capture' && d.id !== op.id && !isTerminal(d.state));
  if (inFlight.length === 0) return null;
  const siblings = inFlight.map((d) => d.id);
  return {
    wait: `cancel waits for ${siblings.length} capture(s) of authorization ${auth.id} in flight (${inFlight.map((d) => `${d.id} ${d.state}`).join(', ')}): what it releases is what they leave`,
    siblings,
    siblingsSeen: seen(inFlight),
    awaiting: 'captures_in_flight',
  };
}

/**
 * A cancel that would void what was captured (a sale not undone; or one standing capture that took all the
 * authorization holds), at a PSP that builds its cancel from the captures standing
 * (`ResolveOptions.cancelFollowsCaptures`), while a refund of that payment is in flight (registered before the
 * cancel, at `registered`, not yet SUCCEEDED or FAILED; or registered after it and sent already) and none has
 * succeeded: it waits (`wait`, nothing sent, asked again after a growing delay). A void undoes the
 * whole captured transaction and leaves the refund standing, so sent now it could return that money twice; once
 * the refund succeeds the cancel is refused unsent (the gateway's refusal: Cybersource `CAPTURE_REFUNDED`), once
 * it fails the void goes. A refund that succeeded already refuses it at once: nothing to wait for. A refund
 * registered after the cancel and not yet sent waits for the cancel instead ({@link voidsAhead}), so the two
 * never wait for each other. A cancel that releases a remainder (partial captures) leaves captured money, and
 * its refunds, alone: it never waits. Run after {@link capturesInFlight}. `null` when it need not wait. Pure.
 */
export function refundsInFlight(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  registered = Number.MAX_SAFE_INTEGER,
): (SiblingWait & { awaiting: 'refunds' }) | null {
  if (op.command !== 'cancel' || !cancelVoids(auth, dependents)) return null;
  const refunds = givingRefunds(op, dependents, registered);
  if (refunds.length === 0 || refunds.some((d) => doneAtPsp(d))) return null;
  const siblings = refunds.map((d) => d.id);
  return {
    wait: `cancel waits for ${siblings.length} refund(s) of ${auth.command === 'sale' ? 'sale' : 'the capture of authorization'} ${auth.id} in flight (${refunds.map((d) => `${d.id} ${d.state}`).join(', ')}): a void would return what they return again`,
    siblings,
    siblingsSeen: seen(refunds),
    awaiting: 'refunds',
  };
}

/**
 * A refund of a payment whose cancel, registered before it (at `registered`) and not yet SUCCEEDED or FAILED
 * (waiting, sent, being retried under its key, `UNKNOWN`, `PENDING`, `UNRESOLVED`), would void what the refund
 * gives back (a sale not undone, or one standing capture that took the whole authorization), at a PSP that
 * builds its cancel from the captures standing: the refund waits (`wait`, nothing sent, asked again after
 * a growing delay). Sent now, it could succeed before the void, which then returns the whole payment
 * while the refund stands: money paid back twice. Once the void succeeds what it voided is marked undone and the
 * refund is refused (`amount_exceeds_captured`); once the cancel fails, or turns out not to have voided, the
 * refund goes. The cancel never waits for a refund registered after it that is not yet sent
 * ({@link refundsInFlight}), so the two never wait for each other. `null` when it need not wait. Pure.
 */
export function voidsAhead(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  registered: number,
): (SiblingWait & { awaiting: 'void' }) | null {
  if (op.command !== 'refund') return null;
  const voidsAll = cancelVoids(auth, dependents);
  // A cancel naming one of its captures voids that capture by its own id, whatever else was captured.
  const captures = new Set(dependents.filter((d) => d.command === 'capture').map((d) => d.id));
  const cancels = dependents.filter(
    (d) =>
      d.command === 'cancel' &&
      d.id !== op.id &&
      !isTerminal(d.state) &&
      (voidsAll ? registeredBefore(d, op, registered) : d.names !== undefined && captures.has(d.names) && mayWaitFor(d, op, registered)),
  );
  if (cancels.length === 0) return null;
  const siblings = cancels.map((d) => d.id);
  return {
    wait: `refund waits for ${siblings.length} cancel(s) of ${auth.command === 'sale' ? 'sale' : 'authorization'} ${auth.id} that would void what it refunds (${cancels.map((d) => `${d.id} ${d.state}`).join(', ')}): a void and a refund would return it twice`,
    siblings,
    siblingsSeen: seen(cancels),
    awaiting: 'void',
  };
}

/**
 * A cancel of an authorization with captures of it on record but not yet registered against it (accepted, their
 * delivery not yet run: RECEIVED, or held), at a PSP that builds its cancel from the captures standing: it waits
 * for them as for captures in flight ({@link capturesInFlight}). Registration is a capture's first delivery
 * check, so without this read a cancel delivered first would release what a capture the OMS sent before it is
 * about to take. Found through the order index (`Ledger.operationsOfOrder`: one read, then one per operation of
 * the order), so only captures naming the authorization's order (or the same order id) are seen; a capture still
 * in the commands queue (not yet on record) is seen by none. Captures never wait for a cancel. `null` when none.
 */
export async function capturesNotYetDelivered(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  ledger: Pick<Ledger, 'operationsOfOrder'>,
  /** Captures left out: those held by their split while `op` is that split's own reversal ({@link heldBySplit}). */
  held?: (o: OperationRecord) => boolean,
): Promise<(SiblingWait & { awaiting: 'undelivered_captures' }) | null> {
  const orderId = auth.payment.order_id;
  if (op.command !== 'cancel' || auth.command === 'sale' || orderId === undefined) return null;
  const known = new Set(dependents.map((d) => d.id));
  const names = new Set([auth.id, auth.gatewayReference, auth.newGatewayKey].filter((n): n is string => n !== undefined));
  const waiting = (await ledger.operationsOfOrder(orderId)).filter(
    (o) => o.command === 'capture' && o.id !== op.id && !known.has(o.id) && !isTerminal(o.state) && names.has(o.payment.gateway_key) && held?.(o) !== true,
  );
  if (waiting.length === 0) return null;
  const siblings = waiting.map((o) => o.id);
  return {
    wait: `cancel waits for ${siblings.length} capture(s) of authorization ${auth.id} accepted and not yet delivered (${waiting.map((o) => `${o.id} ${o.state}`).join(', ')}): what it releases is what they leave`,
    siblings,
    siblingsSeen: seen(waiting),
    awaiting: 'undelivered_captures',
  };
}

/**
 * What a capture, cancel or refund at a PSP that builds its cancel from the captures standing waits for before
 * it may go, in this order: a cancel for captures in flight, then captures not yet delivered, then refunds of
 * what it would void; a refund for a cancel registered before it that would void what it refunds. `null`: none.
 */
async function voidGuards(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  registered: number,
  ledger: Pick<Ledger, 'operationsOfOrder'>,
  /** `op` is a split's own reversal of its step: the captures of the OMS its split holds are not waited for ({@link heldBySplit}). */
  splitReversal = false,
): Promise<(SiblingWait & { awaiting?: Awaiting }) | null> {
  if (op.command === 'refund') return voidsAhead(op, auth, dependents, registered);
  if (op.command !== 'cancel') return null;
  return (
    voidsOfSameTransaction(op, auth, dependents, registered, undefined, false) ??
    capturesInFlight(op, auth, dependents) ??
    (await capturesNotYetDelivered(op, auth, dependents, ledger, splitReversal ? heldBySplit : undefined)) ??
    refundsInFlight(op, auth, dependents, registered)
  );
}

/** Whether a cancel of succeeded `auth` would be a void of what was captured: a sale not undone, or one standing capture that took it all. Pure. */
function cancelVoids(auth: OperationRecord, dependents: readonly DependentSummary[]): boolean {
  if (auth.command === 'sale') return auth.undoneBy === undefined;
  const captures = standingCaptures(dependents);
  return captures.length === 1 && uncapturedRemainder(capturesOf(auth, captures)) === 0;
}

/**
 * A dependent's payment at its converted authorization's locked rate (`atAuthorizationRate`). A cancel never
 * asks more than the PSP holds: a partially approved authorization holds less than was asked (converted: EUR
 * 56.40 of the EUR 112.80 asked for USD 123.45), and a reversal of more is refused by a PSP that takes the
 * amount (Cybersource); so it asks the PSP's confirmed figure, in the PSP's currency, exactly.
 */
function atDependentRate(op: OperationRecord, auth: OperationRecord, payment: Payment, before: PartsBefore): Payment {
  const converted = atAuthorizationRate(auth, payment, before);
  const held = auth.confirmedAmount;
  if (op.command !== 'cancel' || held === undefined) return converted;
  if ((auth.confirmedCurrency ?? '').toUpperCase() !== converted.currency.toUpperCase() || converted.amount <= held) return converted;
  const lock = converted === payment ? null : fxLockOf(auth);
  if (lock) return convertedPayment(payment, lock, held);
  // Lines of the whole amount would not add up to the part held.
  const { lines: _lines, ...rest } = payment;
  return { ...rest, amount: held };
}

/**
 * What the authorization's other captures (for a capture) or refunds (for a refund) registered before it
 * took, in the order's currency, and what they were sent for in a converted authorization's currency: the
 * running total a converted part is added to, and what its conversion is shared with (`atAuthorizationRate`).
 * Those that failed took nothing; those still in flight count as if they succeed, so two that both do still
 * add up; by registration order, so each part's running total is the one the next part adds to. Subtracting
 * what the earlier parts were SENT for (their converted amount, fixed with their first attempt), not the
 * conversion of their total, keeps the parts adding up once one of them fails: the ones after it were
 * converted on a running total that counted it. An earlier part not yet sent (its converted amount not yet
 * fixed) is waited for (`wait`, asked again after a growing delay). Nothing converted is known for
 * parts recorded before converted amounts were kept: their total's conversion stands in. `{ amount: 0 }` for
 * any other command, and when the dependents were not read (not the first attempt: its converted amount is on
 * record). Pure.
 */
export function takenBefore(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  registered: number,
): PartsBefore | SiblingWait {
  if (op.command !== 'capture' && op.command !== 'refund') return { amount: 0 };
  // An undone refund or capture (the PSP said it failed after accepting it) took nothing, like a failed one; a failed
  // one the PSP did after all took its part.
  const earlier = dependents.filter(
    (d) => d.command === op.command && d.id !== op.id && tookPart(d) && d.undone !== true && registeredBefore(d, op, registered),
  );
  const amount = earlier.reduce((total, d) => total + d.amount, 0);
  const lock = fxLockOf(auth);
  if (!lock || op.payment.currency !== lock.from.currency) return { amount };
  const ceiling = op.command === 'refund' ? takenInPspCurrency(auth, dependents, lock) : undefined;
  const bounded = ceiling ? { ceiling } : {};
  if (earlier.length === 0) return { amount, ...bounded };
  const unsent = earlier.filter((d) => d.converted === undefined && d.state === 'RECEIVED');
  if (unsent.length > 0) {
    const ids = unsent.map((d) => d.id);
    return {
      wait: `${op.command} of ${op.payment.amount} waits for the converted amount of ${ids.length} ${op.command}(s) of authorization ${auth.id} registered before it and not yet sent: ${ids.join(', ')}`,
      siblings: ids,
      // Its first attempt (RECEIVED → SENT) fixes its converted amount: that move wakes the dependent.
      siblingsSeen: seen(unsent),
    };
  }
  const to = lock.to.currency.toUpperCase();
  if (!earlier.every((d) => d.converted?.currency.toUpperCase() === to)) return { amount, ...bounded };
  return { amount, converted: earlier.reduce((total, d) => total + (d.converted?.amount ?? 0), 0), ...bounded };
}

/**
 * What the shopper paid for converted `auth`, in the PSP's currency (`most`), and what that is in the order's (`of`): a
 * sale's amount the PSP holds; an authorization's captures that stand, at what each was sent for. Captures sent after
 * one that failed may have taken a step more or less than the conversion of their total, so a refund converted on its
 * own could give back more than was taken (USD 0.05 captured as EUR 0.04, refunded as f(0.05) = EUR 0.05) or leave a
 * step behind. Undefined when not known: a capture recorded without its converted amount, a PSP figure in another
 * currency, nothing captured, and captures the ledger cannot sum (an authorization of before digests, or one closed by
 * a capture never registered: `closedUnregistered`), where the captures on record are not all it took and a refund
 * bounded by them would give back less than it asks, the OMS told it gave back all. Pure.
 */
function takenInPspCurrency(auth: OperationRecord, dependents: readonly DependentSummary[], lock: FxLock): { most: number; of: number } | undefined {
  if (auth.digest === undefined || closedUnregistered(auth, dependents)) return undefined;
  const to = lock.to.currency.toUpperCase();
  const of = capturedToRefund(auth, dependents);
  if (of <= 0) return undefined;
  if (auth.command === 'sale') {
    const held = heldAtPsp(auth);
    return held.currency.toUpperCase() === to ? { most: held.amount, of } : undefined;
  }
  const captures = dependents.filter((d) => settled(d, 'capture'));
  if (!captures.every((d) => d.converted?.currency.toUpperCase() === to)) return undefined;
  return { most: captures.reduce((total, d) => total + (d.converted?.amount ?? 0), 0), of };
}

/**
 * A capture or refund of a converted authorization whose converted amount comes to nothing (0, or less after
 * an earlier part's failure left its rounding to this one): USD 0.01 after USD 0.05 at 0.9137 is
 * f(0.06) − f(0.05) = EUR 0.05 − 0.05, and VND 100 is no US cent. Never sent to the PSP as a capture or refund of
 * nothing: refused naming `payment.amount`. Pure.
 */
export function convertedToNothing(
  op: OperationRecord,
  auth: OperationRecord,
  payment: Payment,
  converted: Payment,
  before: PartsBefore,
): ContextRefusal | null {
  if ((op.command !== 'capture' && op.command !== 'refund') || converted === payment) return null;
  if (payment.amount <= 0 || converted.amount > 0) return null;
  return {
    fail: AUTHORIZATION_REFUSALS.tooSmallToConvert,
    field: 'payment.amount',
    detail: {
      authorization_id: auth.id,
      amount: payment.amount,
      currency: payment.currency,
      converted_amount: converted.amount,
      converted_currency: converted.currency,
      fx_rate: fxLockOf(auth)?.rate ?? null,
      taken_before: before.amount,
      ...(before.converted !== undefined ? { converted_before: before.converted } : {}),
      // A refund: what the captures (or the sale) took in the PSP's currency, which the refunds never exceed.
      ...(before.ceiling !== undefined ? { taken_converted: before.ceiling.most } : {}),
    },
  };
}

/** A refund of a converted payment sent for other than its own conversion: what its captures (or sale) took bounded it. */
export interface RefundBounded {
  /** Its own conversion after the refunds before it (what it would have been sent for), minor units of `currency`. */
  asked: number;
  /** What it is sent for: never more than is left of what was taken, all of that left when it completes the refunds. */
  sent: number;
  /** The PSP's currency. */
  currency: string;
  /** What the captures (or the sale) took in that currency (`PartsBefore.ceiling.most`). */
  taken: number;
}

/**
 * A refund whose converted amount the ceiling (`PartsBefore.ceiling`: what the standing captures or the sale took in the
 * PSP's currency) made other than its own conversion after the refunds before it: what it would have been, and what is
 * sent. Undefined for anything else, and for one refused as converting to nothing (its refusal says so). Pure.
 */
function refundBoundedOf(op: OperationRecord, auth: OperationRecord, payment: Payment, converted: Payment, before: PartsBefore): RefundBounded | undefined {
  const lock = fxLockOf(auth);
  if (op.command !== 'refund' || before.ceiling === undefined || converted === payment || converted.amount <= 0 || !lock) return undefined;
  const { ceiling, ...unbounded } = before;
  const asked = atLockedRateAfter(lock, payment.amount, unbounded);
  return asked === converted.amount ? undefined : { asked, sent: converted.amount, currency: converted.currency, taken: ceiling.most };
}

/** Whether dependent `d` registered against the authorization before `op` (registered `registered`): those of before the order was kept (0) first, ties by id. Pure. */
function registeredBefore(d: DependentSummary, op: OperationRecord, registered: number): boolean {
  return d.registered < registered || (d.registered === registered && d.id < op.id);
}

/**
 * Whether `op` may wait for dependent `d`: registered before it, or past RECEIVED (sent already, so it never waits
 * for `op`). One registered after `op` and not yet sent waits for `op` instead, so the two never wait for each
 * other. Pure.
 */
function mayWaitFor(d: DependentSummary, op: OperationRecord, registered: number): boolean {
  return d.state !== 'RECEIVED' || registeredBefore(d, op, registered);
}

/** The scope an authorization belongs to, for logs (no card data: gateway, account, order only). */
function scopeOf(p: Payment): Record<string, string | null> {
  return { gateway: p.gateway, gateway_account: p.gateway_account, order_id: p.order_id ?? null };
}

/** A command for another gateway, account or order than its authorization's. Pure. */
export function scopeRefusal(payment: Payment, auth: OperationRecord): ContextRefusal | null {
  const a = auth.payment;
  // The OMS may name the gateway it asked for or the one the authorization was routed to (its event said which).
  const field =
    payment.gateway !== a.gateway && payment.gateway !== gatewayOf(auth)
      ? 'payment.gateway'
      : payment.gateway_account !== a.gateway_account
        ? 'payment.gateway_account'
        : payment.order_id !== undefined && a.order_id !== undefined && payment.order_id !== a.order_id
          ? 'payment.order_id'
          : null;
  if (!field) return null;
  return { fail: AUTHORIZATION_REFUSALS.scope, field, detail: { authorization_id: auth.id, command_scope: scopeOf(payment), authorization_scope: scopeOf(a) } };
}

/** A capture, cancel or refund in another currency than the authorization's (as the PSP confirmed it with its amount, else as asked). Pure. */
export function currencyRefusal(op: OperationRecord, auth: OperationRecord): ContextRefusal | null {
  if (!MONEY_MOVING.has(op.command)) return null;
  // A converted authorization is in the order's currency for the OMS; the PSP's is the converted one.
  const authorized = fxLockOf(auth) ? auth.payment.currency : confirmedOrAsked(auth, auth.payment).currency;
  if (op.payment.currency === authorized) return null;
  return {
    fail: AUTHORIZATION_REFUSALS.currency,
    field: 'payment.currency',
    detail: { authorization_id: auth.id, currency: op.payment.currency, authorization_currency: authorized },
  };
}

/**
 * A capture above what the authorization has left (authorized less successful captures, one the PSP undid
 * included: `claimedByCaptures`; a sale is captured already, the PSP decides; one that fits once the captures the
 * PSP undid are left out is refused `amount_held_by_failed_capture`, naming them), or a refund above what was
 * captured (`capturedToRefund`: a sale's amount, else the successful captures, none the PSP undid) less
 * successful refunds (none the PSP undid) and less what the PSP refunded outside the bridge (`refundedOutside`: its
 * `refund_outside_bridge` adjustments, none the PSP failed or reversed after); one that fits only once the refunds
 * recorded FAILED that the PSP retries itself (`heldForPspRetry`) are left out is refused `amount_held_by_failed_refund`,
 * naming them. A capture or refund the ledger holds FAILED that the PSP did after all
 * (`succeededAfterFailure`: the OMS was told so) is a successful one, at the amount the PSP confirmed then. Amounts
 * are the PSP-confirmed ones where it said (a converted authorization's converted back into the order's currency at
 * its locked rate, `heldInOrderCurrency`). Pure.
 */
export function amountRefusal(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  /** The authorization's PSP captures it once only: any other capture not failed refuses this one. */
  singleCapture = false,
  /**
   * What the PSP refunded of the payment that no refund of the bridge asked for and that still stands
   * (`refundedOutsideBridge`), minor units of the order's currency: given back already, so not refundable again.
   * Default 0.
   */
  refundedOutside = 0,
): ContextRefusal | null {
  if (singleCapture && op.command === 'capture' && auth.command !== 'sale') {
    const other = dependents.find((d) => d.command === 'capture' && d.id !== op.id && tookPart(d));
    if (other) {
      return {
        fail: AUTHORIZATION_REFUSALS.singleCapture,
        field: 'payment.gateway_key',
        detail: {
          authorization_id: auth.id,
          capture_operation_id: other.id,
          capture_state: other.state,
          method: auth.payment.payment_method?.type ?? 'stored_card',
        },
      };
    }
  }
  const authorized = authorizedInOrderCurrency(auth);
  const captured = capturedToRefund(auth, dependents);
  const undone = auth.command === 'sale' ? (auth.undoneBy !== undefined ? authorized : 0) : claimedByCaptures(dependents) - settledSum(dependents, 'capture');
  const detail = { authorization_id: auth.id, amount: op.payment.amount, authorized, captured, ...(undone > 0 ? { captured_undone: undone } : {}) };
  if (op.command === 'capture' && auth.command !== 'sale') {
    const remaining = authorized - claimedByCaptures(dependents);
    if (op.payment.amount > remaining) {
      // Within the authorization once the captures the PSP failed are left out: the amount is not the request's fault but
      // held for the PSP's own re-capture (Adyen after CAPTURE_FAILED), which the refusal says, naming those captures.
      // So are those recorded FAILED that the PSP retries itself (Adyen's technical issue): they may still collect.
      const held = dependents.filter((d) => d.command === 'capture' && ((doneAtPsp(d) && d.undone === true) || heldForRetry(d, 'capture')));
      if (held.length > 0 && op.payment.amount <= authorized - settledSum(dependents, 'capture')) {
        const failedCaptureIds = held.map((d) => d.id).join(',');
        return {
          fail: AUTHORIZATION_REFUSALS.captureFailedHeld,
          field: 'payment.amount',
          detail: { ...detail, remaining, failed_capture_ids: failedCaptureIds },
        };
      }
      return { fail: AUTHORIZATION_REFUSALS.capture, field: 'payment.amount', detail: { ...detail, remaining } };
    }
  }
  const refundable = op.command === 'refund' ? leftToRefund(auth, dependents, refundedOutside) : null;
  if (refundable !== null) {
    const refunded = settledSum(dependents, 'refund');
    const outside = refundedOutside > 0 ? { refunded_outside_bridge: refundedOutside } : {};
    if (op.payment.amount > refundable) {
      return { fail: AUTHORIZATION_REFUSALS.refund, field: 'payment.amount', detail: { ...detail, refunded, ...outside, refundable } };
    }
    // Refunds recorded FAILED that the PSP retries itself (Adyen's technical issue) may still give their amount back: a
    // refund that fits only once they are left out could give it back twice. Refused, naming them.
    const held = dependents.filter((d) => heldForRetry(d, 'refund'));
    const heldAmount = held.reduce((total, d) => total + d.amount, 0);
    if (held.length > 0 && op.payment.amount > refundable - heldAmount) {
      return {
        fail: AUTHORIZATION_REFUSALS.refundFailedHeld,
        field: 'payment.amount',
        detail: {
          ...detail,
          refunded,
          ...outside,
          refundable: refundable - heldAmount,
          held_by_failed_refunds: heldAmount,
          failed_refund_ids: held.map((d) => d.id).join(','),
        },
      };
    }
  }
  return null;
}

/**
 * A cancel of authorization `auth` while one of its captures is recorded FAILED and held for its PSP's own retry
 * (`heldForPspRetry`: Adyen's CAPTURE_FAILED for a technical issue, which Adyen re-captures itself, "Transaction
 * Recaptured"): refused `capture_held_for_psp_retry`, unsent, naming those captures and what they hold. Adyen cancels
 * only a payment not captured ("After a payment has been captured, you can no longer cancel it"), and this one has a
 * capture requested that Adyen may still carry out: sent, the cancel could fail there, or succeed and make the
 * re-capture fail, and a success would tell the OMS the authorization was released, nothing captured, while Adyen may
 * still collect it. Settling the order is for a person with the PSP (wait for the re-capture, then refund; none within
 * 10 days: ask Adyen). Once the PSP's retry did such a capture, the cancel is refused `captured_by_psp_retry` instead
 * ({@link recapturedRefusal}; `refundedOutside`: what the PSP refunded of `auth` outside the bridge, default 0). `null`
 * for any other command, or with no capture held or re-captured. Pure.
 */
export function heldCaptureRefusal(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  refundedOutside = 0,
): ContextRefusal | null {
  if (op.command !== 'cancel' || auth.command === 'sale') return null;
  const held = dependents.filter((d) => heldForRetry(d, 'capture'));
  if (held.length === 0) return recapturedRefusal(auth, dependents, refundedOutside);
  return {
    fail: AUTHORIZATION_REFUSALS.cancelCaptureHeld,
    field: 'payment.gateway_key',
    detail: {
      authorization_id: auth.id,
      held_by_failed_captures: held.reduce((total, d) => total + d.amount, 0),
      failed_capture_ids: held.map((d) => d.id).join(','),
    },
  };
}

/**
 * A cancel of authorization `auth` once one of its captures held for its PSP's own retry was done by that retry after
 * all (`doneByPspRetry`: Adyen's CAPTURE, success true, "Transaction Recaptured", recorded as a `succeeded_after_failure`
 * of the capture): refused `captured_by_psp_retry` on `payment.gateway_key`, unsent, naming those captures and what they
 * took. The payment is captured at Adyen now, which cancels only a payment not captured ("If the authorization has
 * already been captured, you cannot cancel the payment anymore. You'll have to issue a refund instead."): sent, the
 * cancel would only be refused there. The OMS gives the money back with a refund (decline action `refund_instead`),
 * unless refunds gave it back already or are giving it back: with nothing left to refund ({@link leftToRefund},
 * `refundedOutside` the PSP's refunds outside the bridge, less what the refunds of ours in flight can give back if
 * they succeed, {@link refundsInFlightGiving}) the action is `none` (a refund would be refused
 * `amount_exceeds_captured`, or wait for those in flight and then be refused), and with what is left all held by
 * refunds the PSP retries itself or by UNRESOLVED ones, `contact_support` (one would be refused
 * `amount_held_by_failed_refund`, or could give back what an UNRESOLVED one did). A refund in flight that fails is
 * reported on its own FAIL event, which is when the OMS refunds again. The detail says what was
 * refunded confirmed (`refunded_amount`) and what is in flight (`refunds_in_flight_amount`, `refund_in_flight_ids`),
 * minor units of the order's currency. `null` with no such capture, or when the captures left part of the hold
 * authorised (a cancel releases that part, as after any partial capture). Pure.
 */
function recapturedRefusal(auth: OperationRecord, dependents: readonly DependentSummary[], refundedOutside: number): ContextRefusal | null {
  const recaptured = dependents.filter((d) => d.command === 'capture' && d.doneByPspRetry === true);
  if (recaptured.length === 0) return null;
  // What the captures left of the hold is still authorised, and a cancel releases it, as after any partial capture:
  // refused only when the standing captures (the re-captured ones among them) took the whole hold.
  if (uncapturedRemainder(capturesOf(auth, standingCaptures(dependents))) !== 0) return null;
  // Refunds in flight may still give their amount back: advising a refund of it too could give it back twice.
  // In the order the refund gate (`siblingsAhead`) takes them: registration, ties by id.
  const inFlight = dependents
    .filter((d) => d.command === 'refund' && d.undone !== true && !isTerminal(d.state))
    .sort((a, b) => a.registered - b.registered || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const inFlightAmount = inFlight.reduce((total, d) => total + d.amount, 0);
  const confirmedLeft = leftToRefund(auth, dependents, refundedOutside);
  const inFlightOutcome = confirmedLeft === null ? { giving: 0, stuck: 0 } : refundsInFlightGiving(inFlight, confirmedLeft);
  const left = confirmedLeft === null ? null : Math.max(0, confirmedLeft - inFlightOutcome.giving);
  // What a person must settle with the PSP before anyone refunds it: refunds the PSP retries itself, UNRESOLVED ones
  // (they may have reached it; never sent again, settled only by a PSP fact that may never come) and those waiting
  // behind them.
  const heldByRefunds = dependents.filter((d) => heldForRetry(d, 'refund')).reduce((total, d) => total + d.amount, 0);
  const unsettled = heldByRefunds + inFlightOutcome.stuck;
  const action: SuggestedAction | undefined = left === null ? undefined : left === 0 ? 'none' : left <= unsettled ? 'contact_support' : undefined;
  return {
    fail: AUTHORIZATION_REFUSALS.cancelAfterRecapture,
    field: 'payment.gateway_key',
    detail: {
      authorization_id: auth.id,
      recaptured_amount: recaptured.reduce((total, d) => total + d.amount, 0),
      recaptured_capture_ids: recaptured.map((d) => d.id).join(','),
      refunded_amount: settledSum(dependents, 'refund'),
      ...(refundedOutside > 0 ? { refunded_outside_bridge: refundedOutside } : {}),
      ...(inFlight.length > 0 ? { refunds_in_flight_amount: inFlightAmount, refund_in_flight_ids: inFlight.map((d) => d.id).join(',') } : {}),
      ...(left !== null ? { left_to_refund: left } : {}),
      ...(heldByRefunds > 0 ? { held_by_failed_refunds: heldByRefunds } : {}),
      ...(inFlightOutcome.stuck > 0 ? { unsettled_refunds_amount: inFlightOutcome.stuck } : {}),
    },
    ...(action ? { action } : {}),
  };
}

/**
 * What refunds in flight (`inFlight`: not undone, not SUCCEEDED or FAILED, in the order registered) do with
 * `confirmedLeft` (what the confirmed figures leave to refund, minor units) if those that go succeed, modelling the
 * refund gate (`siblingsAhead`: one goes when it fits alongside every refund still unfinished ahead of it, else it waits
 * for them and is checked again, `amountRefusal`): `giving`, what those that go give back; `stuck`, what UNRESOLVED ones
 * hold (they may have reached the PSP, are never sent again, and no FAIL event may ever come) plus the refunds waiting
 * behind them that would fit once they settle. One that would not fit even then is refused in the end: neither. Pure.
 */
function refundsInFlightGiving(inFlight: readonly DependentSummary[], confirmedLeft: number): { giving: number; stuck: number } {
  let giving = 0;
  let stuck = 0;
  let unresolved = 0;
  let ahead = 0;
  for (const d of inFlight) {
    if (d.state === 'UNRESOLVED') unresolved += d.amount;
    else if (d.amount + ahead <= confirmedLeft || (unresolved === 0 && giving + d.amount <= confirmedLeft)) giving += d.amount;
    else if (unresolved > 0 && giving + d.amount <= confirmedLeft) stuck += d.amount;
    ahead += d.amount;
  }
  return { giving, stuck: stuck + unresolved };
}

/**
 * What the PSP refunded of `auth` outside the bridge ({@link refundedOutsideBridgeOf}: one read of its adjustments)
 * when cancel `op` may be refused `captured_by_psp_retry` (a capture of `auth` done by its PSP's retry), whose advice
 * depends on what is left to refund; 0 otherwise, unread.
 */
async function recapturedRefundedOutside(
  op: OperationRecord,
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  ledger: Pick<Ledger, 'adjustmentsOfEach'>,
): Promise<number> {
  if (op.command !== 'cancel' || !dependents.some((d) => d.command === 'capture' && d.doneByPspRetry === true)) return 0;
  return refundedOutsideBridgeOf(auth, ledger);
}

/**
 * What a refund of payment `auth` may still give back, minor units of the order's currency: what was captured
 * (`capturedToRefund`: a sale's amount unless undone, else the succeeded captures the PSP did not undo) less the
 * succeeded refunds of ours not undone, less `refundedOutside` (what the PSP refunded outside the bridge and still
 * stands, {@link refundedOutsideBridge}; default 0). Below 0 when the ledger counts more given back than captured.
 * `null` when what was captured is unknown (closed by a capture never registered, a cancel or a revalidate): the
 * PSP decides. The one sum the refund check ({@link amountRefusal}), the split tender's card part and the reading of
 * a PSP's cancel-or-refund of the whole payment use. Pure.
 */
export function leftToRefund(auth: OperationRecord, dependents: readonly DependentSummary[], refundedOutside = 0): number | null {
  if (closedUnregistered(auth, dependents)) return null;
  return capturedToRefund(auth, dependents) - settledSum(dependents, 'refund') - refundedOutside;
}

/**
 * What a refund of payment `auth` may give back before the refunds of it (`capturedToRefund`: a sale's amount, none
 * once its PSP undid it; an authorization's succeeded captures, none the PSP undid), minor units of the order's
 * currency; null when that cannot be summed (`closedUnregistered`, or a record from before dependents were
 * registered: no digest). A split tender refund caps each tender's part with it (`split-tender-service.ts`). Pure.
 */
export function collectedForRefund(auth: OperationRecord, dependents: readonly DependentSummary[]): number | null {
  if (auth.digest === undefined || closedUnregistered(auth, dependents)) return null;
  return capturedToRefund(auth, dependents);
}

/**
 * The refunds among `dependents` that gave money back (succeeded, or done by the PSP after a recorded failure, none it
 * undid: what a refund check sums), each with its amount in minor units of the order's currency. Pure.
 */
export function refundsGivenBack(dependents: readonly DependentSummary[]): Array<{ id: string; amount: number }> {
  return dependents.filter((d) => settled(d, 'refund')).map((d) => ({ id: d.id, amount: d.amount }));
}

/**
 * The refunds among `dependents` recorded FAILED that their PSP retries itself and has not done yet (`heldForPspRetry`),
 * each with what it asked in minor units of the order's currency: they may still give it back, so a refund check holds
 * it as given back (`amount_held_by_failed_refund`). Pure.
 */
export function refundsHeldForRetry(dependents: readonly DependentSummary[]): Array<{ id: string; amount: number }> {
  return dependents.filter((d) => heldForRetry(d, 'refund')).map((d) => ({ id: d.id, amount: d.amount }));
}

/**
 * The refunds among `dependents` with no final outcome yet (sent, queued after a send, `PENDING`, `UNKNOWN`,
 * `UNRESOLVED`…: not SUCCEEDED or FAILED), each with what it asked in minor units of the order's currency: they may
 * still give it back, or not. A refund of the OMS held by a split until the split settles (`heldBySplit`: recorded,
 * never sent) is left out: it cannot go before the split, so a split waiting for it would wait for itself. Pure.
 */
export function refundsNotFinal(dependents: readonly DependentSummary[]): Array<{ id: string; amount: number }> {
  return dependents.filter((d) => d.command === 'refund' && !isTerminal(d.state) && !heldBySplit(d)).map((d) => ({ id: d.id, amount: d.amount }));
}

/**
 * The `reason` of the `capture_failed` adjustment the webhook records for a sale its PSP cancelled-or-refunded itself
 * (`webhooks/psp-reversal.ts`, `reversalAsFailure`: the outcome's `gatewayStatus`, Adyen's event code). Of a sale
 * captured, Adyen's `CANCEL_OR_REFUND` is a refund at the PSP (of what was left to refund), not a capture that failed.
 */
export const PSP_CANCEL_OR_REFUND_REASON = 'CANCEL_OR_REFUND';

/**
 * Whether sale `auth` is marked undone (`undoneBy`) by its PSP's cancel-or-refund rather than by a void of ours or a
 * failure of its capture: `undoneBy` is no void's (`undoneByVoid`), and names among `recorded` (the sale's adjustments,
 * {@link REFUNDED_BEYOND_FIELDS}) a `capture_failed` whose reason is {@link PSP_CANCEL_OR_REFUND_REASON}. Its money went
 * back by a refund at the PSP. Adyen cancels a sale not captured and refunds one captured: of one not captured no
 * refund was done at the PSP either, so reading it as captured can hide no refund beyond. A sale undone by a
 * `CANCELLATION` (never captured) or any other `capture_failed` is not. Pure.
 */
export function saleUndoneByPspRefund(auth: OperationRecord, recorded: readonly RecordedAdjustmentFields[]): boolean {
  if (auth.command !== 'sale' || auth.undoneBy === undefined || auth.undoneByVoid === auth.undoneBy) return false;
  const reason = REFUNDED_BEYOND_FIELDS.indexOf('reason');
  return recorded.some(
    ({ id, fields }) => id === auth.undoneBy && fields[0] === 'capture_failed' && (fields[reason] ?? '').toUpperCase() === PSP_CANCEL_OR_REFUND_REASON,
  );
}

/** A capture of the payment whose money may still reach it: in flight, or FAILED and retried by its PSP itself. */
export interface CaptureInFlight {
  id: string;
  state: OperationState;
  /** What it asked (or the PSP confirmed), minor units of the order's currency. */
  amount: number;
}

/**
 * The captures of a payment (its `dependents`) not settled at the PSP yet: in a state that is not terminal
 * (`RECEIVED`, `SENT`, `PENDING`, `ACTION_REQUIRED`, `UNKNOWN`, `UNRESOLVED`: `isTerminal`), or recorded FAILED and held
 * for its PSP's own retry (`heldForPspRetry`, not done yet: Adyen re-captures). Any may have collected its amount. Pure.
 */
export function capturesStillCollecting(dependents: readonly DependentSummary[]): CaptureInFlight[] {
  return dependents
    .filter((d) => d.command === 'capture' && (!isTerminal(d.state) || heldForRetry(d, 'capture')))
    .map((d) => ({ id: d.id, state: d.state, amount: d.amount }));
}

/** What {@link refundedBeyondCapturedReading} found. */
export interface RefundedBeyondReading {
  /** The figures when the refunds exceed what stands captured even counting every capture in flight; else null. */
  beyond: RefundedBeyondCaptured | null;
  /**
   * The refunds exceed what stands captured, yet not what captures in flight would add (`inFlight`): undecided, no
   * alarm (a PSP refunding is itself a sign the capture went through). Absent otherwise.
   */
  undecided?: { figures: RefundedBeyondCaptured; inFlight: CaptureInFlight[] };
}

/**
 * Whether payment `auth`'s confirmed refunds exceed what stands captured of it, by the refund check's own sums
 * ({@link leftToRefund} below 0): what was captured (`capturedToRefund`: a sale's amount unless undone, else its
 * captures the PSP did and did not undo, a voided one, `undone_by`, left out), against its refunds the PSP did and did
 * not undo (`settledSum`: one recorded FAILED that the PSP did after all at what it confirmed) plus `refundedOutside`
 * (what the PSP refunded outside the bridge and still stands, {@link refundedOutsideBridge}; default 0).
 *
 * What lowers what stands captured is money that went back without a refund: a capture or sale undone by a void of ours
 * (`undone_by_void`) or by the PSP's failure of the capture (`capture_failed`). A sale its PSP cancelled-or-refunded
 * (`undoneByRefund`, {@link saleUndoneByPspRefund}) is not: that money went back by a refund at the PSP, of what was
 * left to refund and never more, so the sale counts as captured at its amount and that refund-back on neither side
 * (counted on both, it cancels out); refunds of ours made before it are then no refund beyond.
 *
 * A capture still in flight ({@link capturesStillCollecting}) may have collected its money (a PSP refunding it is a sign it
 * did): when captured plus every capture in flight covers the refunds, the reading is `undecided`, never an alarm.
 *
 * `beyond`, the figures (minor units of the order's currency), when the refunds exceed; null when they fit, are
 * undecided, or when what was captured is unknown (the PSP decides, as for the refund check): a payment older than
 * digests (`digest`: its dependents may not all be registered, so the refund check sums none), an authorization no
 * capture of ours was done at the PSP for (one done and undone after still counts: what it took is known to be gone),
 * whose refunds prove a capture outside the bridge (its back office) of an amount the ledger never saw. Pure.
 */
export function refundedBeyondCapturedReading(
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  refundedOutside = 0,
  undoneByRefund = false,
): RefundedBeyondReading {
  if (auth.digest === undefined) return { beyond: null };
  if (auth.command !== 'sale' && !dependents.some((d) => d.command === 'capture' && doneAtPsp(d))) return { beyond: null };
  // Undone by the PSP's refund: captured still, its refund-back counted on neither side.
  const standing: OperationRecord = undoneByRefund && auth.command === 'sale' ? { ...auth, undoneBy: undefined } : auth;
  const left = leftToRefund(standing, dependents, refundedOutside);
  if (left === null || left >= 0) return { beyond: null };
  const capturedAmount = capturedToRefund(standing, dependents);
  const figures: RefundedBeyondCaptured = {
    capturedAmount,
    refundedAmount: capturedAmount - left,
    excessAmount: -left,
    currency: auth.payment.currency.toUpperCase(),
  };
  const inFlight = capturesStillCollecting(dependents);
  const couldCollect = inFlight.reduce((total, c) => total + c.amount, 0);
  if (inFlight.length > 0 && capturedAmount + couldCollect >= figures.refundedAmount) return { beyond: null, undecided: { figures, inFlight } };
  return { beyond: figures };
}

/**
 * The figures of {@link refundedBeyondCapturedReading} (`beyond`): refunds beyond what stands captured even counting
 * every capture in flight; null when they fit, are undecided, or what was captured is unknown. Pure.
 */
export function refundedBeyondCaptured(
  auth: OperationRecord,
  dependents: readonly DependentSummary[],
  refundedOutside = 0,
  undoneByRefund = false,
): RefundedBeyondCaptured | null {
  return refundedBeyondCapturedReading(auth, dependents, refundedOutside, undoneByRefund).beyond;
}

/**
 * {@link refundedBeyondCapturedReading} of `payment` (as done at the PSP, {@link asDoneAtPsp}) read from the ledger: its
 * dependents (one read each) and its adjustments (one read): what the PSP refunded of it outside the bridge, and
 * whether a sale's undoing was its PSP's cancel-or-refund ({@link saleUndoneByPspRefund}). One PSP refund counts once: a
 * `refund_outside_bridge` naming the PSP reference of a refund of ours counted (its `gatewayReference`, or
 * `factReference`: the reference the late fact of a refund of ours names, or the one the adjustments of a refund of ours
 * done after its recorded failure name, read only when such a `refund_outside_bridge` names a reference no other holds:
 * {@link lateRefundReferences}) is that refund, reported outside the bridge while ours held no reference, and is left
 * out. So is one of a converted payment in the PSP's currency stating the
 * payment's whole amount there or more: it may be a cancel-or-refund's notification, which states the payment's amount
 * and which the webhook could not bound in another currency than the order's (`refundedAmount`, `unbounded`), so it
 * proves no refund beyond what was captured.
 */
export async function refundedBeyondCapturedReadingOf(
  payment: OperationRecord,
  ledger: Pick<Ledger, 'dependentsOf' | 'adjustmentsOfEach'>,
  factReference?: string | readonly string[],
): Promise<RefundedBeyondReading> {
  // As the refund check reads it: a sale held FAILED that the PSP did after all, at what the PSP then confirmed.
  const auth = asDoneAtPsp(payment);
  const [dependents, adjustments] = await Promise.all([ledger.dependentsOf(auth.id), ledger.adjustmentsOfEach([auth.id], REFUNDED_BEYOND_FIELDS)]);
  const ours = new Set(dependents.filter((d) => settled(d, 'refund') && d.gatewayReference !== undefined).map((d) => d.gatewayReference));
  for (const named of typeof factReference === 'string' ? [factReference] : (factReference ?? [])) ours.add(named);
  const reference = OUTSIDE_REFUND_FIELDS.indexOf('psp_reference');
  const lock = fxLockOf(auth);
  const pspCurrency = lock?.to.currency.toUpperCase();
  const whole = pspCurrency === undefined ? null : amountIn(auth, pspCurrency);
  const recorded = adjustments.get(auth.id) ?? [];
  // A refund of ours the PSP did after its recorded failure holds no reference of its own: the one its late fact named is
  // on that fact. Read only when a refund outside the bridge names a reference none of ours holds (rare), so one of ours
  // reported both ways counts once whichever fact reads the payment.
  if (recorded.some(({ fields }) => fields[0] === 'refund_outside_bridge' && !!fields[reference] && !ours.has(fields[reference]))) {
    for (const named of await lateRefundReferences(dependents, ledger)) ours.add(named);
  }
  const outside = recorded.filter(({ fields }) => {
    if (fields[0] !== 'refund_outside_bridge') return true;
    const named = fields[reference];
    if (named && ours.has(named)) return false;
    const [, amount, currency] = fields;
    return !(whole !== null && (currency ?? '').toUpperCase() === pspCurrency && Number(amount) >= whole);
  });
  return refundedBeyondCapturedReading(auth, dependents, refundedOutsideBridge(auth, outside), saleUndoneByPspRefund(auth, recorded));
}

/**
 * The PSP references the adjustments of `dependents`' refunds of ours that count as refunded yet hold no reference of
 * their own (recorded FAILED, done by the PSP after all: its late fact named the PSP refund) name. One read of those
 * refunds' adjustments; none when there is no such refund.
 */
async function lateRefundReferences(dependents: readonly DependentSummary[], ledger: Pick<Ledger, 'adjustmentsOfEach'>): Promise<string[]> {
  const ids = dependents.filter((d) => settled(d, 'refund') && d.gatewayReference === undefined).map((d) => d.id);
  if (ids.length === 0) return [];
  const read = await ledger.adjustmentsOfEach(ids, ['psp_reference']);
  return [...read.values()].flatMap((list) => list.flatMap(({ fields }) => (fields[0] ? [fields[0]] : [])));
}

/** The figures of {@link refundedBeyondCapturedReadingOf} (`beyond`), or null. */
export async function refundedBeyondCapturedOf(
  payment: OperationRecord,
  ledger: Pick<Ledger, 'dependentsOf' | 'adjustmentsOfEach'>,
  factReference?: string,
): Promise<RefundedBeyondCaptured | null> {
  return (await refundedBeyondCapturedReadingOf(payment, ledger, factReference)).beyond;
}

/**
 * Closed by a command other than a registered capture: by a capture never registered here (sent before
 * captures by PSP reference were), or by a cancel or revalidate, before which an unregistered capture may
 * have taken part of it. What was captured is unknown, so a refund is left to the PSP rather than checked on
 * a sum that may be too low. Pure.
 */
function closedUnregistered(auth: OperationRecord, dependents: readonly DependentSummary[]): boolean {
  return auth.command !== 'sale' && auth.closedBy !== undefined && !dependents.some((d) => d.id === auth.closedBy && d.command === 'capture');
}

/**
 * What the authorization holds in the order's currency, minor units: the PSP's confirmed figure, else what was
 * asked. A converted authorization's PSP figure is in the converted currency: a partial approval counts the
 * most of the order's currency it covers at the locked rate (`heldInOrderCurrency`). Pure.
 */
function authorizedInOrderCurrency(auth: OperationRecord): number {
  const lock = fxLockOf(auth);
  return lock ? heldInOrderCurrency(auth, lock) : confirmedOrAsked(auth, auth.payment).amount;
}

/**
 * What the succeeded dependents of `command` took, minor units of the order's currency. One recorded FAILED that the
 * PSP did after all (`succeededAfterFailure`) took what the PSP confirmed then (its `amount`). A refund the PSP undid
 * after it succeeded (failed at the scheme, or its money came back: `undone`) took nothing: its amount is
 * refundable again. A capture the PSP undid (`capture_failed`) collected nothing: no refund gives it back. Pure.
 */
function settledSum(dependents: readonly DependentSummary[], command: CommandType): number {
  return dependents.filter((d) => settled(d, command)).reduce((total, d) => total + d.amount, 0);
}

/** Whether `d` is a `command` the PSP did and did not undo: what {@link settledSum} sums. Pure. */
function settled(d: DependentSummary, command: CommandType): boolean {
  return d.command === command && doneAtPsp(d) && d.undone !== true;
}

/**
 * What a refund of `auth` may give back before the refunds already made, minor units of the order's currency: a
 * sale's amount, unless the PSP said its capture failed after it succeeded (`undoneBy`: nothing collected); else
 * what its succeeded captures collected, those the PSP undid left out (`settledSum`), or, when more, what the PSP
 * stated captured of it when it refused a cancel of it for being captured (`capturedAtPsp`: a capture made at the PSP,
 * an operator's or an automatic one, that no capture of ours holds). Pure.
 */
function capturedToRefund(auth: OperationRecord, dependents: readonly DependentSummary[]): number {
  if (auth.command === 'sale') return auth.undoneBy === undefined ? authorizedInOrderCurrency(auth) : 0;
  const stated = dependents.reduce((most, d) => (d.command === 'cancel' && d.capturedAtPsp !== undefined ? Math.max(most, d.capturedAtPsp) : most), 0);
  return Math.max(settledSum(dependents, 'capture'), stated);
}

/**
 * What the succeeded captures of an authorization claimed of it (those recorded FAILED that the PSP did after all
 * included, at what it confirmed), those the PSP undid after (`capture_failed`) included, and those a void undid
 * included (a cancel of the authorization, or one naming the capture: Cybersource "After a void is processed, you
 * cannot credit or capture the funds"), and those recorded FAILED
 * that the PSP retries itself (`heldForPspRetry`, what they asked): the capture check leaves
 * their amount taken, since the PSP may capture it again itself (Adyen re-captures after CAPTURE_FAILED,
 * "Transaction Recaptured") and a second capture of ours could then charge the shopper twice; capturing it again is
 * for a person to decide with the PSP. Pure.
 */
function claimedByCaptures(dependents: readonly DependentSummary[]): number {
  return dependents.filter((d) => d.command === 'capture' && (doneAtPsp(d) || heldForRetry(d, 'capture'))).reduce((total, d) => total + d.amount, 0);
}

/**
 * Whether dependent `d` is a `command` (a capture or refund) recorded FAILED that its PSP retries itself
 * (`heldForPspRetry`: Adyen retries after a technical issue) and has not done yet: it moved nothing, but may still, so
 * the capture check holds a capture's amount as one undone after success is held, and the refund check a refund's as
 * given back. Pure.
 */
function heldForRetry(d: DependentSummary, command: 'capture' | 'refund'): boolean {
  return d.command === command && d.state === 'FAILED' && d.heldForPspRetry === true && !doneAtPsp(d);
}

/** The adjustment fields {@link refundedOutsideBridge} reads, in this order. */
export const OUTSIDE_REFUND_FIELDS = ['kind', 'amount', 'currency', 'psp_reference'] as const;

/**
 * The adjustment fields {@link refundedBeyondCapturedReadingOf} reads of the payment's adjustments:
 * {@link OUTSIDE_REFUND_FIELDS} (what {@link refundedOutsideBridge} reads, in its places) and `reason`.
 */
export const REFUNDED_BEYOND_FIELDS = [...OUTSIDE_REFUND_FIELDS, 'reason'] as const;

/**
 * What the PSP refunded of payment `auth` that no refund of the bridge asked for (its `refund_outside_bridge`
 * adjustments: a Customer Area or Dashboard refund, Adyen's own cancel-or-refund) and that still stands, minor units
 * of the order's currency: money that went back to the shopper already, which a refund of ours cannot give back
 * again (the PSP would refuse it). One the PSP later failed or reversed (a `refund_failed` or `refund_reversed`
 * adjustment of the payment naming the same PSP refund: `commandsUndoneBy`, as a refund of ours is undone) gave
 * nothing back and does not count, as an undone refund of ours does not. An amount in the order's currency counts as
 * it is; in a converted authorization's PSP currency, as the order's amount it covers at the locked rate
 * (`orderAmountWithin`); one stating no amount, or another currency, cannot be counted and is left to the PSP. Pure.
 */
export function refundedOutsideBridge(auth: OperationRecord, recorded: readonly RecordedAdjustmentFields[]): number {
  const facts = recorded.map(({ fields }) => ({ kind: fields[0], amount: fields[1], currency: fields[2], reference: fields[3] }));
  const undone = new Set(facts.filter((f) => isAdjustmentKind(f.kind) && commandsUndoneBy(f.kind).includes('refund') && f.reference).map((f) => f.reference));
  const order = auth.payment.currency.toUpperCase();
  const lock = fxLockOf(auth);
  let total = 0;
  for (const f of facts) {
    if (f.kind !== 'refund_outside_bridge' || (f.reference && undone.has(f.reference))) continue;
    const amount = f.amount !== null && f.amount !== '' ? Number(f.amount) : NaN;
    if (!Number.isSafeInteger(amount) || amount <= 0) continue;
    const currency = (f.currency ?? '').toUpperCase();
    if (currency === order) total += amount;
    else if (lock && currency === lock.to.currency.toUpperCase()) total += orderAmountWithin(lock, amount);
  }
  return total;
}

/**
 * {@link refundedOutsideBridge} of `auth` for refund `op` (one read of the payment's adjustments, only for a refund's
 * amount check); 0 for any other command.
 */
async function refundedOutside(op: OperationRecord, auth: OperationRecord, ledger: Pick<Ledger, 'adjustmentsOfEach'>): Promise<number> {
  if (op.command !== 'refund') return 0;
  return refundedOutsideBridgeOf(auth, ledger);
}

/**
 * {@link refundedOutsideBridge} of payment `auth` read from the ledger (one read of its adjustments), minor units of
 * the order's currency: what a refund check of `auth` subtracts, whoever checks (a refund of ours, a split tender's
 * card part).
 */
export async function refundedOutsideBridgeOf(auth: OperationRecord, ledger: Pick<Ledger, 'adjustmentsOfEach'>): Promise<number> {
  const recorded = (await ledger.adjustmentsOfEach([auth.id], OUTSIDE_REFUND_FIELDS)).get(auth.id) ?? [];
  return refundedOutsideBridge(auth, recorded);
}
