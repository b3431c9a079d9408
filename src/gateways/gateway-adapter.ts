import type { ActionResult } from '../contracts/three-ds';
import type { GatewayConfig } from './gateway-config';
import type { GatewayType } from './gateway-registry';
import { CommandType, Payment } from '../contracts/payment-command';
import { Decline } from '../errors/decline';
import { AdjustmentFact } from '../adjustments/adjustment';
import { CustomerAction } from './customer-action';
import type { StoredCard } from './stored-card';

/**
 * The seam every gateway fills in: a pure transformer (shapes and units of one PSP, no I/O, no clock
 * except the `now` it is given) used by one shared thin client. See docs/ARCHITECTURE.md.
 */

/**
 * What the gateway said about an operation, in our words. `ACTION_REQUIRED`: the PSP waits for the
 * customer (3-D Secure, a redirect to approve); not final, it settles by webhook, inquiry or expiry.
 */
export type OutcomeStatus = 'SUCCESS' | 'FAIL' | 'PENDING' | 'ACTION_REQUIRED';

/**
 * Why a failed operation's authorization still holds the customer's funds at the PSP (the reason orphan
 * reversal voids it under, a metric label):
 * - `risk_declined`: the issuer approved, then the PSP's risk screening refused the payment at once
 *   (Cybersource `AUTHORIZED_RISK_DECLINED`, or reason code 481 on a transaction whose `ics_auth` succeeded);
 * - `review_rejected`: the payment was authorized and held for a manual review, which rejected it
 *   (Cybersource `risk.casemanagement.decision.reject`); a reject reverses the authorization only when the
 *   merchant's Decision Manager settings or the reviewer ask for it, which the notification does not say.
 */
export const FUNDS_HELD_REASONS = ['risk_declined', 'review_rejected'] as const;
export type FundsHeldReason = (typeof FUNDS_HELD_REASONS)[number];

