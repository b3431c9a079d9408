/**
 * Which history entries end a delivery attempt (the latest `attempt` entry before them), and what each proves of the
 * attempts before it. One rule for every reader of an operation's history that asks about its attempts: whether the
 * latest has no recorded end (`lastAttemptUnfinished`), whether any may have reached the PSP
 * (`anyAttemptMayHaveLanded`), which under the current key are not proven absent (`unprovenUnderCurrentKey`: a status
 * inquiry's horizon, src/delivery/inquiry-miss.ts).
 *
 * How each goes on record matters as much as its kind: an end appended after another worker's attempt meanwhile
 * would read as the end of that attempt, which may be at the PSP. So each is written either in the script of the move
 * it belongs to (that move applies only to the record it was decided on), or appended only while the operation stands
 * as read (`Ledger.appendAsRead`), never with `Ledger.appendInteraction`.
 */

/**
 * The kinds (`Interaction.event`) of history entries that end an attempt, each:
 * - `outcome`: the PSP's answer (a response, a status inquiry's, a webhook's). Written with its move (the outcome
 *   recorder's transition).
 * - `send_error`: the attempt's error. Written with its move to UNKNOWN or FAILED, or, retryable (the operation stays
 *   SENT), only as read (`Ledger.appendAsRead`).
 * - `inquiry`: a status inquiry about the attempt that found no trace of it. Written with the resend's move to SENT.
 * - `inquiry_error`: a status inquiry about the attempt that failed. As `send_error`: with its move, or only as read.
 * - `inquiry_lag`: a status inquiry's miss that proves nothing yet (the PSP's search lags, or cannot reach that far).
 *   Written with the resend's move to SENT, else only as read.
 * - `failover`: the move to the next candidate gateway, made once the attempt before it was proven to have done
 *   nothing (or, not sent or declined "try elsewhere", as that attempt's own end). Written in the script of the move to
 *   SENT (or the refusal) at the next gateway it led to. The attempts after it carry another idempotency key.
 * - `attempt_ended`: the end of the attempt a failover that waits left (not sent, declined "try elsewhere"), which no
 *   `failover` entry records yet. Written only as read; or, for a decline of a resend held back
 *   (src/delivery/held-failover.ts: `failover_held`, or `decline_held` where no failover was due), with the move to
 *   UNRESOLVED.
 */
export const ATTEMPT_END_KINDS = ['outcome', 'send_error', 'inquiry', 'inquiry_error', 'inquiry_lag', 'failover', 'attempt_ended'] as const;

/** One of {@link ATTEMPT_END_KINDS}. */
export type AttemptEndKind = (typeof ATTEMPT_END_KINDS)[number];

/** {@link ATTEMPT_END_KINDS} as a set: history entries that end an attempt. */
export const ATTEMPT_ENDS: ReadonlySet<string> = new Set<string>(ATTEMPT_END_KINDS);

/** Error kinds (`GatewayError.kind`) that prove an attempt did nothing at the PSP. */
export const NOT_LANDED: ReadonlySet<string> = new Set(['not_sent', 'rate_limited', 'authentication']);

/** A history entry as the readers here see it: an appended `Interaction`, or one decided and not yet written. */
export type HistoryEntryRead = Readonly<Record<string, unknown>>;

/**
 * What an attempt's end proves of the attempts before it: that none under the idempotency key it asked about reached
 * the PSP (`key`: every attempt since the last `failover`, the only place a key changes), that its own attempt did not
 * (`own`: the latest attempt, when this entry is that attempt's first end), or nothing (`none`: the attempt may be at
 * the PSP, or is).
 */
export type NotLandedProof = 'key' | 'own' | 'none';

/**
 * The subset of {@link ATTEMPT_END_KINDS} that proves attempts absent, by kind: a record over every kind, so a kind
 * added to the set must say what it proves here. An inquiry's miss proves every attempt under the key it asked about
 * (its search covers them all: the lag is measured from the latest, the horizon from the oldest not yet proven,
 * `readInquiryMiss`), never one under an earlier key (another gateway's, before a failover). A failover, or the end a
 * waiting one records, proves only the attempt it ended: one not sent or declined "try elsewhere" says nothing of an
 * earlier attempt under the same key (a 5xx the PSP may still act on), and the other failovers follow a proof already
 * on record. An error proves only its own attempt, and only one that says the request never landed
 * ({@link NOT_LANDED}); an inquiry's error or lag, and an answer, prove nothing.
 */
