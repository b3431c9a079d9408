import { createDeliveryQueue } from '../../src/delivery/delivery-queue';
import { OutcomeRecorder } from '../../src/delivery/outcome-recorder';
import { EventStore } from '../../src/events/event-store';
import { createOmsEventsQueue } from '../../src/events/oms-events-queue';
import { Ledger } from '../../src/ledger/ledger';
import { silentLogger } from '../../src/logging/logger';
import { RecurringRunner } from '../../src/recurring/recurring-runner';
import { RecurringStore } from '../../src/recurring/recurring-store';
import { createRedis } from '../../src/redis/redis-connection';
import { FlowCheck } from '../../harness/workload/flow-checks';
import { DemoScene, SceneContext, SceneResult } from './scene';
import { waitFor } from './scene-helpers';

/**
 * Recurring billing with dunning: a monthly subscription whose first charge is softly declined
 * (insufficient funds: the simulator's `pm_insufficient_funds_once…` declines once) and retried by the
 * schedule runner after its dunning wait (the scene's runner clock jumps the day), which recovers the
 * cycle. The charges are delivered by the stack's workers like any command. Checks: the first attempt
 * FAILED soft, the retry SUCCEEDED, the schedule moved to cycle 2, and no final failure was sent.
 */
export const recurringDunningScene: DemoScene = {
  title: 'recurring cycle, soft decline recovered',
  async run(ctx: SceneContext): Promise<SceneResult> {
    const { stack, runId } = ctx;
    const config = stack.config;
    const redis = createRedis(config.redis, 'commands');
    const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
    const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const store = new RecurringStore(redis, config.redis.keyPrefix);
    const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: silentLogger() });
    let offset = 0;
    const runner = new RecurringRunner({ config, store, ledger, recorder, deliveryQueue, logger: silentLogger(), now: () => Date.now() + offset });
    const checks: FlowCheck[] = [];
    const settled = (id: string) =>
      waitFor(async () => {
        const op = await ledger.get(id);
        return op && (op.state === 'SUCCEEDED' || op.state === 'FAILED') ? op : null;
      }, 30_000);
    try {
      const id = `sub-${runId}`;
      await store.add({
        id,
        gateway: 'simulator',
        gateway_account: 'recurring-demo',
        gateway_key: `pm_insufficient_funds_once_${runId}`,
        amount: 1500,
        currency: 'EUR',
        order_id: `ORD-SUB-${runId}`,
        model: 'subscription',
        start_at: new Date(Date.now() - 1000).toISOString(),
        interval: { unit: 'month', count: 1 },
      });
      await runner.runOnce();
      const first = await settled(`_${id}.c1`);
      checks.push({
        name: 'recurring scene: the first charge was softly declined',
        ok: first?.state === 'FAILED',
        detail: `_${id}.c1 ${first?.state ?? '-'} ${first?.reason ?? ''}`,
      });
      offset = 60_000;
      const retry = await runner.runOnce();
      const waitMs = config.recurring.retryScheduleMs[0] ?? 0;
      offset = 60_000 + waitMs + 60_000;
      await runner.runOnce();
      const second = await settled(`_${id}.c1.r1`);
      checks.push({
        name: 'recurring scene: the dunning retry recovered the cycle',
        ok: retry.retried === 1 && second?.state === 'SUCCEEDED',
        detail: `_${id}.c1.r1 ${second?.state ?? '-'}`,
      });
      offset += 60_000;
      await runner.runOnce();
      const schedule = await store.get(id);
      checks.push({
        name: 'recurring scene: the schedule moved to its next cycle, no final failure sent',
        ok: schedule?.cycle === 2 && schedule.state === 'active' && (await new EventStore(redis, config.redis.keyPrefix).load(`${id}.c1.failed`)) === null,
        detail: `cycle ${schedule?.cycle ?? '-'}, ${schedule?.state ?? '-'}`,
      });
      return { summary: `${id}: cycle 1 declined (insufficient funds), retried after ${Math.round(waitMs / 3_600_000)} h, paid; next cycle due`, checks };
    } finally {
      await eventsQueue.close();
      await deliveryQueue.close();
      redis.disconnect();
    }
  },
};
