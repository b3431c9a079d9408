import { IncomingMessage, ServerResponse } from 'node:http';
import { Queue } from 'bullmq';
import { Config, GatewayConfig } from '../config/config';
import { bullJobId } from '../queueing/job-id';
import { GatewayTransformer, SkippedWebhookItem } from '../gateways/gateway-adapter';
import { Logger } from '../logging/logger';
import { LogThrottle } from '../logging/log-throttle';
import { counter } from '../metrics/metrics-registry';
import { BodyTooLargeError } from '../errors/body-too-large-error';
import { BodyReader } from '../web/read-body';
import { SignatureKeyUse } from '../web/signature-keys';
import { WebRoute, sendError, sendJson } from '../web/web-server';
import { replicaShortfall } from '../ledger/replica-acks';
import { matchWebhookSecret } from './webhook-key-match';
import { GatewayOutcomeJobData } from './gateway-outcomes-queue';
import { noteTrimmedAction, withBoundedAction } from '../gateways/action-trimming';
import { SkippedWebhookOutcome, WebhookOperationLookup, checkWebhookItem, isUnmarkedItemOurs } from './webhook-item-check';
import { WebhookDigestKeys, webhookDigestKeys, webhookValueDigest } from './webhook-event-key';
import { HashDigest } from '../logging/hash-digest';

/** Webhooks refused before they were read, by configured gateway and reason; the log line is rate-limited. */
const webhooksRefused = counter(
  'pb_webhooks_refused_total',
  'Webhook requests refused, by gateway endpoint and reason (invalid_signature: 401, missing, wrong or expired; unknown_key_id: 401, signed with a key the gateway does not hold, by its key id; unparseable_body: 422, signed but no notification; body_too_large: 413, above http.body_limit_bytes)',
  ['gateway', 'reason'],
);

/** Items of verified webhooks acknowledged but not queued, by configured gateway and reason. */
const itemsSkipped = counter(
  'pb_webhook_items_skipped_total',
  'Items of verified webhooks acknowledged without being queued, by gateway endpoint and reason (unknown_event_type, unreadable: a status, flag, amount, currency or other field it cannot read, other_account, other_environment: from the PSP environment, test or live, the gateway is not configured for (Adyen: base_url, Stripe: api_key), not_ours: about a PSP object no operation of the bridge made or acted on, another integration sharing the PSP account (Stripe: a PaymentIntent or SetupIntent without our metadata, a Dispute, none of them known to the ledger), not_our_operation, card_number)',
  ['gateway', 'reason'],
);

/** Verified items not queued: an earlier release's job holds the same notification under its former id. */
const heldUnderFormerId = counter(
  'pb_webhook_items_held_under_former_id_total',
  'Items of verified webhooks not queued because a job of an earlier release holds the same notification under its former event id (an Adyen RECURRING_CONTRACT whose id carried an unkeyed digest of its token), by gateway endpoint',
  ['gateway'],
);

/** Stored method ids that read as card numbers, queued as the PSP's because their item names an operation of ours. */
const cardLikeTokens = counter(
  'pb_webhook_card_like_tokens_total',
  'Items of verified webhooks queued with a stored method id that reads as a card number (Adyen storedPaymentMethodId / recurringDetailReference: 16 characters, often all digits, about one in ten Luhn-valid), taken as the PSP\'s token because the item names an operation of ours, by gateway endpoint (one naming nothing of ours is skipped: pb_webhook_items_skipped_total{reason="card_number"})',
  ['gateway'],
);

/** Reachability pings (GET or HEAD) of a gateway's webhook endpoint, answered 200. */
const webhookPings = counter('pb_webhook_pings_total', "GET or HEAD requests to a gateway's webhook endpoint (a PSP's reachability ping), answered 200", [
  'gateway',
]);

/**
 * A key id as a refusal's log line names it: as sent when it reads as a key id (Cybersource's are UUIDs), else
 * its keyed digest (anyone can post a header, and a log line carries no unbounded text of theirs, which may
 * hold a card number).
 */
