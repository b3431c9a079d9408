import { counter, gauge, histogram } from '../metrics/metrics-registry';

/** Every classified PSP line (and ledger operation missing at the PSP), by configured gateway and class. */
export const reconciliationLines = counter('pb_reconciliation_lines_total', 'Reconciliation verdicts: PSP lines and ledger operations, by gateway and class', [
  'gateway',
  'class',
]);

/**
 * PSP lines the gateway's reader could not read (a missing or malformed field, a currency that is no ISO 4217
 * code): set aside with their reason in the run's report, never classified; the run reads on past them. A line whose
 * time does not read either (`UnreadablePspLine.undated`) is counted once, by the window that reports it.
 */
export const reconciliationUnreadableLines = counter(
  'pb_reconciliation_lines_unreadable_total',
  'Reconciliation PSP lines the reader could not read, set aside in the run report, by gateway',
  ['gateway'],
);

/**
 * Finished, applied runs whose window had PSP lines the reader could not read: the window is not reconciled, so the
 * gateway's reconciled-through mark was held at (or put back to) its start, and retention waits, until a run of the
 * window reads every line (`reconcile --again` once the PSP corrected its report).
 */
export const reconciliationMarkHeld = counter(
  'pb_reconciliation_mark_held_total',
  "Reconciliation runs that finished with PSP lines not read, so the gateway's reconciled-through mark was held at the window's start, by gateway",
  ['gateway'],
);

/**
 * Operations created in a run's window that its ledger phase read from the creation indexes (every gateway's: the
 * indexes hold them all; those of the run's gateway no PSP line named are then judged `missing_at_psp` or not). A run
 * reads each once, paged by place rather than rank, so retention purging older operations meanwhile skips none.
 */
export const reconciliationLedgerRead = counter(
  'pb_reconciliation_ledger_operations_read_total',
  "Operations created in a reconciliation run's window that its ledger phase read (every gateway's), by the run's gateway",
  ['gateway'],
);

/**
 * SUCCEEDED operations of the window no PSP line named, of a money-moving command the gateway's source never lists
 * (`ReconciliationSupport.unlistedCommands`: Adyen's Settlement details report holds no authorization or
 * cancellation): not `missing_at_psp`, which they would always be; counted by command instead.
 */
export const reconciliationUnlistedOperations = counter(
  'pb_reconciliation_unlisted_operations_total',
  "Reconciliation ledger operations no PSP line named whose command the gateway's records never list (not missing_at_psp), by gateway and command",
  ['gateway', 'command'],
);

/**
 * Operations of a run's window no PSP line named, read by id at the PSP (`PspRecordReader.lookup`: a Stripe cancel of
 * a PaymentIntent created in an earlier window) before they would be reported `missing_at_psp`, by what the read
 * found: `matched` (not reported), `mismatch` (the PSP's object contradicts the ledger: judged like a line),
 * `not_found` (no such object, or it shows nothing of the operation: `missing_at_psp`), `failed` (the read failed:
 * `missing_at_psp`, unconfirmed), `over_budget` (the run's `reconciliation.lookups_per_run` spent: `missing_at_psp`,
 * not read).
 */
export const reconciliationConfirmedByLookup = counter(
  'pb_reconciliation_confirmed_by_lookup_total',
  'Reconciliation operations no PSP line named, read by id at the PSP before reporting them missing_at_psp, by gateway and result (matched, mismatch, not_found, failed, over_budget)',
  ['gateway', 'result'],
);

/** What reconciliation did about them: adjusted, settled, would_apply (dry run), report (left to a person). */
export const reconciliationActions = counter(
  'pb_reconciliation_actions_total',
  'Reconciliation actions, by gateway and action (adjusted, settled, would_apply, report)',
  ['gateway', 'action'],
);

/**
 * Late-fact lines (chargebacks, reversals) found recorded by an adjustment no line accounted for yet (a
 * webhook's), which was tied to the line: by the PSP's reference of the dispute or modification, or by kind and
 * amount. Each adjustment is tied once; a line none is left for is recorded (`pb_reconciliation_actions_total`).
 */
export const reconciliationAdjustmentTies = counter(
  'pb_reconciliation_adjustment_ties_total',
  'Reconciliation late-fact lines tied to an adjustment a webhook recorded, by gateway and how (psp_reference, kind_and_amount)',
  ['gateway', 'by'],
);

/**
 * PSP lines showing as done (captured, a refund settled) a capture, sale or refund the ledger holds SUCCEEDED and
 * marked undone (`undone_by`), by what they came to: `redone` (the line is after the fact that undid it: a
 * `succeeded_after_failure` clears the mark), `stands` (before it: the success that fact undid), `unclear` (which
 * came first cannot be told: left to a person).
 */
export const reconciliationUndoneLines = counter(
  'pb_reconciliation_undone_lines_total',
  'Reconciliation lines showing as done an operation the ledger holds SUCCEEDED and marked undone, by gateway, command and outcome (redone, stands, unclear)',
  ['gateway', 'command', 'outcome'],
);

/**
 * FAILED sales the PSP charged after all (marked by a `succeeded_after_failure`) that a PSP line shows charged again at
 * another PSP transaction (a resend that landed twice, a second attempt): recorded as their own `succeeded_after_failure`
 * and told to the OMS, never refunded by the bridge (a person decides: RUNBOOK). Each counted once, when recorded.
 */
export const reconciliationSalesChargedAgain = counter(
  'pb_reconciliation_sales_charged_again_total',
  'FAILED sales charged after all that reconciliation found charged again at another PSP transaction, reported to the OMS and not refunded, by gateway',
  ['gateway'],
);

/**
 * Report downloads ended by `reconciliation.download_deadline_ms`: the host kept sending (each chunk inside the stall
 * bound) past the whole download's deadline. The run fails retryable and its next invocation resumes from its last
 * committed page.
 */
export const reconciliationDownloadsPastDeadline = counter(
  'pb_reconciliation_downloads_past_deadline_total',
  'Reconciliation report downloads ended at reconciliation.download_deadline_ms (the host still sending), by gateway',
  ['gateway'],
);

/** Wall time of one reconciliation invocation, seconds (a resumed run counts each invocation). */
export const reconciliationDuration = histogram(
  'pb_reconciliation_run_duration_seconds',
  'Duration of reconciliation runs, by gateway and result (done, stopped, failed)',
  ['gateway', 'result'],
  [1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600],
);

/**
 * When a (non-dry) reconciliation run of the gateway last finished in this process, epoch seconds. Per process
 * (a `payment-bridge reconcile` process exits before any scrape): alert on `pb_reconciliation_unreconciled_windows`
 * (the reconciliation schedule, read from Redis) instead.
 */
export const reconciliationLastSuccess = gauge(
  'pb_reconciliation_last_success_timestamp_seconds',
  'When the last reconciliation run of the gateway finished, epoch seconds',
  ['gateway'],
);
