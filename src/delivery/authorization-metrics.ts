import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';

/**
 * `pb_authorization_refusals_total{gateway,reason}`: dependent commands (capture, cancel, refund, validate,
 * revalidate) refused against their authorization before any gateway call. `reason` is a bounded set:
 * authorization_scope_mismatch, currency_mismatch, amount_exceeds_authorized, amount_held_by_failed_capture,
 * amount_exceeds_captured, amount_held_by_failed_refund, capture_held_for_psp_retry, captured_by_psp_retry, capture_already_made,
 * amount_too_small_to_convert, AUTHORIZATION_FAILED, AUTHORIZATION_RELEASED, AUTHORIZATION_REFERENCE_MISSING,
 * VOID_WINDOW_PASSED, UNSUPPORTED_COMMAND, CARD_DATA_REJECTED.
 */
export function authorizationRefusals(): Counter<'gateway' | 'reason'> {
  return counter(
    'pb_authorization_refusals_total',
    'Dependent commands refused against their authorization (scope, currency, amount, failed), by gateway and reason',
    ['gateway', 'reason'],
  );
}

/**
 * `pb_refund_notices_withheld_total{gateway}`: refund pre-notices (PENDINGRELEASE) not recorded because the refund had
 * moved since the read the notice was decided on (another worker refused, sent or settled it meanwhile): the OMS hears
 * what that worker reports instead, never a PENDINGRELEASE after it.
 */
export function refundNoticesWithheld(): Counter<'gateway'> {
  return counter(
    'pb_refund_notices_withheld_total',
    'Refund pre-notices (PENDINGRELEASE) not recorded because another worker moved the refund after the read they were decided on, by gateway',
    ['gateway'],
  );
}

/**
 * `pb_psp_discrepancies_total{gateway,field}`: outcomes whose PSP-confirmed amount or currency differs from
 * the command's (`field`: amount | currency). The event reports the PSP's figure with a `discrepancy` flag.
 */
export function pspDiscrepancies(): Counter<'gateway' | 'field'> {
  return counter('pb_psp_discrepancies_total', 'Outcomes whose PSP-confirmed amount or currency differs from what the command asked, by gateway and field', [
    'gateway',
    'field',
  ]);
}

/**
 * `pb_stored_card_discrepancies_total{gateway,field}`: stored cards (tokenize, a payment storing its method)
 * the PSP confirmed with another last four digits or expiry than the command's `method_details.card`
 * (`field`: last_four_digits | expiration_month | expiration_year). The event flags it (`stored_card.discrepancy`).
 */
export function storedCardDiscrepancies(): Counter<'gateway' | 'field'> {
  return counter(
    'pb_stored_card_discrepancies_total',
    'Stored cards the PSP confirmed with other last four digits or expiry than the command described, by gateway and field',
    ['gateway', 'field'],
  );
}

/**
 * `pb_network_transaction_ids_total{gateway,found}`: authorizes and sales that SUCCEEDED, by whether the PSP named the
 * payment's network transaction id (`found`: yes | no), which the record and the event then carry
 * (`payment.network_transaction_id`). A gateway with only `no` does not return it (docs/EVENTS.md).
 */
export function networkTransactionIds(): Counter<'gateway' | 'found'> {
  return counter(
    'pb_network_transaction_ids_total',
    'Authorizations and sales that succeeded, by gateway and whether the PSP named their network transaction id (yes, no)',
    ['gateway', 'found'],
  );
}

/**
 * `pb_authorization_reference_lookups_total{gateway,result}`: dependent commands whose `gateway_key` is not
 * one of our operation ids, looked up as a PSP reference before sending. `result`: authorization (checked
 * in full), related (another operation of the same payment: scope and currency checked), unknown (sent as
 * given, unchecked).
 */
export function authorizationReferenceLookups(): Counter<'gateway' | 'result'> {
  return counter(
    'pb_authorization_reference_lookups_total',
    'Dependent commands naming a PSP reference, by gateway and what the reference index found (authorization, related, unknown)',
    ['gateway', 'result'],
  );
}

