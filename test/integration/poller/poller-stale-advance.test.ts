import { Queue } from 'bullmq';
import { Config } from '../../../src/config/config';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData } from '../../../src/events/oms-events-queue';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { Ledger } from '../../../src/ledger/ledger';
import { silentLogger } from '../../../src/logging/logger';
import { Poller } from '../../../src/poller/poller';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { RedisClient } from '../../../src/redis/redis-connection';
import { ConfiguredGatewayRouter } from '../../../src/routing/configured-gateway-router';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { channelCommand } from '../../support/fixtures';
import { usePollerStack } from '../../support/poller-stack';

/**
 * The poller asks about an UNKNOWN operation; its inquiry is slow (a PSP that commits, then answers late or
 * never: up to the gateway timeout). Meanwhile the operation's delivery job asks too, finds no trace, sends
 * it again, and that attempt times out as well: UNKNOWN again with a fresh poll schedule. The poller must
 * not then advance the schedule of the record it read before (one step from giving up), which would make
 * the operation UNRESOLVED although it was just sent again: an UNRESOLVED operation is never sent again,
 * so a read such as validate (which leaves no trace to find) would never be reported.
 */
const API_KEY = 'sim-poller-stale-key-0123456789';

const stack = usePollerStack({ apiKey: API_KEY }, (url) => ({
  // One step: the first poll that finds nothing gives up (the last step of any schedule).
  'poller.schedule_ms': [1],
  gateways: { simulator: { type: 'simulator', base_url: url, api_key: API_KEY, webhook_secret: 'whsec-poller-stale-0123456789', timeout_ms: 1500 } },
}));
let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;

beforeAll(() => {
  ({ sim, config, redis, eventsQueue } = stack);
});

/** A poller on `cfg` with the ledger, recorder and router it uses (those a second poller may share). */
function pollerOn(cfg: Config) {
  const ledger = new Ledger(redis, cfg.redis.keyPrefix);
  const logger = silentLogger();
  const recorder = new OutcomeRecorder({ config: cfg, ledger, events: new EventStore(redis, cfg.redis.keyPrefix), eventsQueue, logger });
  const router = new ConfiguredGatewayRouter(createGatewayClients(cfg));
  return { ledger, logger, recorder, router, poller: new Poller({ config: cfg, ledger, router, recorder, logger }) };
}

/** A `command` at the simulator whose first attempt's outcome is unknown, due for a poll now; its id. */
async function unknownAndDue(ledger: Ledger, command: ReturnType<typeof channelCommand>): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
  await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: Date.now() - 1, pollStep: 0 });
  return id;
}

/**
 * Starts `poller`'s pass with its inquiry about `id` held at the simulator; resolves once that inquiry is under way.
 * It waits on the inquiries about `id` alone: the simulator's global count is moved by any other operation due.
 */
async function pollHeld(poller: Poller, id: string): Promise<{ polling: Promise<unknown>; superseded: number }> {
  sim.hold(id);
  const superseded = (await metricValue('pb_poll_superseded_total')) ?? 0;
  const inquiriesBefore = sim.inquiriesOf(id);
  const polling = poller.runOnce();
  while (sim.inquiriesOf(id) === inquiriesBefore) await new Promise((r) => setTimeout(r, 10));
  return { polling, superseded };
}

it('does not give up on an operation the delivery sent again while the poll’s inquiry was under way', async () => {
  const { ledger, poller } = pollerOn(config);
  const id = await unknownAndDue(ledger, channelCommand('validate', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa' }));

  // The poller's inquiry about it hangs until the gateway timeout.
  const { polling, superseded } = await pollHeld(poller, id);

  // Meanwhile, what the delivery job does: asks (no trace), sends again, times out again.
  const reschedule = Date.now() + 60_000;
  await ledger.transition(id, 'SENT', { event: 'inquiry', found: false });
  await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true });
  await ledger.transition(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: reschedule, pollStep: 0 });

  await polling;
  sim.release(id);
  const op = await ledger.get(id);
  expect(op).toMatchObject({ state: 'UNKNOWN', attempts: 2, pollStep: 0 });
  expect((await ledger.interactions(id)).map((h) => h.event)).not.toContain('unresolved');
  expect(await metricValue('pb_poll_superseded_total')).toBe(superseded + 1);
});

/**
 * Every worker runs a poller. One reads the due ids; another polls the same operation and moves it to its next
 * step before the first gets to it. The first must see the operation is no longer due and leave it: advancing
 * again from the fresh record spent a step of the schedule per poller, so an operation polled by three workers
 * ran out its five steps in five seconds instead of fifteen and ended UNRESOLVED.
 */
