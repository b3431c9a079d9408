import { counter } from '../metrics/metrics-registry';

/** Why a consumer lost a lane while its connection stayed up. */
export type LaneLossReason = 'channel_closed' | 'consumer_cancelled';

/** Which queue a lost lane consumed: a short constant, never the (namespaced) queue name. */
export type LaneQueueRole = 'commands' | 'priority' | 'broker_rejected';

/**
 * `pb_consumer_lanes_lost_total{queue_role,reason}`: lanes whose channel the broker closed (a channel error:
 * a 406 on an unknown delivery tag, an access refusal) or whose consumer the broker cancelled (the queue
 * deleted), the connection staying up. Each is subscribed again by the consumer's retry.
 */
function lanesLost() {
  return counter(
    'pb_consumer_lanes_lost_total',
    'Consumer lanes lost while the connection stayed up (channel closed by the broker, consumer cancelled by the broker), by queue role and reason; each is subscribed again',
    ['queue_role', 'reason'] as const,
  );
}

/** Counts one lost lane in `pb_consumer_lanes_lost_total`, its labels typed so a role or reason outside the set cannot be written. */
export function countLaneLost(queueRole: LaneQueueRole, reason: LaneLossReason): void {
  lanesLost().inc({ queue_role: queueRole, reason });
}

/** A lane that lived at least this long before it was lost restarts the retry backoff (a lane lost at once backs off further). */
export const LANE_STABLE_MS = 30_000;
