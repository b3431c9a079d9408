import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { authorizationExpiringEvent } from '../events/authorization-expiring-event';
import { PaymentEvent } from '../events/payment-event';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { PeriodicItems } from '../periodic/periodic-items';
import { finishUnwrittenClosing } from './unwritten-closing';

/** What one expiry sweep did. */
export interface ExpiryReport {
  /** Authorizations within `authorizations.expiry_warning_ms` of their expiry, still indexed. */
  due: number;
  /** Expiring events recorded and queued (one per authorization, ever). */
  warned: number;
  /** Index entries dropped: closed (captured, voided, replaced) or no longer a successful authorization. */
  dropped: number;
  errors: number;
}

const expiring = counter('pb_authorizations_expiring_total', 'Authorizations the OMS was told expire soon (one event each).', ['gateway']);

/**
 * The poller's expiry sweep: every authorization whose expiry is within `authorizations.expiry_warning_ms`
 * (the `auths:expiry` index, filled by the authorization's own success transition) gets one
 * `authorization_expiring` event (event id `<authorization id>.expiring`, recorded in the outbox like any
 * event, so exactly once however often the sweep runs or crashes), then leaves the index. A captured,
 * voided or replaced authorization has already left it (see `src/ledger/authorization-index.ts`).
 */
export class AuthorizationExpirySweep {
  private readonly items: PeriodicItems;

  constructor(
    private readonly deps: {
      config: Config;
      redis: RedisClient;
      ledger: Ledger;
      /** Records the event in the outbox and queues it (OutcomeRecorder.emit). */
      emit: (event: PaymentEvent) => Promise<void>;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.items = new PeriodicItems('authorization_expiry', 'operation_id', deps.logger, () => this.now());
  }

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /**
   * One pass (`authorizations.sweep_limit`, soonest expiry first). An authorization that faults is put back
   * after a backoff (`PeriodicItems`); a dependency outage ends the pass (thrown).
   */
  async runOnce(): Promise<ExpiryReport> {
    const { config, ledger, logger } = this.deps;
    const now = this.now();
    const warning = config.authorizations.expiryWarningMs;
    const ids = await ledger.authorizationsDue('expiry', now + warning, config.authorizations.sweepLimit);
    const report: ExpiryReport = { due: ids.length, warned: 0, dropped: 0, errors: 0 };
    const warn = async (id: string): Promise<void> => {
      const auth = await ledger.get(id);
      const open = auth !== null && auth.state === 'SUCCEEDED' && !auth.closedBy && !(await finishUnwrittenClosing(this.deps, id, 'expiry'));
      const event = open ? authorizationExpiringEvent(auth, config) : null;
      if (!auth || !event) {
        await ledger.dropFromAuthorizationIndex('expiry', id);
        report.dropped += 1;
        if (!auth) this.items.dropped(id, 'auths:expiry');
        return;
      }
      // Recorded before it leaves the index: a crash in between re-records the same event id (a no-op).
      await this.deps.emit(event);
      await ledger.dropFromAuthorizationIndex('expiry', id);
      report.warned += 1;
      expiring.inc({ gateway: auth.payment.gateway });
      logger.info('authorization expires soon; OMS notified', {
        operation_id: id,
        gateway: auth.payment.gateway,
        order_id: auth.payment.order_id,
        expires_at: new Date(auth.expiresAt ?? now).toISOString(),
        amount: auth.payment.amount,
        currency: auth.payment.currency,
      });
    };
    // The index is scored by expiry, due `warning` ahead of it: due again at `at` is a score of `at + warning`.
    report.errors = await this.items.each(
      ids,
      (id) => id,
      warn,
      (id, at) => ledger.postponeInAuthorizationIndex('expiry', id, at + warning),
    );
    return report;
  }
}