it('leaves an operation another poller moved to its next step after this one listed it as due', async () => {
  const cfg: Config = { ...config, poller: { ...config.poller, scheduleMs: [1, 60_000, 60_000] } };
  const { ledger, logger, recorder, router, poller: other } = pollerOn(cfg);

  // This poller's ledger: its list of due ids is taken before the other poller's pass.
  let otherPass: (() => Promise<unknown>) | null = () => other.runOnce();
  class ListedBeforeTheOtherPass extends Ledger {
    override async idsInState(...args: Parameters<Ledger['idsInState']>): Promise<string[]> {
      const ids = await super.idsInState(...args);
      if (args[0] === 'UNKNOWN' && otherPass) {
        const pass = otherPass;
        otherPass = null;
        await pass();
      }
      return ids;
    }
  }
  const late = new Poller({ config: cfg, ledger: new ListedBeforeTheOtherPass(redis, cfg.redis.keyPrefix), router, recorder, logger });

  const id = await unknownAndDue(ledger, channelCommand('authorize', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa' }));

  await late.runOnce();
  expect(otherPass).toBeNull();
  const op = await ledger.get(id);
  expect(op).toMatchObject({ state: 'UNKNOWN', pollStep: 1 });
  expect((await ledger.interactions(id)).filter((h) => h.event === 'poll')).toHaveLength(1);
});

/**
 * The same race one step earlier: the delivery job's own inquiry finds no trace and moves the operation to SENT
 * to send it again, and the poller, whose inquiry was under way, then takes its step from the record it read
 * (UNKNOWN). At the last step that made it UNRESOLVED (never sent again: the PSP never had it, the OMS was told
 * UNRESOLVED for good, and a capture or refund of it waited forever); before it, it put the operation back to
 * UNKNOWN, and the delivery job, reading UNKNOWN where it had just written SENT, ended without sending (the
 * money-truth drill, seed 31 at 50 % PSP faults: a sale UNRESOLVED that never reached the PSP, its refund never
 * reported). The poller's step applies only to the state it read.
 */
describe.each([
  { at: 'the last step', schedule: [1] },
  { at: 'a step before the last', schedule: [1, 60_000] },
])('a poll at $at', ({ schedule }) => {
  it('leaves an operation the delivery moved to SENT (to send again) during the poll’s inquiry', async () => {
    const cfg: Config = { ...config, poller: { ...config.poller, scheduleMs: schedule } };
    const { ledger, poller } = pollerOn(cfg);
    const id = await unknownAndDue(ledger, channelCommand('sale', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa' }));
    const { polling, superseded } = await pollHeld(poller, id);

    // Meanwhile the delivery job asks, finds no trace, and is about to send again (its attempt not yet on record).
    await ledger.transition(id, 'SENT', { event: 'inquiry', found: false });

    await polling;
    sim.release(id);
    const op = await ledger.get(id);
    expect(op).toMatchObject({ state: 'SENT', attempts: 1 });
    const history = (await ledger.interactions(id)).map((h) => h.event);
    // The poll's inquiry timed out (noted), and it took no step.
    expect(history.slice(-2)).toEqual(['inquiry', 'poll_error']);
    expect(history).not.toContain('unresolved');
    expect(history).not.toContain('poll');
    expect(await metricValue('pb_poll_superseded_total')).toBe(superseded + 1);
  });
});

/**
 * The same race after the poller's own check that the operation was not sent again (`sentAgainMeanwhile`, one read):
 * the delivery job sends it again between that read and the poll's step, and the resend's outcome is unknown too
 * (UNKNOWN again, one more attempt, its own schedule from step 0). The state read alone does not show it; a step from
 * the old record spent the resend's schedule on the old attempt's (a step further, nearer UNRESOLVED). The step
 * applies only at the attempt count read as well.
 */
it('leaves the schedule of an operation the delivery sent again between the poll’s last read and its step (same state, one more attempt)', async () => {
  const cfg: Config = { ...config, poller: { ...config.poller, scheduleMs: [1, 60_000, 60_000] } };
  const { ledger, poller } = pollerOn(cfg);
  const id = await unknownAndDue(ledger, channelCommand('sale', {}, { gateway: 'simulator', gateway_key: 'pm_card_visa' }));
  const superseded = (await metricValue('pb_poll_superseded_total')) ?? 0;
  const reschedule = Date.now() + 600_000;
  const write = ledger.transition.bind(ledger);
  const race = jest.spyOn(ledger, 'transition').mockImplementation(async (...args) => {
    if (args[0] === id && args[2].event === 'poll') {
      race.mockRestore();
      // The delivery job: no trace, sent again, outcome unknown again, its schedule from step 0.
      await write(id, 'SENT', { event: 'inquiry', found: false });
      await write(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true });
      await write(id, 'UNKNOWN', { event: 'send_error', kind: 'outcome_unknown' }, { nextCheckAt: reschedule, pollStep: 0 });
    }
    return write(...args);
  });
  try {
    await poller.runOnce();
  } finally {
    race.mockRestore();
  }
  expect(await ledger.get(id)).toMatchObject({ state: 'UNKNOWN', attempts: 2, pollStep: 0, nextCheckAt: reschedule });
  expect((await ledger.interactions(id)).map((h) => h.event)).not.toContain('poll');
  expect(await metricValue('pb_poll_superseded_total')).toBe(superseded + 1);
});
