import { FundsHeldReason, GatewayOutcome } from '../gateways/gateway-adapter';
import { OperationRecord } from '../ledger/ledger';
import { gatewayOf } from '../ledger/routing-record';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

/** What became of a hold handed over for release (orphan reversal's decision, in its words). */
export interface HeldFundsDecision {
  /** `voided`, `would_void` (dry run), `already_requested` or `skipped`. */
  outcome: string;
  /** Why nothing was done (`off`, `no_psp_reference`, `dependent_in_flight`…). */
  skipped?: string;
}

/**
 * Releases a hold an operation failed with: orphan reversal's void under the outcome's reason
 * (`risk_declined`, `review_rejected`: `releasingHeldFunds`).
 */
export type ReleaseHeld = (op: OperationRecord, pspReference: string | undefined, reason: FundsHeldReason) => Promise<HeldFundsDecision>;

const failedWithFundsHeld = counter(
  'pb_failed_with_funds_held_total',
  'Operations failed while the PSP still holds their authorization (issuer approved, then PSP risk screening or a manual review refused: Cybersource AUTHORIZED_RISK_DECLINED, a Decision Manager reject after review), by gateway, why (risk_declined, review_rejected) and what became of the hold (voided, would_void, already_requested, skipped, not_released, error)',
  ['gateway', 'reason', 'release'],
);

/**
 * An operation that just FAILED with an outcome saying the PSP still holds its funds (`fundsHeld`, its
 * reason): a warning, `pb_failed_with_funds_held_total{gateway,reason,release}`, and the hold handed to
 * `release` (orphan reversal), whose own line and `pb_orphan_reversals_total{reason}` follow a void. Anything
 * but a void queued (dry run, `off`, no PSP reference, no releaser here, an error) leaves the hold until it
 * expires: the line says so, for a person to reverse it (docs/RUNBOOK.md). Never throws: the failure is recorded.
 */
export async function releaseHeldFunds(
  deps: { logger: Logger; release?: ReleaseHeld },
  failed: OperationRecord,
  outcome: GatewayOutcome & { fundsHeld: FundsHeldReason },
  source: string,
): Promise<void> {
  const gateway = gatewayOf(failed);
  const reason = outcome.fundsHeld;
  const meta = {
    operation_id: failed.id,
    command: failed.command,
    gateway,
    source,
    held_because: reason,
    gateway_status: outcome.gatewayStatus,
    amount: outcome.amount ?? failed.payment.amount,
    currency: outcome.currency ?? failed.payment.currency,
  };
  let release: string;
  let skipped: string | undefined;
  try {
    if (!deps.release) release = 'not_released';
    else {
      const decision = await deps.release(failed, outcome.gatewayReference, reason);
      release = decision.outcome;
      skipped = decision.skipped;
    }
  } catch (err) {
    release = 'error';
    skipped = err instanceof Error ? err.message : String(err);
  }
  failedWithFundsHeld.inc({ gateway, reason, release });
  if (release === 'voided' || release === 'already_requested') {
    deps.logger.warn('operation failed while the PSP holds its funds: voiding the authorization', { ...meta, release });
  } else {
    deps.logger.warn('operation failed while the PSP holds its funds, and the hold is not being released: reverse it at the PSP', {
      ...meta,
      release,
      ...(skipped !== undefined ? { why: skipped } : {}),
    });
  }
}
