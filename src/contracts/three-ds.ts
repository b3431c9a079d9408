/**
 * 3-D Secure on a command (docs/PAYMENT-METHODS.md, "Cybersource Payer Authentication"):
 * - `payment.three_ds: "required"` asks the PSP to authenticate the cardholder on this authorize/sale even
 *   where the gateway does not ask for it by default (`gateways.<name>.payer_authentication`);
 * - `payment.action_result` completes an operation waiting in ACTION_REQUIRED: the same command (same
 *   operation id and money) sent again with what the storefront got back from the challenge.
 */

/** `payment.three_ds`: the only value is `required`. */
export const THREE_DS_VALUES = ['required'] as const;
export type ThreeDsRequirement = (typeof THREE_DS_VALUES)[number];

/** `payment.action_result`: what completes a customer action. */
export interface ActionResult {
  /**
   * Cybersource: `consumerAuthenticationInformation.authenticationTransactionId` of the PENDING_AUTHENTICATION
   * answer (handed to the storefront on the ACTION_REQUIRED event), once the customer finished the step-up.
   */
  authentication_transaction_id: string;
}

/** JSON Schema of `payment.three_ds`. */
export const threeDsSchema = { enum: THREE_DS_VALUES } as const;

/** JSON Schema of `payment.action_result`: an opaque PSP id (letters, digits, `-`, `_`, `.`), at most 64 characters. */
export const actionResultSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['authentication_transaction_id'],
  properties: {
    authentication_transaction_id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
  },
} as const;
