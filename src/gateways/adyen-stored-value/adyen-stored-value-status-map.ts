import { GatewayError } from '../../errors/gateway-error';
import { pspValueText } from '../../errors/psp-text';
import { assertNever } from '../assert-never';
import { OutcomeStatus } from '../gateway-adapter';

/**
 * Adyen Stored Value API v46 (`test/fixtures/specs/adyen-storedvalue-v46.json`): every response's
 * `resultCode`, exactly the spec's enum, mapped exhaustively. The API answers synchronously (no webhook
 * settles a stored value transaction), so there is no PENDING here; a code Adyen adds later is
 * `outcome_unknown`, never a quiet default.
 */
export const ADYEN_SV_RESULT_CODES = ['Success', 'Refused', 'Error', 'NotEnoughBalance'] as const;
export type AdyenSvResultCode = (typeof ADYEN_SV_RESULT_CODES)[number];

/**
 * - `Success`: done (a balance inquiry: the balance is in `currentBalance`).
 * - `Refused`: refused, the reason in `refusalReason`.
 * - `Error`: Adyen or the card provider could not process it; `refusalReason` says why. A FAIL: the
 *   transaction did not happen (a transport failure is an HTTP error, classified apart).
 * - `NotEnoughBalance`: the card holds less than the request's `amount` (a balance inquiry with an amount:
 *   the card does not cover it; `currentBalance` still says what it holds).
 */
export function svResultCodeStatus(code: AdyenSvResultCode): OutcomeStatus {
  switch (code) {
    case 'Success':
      return 'SUCCESS';
    case 'Refused':
    case 'Error':
    case 'NotEnoughBalance':
      return 'FAIL';
    default:
      return assertNever(code, 'Adyen Stored Value resultCode');
  }
}

/** `svResultCodeStatus` for a string from the wire: an undocumented code throws `outcome_unknown`. */
export function mapSvResultCode(value: string, gateway: string): OutcomeStatus {
  if (!(ADYEN_SV_RESULT_CODES as readonly string[]).includes(value)) {
    throw new GatewayError('outcome_unknown', gateway, `unmapped Adyen Stored Value resultCode ${pspValueText(value)}`, {
      gatewayCode: value,
    });
  }
  return svResultCodeStatus(value as AdyenSvResultCode);
}
