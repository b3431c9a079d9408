import { RedisClient } from '../redis/redis-connection';
import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { requeueDelivery } from '../delivery/requeue-delivery';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { PeriodicItems } from '../periodic/periodic-items';
import { ReviewStore } from '../risk/review-store';
import { RISK_REVIEW_EXPIRED } from '../risk/risk-reasons';

const reviews = () =>
  counter('pb_risk_reviews_total', 'Risk review holds settled, by result (released or declined by an operator, expired and voided)', ['result']);

/**
 * The poller's automatic void of review holds: an authorization held by the risk rules whose deadline
 * passed without an operator's release is voided. It was never sent (the hold comes before the gateway
 * call), so nothing is asked of the PSP: the operation fails with `RISK_REVIEW_EXPIRED` and the OMS gets
 * its FAIL event. An operation already gone further (released meanwhile, sent, even between the read and the
 * failure: it fails only from the state read) is left alone.
 */
export class RiskReviewExpiry {
  private readonly store: ReviewStore;
  private readonly items: PeriodicItems;
  /** The clock of the pass under way (`runOnce`'s `now`): a faulted hold's backoff counts from it. */
  private passNow = Date.now();

  constructor(
    private readonly deps: {
      config: Config;
      redis: RedisClient;
      ledger: Ledger;
      recorder: OutcomeRecorder;
      logger: Logger;
      deliveryQueue?: Queue<DeliveryJobData>;
    },
  ) {
    this.store = new ReviewStore(deps.redis, deps.config.redis.keyPrefix);
    this.items = new PeriodicItems('risk_review_expiry', 'operation_id', deps.logger, () => this.passNow);
  }

  /**
   * One pass: every hold past its deadline (oldest first). A hold that faults is put back after a backoff
   * (`PeriodicItems`); a deadline entry whose hold is gone is removed; a dependency outage ends the pass (thrown).
   * @returns how many were voided.
   */
  async runOnce(now = Date.now()): Promise<number> {
    if (this.deps.config.limits.risk.rules.length === 0) return 0;
    this.passNow = now;
    let voided = 0;
    const expire = async (id: string): Promise<void> => {
      const hold = await this.store.get(id);
      const before = await this.store.expire(id);
      if (before === '') {
        // No hold (its hash outlived its TTL): nothing settles the entry, which would stay due for ever.
        await this.store.dropDue(id);
        this.items.dropped(id, '{risk:review}:due');
      }
      if (before !== 'held') return;
      const op = await this.deps.ledger.get(id);
      if (!op || op.state !== 'RECEIVED') return;
      const deadline = hold ? new Date(hold.deadline).toISOString() : null;
      // Only from the state read (RECEIVED): one another worker sent meanwhile (a worker whose risk rules no longer
      // hold it, in a rolling deploy) may be at the PSP already; its sender records what the PSP did.
      const failed = await this.deps.recorder.fail(op, RISK_REVIEW_EXPIRED, 'poller', {
        details: { review_deadline: deadline, review_rule: hold?.rule ?? null },
        onlyFrom: op.state,
      });
      if (failed.state !== 'FAILED') {
        this.deps.logger.warn('review expiry not recorded: the operation moved meanwhile; it stands as that left it', {
          operation_id: id,
          read_state: op.state,
          state: failed.state,
        });
        return;
      }
      voided++;
      reviews().inc({ result: 'expired' });
      this.deps.logger.warn('review deadline passed without a release; authorization voided (never sent to the PSP)', {
        operation_id: id,
        review_deadline: deadline,
        rule: hold?.rule,
      });
      // Its delivery job waits for the deadline: let it finish now (it finds the operation failed).
      if (this.deps.deliveryQueue) await requeueDelivery(this.deps.deliveryQueue, id).catch(() => undefined);
    };
    await this.items.each(
      await this.store.due(now),
      (id) => id,
      expire,
      (id, at) => this.store.postpone(id, at),
    );
    return voided;
  }
}

/** What an operator's decision on a review hold did: done, or why not (no hold, already decided, expired). */
export type ReviewDecisionResult = 'released' | 'declined' | 'not_held' | 'already_released' | 'already_declined' | 'expired';

/**
 * An operator's decision on a review hold: `release` sends the authorization on to its gateway at once;
 * `decline` refuses it (FAIL `RISK_DECLINED`, never sent: the OMS hears it at once instead of at the
 * deadline). Either way its delivery job is requeued, and the risk stage finds the decision on the hold.
 * Counted in `pb_risk_reviews_total{result}` and logged with the actor. The `ops` CLI and the console decide
 * through here.
 */
export async function decideReview(
  deps: { config: Config; redis: RedisClient; deliveryQueue: Queue<DeliveryJobData>; logger: Logger },
  id: string,
  actor: string,
  decision: 'release' | 'decline',
): Promise<ReviewDecisionResult> {
  const store = new ReviewStore(deps.redis, deps.config.redis.keyPrefix);
  const before = decision === 'release' ? await store.release(id, actor) : await store.decline(id, actor);
  if (before === '') return 'not_held';
  if (before === 'released') return 'already_released';
  if (before === 'declined') return 'already_declined';
  if (before === 'expired') return 'expired';
  const result = decision === 'release' ? 'released' : 'declined';
  reviews().inc({ result });
  if (decision === 'release') deps.logger.info('review hold released by an operator; authorization sent on', { operation_id: id, actor });
  else deps.logger.warn('review hold declined by an operator; authorization refused, never sent', { operation_id: id, actor });
  await requeueDelivery(deps.deliveryQueue, id);
  return result;
}
