import { Queue } from 'bullmq';
import { PassThrough } from 'node:stream';
import { Config } from '../../../src/config/config';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { createLogger } from '../../../src/logging/logger';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * The PSP reference index (`Ledger.findByReference`) on a real Redis, as the outcome recorder writes it. A
 * Stripe capture or cancel the PSP refuses answers with the PaymentIntent it left alone: that refusal must
 * not take the PaymentIntent from the operation holding it, or a later fact found by it (a dispute) would
 * land on the refusal.
 */
let config: Config;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let ledger: Ledger;
let recorder: OutcomeRecorder;

beforeAll(() => {
  config = testConfig();
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  const events = new EventStore(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: createLogger({ stream: new PassThrough(), level: 'error' }) });
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** `command` recorded and sent, as delivery leaves it before the PSP answers. */
async function sent(command: PaymentCommand): Promise<OperationRecord> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt' }, { countAttempt: true });
  return (await ledger.get(id))!;
}

describe('the PSP reference index and refused commands', () => {
  const order = 'o-refused-reference';
  const authorize = channelCommand('authorize', {}, { operation_reference: 'rr-auth-1', order_id: order, gateway_key: 'pm_card_visa', amount: 1000 });
  const dependent = (command: 'capture' | 'cancel' | 'refund', id: string): PaymentCommand =>
    channelCommand(command, {}, { operation_reference: id, order_id: order, gateway_key: 'rr-auth-1', amount: 1000 });

  it('keeps the PaymentIntent with the authorization when a cancel naming it is refused, and indexes a refused refund under its own id', async () => {
    await recorder.apply(await sent(authorize), { status: 'SUCCESS', gatewayStatus: 'requires_capture', gatewayReference: 'pi_rr_1' }, 'response');
    expect(await ledger.findByReference('simulator', 'pi_rr_1')).toBe('rr-auth-1');

    const cancel = await recorder.apply(
      await sent(dependent('cancel', 'rr-cancel-1')),
      { status: 'FAIL', gatewayStatus: 'succeeded', gatewayReference: 'pi_rr_1', reason: 'payment_intent_unexpected_state' },
      'response',
    );
    expect(cancel.state).toBe('FAILED');
    expect(await ledger.findByReference('simulator', 'pi_rr_1')).toBe('rr-auth-1');

    // A refused refund's own Refund id is no one else's: it is indexed to the refund.
    await recorder.apply(await sent(dependent('refund', 'rr-refund-1')), { status: 'FAIL', gatewayStatus: 'failed', gatewayReference: 're_rr_1' }, 'response');
    expect(await ledger.findByReference('simulator', 're_rr_1')).toBe('rr-refund-1');
  });

  it('lets a capture that succeeded on the PaymentIntent take it over (the money it moved is where a dispute belongs)', async () => {
    const capture = await recorder.apply(
      await sent(dependent('capture', 'rr-capture-1')),
      { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: 'pi_rr_1', amount: 1000, currency: 'EUR' },
      'response',
    );
    expect(capture.state).toBe('SUCCEEDED');
    expect(await ledger.findByReference('simulator', 'pi_rr_1')).toBe('rr-capture-1');
  });
});
