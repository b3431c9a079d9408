import type { AuditLog } from '../audit/audit-log';
import type { Config } from '../config/config';
import { createDeliveryQueue } from '../delivery/delivery-queue';
import type { Logger } from '../logging/logger';
import { ReviewDecisionResult, decideReview } from '../poller/risk-review-expiry';
import type { RedisClient } from '../redis/redis-connection';
import { ReviewHold, ReviewStore } from '../risk/review-store';

/** The authorizations held for review by the risk rules, by deadline (soonest first), at most `limit`. */
export async function heldReviews(deps: { config: Config; redis: RedisClient }, limit: number): Promise<ReviewHold[]> {
  const store = new ReviewStore(deps.redis, deps.config.redis.keyPrefix);
  const ids = await store.held(limit);
  return (await Promise.all(ids.map((id) => store.get(id)))).filter((h): h is ReviewHold => h !== null && h.state === 'held');
}

/**
 * An operator's release or decline of a review hold (`decideReview`), audit-logged as
 * `risk_review.release` / `risk_review.decline` with `actor`. The `ops` CLI and the console decide through here.
 */
export async function decideHeldReview(
  deps: { config: Config; redis: RedisClient; audit: AuditLog; logger: Logger },
  id: string,
  actor: string,
  decision: 'release' | 'decline',
): Promise<ReviewDecisionResult> {
  const queue = createDeliveryQueue(deps.redis, deps.config.redis.keyPrefix);
  try {
    const result = await decideReview({ ...deps, deliveryQueue: queue }, id, actor, decision);
    const done = result === 'released' || result === 'declined';
    await deps.audit.record({ action: `risk_review.${decision}`, actor, outcome: done ? 'ok' : 'refused', target: id, detail: { result } });
    return result;
  } finally {
    await queue.close();
  }
}