const NOT_LANDED_PROOF: { readonly [K in AttemptEndKind]: (entry: HistoryEntryRead) => NotLandedProof } = {
  outcome: () => 'none',
  send_error: (entry) => (NOT_LANDED.has(String(entry.kind)) ? 'own' : 'none'),
  inquiry: (entry) => (entry.found === false ? 'key' : 'none'),
  inquiry_error: () => 'none',
  inquiry_lag: () => 'none',
  failover: () => 'own',
  attempt_ended: () => 'own',
};

/** Whether `event` is one of {@link ATTEMPT_END_KINDS}. */
export function isAttemptEnd(event: unknown): event is AttemptEndKind {
  return typeof event === 'string' && ATTEMPT_ENDS.has(event);
}

/** What history entry `entry` proves of the attempts before it ({@link NotLandedProof}); `none` for any other entry. Pure. */
export function notLandedProof(entry: HistoryEntryRead): NotLandedProof {
  return isAttemptEnd(entry.event) ? NOT_LANDED_PROOF[entry.event](entry) : 'none';
}

/**
 * Whether the operation's latest attempt has no recorded end: no entry of {@link ATTEMPT_END_KINDS} after its `attempt`
 * entry (a worker killed mid-call, or one that lost the answer before it was on record). The PSP may have performed
 * it. Pure.
 */
export function lastAttemptUnfinished(history: readonly HistoryEntryRead[]): boolean {
  for (let i = history.length - 1; i >= 0; i--) {
    const event = history[i].event;
    if (event === 'attempt') return true;
    if (isAttemptEnd(event)) return false;
  }
  return false;
}

/**
 * Whether any recorded attempt may have reached the PSP: one is proven not to have only by an end that proves it absent
 * ({@link notLandedProof}), its own or a later one that covers it. An attempt with no recorded end (a crash mid-call), a
 * timeout or a 5xx may have moved money. Pure.
 */
export function anyAttemptMayHaveLanded(history: readonly HistoryEntryRead[]): boolean {
  return unprovenAttempts(history).length > 0;
}

/**
 * The `attempt` entries of `history` not proven absent ({@link notLandedProof}), oldest first: an end that proves every
 * attempt under its `key` clears those since the last `failover`; one that proves its `own` attempt takes the latest,
 * only when it is that attempt's first end (a second entry after it, or a failover after a proof, proves nothing of
 * an earlier attempt). Pure.
 */
export function unprovenAttempts<T extends HistoryEntryRead>(history: readonly T[]): T[] {
  const unproven: T[] = [];
  // How many of `unproven` came before the current key (the last failover); the latest attempt has no end yet.
  let underEarlierKeys = 0;
  let latestOpen = false;
  for (const entry of history) {
    if (entry.event === 'attempt') {
      unproven.push(entry);
      latestOpen = true;
      continue;
    }
    if (!isAttemptEnd(entry.event)) continue;
    const proof = notLandedProof(entry);
    if (proof === 'key') unproven.length = underEarlierKeys;
    else if (proof === 'own' && latestOpen) unproven.pop();
    latestOpen = false;
    if (entry.event === 'failover') underEarlierKeys = unproven.length;
  }
  return unproven;
}

/**
 * The attempts of {@link unprovenAttempts} under the current idempotency key (since the last `failover`): those a status
 * inquiry at the current gateway must still see (its search horizon, `readInquiryMiss`). Attempts under an earlier key
 * were at another gateway, which this inquiry does not search. Pure.
 */
export function unprovenUnderCurrentKey<T extends HistoryEntryRead>(history: readonly T[]): T[] {
  let last = -1;
  history.forEach((entry, i) => {
    if (entry.event === 'failover') last = i;
  });
  return unprovenAttempts(history.slice(last + 1));
}
