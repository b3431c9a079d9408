import type { CommandType } from '../../contracts/payment-command';
import { OutcomeStatus } from '../gateway-adapter';
import { FactMeaning, FactRow, RESPONSE_OR_INQUIRY } from '../gateway-facts';
import {
  CYBERSOURCE_RCODES,
  CYBERSOURCE_STATUSES,
  CYBERSOURCE_VOID_ONLY_STATUSES,
  CYBERSOURCE_TOKEN_STATES,
  cybersourceRCodeMeaning,
  cybersourceStatusHoldsFunds,
  cybersourceStatusMeaning,
  cybersourceTokenStateMeaning,
} from './cybersource-status-map';
import { CYBERSOURCE_AUTHORIZING_COMMANDS } from './cybersource-responses';
import { CYBERSOURCE_REASON_CODES } from './cybersource-reason-codes';
import {
  CYBERSOURCE_WEBHOOK_EVENT_TYPES,
  REVIEW_ACCEPTED_SETTLES,
  cybersourceLateFact,
  webhookEventOutcome,
  webhookFundsHeld,
  webhookIsRefund,
  webhookPspReversal,
  webhookSettles,
} from './cybersource-webhook';

/** The statuses of error answers, which a 2xx answer is read by its reason as that error answer is (`throwIfErrorAnswer`). */
const ERROR_ANSWER_NOTES: Partial<Record<string, string>> = {
  DECLINED:
    " (a response's with reason `PROCESSOR_TIMEOUT`, `SERVER_TIMEOUT`, `SERVICE_TIMEOUT`, `SYSTEM_TIMEOUT` or `SYSTEM_ERROR`: unknown, asked about, as the 502 is)",
  INVALID_REQUEST: " (a response's with reason `DUPLICATE_REQUEST`: unknown, asked about, as the 400 is; `PROCESSOR_UNAVAILABLE`: retried)",
  SERVER_ERROR:
    " (a response's with reason `SERVER_TIMEOUT`, `SERVICE_TIMEOUT`, `PROCESSOR_TIMEOUT`, `SYSTEM_TIMEOUT`, `SYSTEM_ERROR` or none: unknown, asked about before any resend, as the 502 is)",
};

