import { ReplicaShortfall, ReplicatedWrite, replicaShortfall } from '../ledger/replica-acks';
import { RedisConfig } from '../redis/redis-config';
import type { EventStore } from './event-store';
import { PaymentEvent } from './payment-event';

/**
 * With `redis.replica_acks`: whether recorded `event` (and, with `settles`, the operation whose state it reports)
 * is on its primary and acknowledged by that many replicas (`EventStore.replicaAcknowledged`: a probe write, then
 * `WAIT`, so a move or recording another connection made is covered too). The one check every sender makes before
 * the OMS hears of an event: the outcome recorder before it sends or queues one (`write: 'event'`), the
 * `oms-events` sender before it sends a queued one the recorder did not confirm (`queued_event`). A primary
 * demoted after a failover drops what it took meanwhile, and the OMS must not hear of an outcome the ledger then
 * loses.
 * @returns null when confirmed, or at once without the setting (no round trip); else the shortfall, counted in
 *   `pb_ledger_writes_unreplicated_total{write}`: the caller holds the event for a later try.
 */
export function eventReplicaShortfall(
  events: Pick<EventStore, 'replicaAcknowledged'>,
  redis: RedisConfig,
  event: PaymentEvent,
  write: Extract<ReplicatedWrite, 'event' | 'queued_event'>,
  settles?: { operationId: string },
): Promise<ReplicaShortfall | null> {
  return replicaShortfall(redis, write, (replicas, timeoutMs) => events.replicaAcknowledged(event, replicas, timeoutMs, settles));
}
