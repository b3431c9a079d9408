import { isStoredValueCommand } from '../../contracts/stored-value';
import { unsupportedCommand } from '../unsupported-command';
import { GatewayError } from '../../errors/gateway-error';
import { assertNever } from '../assert-never';
import {
  AUTHORIZATION_EXPIRED_REASON,
  AuthorizationLapse,
  GatewayOutcome,
  GatewayRequest,
  GatewayResponse,
  OperationContext,
  idempotencyKeyOf,
} from '../gateway-adapter';
import { describeDecline } from '../../errors/decline';
import { STRIPE_DECLINES } from './stripe-declines';
import { withConfirmedMoney } from '../../money/psp-currency-table';
import { stripeConfirmedMoney } from './stripe-amount';
import { classifyStripeError, stripeErrorBody, stripeRefusalCode } from './stripe-errors';
import { customAttribute } from './stripe-references';
import {
  ATTEMPT_KEY_METADATA,
  CAPTURE_OPERATION_ID_METADATA,
  OPERATION_ID_METADATA,
  SEARCHED_COMMANDS,
  operationSearchPage,
  refundListPage,
} from './stripe-requests';
import { ActionKind, CustomerAction, actionExpiryMs } from '../customer-action';
import { StoredCard, storedCardOf } from '../stored-card';
import { networkTransactionIdOf } from '../network-transaction-id';
import { pspEpochSecondsMs } from '../psp-time';
import {
  PaymentIntentCommand,
  PaymentIntentStatus,
  isCancelledByStripe,
  isCancelledOnRequest,
  isStripeLapse,
  parsePaymentIntentStatus,
  stripeLapseLineId,
  parseRefundStatus,
  parseSetupIntentStatus,
  setupIntentOutcome,
  paymentIntentOutcome,
  refundOutcome,
} from './stripe-status-map';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function parseJson(response: GatewayResponse, gateway: string): Json {
  let json: unknown;
  try {
    json = JSON.parse(response.body) as unknown;
  } catch (cause) {
    // A 2xx we cannot read: the operation may well have happened.
    throw new GatewayError('outcome_unknown', gateway, `HTTP ${response.status} body is not JSON`, { httpStatus: response.status, cause });
  }
  if (!isObject(json)) throw new GatewayError('outcome_unknown', gateway, `HTTP ${response.status} body is not an object`, { httpStatus: response.status });
  return json;
}

/** The decline code of a PaymentIntent that failed: `last_payment_error.decline_code`, else its code. */
function lastPaymentError(pi: Json): string | undefined {
  const err = pi.last_payment_error;
  return isObject(err) ? (str(err.decline_code) ?? str(err.code)) : undefined;
}

/**
 * Which PaymentIntent amount is the one this command moved: money received for a capture or a sale that
 * succeeded (`amount_received`), money held for an authorization awaiting capture (`amount_capturable`),
 * otherwise the intent's `amount` (what was asked: a pending, failed or cancelled intent moved nothing more).
 */
function confirmedAmountField(command: PaymentIntentCommand, status: string): 'amount_received' | 'amount_capturable' | 'amount' {
  if ((command === 'capture' || command === 'sale') && status === 'succeeded') return 'amount_received';
  if (status === 'requires_capture') return 'amount_capturable';
  return 'amount';
}

/**
 * The kind of a PaymentIntent's `next_action.type` (Stripe documents many; the storefront's Stripe.js handles each).
 * `card_await_notification`: the card's issuer notifies the cardholder (an Indian e-mandate's pre-debit
 * notice), who acts there; nothing to show.
 */
function actionKind(type: string | undefined): ActionKind {
  if (type === 'redirect_to_url' || type === 'alipay_handle_redirect') return 'redirect';
  if (type === 'use_stripe_sdk') return 'three_ds';
  if (type === 'card_await_notification') return 'await';
  if (type === undefined) return 'other';
  // Before the QR codes: Cash App's `…_handle_redirect_or_display_qr_code` ends like one, and Stripe.js picks.
  if (type.endsWith('_handle_redirect_or_display_qr_code') || type.endsWith('_redirect_to_android_app') || type.endsWith('_redirect_to_ios_app')) return 'sdk';
  if (type.endsWith('_display_details') || type.endsWith('_display_qr_code') || type.includes('instructions')) return 'voucher';
  return 'other';
}

