import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { Config } from '../../../src/config/config';
import { GatewayError } from '../../../src/errors/gateway-error';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';
import { createdAuthorization, openBreaker, startWorkers } from '../../support/fleet-workers';
import { useSimulatorPair } from '../../support/simulator-pair';
import { testConfig } from '../../support/test-config';

/**
 * Two workers on one operation (a redelivery, a lapsed job lock, the recovery sweep), one of them failing over: the
 * failover that loses the move to SENT to the other worker leaves no false record. Two delivery services on one key
 * prefix stand in for two workers, each with its own circuit breakers; the race is played at the failover's step in the
 * orchestration (after the next candidate is decided, before anything is recorded).
 */
const KEY_A = 'sim-failrace-a-key-0123456789';
const KEY_B = 'sim-failrace-b-key-0123456789';

const sims = useSimulatorPair(KEY_A, KEY_B);
let simA: PspSimulator;
let simB: PspSimulator;
beforeAll(() => ({ a: simA, b: simB } = sims));
const stacks = useDeliveryStacks();

afterEach(() => {
  for (const sim of [simA, simB]) sim.setFaults({});
});

/** Authorizations routed to sima then simb, on `prefix` when given (another worker of the same fleet). */
function config(prefix?: string): Config {
  return testConfig({
    'delivery.breaker_failure_threshold': 3,
    'delivery.breaker_open_ms': 60_000,
    'routing.rules': [{ name: 'route', when: { commands: ['authorize', 'sale'] }, gateways: ['sima', 'simb'] }],
    'routing.failover.enabled': true,
    'routing.failover.decline_codes': ['insufficient_funds'],
    ...(prefix !== undefined ? { 'redis.key_prefix': prefix } : {}),
    gateways: {
      sima: { type: 'simulator', base_url: simA.url, api_key: KEY_A, webhook_secret: 'whsec-failrace-a-0123456789', timeout_ms: 5000 },
      simb: { type: 'simulator', base_url: simB.url, api_key: KEY_B, webhook_secret: 'whsec-failrace-b-0123456789', timeout_ms: 5000 },
    },
  });
}

/** Runs `meanwhile` once, when `stack`'s orchestration has decided the failover of `id` (nothing recorded yet). */
function atFailover(stack: DeliveryStack, id: string, meanwhile: () => Promise<void>): { restore: () => void; raced: () => boolean } {
  const failover = stack.pipeline.failover.bind(stack.pipeline);
  let raced = false;
  const spy = jest.spyOn(stack.pipeline, 'failover').mockImplementation(async (op, plan, now) => {
    const next = await failover(op, plan, now);
    if (!raced && op.id === id) {
      raced = true;
      await meanwhile();
    }
    return next;
  });
  return { restore: () => spy.mockRestore(), raced: () => raced };
}

/** Makes `stack`'s worker die right after its move to SENT of `id` is on record, before the PSP call (killed mid-call). */
function killedAfterMove(stack: DeliveryStack, id: string): () => void {
  const transition = stack.ledger.transition.bind(stack.ledger);
  const spy = jest.spyOn(stack.ledger, 'transition').mockImplementation(async (...args) => {
    const result = await transition(...args);
    if (args[0] === id && args[1] === 'SENT' && result.applied) throw new Error('worker killed');
    return result;
  });
  return () => spy.mockRestore();
}

const events = async (stack: DeliveryStack, id: string): Promise<string[]> => (await stack.ledger.interactions(id)).map((h) => h.event);

const failoversTotal = async (from: string, to: string, trigger: string): Promise<number> =>
  (await metricValue('pb_routing_failovers_total', { from, to, trigger })) ?? 0;

const movesLost = async (gateway: string): Promise<number> => (await metricValue('pb_delivery_moves_lost_total', { gateway })) ?? 0;

