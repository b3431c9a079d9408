import { isStoredValueCommand } from '../../contracts/stored-value';
import { unsupportedCommand } from '../unsupported-command';
import { createHash } from 'node:crypto';
import type { GatewayConfig } from '../gateway-config';
import { Payment, cardExpiryMonth, cardExpiryYear } from '../../contracts/payment-command';
import { GatewayError } from '../../errors/gateway-error';
import { toCybersourceAmount } from './cybersource-currencies';
import { assertNever } from '../assert-never';
import { CapturedRefunds, GatewayRequest, NamedVoid, OperationContext, uncapturedRemainder } from '../gateway-adapter';
import { pathSegment } from '../path-segment';
import { cybersourceMethodFields } from './cybersource-methods';
import { payerAuthenticationFields, refuseMerchantInitiatedThreeDs, validationFields, wantsPayerAuthentication } from './cybersource-payer-auth';
import { ActionResult } from '../../contracts/three-ds';
import { CommandValidationError } from '../../errors/command-validation-error';

/**
 * Command → Cybersource REST request (pts/v2, tss/v2, tms/v1). Pure.
 *
 * Duplicates: the 2020-02-17 API documents no idempotency-key header, so none is invented. Every
 * state-changing request carries our operation id as `clientReferenceInformation.code` (the merchant
 * reference); Cybersource refuses a second authorization with the same reference within 15 minutes
 * (`DUPLICATE_REQUEST`), and an operation whose first attempt has no answer is looked up by that reference
 * (`POST /tss/v2/searches`, see {@link buildSearchRequest}) before it is ever sent again.
 *
 * Ids in logs: Cybersource payment ids are 22 digits, and the log redactor masks any Luhn-valid 12–19 digit
 * window of a longer digit run, which nearly every such id contains; paths and references with payment ids
 * therefore come out of the logs as `[PAN REDACTED]` (over-redaction: safe, but it hides the id).
 */

/** Largest `clientReferenceInformation.code` Cybersource accepts. */
export const MAX_REFERENCE_LENGTH = 50;

/**
 * The merchant reference for an operation: the operation id itself, or, when it is longer than 50
 * characters, a stable digest of it (`h-` + 48 hex), so the status inquiry finds what the request sent.
 */
export function merchantReference(operationId: string): string {
  if (operationId.length <= MAX_REFERENCE_LENGTH) return operationId;
  return `h-${createHash('sha256')
    .update(operationId, 'utf8')
    .digest('hex')
    .slice(0, MAX_REFERENCE_LENGTH - 2)}`;
}

/** Our operation id from a merchant reference: undefined when absent or digested (an id longer than 50 characters). */
export function operationIdFromReference(code: string | undefined): string | undefined {
  return code === undefined || /^h-[0-9a-f]{48}$/.test(code) ? undefined : code;
}

/** Headers of every JSON request (the search of reconciliation too). */
export const JSON_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json;charset=utf-8',
  accept: 'application/hal+json;charset=utf-8, application/json;charset=utf-8',
};

function post(path: string, body: unknown, extra: Record<string, string> = {}): GatewayRequest {
  return { method: 'POST', path, headers: { ...JSON_HEADERS, ...extra }, body: JSON.stringify(body) };
}

function amountDetails(minor: number, currency: string, field = 'payment.amount'): { totalAmount: string; currency: string } {
  return { totalAmount: toCybersourceAmount(minor, currency, field), currency };
}

/** Refunds are by line (`lines[].refund_amount`) when the lines say so; otherwise `payment.amount`. */
export function refundAmount(payment: Payment): number {
  const lines = payment.lines?.filter((l) => typeof l.refund_amount === 'number') ?? [];
  return lines.length > 0 ? lines.reduce((sum, l) => sum + (l.refund_amount ?? 0), 0) : payment.amount;
}

/** The command field a refund's amount comes from, for a refusal to name. */
function refundAmountField(payment: Payment): string {
  return payment.lines?.some((l) => typeof l.refund_amount === 'number') ? 'payment.lines[].refund_amount' : 'payment.amount';
}

/** The payment id in a path segment; ids are digits, but never let a key change the path. */
function id(payment: Payment): string {
  return pathSegment(payment.gateway_key, 'payment.gateway_key', 'cybersource');
}