/**
 * What the storefront needs for a PaymentIntent in `requires_action`: `next_action` verbatim and the
 * client secret Stripe.js takes (`stripe.handleNextAction({clientSecret})`). Webhooks leave it out (it would
 * travel through our queue): the response that entered ACTION_REQUIRED gave it already.
 */
function stripeAction(pi: Json): CustomerAction {
  const next = isObject(pi.next_action) ? pi.next_action : undefined;
  const type = next ? str(next.type) : undefined;
  const redirect = next ? redirectUrl(next) : undefined;
  return {
    kind: actionKind(type),
    ...(redirect ? { url: redirect } : {}),
    ...(str(pi.client_secret) ? { client_secret: str(pi.client_secret) } : {}),
    ...(next ? { psp_action: next } : {}),
  };
}

/** Where a redirect action sends the customer: `redirect_to_url.url`, or Alipay's `alipay_handle_redirect.url`. */
function redirectUrl(next: Json): string | undefined {
  if (isObject(next.redirect_to_url)) return str(next.redirect_to_url.url);
  if (isObject(next.alipay_handle_redirect)) return str(next.alipay_handle_redirect.url);
  return undefined;
}

/**
 * The `next_action` types whose object names until when the customer may pay, and the field that does (Unix
 * seconds): the API reference (2023-08-16) documents `boleto_display_details.expires_at` ("The timestamp after
 * which the boleto expires"), `konbini_display_details.expires_at`, `oxxo_display_details.expires_after` ("The
 * timestamp after which the OXXO voucher expires") and `pix_display_qr_code.expires_at` ("The date (unix
 * timestamp) when the PIX expires"); later versions add `multibanco_display_details.expires_at` in the same
 * shape. Not `cashapp_handle_redirect_or_display_qr_code.qr_code.expires_at`: that is one QR image's, which
 * Cash App renews every minute while the payment goes on. PayNow, PromptPay, WeChat Pay and bank transfer
 * instructions name none. `card_await_notification.charge_attempt_at` (an Indian e-mandate's pre-debit notice):
 * "The time that payment will be attempted. If customer approval is required, they need to provide approval
 * before this time."
 */
const ACTION_EXPIRY_FIELDS: Readonly<Record<string, string>> = {
  boleto_display_details: 'expires_at',
  konbini_display_details: 'expires_at',
  oxxo_display_details: 'expires_after',
  pix_display_qr_code: 'expires_at',
  multibanco_display_details: 'expires_at',
  card_await_notification: 'charge_attempt_at',
};

/** Until when the customer may complete a PaymentIntent's `next_action` (epoch ms), when Stripe says so. */
function actionExpiresAtOf(intent: Json): number | undefined {
  const next = intent.next_action;
  if (!isObject(next)) return undefined;
  const type = str(next.type);
  const field = type !== undefined && Object.hasOwn(ACTION_EXPIRY_FIELDS, type) ? ACTION_EXPIRY_FIELDS[type] : undefined;
  const details = type !== undefined ? next[type] : undefined;
  if (field === undefined || !isObject(details)) return undefined;
  const ms = epochMs(details[field]);
  return ms === undefined ? undefined : actionExpiryMs(ms);
}

/**
 * Token on first use: a PaymentIntent confirmed with `setup_future_usage` leaves its PaymentMethod attached
 * to the Customer once it succeeds (or is held): that PaymentMethod id is the reusable key.
 */
function storedPaymentMethod(pi: Json, status: PaymentIntentStatus): string | undefined {
  if (str(pi.setup_future_usage) === undefined) return undefined;
  if (status !== 'succeeded' && status !== 'requires_capture') return undefined;
  const pm = pi.payment_method;
  return str(pm) ?? (isObject(pm) ? str(pm.id) : undefined);
}

/** A Stripe card hash (a PaymentMethod's `card`, a charge's `payment_method_details.card`) as a stored card. */
function stripeCard(card: unknown): StoredCard | undefined {
  if (!isObject(card)) return undefined;
  return storedCardOf({ brand: card.brand, lastFour: card.last4, expiryMonth: card.exp_month, expiryYear: card.exp_year });
}

/**
 * The card a PaymentIntent stored: its PaymentMethod's `card` when expanded (the request asks for it), else
 * the expanded charge's `payment_method_details.card`.
 */
