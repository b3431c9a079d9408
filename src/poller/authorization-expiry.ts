import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { authorizationExpiringEvent } from '../events/authorization-expiring-event';
import { PaymentEvent } from '../events/payment-event';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';

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
  ) {}

  async runOnce(): Promise<ExpiryReport> {
    const { config, ledger, logger } = this.deps;
    const now = this.deps.now ? this.deps.now() : Date.now();
    const horizon = now + config.authorizations.expiryWarningMs;
    const ids = await ledger.authorizationsDue('expiry', horizon, config.authorizations.sweepLimit);
    const report: ExpiryReport = { due: ids.length, warned: 0, dropped: 0, errors: 0 };
    for (const id of ids) {
      try {
        const auth = await ledger.get(id);
        const event = auth && auth.state === 'SUCCEEDED' && !auth.closedBy ? authorizationExpiringEvent(auth, config) : null;
        if (!auth || !event) {
          await ledger.dropFromAuthorizationIndex('expiry', id);
          report.dropped += 1;
          continue;
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
      } catch (err) {
        report.errors += 1;
        logger.warn('expiry sweep of an authorization failed', { operation_id: id, error: (err as Error).message });
      }
    }
    return report;
  }
}
