import { Config } from '../config/config';
import { GatewayRouter } from '../delivery/delivery-service';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { resolveOperationContext } from '../delivery/operation-context';
import { inquireStatus } from '../delivery/status-inquiry';
import { GatewayError } from '../errors/gateway-error';
import { Ledger, OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';

/** What one poll run did. */
export interface PollReport {
  due: number;
  resolved: number;
  stillOpen: number;
  unresponsive: number;
  errors: number;
}

/**
 * Asks the gateway about PENDING and UNKNOWN operations whose next check is due. Schedule
 * (`poller.schedule_ms`, default 1m 5m 30m 2h 1d) = the wait before each successive check; after the last
 * one the operation fails with reason UNRESPONSIVE and an error line operators alert on
 * (`alert: payment_unresponsive`). Outcomes go through the OutcomeRecorder, so they only move forward and
 * the OMS gets its event. An UNKNOWN the PSP has no trace of is left to its delivery job, which resends
 * with the same idempotency key.
 */
export class Poller {
  constructor(
    private readonly deps: {
      config: Config;
      ledger: Ledger;
      router: GatewayRouter;
      recorder: OutcomeRecorder;
      logger: Logger;
      now?: () => number;
      /** Inquiries in flight at once. Default 20. */
      parallelism?: number;
    },
  ) {}

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  async runOnce(limit = 5000): Promise<PollReport> {
    const now = this.now();
    const ids = [
      ...(await this.deps.ledger.idsInState('PENDING', now, limit)),
      ...(await this.deps.ledger.idsInState('UNKNOWN', now, limit)),
    ];
    const report: PollReport = { due: ids.length, resolved: 0, stillOpen: 0, unresponsive: 0, errors: 0 };
    const queue = [...ids];
    const workers = Array.from({ length: Math.min(this.deps.parallelism ?? 20, queue.length) }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          const result = await this.check(id);
          report[result] += 1;
        } catch (err) {
          report.errors += 1;
          this.deps.logger.warn('poll of an operation failed', { operation_id: id, error: (err as Error).message });
        }
      }
    });
    await Promise.all(workers);
    return report;
  }

  private async check(id: string): Promise<'resolved' | 'stillOpen' | 'unresponsive'> {
    const { ledger, router, recorder, logger } = this.deps;
    const op = await ledger.get(id);
    if (!op || (op.state !== 'PENDING' && op.state !== 'UNKNOWN')) return 'resolved';
    const route = router.route(op);
    // No route: nothing to ask; the schedule runs out and the operation fails UNRESPONSIVE, alerting operators.
    if (!('refused' in route)) {
      // The same context delivery sent with: a capture naming our authorization asks about the PSP's object.
      const resolved = await resolveOperationContext(op, ledger);
      if ('context' in resolved) {
        try {
          const { outcome, elapsedMs } = await inquireStatus(route, resolved.context);
          if (outcome && outcome.status !== 'PENDING') {
            const after = await recorder.apply(op, outcome, 'poller', { elapsed_ms: elapsedMs });
            if (after.state === 'SUCCEEDED' || after.state === 'FAILED') return 'resolved';
          }
        } catch (err) {
          if (!(err instanceof GatewayError)) throw err;
          await ledger.appendInteraction(op.id, { event: 'poll_error', kind: err.kind, http_status: err.details.httpStatus });
        }
      } else {
        // A sent operation whose authorization is undecided or failed is a contradiction, not an answer:
        // never fail a money movement on it; note it and ask again at the next step.
        const reason = 'wait' in resolved ? resolved.wait : resolved.fail;
        logger.warn('poll cannot name the PSP object of this operation yet', { operation_id: op.id, reason });
        await ledger.appendInteraction(op.id, { event: 'poll_skipped', reason });
      }
    }
    return this.advance(op, logger);
  }

  /** Moves the operation to its next check, or fails it UNRESPONSIVE past the last step. */
  private async advance(op: OperationRecord, logger: Logger): Promise<'stillOpen' | 'unresponsive'> {
    const schedule = this.deps.config.poller.scheduleMs;
    const step = (op.pollStep ?? 0) + 1;
    if (step >= schedule.length) {
      await this.deps.recorder.fail(op, 'UNRESPONSIVE', 'poller', { poll_steps: step });
      logger.error('operation UNRESPONSIVE: no final answer from the gateway after the whole poll schedule', {
        alert: 'payment_unresponsive',
        operation_id: op.id,
        gateway: op.payment.gateway,
        state_before: op.state,
      });
      return 'unresponsive';
    }
    await this.deps.ledger.transition(op.id, op.state, { event: 'poll', step }, { nextCheckAt: this.now() + schedule[step], pollStep: step });
    return 'stillOpen';
  }
}
