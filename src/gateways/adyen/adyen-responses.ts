import { isStoredValueCommand } from '../../contracts/stored-value';
import { unsupportedCommand } from '../unsupported-command';
import type { GatewayConfig } from '../gateway-config';
import { GatewayError } from '../../errors/gateway-error';
import { assertNever } from '../assert-never';
import { GatewayOutcome, GatewayResponse, OperationContext, OutcomeStatus } from '../gateway-adapter';
import { withConfirmedMoney } from '../../money/psp-currency-table';
import { adyenConfirmedMoney } from './adyen-amount';
import { classifyAdyenError, replayNotFound } from './adyen-errors';
import { formatStoredToken, shopperReferenceForNewToken } from './adyen-stored-token';
import { mapModificationStatus, mapResultCode } from './adyen-status-map';
import { adyenActionExpiresAt } from './adyen-action-expiry';
import { adyenAction, adyenStoredCard, adyenStoredToken, newTokenShopperReference, shopperPresent } from './adyen-methods';
import { wantsStoredToken } from '../../contracts/payment-method';
import { storedCardOf } from '../stored-card';
import { networkTransactionIdOf } from '../network-transaction-id';

/** Reading Checkout v71 answers into outcomes; non-2xx answers become classified `GatewayError`s. */

type Json = Record<string, unknown>;

/** `gatewayStatus` of a stored-card creation: `POST /storedPaymentMethods` answers 201 without a status field. */
export const ADYEN_STORED_STATUS = 'created';

function parseJson(response: GatewayResponse, gateway: string): Json {
  try {
    const parsed: unknown = JSON.parse(response.body);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Json;
  } catch {
    // fall through: a 2xx we cannot read leaves the money effect unknown
  }
  throw new GatewayError('outcome_unknown', gateway, `unreadable Adyen answer (HTTP ${response.status})`, { httpStatus: response.status });
}