export interface GatewayOutcome {
  status: OutcomeStatus;
  /** The PSP's own status string, verbatim (e.g. `requires_capture`, `Authorised`, `AUTHORIZED`). */
  gatewayStatus: string;
  /** The PSP's id of the object this operation created or touched (PaymentIntent id, pspReference…). */
  gatewayReference?: string;
  /** revalidate / tokenize: the key the OMS must use from now on. */
  newGatewayKey?: string;
  /** ACTION_REQUIRED: what the storefront needs to let the customer act. */
  action?: CustomerAction;
  /**
   * ACTION_REQUIRED: until when the PSP says the customer may complete the action (epoch ms), when its
   * answer says so: a voucher's or a QR code's own expiry (Stripe `next_action.boleto_display_details.expires_at`,
   * Adyen `action.expiresAt`). The poller then waits for it instead of `authentication.action_timeout_ms`
   * (`delivery/action-deadline.ts`). Absent: the PSP named none (3-D Secure, redirects), the fixed timeout applies.
   */
  actionExpiresAt?: number;
  /**
   * Token on first use: the reusable key of the method the PSP stored with this authorize or sale (what a
   * later command sends as `gateway_key`); reported on the event as `payment.token`.
   */
  storedToken?: string;
  /**
   * A tokenize, or an authorize or sale storing its method: the stored card as the PSP confirmed it (brand,
   * last four digits, expiry; never a card number), read with `storedCardOf`. Reported on the event as
   * `payment.stored_card`; absent when the PSP's answer describes no card.
   */
  storedCard?: StoredCard;
  /**
   * An authorize's or sale's SUCCESS: the card scheme's transaction id of this payment as the PSP reported it
   * (`networkTransactionIdOf`: Stripe's `latest_charge.payment_method_details.card.network_transaction_id`, Adyen's
   * `additionalData.networkTxReference` of an answer or of an AUTHORISATION notification, Cybersource's `processorInformation.networkTransactionId`, the simulator's
   * `network_transaction_id`). Reported on the event as `payment.network_transaction_id`; absent when the answer
   * names none (never invented).
   */
  networkTransactionId?: string;
  /** FAIL: the decline or error code the OMS receives as `reason`. */
  reason?: string;
  /**
   * FAIL: the normalized decline (category, raw code, customer message, suggested action) from the
   * gateway's decline table (`src/gateways/<name>/<name>-declines.ts`); the recorder derives it when absent.
   */
  decline?: Decline;
  /**
   * The amount the PSP confirmed for this operation, as an integer of ISO 4217 minor units of `currency`
   * (converted from the PSP's own unit by its currency table: never a float). Absent when the PSP's answer
   * names no amount, or one that cannot be read exactly.
   */
  amount?: number;
  /**
   * The currency the PSP confirmed (upper-case ISO 4217), which may differ from the command's: compare,
   * never assume. Absent when the PSP's answer names none.
   */
  currency?: string;
  /**
   * The commands whose operation this outcome (SUCCESS or FAIL alike) can settle (default: any). A webhook
   * names an operation by a reference that may be its payment's, not the operation the fact is about: an
   * Adyen CANCELLATION naming the authorization's reference is not that authorization's outcome, and a
   * Cybersource review accepted is not a sale's (never captured). For another command's operation it goes to
   * the operation holding its modification's reference when there is one (`referenceIsModification`), else it
   * is recorded in the history and moves nothing (`webhooks/outcome-for-command.ts`).
   */
  settles?: readonly CommandType[];
  /**
   * `gatewayReference` is the PSP's own reference of the modification (capture, cancel, refund, amount update)
   * this is the outcome of: the one the modification's answer gave, indexed to its operation. Set where the
   * webhook's operation id may name the payment instead (Adyen's `merchantReference`: the modification's
   * `reference` when one was sent, else the payment's): when the operation named does not take the outcome
   * (`settles`), the operation holding `gatewayReference` takes it if it settles that one's command
   * (`webhooks/outcome-by-reference.ts`). Absent: the operation named is the only candidate.
   */
  referenceIsModification?: true;
  /**
   * The PSP approved less than was asked (a partial approval): an `amount` below the request is this
   * outcome's fact, recorded and reported with its discrepancy as a synchronous partial authorization is,
   * not a webhook for another amount (`webhooks/outcome-scope.ts`).
   */
  partialApproval?: true;
  /**
   * An authorization: when the PSP says it must be captured by (epoch ms), its own figure for this
   * authorization (Stripe's `capture_before`). Recorded as the authorization's expiry instead of the
   * documented window for its method (`authorizationValidityMs`). Absent: the documented window applies.
   */
  captureBefore?: number;
  /**
   * An authorization: when the PSP says it made it (epoch ms): Stripe's charge `created`, Adyen's
   * AUTHORISATION `eventDate`, Cybersource's `submitTimeUtc`, the simulator's `created`. Its validity is
   * counted from it, not from when the bridge recorded the success (`authorizationStart`). Absent: from the
   * operation's first gateway call.
   */
  authorizedAt?: number;
  /**
   * SUCCESS or FAIL: when the PSP says it happened (epoch ms): Adyen's `eventDate` ("the time when
   * the event was generated", Webhooks v1), a Stripe Event's `created` (seconds: "Time at which the object was
   * created"), Cybersource's `eventDate` ("The timestamp of when the event occurred"). A success that moves its
   * operation to SUCCEEDED is recorded with it (`OperationRecord.pspSucceededAt`), and a success of an operation the
   * OMS was told failed with its adjustment (`succeeded_after_failure`): either way it is ordered by the PSP's times
   * against a dated failure of the same operation (an Adyen `CAPTURE_FAILED`, a Stripe `refund.failed`, a failure
   * outcome), whichever arrives first or again; a failure strictly older than the success is an older event. Also
   * from a synchronous answer or a status inquiry where the PSP dates it: a Stripe cancel's `canceled_at`, a Stripe
   * refund's success by the Refund's `created`, a Cybersource transaction's `submitTimeUtc` (SUCCESS or FAIL). Absent
   * when the PSP does not say.
   */
  occurredAt?: number;
  /**
   * FAIL of a capture or refund only: the PSP documents that it retries it itself (Adyen's CAPTURE_FAILED or
   * REFUND_FAILED "Capture rejected by card scheme because of a technical issue.": "Adyen will try to fix the issue and
   * re-capture the transaction", refunds treated the same), so it may still be done. The recorder keeps its amount held
   * (`OperationRecord.heldForPspRetry`): a second capture or refund of that amount is refused, never sent. Absent: the
   * failure frees the amount.
   */
  retriedByPsp?: true;
  /**
   * FAIL only: the PSP still holds the funds of an authorization for it, and why ({@link FundsHeldReason}):
   * the payment was refused after the issuer approved it, and the hold stands until the merchant reverses
   * it or it expires. The recorder hands the failed operation to orphan reversal under that reason, which
   * voids it (`OutcomeRecorder`, `releaseHeld`).
   */
  fundsHeld?: FundsHeldReason;
  /**
   * SUCCESS of an authorize found by a status inquiry only: the operation's other authorizations the PSP holds funds for
   * besides the one this outcome names (`gatewayReference`), each made by a resend the PSP took as a new request (no
   * idempotency key: Cybersource). Nothing will capture them (captures name `gatewayReference`): the recorder hands each
   * to orphan reversal (`extra_authorization`). Set only when the PSP's answer tells which transactions hold funds (no
   * release beside them that names none). Absent: none known; every other gateway leaves it unset.
   */
  extraHolds?: ExtraHold[];
  /**
   * SUCCESS of a cancel or refund of a payment, read from a notification that names the payment (Adyen CANCELLATION,
   * CANCEL_OR_REFUND): what it did, `cancel` or `refund`, or `cancel_or_refund` when the PSP does not say. When no
   * operation of ours claims it (a cancel or refund the PSP made itself, as Adyen's case management does for a payment
   * its review rejected), it is the PSP's word that the payment it names no longer stands: reported as the failure of
   * that SUCCEEDED authorization (only for a `cancel`: an authorization refunded was captured, and is told as a refund
   * outside the bridge, `webhooks/outside-refund.ts`) or sale (`webhooks/psp-reversal.ts`).
   */
  pspReversal?: PspReversal;
  /**
   * FAIL of a capture or cancel because the PSP let the authorization it acts on lapse (Stripe: the PaymentIntent
   * `canceled` with `cancellation_reason: automatic`), read from the PSP's answer or the status inquiry: the lapse as
   * the PSP's record of it states it. The recorder records the authorization's `authorization_expired` adjustment
   * from it unless that lapse is recorded already (its webhook, a reconciliation run): `delivery/authorization-lapse.ts`.
   * Absent on a webhook's reading: the lapse webhook carries the lapse as its own adjustment.
   */
  authorizationLapse?: AuthorizationLapse;
  /**
   * FAIL only: what the PSP's answer states is captured of the payment it names, read from the payment object the
   * refusal carries (Stripe's `error.payment_intent.amount_received`, the simulator's `error.authorization.amount_captured`),
   * never guessed. Whether the FAIL is a void refused because of that capture is the gateway's rule
   * (`GatewayDefinition.voidRefusedAsCaptured`). Absent: the answer states no captured amount.
   */
  pspCaptured?: PspCaptured;
}

