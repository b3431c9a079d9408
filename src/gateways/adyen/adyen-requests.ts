import { isStoredValueCommand } from '../../contracts/stored-value';
import { unsupportedCommand } from '../unsupported-command';
import type { GatewayConfig } from '../gateway-config';
import { GatewayError } from '../../errors/gateway-error';
import { assertNever } from '../assert-never';
import { GatewayRequest, OperationContext } from '../gateway-adapter';
import { AdyenAmount, toAdyenAmount } from './adyen-amount';
import { adyenPost, merchantReferenceFor } from './adyen-references';
import { customAttribute, shopperReferenceForNewToken } from './adyen-stored-token';
import { adyenLineItems, adyenMethodFields } from './adyen-methods';

/**
 * Request bodies for Checkout API v71 (`test/fixtures/specs/adyen-checkout-v71.json`), one per command.
 * Every body names `merchantAccount` from the gateway's configuration (`merchant_account`): the OMS's
 * `payment.gateway_account` is not used for routing, so a command can never reach an account whose
 * API key we do not hold.
 *
 * | command | request |
 * | --- | --- |
 * | authorize | `POST /payments`, the payment's method (adyen-methods.ts), `additionalData.manualCapture: "true"` |
 * | sale | `POST /payments`, stored card, `captureDelayHours: 0` (immediate capture) |
 * | revalidate | `POST /payments` with the stored card again (manual capture); new pspReference = new key |
 * | capture | `POST /payments/{pspReference}/captures` (partial when `amount` is less than authorised) |
 * | cancel | `POST /payments/{pspReference}/cancels` |
 * | refund | `POST /payments/{pspReference}/refunds` (partial when `amount` is less than captured) |
 * | validate | `POST /payments/{pspReference}/amountUpdates` with the authorised amount (see below) |
 * | tokenize | `POST /storedPaymentMethods` with the client-side JWE `encryptedCard` (`gateway_key`), for `recurring.model` |
 *
 * validate: Checkout v71 has no way to read a payment. The only request the spec offers that addresses
 * an existing authorisation is an authorisation adjustment; adjusting to the amount already held changes
 * no money and Adyen answers `received`; the AUTHORISATION_ADJUSTMENT webhook then says whether the
 * authorisation is still valid (success true) or not. So validate is PENDING until that webhook. The
 * amount sent is the one the authorization holds (`heldAmountOf`), never the command's: the update SETS
 * the authorised amount (`PaymentAmountUpdateRequest.amount`, "the updated amount").
 */

export { ADYEN_RETURN_URL } from './adyen-methods';

/**
 * What a tokenized card is stored for (`recurringProcessingModel`, required by `/storedPaymentMethods`):
 * "When you first create a token, this indicates what type of recurring payment the token is intended for".
 * `Subscription` when the command names a subscription (`recurring.model`), else unscheduled card on file.
 */
function tokenModel(ctx: OperationContext): 'Subscription' | 'UnscheduledCardOnFile' {
  return ctx.payment.recurring?.model === 'subscription' ? 'Subscription' : 'UnscheduledCardOnFile';
}

type Json = Record<string, unknown>;

/**
 * The command's amount in Adyen's units. Thrown before anything is sent: a currency Adyen does not list or
 * an amount it cannot express exactly is a `MoneyRefusalError` (FAIL, reason `currency_not_supported` /
 * `amount_not_representable`, naming the field), never a retry.
 */
function amountOf(ctx: OperationContext): AdyenAmount {
  return toAdyenAmount(ctx.payment.amount, ctx.payment.currency);
}

/**
 * validate: the amount the authorization holds, in Adyen's units. The amount update sets the authorised
 * amount to what it is sent, so adjusting "to the same amount" must name what Adyen holds (`ctx.held`: its
 * confirmed figure, else what it was asked), never the command's amount: a validate for 0 (schema-valid)
 * would change the hold it checks, or be refused and the OMS told a valid hold is not valid. For an
 * authorization that is not one of our records, the command's amount is the OMS's word for the hold; 0 then
 * names nothing and is refused before anything is sent, naming the field.
 */
function heldAmountOf(ctx: OperationContext, gateway: GatewayConfig): AdyenAmount {
  if (ctx.held) return toAdyenAmount(ctx.held.amount, ctx.held.currency);
  if (ctx.payment.amount > 0) return amountOf(ctx);
  throw new GatewayError('invalid_request', gateway.name, 'validate of an authorization the bridge does not hold needs payment.amount: the amount it holds', {
    gatewayCode: 'ADYEN_VALIDATE_AMOUNT_UNKNOWN',
    field: 'payment.amount',
  });
}

