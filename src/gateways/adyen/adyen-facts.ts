import { FactRow, RESPONSE_OR_INQUIRY } from '../gateway-facts';
import { adyenLateFact } from './adyen-adjustments';
import {
  ADYEN_EVENT_CODES,
  ADYEN_MODIFICATION_STATUSES,
  ADYEN_RESULT_CODES,
  AdyenNotice,
  eventNotice,
  eventOutcome,
  eventSettles,
  modificationStatus,
  resultCodeStatus,
} from './adyen-status-map';

/** What each notice (`AdyenNotice`) does, for the fact table's notification cell. */
const NOTICE_CELLS: Readonly<Record<AdyenNotice, string>> = {
  review_accepted: 'none: recorded (`psp_review_decision`, `pb_psp_review_decisions_total`)',
  review_rejected:
    'none: recorded (`psp_review_decision`, `pb_psp_review_decisions_total`); the cancel or refund Adyen then makes is its own CANCELLATION / CANCEL_OR_REFUND',
  stored_token:
    "token on first use: `payment.token` on the operation's SUCCESS event, or on that success restated (`<operation>.stored-token`, `token_update`)",
};

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
    const notice = eventNotice(code, true);
    if (notice !== null) {
      rows.push({ fact: `eventCode \`${code}\`, success true`, source: 'webhook', commands, meaning: onTrue, notice: NOTICE_CELLS[notice] });
      rows.push({ fact: `eventCode \`${code}\`, success false`, source: 'webhook', commands, meaning: onFalse });
    } else if (onTrue === onFalse && !late) {
      rows.push({ fact: `eventCode \`${code}\``, source: 'webhook', commands, meaning: onTrue });
    } else {
      rows.push({ fact: `eventCode \`${code}\`, success true`, source: 'webhook', commands, meaning: onTrue, ...adjustment });
      rows.push({ fact: `eventCode \`${code}\`, success false`, source: 'webhook', commands, meaning: onFalse });
    }
  }
  // A capture that fails because the authorization expired (adyen-webhook.ts, delivery/authorization-lapse.ts): reason
  // `authorization_expired`, action `reauthorize` (the decline table's row). EXPIRE itself settles no open capture.
  rows.push({
    fact: 'open capture: reason "… (capture expired)"',
    source: 'webhook CAPTURE_FAILED, CAPTURE false',
    commands: ['capture'],
    meaning: eventOutcome('CAPTURE', false),
  });
  rows.push({ fact: 'capture sent after `EXPIRE` was recorded, failing', source: 'any', commands: ['capture'], meaning: eventOutcome('CAPTURE', false) });
  return rows;
}