/**
 * `POST /pts/v2/payments`. `paymentInformation.customer.customerId` is the TMS token: the only token
 * field the 2020 createPayment request documents ("when you use Payment Tokenization … the value for the
 * Customer ID is actually the Cybersource payment token"); with TMS v1 that is the payment instrument id.
 */
function paymentRequest(ctx: OperationContext, gateway: GatewayConfig, capture: boolean, revalidate: boolean, completion?: ActionResult): GatewayRequest {
  const { payment } = ctx;
  refuseMerchantInitiatedThreeDs(payment);
  // The method (stored token, transient token, token on first use) and merchant-initiated flags: cybersource-methods.ts.
  const method = cybersourceMethodFields(payment, gateway, revalidate);
  // 3-D Secure (cybersource-payer-auth.ts): asked for on the first request, validated on the completion.
  const auth = completion
    ? validationFields(completion)
    : !revalidate && wantsPayerAuthentication(payment, gateway)
      ? payerAuthenticationFields(payment)
      : null;
  const processing: Record<string, unknown> = { capture, ...method.processing };
  if (auth) {
    const existing = Array.isArray(processing.actionList) ? (processing.actionList as string[]) : [];
    processing.actionList = [...auth.actions, ...existing];
  }
  return post('/pts/v2/payments', {
    clientReferenceInformation: { code: merchantReference(ctx.operationId) },
    processingInformation: processing,
    ...method.body,
    ...(auth ? auth.body : {}),
    orderInformation: { amountDetails: amountDetails(payment.amount, payment.currency) },
  });
}

/**
 * The completion of a 3-D Secure challenge (`payment.action_result`): the authorize or sale again, with
 * `actionList: ["VALIDATE_CONSUMER_AUTHENTICATION"]` and the challenge's `authenticationTransactionId`,
 * under the same merchant reference. Its answer is the authorization's (`parseCybersourceResponse`).
 */
export function buildCybersourceCompletionRequest(ctx: OperationContext, result: ActionResult, gateway: GatewayConfig): GatewayRequest {
  if (ctx.command !== 'authorize' && ctx.command !== 'sale') {
    throw new CommandValidationError('payment.action_result', `completes an authorize or a sale, not a ${ctx.command}`);
  }
  return paymentRequest(ctx, gateway, ctx.command === 'sale', false, result);
}

/** TMS card `type` names (spec: tms/v1/paymentinstruments `card.type`) by the brand names channels send. */
const TMS_CARD_TYPES: Readonly<Record<string, string>> = {
  visa: 'visa',
  mastercard: 'mastercard',
  'american express': 'american express',
  amex: 'american express',
  discover: 'discover',
  'diners club': 'diners club',
  diners: 'diners club',
  jcb: 'jcb',
  maestro: 'maestro',
  'cartes bancaires': 'cartes bancaires',
  cb: 'cartes bancaires',
};

/**
 * `POST /tms/v1/paymentinstruments` linking the instrument identifier named by `gateway_key`.
 *
 * Why not `/tms/v1/instrumentidentifiers`: in this API version that endpoint accepts only a card number
 * or bank account (`card.number`, `BankAccount.number`), and a card number never passes through us. The
 * client side (Flex Microform / Secure Acceptance) creates the instrument identifier from the card; we
 * receive its id as `gateway_key` and make a reusable payment instrument of it. The payment instrument
 * id is `newGatewayKey`, the token authorizations use as `customerId`. The TMS profile id is the
 * gateway's `merchant_account`.
 */
function tokenizeRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest {
  const card = ctx.payment.method_details?.card;
  const type = card?.brand ? TMS_CARD_TYPES[card.brand.trim().toLowerCase()] : undefined;
  if (!type) {
    throw new GatewayError('invalid_request', gateway.name, 'tokenize needs method_details.card.brand (a TMS card type)', {
      gatewayCode: 'CARD_BRAND_REQUIRED',
    });
  }
  // Read as numbers: the expiry may come as the MIB's strings ("3", "31"); TMS wants "03" and "2031".
  const month = cardExpiryMonth(card);
  const year = cardExpiryYear(card);
  const expiry = month !== undefined && year !== undefined ? { expirationMonth: String(month).padStart(2, '0'), expirationYear: String(year) } : {};
  return post(
    '/tms/v1/paymentinstruments',
    {
      card: { ...expiry, type },
      // TMS has no merchant reference field; metaData.creator is the documented free-text one.
      metaData: { creator: merchantReference(ctx.operationId) },
      instrumentIdentifier: { id: ctx.payment.gateway_key },
    },
    { 'profile-id': gateway.merchantAccount },
  );
}

