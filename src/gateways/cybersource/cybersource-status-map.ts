import { GatewayError } from '../../errors/gateway-error';
import { pspValueText } from '../../errors/psp-text';
import { assertNever } from '../assert-never';
import { OutcomeStatus } from '../gateway-adapter';

/**
 * Every transaction `status` Cybersource documents, and what each means for us.
 *
 * Source: cybersource-payments-2020-02-17.json, the "Possible values" of each 2xx/4xx/5xx response's
 * `status` (payments, reversals, captures, refunds, voids, credits, payouts, risk decisions), the
 * Transaction Search/Details examples (`TRANSMITTED`), and the statuses later API versions added for
 * the same endpoints (`AUTHORIZED_RISK_DECLINED`, `PENDING_AUTHENTICATION`, `PENDING_REVIEW`; the reversal's
 * `PARTIALLY_REVERSED`, the void's `FAILED` and `CANCELLED`: cybersource-rest-client `PtsV2PaymentsReversalsPost201Response`,
 * `PtsV2PaymentsVoidsPost201Response`, "VOIDED, CANCELLED, FAILED"). The void's `CANCELLED` is documented without its
 * meaning: it says neither that the void was done nor that it was not, and a guess either way misstates money, so it
 * decides nothing (`PENDING`): the status inquiry reads the void's `ics_void`.
 */
export const CYBERSOURCE_STATUSES = [
  'AUTHORIZED',
  'PARTIAL_AUTHORIZED',
  'AUTHORIZED_PENDING_REVIEW',
  'AUTHORIZED_RISK_DECLINED',
  'PENDING_AUTHENTICATION',
  // Payer Authentication: the validation (or a frictionless check) refused the cardholder (201).
  'AUTHENTICATION_FAILED',
  'PENDING_REVIEW',
  'DECLINED',
  'INVALID_REQUEST',
  'PENDING',
  'TRANSMITTED',
  'COMPLETED',
  'REVERSED',
  // A reversal of part of an authorization (the remainder partial captures left), or of less than asked.
  'PARTIALLY_REVERSED',
  'VOIDED',
  'ACCEPTED',
  'REJECTED',
  // A void that was not done (201).
  'FAILED',
  // A void's 201, its meaning undocumented.
  'CANCELLED',
  'SERVER_ERROR',
] as const;
export type CybersourceStatus = (typeof CYBERSOURCE_STATUSES)[number];

/**
 * The statuses documented for a void's answer only (`PtsV2PaymentsVoidsPost201Response`): from any other request, or
 * in a search summary of any other transaction, they are no documented result (asked about, never read).
 */
export const CYBERSOURCE_VOID_ONLY_STATUSES: ReadonlySet<CybersourceStatus> = new Set<CybersourceStatus>(['FAILED', 'CANCELLED']);

/** What a status means: an outcome, or `ERROR` (the PSP failed; classify as a retryable error). */
export type CybersourceStatusMeaning = OutcomeStatus | 'ERROR';

/** Exhaustive: a new status is a compile error here, never a quiet PENDING. */
export function cybersourceStatusMeaning(status: CybersourceStatus): CybersourceStatusMeaning {
  switch (status) {
    case 'AUTHORIZED':
      return 'SUCCESS';
    case 'PARTIAL_AUTHORIZED':
      // Funds are held, for less than asked: a success whose outcome carries the authorized amount.
      return 'SUCCESS';
    case 'AUTHORIZED_PENDING_REVIEW':
    case 'PENDING_REVIEW':
      // Decision Manager review: the case decision arrives by webhook or status inquiry.
      return 'PENDING';
    case 'AUTHORIZED_RISK_DECLINED':
      // The issuer approved; Decision Manager rejected after the authorization. The order fails, and the
      // funds stay held until reversed: the outcome says so (`cybersourceStatusHoldsFunds`) and the bridge voids it.
      return 'FAIL';
    case 'PENDING_AUTHENTICATION':
      // 3-D Secure challenge needed. With the step-up data of Payer Authentication the response parser
      // makes it ACTION_REQUIRED (cybersource-payer-auth.ts); without, nobody could complete it.
      return 'FAIL';
    case 'AUTHENTICATION_FAILED':
      return 'FAIL';
    case 'DECLINED':
    case 'INVALID_REQUEST':
    case 'REJECTED':
    case 'FAILED':
      return 'FAIL';
    case 'PENDING':
      // Captures, refunds and credits: accepted and queued for the settlement batch. The money effect
      // is decided (only a void undoes it), so the OMS hears success now.
      return 'SUCCESS';
    // PARTIALLY_REVERSED: the reversal was made for `reversalAmountDetails.reversedAmount`, the amount the outcome
    // confirms; one below the amount asked is reported as the PSP's figure and flagged (outcome-recorder.ts).
    case 'TRANSMITTED':
    case 'COMPLETED':
    case 'REVERSED':
    case 'PARTIALLY_REVERSED':
    case 'VOIDED':
    case 'ACCEPTED':
      return 'SUCCESS';
    case 'CANCELLED':
      // A void's: documented beside VOIDED and FAILED without saying whether it voided. Decides nothing: the status
      // inquiry finds the void done (`ics_void`, VOIDED) or not.
      return 'PENDING';
    case 'SERVER_ERROR':
      return 'ERROR';
    default:
      return assertNever(status, 'cybersource status');
  }
}