/** One extra authorization of an operation (see `GatewayOutcome.extraHolds`). */
export interface ExtraHold {
  /** The PSP's id of that authorization (a Cybersource transaction id): what its void names. */
  pspReference: string;
  /** What it holds, ISO 4217 minor units of `currency`, when the PSP's answer says (its authorized amount, else the amount asked). */
  amount?: number;
  /** Upper-case ISO 4217 code of `amount`. */
  currency?: string;
}

/** What a PSP's answer states is captured of a payment (see `GatewayOutcome.pspCaptured`). */
export interface PspCaptured {
  /** ISO 4217 minor units of `currency` (converted from the PSP's own unit by its currency table). */
  amount: number;
  /** Upper-case ISO 4217. */
  currency: string;
}

/**
 * A cancel (void) the PSP refused because the payment it names is captured already (an operator's capture in the PSP's
 * dashboard, an account capturing automatically), as the gateway's rule reads the refusal
 * (`GatewayDefinition.voidRefusedAsCaptured`): `captured`, what the PSP stated captured; absent when its answer states
 * no amount (a refund of it cannot be sized on the PSP's word).
 */
export interface VoidRefusedAsCaptured {
  captured?: PspCaptured;
}

/**
 * The reason a capture (or cancel) FAILs with when the PSP let the authorization it acts on lapse: nothing is left to
 * capture, so its decline tells the OMS to obtain a new authorization (`reauthorize`; a cancel's says `none`, the hold
 * it asked to release is released). Stripe: the PaymentIntent canceled `automatic`; Adyen: a capture the scheme
 * rejected as expired, or one sent after the authorization's `EXPIRE` was recorded.
 */
export const AUTHORIZATION_EXPIRED_REASON = 'authorization_expired';

/**
 * The reason a capture FAILs with when the PSP had voided the authorization it acts on after the OMS was told it
 * SUCCEEDED (its `failed_after_success` adjustment: a Dashboard or Customer Area void, the PSP's own cancel, a reversal
 * by the merchant's staff): a capture of a cancelled authorization, not a lapse. Its decline is the bridge table's
 * (`operation_not_permitted`, `fix_request`), as the PSP simulator's own `authorization_cancelled` refusal reads.
 */
export const AUTHORIZATION_CANCELLED_REASON = 'authorization_cancelled';

/** An authorization's lapse as a capture's or cancel's answer shows it (see `GatewayOutcome.authorizationLapse`). */
export interface AuthorizationLapse {
  /**
   * The line of the PSP's records that lists this lapse, as reconciliation reads it (Stripe `<pi>:authorization_expired`):
   * the adjustment is recorded under it, so this answer, that line and the lapse webhook are one fact, reported once.
   */
  lineId: string;
  /** The PSP's id of the authorization that lapsed (the PaymentIntent). */
  pspReference?: string;
  /** What lapsed (the authorization's amount less what was captured of it), ISO minor units of `currency`. */
  amount?: number;
  currency?: string;
  /** When the PSP let it lapse (Stripe `canceled_at`), epoch ms. */
  occurredAt?: number;
  /** The PSP's own reason (Stripe `automatic`), kept on the adjustment. */
  reason?: string;
}

/** What a PSP's cancel or refund of a payment did (see `GatewayOutcome.pspReversal`). */
export type PspReversal = 'cancel' | 'refund' | 'cancel_or_refund';

/** An HTTP request as the transformer builds it; the client adds transport concerns only. */
export interface GatewayRequest {
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH';
  /** Path and query, appended to the gateway's `base_url`. */
  path: string;
  headers: Record<string, string>;
  /** Serialized body (JSON or form-encoded), exactly the bytes to send. */
  body?: string;
}

export interface GatewayResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from send to the last byte (sub-millisecond precision, as measured). */
  elapsedMs: number;
}

