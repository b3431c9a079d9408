import { RedisClient } from '../../../src/redis/redis-connection';
import { Config } from '../../../src/config/config';
import { NotificationSender, sendLeaseMs, sendLeasedEvent } from '../../../src/events/event-send';
import { EventStore } from '../../../src/events/event-store';
import { PaymentEvent } from '../../../src/events/payment-event';
import { createRedis } from '../../../src/redis/redis-connection';
import { testConfig } from '../../support/test-config';

let config: Config;
let redis: RedisClient;
let events: EventStore;

beforeAll(() => {
  config = testConfig({ 'service_bus.timeout_ms': 2000 });
  redis = createRedis(config.redis, 'commands');
  events = new EventStore(redis, config.redis.keyPrefix);
});

afterAll(() => redis.disconnect());

function event(n: number): PaymentEvent {
  return {
    eventId: `send-test-${n}.SUCCEEDED`,
    paymentKey: `pay-send-test-${n}`,
    method: 'magento.payments.payments_management.captured',
    params: { payment: { operation_reference: `send-test-${n}` } },
  };
}

describe('sendLeasedEvent (the inline and the queued sender alike)', () => {
  it('holds the send lease for the bus timeout plus 5 s', () => {
    expect(sendLeaseMs(config)).toBe(7000);
  });

  it('posts the event with its event_id and sequence, then marks it sent and takes it out of the unsent index', async () => {
    const e = event(1);
    const { sequence, claimed } = await events.recordAndCheck(e, Date.now(), sendLeaseMs(config));
    expect(claimed).toBe(true);
    const sent: Array<[string, Record<string, unknown>]> = [];
    const sender: NotificationSender = { notify: async (method, params) => void sent.push([method, params]) };
    await sendLeasedEvent(events, sender, e, sequence);
    expect(sent).toEqual([[e.method, { payment: { operation_reference: 'send-test-1', event_id: e.eventId, sequence } }]]);
    expect(await events.sentWatermark(e.paymentKey)).toBe(sequence);
    expect(await events.unsentBefore(Date.now() + 1000)).not.toContain(e.eventId);
  });

  it('hands a sender that takes encoded notifications the JSON-RPC text, with event_id and sequence, then marks it sent', async () => {
    const e = { ...event(3), params: { payment: { operation_reference: 'send-test-3', event_id: 'send-test-3.SUCCEEDED' } } };
    const { sequence } = await events.recordAndCheck(e, Date.now(), sendLeaseMs(config));
    const sent: Array<[string, string]> = [];
    const sender: NotificationSender = {
      notify: async () => {
        throw new Error('notify must not be used when notifyEncoded is there');
      },
      notifyEncoded: async (body, eventId) => void sent.push([body, eventId]),
    };
    await sendLeasedEvent(events, sender, e, sequence);
    expect(sent).toHaveLength(1);
    expect(sent[0][1]).toBe(e.eventId);
    expect(JSON.parse(sent[0][0])).toEqual({
      jsonrpc: '2.0',
      method: e.method,
      params: { payment: { operation_reference: 'send-test-3', event_id: e.eventId, sequence } },
    });
    expect(await events.sentWatermark(e.paymentKey)).toBe(sequence);
  });

  it('gives the lease back and rethrows when the bus refuses, leaving the event unsent for the queue', async () => {
    const e = event(2);
    const { sequence } = await events.recordAndCheck(e, Date.now(), sendLeaseMs(config));
    const sender: NotificationSender = {
      notify: async () => {
        throw new Error('bus down');
      },
    };
    await expect(sendLeasedEvent(events, sender, e, sequence)).rejects.toThrow('bus down');
    expect(await events.sentWatermark(e.paymentKey)).toBe(0);
    expect(await events.unsentBefore(Date.now() + 1000)).toContain(e.eventId);
    // The lease is free again: the next sender takes it at once instead of waiting for it to expire.
    expect(await events.claim(e.eventId, sendLeaseMs(config))).toBe(true);
  });
});
