import { DueExtraHoldCheck, EXTRA_HOLD_CHECK_DELAY_MS, ExtraHoldCheckResult, ExtraHoldChecks, extraHoldChecks } from '../delivery/extra-hold-check';
import { holdsBeside } from '../delivery/extra-holds-release';
import { resolveOperationContext } from '../delivery/operation-context';
import { inquireStatus } from '../delivery/status-inquiry';
import { isDependencyOutage } from '../errors/dependency-outage';
import type { ExtraHold } from '../gateways/gateway-adapter';
import type { Ledger, OperationRecord } from '../ledger/ledger';
import { isTerminal } from '../ledger/operation-state';
import { gatewayOf } from '../ledger/routing-record';
import type { Logger } from '../logging/logger';
import type { GatewayRouter } from '../routing/gateway-router';

/**
 * How many extra hold checks one pass runs at most, over every shard: 50. Each is a transaction search at the PSP (up
 * to its `timeout_ms`), run one after the other; 500 per shard (16 shards) let a backlog hold one pass for hours.
 */
export const EXTRA_HOLD_CHECKS_PER_PASS = 50;

/** What one pass did: checks due, and how each ended. */
export interface ExtraHoldCheckReport {
  due: number;
  found: number;
  none: number;
  skipped: number;
  /** Still open (not SUCCEEDED nor FAILED): asked again {@link EXTRA_HOLD_CHECK_DELAY_MS} later. */
  postponed: number;
  errors: number;
}

/**
 * Runs the due extra hold checks ({@link ExtraHoldChecks}): for each authorize still SUCCEEDED, the status inquiry it
 * would have had (the transaction search under its merchant reference) is made once, and every authorization it lists
 * holding funds other than the one the operation records (`gatewayReference`) is handed to `release` (orphan
 * reversal's `requestExtraHold`, reason `extra_authorization`: its void goes once delivery finds the authorize
 * SUCCEEDED on another hold, src/delivery/extra-authorization-void.ts). A check finding nothing more ends quietly; one
 * that cannot be asked (no route, no context) is taken out with a warn line; a failed search is asked again
 * {@link EXTRA_HOLD_CHECK_DELAY_MS} later. Run by the poll pass, under its lock; idempotent (deterministic void ids).
 */
export class ExtraHoldCheckSweep {
  constructor(
    private readonly deps: {
      ledger: Ledger;
      router: GatewayRouter;
      checks: ExtraHoldChecks;
      /** Orphan reversal's `requestExtraHold`. */
      release: (op: OperationRecord, hold: ExtraHold) => Promise<unknown>;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /**
   * One pass over the due checks, at most `limit` in all ({@link EXTRA_HOLD_CHECKS_PER_PASS}: each is a PSP search run
   * in turn under the poll pass's lock); the rest stay due for the next pass.
   */
  async runOnce(limit = EXTRA_HOLD_CHECKS_PER_PASS): Promise<ExtraHoldCheckReport> {
    const due = await this.deps.checks.due(this.now(), limit);
    const report: ExtraHoldCheckReport = { due: due.length, found: 0, none: 0, skipped: 0, postponed: 0, errors: 0 };
    for (const check of due) {
      try {
        const result = await this.checkOne(check);
        if (result === 'error') report.errors += 1;
        else report[result] += 1;
      } catch (err) {
        // An outage ends the pass (the checks stay due); a fault of one check is put off so the others get their turn.
        if (isDependencyOutage(err)) throw err;
        report.errors += 1;
        this.deps.logger.warn('extra hold check failed; asked again later', { operation_id: check.operationId, error: (err as Error).message });
        await this.deps.checks.postpone(check, this.now() + EXTRA_HOLD_CHECK_DELAY_MS);
      }
    }
    return report;
  }

  private async checkOne(check: DueExtraHoldCheck): Promise<Exclude<ExtraHoldCheckResult, 'scheduled'>> {
    const { ledger, router, checks, logger } = this.deps;
    const op = await ledger.get(check.operationId);
    // Still open (its worker died between this entry and the success, and nothing settled it since): asked again later,
    // since a webhook's SUCCESS settling it lists no other hold (only a status inquiry's does). No PSP call meanwhile.
    if (op && op.command === 'authorize' && !isTerminal(op.state)) {
      await checks.postpone(check, this.now() + EXTRA_HOLD_CHECK_DELAY_MS);
      extraHoldChecks().inc({ gateway: gatewayOf(op), result: 'postponed' });
      return 'postponed';
    }
    // Gone, or FAILED: nothing on record holds funds for the OMS; the inquiry that failed it listed its holds itself.
    if (!op || op.command !== 'authorize' || op.state !== 'SUCCEEDED') {
      await checks.done(check);
      extraHoldChecks().inc({ gateway: op ? gatewayOf(op) : 'unknown', result: 'skipped' });
      return 'skipped';
    }
    const gateway = gatewayOf(op);
    const route = router.route(op);
    const resolved = 'refused' in route ? null : await resolveOperationContext(op, ledger, {});
    if ('refused' in route || resolved === null || !('context' in resolved)) {
      logger.warn('extra hold check: the authorize cannot be asked about; an earlier attempt of it may hold funds: check it at the PSP', {
        operation_id: op.id,
        gateway,
      });
      await checks.done(check);
      extraHoldChecks().inc({ gateway, result: 'skipped' });
      return 'skipped';
    }
    let holds: ExtraHold[];
    try {
      const { outcome } = await inquireStatus(route, resolved.context, logger);
      holds = [...(outcome?.extraHolds ?? [])];
      // The one the search decides on, when it is not the recorded one (the resend's success recorded, an earlier hold newer).
      if (outcome?.status === 'SUCCESS' && outcome.gatewayReference !== undefined) {
        holds.push({
          pspReference: outcome.gatewayReference,
          ...(outcome.amount !== undefined ? { amount: outcome.amount } : {}),
          ...(outcome.currency !== undefined ? { currency: outcome.currency } : {}),
        });
      }
    } catch (err) {
      if (isDependencyOutage(err)) throw err;
      logger.warn('extra hold check: the status inquiry failed; asked again later', { operation_id: op.id, gateway, error: (err as Error).message });
      await checks.postpone(check, this.now() + EXTRA_HOLD_CHECK_DELAY_MS);
      extraHoldChecks().inc({ gateway, result: 'error' });
      return 'error';
    }
    const extra = holdsBeside(holds, [op.gatewayReference, op.newGatewayKey]);
    if (extra.length === 0) {
      await checks.done(check);
      extraHoldChecks().inc({ gateway, result: 'none' });
      return 'none';
    }
    logger.warn('extra hold check: an earlier attempt of the authorize holds funds beside the authorization it recorded; handed to orphan reversal', {
      operation_id: op.id,
      gateway,
      holds: extra.length,
    });
    for (const hold of extra) await this.deps.release(op, hold);
    await checks.done(check);
    extraHoldChecks().inc({ gateway, result: 'found' });
    return 'found';
  }
}
