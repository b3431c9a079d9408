import { Config } from '../config/config';
import { AdjustmentStore, HeldRecaptureEntry, SurfacedRecapture } from '../adjustments/adjustment-store';
import { recapturesBeforeFailure } from '../delivery/adjustment-recorder';
import { Logger } from '../logging/logger';
import { PeriodicItems } from '../periodic/periodic-items';

/** What one pass of the re-capture wait did. */
export interface RecaptureWaitReport {
  /** Held re-captures past their wait and not surfaced yet, read this pass. */
  due: number;
  /** Surfaced re-captures looked at again this pass (a page of them; every one over passes). */
  revisited: number;
  /** Surfaced now (a warn line each). */
  surfaced: number;
  /** Surfaced by an earlier pass and still waiting for their failure. */
  stillWaiting: number;
  /** Of those, ones an earlier release surfaced and left among the due, moved now to the surfaced ones. */
  moved: number;
  /** Taken out of the index: reported after their failure, nothing held any more, or the operation gone. */
  settled: number;
  /** Items that threw a fault of their own (`pb_periodic_item_faults_total{job="recapture_wait"}`). */
  faulted: number;
}

/** Held re-captures read per pass, at most: so many due, and about so many surfaced ones looked at again. */
const DEFAULT_LIMIT = 1000;

/**
 * The wait of a PSP re-capture held on its capture for the capture failure it follows (`AdjustmentStore.holdRecapture`:
 * Adyen's "Transaction Recaptured" delivered before its `CAPTURE_FAILED`). When that failure comes, the OMS hears both
 * in the PSP's order and the capture leaves the index. When it never comes (a notification lost, or never sent), the
 * OMS still holds the capture as succeeded and nobody would know: past `delivery.recapture_failure_wait_ms` each such
 * re-capture is surfaced to operators, once: a warn line (`alert: recapture_awaiting_failure`),
 * `pb_recaptures_before_failure_total{step="surfaced"}`, a `recapture_awaiting_failure` history entry; it stays in
 * `pb_recaptures_awaiting_failure` and `payment-bridge ops recaptures list` until its failure comes. Nothing is sent to the
 * OMS: the PSP's latest word, the re-capture, says the capture's money is captured, which is what the OMS holds; what
 * the bridge lacks is the failure between, for an operator to find at the PSP. Run by the poll pass, under its lock;
 * idempotent (the surfacing is marked in the step that writes its history entry). A surfaced one moves, in that step,
 * to an index of its own, so the due read (oldest first, bounded) never fills up with surfaced ones that stay waiting
 * for days: a newer due one is always read. The surfaced ones are looked at again a page per pass (ZSCAN), so one whose
 * failure came without taking it out (a worker of an earlier release, a record gone) leaves the count in time.
 */
export class RecaptureWaitSweep {
  private readonly items: PeriodicItems;
  /** Where the walk of the surfaced re-captures goes on from, per shard ('0': from the start). */
  private cursors: string[] = [];

  constructor(
    private readonly deps: {
      config: Config;
      store: AdjustmentStore;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.items = new PeriodicItems('recapture_wait', 'operation_id', deps.logger, () => this.now());
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  async runOnce(limit = DEFAULT_LIMIT): Promise<RecaptureWaitReport> {
    const now = this.now();
    const waitMs = this.deps.config.delivery.recaptureFailureWaitMs;
    // An item that faulted lately is skipped until its backoff ends: its index score is when it was held, not when due.
    const due = (await this.deps.store.heldRecapturesSince(now - waitMs, limit, 'due')).filter((entry) => !this.items.waiting(entry.operationId));
    const page = await this.deps.store.surfacedRecapturesPage(this.cursors, limit);
    this.cursors = page.cursors;
    const seen = new Set(due.map((entry) => entry.operationId));
    const revisit = new Set<HeldRecaptureEntry>();
    for (const entry of page.entries) {
      // ZSCAN may return an entry twice; one in both indexes is done with the due ones.
      if (seen.has(entry.operationId) || this.items.waiting(entry.operationId)) continue;
      seen.add(entry.operationId);
      revisit.add(entry);
    }
    const report: RecaptureWaitReport = { due: due.length, revisited: revisit.size, surfaced: 0, stillWaiting: 0, moved: 0, settled: 0, faulted: 0 };
    report.faulted = await this.items.each(
      [...due, ...revisit],
      (entry) => entry.operationId,
      async (entry) => {
        const found = await this.surface(entry, now, revisit.has(entry) ? 'recaptures:surfaced' : 'recaptures:held');
        if (found.outcome === 'surfaced') report.surfaced += 1;
        else if (found.outcome === 'surfaced_already') {
          report.stillWaiting += 1;
          if (found.moved) report.moved += 1;
        } else report.settled += 1;
      },
    );
    return report;
  }

  private async surface(entry: HeldRecaptureEntry, now: number, index: string): Promise<SurfacedRecapture> {
    const result = await this.deps.store.surfaceHeldRecapture(entry, now - entry.heldSince, now);
    if (result.outcome === 'gone') this.items.dropped(entry.operationId, index);
    if (result.outcome !== 'surfaced') return result;
    const { held, command } = result;
    recapturesBeforeFailure.inc({ gateway: held.fact.gateway, command, step: 'surfaced' });
    this.deps.logger.warn(
      're-capture held past delivery.recapture_failure_wait_ms: the capture failure it follows never came; the OMS still holds the capture as succeeded and is told nothing; check the capture at the PSP',
      {
        alert: 'recapture_awaiting_failure',
        operation_id: entry.operationId,
        command,
        gateway: held.fact.gateway,
        psp_reference: held.fact.pspReference ?? null,
        recapture_event_id: held.fact.pspEventId,
        recaptured_at: held.at === undefined ? null : new Date(held.at).toISOString(),
        held_since: new Date(entry.heldSince).toISOString(),
        waited_ms: now - entry.heldSince,
        amount: held.fact.amount ?? null,
        currency: held.fact.currency ?? null,
      },
    );
    return result;
  }
}
