import { GatewayError } from './gateway-error';

/**
 * Why an amount cannot go to (or come from) a PSP as it is:
 * - `currency_not_supported`: the PSP's own currency table does not list the currency.
 * - `amount_not_representable`: the amount is not a whole number of the unit one side can express (an
 *   ISO-minor MGA amount that is not a whole ariary on Stripe, an ISK amount Stripe wants in hundreds, a
 *   PSP amount finer than the ISO minor unit), or it is beyond the PSP's documented maximum.
 */
export type MoneyRefusal = 'amount_not_representable' | 'currency_not_supported';

/**
 * An amount or currency refused before anything is sent (or read from an answer): never retryable, and the
 * operation ends FAILED with `reason` = the refusal code (`gatewayCode`) and `details.field` naming the
 * field at fault. A `GatewayError` of kind `invalid_request`, so delivery treats it like any other request
 * the PSP would refuse for good. The message never carries the amount itself.
 */
export class MoneyRefusalError extends GatewayError {
  constructor(
    readonly refusal: MoneyRefusal,
    gateway: string,
    /** The field at fault, e.g. `payment.amount`, `payment.currency`, or the PSP's response field. */
    readonly field: string,
    explanation: string,
  ) {
    super('invalid_request', gateway, `${refusal}: ${field}: ${explanation}`, { gatewayCode: refusal, field });
  }
}
