import type { GatewayConfig } from '../gateway-config';
import { GatewayError } from '../../errors/gateway-error';
import { counter } from '../../metrics/metrics-registry';
import { readConfirmedMoney } from '../../money/psp-currency-table';
import { GatewayOutcome, GatewayResponse, OperationContext, idempotencyKeyOf } from '../gateway-adapter';
import { classifyAdyenError, isTransient, replayNotFound } from '../adyen/adyen-errors';
import { idempotencyKeyFor } from '../adyen/adyen-references';
import { ADYEN_SV_CURRENCIES } from './adyen-stored-value-currencies';
import { isKnownRefusalText } from './adyen-stored-value-declines';
import { mapSvResultCode } from './adyen-stored-value-status-map';

/**
 * Reading Stored Value API v46 answers. Every 200 is a `StoredValue*Response` (`resultCode`, `pspReference`,
 * `currentBalance`, `refusalReason`); anything else is a `ServiceError`, classified like Checkout's
 * (`classifyAdyenError`: 401/403 authentication, 429 rate limited, 5xx retryable, 4xx invalid request), except
 * a 5xx to a request that changes a card (`classifyAdyenSvError`).
 *
 * What an outcome confirms:
 * - balance_inquiry: `amount`/`currency` are the card's balance (`currentBalance`), which the event reports
 *   as `balance`, never as a discrepancy;
 * - reload, refund (a `merchandiseReturn` load): Adyen's answer (`StoredValueLoadResponse`) names no loaded
 *   amount, only the card's new balance: `Success` confirms the load of the `amount` sent, so on a card in
 *   the command's currency (`currentBalance.currency`) that amount is confirmed; on a card in another
 *   currency only that currency is (flagged), never the asked number as if it were in the card's currency;
 * - issue: a new card's `currentBalance` is its first balance, what Adyen loaded: the confirmed amount, so a
 *   card issued with another balance than asked is flagged;
 * - the others move no money of the order (`currency` only, when Adyen names the card's).
 * The issued card's number and PIN (`paymentMethod` of an `/issue` answer) are never read.
 */

type Json = Record<string, unknown>;

function parseJson(response: GatewayResponse, gateway: string): Json {
  try {
    const parsed: unknown = JSON.parse(response.body);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Json;
  } catch {
    // fall through: a 2xx we cannot read leaves the effect unknown
  }
  throw new GatewayError('outcome_unknown', gateway, `unreadable Adyen Stored Value answer (HTTP ${response.status})`, { httpStatus: response.status });
}

function str(o: Json, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** `currentBalance` in ISO minor units (empty when absent or unreadable). */
export function currentBalanceOf(body: Json): { amount?: number; currency?: string } {
  const balance = body.currentBalance;
  if (balance === null || typeof balance !== 'object') return {};
  const { value, currency } = balance as Json;
  return readConfirmedMoney(ADYEN_SV_CURRENCIES, value, currency, 'currentBalance.value');
}

/**
 * A non-2xx answer as a `GatewayError`: `classifyAdyenError`, except a 5xx to a request that changes a card
 * (any command but a balance inquiry) without `Transient-Error: true` (Adyen's mark of a request it did not
 * process): the request may have been performed, so it is `outcome_unknown`, resolved by the status inquiry,
 * whose replay is trusted as one only when Adyen echoes the key (`parseAdyenSvStatusResponse`). As a
 * `server_error` it would be sent again and its answer read as the first: a void done before the 500 then
 * refused the second time would be FAILED. A 5xx of errorType `validation` stays `classifyAdyenError`'s
 * `invalid_request`: Adyen's incorrect request, not performed ("Our servers may return a 500 status code also when the
 * request is incorrect", https://docs.adyen.com/development-resources/response-handling; the v46 spec documents no
 * 422). docs.adyen.com/errors ("5xx: errors with Adyen's servers") describes other APIs' RFC 7807 answers.
 */
export function classifyAdyenSvError(ctx: OperationContext, response: GatewayResponse, gateway: string): GatewayError {
  const err = classifyAdyenError(response, gateway);
  if (err.kind !== 'server_error' || response.status < 500 || ctx.command === 'balance_inquiry' || isTransient(response)) return err;
  return new GatewayError(
    'outcome_unknown',
    gateway,
    `server error (HTTP ${response.status}, errorCode ${err.details.gatewayCode ?? '-'}): the request may have been performed`,
    err.details,
  );
}

/** The outcome of the answer to `buildAdyenSvRequest(ctx)`; non-2xx answers throw a classified `GatewayError`. */
export function parseAdyenSvResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
  if (response.status < 200 || response.status >= 300) throw classifyAdyenSvError(ctx, response, gateway.name);
  const body = parseJson(response, gateway.name);
  const resultCode = str(body, 'resultCode');
  if (resultCode === undefined) {
    throw new GatewayError('outcome_unknown', gateway.name, `Adyen Stored Value answer without resultCode (HTTP ${response.status})`, {
      httpStatus: response.status,
    });
  }
  const status = mapSvResultCode(resultCode, gateway.name);
  const outcome: GatewayOutcome = { status, gatewayStatus: resultCode };
  const pspReference = str(body, 'pspReference');
  if (pspReference) outcome.gatewayReference = pspReference;
  const balance = currentBalanceOf(body);
  if (ctx.command === 'balance_inquiry') {
    if (balance.amount !== undefined) outcome.amount = balance.amount;
    if (balance.currency !== undefined) outcome.currency = balance.currency;
  } else if (balance.currency !== undefined) {
    outcome.currency = balance.currency;
    // What a load put on a card in another currency is not in Adyen's answer: the currency alone says so.
    const loaded = (ctx.command === 'reload' || ctx.command === 'refund') && status === 'SUCCESS';
    if (loaded && balance.currency === ctx.payment.currency.toUpperCase()) outcome.amount = ctx.payment.amount;
    // A new card held nothing before: its balance is what was issued, whatever the command asked.
    if (ctx.command === 'issue' && status === 'SUCCESS' && balance.amount !== undefined) outcome.amount = balance.amount;
  }
  if (status === 'FAIL') {
    // A listed refusal reason text is the reason; free text never is (it may echo anything).
    const refusal = str(body, 'refusalReason');
    outcome.reason = resultCode === 'NotEnoughBalance' || refusal === undefined || !isKnownRefusalText(refusal) ? resultCode : refusal;
  }
  return outcome;
}

