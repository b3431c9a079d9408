import { Queue } from 'bullmq';
import { Config } from '../config/config';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { bullJobId } from '../queueing/job-id';
import { RedisClient } from '../redis/redis-connection';
import { shardKeysOf, shardOfAnchor } from '../redis/key-layout';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';

const parkedOutcomes = counter(
  'pb_webhook_parked_total',
  "Webhook outcomes of a modification naming the payment that came before any operation held the modification's PSP reference, by gateway and step: parked (kept under that reference), released (queued again once an operation holds it)",
  ['gateway', 'outcome'],
);

/** Where a release was found: the answer that indexed the reference, the poller's check, or the webhook itself. */
export type ReleaseSource = 'answer' | 'poller' | 'webhook';

/** One parked outcome as stored: the outcome job's data (no card data, no secret: what the queue holds) and when. */
interface ParkedEntry {
  parkedAt: number;
  data: GatewayOutcomeJobData;
}

/**
 * Webhook outcomes of a modification (an Adyen CAPTURE, REFUND, CANCELLATION… whose `merchantReference` names
 * the payment, `referenceIsModification`) that came before any operation held the modification's PSP reference:
 * the modification's `received` answer, which indexes it, was not recorded yet (a fast webhook, or a worker
 * killed after the PSP took the request, whose resend is answered `received` again). Such an outcome becomes
 * history of the operation it named, and is also parked here, under its gateway and PSP reference, so that the
 * operation whose answer later indexes that reference has it queued again to the outcome queue, instead of
 * waiting for a webhook that already came.
 *
 * Redis: one hash per reference, `S parked:<gateway>:<reference>` (`ShardKeys.parkedOutcomes`) in the shard of
 * `<gateway>:<reference>` itself, field = the outcome's event id, value = the job data; it expires
 * `delivery.parked_outcome_ttl_ms` after the last outcome parked in it. Nothing else reads it.
 *
 * Crash safety: the webhook parks before it looks for the reference's holder a second time, and the answer
 * indexes the reference (its transition) before it looks here; whichever comes second sees the other. A release
 * queues the outcome again (job id `wh.<gateway>.<event id>.parked`: a release repeated after a crash adds nothing
 * while that job is kept) before it deletes what it queued; the poller's check of a PENDING operation waiting for
 * its webhook releases what a crash between the answer's transition and its release left here.
 */
export class ParkedOutcomes {
  constructor(
    private readonly deps: {
      redis: RedisClient;
      /** The ledger's key prefix (`redis.key_prefix`). */
      prefix: string;
      /** The outcome queue released outcomes are added to. */
      queue: Queue<GatewayOutcomeJobData>;
      /** How long a parked outcome is kept, ms (`delivery.parked_outcome_ttl_ms`, default 30 days). */
      ttlMs: number;
      logger: Logger;
    },
  ) {}

  /** The parked outcomes of `config`'s namespace, released to `queue` (the webhook outcome queue). */
  static of(config: Config, redis: RedisClient, queue: Queue<GatewayOutcomeJobData>, logger: Logger): ParkedOutcomes {
    return new ParkedOutcomes({ redis, prefix: config.redis.keyPrefix, queue, ttlMs: config.delivery.parkedOutcomeTtlMs, logger });
  }

  /** The key of the outcomes parked under `reference` on `gateway`. */
  private key(gateway: string, reference: string): string {
    const name = `${gateway}:${reference}`;
    return shardKeysOf(this.deps.prefix)[shardOfAnchor(name)].parkedOutcomes(name);
  }

  /**
   * Parks outcome `data` under its `gatewayReference` (set by the caller: a modification's own), with the fault
   * count of its job left out (a released job starts afresh). `namedOperationId`: the operation it named, for the log.
   */
  async park(data: GatewayOutcomeJobData, namedOperationId: string, now = Date.now()): Promise<void> {
    const reference = data.outcome.gatewayReference;
    if (reference === undefined) return;
    const { faults: _faults, ...job } = data;
    const entry: ParkedEntry = { parkedAt: now, data: job };
    const key = this.key(data.gateway, reference);
    const replies = await this.deps.redis.multi().hset(key, data.eventId, JSON.stringify(entry)).pexpire(key, this.deps.ttlMs).exec();
    // A reply's error stays in the MULTI's replies: thrown, so the outcome job is retried rather than left unparked.
    const failed = replies?.find(([err]) => err !== null)?.[0];
    if (failed) throw failed;
    parkedOutcomes.inc({ gateway: data.gateway, outcome: 'parked' });
    this.deps.logger.info(
      "webhook outcome of a modification no operation holds yet: parked under its PSP reference until the modification's answer names its operation",
      {
        event_id: data.eventId,
        gateway: data.gateway,
        gateway_reference: reference,
        gateway_status: data.outcome.gatewayStatus,
        named_operation_id: namedOperationId,
        ttl_ms: this.deps.ttlMs,
      },
    );
  }

  /**
   * Forgets outcome `eventId` parked under `reference`: the webhook found the reference's holder itself right
   * after parking it (the answer indexed it meanwhile), and applies it now. Counted and logged as released.
   */
  async claimed(gateway: string, reference: string, eventId: string, operationId: string): Promise<void> {
    await this.deps.redis.hdel(this.key(gateway, reference), eventId);
    this.noteReleased(gateway, reference, eventId, operationId, 'webhook');
  }

  /**
   * Queues again every outcome parked under `reference` on `gateway` (an operation, `operationId`, now holds it),
   * oldest first, then deletes those it queued; an outcome parked meanwhile stays for the next release.
   * @returns how many were released.
   */
  async release(gateway: string, reference: string, operationId: string, source: ReleaseSource): Promise<number> {
    const key = this.key(gateway, reference);
    const parked = await this.deps.redis.hgetall(key);
    const fields = Object.keys(parked);
    if (fields.length === 0) return 0;
    const entries = fields.map((field) => ({ field, entry: JSON.parse(parked[field]) as ParkedEntry })).sort((a, b) => a.entry.parkedAt - b.entry.parkedAt);
    for (const { entry } of entries) {
      const { data } = entry;
      // Queued before it is deleted: a crash in between leaves it parked, and the next release adds the same job id.
      await this.deps.queue.add('outcome', data, { jobId: bullJobId(`wh.${data.gateway}.${data.eventId}.parked`) });
      this.noteReleased(gateway, reference, data.eventId, operationId, source);
    }
    await this.deps.redis.hdel(key, ...fields);
    return entries.length;
  }

  private noteReleased(gateway: string, reference: string, eventId: string, operationId: string, source: ReleaseSource): void {
    parkedOutcomes.inc({ gateway, outcome: 'released' });
    this.deps.logger.info('parked webhook outcome released: the operation holding its PSP reference now exists and takes it', {
      event_id: eventId,
      gateway,
      gateway_reference: reference,
      operation_id: operationId,
      source,
    });
  }
}