function paymentIntentCard(pi: Json): StoredCard | undefined {
  const fromMethod = isObject(pi.payment_method) ? stripeCard(pi.payment_method.card) : undefined;
  if (fromMethod) return fromMethod;
  const charge = pi.latest_charge;
  return isObject(charge) && isObject(charge.payment_method_details) ? stripeCard(charge.payment_method_details.card) : undefined;
}

/**
 * A PaymentIntent, read as the answer to `command`; `amount`/`currency` in ISO minor units as Stripe confirmed them.
 * @param withAction whether an ACTION_REQUIRED outcome carries the action (client secret included): the
 *   API's answers yes, webhooks no.
 */
export function paymentIntentToOutcome(pi: Json, command: PaymentIntentCommand, gateway: string, withAction = true): GatewayOutcome {
  const status = parsePaymentIntentStatus(pi.status, gateway);
  const outcome = paymentIntentOutcome(status, command);
  const id = str(pi.id);
  const result: GatewayOutcome = { status: outcome, gatewayStatus: status, gatewayReference: id };
  if (outcome === 'ACTION_REQUIRED' && withAction) result.action = stripeAction(pi);
  // The deadline is no secret: a webhook's outcome carries it too (it may be the first to report the wait).
  if (outcome === 'ACTION_REQUIRED') {
    const expiresAt = actionExpiresAtOf(pi);
    if (expiresAt !== undefined) result.actionExpiresAt = expiresAt;
  }
  if (command === 'authorize' || command === 'sale') {
    const stored = storedPaymentMethod(pi, status);
    if (stored !== undefined) {
      result.storedToken = stored;
      const card = paymentIntentCard(pi);
      if (card) result.storedCard = card;
    }
  }
  withConfirmedMoney(result, stripeConfirmedMoney(pi, confirmedAmountField(command, status)));
  if (command === 'revalidate' && outcome !== 'FAIL' && id !== undefined) result.newGatewayKey = id;
  if (outcome === 'SUCCESS' && (command === 'authorize' || command === 'sale')) {
    const networkTransactionId = networkTransactionIdOfCharge(pi);
    if (networkTransactionId !== undefined) result.networkTransactionId = networkTransactionId;
  }
  if (outcome === 'SUCCESS' && (command === 'authorize' || command === 'revalidate')) {
    const captureBefore = captureBeforeOf(pi);
    if (captureBefore !== undefined) result.captureBefore = captureBefore;
    const authorizedAt = authorizedAtOf(pi);
    if (authorizedAt !== undefined) result.authorizedAt = authorizedAt;
  }
  if (outcome === 'FAIL') {
    result.reason = lastPaymentError(pi) ?? (status === 'canceled' ? str(pi.cancellation_reason) : undefined) ?? status;
    // A cancelled PaymentIntent's failure happened at its `canceled_at` ("the time at which the PaymentIntent was
    // canceled"), as a cancel's outcome is dated (`stripeCancelOutcome`): a Dashboard cancel of a payment the OMS was told
    // SUCCEEDED is dated by it, not by when its webhook was made.
    const canceledAt = status === 'canceled' ? epochMs(pi.canceled_at) : undefined;
    if (canceledAt !== undefined) result.occurredAt = canceledAt;
  }
  return result;
}

/**
 * The reason a capture or a cancel fails with when Stripe had cancelled the manual-capture PaymentIntent itself because
 * its capture window closed (`cancellation_reason: automatic`): the authorization lapsed, Stripe released the hold, and
 * no cancel of ours did it. The release itself is the authorization's `authorization_expired` adjustment.
 */
export { AUTHORIZATION_EXPIRED_REASON };

/**
 * The lapse of a manual-capture PaymentIntent Stripe cancelled itself (`isStripeLapse`), as a capture's or cancel's
 * answer or status inquiry shows it: under reconciliation's line (`stripeLapseLineId`), for what was not captured of it
 * (`amount` less `amount_received`, as the lapse webhook and reconciliation count it), dated by `canceled_at`.
 * Undefined for any other PaymentIntent.
 */
