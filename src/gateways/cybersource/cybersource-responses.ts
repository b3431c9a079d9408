import { GatewayError } from '../../errors/gateway-error';
import { ConfirmedMoney, withConfirmedMoney } from '../../money/psp-currency-table';
import { cybersourceConfirmedMoney } from './cybersource-currencies';
import { ExtraHold, GatewayOutcome, GatewayResponse, NamedVoid, OperationContext, StatusAnswer, uncapturedRemainder } from '../gateway-adapter';
import { CommandType } from '../../contracts/payment-command';
import { CYBERSOURCE_502_REASONS, classifyCybersourceError, cybersourceErrorCode, kindOf502Reason } from './cybersource-errors';
import {
  CYBERSOURCE_VOID_ONLY_STATUSES,
  CybersourceStatus,
  CybersourceStatusMeaning,
  cybersourceRCodeMeaning,
  cybersourceStatusHoldsFunds,
  cybersourceStatusMeaning,
  cybersourceTokenStateMeaning,
  isCybersourceStatus,
  toCybersourceRCode,
  toCybersourceStatus,
  toCybersourceTokenState,
} from './cybersource-status-map';
import { cybersourceStoredToken } from './cybersource-methods';
import { cybersourceDecisionManagerRejected, cybersourceReasonStatus } from './cybersource-reason-codes';
import { payerAuthenticationAction } from './cybersource-payer-auth';
import { isMerchantInitiatedCharge, wantsStoredToken } from '../../contracts/payment-method';
import { merchantReference } from './cybersource-requests';
import { StoredCard, storedCardOf } from '../stored-card';
import { networkTransactionIdOf } from '../network-transaction-id';
import { pspIsoTimeMs } from '../psp-time';
import { counter } from '../../metrics/metrics-registry';

/**
 * Cybersource REST response → our outcome. Pure.
 *
 * Declines come two ways: a 201 whose `status` is `DECLINED` (issuer refusals, with
 * `errorInformation.reason`, e.g. `INSUFFICIENT_FUND`), or a 400 whose `reason` is a business refusal
 * (`EXCEEDS_AUTH_AMOUNT`, `AUTH_ALREADY_REVERSED`…). Both become a `FAIL` outcome whose `reason` is
 * Cybersource's code. Every other non-2xx throws the classified `GatewayError`.
 */

type Json = Record<string, unknown>;

const releasedFound = counter(
  'pb_cybersource_inquiry_released_total',
  "Cybersource status inquiries that found the authorization (or sale) released by a reversal or void the bridge did not send, under its merchant reference: never authorized; read FAIL when the whole of it was released after it was made, else PENDING (the operation's history shows the status '(released)')",
  ['gateway'],
);

const voidedFound = counter(
  'pb_cybersource_inquiry_voided_total',
  "Cybersource status inquiries of a capture or refund of ours that found it voided by a void the bridge did not send (a Business Center void carries the capture's or refund's merchant reference): no money moved; read FAIL, reason CAPTURE_ALREADY_VOIDED or REFUND_VOIDED (the operation's history shows the status '(voided)'; of one the OMS was told SUCCEEDED, its capture_failed or refund_failed)",
  ['gateway'],
);

const doubleHoldsFound = counter(
  'pb_cybersource_inquiry_double_holds_total',
  "Cybersource status inquiries of an authorize, sale or revalidate that found two or more of its own authorizations holding funds under its merchant reference (a resend of a request whose answer was lost, past the 15-minute duplicate check: a double authorization or charge): the newest of them decides (an AUTHORIZED_RISK_DECLINED beside it, older or newer, counts as one more hold), the others stay live at the PSP (the operation's history shows the status '(N holding funds)'); an authorize's others are voided by orphan reversal (reason extra_authorization) unless a release under the reference leaves which are live unknown",
  ['gateway'],
);

const doubleSuccessesFound = counter(
  'pb_cybersource_inquiry_double_successes_total',
  "Cybersource status inquiries of a capture or refund that found two or more of its own attempts succeeded under its merchant reference (a resend of a request whose answer was lost, past the 15-minute duplicate check: a double capture or refund): the newest of them decides, the others stand at the PSP for a person to refund or void (the operation's history shows the status '(N captures succeeded)' or '(N refunds succeeded)')",
  ['gateway', 'command'],
);

/** The 502 reasons that leave the outcome unknown (the request may have been processed): read so in a 2xx as well. */
const CYBERSOURCE_UNKNOWN_502_REASONS: ReadonlySet<string> = new Set(CYBERSOURCE_502_REASONS.filter((r) => kindOf502Reason(r) === 'outcome_unknown'));

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
      // A void (of a sale or a capture) names what it undid.
      const voided = cybersourceConfirmedMoney(obj(body.voidAmountDetails), ['voidAmount'], currency);
      if (voided.amount !== undefined) return voided;
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
  // Refused after the issuer approved: failed, and the hold is to be released (outcome-recorder.ts).
  if (meaning === 'FAIL' && isCybersourceStatus(gatewayStatus) && cybersourceStatusHoldsFunds(gatewayStatus)) outcome.fundsHeld = 'risk_declined';
  return outcome;
}

/** A 400 business refusal becomes a FAIL outcome; everything else non-2xx throws. */
function failOrThrow(response: GatewayResponse, gateway: string): GatewayOutcome {
  const error = classifyCybersourceError(response, gateway);
  if (error.kind === 'declined') {
    const reason = error.details.gatewayCode ?? `HTTP_${response.status}`;
    return withSubmittedAt({ status: 'FAIL', gatewayStatus: reason, reason }, bodyOrNothing(response));
  }
  throw error;
}

/**
 * A 2xx answer to a request that moves money whose `status` is an error answer's (`INVALID_REQUEST`, the 400's and a
 * payment 201's; `SERVER_ERROR`, the 502's) is read by its reason as that error answer is (`classifyCybersourceError`),
 * never by its status alone: a `DUPLICATE_REQUEST` means our first request landed (the outcome is asked about, never
 * failed), a `SERVER_TIMEOUT`, `SERVICE_TIMEOUT`, `PROCESSOR_TIMEOUT` or `SYSTEM_ERROR` that the request may have been
 * processed (asked about before any resend: a plain retry would send it again without an idempotency key). So is any
 * other failing status (`DECLINED`…) whose reason is one of those timeouts: a request that reached the processor and
 * timed out there is not a refusal. Returns for a refusal (declined, or a request refused as invalid): the FAIL its
 * status maps to.
 */
