/**
 * A poll that throws a fault of the bridge (neither a gateway answer nor a dependency outage) meets the same
 * fault at every poll. The operation must still move along its poll schedule (one inquiry per step, not one
 * per pass for ever) and, once the schedule runs out, become UNRESOLVED with cause `poll_fault`.
 */
import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData } from '../../../src/events/oms-events-queue';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { Poller } from '../../../src/poller/poller';
import { ShardKeys } from '../../../src/redis/key-layout';
import { RedisClient } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { usePollerStack } from '../../support/poller-stack';

const API_KEY = 'sim-poller-faults-key-0123456789';
const SCHEDULE_MS = [1000, 1000, 1000];

const stack = usePollerStack({ apiKey: API_KEY }, (url) => ({
  'poller.schedule_ms': SCHEDULE_MS,
  gateways: { simulator: { type: 'simulator', base_url: url, api_key: API_KEY, timeout_ms: 2000 } },
}));
let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;

beforeAll(() => {
  ({ sim, config, redis, eventsQueue } = stack);
});

/** The gateway's routes with a transformer that cannot read any status answer (a bug met after the inquiry). */
function unreadableStatusAnswers(): ReadonlyMap<string, GatewayRoute> {
  const routes = new Map(createGatewayClients(config));
  const route = routes.get('simulator')!;
  const transformer = Object.create(route.transformer, {
    parseStatusResponse: {
      value: () => {
        throw new TypeError("Cannot read properties of undefined (reading 'status')");
      },
    },
  }) as GatewayRoute['transformer'];
  routes.set('simulator', { ...route, transformer });
  return routes;
}

/** An authorization sent once whose outcome is unknown, due for its first poll at `at`. */
async function unknownOperation(ledger: Ledger, at: number): Promise<string> {
  const command = channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
  await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: at, pollStep: 0 });
  return id;
}

describe('a poll that keeps throwing a fault of the bridge', () => {
  it('moves the operation one schedule step per poll (one inquiry each), then leaves it UNRESOLVED with cause poll_fault, counted and logged', async () => {
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const logs = captureLogger('info');
    const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: logs.logger });
    let clock = Date.now();
    const poller = new Poller({
      config,
      ledger,
      router: new ConfiguredGatewayRouter(unreadableStatusAnswers()),
      recorder,
      logger: logs.logger,
      now: () => clock,
    });
    const id = await unknownOperation(ledger, clock - 1);
    const rescheduled = await metricValue('pb_poll_faults_total', { outcome: 'rescheduled' });
    const unresolved = await metricValue('pb_poll_faults_total', { outcome: 'unresolved' });
    const inquiries = sim.counters().inquiries;

    for (let step = 1; step < SCHEDULE_MS.length; step += 1) {
      await poller.runOnce();
      expect(await ledger.get(id)).toMatchObject({ state: 'UNKNOWN', pollStep: step, nextCheckAt: clock + SCHEDULE_MS[step] });
      // Not due again within the step: a pass meanwhile asks the PSP nothing.
      await poller.runOnce();
      expect(sim.counters().inquiries).toBe(inquiries + step);
      clock += SCHEDULE_MS[step];
    }
    await poller.runOnce();

    expect((await ledger.get(id))?.state).toBe('UNRESOLVED');
    expect(sim.counters().inquiries).toBe(inquiries + SCHEDULE_MS.length);
    const history = await ledger.interactions(id);
    expect(history.filter((h) => h.event === 'poll_fault').map((h) => h.error_class)).toEqual(['TypeError', 'TypeError']);
    expect(history.filter((h) => h.event === 'unresolved').map((h) => [h.cause, h.error_class])).toEqual([['poll_fault', 'TypeError']]);
    expect(await metricValue('pb_poll_faults_total', { outcome: 'rescheduled' })).toBe(rescheduled + SCHEDULE_MS.length - 1);
    expect(await metricValue('pb_poll_faults_total', { outcome: 'unresolved' })).toBe(unresolved + 1);
    const line = logs.lines.find((l) => l.includes('"level":"error"') && l.includes('poll_fault') && l.includes(id));
    expect(line).toContain('"error_class":"TypeError"');
  });

  it('postpones an operation whose record does not decode by poller.unresolved_interval_ms instead of reading it at every pass', async () => {
    const ledger = new Ledger(redis, config.redis.keyPrefix);
    const logs = captureLogger('info');
    const recorder = new OutcomeRecorder({ config, ledger, events: new EventStore(redis, config.redis.keyPrefix), eventsQueue, logger: logs.logger });
    const clock = Date.now();
    const poller = new Poller({
      config,
      ledger,
      router: new ConfiguredGatewayRouter(createGatewayClients(config)),
      recorder,
      logger: logs.logger,
      now: () => clock,
    });
    const id = await unknownOperation(ledger, clock - 1);
    await redis.hset(new ShardKeys(config.redis.keyPrefix, (await ledger.shardOf(id)) ?? 0).op(id), 'payment', '{"amount":');
    const postponed = await metricValue('pb_poll_faults_total', { outcome: 'postponed' });

    expect((await poller.runOnce()).errors).toBe(1);

    expect(await ledger.idsInState('UNKNOWN', clock + config.poller.unresolvedIntervalMs - 1)).not.toContain(id);
    expect(await ledger.idsInState('UNKNOWN', clock + config.poller.unresolvedIntervalMs)).toContain(id);
    expect(await metricValue('pb_poll_faults_total', { outcome: 'postponed' })).toBe(postponed + 1);
    const line = logs.lines.find((l) => l.includes('"level":"error"') && l.includes(id));
    expect(line).toContain('"error_class":"SyntaxError"');
  });
});