export function stripeAuthorizationLapse(pi: Json): AuthorizationLapse | undefined {
  const id = str(pi.id);
  if (!isStripeLapse(pi) || id === undefined) return undefined;
  const { amount, currency } = stripeConfirmedMoney(pi, 'amount');
  const received = stripeConfirmedMoney(pi, 'amount_received').amount ?? 0;
  const at = epochMs(pi.canceled_at);
  return {
    lineId: stripeLapseLineId(id),
    pspReference: id,
    reason: 'automatic',
    ...(amount !== undefined && amount >= received ? { amount: amount - received } : {}),
    ...(currency !== undefined ? { currency } : {}),
    ...(at !== undefined ? { occurredAt: at } : {}),
  };
}

/**
 * A capture of a PaymentIntent Stripe cancelled itself because the authorization lapsed (`isStripeLapse`): FAIL,
 * reason {@link AUTHORIZATION_EXPIRED_REASON}, with the lapse (`authorizationLapse`) for the authorization's adjustment.
 * Stripe refuses the capture (`payment_intent_unexpected_state`, the PaymentIntent in the error) and its status
 * inquiry shows the PaymentIntent `canceled`: both read so. No amount: the capture took nothing. Undefined for any
 * other PaymentIntent (one cancelled on request keeps its own reason).
 */
export function stripeCaptureLapseOutcome(pi: Json): GatewayOutcome | undefined {
  const lapse = stripeAuthorizationLapse(pi);
  if (lapse === undefined) return undefined;
  return { status: 'FAIL', gatewayStatus: 'canceled', gatewayReference: lapse.pspReference, reason: AUTHORIZATION_EXPIRED_REASON, authorizationLapse: lapse };
}

/**
 * The statuses a cancel takes a PaymentIntent out of ("You can cancel a PaymentIntent object when it's in one of these
 * statuses: requires_payment_method, requires_capture, requires_confirmation, requires_action or, in rare cases,
 * processing", API reference): one still in them was not cancelled, so shows no trace of a cancel (`processing`, which
 * Stripe rarely cancels, stays the cancel's PENDING). The bridge's own cancels meet them: an authorization's void (held),
 * an expired action's (`requires_action`), a failed authorization's reversal (`requires_payment_method`).
 */
export const CANCELABLE_STATUSES: ReadonlySet<unknown> = new Set(['requires_payment_method', 'requires_confirmation', 'requires_action', 'requires_capture']);

/** What PaymentIntent `pi` states it collected (`amount_received`, ISO minor units), when above 0 in a known currency. */
function receivedOf(pi: Json): GatewayOutcome['pspCaptured'] {
  const received = stripeConfirmedMoney(pi, 'amount_received');
  return received.amount !== undefined && received.amount > 0 && received.currency !== undefined
    ? { amount: received.amount, currency: received.currency }
    : undefined;
}

/** A cancel's decline when the authorization lapsed: the table's, but nothing to do (the hold it asked to release is released). */
function cancelLapseDecline(): GatewayOutcome['decline'] {
  return { ...describeDecline(STRIPE_DECLINES, AUTHORIZATION_EXPIRED_REASON), suggested_action: 'none' };
}

/**
 * A PaymentIntent read as the outcome of a cancel of it: the one reading of the webhook (`modificationReading`) and
 * the status inquiry, so both say the same of the same PaymentIntent. `canceled` by a cancel request
 * (`isCancelledOnRequest`) is the cancel's SUCCESS. `canceled` by Stripe itself (`isCancelledByStripe`) is the cancel's
 * FAIL: nothing is left to cancel and our request did not do it (Stripe refuses a cancel of a canceled PaymentIntent,
 * "any operations on the PaymentIntent fail with an error"), so it is settled rather than sent again. Its reason:
 * {@link AUTHORIZATION_EXPIRED_REASON} for a manual-capture one cancelled `automatic` (the lapse: "If the authorization
 * expires before you capture the funds, the funds are released and the payment status changes to canceled"), else Stripe's `cancellation_reason`
 * (`failed_invoice`, `void_invoice`). A PaymentIntent still in a status a cancel ends ({@link CANCELABLE_STATUSES}), or
 * `canceled` for a reason Stripe does not document (neither a canceller's nor its own: nothing guessed), is no trace of
 * the cancel: null. Any other status is read as `paymentIntentToOutcome` reads it for a cancel. Dated, by either path, by the PaymentIntent's own
 * `canceled_at` ("the time at which the PaymentIntent was canceled", seconds; `occurredAt`).
 */