function throwIfErrorAnswer(status: CybersourceStatus, response: GatewayResponse, gateway: string): void {
  const timedOut = CYBERSOURCE_UNKNOWN_502_REASONS.has(cybersourceErrorCode(response.body) ?? '');
  if (status !== 'INVALID_REQUEST' && status !== 'SERVER_ERROR' && !(timedOut && cybersourceStatusMeaning(status) === 'FAIL')) return;
  const error = classifyCybersourceError({ ...response, status: status === 'INVALID_REQUEST' && !timedOut ? 400 : 502 }, gateway);
  if (error.kind === 'declined' || error.kind === 'invalid_request') return;
  const code = error.details.gatewayCode;
  throw new GatewayError(error.kind, gateway, `HTTP ${response.status} ${status}${code ? ` ${code}` : ''}`, { ...error.details, httpStatus: response.status });
}

/** A refusal's body when it is a JSON object (only its time is read from it), else nothing. */
function bodyOrNothing(response: GatewayResponse): Json | undefined {
  try {
    return obj(JSON.parse(response.body) as unknown);
  } catch {
    return undefined;
  }
}

/**
 * When Cybersource says a transaction happened (epoch ms): its `submitTimeUtc` ("Time of request in UTC. Format:
 * YYYY-MM-DDThh:mm:ssZ", every answer and search summary), `submitTimeUTC` in the transaction details (2020-02-17
 * spec), read strictly (`pspIsoTimeMs`: anything else is no time).
 */
function submittedAt(transaction: Json | undefined): number | undefined {
  return pspIsoTimeMs(transaction?.submitTimeUtc ?? transaction?.submitTimeUTC);
}

/**
 * Dates a SUCCESS or FAIL outcome by the PSP's own time of its transaction (`GatewayOutcome.occurredAt`), so a success
 * found by the answer or the status inquiry is recorded with it (`pspSucceededAt`) and a failure of the same
 * operation is ordered against it by the PSP's times (`laterInPspTime`), as a webhook's `eventDate` is. A PENDING or
 * ACTION_REQUIRED outcome decides nothing and carries none.
 */
function withSubmittedAt(outcome: GatewayOutcome, transaction: Json | undefined): GatewayOutcome {
  const at = outcome.status === 'SUCCESS' || outcome.status === 'FAIL' ? submittedAt(transaction) : undefined;
  if (at !== undefined) outcome.occurredAt = at;
  else delete outcome.occurredAt;
  return outcome;
}

/**
 * Transaction Details / Search summary: the top-level `status` when it is a documented one, else
 * `applicationInformation.status`, else its reason code (or reply flag) when that names a result the
 * `rCode` misstates (a review hold, a soft decline: `cybersource-reason-codes.ts`), else the documented
 * `rCode`.
 */
function transactionOutcome(body: Json, response: GatewayResponse, gateway: string, readsVoidOnly = false): GatewayOutcome {
  const app = obj(body.applicationInformation);
  // `FAILED` and `CANCELLED` are a void's statuses only (`sendsVoid`): of any other transaction they are no documented status.
  const status = [body.status, app?.status].find(
    (s): s is CybersourceStatus => isCybersourceStatus(s) && (!CYBERSOURCE_VOID_ONLY_STATUSES.has(s) || readsVoidOnly),
  );
  if (status !== undefined) return toOutcome(cybersourceStatusMeaning(status), status, body, response, gateway);
  const rFlag = str(app?.rFlag);
  const reasonCode = code(app?.reasonCode);
  const byReason = cybersourceReasonStatus(reasonCode, rFlag);
  if (byReason !== undefined) {
    // Read as the synchronous answer with that status would be; the PSP's own words stay the gateway status.
    return toOutcome(cybersourceStatusMeaning(byReason), rFlag ?? `reasonCode:${reasonCode ?? ''}`, body, response, gateway);
  }
  if (app?.rCode !== undefined) {
    const rCode = toCybersourceRCode(app.rCode, gateway);
    const outcome = toOutcome(cybersourceRCodeMeaning(rCode), rFlag ?? `rCode:${rCode}`, body, response, gateway);
    if (outcome.status === 'FAIL') outcome.reason = rFlag ?? reasonCode ?? outcome.reason;
    return outcome;
  }
  // Neither a status nor an rCode: refuse to guess.
  return toOutcome(cybersourceStatusMeaning(toCybersourceStatus(body.status ?? app?.status, gateway)), '', body, response, gateway);
}

/** The last four digits of a masked card number (`411111XXXXXX1111`): nothing else of it is read. */
function lastFourOf(masked: unknown): string | undefined {
  return typeof masked === 'string' ? /(\d{4})$/.exec(masked)?.[1] : undefined;
}

/**
 * The card a TMS payment instrument holds: `card.type` (the brand), `card.expirationMonth`,
 * `card.expirationYear`, and the last four digits of its instrument identifier's masked `card.number`
 * (`_embedded.instrumentIdentifier`).
 */
function instrumentCard(body: Json): StoredCard | undefined {
  const card = obj(body.card);
  const identifier = obj(obj(obj(body._embedded)?.instrumentIdentifier)?.card);
  return storedCardOf({ brand: card?.type, lastFour: lastFourOf(identifier?.number), expiryMonth: card?.expirationMonth, expiryYear: card?.expirationYear });
}

/** The card a payment stored (`TOKEN_CREATE`): its answer names only the last four digits (`paymentInformation.card.suffix`). */
function paymentCard(body: Json): StoredCard | undefined {
  return storedCardOf({ lastFour: obj(obj(body.paymentInformation)?.card)?.suffix });
}

/**
 * Whether `ctx`'s request is a void (`cancelRequest`): of one of our captures or refunds by its id, of a sale, or of the
 * one capture that took the whole authorization (nothing left to reverse). A cancel of what is held is a reversal.
 */
function sendsVoid(ctx: OperationContext): boolean {
  if (ctx.command !== 'cancel') return false;
  const { captured } = ctx;
  return ctx.voidOf !== undefined || captured?.by === 'sale' || (captured?.by === 'capture' && uncapturedRemainder(captured) === 0);
}

/**
 * The void of one of our captures or refunds by its own id (`ctx.voidOf`) undid it only when Cybersource says
 * `VOIDED` in a 201: any other answer that is no refusal (a 202, a `PENDING`, a `TRANSMITTED`…) names no void done,
 * so it marks nothing undone and is asked about (`outcome_unknown`: the status inquiry, which counts a void only where
 * it reads `VOIDED`). A refusal stays a FAIL (nothing voided). Throws; returns when the outcome stands.
 */
function unknownUnlessVoided(voidOf: NamedVoid, outcome: GatewayOutcome, response: GatewayResponse, gateway: string): void {
  if (outcome.status === 'FAIL' || (response.status === 201 && outcome.gatewayStatus === 'VOIDED')) return;
  throw new GatewayError(
    'outcome_unknown',
    gateway,
    `void of a ${voidOf.command} answered HTTP ${response.status} ${outcome.gatewayStatus ?? ''}, not VOIDED`,
    {
      httpStatus: response.status,
    },
  );
}

/**
 * The decline of a refused void of one of our refunds (`ctx.voidOf`, `NOT_VOIDABLE` once settled): the refund stands
 * and no new transaction undoes a refund (the money went to the shopper), so it suggests `none` where the table's
 * row for a capture or sale says `reverse_with_new_transaction` (refund the money instead). Any other outcome as given.
 */
