import { FactRow, RESPONSE_OR_INQUIRY } from '../gateway-facts';
import { ADYEN_SV_RESULT_CODES, svResultCodeStatus } from './adyen-stored-value-status-map';
import { ADYEN_SV_SUPPORTED_COMMANDS } from './adyen-stored-value-transformer';

/** The Stored Value fact table (docs/gateways/adyen-stored-value.md), read from its status map. */
export function adyenStoredValueFacts(): FactRow[] {
  return ADYEN_SV_RESULT_CODES.map((code) => ({
    fact: `resultCode \`${code}\``,
    source: `${RESPONSE_OR_INQUIRY} (/checkBalance, /load, /issue, /changeStatus, /mergeBalance, /voidTransaction)`,
    commands: [...ADYEN_SV_SUPPORTED_COMMANDS],
    meaning: svResultCodeStatus(code),
  }));
}
