import { GatewayError } from '../../errors/gateway-error';
import { ConfirmedMoney, withConfirmedMoney } from '../../money/psp-currency-table';
import { cybersourceConfirmedMoney } from './cybersource-currencies';
import { GatewayOutcome, GatewayResponse, OperationContext } from '../gateway-adapter';
import { classifyCybersourceError } from './cybersource-errors';
import {
  CybersourceStatusMeaning,
  cybersourceRCodeMeaning,
  cybersourceStatusMeaning,
  cybersourceTokenStateMeaning,
  isCybersourceStatus,
  toCybersourceRCode,
  toCybersourceStatus,
  toCybersourceTokenState,
} from './cybersource-status-map';
import { cybersourceStoredToken } from './cybersource-methods';
import { payerAuthenticationAction } from './cybersource-payer-auth';
import { wantsStoredToken } from '../../contracts/payment-method';

/**
 * Cybersource REST response → our outcome. Pure.
 *
 * Declines come two ways: a 201 whose `status` is `DECLINED` (issuer refusals, with
 * `errorInformation.reason`, e.g. `INSUFFICIENT_FUND`), or a 400 whose `reason` is a business refusal
 * (`EXCEEDS_AUTH_AMOUNT`, `AUTH_ALREADY_REVERSED`…). Both become a `FAIL` outcome whose `reason` is
 * Cybersource's code. Every other non-2xx throws the classified `GatewayError`.
 */

type Json = Record<string, unknown>;