/** Why a cancel of a captured authorization cannot be sent (the OMS event's reason). */
export const CANCEL_REFUSALS = {
  /**
   * Several captures took the whole authorization: nothing is held, and a void undoes one capture transaction
   * (`/pts/v2/captures/{id}/voids`, until its batch settles), so one cancel, one outcome, cannot undo them all
   * without a partial result no event could report (a refund returns the money).
   */
  severalCaptures: 'SEVERAL_CAPTURES_TO_VOID',
  /** The capture to void has no Cybersource id on record. */
  captureReference: 'CAPTURE_REFERENCE_MISSING',
  /** What a capture took is known in no figure of the authorization's currency: whether any of it is left cannot be told. */
  capturedAmount: 'CAPTURED_AMOUNT_UNKNOWN',
  /**
   * The sale or capture to void has refunds that gave money back or may still: a void returns the whole
   * transaction and leaves them standing (the shopper paid back twice); a refund of the rest returns the money.
   */
  refunded: 'CAPTURE_REFUNDED',
} as const;

/**
 * Refuses the void of a sale or capture with refunds standing or in flight (`CAPTURE_REFUNDED`, naming
 * `payment.gateway_key` and the refunds): Cybersource voids a capture (or a sale) whole, with no amount, and a
 * void leaves the refunds already made of it in place (its documentation only stops a refund of a capture once
 * voided, not the other way round); voided, the shopper would get the refunded part back twice, and the OMS's
 * books would disagree with the PSP's. What is left is returned by a refund of the rest.
 */
function refuseVoidOfRefunded(what: 'sale' | 'capture', refunded: CapturedRefunds | undefined, gateway: string): void {
  const outside = refunded?.refundedOutsideBridge ?? 0;
  if (refunded === undefined || (refunded.refunds.length === 0 && outside <= 0)) return;
  const list = [
    ...refunded.refunds.map((r) => `${r.id} ${r.amount}${r.inFlight ? ' in flight' : ''}`),
    // A refund the PSP made that no refund of ours asked for (the Business Center): as much money given back.
    ...(outside > 0 ? [`${outside} refunded outside the bridge`] : []),
  ].join(', ');
  const count = refunded.refunds.length + (outside > 0 ? 1 : 0);
  throw new GatewayError(
    'invalid_request',
    gateway,
    `cancel would void a ${what} that ${count} refund(s) already give back in part (${list}; minor units of ${refunded.currency}): a void returns all of it and the refunds stand; refund the rest (${refunded.left}) instead`,
    { gatewayCode: CANCEL_REFUSALS.refunded, field: 'payment.gateway_key' },
  );
}

function reversal(payment: Payment, code: string, minor: number, currency: string, field: string): GatewayRequest {
  return post(`/pts/v2/payments/${id(payment)}/reversals`, {
    clientReferenceInformation: { code },
    reversalInformation: { amountDetails: amountDetails(minor, currency, field), reason: 'cancel' },
  });
}

