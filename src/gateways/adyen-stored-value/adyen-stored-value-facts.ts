import { FactRow, RESPONSE_OR_INQUIRY } from '../gateway-facts';
import { ADYEN_SV_RESULT_CODES, svResultCodeStatus } from './adyen-stored-value-status-map';
import { ADYEN_SV_SUPPORTED_COMMANDS } from './adyen-stored-value-transformer';

const PATHS = '(/checkBalance, /load, /issue, /changeStatus, /mergeBalance, /voidTransaction)';

/**
 * The Stored Value fact table (docs/gateways/adyen-stored-value.md), read from its status map. A refusal
 * answering a status inquiry (the request replayed) counts only when Adyen echoes the Idempotency-Key
 * (`parseAdyenSvStatusResponse`).
 */
export function adyenStoredValueFacts(): FactRow[] {
  return ADYEN_SV_RESULT_CODES.map((code) => ({
    fact: `resultCode \`${code}\``,
    source:
      svResultCodeStatus(code) === 'SUCCESS'
        ? `${RESPONSE_OR_INQUIRY} ${PATHS}`
        : `response; status inquiry only with its Idempotency-Key echoed (else outcome unknown; a balance inquiry's as answered) ${PATHS}`,
    commands: [...ADYEN_SV_SUPPORTED_COMMANDS],
    meaning: svResultCodeStatus(code),
  }));
}
