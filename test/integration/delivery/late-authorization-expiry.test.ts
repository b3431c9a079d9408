import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { DeliveryJobData, createDeliveryQueue } from '../../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { cybersourceTransformer } from '../../../src/gateways/cybersource';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { LifecycleSweep } from '../../../src/poller/lifecycle-sweep';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { channelCommand } from '../../support/fixtures';
import { requiredCredentials } from '../../support/gateway-credentials';
import { testConfig } from '../../support/test-config';

/**
 * An authorization the PSP made at T whose success the bridge records three days later (a Decision Manager
 * review accepted, an AUTHORISATION notification delivered late): its expiry and the expiring warning count
 * from T, not from the record; the orphan age from when the OMS was told. Real Redis, the recorder and the
 * lifecycle sweep as the worker and the poller run them; its own namespace.
 */

const DAY = 24 * 3600 * 1000;
const HOUR = 3600 * 1000;

let redis: RedisClient | undefined;
const closers: Array<() => Promise<void>> = [];
const configs: Config[] = [];

afterAll(async () => {
  for (const close of closers) await close().catch(() => undefined);
  redis?.disconnect();
  for (const c of configs) await purgeNamespace(c).catch(() => undefined);
});

function setup(): { config: Config; ledger: Ledger; events: EventStore; recorder: OutcomeRecorder; sweep(offsetMs: number): LifecycleSweep } {
  const config = testConfig({
    'authorizations.orphan_reversal': 'dry_run',
    'authorizations.orphan_void_after_ms': 4 * DAY,
    gateways: {
      cybersource: { type: 'cybersource', base_url: 'http://127.0.0.1:1', ...requiredCredentials('cybersource') },
      adyen: { type: 'adyen', base_url: 'http://127.0.0.1:1', ...requiredCredentials('adyen') },
    },
  });
  configs.push(config);
  redis ??= createRedis(config.redis, 'commands');
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  const deliveryQueue: Queue<DeliveryJobData> = createDeliveryQueue(redis, config.redis.keyPrefix);
  closers.push(
    () => eventsQueue.close(),
    () => deliveryQueue.close(),
  );
  const ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  const logger = silentLogger();
  const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
  const r = redis;
  const sweep = (offsetMs: number) => new LifecycleSweep({ config, redis: r, ledger, recorder, deliveryQueue, logger, now: () => Date.now() + offsetMs });
  return { config, ledger, events, recorder, sweep };
}