export function withRefundVoidAction(ctx: OperationContext, outcome: GatewayOutcome): GatewayOutcome {
  if (ctx.voidOf?.command !== 'refund' || outcome.decline?.suggested_action !== 'reverse_with_new_transaction') return outcome;
  return { ...outcome, decline: { ...outcome.decline, suggested_action: 'none' } };
}

/**
 * Maps the answer to the request {@link buildCybersourceRequest} built for `ctx`.
 *
 * - authorize / sale / revalidate: `status` of the payment; `gatewayReference` is the payment id, and
 *   revalidate's `newGatewayKey` is the new authorization's id (what capture and cancel use next).
 * - capture / refund / cancel: `PENDING` (queued for settlement), `REVERSED` and `VOIDED` (a cancel of what
 *   was captured, see `cancelRequest`) are successes; a void refused once settled is a 400 `NOT_VOIDABLE`.
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
      const card = instrumentCard(body);
      if (card) outcome.storedCard = card;
    } else {
      outcome.reason = state;
    }
    return outcome;
  } else {
    const status = toCybersourceStatus(body.status, gateway);
    // `FAILED` and `CANCELLED` are documented for a void's 201 only: from any other request they name no result, asked
    // about (never a FAIL).
    if (CYBERSOURCE_VOID_ONLY_STATUSES.has(status) && !sendsVoid(ctx)) {
      throw new GatewayError('outcome_unknown', gateway, `cybersource status ${status} answering a ${ctx.command}, documented for a void only`, {
        httpStatus: response.status,
        gatewayCode: status,
      });
    }
    throwIfErrorAnswer(status, response, gateway);
    outcome = toOutcome(cybersourceStatusMeaning(status), status, body, response, gateway);
    // Payer Authentication asked for a challenge: the storefront's step-up (cybersource-payer-auth.ts).
    // Without the step-up data nobody could complete it, and it stays the FAIL the status map says; so does
    // a merchant-initiated charge's (revalidate, `recurring` on a stored card): no cardholder is there to take it.
    const merchantInitiated = ctx.command === 'revalidate' || isMerchantInitiatedCharge(ctx.payment);
    const action = status === 'PENDING_AUTHENTICATION' && !merchantInitiated ? payerAuthenticationAction(body) : undefined;
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
    if (ctx.voidOf) unknownUnlessVoided(ctx.voidOf, outcome, response, gateway);
    if (ctx.command === 'revalidate' && outcome.status !== 'FAIL' && outcome.gatewayReference) outcome.newGatewayKey = outcome.gatewayReference;
    // Token on first use (actionList TOKEN_CREATE): the TMS customer created with the payment.
    if (outcome.status === 'SUCCESS' && wantsStoredToken(ctx.payment)) {
      const token = cybersourceStoredToken(body);
      if (token) outcome.storedToken = token;
      const card = paymentCard(body);
      if (card) outcome.storedCard = card;
    }
    // The scheme's id of the payment ("network transaction identifier", CyberSource through VisaNet and others), what a
    // later merchant-initiated charge quotes as `previousTransactionId`.
    if (outcome.status === 'SUCCESS' && (ctx.command === 'authorize' || ctx.command === 'sale')) {
      const networkTransactionId = networkTransactionIdOf(obj(body.processorInformation)?.networkTransactionId);
      if (networkTransactionId !== undefined) outcome.networkTransactionId = networkTransactionId;
    }
    // A partial approval confirms only the amount it names and can be read exactly: else it waits for the inquiry.
    if (status === 'PARTIAL_AUTHORIZED' && authorizes(ctx) && (!namesAuthorizedAmount(body) || reportedMoney(ctx, body).amount === undefined)) {
      return partialWithoutAmount(ctx, outcome, body);
    }
    if (authorizes(ctx)) withAuthorizedAt(outcome, [body]);
  }
  const confirmed = withConfirmedMoney(withSubmittedAt(outcome, body), reportedMoney(ctx, body));
  // A cancel's partial reversal is a success for the amount it names reversed (`reversalAmountDetails.reversedAmount`) only:
  // naming none that can be read, what it released is unknown (asked about), never the amount asked.
  if (
    ctx.command === 'cancel' &&
    confirmed.status === 'SUCCESS' &&
    confirmed.gatewayStatus === 'PARTIALLY_REVERSED' &&
    (str(obj(body.reversalAmountDetails)?.reversedAmount) === undefined || confirmed.amount === undefined)
  ) {
    throw new GatewayError('outcome_unknown', gateway, 'PARTIALLY_REVERSED without a readable reversalAmountDetails.reversedAmount', {
      httpStatus: response.status,
      gatewayCode: confirmed.gatewayStatus,
    });
  }
  return confirmed;
}

function namesAuthorizedAmount(body: Json): boolean {
  return str(obj(obj(body.orderInformation)?.amountDetails)?.authorizedAmount) !== undefined;
}

/**
 * A partial approval that does not say how much was approved (no `authorizedAmount`, or one that cannot be read
 * exactly in its currency, counted in `pb_psp_amount_unreadable_total`): `totalAmount` is the amount asked, not what
 * is held, so no amount is confirmed (the currency is) and the operation waits (PENDING) for the status
 * inquiry, which reads the amount authorized from the transaction's details as it does for a search summary
 * ({@link cybersourceDetailsToAsk}). A SUCCESS without an amount would be reported as the amount asked.
 */
function partialWithoutAmount(ctx: OperationContext, outcome: GatewayOutcome, body: Json): GatewayOutcome {
  outcome.status = 'PENDING';
  delete outcome.reason;
  return withConfirmedMoney(outcome, cybersourceConfirmedMoney(obj(obj(body.orderInformation)?.amountDetails), [], ctx.payment.currency));
}

/** The commands whose operation holds funds: their confirmed amount is what was authorized. */
export const CYBERSOURCE_AUTHORIZING_COMMANDS: readonly CommandType[] = ['authorize', 'sale', 'revalidate'];

function authorizes(ctx: OperationContext): boolean {
  return CYBERSOURCE_AUTHORIZING_COMMANDS.includes(ctx.command);
}

/**
 * Sets the money an authorizing command's answer confirms, and marks a partial approval: an amount in the
 * currency asked, above zero and below the amount asked (what `webhooks/outcome-scope.ts` accepts as one).
 */
function withAuthorizedMoney(ctx: OperationContext, outcome: GatewayOutcome, money: ConfirmedMoney): GatewayOutcome {
  withConfirmedMoney(outcome, money);
  const asked = ctx.payment;
  const { amount, currency = asked.currency } = outcome;
  if (amount !== undefined && amount > 0 && amount < asked.amount && currency.toUpperCase() === asked.currency.toUpperCase()) outcome.partialApproval = true;
  return outcome;
}