/** Everything a transformer may know about the operation it maps. */
export interface OperationContext {
  /** Our operation id: the PSP-side merchant reference, and the Idempotency-Key unless `idempotencyKey` says otherwise. */
  operationId: string;
  command: CommandType;
  /** Minor units, currency as in the command. */
  payment: Payment;
  /**
   * The `Idempotency-Key` of this attempt, when it is not the operation id (an attempt after a failover:
   * see `src/delivery/attempt-key.ts`). Default: `operationId`.
   */
  idempotencyKey?: string;
  /**
   * When the attempt under `idempotencyKey` began: the moment of the failover that made it (epoch ms, the last
   * `routing.failovers[].at`). Absent for the first attempt. What an earlier attempt left at the PSP was made before it.
   */
  attemptSince?: number;
  /**
   * validate: what the authorization it names holds at the PSP, when that authorization is one of our
   * records (see `resolveOperationContext`). A PSP whose check of a hold restates its amount (Adyen's
   * amount update sets the authorised amount to what it is sent) must send this, never `payment.amount`.
   */
  held?: HeldAmount;
  /**
   * cancel: what of the authorization it names was captured already, when that authorization is one of our
   * records (see `resolveOperationContext`). Absent: nothing captured that we know of. A PSP whose undoing of
   * a captured payment is another request than the release of a hold reads it (Cybersource: a void, not an
   * authorization reversal); the others send their cancel as they always did.
   */
  captured?: CapturedPayment;
  /**
   * cancel: the capture or refund of ours the cancel names by its operation id, which it voids as its own
   * transaction (`GatewayDefinition.voidsOwnTransactions`); `payment.gateway_key` is then that transaction's PSP
   * reference. Absent: the cancel acts on an authorization (or a stored value transaction), as it always did.
   */
  voidOf?: NamedVoid;
  /**
   * capture, cancel, refund: its `payment.gateway_key` named nothing on record when it was resolved (no operation of ours
   * by that id, none by that PSP reference): sent as given. Kept with the attempt (`key_unrecorded`): a key that is our
   * id of an authorization recorded later named no PSP object (see `src/delivery/sent-before-authorization.ts`).
   */
  keyUnrecorded?: true;
}

/** A capture or refund of ours a cancel voids by its own PSP id (see `OperationContext.voidOf`). */
export interface NamedVoid {
  /** What is voided: a capture (money taken goes back onto the authorization) or a refund (money stays taken). */
  command: 'capture' | 'refund';
  /** Its operation id (ours). */
  operationId: string;
}

/**
 * What of an authorization was captured: a sale that succeeded (captured with its authorization, under the
 * payment's own PSP reference), or the captures of an authorization that succeeded and that the PSP did not
 * undo after, each with its PSP reference where one was recorded, in the order they registered, with what
 * the authorization holds at the PSP (`authorized`) and each capture's amount in that currency.
 */
export type CapturedPayment = CapturedBySale | CapturedByCaptures;

/** A sale that succeeded and that the PSP did not undo after (see {@link CapturedPayment}). */
export interface CapturedBySale {
  by: 'sale';
  /** Its refunds that gave money back or may still; absent: none, or not read (see {@link CapturedRefunds}). */
  refunded?: CapturedRefunds;
}

/** The captures standing against an authorization, and what it holds at its PSP (see {@link CapturedPayment}). */
export interface CapturedByCaptures {
  by: 'capture';
  captures: ReadonlyArray<StandingCapture>;
  /** What the authorization holds at its PSP (`heldAtPsp`): what its captures are taken from. */
  authorized: HeldAmount;
  /** Refunds of what they captured that gave money back or may still; absent: none, or not read (see {@link CapturedRefunds}). */
  refunded?: CapturedRefunds;
}

/**
 * The refunds of a captured payment that returned money or may still (succeeded and not undone after, or in
 * flight: registered and not yet SUCCEEDED or FAILED), read with the cancel's registration at its first attempt
 * only (retries name what the first attempt did). A void undoes the whole captured transaction and leaves these
 * standing: a PSP whose cancel of captured money is a void (Cybersource) refuses it then, or the shopper would
 * be paid back twice.
 */
export interface CapturedRefunds {
  /** Each refund: our operation id, its amount (minor units of `currency`), and whether it is still in flight. */
  refunds: ReadonlyArray<{ id: string; amount: number; inFlight: boolean }>;
  /** The OMS's currency of the payment (the order's), the one its refunds are asked in. */
  currency: string;
  /**
   * What of the captured money is left to refund after them and after `refundedOutsideBridge`, in `currency`: what a
   * refund of the rest may ask (the refund check's own sum).
   */
  left: number;
  /**
   * What the PSP refunded of the payment outside the bridge and still stands (its `refund_outside_bridge` adjustments,
   * `refundedOutsideBridge`), minor units of `currency`: given back already, as a refund of ours is. Absent when none.
   */
  refundedOutsideBridge?: number;
}

/** One capture standing against an authorization. */
export interface StandingCapture {
  /** Our operation id of the capture. */
  id: string;
  /** The PSP's id of the capture, once an outcome named one. */
  reference?: string;
  /**
   * What it took, in integer minor units of the authorization's `authorized.currency`; absent when it is known
   * in no figure of that currency (a capture of a converted authorization recorded before converted amounts were kept).
   */
  amount?: number;
}

/**
 * What the standing captures left of their authorization uncaptured, in minor units of `authorized.currency`:
 * the authorized amount less their amounts, never below 0. 0: fully captured. Undefined when a capture's
 * amount in that currency is unknown (whether anything is left cannot be told). Pure.
 */
export function uncapturedRemainder(captured: CapturedByCaptures): number | undefined {
  let taken = 0;
  for (const c of captured.captures) {
    if (c.amount === undefined) return undefined;
    taken += c.amount;
  }
  return Math.max(0, captured.authorized.amount - taken);
}

