import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { NotificationSender } from '../events/event-send';
import { EventStore } from '../events/event-store';
import { OmsEventJobData } from '../events/oms-events-queue';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import type { OrchestrationPipeline } from '../orchestration/orchestration-pipeline';
import { RedisClient } from '../redis/redis-connection';
import { OrphanReversal, orphanReleases } from './orphan-reversal';
import { GatewayOutcomeJobData } from '../webhooks/gateway-outcomes-queue';
import { ParkedOutcomes } from '../webhooks/parked-outcomes';

/** What a process builds its outcome recorder from. */
export interface OutcomeRecorderParts {
  config: Config;
  /** Orphan reversal's connection. */
  redis: RedisClient;
  ledger: Ledger;
  events: EventStore;
  eventsQueue: Queue<OmsEventJobData>;
  /** Where orphan reversal queues its voids. */
  deliveryQueue: Queue<DeliveryJobData>;
  logger: Logger;
  /** The orchestration whose reservations (cap counters) a failure gives back: the one delivery reserves with. */
  pipeline: Pick<OrchestrationPipeline, 'releaseFailed'>;
  /** Sends events inline (the worker's fast path); without it every event goes through the queue. */
  notifier?: NotificationSender;
  /**
   * The webhook outcome queue: with it, webhook outcomes parked before their modification's answer was recorded are
   * released to it when that answer is (`ParkedOutcomes`); the same parking is returned for the outcome worker.
   */
  outcomesQueue?: Queue<GatewayOutcomeJobData>;
}

/**
 * The outcome recorder of a process (worker, poller, reconciliation), with everything a failure found there
 * gives back: the orchestration's reservations (`afterFailure`) and, through orphan reversal, what the PSP
 * still holds (`releaseHeld`, `releaseAfterVoid`). One place, so no process wires one without the others
 * and the same failure releases the same things whoever finds it (the gateway's answer, a webhook, a status
 * inquiry, a reconciliation run).
 * @returns the recorder, the orphan reversal it hands holds to (a reconciliation run requests through it too) and,
 *   with `outcomesQueue`, the parked webhook outcomes it releases (the outcome worker parks through it).
 */
export function buildOutcomeRecorder(parts: OutcomeRecorderParts): { recorder: OutcomeRecorder; orphans: OrphanReversal; parked?: ParkedOutcomes } {
  const { config, redis, ledger, events, eventsQueue, deliveryQueue, logger, pipeline, notifier, outcomesQueue } = parts;
  const parked = outcomesQueue
    ? new ParkedOutcomes({ redis, prefix: config.redis.keyPrefix, queue: outcomesQueue, ttlMs: config.delivery.parkedOutcomeTtlMs, logger })
    : undefined;
  // A failure whose funds the PSP still holds (a risk decline after the issuer approved) is voided through orphan reversal.
  const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger });
  const recorder = new OutcomeRecorder({
    config,
    ledger,
    events,
    eventsQueue,
    logger,
    notifier,
    afterFailure: (op) => pipeline.releaseFailed(op),
    ...orphanReleases(orphans),
    ...(parked ? { parked } : {}),
  });
  return { recorder, orphans, ...(parked ? { parked } : {}) };
}
