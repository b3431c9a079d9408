import type { Job } from 'bullmq';
import type { AuditLog } from '../audit/audit-log';
import type { Config } from '../config/config';
import { counter } from '../metrics/metrics-registry';
import { bullJobId } from '../queueing/job-id';
import type { RedisClient } from '../redis/redis-connection';
import { createGatewayOutcomesQueue, GatewayOutcomeJobData } from '../webhooks/gateway-outcomes-queue';

const retried = counter(
  'pb_webhook_outcomes_retried_total',
  'Webhook outcomes an operator sent back from the gateway-outcomes failed set to be applied again (ops webhooks retry, the console), by gateway',
  ['gateway'],
);

/** A webhook outcome the outcome worker gave up on, as an operator reads it (no PSP free text but the reason). */
export interface FailedWebhook {
  gateway: string;
  event_id: string;
  operation_id: string | null;
  psp_reference: string | null;
  /** What the PSP said (SUCCESS, FAIL…) and its own status word. */
  outcome: string;
  /** Why it was set aside: the error class or message BullMQ kept (never the webhook's body). */
  reason: string;
  attempts: number;
  failed_at: string | null;
}

/** One webhook outcome an operator names: its gateway and the PSP's event id. */
export interface WebhookRef {
  gateway: string;
  eventId: string;
}

/** What a retry did with one webhook outcome: `retried` (applied again from the start) or `not_failed` (left alone). */
export interface WebhookRetryResult {
  gateway: string;
  event_id: string;
  result: 'retried' | 'not_failed';
}

function failedWebhook(job: Job<GatewayOutcomeJobData>): FailedWebhook {
  const d = job.data;
  return {
    gateway: d.gateway,
    event_id: d.eventId,
    operation_id: d.operationId ?? null,
    psp_reference: d.gatewayReference ?? null,
    outcome: `${d.outcome.status} ${d.outcome.gatewayStatus}`,
    reason: job.failedReason ?? '',
    attempts: job.attemptsMade,
    failed_at: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  };
}

/**
 * The webhook outcomes the outcome worker gave up on (an operation never matched, a failure the PSP never
 * confirmed, a fault of the bridge, an outcome refused for its scope), newest first, at most `limit`, of
 * `gateway` only when given. The PSP acknowledged them and will not send them again: this is where they
 * wait for an operator (`ops webhooks failed`, the console).
 */
export async function failedWebhooks(deps: { config: Config; redis: RedisClient }, opts: { gateway?: string; limit: number }): Promise<FailedWebhook[]> {
  const queue = createGatewayOutcomesQueue(deps.redis, deps.config.redis.keyPrefix);
  try {
    // Read in pages: a gateway filter may skip many of them.
    const found: FailedWebhook[] = [];
    for (let start = 0; found.length < opts.limit; start += 200) {
      const jobs = await queue.getFailed(start, start + 199);
      for (const job of jobs) if (!opts.gateway || job.data.gateway === opts.gateway) found.push(failedWebhook(job));
      if (jobs.length < 200) break;
    }
    return found.slice(0, opts.limit);
  } finally {
    await queue.close();
  }
}

/**
 * Once the cause is fixed (the operation now exists, the PSP answers, the bridge's fault is mended), applies
 * each named webhook outcome of the failed set again from the start: its attempts and fault count reset.
 * Applying an outcome is idempotent (forward-only states, adjustments by PSP event id), so a retry never
 * moves money twice. One not in the failed set is left alone. Each is audit-logged (`webhook.retry`, with
 * `actor`) and counted (`pb_webhook_outcomes_retried_total{gateway}`). The `ops` CLI and the console both
 * retry through here.
 */
export async function retryFailedWebhooks(
  deps: { config: Config; redis: RedisClient; audit: AuditLog },
  refs: readonly WebhookRef[],
  actor: string,
): Promise<WebhookRetryResult[]> {
  const queue = createGatewayOutcomesQueue(deps.redis, deps.config.redis.keyPrefix);
  const results: WebhookRetryResult[] = [];
  try {
    for (const { gateway, eventId } of refs) {
      const job = await queue.getJob(bullJobId(`wh.${gateway}.${eventId}`));
      const failed = job !== undefined && (await job.isFailed());
      if (job && failed) {
        await job.updateData({ ...job.data, faults: 0 });
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        retried.inc({ gateway });
      }
      const result = failed ? 'retried' : 'not_failed';
      results.push({ gateway, event_id: eventId, result });
      await deps.audit.record({ action: 'webhook.retry', actor, outcome: failed ? 'ok' : 'refused', target: `${gateway}/${eventId}`, detail: { result } });
    }
  } finally {
    await queue.close();
  }
  return results;
}