/**
 * `pb_authorization_reference_elsewhere_total{gateway,holder}`: dependent commands naming a PSP reference
 * that was found at another configured gateway than the one they name (`gateway`): the authorization was
 * routed or failed over to `holder`, where the command is then sent. Gateway names are configuration, bounded.
 */
export function authorizationReferenceElsewhere(): Counter<'gateway' | 'holder'> {
  return counter(
    'pb_authorization_reference_elsewhere_total',
    'Dependent commands whose PSP reference was found at another gateway than the one they name (routed or failed-over authorizations), by named gateway and holder',
    ['gateway', 'holder'],
  );
}

/**
 * `pb_dependents_waiting_total{gateway,command}`: checks of a capture or refund that waited for siblings of the
 * same authorization in flight ahead of it (`siblingsAhead`), of a cancel that waited for captures of its
 * authorization in flight at a gateway that builds its cancel from the captures (`capturesInFlight`), or of any
 * other wait for an operation of the same payment (voids, refunds: `DeliveryService.waitingForSiblings`), counted at
 * each check (first every `delivery.backoff_base_ms`, then less often as the wait grows: dependent-wait.ts).
 */
export function dependentsWaiting(): Counter<'gateway' | 'command'> {
  return counter(
    'pb_dependents_waiting_total',
    'Checks of a capture, cancel or refund that waited for other operations of the same payment in flight (captures, refunds, voids; the reasons are in pb_delivery_dependent_waits_total), by gateway and command',
    ['gateway', 'command'],
  );
}

/**
 * `pb_authorization_expiry_starts_total{gateway,from}`: authorizations recorded as succeeded, by the time their
 * expiry was counted from (`from`: psp, first_attempt, created, recorded; see `authorizationStart`).
 */
export function authorizationExpiryStarts(): Counter<'gateway' | 'from'> {
  return counter(
    'pb_authorization_expiry_starts_total',
    'Authorizations recorded as succeeded, by gateway and the time their expiry was counted from (psp, first_attempt, created, recorded)',
    ['gateway', 'from'],
  );
}

/**
 * `pb_cancels_of_captured_total{gateway,captured_by,outcome,reason}`: cancels of an authorization our ledger
 * shows captured already, at their first attempt, once the request is built. `captured_by`: `sale`, `capture`
 * (one capture that took all of it, or captures whose amounts are not all known): such a cancel undoes a capture
 * (Cybersource: a void), which the PSP refuses once it has settled: then only a refund returns the money;
 * `partial_capture` (captures that left part of it): the cancel releases that remainder and undoes no capture;
 * `several_captures` (several captures took all of it): nothing to release and no one capture to void.
 * `outcome`: `sent` (asked of the gateway; `reason` `none`) or `refused` (the gateway refused to build it, nothing
 * sent; `reason` its code: Cybersource `SEVERAL_CAPTURES_TO_VOID`, `CAPTURE_REFUNDED` (refunds of the sale or
 * capture it would void stand), `CAPTURED_AMOUNT_UNKNOWN`, `CAPTURE_REFERENCE_MISSING`, …).
 */
export function cancelsOfCaptured(): Counter<'gateway' | 'captured_by' | 'outcome' | 'reason'> {
  return counter(
    'pb_cancels_of_captured_total',
    'Cancels of an authorization already captured, at their first attempt, by gateway, captured_by (sale; capture: one capture took all of it, the cancel voids; partial_capture: captures left part of it, the cancel releases that remainder and voids none; several_captures: several took all of it), outcome (sent, or refused unsent) and reason (the refusal code, none when sent)',
    ['gateway', 'captured_by', 'outcome', 'reason'],
  );
}

/**
 * `pb_captures_undone_total{gateway,command,by}`: captures and sales held SUCCEEDED marked undone (`undone_by`),
 * their amount no longer captured money a refund can give back. `by`: `capture_failed` (the PSP said later the
 * capture failed: an adjustment), `void` (a cancel of ours voided it: Cybersource).
 */
export function capturesUndone(): Counter<'gateway' | 'command' | 'by'> {
  return counter(
    'pb_captures_undone_total',
    'Captures and sales the ledger held SUCCEEDED marked undone, no longer counted as captured money a refund can give back, by gateway, command and by (capture_failed: the PSP later said the capture failed; void: a cancel voided it)',
    ['gateway', 'command', 'by'],
  );
}

