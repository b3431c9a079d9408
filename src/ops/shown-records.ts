import { redactBody } from '../amqp/dead-letter-writer';
import { Interaction } from '../ledger/ledger';
import { SECRET_MASK, redact, redactText } from '../logging/redact';
import { DeadLetterRecord } from './dead-letter-store';

/**
 * A dead letter as an operator is shown it (the console's pages, `ops dead-letters show` and `list`, text or
 * JSON): its text masked again, as the archive masks what it imports today. The writers redact before
 * anything is stored; this is the second line, for records stored before a redaction rule existed (or written
 * by an import as its file had them). Ids, times and numbers are left as they are (an epoch-ms time can pass a
 * card-number check).
 */
export function shownDeadLetter(r: DeadLetterRecord): DeadLetterRecord {
  const text = (v: string | undefined) => (v === undefined ? undefined : redactText(v));
  return {
    ...r,
    code: redactText(r.code),
    field: redactText(r.field),
    reason: redactText(r.reason),
    source: redactText(r.source),
    operationId: text(r.operationId),
    orderId: text(r.orderId),
    command: text(r.command),
    lastReplayBy: text(r.lastReplayBy),
    body: redactBody(Buffer.from(r.body, 'utf8')).toString('utf8'),
  };
}

/**
 * Names of history fields that would hold a payment token or the PSP key standing for the card (`token`,
 * `stored_token`, `gateway_key`, `newGatewayKey`…): no writer puts one in an entry, the shown entry masks it should
 * one (an old or hand-made entry) hold it. `redact` leaves them, as events to the OMS carry tokens by design.
 */
const TOKEN_FIELD = /^(?:.*[_-])?(?:token|gateway[_-]?key)$|(?:Token|GatewayKey)$/;

/**
 * An operation's history entry as an operator is shown it (the console's lookup, `ops show`): stored redacted,
 * masked again as a dead letter is (see {@link shownDeadLetter}), a token-named field masked whatever it holds,
 * `at` aside (a time, not text).
 */
export function shownInteraction(h: Interaction): Interaction {
  const { at, event, ...rest } = h;
  const shown = redact(rest);
  for (const key of Object.keys(shown)) if (TOKEN_FIELD.test(key) && shown[key] !== undefined && shown[key] !== null) shown[key] = SECRET_MASK;
  return { at, event, ...shown };
}