/**
 * The transaction summaries of a search answer that are the operation's: those whose merchant reference
 * (`clientReferenceInformation.code`) is exactly the one its requests carry ({@link merchantReference}).
 * The query asks for that reference, but a search is full text: whatever else it returns (another
 * operation's transaction) is not this operation's fact. `null` when none is (a miss), or when the answer
 * lists none and says there are none.
 */
function searchSummaries(ctx: OperationContext, body: Json, gateway: string): Json[] | null {
  const summaries = obj(body._embedded)?.transactionSummaries;
  const list = Array.isArray(summaries) ? summaries.map(obj).filter((s): s is Json => s !== undefined) : [];
  if (body.totalCount === 0 || list.length === 0) {
    if (body.totalCount === 0 || body.totalCount === undefined) return null;
    throw new GatewayError('outcome_unknown', gateway, `search reports ${String(body.totalCount)} transactions but lists none`);
  }
  const reference = merchantReference(ctx.operationId);
  const own = list.filter((summary) => obj(summary.clientReferenceInformation)?.code === reference);
  return own.length > 0 ? own : null;
}

/**
 * Sets when Cybersource authorized a successful authorize, sale or revalidate (epoch ms): the earliest
 * `submitTimeUtc` ("Time of request in UTC") of its transactions. The earliest, not the newest: a request
 * Decision Manager held for review is the authorization, and what follows it (the review's decision, a
 * capture) comes later; no authorization of the operation is older than its first request.
 */
function withAuthorizedAt(outcome: GatewayOutcome, transactions: readonly Json[]): void {
  if (outcome.status !== 'SUCCESS') return;
  // The transaction details spell it `submitTimeUTC` (2020-02-17 spec), the payment answer and search `submitTimeUtc`.
  const times = transactions.map(submittedAt).filter((t): t is number => t !== undefined);
  if (times.length > 0) outcome.authorizedAt = Math.min(...times);
}

/**
 * The newest of the summaries (the request sorts newest first; this does not rely on it): among those that may decide
 * ({@link decisiveOf}), the latest attempt decides.
 */
function newestOf(list: Json[]): Json {
  // By the times read, not their text (a fraction of a second, or the compact form, sorts wrong as text); one
  // without a readable time is the oldest. Ties keep the answer's order (newest first, as asked).
  return [...list].sort((a, b) => (submittedAt(b) ?? 0) - (submittedAt(a) ?? 0))[0];
}

function amountDetailsOf(transaction: Json): Json | undefined {
  return obj(obj(transaction.orderInformation)?.amountDetails);
}

