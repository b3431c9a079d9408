import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { OperationRecord } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { backoffDelay } from '../queueing/backoff';
import { DeliveryJobData } from './delivery-queue';
import { DeliveryService, DeliveryStep, PreparedAttempt, deliveryBackoff } from './delivery-service';
import { ensureDelivery, requeueDelivery } from './requeue-delivery';

/**
 * The worker's fast path: the command consumer delivers an operation right after recording it,
 * in its own process, instead of through a `gateway-delivery` job. BullMQ stays for what is not done on
 * the first try: a retry (with the usual backoff), a wait (breaker open, authorization not decided) or an
 * unexpected error all become a delayed job with jobId = operation id. If this process dies first, the
 * operation is still in the ledger's RECEIVED/SENT index and the recovery sweep queues it.
 */
export class InlineDelivery {
  constructor(
    private readonly deps: {
      config: Config;
      service: DeliveryService;
      deliveryQueue: Queue<DeliveryJobData>;
      logger: Logger;
    },
  ) {}

  /** See `DeliveryService.prepareFirstAttempt`: the first attempt of an operation not written yet, or null. */
  prepare(draft: OperationRecord): PreparedAttempt | null {
    return this.deps.service.prepareFirstAttempt(draft);
  }

  /**
   * Delivers now; hands anything not finished to the delivery queue. Never throws.
   * @param prepared the attempt `prepare` gave, when `Ledger.create` recorded it with the operation.
   */
  async run(operation: string | OperationRecord, prepared?: PreparedAttempt): Promise<DeliveryStep> {
    const { config, service, deliveryQueue, logger } = this.deps;
    const id = typeof operation === 'string' ? operation : operation.id;
    let step: DeliveryStep;
    try {
      step = await service.deliver(operation, prepared);
    } catch (err) {
      logger.warn('inline delivery failed; handing it to the delivery queue', { operation_id: id, error: (err as Error).message });
      step = { kind: 'wait', reason: 'inline delivery failed', delayMs: config.delivery.backoffBaseMs };
    }
    if (step.kind === 'done') return step;
    const delay = step.kind === 'wait' ? step.delayMs : backoffDelay(1, deliveryBackoff(config), step.retryAfterMs ?? 0);
    try {
      // Not a plain `add`: a job completed meanwhile (the sweep's, when this took longer than its stale
      // time) would make it a no-op and leave the operation with no job.
      await ensureDelivery(deliveryQueue, id, delay);
      // Registered once the job is delayed (see the delivery worker); what it waits for moved meanwhile: run now.
      if (step.kind === 'wait' && step.waitsOn && !(await service.registerWait(id, step.waitsOn))) await requeueDelivery(deliveryQueue, id);
    } catch (err) {
      // Redis is failing: the operation is in the RECEIVED/SENT index, so the recovery sweep queues it.
      logger.warn('could not queue a delivery retry; the recovery sweep will', { operation_id: id, error: (err as Error).message });
    }
    return step;
  }
}
