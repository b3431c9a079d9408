import { hashSlot as calculateSlot } from '../../support/hash-slot';
import { bullPrefix } from '../../../src/queueing/bull-prefix';
import { DELIVERY_QUEUE } from '../../../src/delivery/delivery-queue';
import { OMS_EVENTS_QUEUE } from '../../../src/events/oms-events-queue';
import { GATEWAY_OUTCOMES_QUEUE } from '../../../src/webhooks/gateway-outcomes-queue';

// BullMQ names a queue's keys `<prefix>:<queue>:<suffix>` (wait, active, delayed, meta, events, <job id>...).
const SUFFIXES = ['wait', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'meta', 'events', 'id', 'stalled-check', 'marker', 'op-1234.56'];

describe('bullPrefix', () => {
  it.each([DELIVERY_QUEUE, OMS_EVENTS_QUEUE, GATEWAY_OUTCOMES_QUEUE])('puts every key of queue %s in one cluster slot', (queue) => {
    const prefix = bullPrefix('pb:', queue);
    const slots = new Set(SUFFIXES.map((s) => calculateSlot(`${prefix}:${queue}:${s}`)));
    expect(slots.size).toBe(1);
  });

  it('keeps the bridge key prefix in front, so a namespace is found by <prefix>*', () => {
    expect(bullPrefix('pb:', DELIVERY_QUEUE)).toBe('pb:{bull:gateway-delivery}');
  });

  it('gives each queue its own hash tag, so the queues spread over the primaries', () => {
    const tags = new Set([DELIVERY_QUEUE, OMS_EVENTS_QUEUE, GATEWAY_OUTCOMES_QUEUE].map((q) => calculateSlot(`${bullPrefix('pb:', q)}:${q}:wait`)));
    expect(tags.size).toBe(3);
  });
});

describe('hashSlot (test helper)', () => {
  it('gives the slots CLUSTER KEYSLOT answers', () => {
    expect(calculateSlot('foo')).toBe(12182);
    expect(calculateSlot('{user1000}.following')).toBe(3443);
    // An empty {} is no tag: the whole key is hashed.
    expect(calculateSlot('foo{}{bar}')).toBe(8363);
    expect(calculateSlot('pb:{bull:gateway-delivery}:gateway-delivery:wait')).toBe(15837);
  });
});
