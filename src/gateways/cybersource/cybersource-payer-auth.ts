import type { GatewayConfig } from '../gateway-config';
import { Payment } from '../../contracts/payment-command';
import { isMerchantInitiatedCharge } from '../../contracts/payment-method';
import { ActionResult } from '../../contracts/three-ds';
import { CustomerAction } from '../customer-action';
import { CommandValidationError } from '../../errors/command-validation-error';

/**
 * Cybersource Payer Authentication (3-D Secure) combined with the authorization, as Cybersource's REST
 * documentation describes it ("Combining the Authentication and the Authorization Services"; the
 * payments samples "authorization with PA enroll, authentication needed" and "authorization with PA
 * validate"):
 * 1. `POST /pts/v2/payments` with `processingInformation.actionList: ["CONSUMER_AUTHENTICATION"]` checks
 *    enrollment and authorizes when no challenge is needed (frictionless: `AUTHORIZED`). A challenge
 *    answers `status: PENDING_AUTHENTICATION` with `consumerAuthenticationInformation.stepUpUrl`,
 *    `accessToken` (the JWT the browser posts to the step-up URL) and `authenticationTransactionId`.
 * 2. After the step-up, `POST /pts/v2/payments` again with `actionList: ["VALIDATE_CONSUMER_AUTHENTICATION"]`
 *    and `consumerAuthenticationInformation.authenticationTransactionId` validates and authorizes.
 *
 * Kept minimal: the device data collection (`POST /risk/v1/authentication-setups` and the browser's post
 * to its `deviceDataCollectionUrl`) is the storefront's; the `referenceId` it got there comes as
 * `payment_method.three_ds_reference_id` and goes out as `consumerAuthenticationInformation.referenceId`, which
 * ties the enrollment check to the collected device data ("Step 3: Payer Authentication Check Enrollment
 * Service"). Without it Cybersource authenticates without the browser's device data, which makes a challenge
 * likelier, never skips one. The command's `payment_method.return_url` goes out as
 * `consumerAuthenticationInformation.returnUrl`.
 * The offline spec (2020-02-17) predates `actionList`: its Prism check covers the rest of the request.
 */

type Json = Record<string, unknown>;

/** `actionList` entry that asks for enrollment check and authentication with the authorization. */
export const CONSUMER_AUTHENTICATION = 'CONSUMER_AUTHENTICATION';
/** `actionList` entry that validates a finished challenge and authorizes. */
export const VALIDATE_CONSUMER_AUTHENTICATION = 'VALIDATE_CONSUMER_AUTHENTICATION';

/**
 * Whether this authorize/sale asks Cybersource to authenticate the cardholder. Never a merchant-initiated
 * charge (`recurring` on a stored card): no cardholder is there to take a challenge, and Cybersource lists merchant-
 * initiated transactions among those exempt from strong customer authentication ("As follow-on
 * transactions, merchant-initiated transactions are exempt"), so the gateway's `payer_authentication`
 * default does not apply to them (a command asking for it anyway is refused: {@link refuseMerchantInitiatedThreeDs}).
 */
export function wantsPayerAuthentication(payment: Payment, gateway: Pick<GatewayConfig, 'payerAuthentication'>): boolean {
  if (isMerchantInitiatedCharge(payment)) return false;
  return payment.three_ds === 'required' || gateway.payerAuthentication === true;
}

/**
 * A merchant-initiated charge that asks for 3-D Secure (`three_ds: required` with `recurring`) cannot be
 * authenticated: nobody is there to take the challenge. Refused before anything is sent, naming the field.
 * @throws CommandValidationError naming `payment.three_ds`.
 */
export function refuseMerchantInitiatedThreeDs(payment: Payment): void {
  if (isMerchantInitiatedCharge(payment) && payment.three_ds === 'required') {
    throw new CommandValidationError('payment.three_ds', 'a merchant-initiated charge (payment.recurring) has no cardholder to authenticate');
  }
}

/**
 * What the first request adds: the action, the device data collection's `referenceId` and the return URL (where
 * the issuer's challenge page sends the browser back), each when the command gives it.
 */
export function payerAuthenticationFields(payment: Payment): { actions: string[]; body: Json } {
  const returnUrl = payment.payment_method?.return_url;
  const referenceId = payment.payment_method?.three_ds_reference_id;
  const info: Json = { ...(referenceId ? { referenceId } : {}), ...(returnUrl ? { returnUrl } : {}) };
  return {
    actions: [CONSUMER_AUTHENTICATION],
    body: Object.keys(info).length > 0 ? { consumerAuthenticationInformation: info } : {},
  };
}

/** What the completion request adds: the validation action and the challenge's transaction id. */
export function validationFields(result: ActionResult): { actions: string[]; body: Json } {
  return {
    actions: [VALIDATE_CONSUMER_AUTHENTICATION],
    body: { consumerAuthenticationInformation: { authenticationTransactionId: result.authentication_transaction_id } },
  };
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * The storefront's part of a `PENDING_AUTHENTICATION` answer: `kind: three_ds`, `url` = the step-up URL,
 * and `psp_action` with `stepUpUrl`, `accessToken` (short-lived, for the customer's browser; a key the log
 * redactor masks), `authenticationTransactionId` (what the OMS sends back as
 * `payment.action_result.authentication_transaction_id`). `undefined` when any of the three is missing:
 * nobody could complete such a challenge, and the answer stays a FAIL.
 */
export function payerAuthenticationAction(body: Json): CustomerAction | undefined {
  const info = body.consumerAuthenticationInformation;
  if (info === null || typeof info !== 'object' || Array.isArray(info)) return undefined;
  const cai = info as Json;
  const stepUpUrl = str(cai.stepUpUrl);
  const accessToken = str(cai.accessToken);
  const authenticationTransactionId = str(cai.authenticationTransactionId);
  if (!stepUpUrl || !accessToken || !authenticationTransactionId) return undefined;
  return { kind: 'three_ds', url: stepUpUrl, psp_action: { type: 'cybersource_step_up', stepUpUrl, accessToken, authenticationTransactionId } };
}