export function stripeCancelOutcome(pi: Json, gateway: string, withAction = true): GatewayOutcome | null {
  if (CANCELABLE_STATUSES.has(pi.status)) return null;
  const byStripe = isCancelledByStripe(pi);
  if (pi.status === 'canceled' && !byStripe && !isCancelledOnRequest(pi)) return null;
  const outcome = paymentIntentToOutcome(pi, 'cancel', gateway, withAction);
  // `succeeded`: captured (the Dashboard's, an automatic capture), so the cancel can only be refused, as its answer is
  // (`parseStripeResponse`); a lost answer's inquiry states what was captured the same way (`voidRefusedAsCaptured`).
  const received = outcome.status === 'FAIL' && pi.status === 'succeeded' ? receivedOf(pi) : undefined;
  if (received !== undefined) outcome.pspCaptured = received;
  if (byStripe) {
    outcome.status = 'FAIL';
    outcome.reason = isStripeLapse(pi) ? AUTHORIZATION_EXPIRED_REASON : (str(pi.cancellation_reason) ?? 'canceled');
    if (isStripeLapse(pi)) outcome.decline = cancelLapseDecline();
  }
  const canceledAt = outcome.status !== 'PENDING' && pi.status === 'canceled' ? epochMs(pi.canceled_at) : undefined;
  if (canceledAt !== undefined) outcome.occurredAt = canceledAt;
  return outcome;
}

/**
 * When Stripe says the authorization must be captured by, epoch ms: the expanded `latest_charge`'s
 * `payment_method_details.card.capture_before` (unix seconds). Undefined when the charge is not expanded
 * (a webhook, a search) or names none (not a card).
 */
function captureBeforeOf(pi: Json): number | undefined {
  const charge = pi.latest_charge;
  if (!isObject(charge) || !isObject(charge.payment_method_details) || !isObject(charge.payment_method_details.card)) return undefined;
  return epochMs(charge.payment_method_details.card.capture_before);
}

/** Unix seconds as epoch ms, when the value is a positive integer of seconds a Date can hold (`pspEpochSecondsMs`). */
function epochMs(seconds: unknown): number | undefined {
  return pspEpochSecondsMs(seconds);
}

/**
 * The card network's id of the payment: the expanded `latest_charge`'s `payment_method_details.card.network_transaction_id`
 * (Charge object, API 2024-12-18 onwards: "successful Visa, Mastercard, Amex, Discover, and Cartes Bancaires
 * transactions"; null for other brands). Only a manual capture's request expands the charge (`expansions`): a sale's
 * answer names it by id only, and nothing is read then.
 */
function networkTransactionIdOfCharge(pi: Json): string | undefined {
  const charge = pi.latest_charge;
  if (!isObject(charge) || !isObject(charge.payment_method_details) || !isObject(charge.payment_method_details.card)) return undefined;
  return networkTransactionIdOf(charge.payment_method_details.card.network_transaction_id);
}

/**
 * When Stripe made the authorization, epoch ms: the expanded `latest_charge`'s `created` (the charge is the
 * authorization), else the PaymentIntent's own `created` (a webhook's or a search's PaymentIntent names its
 * charge by id only): the intent is created with or before its charge, so never later than the authorization.
 */
function authorizedAtOf(pi: Json): number | undefined {
  const charge = pi.latest_charge;
  return (isObject(charge) ? epochMs(charge.created) : undefined) ?? epochMs(pi.created);
}

/**
 * A Refund object as an outcome; `failure_reason` is the reason of a failed one.
 * @param datedByCreation whether a SUCCESS is dated (`occurredAt`) by the Refund's own `created` ("Time at which the
 *   object was created", seconds): the synchronous answer and the status inquiry, which have no other PSP time. A
 *   refund succeeds no earlier than it was created (at once for a card's, usually), so the success is never dated
 *   later than it happened, and a failure of it Stripe reports later is never read as older. Not a FAIL: a refund fails
 *   after its creation, and a failure dated too early would be read as older than the success it undoes. A webhook
 *   passes false: its event's `created` is when Stripe made the change. Default true.
 */
