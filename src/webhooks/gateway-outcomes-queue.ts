import { Queue } from 'bullmq';
import { RedisClient } from '../redis/redis-connection';
import { bullPrefix } from '../queueing/bull-prefix';
import { AdjustmentFact } from '../adjustments/adjustment';
import { GatewayOutcome, ModificationReading, Recapture, ReviewDecision } from '../gateways/gateway-adapter';
import type { FaultCount } from '../queueing/job-faults';

/** Outcomes pushed by PSP webhooks, waiting to be applied to the ledger. */
export const GATEWAY_OUTCOMES_QUEUE = 'gateway-outcomes';

export interface GatewayOutcomeJobData extends FaultCount {
  /** Configured gateway name (the `:gateway` of the webhook URL). */
  gateway: string;
  /** The provider's event id (dedupe). */
  eventId: string;
  /** The id earlier releases gave the same notification (see `WebhookEvent.formerEventId`), in the same form as `eventId`. */
  formerEventId?: string;
  operationId?: string;
  gatewayReference?: string;
  /** A refund's payment, found by it when nothing else names an operation (see `WebhookEvent.paymentReference`). */
  paymentReference?: string;
  /** The PSP account the webhook names, when it names one (see `WebhookEvent.account`). */
  account?: string;
  outcome: GatewayOutcome;
  /** A late fact to record as an adjustment (see `WebhookEvent.adjustment`). */
  adjustment?: AdjustmentFact;
  /** The PSP capturing again a capture it had failed (see `WebhookEvent.recapture`). */
  recapture?: Recapture;
  /** The fact read as a modification's outcome (see `WebhookEvent.modification`). */
  modification?: ModificationReading;
  /** The PSP's manual review decision of the payment named (see `WebhookEvent.reviewDecision`). */
  reviewDecision?: ReviewDecision;
  /** A token the PSP stored for the payment named, reported apart from its outcome (see `WebhookEvent.storedToken`). */
  storedToken?: string;
}

export function createGatewayOutcomesQueue(connection: RedisClient, keyPrefix: string): Queue<GatewayOutcomeJobData> {
  return new Queue<GatewayOutcomeJobData>(GATEWAY_OUTCOMES_QUEUE, {
    connection,
    prefix: bullPrefix(keyPrefix, GATEWAY_OUTCOMES_QUEUE),
    defaultJobOptions: {
      // A webhook may arrive before the gateway's own answer has told us its reference: retry a while.
      attempts: 20,
      backoff: { type: 'pb-backoff' },
      // Kept a week: the job id (gateway + provider event id) is the dedupe window for repeated webhooks.
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: { age: 30 * 24 * 3600 },
    },
  });
}
