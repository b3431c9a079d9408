import { Counter } from 'prom-client';
import { counter } from '../metrics/metrics-registry';
import type { Interaction } from '../ledger/ledger';

/**
 * How many attempts in a row under one idempotency key answered with the same 500 (status and PSP code; only an answer
 * the PSP may have saved, `maybeSavedAnswer`) make the answer read as the PSP's saved one: 3. A PSP that replays a key's first answer (`resendReplays`, Stripe: "saving
 * the resulting status code and body of the first request… Subsequent requests with the same key return the same
 * result, including 500 errors") marks a replay (`Idempotent-Replayed: true`), but a proxy may strip the header, and
 * without it every miss resent the request, each resend restarting the poll schedule, for as long as the PSP kept the
 * key. Two in a row can still be an outage spanning one backoff; a third, each after a status inquiry that missed,
 * is read as the saved answer.
 */
export const SAME_ANSWER_HELD_AFTER = 3;

/** The answer an attempt just got, as its `send_error` history entry will record it. */
export interface UnknownAnswer {
  httpStatus?: number;
  gatewayCode?: string;
}

/**
 * Whether an `outcome_unknown` answer can be a PSP's saved answer replayed: a 500 carrying the PSP's own error body
 * (a `gatewayCode`, Stripe's `api_error`). Stripe saves a result once the endpoint began ("including 500 errors");
 * a 502, 503 or 504, or a body that is not Stripe's, is a proxy's or load balancer's own answer in front of Stripe's
 * idempotency layer, where nothing is saved: repeated through an outage, it is no proof that Stripe holds the request,
 * and reading it so would leave a request that never landed UNRESOLVED instead of sending it again.
 */
export function maybeSavedAnswer(answer: UnknownAnswer): boolean {
  return answer.httpStatus === 500 && answer.gatewayCode !== undefined;
}

/**
 * How many of the latest attempts under the current attempt's idempotency key were answered `outcome_unknown` with
 * `answer`'s HTTP status and PSP code, the current attempt included (its own answer not yet in `history`: it counts
 * as one). The current attempt is the last `attempt` entry; its key is its `idempotency_key`, else the operation id.
 * Pure.
 */
export function sameUnknownAnswersInARow(history: readonly Interaction[], operationId: string, answer: UnknownAnswer): number {
  const attempts: { key: unknown; answer?: Interaction }[] = [];
  for (const entry of history) {
    if (entry.event === 'attempt') attempts.push({ key: entry.idempotency_key ?? operationId });
    else if (entry.event === 'send_error' && attempts.length > 0 && attempts[attempts.length - 1].answer === undefined)
      attempts[attempts.length - 1].answer = entry;
  }
  const current = attempts.pop();
  if (current === undefined) return 1;
  let inARow = 1;
  for (let i = attempts.length - 1; i >= 0; i -= 1) {
    const earlier = attempts[i];
    const got = earlier.answer;
    const same =
      earlier.key === current.key &&
      got !== undefined &&
      got.kind === 'outcome_unknown' &&
      got.http_status === answer.httpStatus &&
      got.gateway_code === answer.gatewayCode;
    if (!same) break;
    inARow += 1;
  }
  return inARow;
}

/**
 * `pb_same_answer_held_total{gateway}`: operations whose resend got the same 5xx under the same idempotency key as the
 * attempts before it, {@link SAME_ANSWER_HELD_AFTER} in a row, without the PSP marking it a replay: read as the PSP
 * holding the request (`psp_has_request`), asked about and never sent again; the poll schedule ends it UNRESOLVED.
 */
export function sameAnswersHeld(): Counter<'gateway'> {
  return counter(
    'pb_same_answer_held_total',
    'Resends answered with the same 5xx under one idempotency key several times in a row, read as the PSP holding the request (never sent again), by gateway',
    ['gateway'],
  );
}