function pspReferenceOf(ctx: OperationContext, gateway: GatewayConfig): string {
  const key = ctx.payment.gateway_key;
  // Adyen pspReferences are 16 alphanumerics; anything else would be an injected path.
  if (!/^[A-Za-z0-9]{1,64}$/.test(key)) {
    throw new GatewayError('invalid_request', gateway.name, 'payment.gateway_key is not an Adyen pspReference', { gatewayCode: 'ADYEN_PSP_REFERENCE_INVALID' });
  }
  return key;
}

/** The stored-card key a revalidate charges: `custom_attributes.stored_payment_method`, else `gateway_key`. */
function storedCardKeyFor(ctx: OperationContext): string {
  if (ctx.command === 'revalidate') return customAttribute(ctx.payment, 'stored_payment_method') ?? ctx.payment.gateway_key;
  return ctx.payment.gateway_key;
}

function paymentBody(ctx: OperationContext, gateway: GatewayConfig, capture: 'manual' | 'immediate'): Json {
  const body: Json = {
    amount: amountOf(ctx),
    merchantAccount: gateway.merchantAccount,
    reference: merchantReferenceFor(ctx.operationId),
    // The payment method (stored card, one-time card, wallet, Klarna) and token on first use: adyen-methods.ts.
    ...adyenMethodFields(ctx, gateway, storedCardKeyFor(ctx)),
  };
  if (ctx.payment.order_id) body.merchantOrderReference = ctx.payment.order_id.slice(0, 1000);
  if (capture === 'manual') {
    body.additionalData = gateway.authorisationType ? { manualCapture: 'true', authorisationType: gateway.authorisationType } : { manualCapture: 'true' };
  } else body.captureDelayHours = 0;
  return body;
}

function bodyAndPath(ctx: OperationContext, gateway: GatewayConfig): { path: string; body: Json } {
  const reference = merchantReferenceFor(ctx.operationId);
  const merchantAccount = gateway.merchantAccount;
  // Stored value card commands are not carried here (`supports`); delivery refuses them before this.
  if (isStoredValueCommand(ctx.command)) return unsupportedCommand(ctx.command, gateway.name);
  switch (ctx.command) {
    case 'authorize':
    case 'revalidate':
      return { path: '/payments', body: paymentBody(ctx, gateway, 'manual') };
    case 'sale':
      return { path: '/payments', body: paymentBody(ctx, gateway, 'immediate') };
    case 'capture':
      // A partial capture per shipment names its lines (Klarna requires them; harmless for cards).
      return {
        path: `/payments/${pspReferenceOf(ctx, gateway)}/captures`,
        body: {
          merchantAccount,
          amount: amountOf(ctx),
          reference,
          ...(ctx.payment.lines && ctx.payment.lines.length > 0
            ? { lineItems: adyenLineItems(ctx.payment.lines, ctx.payment.currency, ctx.payment.amount) }
            : {}),
        },
      };
    case 'refund':
      return { path: `/payments/${pspReferenceOf(ctx, gateway)}/refunds`, body: { merchantAccount, amount: amountOf(ctx), reference } };
    case 'cancel':
      return { path: `/payments/${pspReferenceOf(ctx, gateway)}/cancels`, body: { merchantAccount, reference } };
    case 'validate':
      // An adjustment to the same amount confirms (and extends) a pre-authorisation; Adyen adjusts nothing
      // else, so on a final authorisation it would fail and the OMS would hear that a valid hold is not.
      if (gateway.authorisationType !== 'PreAuth') {
        throw new GatewayError('invalid_request', gateway.name, `validate needs pre-authorisations: gateways.${gateway.name}.authorisation_type PreAuth`, {
          gatewayCode: 'ADYEN_VALIDATE_NEEDS_PREAUTH',
        });
      }
      return { path: `/payments/${pspReferenceOf(ctx, gateway)}/amountUpdates`, body: { merchantAccount, amount: heldAmountOf(ctx, gateway), reference } };
    case 'tokenize':
      return {
        path: '/storedPaymentMethods',
        body: {
          merchantAccount,
          shopperReference: shopperReferenceForNewToken(ctx.payment, ctx.operationId),
          recurringProcessingModel: tokenModel(ctx),
          // gateway_key is the JWE Adyen's client-side encryption produced: never a card number in clear.
          paymentMethod: { type: 'scheme', encryptedCard: ctx.payment.gateway_key },
        },
      };
    default:
      return assertNever(ctx.command, 'command');
  }
}

/**
 * The request performing `ctx` (see `adyenPost`: the attempt's `Idempotency-Key`, the operation id as reference).
 */
export function buildAdyenRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest {
  const { path, body } = bodyAndPath(ctx, gateway);
  return adyenPost(ctx, path, body);
}