/**
 * `pb_cancel_void_guards_total{gateway,guard}`: checks where a guard between a cancel that builds on the captures
 * standing (Cybersource) and the captures or refunds of the same payment held something back. `guard`:
 * `refund_waits_for_void` (a refund waited for a cancel registered before it that would void what it refunds),
 * `capture_not_yet_delivered` (a cancel waited for a capture of its authorization on record but not yet
 * registered: accepted, its delivery not yet run), `retry_reading_changed` (a cancel's retry was sent on the
 * reading of its first attempt while the ledger now reads otherwise: never another request under one key),
 * `void_waits_for_void` (a cancel waited for another void of the same capture or refund not yet decided: a second
 * cancel naming it, or a cancel of its authorization and one naming its capture), `void_waits_for_capture_void` (a
 * cancel voiding a capture waited for the void of another capture of the payment not yet decided: both would return
 * what its refunds need kept), `void_waits_for_refund` (a cancel voiding a capture waited for refunds of the payment in
 * flight: only with them would the refunds give back more than the other captures collected).
 */
export function cancelVoidGuards(): Counter<'gateway' | 'guard'> {
  return counter(
    'pb_cancel_void_guards_total',
    'Checks where a guard between a Cybersource cancel and the captures or refunds of its payment held something back, by gateway and guard (refund_waits_for_void, capture_not_yet_delivered, retry_reading_changed, void_waits_for_void, void_waits_for_capture_void, void_waits_for_refund)',
    ['gateway', 'guard'],
  );
}

/**
 * `pb_cancels_of_failed_authorizations_total{gateway,held}`: cancels (the OMS's, not the bridge's own reversals, which
 * count as such) naming an authorization or sale the ledger holds FAILED and not marked done after all (by PSP
 * reference; by our operation id, only with a late success on record), at their first attempt. `held`: `late_success` (a `succeeded_after_failure` recorded on it says what the PSP
 * holds after all: the cancel asks no more than that), `unknown` (nothing on record says it holds anything: sent for its
 * own amount, never its refusal's figure; the PSP decides).
 */
export function cancelsOfFailedAuthorizations(): Counter<'gateway' | 'held'> {
  return counter(
    'pb_cancels_of_failed_authorizations_total',
    'Cancels naming an authorization the ledger holds FAILED (by PSP reference, or by id with a late success on record), at their first attempt, by gateway and held (late_success: asked no more than a recorded success after failure confirmed; unknown: sent for their own amount, the PSP decides)',
    ['gateway', 'held'],
  );
}

/**
 * `pb_refunds_refused_for_outside_refunds_total{gateway}`: refunds of ours refused `amount_exceeds_captured` that would
 * have fit but for what the PSP refunded of the payment outside the bridge (its `refund_outside_bridge` adjustments
 * standing): money a Customer Area or Dashboard refund gave back already, which the PSP would have refused to give again.
 */
export function refundsRefusedForOutsideRefunds(): Counter<'gateway'> {
  return counter(
    'pb_refunds_refused_for_outside_refunds_total',
    'Refunds of ours refused amount_exceeds_captured (a split tender refund amount_exceeds_refundable, for its card part) that would have fit but for what the PSP refunded of the payment outside the bridge (refund_outside_bridge), by gateway',
    ['gateway'],
  );
}

/**
 * `pb_held_for_psp_retry_total{gateway,command}`: open captures and refunds recorded FAILED whose PSP documents that it
 * retries them itself (Adyen's CAPTURE_FAILED or REFUND_FAILED for a technical issue): their amount stays held, so a
 * second capture of it is refused `amount_held_by_failed_capture`, a second refund `amount_held_by_failed_refund`,
 * until the PSP's retry (or a person) settles it.
 */
export function heldForPspRetry(): Counter<'gateway' | 'command'> {
  return counter(
    'pb_held_for_psp_retry_total',
    'Open captures and refunds recorded FAILED whose PSP retries them itself (Adyen CAPTURE_FAILED or REFUND_FAILED, technical issue): their amount stays held, by gateway and command',
    ['gateway', 'command'],
  );
}