/**
 * A cancel: the release of what the authorization still holds. An authorization reversal
 * (`POST /pts/v2/payments/{id}/reversals`) releases a hold and leaves any capture of it as it is (Cybersource's
 * authorization reversal service); only a void undoes a capture. So:
 * - nothing captured (`ctx.captured` absent, from our ledger): a reversal of the command's amount;
 * - captures that took less than the authorization holds (partial captures, one or several: the rest of the
 *   order cancelled): a reversal of that remainder, the authorized amount (`captured.authorized`, what the PSP
 *   confirmed) less what they took, in its currency. The captures stand: the goods they paid for shipped.
 *   Cybersource reverses part of an authorization where the processor supports it; where it reversed that
 *   part itself with the partial capture (automatic partial authorization reversal) it refuses ours, a FAIL;
 * - a sale, or captures that took all of it: what was captured is voided, while Cybersource has not settled
 *   it: a sale by its payment id (`POST /pts/v2/payments/{id}/voids`, "Void a Payment"), a capture by its own
 *   id (`POST /pts/v2/captures/{id}/voids`, "Void a Capture", the id its answer gave). A void takes no amount: it
 *   undoes the whole transaction. Once the batch has settled Cybersource refuses it (400 `NOT_VOIDABLE`,
 *   webhook `payments.voids.reject`): a FAIL, and only a refund returns the money;
 * - several captures that took all of it: refused unsent (`SEVERAL_CAPTURES_TO_VOID`, naming
 *   `payment.gateway_key`). Nothing is held to release, and each capture is its own transaction with its own
 *   void, refused once its own batch settled (split shipments settle on different days): voiding them under one
 *   cancel, one idempotency key and one outcome would leave some voided and some not, which neither a SUCCESS
 *   nor a FAIL reports truly. A refund of what was captured returns the money;
 * - a sale, or one capture that took all of it, that refunds already give back in part (succeeded, or in
 *   flight when the cancel was first tried and registered before it or sent already; one registered after it
 *   waits for it): refused unsent (`CAPTURE_REFUNDED`, naming `payment.gateway_key` and the refunds). The void
 *   would return all of it while the refunds stand: money paid back twice. A refund of the rest returns what is
 *   left. (A reversal of a remainder leaves captured money and its refunds alone.)
 * A retry is built on what the first attempt was (`ctx.captured` from the cancel's `cancelBasis`), so one
 * merchant reference never carries two requests.
 * A cancel naming one of our captures or refunds by its operation id (`ctx.voidOf`) voids that transaction by its
 * own id ({@link namedVoidRequest}), whatever the authorization holds.
 */
function cancelRequest(ctx: OperationContext, gateway: GatewayConfig, code: string): GatewayRequest {
  const { payment, captured } = ctx;
  if (ctx.voidOf) return namedVoidRequest(ctx.voidOf, payment, code);
  if (captured === undefined) return reversal(payment, code, payment.amount, payment.currency, 'payment.amount');
  if (captured.by === 'sale') {
    refuseVoidOfRefunded('sale', captured.refunded, gateway.name);
    return post(`/pts/v2/payments/${id(payment)}/voids`, { clientReferenceInformation: { code } });
  }
  const remainder = uncapturedRemainder(captured);
  // The remainder is in the PSP's currency, the one the cancel is sent in (a converted authorization's too).
  if (remainder === undefined || captured.authorized.currency.toUpperCase() !== payment.currency.toUpperCase()) {
    throw new GatewayError('invalid_request', gateway.name, 'cancel of a captured authorization whose captures are not all known in its currency', {
      gatewayCode: CANCEL_REFUSALS.capturedAmount,
      field: 'payment.gateway_key',
    });
  }
  if (remainder > 0) return reversal(payment, code, remainder, payment.currency, 'payment.gateway_key');
  if (captured.captures.length > 1) {
    throw new GatewayError(
      'invalid_request',
      gateway.name,
      `cancel of an authorization fully captured by ${captured.captures.length} captures: nothing is held to release, and a void undoes one capture (each its own transaction, voidable until its batch settles); a refund returns the money`,
      {
        gatewayCode: CANCEL_REFUSALS.severalCaptures,
        field: 'payment.gateway_key',
      },
    );
  }
  refuseVoidOfRefunded('capture', captured.refunded, gateway.name);
  const reference = captured.captures[0]?.reference;
  if (reference === undefined) {
    throw new GatewayError('invalid_request', gateway.name, 'cancel of a captured authorization whose capture has no cybersource id on record', {
      gatewayCode: CANCEL_REFUSALS.captureReference,
      field: 'payment.gateway_key',
    });
  }
  return post(`/pts/v2/captures/${pathSegment(reference, 'capture gateway_reference', gateway.name)}/voids`, { clientReferenceInformation: { code } });
}

/**
 * The void of one capture or refund by its own Cybersource id (`payment.gateway_key`, the id its answer gave):
 * `POST /pts/v2/captures/{id}/voids` ("Void a Capture") or `POST /pts/v2/refunds/{id}/voids` ("Void a Refund"), with
 * the merchant reference only: a void takes no amount, it undoes the whole transaction. Answered 201 `VOIDED` (with
 * `voidAmountDetails`) while the batch has not settled; 400 `INVALID_REQUEST` with reason `NOT_VOIDABLE` after.
 */
