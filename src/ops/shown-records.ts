import { redactBody } from '../amqp/dead-letter-writer';
import { Interaction } from '../ledger/ledger';
import { redact, redactText } from '../logging/redact';
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
 * An operation's history entry as an operator is shown it (the console's lookup, `ops show`): stored redacted,
 * masked again as a dead letter is (see {@link shownDeadLetter}), `at` aside (a time, not text).
 */
export function shownInteraction(h: Interaction): Interaction {
  const { at, event, ...rest } = h;
  return { at, event, ...redact(rest) };
}