/** `gatewayCode` of a refusal to a replay Adyen did not confirm as one (see `parseAdyenSvStatusResponse`). */
export const ADYEN_SV_REPLAY_UNCONFIRMED = 'ADYEN_SV_REPLAY_UNCONFIRMED';

const unconfirmedReplays = counter(
  'pb_adyen_sv_replays_unconfirmed_total',
  'Adyen Stored Value status inquiries (the request replayed under its Idempotency-Key) whose answer did not echo the key, by gateway and result: refused (read as outcome unknown, never as a failure of the first attempt) or success (recorded; the request may have been performed twice)',
  ['gateway', 'result'],
);

/**
 * Whether Adyen says it processed the answered request idempotently under our key: "To verify that a request
 * was processed idempotently, check the idempotency-key HTTP header returned in the response"
 * (https://docs.adyen.com/development-resources/api-idempotency). Header names compared case-insensitively.
 */
export function replayConfirmed(ctx: OperationContext, response: GatewayResponse): boolean {
  const key = idempotencyKeyFor(idempotencyKeyOf(ctx));
  for (const [name, value] of Object.entries(response.headers)) if (name.toLowerCase() === 'idempotency-key' && value.trim() === key) return true;
  return false;
}

/**
 * Status inquiry: the Stored Value API has no lookup, so the inquiry sends the original request again with
 * the same `Idempotency-Key` (Adyen replays the stored answer of an idempotent request, or performs it
 * now if it never landed): either way the operation is resolved once. Never `null`: a 404 is
 * `outcome_unknown` (`replayNotFound`), asked again, never read as "never landed".
 *
 * Adyen's Stored Value spec declares no `Idempotency-Key` (its Checkout spec does), so a replay is trusted as
 * one only when its answer echoes the key. A refusal Adyen did not confirm as a replay may be the answer to a
 * second request that the first one's effect made fail (a void or a status change already done, a merge's
 * source card already emptied): `outcome_unknown` (`ADYEN_SV_REPLAY_UNCONFIRMED`), asked again and, if it
 * stays so, UNRESOLVED with its alert; never FAILED on it, whether Adyen refused it with a `resultCode` or with a
 * ServiceError (`invalid_request`: a 4xx, a 5xx of errorType `validation`). A balance inquiry moves nothing: its answer is read
 * as it is. A `Success` is what Adyen did (recorded), counted when unconfirmed: a load may then have been
 * performed twice (docs/UNRESOLVED-AND-WEBHOOK-ONLY.md).
 */
export function parseAdyenSvStatusResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
  if (response.status === 404) throw replayNotFound(response, gateway.name);
  const trusted = ctx.command === 'balance_inquiry' || replayConfirmed(ctx, response);
  let outcome: GatewayOutcome;
  try {
    outcome = parseAdyenSvResponse(ctx, response, gateway);
  } catch (err) {
    // A refusal as a ServiceError (a 4xx, a 5xx of errorType validation) is a refusal too: the second void, status
    // change or merge refused because the first one landed would otherwise fail the operation for good.
    if (trusted || !(err instanceof GatewayError) || err.kind !== 'invalid_request') throw err;
    unconfirmedReplays.inc({ gateway: gateway.name, result: 'refused' });
    throw new GatewayError(
      'outcome_unknown',
      gateway.name,
      `the replayed request was refused (HTTP ${response.status}, errorCode ${err.details.gatewayCode ?? '-'}) without echoing its Idempotency-Key: not known to be the first attempt's answer`,
      { httpStatus: response.status, gatewayCode: ADYEN_SV_REPLAY_UNCONFIRMED },
    );
  }
  if (trusted) return outcome;
  unconfirmedReplays.inc({ gateway: gateway.name, result: outcome.status === 'SUCCESS' ? 'success' : 'refused' });
  if (outcome.status === 'SUCCESS') return outcome;
  throw new GatewayError(
    'outcome_unknown',
    gateway.name,
    `the replayed request answered ${outcome.gatewayStatus ?? outcome.status} without echoing its Idempotency-Key: not known to be the first attempt's answer`,
    { httpStatus: response.status, gatewayCode: ADYEN_SV_REPLAY_UNCONFIRMED },
  );
}