/** Cybersource's fact table (docs/gateways/cybersource.md), read from its status maps and webhook map. */
export function cybersourceFacts(): FactRow[] {
  const rows: FactRow[] = [];
  const meaning = (m: OutcomeStatus | 'ERROR'): FactMeaning => (m === 'ERROR' ? 'retry' : m);
  for (const status of CYBERSOURCE_STATUSES) {
    // Failed while the issuer's approval still holds the funds: the bridge voids that authorization.
    const held = cybersourceStatusHoldsFunds(status) ? ' (the funds stay held: the authorization is voided by orphan reversal, reason `risk_declined`)' : '';
    const note = ERROR_ANSWER_NOTES[status] ?? '';
    // A void's status only: from any other request, no documented result (asked about).
    const commands: readonly CommandType[] = CYBERSOURCE_VOID_ONLY_STATUSES.has(status) ? ['cancel'] : [];
    const voidOnly = CYBERSOURCE_VOID_ONLY_STATUSES.has(status) ? " (a void's: of any other request, or a reversal, unknown and asked about)" : '';
    // Its meaning undocumented: decided by the status inquiry (a void of our capture or refund counts only where VOIDED).
    const undecided = status === 'CANCELLED' ? ' (the status inquiry finds the void done, `ics_void`, or not)' : '';
    // A partial reversal confirms the amount it names only.
    const reversed =
      status === 'PARTIALLY_REVERSED' ? " (a cancel's: for `reversalAmountDetails.reversedAmount`; naming none readable, unknown and asked about)" : '';
    rows.push({
      fact: `status \`${status}\`${held}${note}${voidOnly}${undecided}${reversed}`,
      source: RESPONSE_OR_INQUIRY,
      commands,
      meaning: meaning(cybersourceStatusMeaning(status)),
    });
  }
  // Payer Authentication (cybersource-payer-auth.ts): a challenge with its step-up data waits for the customer.
  rows.push({
    fact: 'status `PENDING_AUTHENTICATION` with `consumerAuthenticationInformation.stepUpUrl`, `accessToken`, `authenticationTransactionId`',
    source: 'response',
    commands: ['authorize', 'sale'],
    meaning: 'ACTION_REQUIRED',
  });
  // A partial approval that does not say how much was approved waits for the inquiry to read it.
  rows.push({
    fact: 'status `PARTIAL_AUTHORIZED` without `orderInformation.amountDetails.authorizedAmount` (its `totalAmount` is the amount asked): no amount confirmed; the status inquiry reads it as below',
    source: 'response',
    commands: CYBERSOURCE_AUTHORIZING_COMMANDS,
    meaning: 'PENDING',
  });
  for (const state of CYBERSOURCE_TOKEN_STATES)
    rows.push({ fact: `payment instrument state \`${state}\``, source: 'response', commands: ['tokenize'], meaning: cybersourceTokenStateMeaning(state) });
  // A search summary names the amount asked: an inquiry reads a partial approval's amount from the details.
  rows.push({
    fact: 'status `PARTIAL_AUTHORIZED` or reason code `110` in a transaction search summary (whose `totalAmount` is the amount asked): the amount is `orderInformation.amountDetails.authorizedAmount` of `GET /tss/v2/transactions/{id}`, asked again while it is missing',
    source: 'status inquiry (transaction search, then details)',
    commands: CYBERSOURCE_AUTHORIZING_COMMANDS,
    meaning: meaning(cybersourceStatusMeaning('PARTIAL_AUTHORIZED')),
  });
  // Read before the rCode, which misstates them (a review hold says 1, a soft decline 0).
  for (const [reasonCode, { rFlag, status }] of Object.entries(CYBERSOURCE_REASON_CODES))
    rows.push({
      fact: `reason code \`${reasonCode}\`${rFlag === 'SOK' ? '' : ` or reply flag \`${rFlag}\``} (no status; read as status \`${status}\`, whatever the rCode)`,
      source: 'status inquiry (transaction search)',
      commands: [],
      meaning: meaning(cybersourceStatusMeaning(status)),
    });
  // Decision Manager's reject says nothing of the authorization: the transaction's services do.
  rows.push({
    fact: 'reason code `481` or reply flag `DREJECT` (no status) whose `ics_auth` application succeeded, or that lists no applications (the funds stay held: the authorization is voided by orphan reversal, reason `risk_declined`)',
    source: 'status inquiry (transaction search)',
    commands: CYBERSOURCE_AUTHORIZING_COMMANDS,
    meaning: 'FAIL',
  });
  rows.push({
    fact: 'reason code `481` or reply flag `DREJECT` (no status) whose applications show no successful `ics_auth` (nothing was authorized)',
    source: 'status inquiry (transaction search)',
    commands: CYBERSOURCE_AUTHORIZING_COMMANDS,
    meaning: 'FAIL',
  });
  // A release under the payment's merchant reference that the bridge did not send: never read as "authorized".
  rows.push({
    fact: "a reversal (`ics_auth_reversal`) or void (`ics_void`) that succeeded under the operation's merchant reference (Decision Manager's `REVERSE`, the Business Center) after its authorization, for the whole of it: no longer authorized, nothing held (reason `AUTH_ALREADY_REVERSED`, `CAPTURE_ALREADY_VOIDED`; `pb_cybersource_inquiry_released_total`); a refused one or a refund decides nothing, one older than the authorization released an earlier attempt",
    source: 'status inquiry (transaction search)',
    commands: CYBERSOURCE_AUTHORIZING_COMMANDS,
    meaning: 'FAIL',
  });
  rows.push({
    fact: 'such a reversal or void of part of it, or whose amount or time cannot be read: what stands cannot be told, it waits (UNRESOLVED when the poll schedule runs out)',
    source: 'status inquiry (transaction search)',
    commands: CYBERSOURCE_AUTHORIZING_COMMANDS,
    meaning: 'PENDING',
  });
  // No idempotency key: a resend is a new transaction under the same merchant reference, and a refusal of it does not
  // undo an earlier attempt's approval whose answer was lost.
  rows.push({
    fact: "an attempt approved or holding funds (`AUTHORIZED`, `PARTIAL_AUTHORIZED`, a review hold or soft decline, a sale's capture) under the operation's merchant reference, older than a refusal under it (the first answer lost, a resend declined past the 15-minute duplicate check): the newest attempt holding funds decides, never the newer refusal; only with none holding does the newest decide. Two or more authorizations holding funds (a double authorization): the newest of them decides, its status reads `… (N holding funds)` (`pb_cybersource_inquiry_double_holds_total`; an `AUTHORIZED_RISK_DECLINED` beside it counts as one, older or newer); of an authorize the others are voided by orphan reversal (reason `extra_authorization`, each by its id, for what it holds), of a sale or revalidate they are for a person to release. A release beside them names none: fewer whole releases than such authorizations (none older than the first) leave one live, PENDING `(released)`, never FAIL",
    source: 'status inquiry (transaction search)',
    commands: CYBERSOURCE_AUTHORIZING_COMMANDS,
    meaning: 'SUCCESS',
  });
  rows.push({
    fact: "with no attempt holding funds for it, an attempt `AUTHORIZED_RISK_DECLINED` (or `481` after its `ics_auth` succeeded) under the operation's merchant reference older than a refusal under it: that attempt decides, its hold released by orphan reversal (reason `risk_declined`, its id), never the newer refusal that holds nothing (a newer attempt the search cannot read still decides: asked again)",
    source: 'status inquiry (transaction search)',
    commands: CYBERSOURCE_AUTHORIZING_COMMANDS,
    meaning: 'FAIL',
  });
  // The same for a capture or refund: a refusal of its resend (a capture's `EXCEEDS_AUTH_AMOUNT`, the first having used
  // the authorization) does not undo an earlier attempt that collected or gave back the money.
  rows.push({
    fact: "an attempt of a capture (`ics_bill`) or refund (`ics_credit`) that succeeded (read SUCCESS or PENDING, not voided) under its merchant reference, older than a refusal under it (the first answer lost, a resend refused: a capture's `EXCEEDS_AUTH_AMOUNT`): the newest successful attempt decides, never the newer refusal, and a void is looked for from its time on (a void between them undid it: FAIL as below); only with none successful does the newest decide. Two or more successful (a double capture or refund): the newest of them decides, its status reads `… (N captures succeeded)` or `… (N refunds succeeded)` (`pb_cybersource_inquiry_double_successes_total`); the others are for a person to refund or void; a void listed on its own names none of them: fewer such voids (none older than the first) than successful attempts wait (PENDING `(voided)`, one still stands), as many read voided (FAIL as below), and an attempt shown `VOIDED` itself undid only itself",
    source: 'status inquiry (transaction search)',
    commands: ['capture', 'refund'],
    meaning: 'SUCCESS',
  });
  rows.push({
    fact: "a reversal (`REVERSED`, `PARTIALLY_REVERSED`) or void (`VOIDED`; of our capture or refund only where the search shows it voided) of the cancel's own that succeeded under its merchant reference, older than a refusal under it (the first answer lost, the resend refused: nothing left to undo): the newest one done decides, never the newer refusal; only with none done does the newest decide",
    source: 'status inquiry (transaction search)',
    commands: ['cancel'],
    meaning: 'SUCCESS',
  });
  // A Business Center void of a capture or refund of ours carries its merchant reference: never read as its success.
  rows.push({
    fact: "a void that succeeded (`ics_void`, or status `VOIDED`) under a capture's merchant reference (the Business Center: a void of ours carries the cancel's own), not older than the capture that decides (the newest successful, above): nothing collected (reason `CAPTURE_ALREADY_VOIDED`, `pb_cybersource_inquiry_voided_total`); a refused void or a refund under it decides nothing, the capture's own transaction does",
    source: 'status inquiry (transaction search)',
    commands: ['capture'],
    meaning: 'FAIL',
  });
  rows.push({
    fact: "a void that succeeded (`ics_void`, or status `VOIDED`) under a refund's merchant reference (the Business Center), not older than the refund that decides (`ics_credit`, the newest successful): nothing given back (reason `REFUND_VOIDED`, `pb_cybersource_inquiry_voided_total`); a refused void decides nothing, the refund's own transaction does",
    source: 'status inquiry (transaction search)',
    commands: ['refund'],
    meaning: 'FAIL',
  });
  for (const rCode of CYBERSOURCE_RCODES)
    rows.push({
      fact: `rCode \`${rCode}\` (no status, no reason code above)`,
      source: 'status inquiry (transaction search)',
      commands: [],
      meaning: meaning(cybersourceRCodeMeaning(rCode)),
    });
  for (const type of CYBERSOURCE_WEBHOOK_EVENT_TYPES) {
    const late = cybersourceLateFact(type);
    if (type === 'risk.casemanagement.decision.accept') {
      // A review accepted completes an authorization; a sale held for it was not captured: history only, it waits.
      rows.push({ fact: `\`${type}\``, source: 'webhook', commands: REVIEW_ACCEPTED_SETTLES, meaning: webhookEventOutcome(type) });
      rows.push({ fact: `\`${type}\``, source: 'webhook', commands: ['sale'], meaning: 'ignore' });
      continue;
    }
    // Failed with the authorization still held (a review rejected): the bridge voids it.
    const held = webhookFundsHeld(type);
    const holds = held ? ` (the funds stay held: the authorization is voided by orphan reversal, reason \`${held}\`)` : '';
    // The commands of the service it reports: named by another operation (a follow-on carrying its payment's merchant
    // reference), it is that operation's history or late fact, never its outcome.
    rows.push({
      fact: `\`${type}\`${holds}`,
      source: 'webhook',
      commands: webhookSettles(type),
      meaning: webhookEventOutcome(type),
      ...(late ? { adjustment: late.kind } : {}),
    });
    // Named by a payment the OMS was told SUCCEEDED (a follow-on made outside the bridge carries its payment's merchant
    // reference): that payment's adjustment, never dropped as history (webhooks/psp-reversal.ts, outside-refund.ts).
    if (webhookPspReversal(type) !== undefined) {
      const outside = (payment: string): string =>
        `\`${type}\` naming ${payment} the OMS was told SUCCEEDED, no cancel of ours standing on it (the Business Center, Decision Manager's \`REVERSE\`), once the status inquiry confirms the whole release (\`pb_webhook_failures_after_success_total\`); a cancel of ours names itself and settles as above`;
      rows.push({
        fact: `${outside('an authorization')}: the hold released`,
        source: 'webhook',
        commands: ['authorize', 'revalidate'],
        meaning: 'ignore',
        adjustment: 'failed_after_success',
      });
      rows.push({
        fact: `${outside('a sale')}: the sale undone, direction \`debit\``,
        source: 'webhook',
        commands: ['sale'],
        meaning: 'ignore',
        adjustment: 'capture_failed',
      });
      // A void of a capture carries the capture's merchant reference; a reversal releases an authorization only.
      if (type.startsWith('payments.voids.'))
        rows.push({
          fact: `${outside('a capture of ours')}: nothing collected, direction \`debit\`, dated by the void's \`submitTimeUtc\``,
          source: 'webhook',
          commands: ['capture'],
          meaning: 'ignore',
          adjustment: 'capture_failed',
        });
      // So does a void of a refund: the refund's.
      if (type.startsWith('payments.voids.'))
        rows.push({
          fact: `${outside('a refund of ours')}: nothing given back, direction \`credit\`, dated by the void's \`submitTimeUtc\``,
          source: 'webhook',
          commands: ['refund'],
          meaning: 'ignore',
          adjustment: 'refund_failed',
        });
    }
    if (webhookIsRefund(type))
      rows.push({
        fact: `\`${type}\` naming an authorization or sale the PSP holds, or a capture of ours of one (a follow-on credit carries the merchant reference of the capture it credits: the authorization's), whose refund id (\`data.id\`) no refund of ours holds (the Business Center), none of ours open: direction \`debit\`, once (\`pb_webhook_outside_refunds_total\`); a refund of ours names itself and settles as above`,
        source: 'webhook',
        commands: ['authorize', 'revalidate', 'sale'],
        meaning: 'ignore',
        adjustment: 'refund_outside_bridge',
      });
    // Its amount is the one approved, or none: the amount asked is never reported as approved.
    if (type.endsWith('.partial.approval'))
      rows.push({
        fact: `\`${type}\` without \`authorizedAmount\`: no amount confirmed, the status inquiry reads it`,
        source: 'webhook',
        commands: webhookSettles(type),
        meaning: 'PENDING',
      });
  }
  return rows;
}