function loggableKeyId(keys: WebhookDigestKeys, keyId: string): { key_id: string } | { key_id_hmac: HashDigest } {
  // The digest itself, not its hex: the redactor passes it whole (hex text can hold a Luhn-valid digit run it would mask).
  return /^[A-Za-z0-9._-]{0,100}$/.test(keyId) ? { key_id: keyId } : { key_id_hmac: webhookValueDigest(keys, keyId) };
}

export interface WebhookStats {
  accepted: number;
  duplicates: number;
  refused: number;
  /** Verified items acknowledged and left out (unknown, unreadable, another account's, not ours, holding a card number). */
  skipped: number;
}

/**
 * `POST /webhooks/:gateway`: verify the signature on the raw body (401 if bad), normalise, enqueue each
 * outcome (deduped by the provider's event id), answer 2xx at once (with `redis.replica_acks`, once replicas
 * acknowledged the queued jobs; 503 otherwise). Nothing else happens here: the
 * outcome worker applies the outcome, forward only. A verified item the gateway does not know or cannot
 * read is acknowledged with the rest and left out (counted, logged): PSPs retry what is not acknowledged,
 * and Adyen retries a batch whole, so a refusal would hold back the good items beside it and bring the
 * unknown one back for days. So is an item naming an operation id of no shape of ours, or holding a card
 * number that is no reference of ours (`checkWebhookItem`: nothing of it reaches Redis), and an item about a PSP
 * object that carries no mark of ours and that the ledger does not know (`WebhookEvent.unmarked`: another integration
 * sharing the PSP account; `not_ours`, a rate-limited info line). Only a signed body that is no notification at all is
 * answered 422.
 */
export class WebhookRoute implements WebRoute {
  readonly stats: WebhookStats = { accepted: 0, duplicates: 0, refused: 0, skipped: 0 };
  /** Anyone can post a bad signature: one warning per gateway per minute, carrying how many were suppressed. */
  private readonly refusals: LogThrottle;
  /** Another integration sharing the PSP account may bring thousands of items: one info line per gateway per minute. */
  private readonly notOurs: LogThrottle;
  /** Which webhook secret (current, previous) signed each accepted webhook. */
  private readonly keyUse: SignatureKeyUse;
  /** Bodies up to `http.body_limit_bytes`; a larger one is discarded within the `http.discard_*` bounds. */
  private readonly bodies: BodyReader;
  /** The keys of the digests a log line or an event key holds instead of a value (from `service_bus.secret`). */
  private readonly digestKeys: WebhookDigestKeys;

  constructor(
    private readonly deps: {
      config: Config;
      transformers: ReadonlyMap<string, { gateway: GatewayConfig; transformer: GatewayTransformer }>;
      queue: Queue<GatewayOutcomeJobData>;
      /**
       * Counts repeats (the job id already dedupes; this only tells them apart for metrics). Asked only once the
       * jobs are confirmed, so a webhook answered 503 counts as new when the PSP sends it again.
       */
      seen: (key: string) => Promise<boolean>;
      /**
       * With `redis.replica_acks`: whether these queued outcome jobs (by job id, one queue, one slot) are on their
       * primary and how many replicas acknowledged them (`replicaAcknowledgedKeys`: a probe in the queue's slot, on the queue connection's confirmation connection).
       */
      replicated: (jobIds: readonly string[], replicas: number, timeoutMs: number) => Promise<{ present: boolean; acks: number }>;
      /** The ledger, asked only about an item with a card-number-like identifier (see `checkWebhookItem`). */
      operations: WebhookOperationLookup;
      logger: Logger;
    },
  ) {
    this.refusals = new LogThrottle(deps.logger);
    this.notOurs = new LogThrottle(deps.logger);
    this.keyUse = new SignatureKeyUse(deps.logger);
    this.bodies = new BodyReader(deps.config.http, deps.logger);
    this.digestKeys = webhookDigestKeys(deps.config.serviceBus.secret);
  }

