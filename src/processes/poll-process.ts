import { Config } from '../config/config';
import { GatewayRoute } from '../gateways/gateway-route';
import { createDeliveryQueue } from '../delivery/delivery-queue';
import { OutcomeRecorder } from '../delivery/outcome-recorder';
import { EventStore } from '../events/event-store';
import { createOmsEventsQueue } from '../events/oms-events-queue';
import { Ledger } from '../ledger/ledger';
import { Logger } from '../logging/logger';
import { LifecycleSweep } from '../poller/lifecycle-sweep';
import { PollReport, Poller } from '../poller/poller';
import { createRedis } from '../redis/redis-connection';
import { ConfiguredGatewayRouter } from '../routing/configured-gateway-router';

/**
 * `payment-bridge poll`, what cron runs (Procfile `poller`): one pass over the PENDING and UNKNOWN
 * operations whose next check is due, then the authorization lifecycle (expiry warnings, orphan
 * reversal: `LifecycleSweep`), then exit. A Redis lock (held for `lockMs`, default 10 min) keeps two
 * overlapping runs, or a run and the workers' in-process poller, from asking the PSP twice.
 *
 * @returns the run's report, or `null` when another poll run holds the lock.
 */
export async function runPollProcess(config: Config, logger: Logger, routes: ReadonlyMap<string, GatewayRoute>, lockMs = 600_000): Promise<PollReport | null> {
  const redis = createRedis(config.redis.url, 'commands', logger);
  const eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  eventsQueue.on('error', () => undefined);
  const deliveryQueue = createDeliveryQueue(redis, config.redis.keyPrefix);
  deliveryQueue.on('error', () => undefined);
  const lock = `${config.redis.keyPrefix}poller:lock`;
  const token = `cli:${process.pid}:${Date.now()}`;
  try {
    if ((await redis.set(lock, token, 'PX', lockMs, 'NX')) !== 'OK') {
      logger.info('another poll run holds the lock; nothing to do');
      return null;
    }
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const events = new EventStore(redis, config.redis.keyPrefix);
    const recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger });
    const poller = new Poller({ config, ledger, router: new ConfiguredGatewayRouter(routes), recorder, logger, deliveryQueue });
    const report = await poller.runOnce();
    logger.info('poll run finished', { ...report });
    await new LifecycleSweep({ config, redis, ledger, recorder, deliveryQueue, logger })
      .runOnce()
      .catch((err: Error) => logger.warn('authorization lifecycle sweep failed', { error: err.message }));
    return report;
  } finally {
    // Release only our own lock: a run that outlived lockMs must not free the next run's.
    await redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", 1, lock, token).catch(() => undefined);
    await eventsQueue.close();
    await deliveryQueue.close();
    redis.disconnect();
  }
}