/**
 * What an authorization holds at its PSP: the amount the PSP confirmed for it, else what its gateway was
 * asked (a converted amount where FX converted it), in integer ISO minor units of the PSP's `currency`.
 */
export interface HeldAmount {
  amount: number;
  currency: string;
}

/** The `Idempotency-Key` a request for this context carries (`idempotencyKey`, else the operation id). */
export function idempotencyKeyOf(ctx: OperationContext): string {
  return ctx.idempotencyKey ?? ctx.operationId;
}

/** A verified webhook notification, normalised. */
export interface WebhookEvent {
  /** The provider's id of this notification, for dedupe. */
  eventId: string;
  /**
   * The id releases before this one gave the same notification, when it had another (Adyen: a dated
   * `CAPTURE_FAILED` was `<pspReference>:CAPTURE_FAILED:true` before its eventDate joined its id): a fact an earlier
   * release recorded under it is found under it, so a resend after an upgrade records nothing twice.
   */
  formerEventId?: string;
  /**
   * A value of the notification that tells it apart from another of the same `eventId` but may be written nowhere
   * (Adyen: the token a RECURRING_CONTRACT stored): the route appends its keyed digest to `eventId`
   * (`webhookEventIdOf`), never the value. `formerEventId` is then the whole id releases before this one queued this
   * very notification under (with an unkeyed digest): a job the route still holds under it is this notification's,
   * and none is queued again.
   */
  eventIdSecret?: string;
  /** Our operation id when the PSP echoes it (metadata, merchant reference). */
  operationId?: string;
  /** The PSP's object id, to find the operation when our id is not echoed. */
  gatewayReference?: string;
  /**
   * A refund's notification: the PSP's id of the payment it refunds (Adyen `originalReference`, a Stripe Refund's
   * `payment_intent`), to find that payment when neither `operationId` nor `gatewayReference` names an operation of
   * ours: a refund the bridge never asked for (made in the PSP's back office) names no refund operation
   * (`webhooks/outside-refund.ts`). Absent for every other notification.
   */
  paymentReference?: string;
  /**
   * The PSP account the notification says it is about, when it says (Adyen `merchantAccountCode`, Stripe
   * `account` of a Connect event, '' for the platform's own; Cybersource `organizationId`): the outcome
   * worker refuses it unless it is the gateway's configured account (see `webhooks/outcome-scope.ts`).
   */
  account?: string;
  outcome: GatewayOutcome;
  /**
   * Set when the notification is a late fact about money (chargeback, dispute step, a capture or refund
   * failing after it was accepted, a refund reversed): the outcome worker records it as an adjustment of
   * the operation and never applies `outcome` to it, except that a fact with `failsOpenOperation` settles an
   * operation that is still open through `outcome` (a FAIL). See src/adjustments/adjustment.ts.
   */
  adjustment?: AdjustmentFact;
  /**
   * Set when the notification is the PSP capturing again, itself, a capture it had reported failed (Adyen
   * `CAPTURE` success true, reason "Transaction Recaptured" or "Transaction Auto-recaptured"), with when it did
   * (`occurredAt`, epoch ms, the item's `eventDate`; absent when it gives none). Such a notification may arrive
   * before the failure it follows (`webhooks/early-recapture.ts`).
   */
  recapture?: Recapture;
  /**
   * The same fact read as the outcome of a modification of the payment (a capture, a cancel), for a PSP that reports
   * its modifications on the payment's own object and names the payment (Stripe: a manual-capture PaymentIntent
   * captured or cancelled, whose metadata names the authorization). The outcome worker applies it to that
   * modification's one open operation of the payment named, when there is exactly one; otherwise `outcome` goes to the
   * payment as usual (`webhooks/open-modification.ts`). With `adjustment` (Stripe: an authorization's lapse, also the
   * FAIL of a cancel of it still open), the reading settles that open modification only, and the adjustment goes to
   * the payment named as it would alone.
   */
  modification?: ModificationReading;
  /**
   * The PSP's manual review of the payment named decided (Adyen `MANUAL_REVIEW_ACCEPT` / `MANUAL_REVIEW_REJECT`):
   * recorded in the payment's history, counted and logged, never applied as an outcome nor reported as money. What
   * the PSP then does to the payment (Adyen: a cancel or refund of a rejected one, as the merchant's case management
   * settings say, or nothing) comes in a notification of its own, which settles it (`webhooks/review-decision.ts`).
   * `outcome` is informational (PENDING, settling nothing).
   */
  reviewDecision?: ReviewDecision;
  /**
   * Token on first use reported apart from the payment's outcome (Adyen `RECURRING_CONTRACT`): the reusable key of
   * the method the PSP stored for the payment named, in the form `GatewayOutcome.storedToken` has. Kept only by an
   * operation that asked for a token and holds none, and reported to the OMS as an AUTHORISATION's is
   * (`payment.token`, `webhooks/late-token.ts`). `outcome` is informational (PENDING, settling nothing).
   */
  storedToken?: string;
  /**
   * The ids the PSP gave the method it stored, as they stand inside `storedToken` or `outcome.storedToken` (Adyen: the
   * `storedPaymentMethodId` / `recurringDetailReference`, 16 characters, often all digits, so about one in ten passes the
   * Luhn check). The route takes such an id as the PSP's, no card number, only on an item that names an operation of
   * ours, as it does a PSP reference (`checkWebhookItem`); on any other item it is a card number and the item is skipped.
   * Never queued itself: the token carries it.
   */
  storedTokenIds?: readonly string[];
  /**
   * Set when the PSP object the notification is about carries no mark of ours (Stripe: a PaymentIntent or SetupIntent
   * without the metadata our requests set, a Dispute): it is another integration's of the same PSP account (Checkout,
   * Billing, Payment Links, the Dashboard) unless the ledger knows it by what `unmarked` names. The route asks before
   * anything is queued, and acknowledges and skips one it does not know (`not_ours`) rather than queue it for retries
   * that can only end in the failed set. Absent: the notification names an operation of ours, or is read as before.
   */
  unmarked?: UnmarkedWebhookItem;
}

