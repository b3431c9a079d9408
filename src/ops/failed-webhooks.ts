import type { Job } from 'bullmq';
import type { AuditLog } from '../audit/audit-log';
import type { Config } from '../config/config';
import { counter } from '../metrics/metrics-registry';
import { bullJobId } from '../queueing/job-id';
import type { RedisClient } from '../redis/redis-connection';
import type { ScoredEntry } from '../redis/scored-entries';
import { entriesBefore } from '../redis/sorted-set-cursor';
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
  /** Its place in the list (`<failed at, epoch ms>:<job id>`): `--before` it lists the ones older than it. */
  place: string;
}

/**
 * A place in the failed set, newest first: a job's score there (when it failed, epoch ms) and its job id,
 * which orders jobs that failed in the same millisecond (by their bytes, as Redis does).
 */
export type FailedWebhookPlace = ScoredEntry;

/** One page of {@link failedWebhooks}: the rows, and the last row's place when older entries remain (the next page is `before` it). */
export interface FailedWebhookPage {
  webhooks: FailedWebhook[];
  older?: FailedWebhookPlace;
}

/** Entries of the failed set one read takes (and jobs read at once): a gateway filter may read past many. */
const READ_PAGE = 200;

/** A place as `ops webhooks failed` prints it: `<score>:<job id>` (a job id holds no `:`: see `bullJobId`). */
export function formatFailedWebhookPlace(place: FailedWebhookPlace): string {
  return place.id === '' ? String(place.score) : `${place.score}:${place.id}`;
}

const PLACE_TEXT = /^(\d{1,16})(?::([^:\s]{1,512}))?$/;

/** The place {@link formatFailedWebhookPlace} wrote, or a bare epoch ms (the ones failed before it); null when the text is neither. */
export function parseFailedWebhookPlace(text: string): FailedWebhookPlace | null {
  const m = PLACE_TEXT.exec(text);
  return m ? { score: Number(m[1]), id: m[2] ?? '' } : null;
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

function failedWebhook(job: Job<GatewayOutcomeJobData>, place: FailedWebhookPlace): FailedWebhook {
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
    place: formatFailedWebhookPlace(place),
  };
}

/**
 * The webhook outcomes the outcome worker gave up on (an operation never matched, a failure the PSP never
 * confirmed, a fault of the bridge, an outcome refused for its scope), newest first, at most `limit`, of
 * `gateway` only when given, older than `before` when given. The PSP acknowledged them and will not send them
 * again: this is where they wait for an operator (`ops webhooks failed`, the console).
 *
 * Read by place in BullMQ's failed set (a sorted set scored by the time each job failed), not by rank: new
 * failures enter at the top and retried or removed ones leave, so pages by rank would show a job twice or
 * pass one over. From place to place (`older` of one page as `before` of the next, or `pageSize` entries a
 * read within one call), a job that stays failed throughout is listed once; a job retried or removed between
 * the read of its place and of its record is left out. `pageSize`: entries of the set one read takes at most
 * (default 200; a page needs several reads when a gateway filter reads past others).
 */
export async function failedWebhooks(
  deps: { config: Config; redis: RedisClient },
  opts: { gateway?: string; limit: number; before?: FailedWebhookPlace; pageSize?: number },
): Promise<FailedWebhookPage> {
  const queue = createGatewayOutcomesQueue(deps.redis, deps.config.redis.keyPrefix);
  const pageSize = Math.max(1, Math.floor(opts.pageSize ?? READ_PAGE));
  try {
    const failedKey = queue.keys.failed;
    const webhooks: FailedWebhook[] = [];
    let last: FailedWebhookPlace | undefined;
    let place = opts.before;
    for (;;) {
      // A full page: one entry more tells whether an older page has anything in it.
      const full = webhooks.length >= opts.limit;
      // Unfiltered, no more records than the page still needs are read.
      const want = full ? 1 : opts.gateway ? pageSize : Math.min(pageSize, opts.limit - webhooks.length);
      const entries = await entriesBefore(deps.redis, failedKey, place, want);
      if (full) return { webhooks, ...(entries.length > 0 && last ? { older: last } : {}) };
      const jobs = await Promise.all(entries.map((e) => queue.getJob(e.id)));
      for (const [i, entry] of entries.entries()) {
        if (webhooks.length >= opts.limit) return { webhooks, ...(last ? { older: last } : {}) };
        const job = jobs[i];
        // Gone, or retried (and maybe failed again, with a newer place) since its place was read.
        if (!job || job.finishedOn !== entry.score) continue;
        if (opts.gateway && job.data.gateway !== opts.gateway) continue;
        webhooks.push(failedWebhook(job, entry));
        last = entry;
      }
      if (entries.length < want) return { webhooks };
      place = entries[entries.length - 1];
    }
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
