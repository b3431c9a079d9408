import { Queue } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { Config } from '../config/config';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { AuthorizationExpirySweep, ExpiryReport } from './authorization-expiry';
import { OrphanReport, OrphanReversal } from './orphan-reversal';

/** What one lifecycle pass did. */
export interface LifecycleReport {
  expiry: ExpiryReport;
  orphans: OrphanReport;
}

/**
 * The authorization lifecycle's part of a poll run: the expiry warnings, then the orphan reversal. Run
 * by `payment-bridge poll` and by the workers' in-process poller, under the poller's lock.
 */
export class LifecycleSweep {
  readonly expiry: AuthorizationExpirySweep;
  readonly orphans: OrphanReversal;

  constructor(
    private readonly deps: {
      config: Config;
      redis: RedisClient;
      ledger: Ledger;
      recorder: OutcomeRecorder;
      deliveryQueue: Queue<DeliveryJobData>;
      logger: Logger;
      now?: () => number;
    },
  ) {
    const { config, redis, ledger, recorder, deliveryQueue, logger, now } = deps;
    this.expiry = new AuthorizationExpirySweep({ config, redis, ledger, emit: (e) => recorder.emit(e), logger, now });
    this.orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger, now });
  }

  async runOnce(): Promise<LifecycleReport> {
    const expiry = await this.expiry.runOnce();
    const orphans = await this.orphans.sweep();
    if (expiry.due > 0 || orphans.candidates > 0) {
      const { decisions: _decisions, ...counts } = orphans;
      this.deps.logger.info('authorization lifecycle sweep', { expiry, orphans: counts });
    }
    return { expiry, orphans };
  }
}