function str(o: Json, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function requiredStr(o: Json, key: string, response: GatewayResponse, gateway: string): string {
  const v = str(o, key);
  if (v === undefined)
    throw new GatewayError('outcome_unknown', gateway, `Adyen answer without ${key} (HTTP ${response.status})`, { httpStatus: response.status });
  return v;
}

function isJson(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * A waiting answer (`Pending`, `Received`) that carries an `action` ("Action to be taken for completing the
 * payment", Checkout v71) waits for the shopper: Adyen answers a Pix payment `Pending` with its `qrCode`
 * action and documents `Pending` for when "the shopper needs to take further action to complete the
 * payment". With a shopper there it is ACTION_REQUIRED, so the storefront gets the action; without one,
 * nobody could act on it and it stays PENDING for the AUTHORISATION webhook.
 */
function waitsForShopper(status: OutcomeStatus, action: unknown, present: boolean): OutcomeStatus {
  return status === 'PENDING' && present && isJson(action) ? 'ACTION_REQUIRED' : status;
}

function paymentOutcome(ctx: OperationContext, body: Json, response: GatewayResponse, gateway: string): GatewayOutcome {
  const resultCode = requiredStr(body, 'resultCode', response, gateway);
  const present = shopperPresent(ctx.payment);
  const status = waitsForShopper(mapResultCode(resultCode, gateway, present), body.action, present);
  const pspReference = str(body, 'pspReference');
  const outcome: GatewayOutcome = { status, gatewayStatus: resultCode };
  if (pspReference) outcome.gatewayReference = pspReference;
  // What Adyen confirms, in whatever currency it names: a difference from the command is for the caller to flag.
  withConfirmedMoney(outcome, adyenConfirmedMoney(body.amount));
  // The decline code is refusalReasonCode (e.g. "2"); refusalReason is its label; for the shopper-flow codes the resultCode itself.
  if (status === 'FAIL') outcome.reason = str(body, 'refusalReasonCode') ?? str(body, 'refusalReason') ?? resultCode;
  if (status === 'ACTION_REQUIRED') {
    outcome.action = adyenAction(body.action);
    const expiresAt = adyenActionExpiresAt(body.action);
    if (expiresAt !== undefined) outcome.actionExpiresAt = expiresAt;
  }
  // Token on first use: Adyen names the stored method in additionalData once the payment is authorised.
  if (status === 'SUCCESS' && wantsStoredToken(ctx.payment)) {
    const token = adyenStoredToken(body.additionalData, newTokenShopperReference(ctx.payment, ctx.operationId));
    if (token) outcome.storedToken = token;
    const card = adyenStoredCard(body.additionalData, isJson(body.paymentMethod) ? body.paymentMethod.brand : undefined);
    if (card) outcome.storedCard = card;
  }
  // The scheme's id of the payment, which Adyen returns when the merchant account's additional data settings include it.
  if (status === 'SUCCESS' && (ctx.command === 'authorize' || ctx.command === 'sale') && isJson(body.additionalData)) {
    const networkTransactionId = networkTransactionIdOf(body.additionalData.networkTxReference);
    if (networkTransactionId !== undefined) outcome.networkTransactionId = networkTransactionId;
  }
  // revalidate: the new authorisation replaces the old one in the OMS.
  if (ctx.command === 'revalidate' && status !== 'FAIL' && pspReference) outcome.newGatewayKey = pspReference;
  return outcome;
}

function modificationOutcome(body: Json, response: GatewayResponse, gateway: string): GatewayOutcome {
  const status = requiredStr(body, 'status', response, gateway);
  const outcome: GatewayOutcome = { status: mapModificationStatus(status, gateway), gatewayStatus: status };
  const pspReference = str(body, 'pspReference');
  if (pspReference) outcome.gatewayReference = pspReference;
  // What Adyen confirms, in whatever currency it names: a difference from the command is for the caller to flag.
  withConfirmedMoney(outcome, adyenConfirmedMoney(body.amount));
  return outcome;
}

function storedOutcome(ctx: OperationContext, body: Json, response: GatewayResponse, gateway: string): GatewayOutcome {
  const id = requiredStr(body, 'id', response, gateway);
  const shopperReference = str(body, 'shopperReference') ?? shopperReferenceForNewToken(ctx.payment, ctx.operationId);
  const outcome: GatewayOutcome = {
    status: 'SUCCESS',
    gatewayStatus: ADYEN_STORED_STATUS,
    gatewayReference: id,
    newGatewayKey: formatStoredToken({ shopperReference, storedPaymentMethodId: id }),
  };
  // The stored method as Adyen describes it (`expiryYear`: "the last two digits of the year").
  const card = storedCardOf({ brand: body.brand, lastFour: body.lastFour, expiryMonth: body.expiryMonth, expiryYear: body.expiryYear });
  if (card) outcome.storedCard = card;
  return outcome;
}

/**
 * The outcome of the answer to `buildAdyenRequest(ctx)`. A 2xx is read per command; anything else
 * throws `classifyAdyenError` (declines are 200 `Refused`, so they are FAIL outcomes, not errors).
 */
export function parseAdyenResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
  if (response.status < 200 || response.status >= 300) throw classifyAdyenError(response, gateway.name);
  const body = parseJson(response, gateway.name);
  // Stored value card commands are not carried here (`supports`); delivery refuses them before this.
  if (isStoredValueCommand(ctx.command)) return unsupportedCommand(ctx.command, gateway.name);
  switch (ctx.command) {
    case 'authorize':
    case 'sale':
    case 'revalidate':
      return paymentOutcome(ctx, body, response, gateway.name);
    case 'capture':
    case 'cancel':
    case 'refund':
    case 'validate':
      return modificationOutcome(body, response, gateway.name);
    case 'tokenize':
      return storedOutcome(ctx, body, response, gateway.name);
    default:
      return assertNever(ctx.command, 'command');
  }
}

/**
 * The answer to a status inquiry (the original request sent again with the same `Idempotency-Key`, see
 * the transformer), read as the original answer. Never `null`: a replay that never landed performs the
 * request now, so there is no "no trace" answer; a 404 is `outcome_unknown` (`replayNotFound`).
 */
export function parseAdyenStatusResponse(ctx: OperationContext, response: GatewayResponse, gateway: GatewayConfig): GatewayOutcome {
  if (response.status === 404) throw replayNotFound(response, gateway.name);
  return parseAdyenResponse(ctx, response, gateway);
}