export function refundToOutcome(refund: Json, gateway: string, datedByCreation = true): GatewayOutcome {
  const status = parseRefundStatus(refund.status, gateway);
  const outcome = refundOutcome(status);
  const result: GatewayOutcome = { status: outcome, gatewayStatus: status, gatewayReference: str(refund.id) };
  withConfirmedMoney(result, stripeConfirmedMoney(refund, 'amount'));
  if (outcome === 'FAIL') result.reason = str(refund.failure_reason) ?? status;
  const createdAt = outcome === 'SUCCESS' && datedByCreation ? epochMs(refund.created) : undefined;
  if (createdAt !== undefined) result.occurredAt = createdAt;
  return result;
}

/**
 * A SetupIntent, the answer to a tokenize: when it succeeded, its PaymentMethod is the reusable key.
 * @param withAction whether an ACTION_REQUIRED outcome carries the action (client secret included): not
 *   for a webhook outcome, which travels through a queue.
 */
export function setupIntentToOutcome(si: Json, gateway: string, withAction = true): GatewayOutcome {
  const status = parseSetupIntentStatus(si.status, gateway);
  const outcome = setupIntentOutcome(status);
  const result: GatewayOutcome = { status: outcome, gatewayStatus: status, gatewayReference: str(si.id) };
  if (outcome === 'ACTION_REQUIRED' && withAction) result.action = stripeAction(si);
  if (outcome === 'SUCCESS') {
    const pm = si.payment_method;
    const key = str(pm) ?? (isObject(pm) ? str(pm.id) : undefined);
    if (key === undefined) throw new GatewayError('outcome_unknown', gateway, 'SetupIntent succeeded without a payment method');
    result.newGatewayKey = key;
    // Expanded by the request: the card the SetupIntent saved.
    const card = isObject(pm) ? stripeCard(pm.card) : undefined;
    if (card) result.storedCard = card;
  }
  if (outcome === 'FAIL') {
    const error = isObject(si.last_setup_error) ? si.last_setup_error : undefined;
    result.reason = (error ? (str(error.decline_code) ?? str(error.code)) : undefined) ?? str(si.cancellation_reason) ?? status;
  }
  return result;
}

/** An attached PaymentMethod: reusable (SUCCESS) when attached to the Customer we asked for. */
function paymentMethodToOutcome(pm: Json, customer: string | undefined, gateway: string): GatewayOutcome | null {
  const id = str(pm.id);
  if (id === undefined) throw new GatewayError('outcome_unknown', gateway, 'PaymentMethod without id');
  const attachedTo = str(pm.customer);
  if (attachedTo === undefined) return null;
  if (customer !== undefined && attachedTo !== customer) {
    return { status: 'FAIL', gatewayStatus: 'attached', gatewayReference: id, reason: 'attached_to_another_customer' };
  }
  const outcome: GatewayOutcome = { status: 'SUCCESS', gatewayStatus: 'attached', gatewayReference: id, newGatewayKey: id };
  const card = stripeCard(pm.card);
  if (card) outcome.storedCard = card;
  return outcome;
}

/** The answer to the request `buildStripeRequest` made for `ctx`. */
export function parseStripeResponse(ctx: OperationContext, response: GatewayResponse, gateway: string): GatewayOutcome {
  if (response.status < 200 || response.status >= 300) {
    const refusal = stripeRefusalCode(response);
    if (refusal === undefined) {
      // validate reads the PaymentIntent (a GET); every other command's request is a POST.
      const error = classifyStripeError(response, gateway, ctx.command === 'validate' ? 'read' : 'write');
      if (error.kind !== 'declined') throw error;
    }
    // A declined confirm carries the PaymentIntent it left in requires_payment_method.
    const pi = stripeErrorBody(response.body).paymentIntent;
    // A capture or cancel refused because Stripe let the authorization lapse: read as its status inquiry reads it.
    const lapsed = refusal !== undefined && isObject(pi) ? lapseAnswer(ctx.command, pi, gateway) : undefined;
    if (lapsed !== undefined) return lapsed;
    const reason = refusal ?? classifyStripeError(response, gateway).details.gatewayCode ?? 'declined';
    const status = isObject(pi) ? (str(pi.status) ?? 'declined') : 'declined';
    const outcome: GatewayOutcome = { status: 'FAIL', gatewayStatus: status, gatewayReference: isObject(pi) ? str(pi.id) : undefined, reason };
    // What the PaymentIntent in the error states captured (a cancel of one `succeeded`: `voidRefusedAsCaptured`).
    const received = isObject(pi) ? receivedOf(pi) : undefined;
    if (received !== undefined) outcome.pspCaptured = received;
    return outcome;
  }
  const json = parseJson(response, gateway);
  // Stored value card commands are not carried here (`supports`); delivery refuses them before this.
  if (isStoredValueCommand(ctx.command)) return unsupportedCommand(ctx.command, gateway);
  switch (ctx.command) {
    case 'authorize':
    case 'sale':
    case 'revalidate':
    case 'capture':
    case 'cancel':
    case 'validate':
      return paymentIntentToOutcome(json, ctx.command, gateway);
    case 'refund':
      return refundToOutcome(json, gateway);
    case 'tokenize':
      return setupIntentToOutcome(json, gateway);
    default:
      return assertNever(ctx.command, 'command');
  }
}