describe('a failover that loses the move to SENT to another worker', () => {
  it('leaves no failover history entry, count or warn line; the lost move is counted and said at info', async () => {
    const logs = captureLogger('info');
    const [one, two] = startWorkers(stacks, 2, config, logs.logger);
    // Worker 1 (sima's breaker open in its process) fails over to simb; worker 2 sends to sima meanwhile and settles it.
    openBreaker(one, 'sima');
    const id = await createdAuthorization(one);
    const counted = await failoversTotal('sima', 'simb', 'breaker_open');
    const lost = await movesLost('simb');
    const race = atFailover(one, id, async () => {
      expect(await two.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    });
    try {
      expect(await one.service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    } finally {
      race.restore();
    }
    expect(race.raced()).toBe(true);
    // The payment went to sima only, and that is all the record, the timeline and the metrics say.
    expect(simA.counters().effects[id]).toBe(1);
    expect(simB.counters().effects[`${id}.failover1`]).toBeUndefined();
    expect(await one.ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', attempts: 1, routing: { gateway: 'sima', index: 0 } });
    expect(await events(one, id)).toEqual(['received', 'attempt', 'outcome']);
    expect(await failoversTotal('sima', 'simb', 'breaker_open')).toBe(counted);
    expect(logs.lines.some((l) => l.includes('failover: sending the operation to its next candidate gateway') && l.includes(id))).toBe(false);
    // The race itself is seen: counted by the gateway the lost move was for, and an info line saying so.
    expect(await movesLost('simb')).toBe(lost + 1);
    const line = logs.lines.find((l) => l.includes('attempt not recorded: the operation moved meanwhile') && l.includes(id));
    expect(line).toContain('"gateway":"simb"');
    expect(line).toContain('"failover_from":"sima"');
    expect(line).toContain('"level":"info"');
  });

  it("leaves nothing after the winner's attempt that ends it: killed mid-call there, that attempt stays maybe at the PSP and no other gateway is tried", async () => {
    const [one, two, three] = startWorkers(stacks, 3, config);
    openBreaker(one, 'sima');
    const id = await createdAuthorization(one);
    // Worker 1 decides its failover to simb; meanwhile worker 2 sends to sima and dies after its attempt is on record.
    const race = atFailover(one, id, async () => {
      const revive = killedAfterMove(two, id);
      try {
        await expect(two.service.deliver(id)).rejects.toThrow('worker killed');
      } finally {
        revive();
      }
    });
    try {
      expect(await one.service.deliver(id)).toEqual({ kind: 'done', state: 'SENT' });
    } finally {
      race.restore();
    }
    expect(race.raced()).toBe(true);
    // Worker 2's attempt at sima has no recorded end: it may be at the PSP.
    expect(await events(one, id)).toEqual(['received', 'attempt']);
    expect(await one.ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1, routing: { gateway: 'sima', index: 0 } });
    // The recovery pass (a worker whose breaker for sima is open) must not read that attempt as ended: it waits for
    // sima, never sends to simb beside it (two live authorizations).
    openBreaker(three, 'sima');
    const requestsB = simB.counters().requests;
    expect((await three.service.deliver(id)).kind).toBe('wait');
    expect(simB.counters().requests).toBe(requestsB);
    expect(await three.ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1, routing: { gateway: 'sima' } });
  });

  it("waiting behind the next gateway's open breaker after another worker sent again: nothing ends that worker's attempt", async () => {
    const [one, two, three] = startWorkers(stacks, 3, config);
    // simb's breaker is open in worker 1: its failover after sima's decline waits.
    openBreaker(one, 'simb');
    const id = await createdAuthorization(one, { gateway_key: 'pm_insufficient_funds' });
    // Worker 1's attempt at sima is declined ("try elsewhere"); as it fails over, worker 2 (a redelivery) sends the
    // operation to sima again and dies after that attempt is on record.
    const race = atFailover(one, id, async () => {
      const revive = killedAfterMove(two, id);
      try {
        await expect(two.service.deliver(id)).rejects.toThrow('worker killed');
      } finally {
        revive();
      }
    });
    try {
      expect((await one.service.deliver(id)).kind).toBe('wait');
    } finally {
      race.restore();
    }
    expect(race.raced()).toBe(true);
    expect(await events(one, id)).toEqual(['received', 'attempt', 'attempt']);
    expect(await one.ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, routing: { gateway: 'sima', index: 0 } });
    // Worker 2's attempt may be at the PSP: a pass with sima's breaker open waits, never tries simb beside it.
    openBreaker(three, 'sima');
    const requestsB = simB.counters().requests;
    expect((await three.service.deliver(id)).kind).toBe('wait');
    expect(simB.counters().requests).toBe(requestsB);
  });
});