describe('an authorization recorded days after the PSP made it', () => {
  it('a Cybersource review accepted 3 days after the authorization at T: expires at T + 5 days and is warned on that clock, never voided as an orphan before it lapses', async () => {
    const s = setup();
    const T = Date.now() - 3 * DAY;
    const command = channelCommand('authorize', {}, { gateway: 'cybersource', gateway_key: 'tok_card' });
    const id = command.payment.operation_reference!;
    // Received two hours before T (held by a risk rule), sent at T: Cybersource answers AUTHORIZED_PENDING_REVIEW.
    await s.ledger.create(id, command, T - 2 * HOUR);
    await s.ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true }, T);
    await s.ledger.transition(
      id,
      'PENDING',
      { event: 'outcome', gateway_status: 'AUTHORIZED_PENDING_REVIEW' },
      { gatewayReference: '7000000000000000000001' },
      T,
    );

    // Three days later the reviewer accepts: Decision Manager's notification, as the webhook route hands it on.
    const accept = Buffer.from(
      JSON.stringify({
        notificationId: `accept-${id}`,
        retryNumber: 0,
        eventType: 'risk.casemanagement.decision.accept',
        eventDate: new Date().toISOString(),
        payload: [
          { data: { id: '7000000000000000000001', type: 'payments', clientReferenceInformation: { code: id } }, organizationId: 'placeholder_merchant' },
        ],
      }),
    );
    const [event] = cybersourceTransformer.parseWebhook(accept, s.config.gateways.cybersource);
    const before = await metricValue('pb_authorization_expiry_starts_total', { gateway: 'cybersource', from: 'first_attempt' });
    const after = await s.recorder.apply((await s.ledger.get(id))!, event.outcome, 'webhook', { provider_event_id: event.eventId });

    expect(after.state).toBe('SUCCEEDED');
    // Cybersource's documented window (5 days) from the first attempt, not from the accept.
    expect(after.expiresAt).toBe(T + 5 * DAY);
    // The orphan age counts from when the OMS was told (now, T + 3 days): past the expiry, so never voided.
    expect(after.orphanAt).toBeGreaterThanOrEqual(T + 7 * DAY);
    // The OMS plans its capture from the success event's expires_at.
    expect((await s.events.load(`${id}.SUCCEEDED`))?.params.payment).toMatchObject({ expires_at: new Date(T + 5 * DAY).toISOString() });
    // The history says which time it was counted from.
    const outcome = (await s.ledger.interactions(id)).find((i) => i.event === 'outcome' && i.source === 'webhook');
    expect(outcome).toMatchObject({ expiry_from: 'first_attempt', authorized_at: new Date(T).toISOString() });
    expect(await metricValue('pb_authorization_expiry_starts_total', { gateway: 'cybersource', from: 'first_attempt' })).toBe(before + 1);

    // Now (T + 3 days): nothing due yet. At T + 4 days and a bit: the warning (a day before T + 5 days); the OMS
    // heard of it a day ago, so no orphan void.
    const now = await s.sweep(0).runOnce();
    expect(now.expiry.warned).toBe(0);
    expect(now.orphans.wouldVoid).toBe(0);
    const later = await s.sweep(DAY + HOUR).runOnce();
    expect(later.expiry.warned).toBe(1);
    expect(later.orphans.wouldVoid).toBe(0);
    expect((await s.events.load(`${id}.expiring`))?.params.payment).toMatchObject({ expires_at: new Date(T + 5 * DAY).toISOString() });
  });

  it('an Adyen AUTHORISATION delivered 3 days late expires counted from its eventDate, the PSP’s time', async () => {
    const s = setup();
    const T = Date.now() - 3 * DAY;
    const command = channelCommand('authorize', {}, { gateway: 'adyen', gateway_key: 'tok_card', amount: 1999, currency: 'EUR' });
    const id = command.payment.operation_reference!;
    // Sent a minute before Adyen authorised it; the answer was lost, the operation waits for its notification.
    await s.ledger.create(id, command, T - 60_000, { event: 'attempt' });
    await s.ledger.transition(id, 'UNKNOWN', { event: 'attempt_failed' }, {}, T - 30_000);
    const notification = Buffer.from(
      JSON.stringify({
        live: 'false',
        notificationItems: [
          {
            NotificationRequestItem: {
              eventCode: 'AUTHORISATION',
              success: 'true',
              pspReference: 'QFQTPCQ8HXSKGK82',
              merchantReference: id,
              merchantAccountCode: 'PlaceholderMerchant',
              amount: { value: 1999, currency: 'EUR' },
              eventDate: new Date(T).toISOString().replace('Z', '+00:00'),
              reason: 'null',
            },
          },
        ],
      }),
    );
    const [event] = adyenTransformer.parseWebhook(notification, s.config.gateways.adyen);
    const after = await s.recorder.apply((await s.ledger.get(id))!, event.outcome, 'webhook', { provider_event_id: event.eventId });

    expect(after.state).toBe('SUCCEEDED');
    expect(after.expiresAt).toBe(T + 28 * DAY);
    // Orphaned 4 days after the OMS was told (now), not 1 day after.
    expect(after.orphanAt).toBeGreaterThanOrEqual(T + 7 * DAY);
    const outcome = (await s.ledger.interactions(id)).find((i) => i.event === 'outcome' && i.source === 'webhook');
    expect(outcome).toMatchObject({ expiry_from: 'psp', authorized_at: new Date(T).toISOString() });
    expect((await s.sweep(DAY + HOUR).runOnce()).orphans.wouldVoid).toBe(0);
    expect((await s.sweep(4 * DAY + HOUR).runOnce()).orphans.wouldVoid).toBe(1);
  });
});