function namedVoidRequest(voidOf: NamedVoid, payment: Payment, code: string): GatewayRequest {
  const segment = pathSegment(payment.gateway_key, 'payment.gateway_key', 'cybersource');
  return post(`/pts/v2/${voidOf.command === 'capture' ? 'captures' : 'refunds'}/${segment}/voids`, { clientReferenceInformation: { code } });
}

/** The request that performs `ctx.command`. */
export function buildCybersourceRequest(ctx: OperationContext, gateway: GatewayConfig): GatewayRequest {
  const { payment } = ctx;
  const code = merchantReference(ctx.operationId);
  // Stored value card commands are not carried here (`supports`); delivery refuses them before this.
  if (isStoredValueCommand(ctx.command)) return unsupportedCommand(ctx.command, gateway.name);
  switch (ctx.command) {
    case 'authorize':
      return paymentRequest(ctx, gateway, false, false);
    case 'sale':
      return paymentRequest(ctx, gateway, true, false);
    case 'revalidate':
      // A new authorization from the same stored token (gateway_key), merchant-initiated.
      return paymentRequest(ctx, gateway, false, true);
    case 'capture':
      return post(`/pts/v2/payments/${id(payment)}/captures`, {
        clientReferenceInformation: { code },
        orderInformation: { amountDetails: amountDetails(payment.amount, payment.currency) },
      });
    case 'cancel':
      return cancelRequest(ctx, gateway, code);
    case 'refund':
      // payments/{id}/refunds takes the payment id the OMS holds (the sale, or the captured
      // authorization); captures/{id}/refunds would need the capture id, which the OMS never sees.
      return post(`/pts/v2/payments/${id(payment)}/refunds`, {
        clientReferenceInformation: { code },
        orderInformation: { amountDetails: amountDetails(refundAmount(payment), payment.currency, refundAmountField(payment)) },
      });
    case 'validate':
      return transactionDetailsRequest(id(payment));
    case 'tokenize':
      return tokenizeRequest(ctx, gateway);
    default:
      return assertNever(ctx.command, 'command');
  }
}

/** `GET /tss/v2/transactions/{id}` (Transaction Details) for an id already made a path segment. */
function transactionDetailsRequest(segment: string): GatewayRequest {
  return { method: 'GET', path: `/tss/v2/transactions/${segment}`, headers: { accept: JSON_HEADERS.accept } };
}

/**
 * The follow-up of a status inquiry: the Transaction Details of the transaction its search found
 * (`cybersourceDetailsToAsk`), which carry `orderInformation.amountDetails.authorizedAmount` where a
 * search summary carries only `totalAmount`, the amount asked.
 */
export function buildTransactionDetailsRequest(transactionId: string, gateway: string): GatewayRequest {
  return transactionDetailsRequest(pathSegment(transactionId, 'transactionSummaries[].id', gateway));
}

/** A TSS query value: bare when it is a plain word, otherwise quoted with `"` and `\` escaped. */
function queryValue(value: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * Status inquiry: `POST /tss/v2/searches` for transactions whose merchant reference is the operation's,
 * over the window of the documented example (7 days back to tomorrow), newest first.
 */
export function buildSearchRequest(ctx: OperationContext): GatewayRequest {
  return post('/tss/v2/searches', {
    save: false,
    name: 'payment-bridge status inquiry',
    timezone: 'UTC',
    query: `clientReferenceInformation.code:${queryValue(merchantReference(ctx.operationId))} AND submitTimeUtc:[NOW/DAY-7DAYS TO NOW/DAY+1DAY}`,
    offset: 0,
    limit: 100,
    sort: 'submitTimeUtc:desc',
  });
}

/**
 * The doctor's harmless credential check: a transaction search (`POST /tss/v2/searches`, read-only, not
 * saved) for a merchant reference no operation has, over one day. 201 proves the HTTP Signature key pair
 * and the merchant id; 401 refuses them.
 */
export function buildCredentialCheckRequest(): GatewayRequest {
  return post('/tss/v2/searches', {
    save: false,
    name: 'payment-bridge doctor',
    timezone: 'UTC',
    query: 'clientReferenceInformation.code:payment-bridge-doctor AND submitTimeUtc:[NOW/DAY-1DAY TO NOW/DAY+1DAY}',
    offset: 0,
    limit: 1,
    sort: 'submitTimeUtc:desc',
  });
}
