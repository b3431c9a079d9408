import { FactRow, RESPONSE_OR_INQUIRY } from '../gateway-facts';
import { adyenLateFact } from './adyen-adjustments';
import {
  ADYEN_EVENT_CODES,
  ADYEN_MODIFICATION_STATUSES,
  ADYEN_RESULT_CODES,
  eventOutcome,
  eventSettles,
  modificationStatus,
  resultCodeStatus,
} from './adyen-status-map';

/** Adyen's fact table (docs/gateways/adyen.md), read from its status maps and late-fact map. */
export function adyenFacts(): FactRow[] {
  const rows: FactRow[] = [];
  for (const code of ADYEN_RESULT_CODES)
    rows.push({
      fact: `resultCode \`${code}\``,
      source: `${RESPONSE_OR_INQUIRY} (/payments)`,
      commands: ['authorize', 'sale', 'revalidate'],
      meaning: resultCodeStatus(code),
    });
  for (const status of ADYEN_MODIFICATION_STATUSES) {
    rows.push({
      fact: `modification status \`${status}\``,
      source: 'response (modifications; no status inquiry: they settle by webhook)',
      commands: ['capture', 'cancel', 'refund', 'validate'],
      meaning: modificationStatus(status),
    });
  }
  for (const code of ADYEN_EVENT_CODES) {
    const onTrue = eventOutcome(code, true);
    const onFalse = eventOutcome(code, false);
    const late = adyenLateFact(code, true);
    const adjustment = late ? { adjustment: late.kind } : {};
    // The commands an outcome settles (merchantReference may name the payment, not this event's operation).
    const commands = eventSettles(code);
    if (onTrue === onFalse && !late) {
      rows.push({ fact: `eventCode \`${code}\``, source: 'webhook', commands, meaning: onTrue });
    } else {
      rows.push({ fact: `eventCode \`${code}\`, success true`, source: 'webhook', commands, meaning: onTrue, ...adjustment });
      rows.push({ fact: `eventCode \`${code}\`, success false`, source: 'webhook', commands, meaning: onFalse });
    }
  }
  return rows;
}
