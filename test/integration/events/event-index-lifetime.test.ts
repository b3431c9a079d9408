import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config } from '../../../src/config/config';
import { RetentionSweep } from '../../../src/data-lifecycle/retention-sweep';
import { EventStore } from '../../../src/events/event-store';
import { PaymentEvent, eventAnchor } from '../../../src/events/payment-event';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { setScrapeCollector } from '../../../src/metrics/scrape-gauges';
import { scrapeSnapshot } from '../../../src/processes/scrape-snapshot';
import { ShardKeys } from '../../../src/redis/key-layout';
import { unlinkMatching } from '../../../src/redis/key-scan';
import { RedisClient } from '../../../src/redis/redis-connection';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { testRedis } from '../../support/test-redis';

/**
 * The set-aside (`events:rejected`) and dismissed (`events:dismissed`) indexes never outlive their events: retention
 * takes an expiring event's entries out in the step that deletes its record, so `pb_events_set_aside` (and its page)
 * never counts an event nobody can list, resend or dismiss.
 */
jest.setTimeout(30_000);

const DAY = 86_400_000;
let redis: RedisClient;
const prefixes: string[] = [];

beforeAll(() => {
  redis = testRedis();
});

afterAll(async () => {
  setScrapeCollector(null);
  for (const p of prefixes) await unlinkMatching(redis, `${p}*`);
  redis.disconnect();
});

function setup(): { config: Config; ledger: Ledger; events: EventStore } {
  const config = testConfig({ 'retention.archive_dir': mkdtempSync(join(tmpdir(), 'pb-archive-')) });
  prefixes.push(config.redis.keyPrefix);
  return { config, ledger: new Ledger(redis, config.redis.keyPrefix), events: new EventStore(redis, config.redis.keyPrefix) };
}

async function setAsideGauge(config: Config): Promise<number> {
  setScrapeCollector(scrapeSnapshot({ config, redis, queues: {} }));
  try {
    return await metricValue('pb_events_set_aside');
  } finally {
    setScrapeCollector(null);
  }
}

/** A sale FAILED `at`, its FAILED event recorded in its shard and set aside as the sender does on the bus's -32602. */
async function failedSaleSetAside(ledger: Ledger, events: EventStore, at: number): Promise<{ id: string; event: PaymentEvent; keys: ShardKeys }> {
  const cmd = channelCommand('sale');
  const id = cmd.payment.operation_reference!;
  await ledger.create(id, cmd, at, { event: 'attempt' });
  await ledger.transition(id, 'FAILED', { event: 'outcome' }, {}, at);
  const anchor = eventAnchor(cmd.payment);
  const event: PaymentEvent = {
    eventId: `${id}.FAILED`,
    ...anchor,
    method: 'magento.payments.payments_management.validated',
    params: { payment: { operation_reference: id } },
  };
  const { sequence } = await events.recordAndCheck(event, at);
  expect(await events.setAside({ ...event, sequence }, 'rpc_-32602', at)).toBe(true);
  return { id, event, keys: new ShardKeys(ledger.prefix, anchor.shard) };
}

describe('retention of a set-aside or dismissed event', () => {
  it('takes its entry out of the set-aside and dismissed indexes with its record: nothing left, the gauge reads 0', async () => {
    const { config, ledger, events } = setup();
    const now = Date.now();
    const setAside = await failedSaleSetAside(ledger, events, now - 500 * DAY);
    const dismissed = await failedSaleSetAside(ledger, events, now - 500 * DAY);
    expect(await events.dismiss(dismissed.event.eventId, 'operator@host', 'the bus will never take it', now - 499 * DAY)).not.toBeNull();
    expect(await setAsideGauge(config)).toBe(1);

    const report = await new RetentionSweep({ config, redis, logger: silentLogger(), now: () => now }).runOnce();
    expect(report).toMatchObject({ archived: 2, expired: 2 });

    for (const { id, event, keys } of [setAside, dismissed]) {
      expect(await ledger.get(id)).toBeNull();
      expect(await redis.exists(keys.event(event.eventId))).toBe(0);
      expect(await redis.zscore(keys.rejectedEvents, event.eventId)).toBeNull();
      expect(await redis.zscore(keys.dismissedEvents, event.eventId)).toBeNull();
    }
    expect(await setAsideGauge(config)).toBe(0);
  });
});