/**
 * A capture's or cancel's FAIL when `pi` shows the authorization lapsed (`isStripeLapse`), with the lapse for the
 * authorization's adjustment (`authorizationLapse`); undefined for any other command or PaymentIntent.
 */
function lapseAnswer(command: OperationContext['command'], pi: Json, gateway: string): GatewayOutcome | undefined {
  if (command === 'capture') return stripeCaptureLapseOutcome(pi);
  if (command !== 'cancel') return undefined;
  const lapse = stripeAuthorizationLapse(pi);
  const outcome = lapse === undefined ? null : stripeCancelOutcome(pi, gateway);
  return outcome === null || lapse === undefined ? undefined : { ...outcome, authorizationLapse: lapse };
}

function listData(json: Json, gateway: string): Json[] {
  const data = json.data;
  if (!Array.isArray(data)) throw new GatewayError('outcome_unknown', gateway, 'list answer without data');
  return data.filter(isObject);
}

function hasOperationId(object: Json, operationId: string): boolean {
  const metadata = object.metadata;
  return isObject(metadata) && metadata[OPERATION_ID_METADATA] === operationId;
}

/**
 * Whether a PaymentIntent the status search found is this attempt's: ours (`operation_id`) and made under this
 * attempt's key. An attempt after a failover carries its key (`attempt_key`); the first attempt's key is the operation
 * id and carries none. Another entry of the same Stripe account holds the first attempt's PaymentIntent under the
 * same operation id: read for the later attempt, its decline would fail the operation that attempt may yet pay.
 * A failover attempt sent by a release before the mark carries none either: an unmarked one created (`created`,
 * seconds) at or after the failover (`attemptSince`) is it, as an earlier attempt's was made before the failover;
 * never one declined or cancelled ({@link EARLIER_ATTEMPT_STATUSES}), which is what a failover leaves behind (a
 * decline is one of its triggers), so a clock of ours behind Stripe's cannot make the first attempt's decline this one's.
 */
function isAttemptOf(pi: Json, ctx: OperationContext): boolean {
  if (!hasOperationId(pi, ctx.operationId)) return false;
  const metadata = isObject(pi.metadata) ? pi.metadata : {};
  const key = idempotencyKeyOf(ctx);
  const marked = metadata[ATTEMPT_KEY_METADATA];
  if (key === ctx.operationId) return marked === undefined || marked === key;
  if (marked !== undefined) return marked === key;
  if (EARLIER_ATTEMPT_STATUSES.has(pi.status)) return false;
  return ctx.attemptSince !== undefined && typeof pi.created === 'number' && pi.created * 1000 >= ctx.attemptSince;
}

/** The statuses of a PaymentIntent a failover leaves behind: declined (`requires_payment_method`) or cancelled. */
const EARLIER_ATTEMPT_STATUSES: ReadonlySet<unknown> = new Set(['requires_payment_method', 'canceled']);

/**
 * Whether a PaymentIntent names another capture of ours than `operationId` as the one that captured it (the
 * `capture_operation_id` our capture request stores with the capture): this capture did not take the money, whatever
 * the PaymentIntent's status says. One captured without the mark (before it, or in the Dashboard) names none.
 */
function capturedByAnother(pi: Json, operationId: string): boolean {
  const by = isObject(pi.metadata) ? str(pi.metadata[CAPTURE_OPERATION_ID_METADATA]) : undefined;
  return by !== undefined && by !== operationId;
}

