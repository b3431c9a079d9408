import { PaymentCommand } from '../../../src/contracts/payment-command';
import { EventStore } from '../../../src/events/event-store';
import { Ledger } from '../../../src/ledger/ledger';
import { ALLOWED_TRANSITIONS, OPERATION_STATES, OperationState } from '../../../src/ledger/operation-state';
import { ALL_SHARDS } from '../../../src/redis/key-layout';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { channelCommand } from '../../support/fixtures';
import { testNamespace } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * The transition script's own copy of the move table (a text search in Lua, src/ledger/ledger-scripts.ts)
 * against ALLOWED_TRANSITIONS, every pair of states, on a real Redis: an allowed move applies and lands in
 * its state's index, any other changes nothing. And the payment's sent watermark (EventStore.markSent)
 * only ever rises.
 */
describe('ledger transitions on a real Redis follow ALLOWED_TRANSITIONS exactly', () => {
  const prefix = `${testNamespace()}:`;
  let redis: RedisClient;
  let ledger: Ledger;
  let events: EventStore;
  let seq = 0;

  const command = (ref: string): PaymentCommand =>
    channelCommand('authorize', {}, { gateway_key: 'pm_card_visa', amount: 1000, order_id: `o-${ref}`, operation_reference: ref });

  /** A new operation in `state`: created, then moved along allowed moves (RECEIVED → SENT → state). */
  async function operationIn(state: OperationState): Promise<string> {
    const id = `mv-${++seq}`;
    await ledger.create(id, command(id), 1_000);
    if (state === 'RECEIVED') return id;
    expect((await ledger.transition(id, 'SENT', { event: 'attempt' }, {}, 2_000)).applied).toBe(true);
    if (state !== 'SENT') expect((await ledger.transition(id, state, { event: 'outcome' }, {}, 3_000)).applied).toBe(true);
    return id;
  }

  beforeAll(() => {
    redis = testRedis();
    ledger = new Ledger(redis, prefix);
    events = new EventStore(redis, prefix);
  });

  afterAll(async () => {
    await unlinkMatching(redis, `${prefix}*`);
    await redis.quit();
  });

  for (const from of OPERATION_STATES) {
    it(`from ${from}: applies exactly the moves ALLOWED_TRANSITIONS lists`, async () => {
      for (const to of OPERATION_STATES) {
        const id = await operationIn(from);
        const keys = ledger.keysOf((await ledger.shardOf(id)) ?? 0);
        const result = await ledger.transition(id, to, { event: 'outcome' }, {}, 4_000);
        const allowed = ALLOWED_TRANSITIONS[from].includes(to);
        expect({ from, to, applied: result.applied }).toEqual({ from, to, applied: allowed });
        const record = await ledger.get(id);
        expect(record?.state).toBe(allowed ? to : from);
        // The operation is in its state's index and in no other.
        for (const s of OPERATION_STATES) {
          const score = await redis.zscore(keys.state(s), id);
          expect({ to, index: s, member: score !== null }).toEqual({ to, index: s, member: s === record?.state });
        }
      }
    });
  }

  it('marking an older event sent after a newer one leaves the watermark at the newer one', async () => {
    const paymentKey = 'simulator:acme-eu:o-watermark';
    const first = { eventId: 'wm-1.SUCCEEDED', paymentKey, method: 'm', params: {} };
    const second = { eventId: 'wm-2.SUCCEEDED', paymentKey, method: 'm', params: {} };
    expect((await events.recordAndCheck(first, 1_000)).sequence).toBe(1);
    expect((await events.recordAndCheck(second, 1_000)).sequence).toBe(2);
    await events.markSent(paymentKey, 2, second.eventId);
    expect(await events.sentWatermark(paymentKey)).toBe(2);
    await events.markSent(paymentKey, 1, first.eventId);
    expect(await events.sentWatermark(paymentKey)).toBe(2);
    await events.markSent(paymentKey, 3);
    expect(await events.sentWatermark(paymentKey)).toBe(3);
    const unsent = await Promise.all(ALL_SHARDS.map((n) => redis.zrange(ledger.keysOf(n).unsentEvents, 0, -1)));
    expect(unsent.flat().filter((id) => id.startsWith('wm-'))).toEqual([]);
  });
});