/**
 * What tells whether a notification about a PSP object carrying no mark of ours is about an operation of ours all the
 * same (see `WebhookEvent.unmarked`): either is enough.
 */
export interface UnmarkedWebhookItem {
  /**
   * The PSP's ids of the objects it is about (Stripe: the PaymentIntent or SetupIntent; a Dispute's PaymentIntent and
   * Charge): ours when the gateway's reference index holds one (an answer of ours named it: a PaymentIntent a validate,
   * capture or cancel of ours acted on as its `gateway_key`, a payment of ours disputed).
   */
  references: string[];
  /**
   * The idempotency key of the PSP request that caused the notification (Stripe's `request.idempotency_key`), when
   * the PSP names one: ours when it is an operation id the ledger holds (a request of ours carries its operation id
   * as its key, and the operation is recorded before the request is sent, so this holds before its answer is).
   */
  requestKey?: string;
  /** The item as the skip reports it when neither is ours (reason `not_ours`). */
  skipped: SkippedWebhookItem;
}

/** A PSP's manual review decision of a payment (see `WebhookEvent.reviewDecision`). */
export type ReviewDecision = 'accepted' | 'rejected';

/** A webhook's fact read as a modification's outcome (see `WebhookEvent.modification`). */
export interface ModificationReading {
  /** The modification's command. */
  command: Extract<CommandType, 'capture' | 'cancel'>;
  /**
   * Our operation id of the modification when the PSP echoes it (Stripe: the `capture_operation_id` metadata our
   * capture request set): then only that operation takes the outcome. Absent: the one open operation of `command`.
   */
  operationId?: string;
  /** The fact as that command's outcome (its status and the amount the PSP confirmed for it). */
  outcome: GatewayOutcome;
  /**
   * The PSP's object can never change again (Stripe: a PaymentIntent canceled), so no request of `command` can end
   * otherwise: an operation still SENT (its request in flight, or its answer lost) is settled by it too, since whatever
   * answer comes back can only agree. Absent: a SENT one is left to its answer.
   */
  final?: boolean;
  /**
   * The same fact read as the outcome of other commands' modifications, each settled as this one is, by the same path
   * (Stripe's lapse: the FAIL of a cancel of the authorization still open, and of a capture of it still open, which
   * cannot capture what Stripe released). Read only with `WebhookEvent.adjustment` (a late fact that also ends them).
   */
  others?: ModificationReading[];
}

/** A re-capture's own facts (see `WebhookEvent.recapture`). */
export interface Recapture {
  /** When the PSP re-captured, epoch ms; absent when the notification does not say. */
  occurredAt?: number;
}

/**
 * Why an item of a verified webhook was acknowledged without being queued (the label `reason` of
 * `pb_webhook_items_skipped_total`): an event type or code the gateway's map does not list
 * (`unknown_event_type`), an item it cannot read (`unreadable`, e.g. an Adyen success flag other than
 * "true"/"false", a currency that is no ISO 4217 code), an item about another PSP account than the gateway's
 * (`other_account`), an item from the PSP's other environment than the gateway's (`other_environment`: Adyen's
 * `live` flag against the environment of `base_url`, Stripe's `livemode` against the mode of `api_key`), an item about a
 * PSP object no operation of ours made or acted on (`not_ours`: another integration of the same PSP account, see
 * `WebhookEvent.unmarked`).
 */
export type WebhookSkipReason = 'unknown_event_type' | 'unreadable' | 'other_account' | 'other_environment' | 'not_ours';

/** An item of a verified webhook the transformer skipped, with what an operator needs to find it at the PSP. */
export interface SkippedWebhookItem {
  reason: WebhookSkipReason;
  /** The PSP's id of the notification, when it gives one per item (Stripe `evt_…`). */
  eventId?: string;
  /** The PSP's event type or code, verbatim. */
  eventType?: string;
  /**
   * The PSP's API version the item is rendered in, when it says (Stripe's event `api_version`: the webhook endpoint's
   * version, not the one our requests pin).
   */
  apiVersion?: string;
  /** The status the item reports, when it is one the gateway's status map does not list (`unreadable`). */
  status?: string;
  /** The PSP's reference of the object the item is about. */
  reference?: string;
  /** The PSP account the item names. */
  account?: string;
  /**
   * `unreadable` for a field of the item: where it is in the PSP's body (`data.object.currency`,
   * `notificationItems[0].NotificationRequestItem.amount.currency`), and why it was refused (`problem`, never
   * the value); `other_environment`: the field naming the environment (`live`, `livemode`) and which one each side is.
   */
  field?: string;
  problem?: string;
}