/**
 * The answer to `buildStripeStatusRequest`; `null` when Stripe has no trace of the operation: 404, no
 * search or refund-list match, a PaymentIntent still `requires_capture` after a capture or cancel (or captured by
 * another capture of ours, `capture_operation_id`), or cancelled for
 * a reason Stripe does not document (`stripeCancelOutcome`), a PaymentMethod not attached.
 */
export function parseStripeStatusResponse(ctx: OperationContext, response: GatewayResponse, gateway: string): GatewayOutcome | null {
  if (response.status === 404) return null;
  if (response.status < 200 || response.status >= 300) throw classifyStripeError(response, gateway, 'read');
  const json = parseJson(response, gateway);
  // Stored value card commands are not carried here (`supports`); delivery refuses them before this.
  if (isStoredValueCommand(ctx.command)) return unsupportedCommand(ctx.command, gateway);
  switch (ctx.command) {
    case 'authorize':
    case 'sale':
    case 'revalidate': {
      const found = listData(json, gateway).find((pi) => isAttemptOf(pi, ctx));
      return found === undefined ? null : paymentIntentToOutcome(found, ctx.command, gateway);
    }
    case 'capture':
      if (json.status === 'requires_capture' || capturedByAnother(json, ctx.operationId)) return null;
      return stripeCaptureLapseOutcome(json) ?? paymentIntentToOutcome(json, ctx.command, gateway);
    case 'cancel':
      return lapseAnswer('cancel', json, gateway) ?? stripeCancelOutcome(json, gateway);
    case 'validate':
      return paymentIntentToOutcome(json, ctx.command, gateway);
    case 'refund': {
      const found = listData(json, gateway).find((r) => hasOperationId(r, ctx.operationId));
      return found === undefined ? null : refundToOutcome(found, gateway);
    }
    case 'tokenize':
      return paymentMethodToOutcome(json, customAttribute(ctx.payment, 'stripe_customer'), gateway);
    default:
      return assertNever(ctx.command, 'command');
  }
}

/**
 * The page after `response` of a status inquiry that lists (`GatewayTransformer.nextStatusPage`), when this attempt was
 * not on it. A refund's: Stripe lists a PaymentIntent's refunds 100 a page, newest first, and says whether more follow
 * (`has_more`, "True if this list has another page of items after this one that can be fetched"); the next page
 * starts after the page's last refund (`starting_after`). An authorize's, sale's or revalidate's search: 100
 * PaymentIntents a page, the next one named by the page's `next_page` cursor (`page`). `null` when the list ends there,
 * or for any other command (one object). A page that says neither (no `has_more`, or more without a last id or
 * cursor) throws `outcome_unknown`: the attempt may be on a page not read, so the miss is no proof that it never landed.
 */
export function stripeStatusNextPage(ctx: OperationContext, response: GatewayResponse, gateway: string): GatewayRequest | null {
  if (response.status < 200 || response.status >= 300) return null;
  if (SEARCHED_COMMANDS.has(ctx.command)) return nextSearchPage(ctx, parseJson(response, gateway), gateway);
  if (ctx.command !== 'refund') return null;
  const json = parseJson(response, gateway);
  if (json.has_more === false) return null;
  if (json.has_more !== true) throw new GatewayError('outcome_unknown', gateway, 'refund list answer without has_more');
  const last = listData(json, gateway).at(-1);
  const id = last === undefined ? undefined : str(last.id);
  if (id === undefined) throw new GatewayError('outcome_unknown', gateway, 'refund list says has_more without a last refund id');
  return refundListPage(ctx, id);
}

/** The search page after `json` (its `next_page` cursor), `null` after the last; see {@link stripeStatusNextPage}. */
function nextSearchPage(ctx: OperationContext, json: Json, gateway: string): GatewayRequest | null {
  if (json.has_more === false) return null;
  if (json.has_more !== true) throw new GatewayError('outcome_unknown', gateway, 'PaymentIntent search answer without has_more');
  const cursor = str(json.next_page);
  if (cursor === undefined || cursor === '') throw new GatewayError('outcome_unknown', gateway, 'PaymentIntent search says has_more without next_page');
  return operationSearchPage(ctx, cursor);
}
