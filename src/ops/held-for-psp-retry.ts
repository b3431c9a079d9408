import type { AuditLog } from '../audit/audit-log';
import type { Ledger, OperationRecord } from '../ledger/ledger';
import type { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { redact } from '../logging/redact';
import { boundedSafeText } from '../errors/psp-text';
import { gatewayOf } from '../ledger/routing-record';
import { REFUNDS_UNDECIDED_FIELD } from '../ledger/refunds-undecided-mark';
import { rereadAfterCaptureFailed } from '../delivery/refunded-beyond-alarm';

/**
 * How long a capture or refund may stay held for its PSP's own retry before a person must act: 10 days, Adyen's word
 * ("If the transaction is not re-captured within 10 days, contact our Support Team"; CAPTURE_FAILED and REFUND_FAILED
 * reasons page, for refunds equally). Past it a held one is overdue: listed by `ops held-retries list`, counted in
 * `pb_held_for_psp_retry_overdue`.
 */
export const PSP_RETRY_WAIT_MS = 10 * 24 * 60 * 60 * 1000;

/**
 * A capture or refund recorded FAILED whose PSP retries it itself (`held_for_psp_retry`: Adyen's technical
 * CAPTURE_FAILED or REFUND_FAILED), its amount still held, as an operator reads it: what it is, what it holds, Adyen's
 * reason, and how long it has been held. No card data: references are redacted.
 */
export interface HeldForPspRetryView {
  operation_id: string;
  order_id: string | null;
  /** `capture` or `refund`. */
  command: string;
  gateway: string;
  /** The authorization (or sale) it acts on. */
  authorization_id: string;
  /** The PSP's reference of the capture or refund (what to look up at the PSP), null when none was named. */
  psp_reference: string | null;
  /** What it holds, integer minor units of `currency`. */
  amount: number;
  currency: string;
  /** The PSP's reason, as kept on the record. */
  psp_reason: string;
  /** When it was first held (ISO 8601). */
  held_since: string;
  held_ms: number;
  /** Held for longer than the PSP's documented retry (10 days, Adyen's): a person must ask the PSP. */
  overdue: boolean;
}

/**
 * The captures and refunds held for their PSP's own retry (`Ledger.heldForPspRetrySince`), longest held first, at most
 * `limit`: those held past the PSP's retry (10 days), or with `all` every one. One the PSP has done since (or gone) is
 * taken out of the index, not listed. Where operators find what `pb_held_for_psp_retry_overdue` counts
 * (`payment-bridge ops held-retries list`).
 */
export async function heldForPspRetry(deps: { ledger: Ledger }, opts: { limit: number; all?: boolean }, now = Date.now()): Promise<HeldForPspRetryView[]> {
  const held = await deps.ledger.heldForPspRetrySince(opts.all ? Number.POSITIVE_INFINITY : now - PSP_RETRY_WAIT_MS, opts.limit);
  return held.map(({ record, heldSince }) => viewOf(record, heldSince, now));
}

/**
 * Operation `id` as {@link heldForPspRetry} lists it when it is held for its PSP's own retry now (FAILED with the hold,
 * not done by the PSP since, not released), else null: what the console's operation page shows above its release form.
 * Held since its index entry's time, else (held before the index, not backfilled yet) its record's last update.
 */
export async function heldForPspRetryOf(deps: { ledger: Ledger }, id: string, now = Date.now()): Promise<HeldForPspRetryView | null> {
  const record = await deps.ledger.get(id);
  if (record === null || record.state !== 'FAILED' || !record.heldForPspRetry || record.succeededAfterFailure !== undefined) return null;
  const heldSince = (await deps.ledger.heldForPspRetryIndexedAt(id)) ?? record.updatedAt;
  return viewOf(record, heldSince, now);
}

/** A held record as an operator reads it (references redacted), held since `heldSince` (epoch ms). */
function viewOf(record: OperationRecord, heldSince: number, now: number): HeldForPspRetryView {
  const text = redact({
    operation_id: record.id,
    order_id: record.payment.order_id ?? null,
    command: record.command,
    gateway: gatewayOf(record),
    authorization_id: record.authorizationId ?? record.payment.gateway_key,
    psp_reference: record.gatewayReference ?? null,
    currency: record.payment.currency,
    psp_reason: record.heldForPspRetry ?? '',
  });
  return {
    ...text,
    amount: record.payment.amount,
    held_since: new Date(heldSince).toISOString(),
    held_ms: Math.max(0, now - heldSince),
    overdue: now - heldSince >= PSP_RETRY_WAIT_MS,
  };
}

/**
 * What a release of a held `command` (`capture` or `refund`) allows, as the CLI, the console and the log say it: a
 * capture's amount no longer claims its authorization, so a cancel of it is allowed again; a refund's no longer counts
 * as given back, so a refund of that amount is allowed again (a cancel never waited for it).
 */
export function releasedEffect(command: string): string {
  return command === 'refund'
    ? 'its amount is no longer held; a refund of that amount is allowed again'
    : 'its amount is no longer held; a cancel of its authorization is allowed again';
}

const released = counter(
  'pb_held_for_psp_retry_released_total',
  "Captures and refunds held for their PSP's own retry that an operator released (ops held-retries release --execute: the PSP confirmed no retry will come): their amount no longer held (a capture's: a cancel of its authorization allowed again; a refund's: refundable again)",
  ['gateway', 'command'],
);

/** Why a release was refused: no such operation, not held (no hold, or not FAILED), the PSP's retry done, released before. */
export type HeldRetryReleaseRefusal = 'not_found' | 'not_held' | 'retry_succeeded' | 'already_released';

/** What `ops held-retries release` did with one operation. */
export interface HeldRetryRelease {
  operation_id: string;
  /** False: a dry run, nothing changed. */
  execute: boolean;
  /** `released` now, `would_release` (dry run), or why not. */
  result: 'released' | 'would_release' | HeldRetryReleaseRefusal;
  /** What was (or would be) released; absent when refused. */
  held?: { command: string; gateway: string; authorization_id: string; amount: number; currency: string; psp_reason: string };
}

/**
 * An operator releases capture or refund `id` from its hold for the PSP's own retry, once the PSP confirmed no retry
 * will come (Adyen Support, past its 10 days): with `execute`, `Ledger.releaseHeldForPspRetry` (one script: checked
 * against the record as it stands, the hold replaced by a release mark naming `actor`, `reason` and when, a history
 * entry, the index entry removed), counted in `pb_held_for_psp_retry_released_total` and logged (warn); without, a
 * dry run that reads the record and says what it would do. Refused (nothing changed) when the operation is not found,
 * not held, already released, or its PSP retry is recorded done (it stays captured or refunded). Audit-logged.
 */
export async function releaseHeldForPspRetry(
  deps: { ledger: Ledger; audit: AuditLog; logger: Logger },
  id: string,
  opts: { reason: string; execute: boolean; actor: string },
  now = Date.now(),
): Promise<HeldRetryRelease> {
  const record = await deps.ledger.get(id);
  const held = record === null ? undefined : heldOf(record);
  let result: HeldRetryRelease['result'];
  if (record === null) result = 'not_found';
  else if (record.succeededAfterFailure !== undefined) result = 'retry_succeeded';
  else if ((await deps.ledger.heldForPspRetryRelease(id)) !== null) result = 'already_released';
  else if (record.state !== 'FAILED' || !record.heldForPspRetry) result = 'not_held';
  else if (!opts.execute) result = 'would_release';
  else {
    // Decided again in the script, on the record as it stands then: a retry success recorded since this read wins.
    const done = await deps.ledger.releaseHeldForPspRetry(id, { reason: opts.reason, by: opts.actor }, now);
    result = done.result;
  }
  const outcome = result === 'released' ? 'ok' : result === 'would_release' ? 'dry_run' : 'refused';
  await deps.audit.record({
    action: 'ops.held_retry_release',
    actor: opts.actor,
    outcome,
    target: id,
    // Masked before the cut: a cut through a card number would leave digits no scan recognises as one.
    detail: { execute: opts.execute, result, reason: boundedSafeText(opts.reason, 200, false) },
  });
  if (result === 'released' && held) {
    released.inc({ gateway: held.gateway, command: held.command });
    deps.logger.warn(`an operator released a capture or refund held for its PSP's retry: ${releasedEffect(held.command)}`, {
      operation_id: id,
      command: held.command,
      gateway: held.gateway,
      authorization_id: held.authorization_id,
      amount: held.amount,
      currency: held.currency,
      psp_reason: held.psp_reason,
      released_by: opts.actor,
      release_reason: opts.reason,
    });
    if (held.command === 'capture') await rereadIfUndecided(deps, id);
  }
  const shown = result === 'released' || result === 'would_release';
  return { operation_id: id, execute: opts.execute, result, ...(shown && held ? { held } : {}) };
}

/** What a held record holds, as an operator reads it (references redacted). */
function heldOf(record: OperationRecord): NonNullable<HeldRetryRelease['held']> {
  const text = redact({
    command: record.command,
    gateway: gatewayOf(record),
    authorization_id: record.authorizationId ?? record.payment.gateway_key,
    currency: record.payment.currency,
    psp_reason: record.heldForPspRetry ?? '',
  });
  return { ...text, amount: record.payment.amount };
}

/**
 * A capture just released (FAILED for good now) that an undecided refund reading counted in flight (its
 * `REFUNDS_UNDECIDED_FIELD`): its payment is read again and the alarm raised if the refunds stand beyond what is
 * captured (`rereadAfterCaptureFailed`, once). The release stands whatever this finds; a failed read is logged.
 */
async function rereadIfUndecided(deps: { ledger: Ledger; logger: Logger }, id: string): Promise<void> {
  try {
    const [[by]] = await deps.ledger.fieldsOf([id], [REFUNDS_UNDECIDED_FIELD]);
    if (!by) return;
    const after = await deps.ledger.get(id);
    if (after !== null) await rereadAfterCaptureFailed(after, by, deps);
  } catch (err) {
    deps.logger.error(
      'reading the payment again after a held capture was released, once an undecided refund reading counted it, failed; check its refunds against what stands captured',
      {
        operation_id: id,
        error: err instanceof Error ? err.message : String(err),
      },
    );
  }
}