export interface WebhookAck {
  status: number;
  body: string;
  contentType: string;
}

/**
 * Whether the PSP can be asked what became of an operation of a command:
 * - `supported`: `buildStatusRequest`/`parseStatusResponse` read the operation's real state;
 * - `webhook-only`: nothing can be asked (the PSP only acknowledges the request and settles it later by
 *   webhook or in its reports, e.g. Adyen captures, refunds, cancels): such an operation waits PENDING for
 *   its webhook or reconciliation, is never failed for the silence, and past `poller.webhook_wait_alert_ms`
 *   raises an alert.
 */
export type InquirySupport = 'supported' | 'webhook-only';

/** A status inquiry's first answer: the PSP's response and the outcome `parseStatusResponse` read from it. */
export interface StatusAnswer {
  outcome: GatewayOutcome;
  response: GatewayResponse;
}

/**
 * A second request of a status inquiry, for a PSP whose lookup cannot always say all an outcome needs
 * (Cybersource: a transaction search summary names the amount asked, its transaction details the amount
 * authorized). Asked only about an operation the first answer found; pure, like the rest of the transformer.
 */
export interface StatusFollowUp {
  /** The request whose answer completes `first`, or `null` when `first` says enough (then no second round trip). */
  buildRequest(ctx: OperationContext, first: StatusAnswer, gateway: GatewayConfig): GatewayRequest | null;
  /**
   * The inquiry's outcome from `first` and the follow-up's `response`. An answer it cannot read throws a
   * `GatewayError`, classified as a read (it moves no money).
   */
  parseResponse(ctx: OperationContext, first: StatusAnswer, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome;
}

/** Pure mapping between our command model and one PSP's API. */
export interface GatewayTransformer {
  readonly type: GatewayType;
  /** Commands this gateway can carry; delivery fails others with reason UNSUPPORTED_COMMAND. */
  readonly supports: readonly CommandType[];
  /** Request that performs the operation (idempotency key included in its headers). */
  buildRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest;
  /**
   * Maps a response to an outcome. Declines are `FAIL` outcomes; transport-level and retryable errors
   * throw a `GatewayError` (classified from status and the PSP's error code, never its message).
   */
  parseResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome;
  /**
   * Whether an operation of `command` can be asked about (see `InquirySupport`). Optional: a transformer
   * that does not declare it supports inquiries for every command it carries.
   */
  inquiry?(command: CommandType): InquirySupport;
  /**
   * Whether a status inquiry sends the operation's own request again under its idempotency key (Adyen): its
   * answer is the replay of what the request did, never what became of the operation afterwards, and past
   * the key's validity it would perform the request again. Such an inquiry resolves an UNKNOWN outcome, but
   * cannot confirm a later fact (a failure reported after success), and it never answers `null`: a replay that
   * never landed performs the request now, so a 404 to it is an edge's, an `outcome_unknown` error. Being a send,
   * it is withheld past the key window and past `delivery.max_age_ms` (`replayWithheldReason`). Default
   * false: the inquiry reads the operation's current state at the PSP.
   */
  readonly inquiryReplaysRequest?: boolean;
  /**
   * Whether a resend after an attempt with no recorded end (a worker killed mid-call, an answer lost before it was
   * on record) is read by `parseStatusResponse`, as the replay of that attempt it is, rather than by `parseResponse`
   * as a first answer: where a replay's refusal counts only once the PSP confirms it as one (Adyen Stored Value,
   * whose spec declares no Idempotency-Key), the resend's refusal may be a second request's, made to fail by the
   * first one's effect (a second void). Needs `inquiryReplaysRequest`. Default false.
   */
  readonly readsUnfinishedResendAsReplay?: boolean;
  /**
   * Commands whose request performs nothing at the PSP (a read: it moves no money and changes no card, as Adyen Stored
   * Value's `/checkBalance` for `balance_inquiry`), so that a status inquiry replaying it is a read however late and
   * however often: never withheld (`replayWithheldReason`). Withheld, such an operation would stay UNRESOLVED for good
   * where the PSP settles nothing by webhook and a read is in no report. Each is one of `supports`; declared only with
   * `inquiryReplaysRequest` (the conformance suite checks both). Default: none.
   */
  readonly replayPerformsNothing?: readonly CommandType[];
  /**
   * How long after an attempt a status inquiry about `command` may still miss an operation the PSP holds,
   * ms: the inquiry searches an index the PSP fills after the fact (Stripe's search API, Cybersource's
   * transaction search). A younger miss is not proof that the attempt never landed: delivery neither fails
   * over on it nor counts it as proof when giving up, and resends only where `resendReplays` holds, else
   * asks again later. Optional: 0, the inquiry reads what the PSP holds (an object by id, a list, the
   * request replayed).
   */
  inquiryLagMs?(command: CommandType): number;
  /**
   * How far back a status inquiry about `command` searches, ms: an attempt older than that is one its miss
   * cannot see (Cybersource's transaction search is asked for the last 7 days), so such a miss proves
   * nothing and nothing is resent on it. Optional: 0, the inquiry sees every attempt however old.
   */
  inquiryHorizonMs?(command: CommandType): number;
  /**
   * Whether the PSP answers a request it already performed, sent again under the same idempotency key, with
   * its first answer instead of performing it again (Stripe keeps keys 24 hours): a resend is then safe
   * while a status inquiry cannot tell yet (`inquiryLagMs`). Default false.
   */
  readonly resendReplays?: boolean;
  /**
   * Whether the PSP takes no idempotency key, so that a request sent again is a new request (Cybersource: only its
   * duplicate check, the merchant reference within 15 minutes, stands between a resend and a second transaction). An
   * attempt with no recorded end (a worker killed mid-call, revived by the recovery sweep, maybe after every worker
   * was down for longer than that check) is then never sent again before a status inquiry: the operation becomes
   * UNKNOWN and takes that path (its search lag and horizon included). Per command: one whose resend moves no money
   * and whose inquiry cannot find it (Cybersource's tokenize) is sent again as before. Default: for none.
   */
  resendIsNewRequest?(command: CommandType): boolean;
  /** Status inquiry for an operation whose outcome is PENDING, UNKNOWN or UNRESOLVED. */
  buildStatusRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest;
  /** `null` when the PSP has no trace of the operation (it never landed: safe to send again). */
  parseStatusResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome | null;
  /**
   * A status inquiry whose answer is one page of a list the PSP pages (Stripe's refunds of a PaymentIntent, 100 a
   * page): the request for the page after `response`, when `parseStatusResponse` found nothing on it and the PSP
   * says more follow; `null` when the list ends there. An answer that says neither throws a `GatewayError`: a miss
   * on a page is no proof of "no trace" while later pages may hold the operation. The inquiry reads at most
   * `STATUS_INQUIRY_MAX_PAGES` pages (`delivery/status-inquiry.ts`). Optional: every answer is the whole answer.
   */
  nextStatusPage?(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayRequest | null;
  /**
   * A second request an inquiry sends when its first answer asks for one (see `StatusFollowUp`). Optional: a
   * transformer that declares none answers every inquiry with one request.
   */
  readonly statusFollowUp?: StatusFollowUp;
  /** Adds authentication (API key, HTTP Signature…) at `now`. Pure. */
  authenticate(request: GatewayRequest, gateway: GatewayConfig, now: Date): GatewayRequest;
  /** Verifies a webhook's signature on the raw body, in constant time, at `now`. */
  verifyWebhook(rawBody: Buffer, headers: Record<string, string>, gateway: GatewayConfig, now: Date): boolean;
  /**
   * For a PSP whose webhook signature names the key that made it (Cybersource `keyId`): the key id a webhook
   * names ('' for none) when it is no key of the gateway's (`webhook_key_id`, `webhook_key_id_previous`), else
   * undefined. The route refuses such a webhook (401, `unknown_key_id`, the id logged) without checking any
   * signature. Optional: a PSP whose signatures name no key declares none.
   */
  unheldWebhookKey?(headers: Record<string, string>, gateway: GatewayConfig): string | undefined;
  /**
   * Normalises a verified webhook into zero or more events (Adyen batches several). An item it cannot read
   * or does not know is reported to `skipped` and left out, so the PSP's acknowledgement never hangs on it
   * and the other items of a batch are kept; throws only when the body as a whole is not a notification.
   */
  parseWebhook(rawBody: Buffer, gateway: GatewayConfig, skipped?: (item: SkippedWebhookItem) => void): WebhookEvent[];
  /** What the PSP expects as the answer to an accepted webhook (Adyen: `[accepted]`). */
  webhookAck(): WebhookAck;
  /**
   * The request that completes an operation waiting in ACTION_REQUIRED with what the storefront sent back
   * (`payment.action_result`); its answer is read by `parseResponse`. Optional: a PSP whose actions complete
   * by webhook declares none (src/delivery/action-completion.ts).
   */
  buildActionCompletionRequest?(ctx: OperationContext, result: ActionResult, gateway: GatewayConfig): GatewayRequest;
}

/** How far back a status inquiry of `transformer` about `command` searches, ms (`inquiryHorizonMs`; 0, unbounded, when it declares none). */
export function inquiryHorizonOf(transformer: GatewayTransformer, command: CommandType): number {
  return transformer.inquiryHorizonMs ? transformer.inquiryHorizonMs(command) : 0;
}

/** How long a status inquiry of `transformer` about `command` may miss an operation the PSP holds, ms (`inquiryLagMs`; 0 when it declares none). */
export function inquiryLagOf(transformer: GatewayTransformer, command: CommandType): number {
  return transformer.inquiryLagMs ? transformer.inquiryLagMs(command) : 0;
}

/** The declared `inquiry` capability of `transformer` for `command`; `supported` when it declares none. */
export function inquirySupport(transformer: GatewayTransformer, command: CommandType): InquirySupport {
  return transformer.inquiry ? transformer.inquiry(command) : 'supported';
}