/** A reason code as text (the spec types it a string; a number is read the same). */
function code(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/** Simple Order reason code 110: "Only a partial amount was approved". */
const PARTIAL_REASON_CODE = '110';

/**
 * What a transaction (a search summary, or its details) says about a partial approval: `partial` (status
 * `PARTIAL_AUTHORIZED`, or reason code 110 for the request or its `ics_auth`), `whole` (a status or reason
 * code that is not those), or `silent` (neither a status nor a reason code).
 */
function partialSignal(transaction: Json): 'partial' | 'whole' | 'silent' {
  const app = obj(transaction.applicationInformation);
  const statuses = [transaction.status, app?.status].filter(isCybersourceStatus);
  const reasons = [
    app?.reasonCode,
    ...applicationsOf(transaction)
      .filter((a) => a.name === 'ics_auth')
      .map((a) => a.reasonCode),
  ]
    .map(code)
    .filter((c): c is string => c !== undefined);
  if (statuses.includes('PARTIAL_AUTHORIZED') || reasons.includes(PARTIAL_REASON_CODE)) return 'partial';
  return statuses.length > 0 || reasons.length > 0 ? 'whole' : 'silent';
}

/**
 * Maps a `POST /tss/v2/searches` answer: `null` when no transaction carries the operation's merchant
 * reference exactly (a 201 with `totalCount` 0, or only other references: the request never landed),
 * otherwise the outcome of the own transaction that decides ({@link decisiveOf}): for an authorize, sale or revalidate
 * the newest that holds funds (an approval whose answer was lost stands over a resend declined after it), else the
 * newest refusal still holding funds (`AUTHORIZED_RISK_DECLINED`: its `fundsHeld` names that hold's id), else the
 * newest; for a capture or refund the newest that succeeded, for a cancel the newest reversal or void done (a resend
 * refused after it does not undo it), else the newest. Two or more authorizations holding funds (a double
 * authorization; an `AUTHORIZED_RISK_DECLINED` beside the approval that decides, older or newer, is one) are named in `gatewayStatus`
 * (`… (N holding funds)`) and counted in `pb_cybersource_inquiry_double_holds_total`; of an authorize that reads SUCCESS
 * the others are listed in `extraHolds` ({@link extraHoldsOf}: none beside a release under the reference), which the
 * recorder hands to orphan reversal; two or more successful captures or refunds (`… (N captures succeeded)`)
 * in `pb_cybersource_inquiry_double_successes_total`. The search documents 201, 400
 * and 502 only: every non-2xx answer (a 404 too) throws its classified read error (`classifyCybersourceError`,
 * `read`), retried, never taken for a miss.
 *
 * Amounts: a summary's `orderInformation.amountDetails` has `totalAmount` and `currency` only (2020-02-17
 * spec), and `totalAmount` is the amount asked. For an authorize, sale or revalidate the amount authorized
 * is read from `authorizedAmount` when a summary carries it; when the summary says the approval was partial
 * and does not, the outcome names no amount and {@link cybersourceDetailsToAsk} names the transaction whose
 * details (`GET /tss/v2/transactions/{id}`) do.
 */
export function parseCybersourceSearchResponse(ctx: OperationContext, response: GatewayResponse, gateway: string): GatewayOutcome | null {
  // No match is a 201 with totalCount 0; any other answer, a 404 included, is a search that could not be
  // read: never "it never landed", which would send the payment again (Cybersource takes no idempotency key).
  if (response.status < 200 || response.status > 299) throw classifyCybersourceError(response, gateway, { read: true });
  const list = searchSummaries(ctx, parseBody(response, gateway), gateway);
  if (list === null) return null;
  const { summary: decisive, holding, succeeded } = decisiveOf(ctx, list, response, gateway);
  const holds = holding.length;
  const outcome = transactionOutcome(decisive, response, gateway, sendsVoid(ctx));
  const amounts = amountDetailsOf(decisive);
  if (!authorizes(ctx)) {
    withConfirmedMoney(outcome, cybersourceConfirmedMoney(amounts, ['totalAmount', 'authorizedAmount'], ctx.payment.currency));
  } else if (partialSignal(decisive) === 'partial' && str(amounts?.authorizedAmount) === undefined) {
    // `totalAmount` is what was asked, not what is held: only the currency is confirmed here.
    withConfirmedMoney(outcome, cybersourceConfirmedMoney(amounts, [], ctx.payment.currency));
  } else {
    withAuthorizedMoney(ctx, outcome, cybersourceConfirmedMoney(amounts, ['authorizedAmount', 'totalAmount'], ctx.payment.currency));
  }
  if (ctx.command === 'revalidate' && outcome.status !== 'FAIL' && outcome.gatewayReference) outcome.newGatewayKey = outcome.gatewayReference;
  // A void of our capture or refund counts only where the search shows it voided (`showsVoided`): any other success waits.
  if (ctx.voidOf && outcome.status === 'SUCCESS' && !showsVoided(decisive)) {
    outcome.status = 'PENDING';
    outcome.gatewayStatus = `${outcome.gatewayStatus ?? ''} (not VOIDED)`;
  }
  if (authorizes(ctx)) withAuthorizedAt(outcome, list);
  // Rejected by Decision Manager (481) after the issuer approved: the synchronous AUTHORIZED_RISK_DECLINED.
  if (authorizes(ctx) && outcome.status === 'FAIL' && outcome.fundsHeld === undefined && rejectedHoldingFunds(decisive)) outcome.fundsHeld = 'risk_declined';
  // A sale is sold once captured: an AUTHORIZED sale whose transactions show no capture (`ics_bill`) done
  // was authorized only (Decision Manager holds a reviewed request's capture). It waits, never "sold".
  if (ctx.command === 'sale' && outcome.status === 'SUCCESS' && listsApplications(decisive) && !list.some(captured)) {
    outcome.status = 'PENDING';
    outcome.gatewayStatus = `${outcome.gatewayStatus} (not captured)`;
  }
  // Released since by a reversal or void under its merchant reference that the bridge did not send (Decision Manager's
  // REVERSE of a rejected review, a Business Center action): never "authorized". The whole of it released after it was
  // made is its FAIL: Cybersource refuses any capture of a reversed authorization (`AUTH_ALREADY_REVERSED`) and any
  // refund of a voided capture (`CAPTURE_ALREADY_VOIDED`), and nothing is held to release. A release of part of it, or
  // one whose amount or time cannot be read, leaves what stands unknown: it waits (PENDING, then UNRESOLVED).
  const release = authorizes(ctx) && outcome.status !== 'FAIL' ? releaseOf(ctx, list, decisive, outcome, holding) : null;
  if (release !== null) {
    outcome.gatewayStatus = `${outcome.gatewayStatus ?? ''} (released)`;
    delete outcome.newGatewayKey;
    delete outcome.authorizedAt;
    delete outcome.partialApproval;
    outcome.status = release.whole ? 'FAIL' : 'PENDING';
    if (release.whole) outcome.reason = release.reason;
    releasedFound.inc({ gateway });
  }
  // A capture or refund of ours voided since by a void under its merchant reference that the bridge did not send (a
  // Business Center void: its void carries the capture's or refund's reference, ours carry the cancel's own): no money
  // moved. Its FAIL, as a whole release is an authorization's: Cybersource refuses any refund of a voided capture
  // (`CAPTURE_ALREADY_VOIDED`); a voided refund gave nothing back (`REFUND_VOIDED`).
  const voidable = VOIDED_TRANSACTIONS[ctx.command];
  const voidFound = voidable !== undefined ? voidOfOwn(list, decisive, succeeded, voidable.service) : null;
  const voided = voidFound?.whole ? voidFound.summary : null;
  if (voidable !== undefined && voidFound !== null) {
    outcome.gatewayStatus = `${outcome.gatewayStatus ?? ''} (voided)`;
    // Fewer voids than successful attempts (a double capture or refund): one of them still stands, which one the
    // search does not say. It waits (PENDING, then UNRESOLVED), never FAIL.
    outcome.status = voidFound.whole ? 'FAIL' : 'PENDING';
    if (voidFound.whole) outcome.reason = voidable.reason;
    voidedFound.inc({ gateway });
  }
  // Two live authorizations for one operation (a resend the duplicate check no longer caught): the newest of them
  // decides, and the operator sees the others in the history and the metric; an authorize's are listed below.
  if (holds > 1) {
    outcome.gatewayStatus = `${outcome.gatewayStatus ?? ''} (${holds} holding funds)`;
    doubleHoldsFound.inc({ gateway });
  }
  // The others of an authorize's double authorization approved: nothing will capture them, orphan reversal voids them.
  const extraHolds = ctx.command === 'authorize' && outcome.status === 'SUCCESS' && holds > 1 ? extraHoldsOf(ctx, list, decisive, holding) : [];
  if (extraHolds.length > 0) outcome.extraHolds = extraHolds;
  // Two successful captures or refunds for one operation (a double capture or refund): the same, for a person to undo.
  if (succeeded.length > 1) {
    outcome.gatewayStatus = `${outcome.gatewayStatus ?? ''} (${succeeded.length} ${ctx.command}s succeeded)`;
    doubleSuccessesFound.inc({ gateway, command: ctx.command });
  }
  // The time of the transaction that decides (see `decisiveOf`; the release's or void's when it decides).
  return withSubmittedAt(outcome, release?.whole ? release.summary : (voided ?? decisive));
}

/**
 * The authorizations holding funds (`holding`) other than the one that decides (`decisive`), each as its id and what it
 * holds (its `authorizedAmount`, else the amount asked; none when the summary says the approval was partial and names no
 * amount). None when a release or void is listed under the merchant reference (`list`), whatever its time: it names
 * none of them, so which are still live cannot be told (`releaseOf`), and a void of one released already would be
 * refused at best. A hold without an id cannot be named: left out (still counted in the status).
 */
function extraHoldsOf(ctx: OperationContext, list: Json[], decisive: Json, holding: readonly Json[]): ExtraHold[] {
  if (list.some((summary) => releasingService(summary) !== undefined || showsVoided(summary))) return [];
  const decisiveId = str(decisive.id);
  return holding.flatMap((summary): ExtraHold[] => {
    const id = str(summary.id);
    if (summary === decisive || id === undefined || id === decisiveId) return [];
    const amounts = amountDetailsOf(summary);
    const unnamed = partialSignal(summary) === 'partial' && str(amounts?.authorizedAmount) === undefined;
    const money = cybersourceConfirmedMoney(amounts, unnamed ? [] : ['authorizedAmount', 'totalAmount'], ctx.payment.currency);
    return [
      {
        pspReference: id,
        ...(money.amount !== undefined ? { amount: money.amount } : {}),
        ...(money.currency ? { currency: money.currency.toUpperCase() } : {}),
      },
    ];
  });
}

/**
 * The commands whose own transaction Cybersource voids (a capture, a refund): the service of that transaction, and the
 * reason one found voided fails with: the one Cybersource refuses a refund of a voided capture with, and for a voided
 * refund ours (no money went back).
 */
const VOIDED_TRANSACTIONS: Partial<Record<CommandType, { service: string; reason: string }>> = {
  capture: { service: 'ics_bill', reason: 'CAPTURE_ALREADY_VOIDED' },
  refund: { service: 'ics_credit', reason: 'REFUND_VOIDED' },
};

/**
 * A filter of summaries made at or after `madeAt` (ms); one whose time cannot be read, or any when `madeAt` is unknown,
 * is kept: an older one is told apart only where both times are read.
 */
function notOlderThan(madeAt: number | undefined): (summary: Json) => boolean {
  return (summary) => {
    const at = submittedAt(summary);
    return madeAt === undefined || at === undefined || at >= madeAt;
  };
}

/** The time of the oldest of `summaries` (ms), or `undefined` when any of theirs cannot be read. */
function oldestAt(summaries: readonly Json[]): number | undefined {
  const times = summaries.map(submittedAt);
  return times.some((t) => t === undefined) ? undefined : Math.min(...(times as number[]));
}

/**
 * The void among a capture's or refund's summaries (`list`, those under its merchant reference), or null: a summary that
 * shows it `VOIDED` ({@link showsVoided}: its status, or a successful `ics_void`) not older than the transaction that
 * decides (`decisive`, {@link decisiveOf}: the newest successful attempt, else the newest; one older voided an earlier
 * attempt). Dated from that one, not the newest: a void made between a success and a newer refused resend undid the
 * success. A void undoes its transaction whole (it takes no amount), so any one found is its undoing (`whole`). The
 * newest such void when several are listed. Beside two or more successful attempts (`succeeded`, a double capture or
 * refund) a void names none of them: only voids listed on their own (an `ics_void` follow-on) and none older than the
 * oldest of them count, none is the undoing of what decides, and they are `whole` only when there are as many as the
 * successful attempts plus the own attempts shown `VOIDED` themselves (each may also be listed as its own void); with
 * fewer, one still stands, which one cannot be told. An own attempt shown `VOIDED` itself undid only itself.
 */
function voidOfOwn(list: Json[], decisive: Json, succeeded: readonly Json[], service: string): { summary: Json; whole: boolean } | null {
  if (succeeded.length === 0) {
    const voids = list.filter(showsVoided).filter(notOlderThan(submittedAt(decisive)));
    return voids.length > 0 ? { summary: newestOf(voids), whole: true } : null;
  }
  const voids = list.filter(showsVoided).filter(notOlderThan(oldestAt(succeeded)));
  // One listing the own service (`ics_bill`, `ics_credit`) is an attempt shown voided itself, not a void of another.
  const separate = voids.filter((summary) => !applicationsOf(summary).some((a) => a.name === service));
  if (separate.length === 0) return null;
  const selfVoided = voids.length - separate.length;
  return { summary: newestOf(separate), whole: separate.length >= succeeded.length + selfVoided };
}

/**
 * Whether a search summary shows its transaction `VOIDED`: its `status` or `applicationInformation.status`, or its
 * void application (`ics_void`) either `VOIDED` or, naming no status, successful (rCode 1): the search reports each
 * service's result in its application ("Each transaction type separately returns their own status, reasonCode,
 * rCode, and rFlag"), as `captured` reads `ics_bill`. Without this, a void whose own answer was lost would stay
 * undecided, and the refunds behind it wait, whenever the search names no status. A status other than `VOIDED`
 * (`PENDING`, `TRANSMITTED`…) still names no void done.
 */
function showsVoided(summary: Json): boolean {
  const app = obj(summary.applicationInformation);
  if (summary.status === 'VOIDED' || app?.status === 'VOIDED') return true;
  return applicationsOf(summary).some((a) => a.name === 'ics_void' && (a.status === 'VOIDED' || (a.status === undefined && String(a.rCode) === '1')));
}

/**
 * The summary of an inquiry's search answer that decides ({@link decisiveOf}), and the id of its transaction, when its
 * details are needed.
 */
function detailsTarget(ctx: OperationContext, first: StatusAnswer, gateway: string): { id: string; summary: Json } | null {
  if (!authorizes(ctx) || (first.outcome.status !== 'SUCCESS' && first.outcome.status !== 'PENDING')) return null;
  const list = searchSummaries(ctx, parseBody(first.response, gateway), gateway);
  if (list === null) return null;
  const { summary } = decisiveOf(ctx, list, first.response, gateway);
  if (str(amountDetailsOf(summary)?.authorizedAmount) !== undefined || partialSignal(summary) === 'whole') return null;
  const id = str(summary.id);
  // A path segment must not be `.` or `..`; an answer naming one is unreadable, not our request's fault.
  if (id === undefined || id === '.' || id === '..') {
    throw new GatewayError('outcome_unknown', gateway, 'transaction search summary without a usable id: the amount authorized cannot be asked for');
  }
  return { id, summary };
}

/**
 * The id of the transaction whose details an inquiry needs, or `null` when its search answer (`first`)
 * says enough. Only for an authorize, sale or revalidate found holding funds (SUCCESS, or a sale still
 * PENDING) whose deciding summary ({@link parseCybersourceSearchResponse}: the newest holding funds) carries no
 * `authorizedAmount` and says the approval was partial, or says
 * nothing either way (no status, no reason code): an approval the summary calls whole costs no second
 * request.
 * @throws GatewayError `outcome_unknown` when that summary names no usable transaction id.
 */
export function cybersourceDetailsToAsk(ctx: OperationContext, first: StatusAnswer, gateway: string): string | null {
  return detailsTarget(ctx, first, gateway)?.id ?? null;
}

/**
 * Reads `GET /tss/v2/transactions/{id}` (the transaction {@link cybersourceDetailsToAsk} named) into the
 * inquiry's outcome: `first`'s, with the amount authorized (`orderInformation.amountDetails.authorizedAmount`,
 * "Amount that was authorized") and `partialApproval` when it is below the amount asked. Details without
 * `authorizedAmount` leave `first` as it is, unless the summary or the details say the approval was partial:
 * then the amount held is unknown.
 * @throws GatewayError `outcome_unknown` for a 404 (Cybersource: the details of a new transaction can lag;
 * "retry the API call 5 minutes later"), an unreadable body or amount, details of another transaction, or
 * a partial approval without its amount; the search classification (read) for other non-2xx answers.
 */
export function parseCybersourceDetailsAmount(ctx: OperationContext, first: StatusAnswer, response: GatewayResponse, gateway: string): GatewayOutcome {
  const target = detailsTarget(ctx, first, gateway);
  if (target === null) return first.outcome;
  if (response.status === 404 || response.status === 410) {
    // The search found it: a miss here is the details lagging, never "no such transaction" (nor the PSP down).
    throw new GatewayError('outcome_unknown', gateway, `HTTP ${response.status}: transaction details not available yet`, {
      httpStatus: response.status,
      pspHasRequest: true,
    });
  }
  if (response.status < 200 || response.status > 299) throw classifyCybersourceError(response, gateway, { read: true });
  const body = parseBody(response, gateway);
  const id = str(body.id);
  if (id !== undefined && id !== target.id)
    throw new GatewayError('outcome_unknown', gateway, 'transaction details of another transaction than the one asked for');
  const amounts = amountDetailsOf(body);
  if (str(amounts?.authorizedAmount) !== undefined) {
    const money = cybersourceConfirmedMoney(amounts, ['authorizedAmount'], ctx.payment.currency);
    if (money.amount === undefined) throw new GatewayError('outcome_unknown', gateway, 'authorizedAmount of the transaction details cannot be read exactly');
    const outcome = withAuthorizedMoney(ctx, { ...first.outcome }, money);
    // The search's time stands (its earliest request); the details' own time only when it named none.
    if (outcome.authorizedAt === undefined) withAuthorizedAt(outcome, [body]);
    return outcome;
  }
  if (partialSignal(target.summary) === 'partial' || partialSignal(body) === 'partial') {
    throw new GatewayError('outcome_unknown', gateway, 'partial authorization whose transaction details name no authorizedAmount');
  }
  return first.outcome;
}

function applicationsOf(summary: Json): Json[] {
  const apps = obj(summary.applicationInformation)?.applications;
  return Array.isArray(apps) ? apps.map(obj).filter((a): a is Json => a !== undefined) : [];
}

/**
 * The services of a follow-on that undoes or gives back (a reversal, a void, a refund): one of these alone is never
 * the authorization's result. A capture (`ics_bill`) is: it is what sells a sale Decision Manager held for review.
 */
const FOLLOW_ON_APPLICATIONS: ReadonlySet<string> = new Set(['ics_auth_reversal', 'ics_void', 'ics_credit']);

/**
 * The summaries whose result is an authorizing command's, a capture's or a refund's own (for any other command: all of
 * them). A follow-on under the payment's merchant reference (a reversal, void or refund the bridge did not send:
 * Decision Manager's case actions, the Business Center; a follow-on of a capture or refund carries the capture's or
 * refund's) lists only such services, and its result is not the authorization's, capture's or refund's: a refused
 * reversal or void does not fail it, a refund done does not authorize it (a reversal or void done is read by
 * `releaseOf`, a capture's or refund's void by `voidOfOwn`). The own are those that list any other service (`ics_auth`,
 * `ics_bill`…; for a refund its `ics_credit`) or none; when none is left, all of them.
 */
function decisiveSummaries(ctx: OperationContext, list: Json[]): Json[] {
  const voidable = VOIDED_TRANSACTIONS[ctx.command];
  if (!authorizes(ctx) && voidable === undefined) return list;
  const own = list.filter((summary) => {
    const apps = applicationsOf(summary);
    return apps.length === 0 || apps.some((a) => typeof a.name !== 'string' || a.name === voidable?.service || !FOLLOW_ON_APPLICATIONS.has(a.name));
  });
  return own.length > 0 ? own : list;
}

/** Statuses of a transaction that undid funds (a reversal's, a void's): one read so holds none. */
const RELEASING_STATUSES: ReadonlySet<string> = new Set<CybersourceStatus>(['REVERSED', 'PARTIALLY_REVERSED', 'VOIDED']);

/**
 * Whether a summary of an authorizing command's own holds funds: read as the inquiry reads the one that decides, it is
 * a SUCCESS or PENDING (approved, approved in part, held for review or a soft decline, a sale's capture) and no release.
 * One that cannot be read (an error's rCode, an undocumented status) is not known to hold any.
 */
function holdsFunds(summary: Json, response: GatewayResponse, gateway: string): boolean {
  if (releasingService(summary) !== undefined || showsVoided(summary)) return false;
  const read = readOutcome(summary, response, gateway);
  return read !== undefined && (read.status === 'SUCCESS' || read.status === 'PENDING') && !RELEASING_STATUSES.has(read.gatewayStatus);
}

/** Whether a summary is an authorization of its own (it lists `ics_auth`, or no service to say otherwise), not a follow-on capture of one. */
function isAuthorization(summary: Json): boolean {
  const apps = applicationsOf(summary);
  return apps.length === 0 || apps.some((a) => a.name === 'ics_auth');
}

/**
 * The summary whose result is the operation's, among its own ({@link decisiveSummaries}), its own authorizations
 * that hold funds (`holding`, with every other that fails holding funds: an `AUTHORIZED_RISK_DECLINED`, older
 * or newer than the one that decides) and a capture's or refund's own attempts that succeeded (`succeeded`). For an
 * authorize, sale or revalidate: the newest that holds funds ({@link holdsFunds}); when none does, the newest that
 * fails still holding funds ({@link failsHoldingFunds}), else the newest. For a capture or refund: the newest that
 * succeeded (read SUCCESS or PENDING, not voided: {@link holdsFunds}), else the newest. Cybersource takes no idempotency
 * key, so a resend is a new transaction under the same merchant reference (only its 15-minute duplicate check stands
 * between): a first attempt approved whose answer was lost, then a resend refused (a decline; a capture's
 * `EXCEEDS_AUTH_AMOUNT` as the first used the authorization), leaves money held, collected or given back that the
 * newest alone would hide (the OMS told FAILED; a refund given again). For a cancel: the newest done
 * ({@link cancelDone}: a resend of a reversal or void that landed is refused, nothing left to undo), else the newest.
 * For any other command: the newest.
 */
function decisiveOf(ctx: OperationContext, list: Json[], response: GatewayResponse, gateway: string): { summary: Json; holding: Json[]; succeeded: Json[] } {
  const own = decisiveSummaries(ctx, list);
  if (ctx.command === 'cancel') {
    const done = own.filter((summary) => cancelDone(ctx, summary, response, gateway));
    return { summary: newestOf(done.length > 0 ? done : own), holding: [], succeeded: [] };
  }
  if (!authorizes(ctx) && VOIDED_TRANSACTIONS[ctx.command] === undefined) return { summary: newestOf(own), holding: [], succeeded: [] };
  const holding = own.filter((summary) => holdsFunds(summary, response, gateway));
  if (!authorizes(ctx)) return { summary: newestOf(holding.length > 0 ? holding : own), holding: [], succeeded: holding };
  if (holding.length > 0) {
    const decisive = newestOf(holding);
    // An attempt Decision Manager refused after the issuer approved (`AUTHORIZED_RISK_DECLINED`, a 481 whose `ics_auth`
    // succeeded) still holds the customer's funds beside the approval that decides, whether older or a newer resend:
    // one more hold, nothing will capture it.
    const riskHeld = own.filter((summary) => summary !== decisive && failsHoldingFunds(summary, response, gateway));
    return { summary: decisive, holding: [...holding, ...riskHeld].filter(isAuthorization), succeeded: [] };
  }
  // None holds funds for the operation: a refusal decides, and one that still holds the customer's funds (Decision
  // Manager's rejection after the issuer approved) over a newer one that holds none, so the failure names the hold to
  // release (`fundsHeld`, its id) rather than the resend's.
  // Never over a newer one that cannot be read (it may be anything): that one decides, asked again as before.
  const rejected = own.filter((summary) => failsHoldingFunds(summary, response, gateway));
  const newestRejected = rejected.length > 0 ? newestOf(rejected) : undefined;
  if (newestRejected !== undefined) {
    const at = submittedAt(newestRejected) ?? 0;
    const unreadAfter = own.some((summary) => summary !== newestRejected && (submittedAt(summary) ?? 0) >= at && !readable(summary, response, gateway));
    if (!unreadAfter) return { summary: newestRejected, holding: [], succeeded: [] };
  }
  return { summary: newestOf(own), holding: [], succeeded: [] };
}

/**
 * Whether a summary of a cancel's own is a reversal or void done: read SUCCESS (`REVERSED`, `PARTIALLY_REVERSED`,
 * `VOIDED`…), and for the void of one of our captures or refunds (`ctx.voidOf`) shown `VOIDED` ({@link showsVoided}),
 * as the inquiry counts that void only then. One that cannot be read is none known.
 */
function cancelDone(ctx: OperationContext, summary: Json, response: GatewayResponse, gateway: string): boolean {
  return readOutcome(summary, response, gateway, sendsVoid(ctx))?.status === 'SUCCESS' && (ctx.voidOf === undefined || showsVoided(summary));
}

/**
 * A summary's result as the inquiry reads it, or `undefined` for one it cannot read (an error's rCode, an undocumented
 * status: its `GatewayError`), which the rules over several summaries count as none known rather than fail the search on.
 */
function readOutcome(summary: Json, response: GatewayResponse, gateway: string, readsVoidOnly = false): GatewayOutcome | undefined {
  try {
    return transactionOutcome(summary, response, gateway, readsVoidOnly);
  } catch (error) {
    if (error instanceof GatewayError) return undefined;
    throw error;
  }
}

/** Whether the inquiry can read a summary's result (no error's rCode, no undocumented status). */
function readable(summary: Json, response: GatewayResponse, gateway: string): boolean {
  return readOutcome(summary, response, gateway) !== undefined;
}

/**
 * Whether a summary of an authorizing command's own fails it while its authorization holds the customer's funds:
 * `AUTHORIZED_RISK_DECLINED`, or Decision Manager's rejection (481) of one whose `ics_auth` succeeded
 * ({@link rejectedHoldingFunds}). One that cannot be read holds none known.
 */
function failsHoldingFunds(summary: Json, response: GatewayResponse, gateway: string): boolean {
  const read = readOutcome(summary, response, gateway);
  return read?.status === 'FAIL' && (read.fundsHeld !== undefined || rejectedHoldingFunds(summary));
}

/** The reason Cybersource refuses a follow-on of a transaction released by each service (a capture, a refund). */
const RELEASE_REASONS: Readonly<Record<string, string>> = { ics_auth_reversal: 'AUTH_ALREADY_REVERSED', ics_void: 'CAPTURE_ALREADY_VOIDED' };

/** The service of a summary that released the authorization (or the sale's capture): its reversal or void succeeded (rCode 1). */
function releasingService(summary: Json): string | undefined {
  return applicationsOf(summary).find((a) => typeof a.name === 'string' && RELEASE_REASONS[a.name] !== undefined && String(a.rCode) === '1')?.name as
    string | undefined;
}

/**
 * The release among an authorizing operation's summaries (`list`) that may be of the transaction that decides
 * (`decisive`, read as `outcome`), or null: a reversal or void done, not older than it (one older released an earlier
 * attempt). `whole`: made after it and for at least what it holds (its `totalAmount` against the amount `outcome`
 * confirms, else the amount asked, in one currency); otherwise (or when only follow-ons are listed, the decisive one a
 * release itself) what stands cannot be told. Beside two or more of its own authorizations holding funds (`holding`, a
 * double authorization) a release names none of them: it is whole only when as many such releases as authorizations
 * were made, none older than the oldest of them; with fewer one is still live (which, the search does not say), so
 * what stands cannot be told, never FAIL.
 */
function releaseOf(
  ctx: OperationContext,
  list: Json[],
  decisive: Json,
  outcome: GatewayOutcome,
  holding: readonly Json[],
): { summary: Json; reason: string; whole: boolean } | null {
  const madeAt = submittedAt(decisive);
  const releases = list.filter((summary) => releasingService(summary) !== undefined).filter(notOlderThan(madeAt));
  if (releases.length === 0) return null;
  const held = { amount: outcome.amount ?? ctx.payment.amount, currency: (outcome.currency ?? ctx.payment.currency).toUpperCase() };
  const covers = (summary: Json): boolean => {
    const money = cybersourceConfirmedMoney(amountDetailsOf(summary), ['totalAmount'], ctx.payment.currency);
    return money.amount !== undefined && money.currency?.toUpperCase() === held.currency && money.amount >= held.amount;
  };
  // Only follow-ons listed (the decisive one a release itself): the authorization is not seen, nothing is compared.
  const comparable = madeAt !== undefined && releasingService(decisive) === undefined;
  let whole = comparable ? releases.find((summary) => submittedAt(summary) !== undefined && covers(summary)) : undefined;
  if (whole !== undefined && holding.length > 1) {
    const firstAt = oldestAt(holding);
    const covering = list.filter((summary) => {
      const at = submittedAt(summary);
      return releasingService(summary) !== undefined && firstAt !== undefined && at !== undefined && at >= firstAt && covers(summary);
    });
    if (covering.length < holding.length) whole = undefined;
  }
  const summary = whole ?? newestOf(releases);
  return { summary, reason: RELEASE_REASONS[releasingService(summary)!], whole: whole !== undefined };
}

function listsApplications(summary: Json): boolean {
  return applicationsOf(summary).length > 0;
}

/**
 * Whether a transaction Decision Manager rejected (reason code 481, reply flag `DREJECT`, with no status to
 * say more) still holds an authorization: its `ics_auth` application succeeded (rCode 1, "successful").
 * One that lists its applications without a successful `ics_auth` authorized nothing (Decision Manager ran
 * first, or the issuer declined). One that lists none cannot say: the hold is taken to stand, since a
 * reversal of an authorization that was never made is only refused, while a hold nobody reverses stays on
 * the card until it expires.
 */
function rejectedHoldingFunds(summary: Json): boolean {
  const app = obj(summary.applicationInformation);
  if (!cybersourceDecisionManagerRejected(code(app?.reasonCode), str(app?.rFlag))) return false;
  const apps = applicationsOf(summary);
  return apps.length === 0 || apps.some((a) => a.name === 'ics_auth' && String(a.rCode) === '1');
}

/** Whether a transaction summary shows a capture done: its `ics_bill` application succeeded (rCode 1). */
function captured(summary: Json): boolean {
  return applicationsOf(summary).some((a) => a.name === 'ics_bill' && String(a.rCode) === '1');
}
