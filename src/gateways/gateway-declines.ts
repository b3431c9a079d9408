import { BRIDGE_DECLINES } from '../errors/bridge-declines';
import { Decline, DeclineCategory, DeclineTable, declineOf, describeDecline, findRule } from '../errors/decline';
import { GatewayError } from '../errors/gateway-error';
import { assertNever } from './assert-never';
import { GatewayOutcome, ModificationReading, WebhookEvent } from './gateway-adapter';

/** The decline of a FAIL outcome: its `reason` (the PSP's code), else its `gatewayStatus`, in `table`. */
export function outcomeDecline(table: DeclineTable, outcome: GatewayOutcome): Decline {
  return describeDecline(table, outcome.reason ?? outcome.gatewayStatus);
}

/** `outcome` with its decline when it is a FAIL without one; anything else unchanged. */
export function withDecline(outcome: GatewayOutcome, table: DeclineTable): GatewayOutcome {
  if (outcome.status !== 'FAIL' || outcome.decline !== undefined) return outcome;
  return { ...outcome, decline: outcomeDecline(table, outcome) };
}

/** `withDecline` for every event of a webhook: its outcome, and a modification reading's (the same FAIL a status inquiry gives). */
export function withDeclines(events: WebhookEvent[], table: DeclineTable): WebhookEvent[] {
  return events.map((e) => {
    const event = e.outcome.status === 'FAIL' && e.outcome.decline === undefined ? { ...e, outcome: withDecline(e.outcome, table) } : e;
    return event.modification === undefined ? event : { ...event, modification: readingWithDecline(event.modification, table) };
  });
}

/** A modification reading with its FAIL's decline, and its `others`' alike. */
function readingWithDecline(reading: ModificationReading, table: DeclineTable): ModificationReading {
  const others = reading.others?.map((other) => readingWithDecline(other, table));
  return { ...reading, outcome: withDecline(reading.outcome, table), ...(others ? { others } : {}) };
}

/** What a terminal GatewayError kind means when the PSP's code is not in its table. */
function kindCategory(kind: GatewayError['kind'], table: DeclineTable): DeclineCategory {
  switch (kind) {
    case 'declined':
      return table.fallback;
    case 'invalid_request':
    case 'not_found':
    case 'idempotency_conflict':
      return 'invalid_request';
    case 'authentication':
    case 'rate_limited':
    case 'server_error':
    case 'not_sent':
    case 'outcome_unknown':
      return 'processing_error';
    default:
      return assertNever(kind, 'gateway error kind');
  }
}

/**
 * The decline of an operation failed by a terminal `GatewayError`: the PSP's code in its table when the
 * table knows it, else the error's kind (a `declined` with an unknown code gets the table's fallback,
 * `unknown`, which the recorder logs).
 */
export function gatewayErrorDecline(table: DeclineTable, err: GatewayError): Decline {
  const code = err.details.gatewayCode;
  if (code !== undefined && findRule(table, code) !== undefined) return describeDecline(table, code);
  const category = kindCategory(err.kind, table);
  return category === 'invalid_request' && err.kind === 'idempotency_conflict'
    ? declineOf(category, code ?? err.code, 'contact_support')
    : declineOf(category, code ?? err.code);
}

/** The decline of a failure of ours (see `BRIDGE_DECLINES`). */
export function bridgeDecline(reason: string): Decline {
  return describeDecline(BRIDGE_DECLINES, reason);
}