/**
 * Whether a status that fails the operation still leaves an authorization holding the customer's funds:
 * `AUTHORIZED_RISK_DECLINED` (Decision Manager rejected after the issuer approved; Cybersource asks the
 * merchant to reverse it). A soft decline is `AUTHORIZED_PENDING_REVIEW` (PENDING), not a failure.
 */
export function cybersourceStatusHoldsFunds(status: CybersourceStatus): boolean {
  return status === 'AUTHORIZED_RISK_DECLINED';
}

export function isCybersourceStatus(value: unknown): value is CybersourceStatus {
  return typeof value === 'string' && (CYBERSOURCE_STATUSES as readonly string[]).includes(value);
}

/** Narrows a response's `status`; anything undocumented is `outcome_unknown`, never a guess. */
export function toCybersourceStatus(value: unknown, gateway: string): CybersourceStatus {
  if (isCybersourceStatus(value)) return value;
  throw new GatewayError('outcome_unknown', gateway, `undocumented cybersource status ${pspValueText(value)}`, {
    gatewayCode: typeof value === 'string' ? value : undefined,
  });
}

/** Token Management Service token `state` values (spec: "Valid values: ACTIVE, CLOSED"). */
export const CYBERSOURCE_TOKEN_STATES = ['ACTIVE', 'CLOSED'] as const;
export type CybersourceTokenState = (typeof CYBERSOURCE_TOKEN_STATES)[number];

export function cybersourceTokenStateMeaning(state: CybersourceTokenState): OutcomeStatus {
  switch (state) {
    case 'ACTIVE':
      return 'SUCCESS';
    case 'CLOSED':
      return 'FAIL';
    default:
      return assertNever(state, 'cybersource token state');
  }
}

export function toCybersourceTokenState(value: unknown, gateway: string): CybersourceTokenState {
  if (typeof value === 'string' && (CYBERSOURCE_TOKEN_STATES as readonly string[]).includes(value)) return value as CybersourceTokenState;
  throw new GatewayError('outcome_unknown', gateway, `undocumented cybersource token state ${pspValueText(value)}`, {
    gatewayCode: typeof value === 'string' ? value : undefined,
  });
}

/** Transaction Search/Details `rCode` values (spec: "-1: an error occurred, 0: declined, 1: successful"). */
export const CYBERSOURCE_RCODES = ['-1', '0', '1'] as const;
export type CybersourceRCode = (typeof CYBERSOURCE_RCODES)[number];

/** Used only when a transaction summary carries no `status`. Exhaustive. */
export function cybersourceRCodeMeaning(rCode: CybersourceRCode): CybersourceStatusMeaning {
  switch (rCode) {
    case '1':
      return 'SUCCESS';
    case '0':
      return 'FAIL';
    case '-1':
      return 'ERROR';
    default:
      return assertNever(rCode, 'cybersource rCode');
  }
}

export function toCybersourceRCode(value: unknown, gateway: string): CybersourceRCode {
  if (typeof value === 'string' && (CYBERSOURCE_RCODES as readonly string[]).includes(value)) return value as CybersourceRCode;
  throw new GatewayError('outcome_unknown', gateway, `undocumented cybersource rCode ${pspValueText(value)}`);
}