describe('a retryable error of an attempt another worker sent again meanwhile', () => {
  it("is not appended after that worker's attempt (it would read as its end): nothing recorded, said at info, the job left to that worker", async () => {
    const logs = captureLogger('info');
    const other: { stack?: DeliveryStack } = {};
    let id = '';
    let raced = false;
    // Worker 1's call to sima: as it is in flight, worker 2 (a lapsed job lock) sends the operation again and dies after
    // its attempt is on record; then worker 1's call comes back rate limited (retryable, "never landed").
    const one = stacks.build(config(), {
      logger: logs.logger,
      router: (real) => ({
        route: (op) => {
          const route = real.route(op);
          if ('refused' in route || route.gateway.name !== 'sima') return route;
          const client = Object.assign(Object.create(route.client) as typeof route.client, {
            send: async () => {
              if (!raced) {
                raced = true;
                const revive = killedAfterMove(other.stack!, id);
                try {
                  await expect(other.stack!.service.deliver(id)).rejects.toThrow('worker killed');
                } finally {
                  revive();
                }
              }
              throw new GatewayError('rate_limited', 'sima', 'rate limited (HTTP 429)', { httpStatus: 429, gatewayCode: 'rate_limit' });
            },
          });
          return { ...route, client };
        },
      }),
    });
    other.stack = stacks.build(config(one.config.redis.keyPrefix));
    id = await createdAuthorization(one);
    expect(await one.service.deliver(id)).toEqual({ kind: 'done', state: 'SENT' });
    expect(raced).toBe(true);
    // Worker 2's attempt has no recorded end: it may be at the PSP. Worker 1's error (of its own attempt) is not after it.
    expect(await events(one, id)).toEqual(['received', 'attempt', 'attempt']);
    expect(await one.ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2 });
    const line = logs.lines.find((l) => l.includes('send error not recorded: the operation moved meanwhile') && l.includes(id));
    expect(line).toContain('"read_attempts":1');
    expect(line).toContain('"level":"info"');
  });
});

describe("a status inquiry's miss read as the search lagging, after another worker resent the operation meanwhile", () => {
  it("is not appended after that worker's attempt (inquiry_lag would read as its end): nothing recorded, said at info", async () => {
    const logs = captureLogger('info');
    const other: { stack?: DeliveryStack } = {};
    let id = '';
    let calls = 0;
    // Worker 1 sees sima as a PSP whose search lags an hour (never replaying a key): its first call, the attempt, is
    // answered with nothing readable (outcome unknown); its second, the status inquiry, finds nothing, but only once
    // worker 2 (the real sima: no lag) has asked, found no trace, failed over to simb, and died after that attempt was on
    // record.
    const one = stacks.build(config(), {
      logger: logs.logger,
      router: (real) => ({
        route: (op) => {
          const route = real.route(op);
          if ('refused' in route || route.gateway.name !== 'sima') return route;
          const transformer = Object.assign(Object.create(route.transformer) as typeof route.transformer, {
            inquiryLagMs: () => 3_600_000,
            resendReplays: false,
          });
          const client = Object.assign(Object.create(route.client) as typeof route.client, {
            send: async (request: Parameters<typeof route.client.send>[0]) => {
              calls += 1;
              if (calls === 1) throw new GatewayError('outcome_unknown', 'sima', 'timed out', {});
              if (calls === 2) {
                const transition = other.stack!.ledger.transition.bind(other.stack!.ledger);
                const spy = jest.spyOn(other.stack!.ledger, 'transition').mockImplementation(async (...args) => {
                  const result = await transition(...args);
                  if (args[0] === id && args[1] === 'SENT' && args[3]?.countAttempt === true && result.applied) throw new Error('worker killed');
                  return result;
                });
                try {
                  await expect(other.stack!.service.deliver(id)).rejects.toThrow('worker killed');
                } finally {
                  spy.mockRestore();
                }
              }
              return route.client.send(request);
            },
          });
          return { ...route, transformer, client };
        },
      }),
    });
    other.stack = stacks.build(config(one.config.redis.keyPrefix));
    id = await createdAuthorization(one);
    expect((await one.service.deliver(id)).kind).toBe('retry');
    expect(await one.ledger.get(id)).toMatchObject({ state: 'UNKNOWN', attempts: 1 });
    expect(await one.service.deliver(id)).toEqual({ kind: 'done', state: 'SENT' });
    expect(calls).toBe(2);
    // Worker 2's attempt (after its miss, at the next candidate) has no recorded end: it may be at the PSP.
    expect(await events(one, id)).toEqual(['received', 'attempt', 'send_error', 'inquiry', 'failover', 'attempt']);
    expect(await one.ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2 });
    const line = logs.lines.find((l) => l.includes('status search lag not recorded: the operation moved meanwhile') && l.includes(id));
    expect(line).toContain('"read_state":"UNKNOWN"');
  });
});
