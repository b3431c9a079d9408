import type { GatewayConfig } from '../gateway-config';
import { GatewayError } from '../../errors/gateway-error';
import { isoToPspAmount } from '../../money/psp-currency-table';
import { assertNever } from '../assert-never';
import { GatewayRequest, OperationContext } from '../gateway-adapter';
import { adyenPost, merchantReferenceFor } from '../adyen/adyen-references';
import { customAttribute, parseStoredToken } from '../adyen/adyen-stored-token';
import { unsupportedCommand } from '../unsupported-command';
import { ADYEN_SV_CURRENCIES } from './adyen-stored-value-currencies';

/**
 * Request bodies for the Adyen Stored Value API v46 (`test/fixtures/specs/adyen-storedvalue-v46.json`,
 * https://docs.adyen.com/payment-methods/gift-cards/stored-value-api). `base_url` includes the version, e.g.
 * `https://pal-test.adyen.com/pal/servlet/StoredValue/v46`.
 *
 * | command | request |
 * | --- | --- |
 * | balance_inquiry | `POST /checkBalance` (with `amount` when the command names one: Adyen then says whether the card covers it) |
 * | reload | `POST /load`, `loadType: load` |
 * | refund (to the card) | `POST /load`, `loadType: merchandiseReturn` |
 * | issue | `POST /issue`: givex (`amount` optional), svs (`amount` > 0; only with the gateway's `issue_svs`) or valuelink (no amount; `giftCardPromoCode` from `custom_attributes.giftcard_promo_code`) |
 * | activate / deactivate | `POST /changeStatus`, `status: active / inactive` |
 * | merge_balance | `POST /mergeBalance`, `sourcePaymentMethod` = the source card |
 * | cancel (void) | `POST /voidTransaction`, `originalReference` = the transaction's pspReference (Adyen: within 24 hours; a cancel naming our operation id is given its pspReference by delivery, `resolveOperationContext`) |
 *
 * The card is always a token, never its number or PIN: `gateway_key` is `<shopperReference>:<recurringDetailReference>`
 * of a gift card Adyen tokenized (or the bare reference with `custom_attributes.shopper_reference`), sent as
 * `recurringDetailReference` + `shopperReference`, with `paymentMethod.type` the card's brand from
 * `method_details.submethod` (`givex`, `svs`, `valuelink`, an Intersolve card type; `custom_attributes.giftcard_brand`
 * also works). `merchantAccount` is always the gateway's configured `merchant_account`.
 *
 * Redemption (paying with the card) is not a Stored Value API transaction ("The Stored Value API doesn't
 * let you make, cancel, or refund payments"): it is a Checkout `/payments` with `paymentMethod.type: giftcard`,
 * carried by the `adyen` gateway (docs/payment-methods/stored-value.md).
 */

type Json = Record<string, unknown>;

/** The card's brand: `method_details.submethod`, else `custom_attributes.giftcard_brand`. */
export function giftCardBrand(ctx: OperationContext, gateway: string): string {
  const brand = ctx.payment.method_details?.submethod ?? customAttribute(ctx.payment, 'giftcard_brand');
  if (!brand || !/^[A-Za-z0-9_-]{1,64}$/.test(brand)) {
    throw new GatewayError('invalid_request', gateway, 'payment.method_details.submethod must name the gift card brand (givex, svs, valuelink…)', {
      gatewayCode: 'ADYEN_SV_BRAND_MISSING',
    });
  }
  return brand;
}

function amountOf(ctx: OperationContext): { value: number; currency: string } {
  return { value: isoToPspAmount(ADYEN_SV_CURRENCIES, ctx.payment.amount, ctx.payment.currency, 'payment.amount'), currency: ctx.payment.currency };
}

/** The card fields of a request naming the card `key` (see the file comment). */
function cardFields(ctx: OperationContext, key: string, brand: string, gateway: string): Json {
  const token = parseStoredToken(key, ctx.payment, gateway);
  return {
    paymentMethod: { type: brand },
    recurringDetailReference: token.storedPaymentMethodId,
    shopperReference: token.shopperReference,
    shopperInteraction: 'ContAuth',
  };
}

function pspReferenceOf(ctx: OperationContext, gateway: string): string {
  const key = ctx.payment.gateway_key;
  if (!/^[A-Za-z0-9]{1,64}$/.test(key)) {
    throw new GatewayError('invalid_request', gateway, 'payment.gateway_key is not an Adyen pspReference', { gatewayCode: 'ADYEN_PSP_REFERENCE_INVALID' });
  }
  return key;
}

/**
 * What `/issue` takes per provider (https://docs.adyen.com/payment-methods/gift-cards/stored-value-api/issue):
 * `paymentMethod.type` givex, svs or valuelink only (an Intersolve card cannot be issued online); `amount`
 * optional for Givex, greater than zero for SVS, not used for others; `giftCardPromoCode` required for Fiserv
 * (ValueLink), not used for others.
 */
const ISSUE_RULES: Readonly<Record<string, { amount: 'optional' | 'required' | 'none'; promoCode: boolean; existingIntegrationsOnly?: true }>> = {
  givex: { amount: 'optional', promoCode: false },
  // "If you are building a new Stored Value API integration, issuing SVS gift cards is not supported. If you have an
  // existing Stored Value API integration and have issued SVS gift cards, you can continue doing so" (the issue guide):
  // sent only where the gateway says its integration is such a one (`issue_svs`).
  svs: { amount: 'required', promoCode: false, existingIntegrationsOnly: true },
  valuelink: { amount: 'none', promoCode: true },
};