  matches(path: string): boolean {
    return path.startsWith('/webhooks/');
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let name: string;
    try {
      name = decodeURIComponent(path.slice('/webhooks/'.length));
    } catch {
      // A malformed percent escape names no gateway: answer as for an unknown one, no stack trace.
      sendJson(res, 404, { error: 'unknown gateway' });
      return;
    }
    const entry = this.deps.transformers.get(name);
    if (!entry) {
      sendJson(res, 404, { error: 'unknown gateway' });
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      // A PSP's reachability ping of the endpoint (Cybersource's health check URL, or its activation ping of
      // the webhook URL when none is set): a subscription that gets no answer is suspended and its
      // notifications withheld. It says the endpoint is up, and nothing else.
      webhookPings.inc({ gateway: name });
      sendJson(res, 200, { status: 'ok' }, { Allow: 'GET, HEAD, POST' });
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'POST only' }, { Allow: 'GET, HEAD, POST' });
      return;
    }
    let raw: Buffer;
    try {
      raw = await this.bodies.read(req);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        // A PSP's notification (an Adyen batch) can outgrow the limit: said where an operator looks, as the other refusals.
        this.stats.refused += 1;
        webhooksRefused.inc({ gateway: name, reason: 'body_too_large' });
        this.refusals.warn(`${name}:body_too_large`, 'webhook refused: body above http.body_limit_bytes (rate-limited: one line per gateway per minute)', {
          gateway: name,
          limit_bytes: err.limit,
        });
        sendJson(res, 413, { error: err.message }, { connection: 'close' });
        return;
      }
      throw err;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
    const { gateway, transformer } = entry;
    // A signature naming a key we do not hold (a key created at the PSP since, not configured yet) is checked
    // with no other key: refused, the id it names logged, so an operator sees which key to configure.
    const unheld = transformer.unheldWebhookKey?.(headers, gateway);
    if (unheld !== undefined) {
      this.stats.refused += 1;
      webhooksRefused.inc({ gateway: name, reason: 'unknown_key_id' });
      this.refusals.warn(
        `${name}:unknown_key_id`,
        'webhook refused: its signature names a key id the gateway does not hold (rate-limited: one line per gateway per minute)',
        { gateway: name, ...loggableKeyId(this.digestKeys, unheld), settings: `gateways.${name}.webhook_key_id, gateways.${name}.webhook_key_id_previous` },
      );
      sendJson(res, 401, { error: 'unknown signing key' });
      return;
    }
    const key = matchWebhookSecret(transformer, raw, headers, gateway, new Date());
    if (key === undefined) {
      this.stats.refused += 1;
      webhooksRefused.inc({ gateway: name, reason: 'invalid_signature' });
      this.refusals.warn(name, 'webhook refused: signature missing, wrong or expired (rate-limited: one line per gateway per minute)', { gateway: name });
      sendJson(res, 401, { error: 'invalid signature' });
      return;
    }
    this.keyUse.record('webhook', name, key, `gateways.${name}.webhook_secret_previous`);
    let events;
    try {
      events = transformer.parseWebhook(raw, gateway, (item) => this.skip(name, item));
    } catch (err) {
      // Signed by the PSP but no notification at all: nothing in it can be acknowledged item by item.
      // Refused, not acknowledged: the PSP sends it again, so it is no skipped item.
      webhooksRefused.inc({ gateway: name, reason: 'unparseable_body' });
      this.deps.logger.error('verified webhook could not be parsed', { gateway: name, error: (err as Error).message });
      sendJson(res, 422, { error: 'unprocessable notification' });
      return;
    }
    const queued: string[] = [];
    /** Items an earlier release's job holds under their former id: confirmed with the queued ones, then counted. */
    const heldFormer: Array<{ jobId: string; eventId: string }> = [];
    for (const item of events) {
      // About a PSP object that carries no mark of ours (another integration sharing the account): queued only when
      // the ledger knows it, else acknowledged here rather than retried as an operation not matched until the failed set.
      if (item.unmarked !== undefined && !(await isUnmarkedItemOurs(item.unmarked, name, this.deps.operations))) {
        this.skip(name, item.unmarked.skipped);
        continue;
      }
      // A customer action is bounded before anything is queued (and before the item is scanned for card numbers).
      const { outcome, trimmed } = withBoundedAction(item.outcome);
      const event = trimmed ? { ...item, outcome } : item;
      const verdict = await checkWebhookItem(event, name, gateway, this.deps.operations, this.digestKeys);
      if (verdict.kind === 'skip') {
        this.refuse(name, verdict, event.outcome.gatewayStatus);
        continue;
      }
      if (verdict.cardLikeToken) this.noteCardLikeToken(name, verdict.data);
      if (trimmed) {
        const { operationId, gatewayReference, eventId } = verdict.data;
        noteTrimmedAction(this.deps.logger, trimmed, { gateway: name, source: 'webhook', operationId, gatewayReference, eventId });
      }
      // Named otherwise by an earlier release (a token it digested unkeyed): a job it queued is this notification's,
      // confirmed as a job held under the id itself is (below) before the PSP is told it may forget it.
      const former = verdict.formerJobEventId !== undefined ? await this.heldUnder(name, verdict.formerJobEventId) : undefined;
      if (former !== undefined) {
        heldFormer.push({ jobId: former, eventId: verdict.data.eventId });
        continue;
      }
      const jobId = bullJobId(`wh.${name}.${verdict.data.eventId}`);
      // BullMQ ignores a job id it holds: that is the dedupe. A job a demoted primary dropped is added again.
      await this.deps.queue.add('outcome', verdict.data, { jobId });
      queued.push(jobId);
    }
    if (!(await this.confirmed(name, [...queued, ...heldFormer.map((h) => h.jobId)]))) {
      sendError(res, 503, 'outcome not yet replicated; send the notification again', { 'retry-after': '1' });
      return;
    }
    for (const jobId of queued) {
      if (await this.deps.seen(jobId)) this.stats.duplicates += 1;
      else this.stats.accepted += 1;
    }
    for (const { eventId } of heldFormer) {
      this.stats.duplicates += 1;
      heldUnderFormerId.inc({ gateway: name });
      this.deps.logger.info('webhook item already queued by an earlier release under its former event id: not queued again', {
        gateway: name,
        event_id: eventId,
      });
    }
    const ack = transformer.webhookAck();
    res.writeHead(ack.status, { 'content-type': ack.contentType, 'content-length': Buffer.byteLength(ack.body) });
    res.end(ack.body);
  }

  /**
   * The job id under which the outcomes queue holds a job queued under `formerEventId`, the id an earlier release
   * queued this very notification under (`WebhookEvent.eventIdSecret`), or undefined. Such an item is a repeat, not
   * queued again under its new id; the caller confirms that job as it does the ones it queued (`confirmed`), then
   * counts it and logs an info line naming the new id (the former one holds the unkeyed digest). A job is held as
   * long as BullMQ keeps it, as the dedupe by job id is.
   */
  private async heldUnder(gateway: string, formerEventId: string): Promise<string | undefined> {
    const jobId = bullJobId(`wh.${gateway}.${formerEventId}`);
    return (await this.deps.queue.getJob(jobId)) ? jobId : undefined;
  }

  /**
   * With `redis.replica_acks`: whether the queued outcome jobs are on their primary and acknowledged by that many
   * replicas, before the PSP is told it may forget the notification. A primary frozen while its replica took over
   * acknowledges the jobs and drops them when it rejoins as a replica, and a PSP answered 2xx never sends them
   * again (the money-truth drill lost 3-D Secure results so). Otherwise counted, logged, and the caller answers
   * 503: the PSP retries, and its retry adds a dropped job again (one still held is ignored by its job id).
   */
  private async confirmed(gateway: string, jobIds: readonly string[]): Promise<boolean> {
    if (jobIds.length === 0) return true;
    const short = await replicaShortfall(this.deps.config.redis, 'webhook', (replicas, timeoutMs) => this.deps.replicated(jobIds, replicas, timeoutMs));
    if (!short) return true;
    this.deps.logger.warn('webhook answered 503: its queued outcomes were not acknowledged by redis.replica_acks replicas; the PSP sends it again', {
      gateway,
      jobs: jobIds.length,
      present: short.present,
      acks: short.acks,
      replicas: short.replicas,
      timeout_ms: short.timeoutMs,
    });
    return false;
  }

  /**
   * A verified item the gateway read but the route leaves out (see `checkWebhookItem`): counted by reason, and
   * a warn line naming the field and the keyed digest of its value (`value_hmac`: `payment-bridge ops webhooks
   * digest` gives it for a value in hand), never the value (a card number, or an unbounded string).
   */
  private refuse(name: string, verdict: SkippedWebhookOutcome, pspStatus: string): void {
    this.stats.skipped += 1;
    itemsSkipped.inc({ gateway: name, reason: verdict.reason });
    this.deps.logger.warn(
      verdict.reason === 'card_number'
        ? 'webhook item acknowledged and skipped: it holds a card number that is no reference of ours'
        : verdict.reason === 'unreadable'
          ? 'webhook item acknowledged and skipped: its currency is no ISO 4217 code'
          : 'webhook item acknowledged and skipped: its operation id is of no shape the bridge makes',
      { gateway: name, reason: verdict.reason, field: verdict.field, value_hmac: verdict.digest, event_id: verdict.eventKey, psp_status: pspStatus },
    );
  }

  /**
   * A verified item queued with a stored method id that reads as a card number, taken as the PSP's (its item names an
   * operation of ours, see `checkWebhookItem`): counted, and an info line naming the item, never the token.
   */
  private noteCardLikeToken(name: string, data: GatewayOutcomeJobData): void {
    cardLikeTokens.inc({ gateway: name });
    this.deps.logger.info("webhook item's stored token reads as a card number: queued as the PSP's token, the item names an operation of ours", {
      gateway: name,
      event_id: data.eventId,
      operation_id: data.operationId,
      gateway_reference: data.gatewayReference,
      field: data.storedToken !== undefined ? 'storedToken' : 'outcome.storedToken',
      psp_status: data.outcome.gatewayStatus,
    });
  }

  /** A verified item left out: counted by reason, and a line naming what to look up at the PSP. */
  private skip(name: string, item: SkippedWebhookItem): void {
    this.stats.skipped += 1;
    itemsSkipped.inc({ gateway: name, reason: item.reason });
    const fields = {
      gateway: name,
      reason: item.reason,
      event_id: item.eventId,
      event_type: item.eventType,
      api_version: item.apiVersion,
      psp_status: item.status,
      psp_reference: item.reference,
      account: item.account,
      // A field refused (a currency that is no ISO 4217 code): where it is and why, never its value.
      ...(item.field !== undefined ? { field: item.field, problem: item.problem } : {}),
    };
    // Another integration's objects on the same PSP account (Checkout, Billing, the Dashboard): expected, and as many
    // as its payments, so an info line at most once a minute per gateway, with how many were left out.
    if (item.reason === 'not_ours')
      this.notOurs.log(
        'info',
        name,
        'webhook item about a PSP object no operation of the bridge made or acted on (another integration of the PSP account) acknowledged and skipped (rate-limited: one line per gateway per minute)',
        fields,
      );
    // A company-level webhook brings every sibling account's items: expected, so not a warning.
    else if (item.reason === 'other_account') this.deps.logger.info('webhook item for another PSP account acknowledged and skipped', fields);
    // A webhook of the other environment pointed at this endpoint: a misconfiguration to fix at the PSP.
    else if (item.reason === 'other_environment')
      this.deps.logger.warn("webhook item from the other PSP environment (test or live) than the gateway's acknowledged and skipped", fields);
    else this.deps.logger.warn('webhook item acknowledged and skipped: the bridge does not know or cannot read it', fields);
  }
}
