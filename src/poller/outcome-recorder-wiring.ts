import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { DeliveryJobData } from '../delivery/delivery-queue';
import { dependentWaker } from '../delivery/dependent-wait';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { AdjustmentRecorder } from '../delivery/adjustment-recorder';
import { LapseRecorded, RecordLapse, lapseRecordedOf, lapseRecording } from '../delivery/authorization-lapse';
import { AdjustmentStore } from '../adjustments/adjustment-store';
import { requeueDelivery } from '../delivery/requeue-delivery';
import { NotificationSender } from '../events/event-send';
import { EventStore } from '../events/event-store';
import { OmsEventJobData } from '../events/oms-events-queue';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import type { OrchestrationPipeline } from '../orchestration/orchestration-pipeline';
import { RedisClient } from '../redis/redis-connection';
import { OrphanReversal, orphanReleases } from './orphan-reversal';
import type { ParkedOutcomes } from '../webhooks/parked-outcomes';

/** What a process builds its outcome recorder from. */
export interface OutcomeRecorderParts {
  config: Config;
  /** Orphan reversal's connection. */
  redis: RedisClient;
  ledger: Ledger;
  events: EventStore;
  eventsQueue: Queue<OmsEventJobData>;
  /** Where orphan reversal queues its voids, and where dependents woken by a move of what they wait for are promoted. */
  deliveryQueue: Queue<DeliveryJobData>;
  logger: Logger;
  /**
   * The orchestration whose reservations (cap counters) a failure gives back, and a success those of plans that can no
   * longer go on record: the one delivery reserves with.
   */
  pipeline: Pick<OrchestrationPipeline, 'releaseFailed' | 'releaseSucceeded'>;
  /** Sends events inline (the worker's fast path); without it every event goes through the queue. */
  notifier?: NotificationSender;
  /**
   * Webhook outcomes parked before their modification's answer was recorded (`ParkedOutcomes`, on the webhook
   * outcome queue): with it, the recorder releases them when that answer is (see `OutcomeRecorder.releaseParked`).
   */
  parked?: ParkedOutcomes;
}

/**
 * The outcome recorder of a process (worker, poller, reconciliation), with everything a failure found there
 * gives back: the orchestration's reservations (`afterFailure`; a success, what only dead plans hold: `afterSuccess`) and, through orphan reversal, what the PSP
 * still holds (`releaseHeld`, `releaseAfterVoid`). One place, so no process wires one without the others
 * and the same failure releases the same things whoever finds it (the gateway's answer, a webhook, a status
 * inquiry, a reconciliation run), and a capture or cancel failed on its authorization's lapse records that lapse on the
 * authorization (`recordLapse`). It also gives `ledger` its dependent waker (`Ledger.wakeDependentsWith`):
 * every move made through that ledger, by the recorder or not, wakes the dependents waiting for it.
 * @returns the recorder and the orphan reversal it hands holds to (a reconciliation run requests through it too).
 */
export function buildOutcomeRecorder(parts: OutcomeRecorderParts): { recorder: OutcomeRecorder; orphans: OrphanReversal } {
  const { config, redis, ledger, events, eventsQueue, deliveryQueue, logger, pipeline, notifier, parked } = parts;
  // A dependent waiting for an operation (`DeliveryService.registerWait`) runs at once when it moves, whoever moves
  // it through this ledger: this recorder, the delivery's own moves, the poller's.
  ledger.wakeDependentsWith(dependentWaker({ ledger, wake: (operationId) => requeueDelivery(deliveryQueue, operationId), logger }));
  // A failure whose funds the PSP still holds (a risk decline after the issuer approved) is voided through orphan reversal.
  const orphans = new OrphanReversal({ config, redis, ledger, deliveryQueue, logger });
  // The lapse is recorded through an adjustment recorder, which emits through this recorder: bound once both exist.
  const lapses: { record?: RecordLapse; recorded?: LapseRecorded } = {};
  const recorder = new OutcomeRecorder({
    config,
    ledger,
    events,
    eventsQueue,
    logger,
    notifier,
    afterFailure: (op) => pipeline.releaseFailed(op),
    afterSuccess: (op) => pipeline.releaseSucceeded(op),
    ...orphanReleases(orphans),
    ...(parked ? { parked } : {}),
    recordLapse: (failed, lapse, source) => lapses.record?.(failed, lapse, source) ?? Promise.resolve(),
    lapseRecorded: (capture) => lapses.recorded?.(capture) ?? Promise.resolve(null),
  });
  const store = new AdjustmentStore(redis, config.redis.keyPrefix);
  const adjustments = new AdjustmentRecorder({ config, store, recorder, ledger, logger });
  lapses.record = lapseRecording({ adjustments, store, ledger, logger });
  lapses.recorded = lapseRecordedOf({ adjustments, store, logger });
  return { recorder, orphans };
}