function obj(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function parseBody(response: GatewayResponse, gateway: string): Json {
  let json: unknown;
  try {
    json = JSON.parse(response.body) as unknown;
  } catch (cause) {
    throw new GatewayError('outcome_unknown', gateway, `HTTP ${response.status} with a body that is not JSON`, { httpStatus: response.status, cause });
  }
  const body = obj(json);
  if (!body)
    throw new GatewayError('outcome_unknown', gateway, `HTTP ${response.status} with a body that is not a JSON object`, { httpStatus: response.status });
  return body;
}

/**
 * The amount and currency a response confirms for its operation: ISO minor units, read with the
 * Cybersource currency table (the request's currency when the answer names none).
 */
function reportedMoney(ctx: OperationContext, body: Json): ConfirmedMoney {
  const currency = ctx.payment.currency;
  const order = obj(obj(body.orderInformation)?.amountDetails);
  switch (ctx.command) {
    case 'capture':
    case 'refund':
    case 'cancel': {
      const refund = cybersourceConfirmedMoney(obj(body.refundAmountDetails), ['refundAmount'], currency);
      if (refund.amount !== undefined) return refund;
      const reversal = cybersourceConfirmedMoney(obj(body.reversalAmountDetails), ['reversedAmount'], currency);
      if (reversal.amount !== undefined) return reversal;
      return cybersourceConfirmedMoney(order, ['totalAmount'], currency);
    }
    default:
      return cybersourceConfirmedMoney(order, ['authorizedAmount', 'totalAmount'], currency);
  }
}

function toOutcome(meaning: CybersourceStatusMeaning, gatewayStatus: string, body: Json, response: GatewayResponse, gateway: string): GatewayOutcome {
  if (meaning === 'ERROR') {
    throw new GatewayError('server_error', gateway, `cybersource reported ${gatewayStatus}`, {
      httpStatus: response.status,
      gatewayCode: str(obj(body.errorInformation)?.reason) ?? gatewayStatus,
    });
  }
  const reference = str(body.id);
  const outcome: GatewayOutcome = { status: meaning, gatewayStatus, ...(reference ? { gatewayReference: reference } : {}) };
  if (meaning === 'FAIL') outcome.reason = str(obj(body.errorInformation)?.reason) ?? str(body.reason) ?? gatewayStatus;
  return outcome;
}

/** A 400 business refusal becomes a FAIL outcome; everything else non-2xx throws. */
function failOrThrow(response: GatewayResponse, gateway: string): GatewayOutcome {
  const error = classifyCybersourceError(response, gateway);
  if (error.kind === 'declined') {
    const reason = error.details.gatewayCode ?? `HTTP_${response.status}`;
    return { status: 'FAIL', gatewayStatus: reason, reason };
  }
  throw error;
}

/**
 * Transaction Details / Search summary: the top-level `status` when it is a documented one, else
 * `applicationInformation.status`, else the documented `rCode`.
 */
function transactionOutcome(body: Json, response: GatewayResponse, gateway: string): GatewayOutcome {
  const app = obj(body.applicationInformation);
  const status = [body.status, app?.status].find(isCybersourceStatus);
  if (status !== undefined) return toOutcome(cybersourceStatusMeaning(status), status, body, response, gateway);
  if (app?.rCode !== undefined) {
    const rCode = toCybersourceRCode(app.rCode, gateway);
    const outcome = toOutcome(cybersourceRCodeMeaning(rCode), str(app.rFlag) ?? `rCode:${rCode}`, body, response, gateway);
    if (outcome.status === 'FAIL') outcome.reason = str(app.rFlag) ?? str(app.reasonCode) ?? outcome.reason;
    return outcome;
  }
  // Neither a status nor an rCode: refuse to guess.
  return toOutcome(cybersourceStatusMeaning(toCybersourceStatus(body.status ?? app?.status, gateway)), '', body, response, gateway);
}

/**
 * Maps the answer to the request {@link buildCybersourceRequest} built for `ctx`.
 *
 * - authorize / sale / revalidate: `status` of the payment; `gatewayReference` is the payment id, and
 *   revalidate's `newGatewayKey` is the new authorization's id (what capture and cancel use next).
 * - capture / refund / cancel: `PENDING` (queued for settlement) and `REVERSED` are successes.
 * - validate: the authorization's transaction details.
 * - tokenize: the TMS payment instrument; `newGatewayKey` is its id when its `state` is `ACTIVE`.
 */
export function parseCybersourceResponse(ctx: OperationContext, response: GatewayResponse, gateway: string): GatewayOutcome {
  if (response.status < 200 || response.status > 299) return failOrThrow(response, gateway);
  const body = parseBody(response, gateway);
  let outcome: GatewayOutcome;
  if (ctx.command === 'validate') {
    outcome = transactionOutcome(body, response, gateway);
  } else if (ctx.command === 'tokenize') {
    const state = toCybersourceTokenState(body.state, gateway);
    const id = str(body.id);
    outcome = { status: cybersourceTokenStateMeaning(state), gatewayStatus: state, ...(id ? { gatewayReference: id } : {}) };
    if (outcome.status === 'SUCCESS') {
      if (!id) throw new GatewayError('outcome_unknown', gateway, 'payment instrument created without an id');
      outcome.newGatewayKey = id;
    } else {
      outcome.reason = state;
    }
    return outcome;
  } else {
    const status = toCybersourceStatus(body.status, gateway);
    outcome = toOutcome(cybersourceStatusMeaning(status), status, body, response, gateway);
    // Payer Authentication asked for a challenge: the storefront's step-up (cybersource-payer-auth.ts).
    // Without the step-up data nobody could complete it, and it stays the FAIL the status map says.
    const action = status === 'PENDING_AUTHENTICATION' && ctx.command !== 'revalidate' ? payerAuthenticationAction(body) : undefined;
    if (action) {
      delete outcome.reason;
      outcome.status = 'ACTION_REQUIRED';
      outcome.action = action;
    }
    // `reversalSubmitted` "N": "The authorization reversal was not successfully submitted. You must send a
    // credit request for a refund" (processors that report it): the hold stands, whatever the status says.
    if (ctx.command === 'cancel' && outcome.status === 'SUCCESS' && obj(body.authorizationInformation)?.reversalSubmitted === 'N') {
      outcome.status = 'FAIL';
      outcome.reason = 'reversal_not_submitted';
    }
    if (ctx.command === 'revalidate' && outcome.status !== 'FAIL' && outcome.gatewayReference) outcome.newGatewayKey = outcome.gatewayReference;
    // Token on first use (actionList TOKEN_CREATE): the TMS customer created with the payment.
    if (outcome.status === 'SUCCESS' && wantsStoredToken(ctx.payment)) {
      const token = cybersourceStoredToken(body);
      if (token) outcome.storedToken = token;
    }
  }
  return withConfirmedMoney(outcome, reportedMoney(ctx, body));
}

/**
 * Maps a `POST /tss/v2/searches` answer: `null` when no transaction carries the operation's merchant
 * reference (`totalCount` 0: the request never landed), otherwise the newest transaction's outcome.
 */
export function parseCybersourceSearchResponse(ctx: OperationContext, response: GatewayResponse, gateway: string): GatewayOutcome | null {
  if (response.status === 404) return null;
  if (response.status < 200 || response.status > 299) throw classifyCybersourceError(response, gateway, { read: true });
  const body = parseBody(response, gateway);
  const summaries = obj(body._embedded)?.transactionSummaries;
  const list = Array.isArray(summaries) ? summaries.map(obj).filter((s): s is Json => s !== undefined) : [];
  if (body.totalCount === 0 || list.length === 0) {
    if (body.totalCount === 0 || body.totalCount === undefined) return null;
    throw new GatewayError('outcome_unknown', gateway, `search reports ${String(body.totalCount)} transactions but lists none`);
  }
  // Newest first (the request sorts so); the latest attempt decides.
  const newest = [...list].sort((a, b) => (str(b.submitTimeUtc) ?? '').localeCompare(str(a.submitTimeUtc) ?? ''))[0];
  const outcome = transactionOutcome(newest, response, gateway);
  withConfirmedMoney(
    outcome,
    cybersourceConfirmedMoney(obj(obj(newest.orderInformation)?.amountDetails), ['totalAmount', 'authorizedAmount'], ctx.payment.currency),
  );
  if (ctx.command === 'revalidate' && outcome.status !== 'FAIL' && outcome.gatewayReference) outcome.newGatewayKey = outcome.gatewayReference;
  // A sale is sold once captured: an AUTHORIZED sale whose transactions show no capture (`ics_bill`) done
  // was authorized only (Decision Manager holds a reviewed request's capture). It waits, never "sold".
  if (ctx.command === 'sale' && outcome.status === 'SUCCESS' && listsApplications(newest) && !list.some(captured)) {
    outcome.status = 'PENDING';
    outcome.gatewayStatus = `${outcome.gatewayStatus} (not captured)`;
  }
  return outcome;
}

function applicationsOf(summary: Json): Json[] {
  const apps = obj(summary.applicationInformation)?.applications;
  return Array.isArray(apps) ? apps.map(obj).filter((a): a is Json => a !== undefined) : [];
}

function listsApplications(summary: Json): boolean {
  return applicationsOf(summary).length > 0;
}

/** Whether a transaction summary shows a capture done: its `ics_bill` application succeeded (rCode 1). */
function captured(summary: Json): boolean {
  return applicationsOf(summary).some((a) => a.name === 'ics_bill' && String(a.rCode) === '1');
}
