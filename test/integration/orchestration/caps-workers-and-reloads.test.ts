import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { CapReservations } from '../../../src/caps/cap-reservations';
import { Config } from '../../../src/config/config';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';
import { createdAuthorization, openBreaker, startWorker } from '../../support/fleet-workers';
import { testConfig } from '../../support/test-config';
import { useSimulatorPair } from '../../support/simulator-pair';

/**
 * Transaction caps stay exact across workers and configuration reloads (docs/LIMITS.md, "Transaction caps"), on the real
 * Redis: two delivery services on one key prefix stand in for two workers (each with its own circuit breakers), or for a
 * worker before and after a configuration reload.
 */
const KEY_A = 'sim-capsrace-a-key-0123456789';
const KEY_B = 'sim-capsrace-b-key-0123456789';

const sims = useSimulatorPair(KEY_A, KEY_B);
let simA: PspSimulator;
let simB: PspSimulator;
beforeAll(() => ({ a: simA, b: simB } = sims));
const stacks = useDeliveryStacks();

/** One authorization a day in USD at each of `gateways`. */
const capped = (...gateways: string[]) => gateways.map((name) => ({ scope: 'gateway', name, currency: 'USD', daily_count: 1 }));

/**
 * A configuration routing authorizations to `route`, one authorization a day at each gateway unless `caps` says
 * otherwise, on `prefix` when given (another worker, or a reload, of one fleet).
 */
function config(route: string[], prefix?: string, caps = capped('sima', 'simb')): Config {
  return testConfig({
    'delivery.breaker_failure_threshold': 3,
    'delivery.breaker_open_ms': 60_000,
    'routing.rules': [{ name: 'route', when: { commands: ['authorize', 'sale'] }, gateways: route }],
    'routing.failover.enabled': true,
    'caps.rules': caps,
    ...(prefix !== undefined ? { 'redis.key_prefix': prefix } : {}),
    gateways: {
      sima: { type: 'simulator', base_url: simA.url, api_key: KEY_A, webhook_secret: 'whsec-capsrace-a-0123456789', timeout_ms: 5000 },
      simb: { type: 'simulator', base_url: simB.url, api_key: KEY_B, webhook_secret: 'whsec-capsrace-b-0123456789', timeout_ms: 5000 },
    },
  });
}

/** What `gateway`'s counter of the day holds in USD (the authorizations its cap counts). */
async function counted(stack: DeliveryStack, gateway: string): Promise<number> {
  const caps = new CapReservations(stack.redis, stack.config.redis.keyPrefix, stack.config.limits.caps.rules);
  const [refusal] = await caps.peek([{ gateway, account: 'default', amount: 100, currency: 'USD' }]);
  return refusal?.current ?? 0;
}

const releases = async (gateway: string, why: string): Promise<number> => (await metricValue('pb_caps_releases_total', { gateway, why })) ?? 0;

const reservationsKept = async (gateway: string): Promise<number> => (await metricValue('pb_caps_reservations_kept_total', { gateway })) ?? 0;

/** `one` delivers operation `id` to sima, which answers 503: the record stays SENT there, one attempt on it, for a retry. */
async function erredAtSima(one: DeliveryStack, id: string): Promise<void> {
  simA.setFaults({ error5xxRate: 1 });
  try {
    expect((await one.service.deliver(id)).kind).toBe('retry');
  } finally {
    simA.setFaults({});
  }
}

/**
 * What a failover plan decided on `id`'s record (one attempt) leaves when its worker dies before its move: simb's 1000
 * USD reserved and claimed as the caps stage does, the claim naming that attempt count.
 */
async function deadClaimAtSimb(one: DeliveryStack, id: string): Promise<void> {
  const caps = new CapReservations(one.redis, one.config.redis.keyPrefix, one.config.limits.caps.rules);
  const atSimb = { index: 1, gateway: 'simb', account: 'default', amount: 1000, currency: 'USD' };
  expect(await caps.reserve(id, [atSimb], Date.now(), '1:plan-of-a-dead-worker')).toMatchObject({ kind: 'reserved', index: 1 });
}