/** `custom_attributes` name of a Fiserv (ValueLink) card's promotional code, sent on `/issue` as `giftCardPromoCode`. */
export const PROMO_CODE_ATTRIBUTE = 'giftcard_promo_code';

/**
 * The card fields of an `/issue` request: a new card has no token yet, only its brand (Adyen answers with the card
 * in paymentMethod). What the provider does not take is refused before sending, naming the field, never dropped:
 * an amount asked of a card issued without one would be money the OMS believes loaded.
 * `giftCardPromoCode` is in Adyen's issue guide but not in the Stored Value v46 OpenAPI spec (whose request
 * schemas refuse unknown fields): the guide is what Adyen's live API documents for Fiserv.
 */
function issueFields(ctx: OperationContext, config: GatewayConfig): Json {
  const gateway = config.name;
  const brand = giftCardBrand(ctx, gateway);
  const rules = ISSUE_RULES[brand.toLowerCase()];
  const refuse = (field: string, reason: string): never => {
    throw new GatewayError('invalid_request', gateway, `${field} ${reason}`, { gatewayCode: 'ADYEN_SV_ISSUE_INVALID', field });
  };
  if (!rules) return refuse('payment.method_details.submethod', 'names a brand Adyen does not issue online (givex, svs, valuelink)');
  if (rules.existingIntegrationsOnly && config.issueSvs !== true) {
    refuse(
      'payment.method_details.submethod',
      `names ${brand}: Adyen supports no ${brand} issuing for a new Stored Value API integration (one that already issued such cards may go on: gateways.${gateway}.issue_svs)`,
    );
  }
  const amount = ctx.payment.amount > 0;
  if (rules.amount === 'required' && !amount) refuse('payment.amount', `must be greater than zero to issue a ${brand} card`);
  if (rules.amount === 'none' && amount) refuse('payment.amount', `must be 0: a ${brand} card is issued with its promotion's value, not an amount`);
  const promoCode = customAttribute(ctx.payment, PROMO_CODE_ATTRIBUTE);
  if (rules.promoCode && !(promoCode !== undefined && /^[A-Za-z0-9_-]{1,64}$/.test(promoCode))) {
    refuse(`payment.custom_attributes.${PROMO_CODE_ATTRIBUTE}`, `is required to issue a ${brand} card (giftCardPromoCode)`);
  }
  return {
    paymentMethod: { type: brand },
    ...(amount ? { amount: amountOf(ctx) } : {}),
    ...(rules.promoCode ? { giftCardPromoCode: promoCode } : {}),
  };
}

function bodyAndPath(ctx: OperationContext, gateway: GatewayConfig): { path: string; body: Json } {
  const merchantAccount = gateway.merchantAccount;
  const reference = merchantReferenceFor(ctx.operationId);
  const base = (): Json => ({ merchantAccount, reference, ...cardFields(ctx, ctx.payment.gateway_key, giftCardBrand(ctx, gateway.name), gateway.name) });
  switch (ctx.command) {
    case 'balance_inquiry':
      return { path: '/checkBalance', body: { ...base(), ...(ctx.payment.amount > 0 ? { amount: amountOf(ctx) } : {}) } };
    case 'reload':
      return { path: '/load', body: { ...base(), amount: amountOf(ctx), loadType: 'load' } };
    case 'refund':
      return { path: '/load', body: { ...base(), amount: amountOf(ctx), loadType: 'merchandiseReturn' } };
    case 'issue':
      return { path: '/issue', body: { merchantAccount, reference, ...issueFields(ctx, gateway) } };
    case 'activate':
    case 'deactivate':
      return { path: '/changeStatus', body: { ...base(), status: ctx.command === 'activate' ? 'active' : 'inactive' } };
    case 'merge_balance': {
      const source = ctx.payment.stored_value?.source_gateway_key;
      if (!source) {
        throw new GatewayError('invalid_request', gateway.name, 'payment.stored_value.source_gateway_key is required', {
          gatewayCode: 'ADYEN_SV_SOURCE_MISSING',
        });
      }
      const sourceToken = parseStoredToken(source, ctx.payment, gateway.name);
      // sourcePaymentMethod is a map of strings: the source card by its stored reference. No `type`: the
      // spec says it "should not be included since it is inferred from the (target) payment method".
      return { path: '/mergeBalance', body: { ...base(), sourcePaymentMethod: { recurringDetailReference: sourceToken.storedPaymentMethodId } } };
    }
    case 'cancel':
      return { path: '/voidTransaction', body: { merchantAccount, originalReference: pspReferenceOf(ctx, gateway.name), reference } };
    case 'authorize':
    case 'sale':
    case 'capture':
    case 'validate':
    case 'revalidate':
    case 'tokenize':
      return unsupportedCommand(ctx.command, gateway.name);
    default:
      return assertNever(ctx.command, 'command');
  }
}

/**
 * The request performing `ctx` (see `adyenPost`: the attempt's `Idempotency-Key`, the operation id as reference).
 */
export function buildAdyenSvRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest {
  const { path, body } = bodyAndPath(ctx, gateway);
  return adyenPost(ctx, path, body);
}