describe('two workers on one operation', () => {
  it('one abandoning a failover on its own open breaker leaves the reservation the other sends on: the cap counts the authorization', async () => {
    const logs = captureLogger('info');
    // Only simb is capped: each worker's plan takes sima at once, its failover reserves (or finds the reservation) at simb.
    const first = config(['sima', 'simb'], undefined, capped('simb'));
    // Worker 1 finds both gateways' breakers open; worker 2 only sima's.
    const one = startWorker(stacks, first, logs.logger);
    const two = startWorker(stacks, first);
    openBreaker(one, 'sima');
    openBreaker(one, 'simb');
    openBreaker(two, 'sima');
    const id = await createdAuthorization(one);
    const abandoned = await releases('simb', 'abandoned');
    const keptBefore = await reservationsKept('simb');
    // Worker 2 delivers the operation while worker 1 is between its reservation at simb and finding simb's breaker open.
    const failover = one.pipeline.failover.bind(one.pipeline);
    let raced = false;
    const race = jest.spyOn(one.pipeline, 'failover').mockImplementation(async (op, plan, now) => {
      const next = await failover(op, plan, now);
      if (!raced && op.id === id) {
        raced = true;
        expect(await two.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      }
      return next;
    });
    try {
      expect((await one.service.deliver(id)).kind).toBe('wait');
    } finally {
      race.mockRestore();
    }
    expect(raced).toBe(true);
    expect(await one.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', routing: { gateway: 'simb', index: 1 } });
    expect(simB.counters().effects[`${id}.failover1`]).toBe(1);
    // simb authorized it: its cap counts it, whatever worker 1 abandoned.
    expect(await counted(one, 'simb')).toBe(1);
    expect(await releases('simb', 'abandoned')).toBe(abandoned);
    const kept = logs.lines.find((l) => l.includes('cap reservation kept') && l.includes(id));
    expect(kept).toContain('"gateway":"simb"');
    expect(await reservationsKept('simb')).toBe(keptBefore + 1);
  });

  it('both abandoning: the reservation goes back once, with the last', async () => {
    const first = config(['sima', 'simb'], undefined, capped('simb'));
    const one = startWorker(stacks, first);
    const two = startWorker(stacks, first);
    for (const w of [one, two]) {
      openBreaker(w, 'sima');
      openBreaker(w, 'simb');
    }
    const id = await createdAuthorization(one);
    const abandoned = await releases('simb', 'abandoned');
    const failover = one.pipeline.failover.bind(one.pipeline);
    let raced = false;
    const race = jest.spyOn(one.pipeline, 'failover').mockImplementation(async (op, plan, now) => {
      const next = await failover(op, plan, now);
      if (!raced && op.id === id) {
        raced = true;
        expect((await two.service.deliver(id)).kind).toBe('wait');
        // Worker 1's claim stands: worker 2's abandon leaves the reservation.
        expect(await counted(one, 'simb')).toBe(1);
      }
      return next;
    });
    try {
      expect((await one.service.deliver(id)).kind).toBe('wait');
    } finally {
      race.mockRestore();
    }
    expect(raced).toBe(true);
    expect(await one.ledger.get(id)).toMatchObject({ state: 'RECEIVED', attempts: 0 });
    expect(await counted(one, 'simb')).toBe(0);
    expect(await releases('simb', 'abandoned')).toBe(abandoned + 1);
  });
});

describe('two workers on one operation never send it at two gateways', () => {
  it("a failover decided on a read from before the other worker's send does not go out: the move to SENT applies only to the record it was decided on", async () => {
    const first = config(['sima', 'simb'], undefined, capped('simb'));
    // Worker 1 finds sima up and sends there (its answer slow); worker 2 read the operation before that send and finds
    // sima's breaker open in its own process: it fails over to simb.
    const one = startWorker(stacks, first);
    const two = startWorker(stacks, first);
    openBreaker(two, 'sima');
    const id = await createdAuthorization(one);
    const givenBack = async () => (await releases('simb', 'abandoned')) + (await releases('simb', 'reclaimed'));
    const given = await givenBack();
    simA.setFaults({ latencyMs: { min: 300, max: 300 } });
    const failover = two.pipeline.failover.bind(two.pipeline);
    let sending: Promise<unknown> | undefined;
    const race = jest.spyOn(two.pipeline, 'failover').mockImplementation(async (op, plan, now) => {
      const next = await failover(op, plan, now);
      if (sending === undefined && op.id === id) {
        // Worker 2 decided its failover on the record as it read it (RECEIVED, no attempt): worker 1 sends meanwhile.
        sending = one.service.deliver(id);
        for (let i = 0; i < 200; i++) {
          const now = await one.ledger.get(id);
          if (now?.state === 'SENT' && now.attempts === 1) break;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      return next;
    });
    try {
      await two.service.deliver(id);
      expect(sending).toBeDefined();
      expect(await sending).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    } finally {
      race.mockRestore();
      simA.setFaults({});
    }
    // One gateway has the authorization: sima, where worker 1 sent it.
    expect(simA.counters().effects[id]).toBe(1);
    expect(simB.counters().effects[`${id}.failover1`]).toBeUndefined();
    expect(await one.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', attempts: 1, routing: { gateway: 'sima', index: 0 } });
    // The failover's plan never went on record: what it reserved at simb is given back once, not counted all day: by
    // worker 2 abandoning it (abandoned), or by worker 1 once its attempt is on record, which leaves that plan's claim
    // dead (reclaimed), whichever comes first.
    expect(await counted(one, 'simb')).toBe(0);
    expect(await givenBack()).toBe(given + 1);
  });
});

describe('two first passes of one operation', () => {
  it('the one whose move to SENT loses leaves the reservation the other sent on: the cap counts the authorization once', async () => {
    const first = config(['sima', 'simb'], undefined, capped('sima'));
    const one = startWorker(stacks, first);
    const two = startWorker(stacks, first);
    const id = await createdAuthorization(one);
    const abandoned = await releases('sima', 'abandoned');
    const transition = two.ledger.transition.bind(two.ledger);
    let raced = false;
    const race = jest.spyOn(two.ledger, 'transition').mockImplementation(async (opId, to, interaction, fields, now) => {
      if (!raced && opId === id && to === 'SENT') {
        // Both planned sima (worker 2 found worker 1's reservation standing and claimed it); worker 1 sends first.
        raced = true;
        expect(await one.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
      }
      return transition(opId, to, interaction, fields, now);
    });
    try {
      expect(await two.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    } finally {
      race.mockRestore();
    }
    expect(raced).toBe(true);
    expect(simA.counters().effects[id]).toBe(1);
    expect(await counted(one, 'sima')).toBe(1);
    expect(await releases('sima', 'abandoned')).toBe(abandoned);
  });
});

describe('a worker killed between its claim and the record', () => {
  it("a failover plan whose worker died after claiming simb, before its move was on record: once the job's next run puts its attempt on record at sima, simb's count comes back (not a day later), counted and logged", async () => {
    const logs = captureLogger('info');
    const first = config(['sima', 'simb'], undefined, capped('simb'));
    // Worker 1 finds sima's breaker open: its failover reserves and claims at simb, then the worker dies (it stops
    // there for good, before the move to simb is on record).
    const one = startWorker(stacks, first);
    openBreaker(one, 'sima');
    const id = await createdAuthorization(one);
    const reclaimed = (await metricValue('pb_caps_claims_reclaimed_total', { gateway: 'simb' })) ?? 0;
    const given = await releases('simb', 'reclaimed');
    let died!: () => void;
    const dead = new Promise<void>((resolve) => (died = resolve));
    // It dies once its failover step has reserved and claimed at simb: before anything of the move is on record.
    const failover = one.pipeline.failover.bind(one.pipeline);
    const dies = jest.spyOn(one.pipeline, 'failover').mockImplementation(async (op, plan, now) => {
      if (op.id !== id) throw new Error(`unexpected failover of ${op.id}`);
      await failover(op, plan, now);
      died();
      return new Promise<never>(() => undefined);
    });
    try {
      void one.service.deliver(id);
      await dead;
    } finally {
      dies.mockRestore();
    }
    expect(await counted(one, 'simb')).toBe(1);
    // The job's next run, in another worker (its breakers closed): the operation goes to sima, on record there.
    const two = startWorker(stacks, first, logs.logger);
    expect(await two.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await two.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', attempts: 1, routing: { gateway: 'sima', index: 0 } });
    expect(simB.counters().effects[`${id}.failover1`]).toBeUndefined();
    // The dead plan's claim can never go on record (the record moved past the attempt it was decided on): given back.
    expect(await counted(two, 'simb')).toBe(0);
    expect(await metricValue('pb_caps_claims_reclaimed_total', { gateway: 'simb' })).toBe(reclaimed + 1);
    expect(await releases('simb', 'reclaimed')).toBe(given + 1);
    const line = logs.lines.find((l) => l.includes('cap reservation claims reclaimed') && l.includes(id));
    expect(line).toContain('"gateway":"simb"');
  });
});

describe("a worker killed between its claim and the record, then a resend at the record's gateway", () => {
  it("a failover plan decided on the record (one attempt at sima) whose worker died after claiming simb: once the job's next run resends at sima (two attempts on record), simb's count comes back, counted and logged", async () => {
    const logs = captureLogger('info');
    const first = config(['sima', 'simb'], undefined, capped('simb'));
    const one = startWorker(stacks, first);
    const id = await createdAuthorization(one);
    // Worker 1's attempt at sima errs (a 503): the record stays SENT there, one attempt on it, for a retry.
    await erredAtSima(one, id);
    // A failover plan decided on that record reserved and claimed at simb, as the caps stage does (its claim names the
    // record's attempt count), and its worker died there, before its move.
    await deadClaimAtSimb(one, id);
    expect(await counted(one, 'simb')).toBe(1);
    const reclaimed = (await metricValue('pb_caps_claims_reclaimed_total', { gateway: 'simb' })) ?? 0;
    const given = await releases('simb', 'reclaimed');
    // The job's next run, in another worker: the retry resends at sima, on record (two attempts), and succeeds there.
    const two = startWorker(stacks, first, logs.logger);
    expect(await two.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await two.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', attempts: 2, routing: { gateway: 'sima', index: 0 } });
    // The dead plan was decided on one attempt: its move can never apply. Given back now, not a day later.
    expect(await counted(two, 'simb')).toBe(0);
    expect(await metricValue('pb_caps_claims_reclaimed_total', { gateway: 'simb' })).toBe(reclaimed + 1);
    expect(await releases('simb', 'reclaimed')).toBe(given + 1);
    expect(logs.lines.find((l) => l.includes('cap reservation claims reclaimed') && l.includes(id))).toContain('"gateway":"simb"');
  });
});

describe('a configuration reload that drops the gateway of a waiting plan', () => {
  it("the plan decided again goes elsewhere: once its attempt is on record, the dropped gateway's reservation is given back (replanned), counted and logged", async () => {
    const logs = captureLogger('info');
    const before = startWorker(stacks, config(['sima']));
    // Decided at sima, then held behind sima's open breaker: sima's reservation is made, nothing is on record.
    openBreaker(before, 'sima');
    const id = await createdAuthorization(before);
    expect((await before.service.deliver(id)).kind).toBe('wait');
    expect(await counted(before, 'sima')).toBe(1);
    // Reloaded: authorizations go to simb only.
    const after = startWorker(stacks, config(['simb'], before.config.redis.keyPrefix), logs.logger);
    const replanned = await releases('sima', 'replanned');
    expect(await after.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await after.ledger.get(id)).toMatchObject({ routing: { gateway: 'simb', candidates: ['simb'] } });
    expect([await counted(after, 'sima'), await counted(after, 'simb')]).toEqual([0, 1]);
    expect(await releases('sima', 'replanned')).toBe(replanned + 1);
    const line = logs.lines.find((l) => l.includes('cap reservation released') && l.includes(id));
    expect(line).toContain('"gateway":"sima"');
    expect(line).toContain('"why":"replanned"');
    // Another delivery of it finds nothing more to give back: simb's reservation stands.
    await after.service.deliver(id);
    expect([await counted(after, 'sima'), await counted(after, 'simb')]).toEqual([0, 1]);
  });

  it("the plan decided again is refused (over the cap where it now goes): the FAIL gives back the dropped gateway's reservation too", async () => {
    const before = startWorker(stacks, config(['sima']));
    openBreaker(before, 'sima');
    const id = await createdAuthorization(before);
    expect((await before.service.deliver(id)).kind).toBe('wait');
    const after = startWorker(stacks, config(['simb'], before.config.redis.keyPrefix));
    // simb's one authorization of the day goes to another payment first.
    const other = await createdAuthorization(after);
    expect(await after.service.deliver(other)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const refused = await releases('sima', 'refused');
    expect(await after.service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await after.ledger.get(id)).toMatchObject({ state: 'FAILED', reason: 'CAP_EXCEEDED' });
    expect([await counted(after, 'sima'), await counted(after, 'simb')]).toEqual([0, 1]);
    expect(await releases('sima', 'refused')).toBe(refused + 1);
  });
});

describe('two workers resending one operation after a status inquiry that found nothing', () => {
  let simC: PspSimulator;
  const KEY_C = 'sim-capsrace-c-key-0123456789';
  beforeAll(async () => {
    simC = await startPspSimulator({ apiKey: KEY_C });
  });
  afterAll(async () => {
    await simC.stop();
  }, 60_000);

  it("the one whose inquiry predates the other's resend sends nothing: never a third gateway beside the second", async () => {
    const three = testConfig({
      'delivery.breaker_failure_threshold': 3,
      'delivery.breaker_open_ms': 60_000,
      'routing.rules': [{ name: 'route', when: { commands: ['authorize', 'sale'] }, gateways: ['sima', 'simb', 'simc'] }],
      'routing.failover.enabled': true,
      gateways: {
        sima: { type: 'simulator', base_url: simA.url, api_key: KEY_A, webhook_secret: 'whsec-capsrace-a-0123456789', timeout_ms: 5000 },
        simb: { type: 'simulator', base_url: simB.url, api_key: KEY_B, webhook_secret: 'whsec-capsrace-b-0123456789', timeout_ms: 5000 },
        simc: { type: 'simulator', base_url: simC.url, api_key: KEY_C, webhook_secret: 'whsec-capsrace-c-0123456789', timeout_ms: 5000 },
      },
    });
    const one = startWorker(stacks, three);
    const two = startWorker(stacks, three);
    const id = await createdAuthorization(one);
    // Its first attempt at sima: the connection reset, the outcome unknown (sima never had it).
    simA.setDown('reset');
    try {
      await one.service.deliver(id);
    } finally {
      simA.setDown(false);
    }
    expect(await one.ledger.get(id)).toMatchObject({ state: 'UNKNOWN', attempts: 1 });
    // Both workers ask sima, which has no trace; worker 1 fails over to simb and sends (its answer slow) between worker
    // 2's inquiry and worker 2's move.
    simB.setFaults({ latencyMs: { min: 300, max: 300 } });
    const transition = two.ledger.transition.bind(two.ledger);
    let sending: Promise<unknown> | undefined;
    const race = jest.spyOn(two.ledger, 'transition').mockImplementation(async (opId, to, interaction, fields, now) => {
      if (sending === undefined && opId === id && to === 'SENT' && interaction.event === 'inquiry') {
        sending = one.service.deliver(id);
        for (let i = 0; i < 200; i++) {
          const read = await one.ledger.get(id);
          if (read?.state === 'SENT' && read.attempts === 2) break;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      return transition(opId, to, interaction, fields, now);
    });
    try {
      await two.service.deliver(id);
      expect(sending).toBeDefined();
      expect(await sending).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    } finally {
      race.mockRestore();
      simB.setFaults({});
    }
    expect(simB.counters().effects[`${id}.failover1`]).toBe(1);
    expect(Object.keys(simC.counters().effects).filter((k) => k.startsWith(id))).toEqual([]);
    expect(await one.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', attempts: 2, routing: { gateway: 'simb', index: 1 } });
  });
});

describe('a failover chain through an open breaker whose move at its last gateway loses', () => {
  /** sima ▸ simb ▸ simc, simb and simc capped (simc: a second entry on sima's simulator account). */
  function chained(): Config {
    return testConfig({
      'delivery.breaker_failure_threshold': 3,
      'delivery.breaker_open_ms': 60_000,
      'routing.rules': [{ name: 'route', when: { commands: ['authorize', 'sale'] }, gateways: ['sima', 'simb', 'simc'] }],
      'routing.failover.enabled': true,
      'caps.rules': capped('simb', 'simc'),
      gateways: {
        sima: { type: 'simulator', base_url: simA.url, api_key: KEY_A, webhook_secret: 'whsec-capschain-a-0123456789', timeout_ms: 5000 },
        simb: { type: 'simulator', base_url: simB.url, api_key: KEY_B, webhook_secret: 'whsec-capschain-b-0123456789', timeout_ms: 5000 },
        simc: { type: 'simulator', base_url: simA.url, api_key: KEY_A, webhook_secret: 'whsec-capschain-c-0123456789', timeout_ms: 5000 },
      },
    });
  }

  it("gives back every reservation the losing pass took, simb's (passed through on its open breaker) with simc's, at once: neither counts", async () => {
    const c = chained();
    // Worker 1 finds sima's and simb's breakers open: it fails over to simb, then on to simc. Worker 2 finds sima up.
    const one = startWorker(stacks, c);
    const two = startWorker(stacks, c);
    openBreaker(one, 'sima');
    openBreaker(one, 'simb');
    const id = await createdAuthorization(one);
    const abandoned = async () => (await releases('simb', 'abandoned')) + (await releases('simc', 'abandoned'));
    const before = await abandoned();
    // Once worker 1 has decided simc (having reserved at simb and simc), worker 2 moves the operation to SENT at sima
    // and dies right after (before its PSP call and before anything else it would give back).
    const failover = one.pipeline.failover.bind(one.pipeline);
    let raced = false;
    const race = jest.spyOn(one.pipeline, 'failover').mockImplementation(async (op, plan, now) => {
      const next = await failover(op, plan, now);
      if (!raced && op.id === id && plan.index === 1) {
        raced = true;
        const transition = two.ledger.transition.bind(two.ledger);
        const kill = jest.spyOn(two.ledger, 'transition').mockImplementation(async (...args) => {
          const result = await transition(...args);
          if (args[0] === id && args[1] === 'SENT' && result.applied) throw new Error('worker killed');
          return result;
        });
        try {
          await expect(two.service.deliver(id)).rejects.toThrow('worker killed');
        } finally {
          kill.mockRestore();
        }
        expect([await counted(one, 'simb'), await counted(one, 'simc')]).toEqual([1, 1]);
      }
      return next;
    });
    try {
      expect(await one.service.deliver(id)).toEqual({ kind: 'done', state: 'SENT' });
    } finally {
      race.mockRestore();
    }
    expect(raced).toBe(true);
    expect(await one.ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1, routing: { gateway: 'sima', index: 0 } });
    // Nothing of worker 1's pass is on record: neither of its reservations counts, without waiting for a later pass.
    expect([await counted(one, 'simb'), await counted(one, 'simc')]).toEqual([0, 0]);
    expect(await abandoned()).toBe(before + 2);
  });

  it("gives back simb's reservation too when the chain's refusal at simc (over its cap) loses to another worker's move", async () => {
    const c = chained();
    const one = startWorker(stacks, c);
    const two = startWorker(stacks, c);
    openBreaker(one, 'sima');
    openBreaker(one, 'simb');
    // simc's one authorization of the day is taken by another payment: the chain's plan there is refused (CAP_EXCEEDED).
    const caps = new CapReservations(one.redis, one.config.redis.keyPrefix, one.config.limits.caps.rules);
    const other = `other-${Date.now()}`;
    expect(await caps.reserve(other, [{ index: 2, gateway: 'simc', account: 'default', amount: 1000, currency: 'USD' }])).toMatchObject({ kind: 'reserved' });
    const id = await createdAuthorization(one);
    const failover = one.pipeline.failover.bind(one.pipeline);
    let raced = false;
    const race = jest.spyOn(one.pipeline, 'failover').mockImplementation(async (op, plan, now) => {
      const next = await failover(op, plan, now);
      if (!raced && op.id === id && plan.index === 1) {
        raced = true;
        expect(next?.kind).toBe('refuse');
        // Worker 2 moves the operation to SENT at sima and dies right after (nothing of it reclaims).
        const transition = two.ledger.transition.bind(two.ledger);
        const kill = jest.spyOn(two.ledger, 'transition').mockImplementation(async (...args) => {
          const result = await transition(...args);
          if (args[0] === id && args[1] === 'SENT' && result.applied) throw new Error('worker killed');
          return result;
        });
        try {
          await expect(two.service.deliver(id)).rejects.toThrow('worker killed');
        } finally {
          kill.mockRestore();
        }
        expect(await counted(one, 'simb')).toBe(1);
      }
      return next;
    });
    try {
      expect(await one.service.deliver(id)).toEqual({ kind: 'done', state: 'SENT' });
    } finally {
      race.mockRestore();
    }
    expect(raced).toBe(true);
    expect(await one.ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1, routing: { gateway: 'sima', index: 0 } });
    expect(await counted(one, 'simb')).toBe(0);
    // simc counts the other payment's authorization only.
    expect(await counted(one, 'simc')).toBe(1);
  });
});

describe('a dead failover claim at the attempt count the operation ends with', () => {
  it("an operation a webhook settles SUCCEEDED (no attempt after the dead plan's, so no pass reclaims it) gives back simb's reservation at that move, counted and logged as reclaimed", async () => {
    const logs = captureLogger('info');
    const first = config(['sima', 'simb'], undefined, capped('simb'));
    const one = startWorker(stacks, first, logs.logger);
    const id = await createdAuthorization(one);
    // Worker 1's attempt at sima errs (a 503): the record stays SENT there, one attempt on it.
    await erredAtSima(one, id);
    // A failover plan decided on that record (one attempt) reserved and claimed at simb, as the caps stage does, and
    // its worker died there, before its move: its claim names the attempt count the record still has.
    await deadClaimAtSimb(one, id);
    expect(await counted(one, 'simb')).toBe(1);
    const reclaimed = (await metricValue('pb_caps_claims_reclaimed_total', { gateway: 'simb' })) ?? 0;
    const given = await releases('simb', 'reclaimed');
    // sima's webhook settles it: SUCCEEDED there, with the one attempt on record. No plan can go on record any more.
    const sent = (await one.ledger.get(id))!;
    expect(sent).toMatchObject({ state: 'SENT', attempts: 1, routing: { gateway: 'sima', index: 0 } });
    const after = await one.recorder.apply(sent, { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: `pi_${id}` }, 'webhook');
    expect(after).toMatchObject({ state: 'SUCCEEDED', attempts: 1 });
    expect(await counted(one, 'simb')).toBe(0);
    expect(await metricValue('pb_caps_claims_reclaimed_total', { gateway: 'simb' })).toBe(reclaimed + 1);
    expect(await releases('simb', 'reclaimed')).toBe(given + 1);
    const line = logs.lines.find((l) => l.includes('cap reservation claims reclaimed') && l.includes(id));
    expect(line).toContain('"gateway":"simb"');
    expect(line).toContain('"state":"SUCCEEDED"');
  });

  it("a webhook heard again after the worker that moved the operation to SUCCEEDED died before giving back the dead claim's reservation: the repeat gives it back", async () => {
    const first = config(['sima', 'simb'], undefined, capped('simb'));
    const one = startWorker(stacks, first);
    const id = await createdAuthorization(one);
    await erredAtSima(one, id);
    await deadClaimAtSimb(one, id);
    const success = { status: 'SUCCESS' as const, gatewayStatus: 'succeeded', gatewayReference: `pi_${id}` };
    // The webhook's worker is killed between the move to SUCCEEDED and the give-back (here: the give-back fails).
    const kill = jest.spyOn(one.pipeline, 'releaseSucceeded').mockRejectedValueOnce(new Error('worker killed'));
    try {
      expect((await one.recorder.apply((await one.ledger.get(id))!, success, 'webhook')).state).toBe('SUCCEEDED');
    } finally {
      kill.mockRestore();
    }
    expect(await counted(one, 'simb')).toBe(1);
    // The PSP's webhook is delivered again (its job retried): the record is SUCCEEDED already, the dead claim goes now.
    const settled = (await one.ledger.get(id))!;
    expect(settled).toMatchObject({ state: 'SUCCEEDED', attempts: 1 });
    expect((await one.recorder.apply(settled, success, 'webhook')).state).toBe('SUCCEEDED');
    expect(await counted(one, 'simb')).toBe(0);
  });

  it("keeps the reservation of the gateway the operation SUCCEEDED at: only the later candidates' claims are dead", async () => {
    const first = config(['sima', 'simb'], undefined, capped('sima', 'simb'));
    const one = startWorker(stacks, first);
    const id = await createdAuthorization(one);
    await erredAtSima(one, id);
    expect(await counted(one, 'sima')).toBe(1);
    const sent = (await one.ledger.get(id))!;
    expect((await one.recorder.apply(sent, { status: 'SUCCESS', gatewayStatus: 'succeeded', gatewayReference: `pi_${id}` }, 'webhook')).state).toBe(
      'SUCCEEDED',
    );
    expect(await counted(one, 'sima')).toBe(1);
  });
});
