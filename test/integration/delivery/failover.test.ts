import { Logger } from '../../../src/logging/logger';
import { DeliveryService } from '../../../src/delivery/delivery-service';
import { GatewayRouter } from '../../../src/routing/gateway-router';
import { Ledger } from '../../../src/ledger/ledger';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { PspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { openBreaker } from '../../support/fleet-workers';
import { testConfig } from '../../support/test-config';
import { DeliveryStack, useDeliveryStacks } from '../../support/delivery-stack';
import { CapReservations } from '../../../src/caps/cap-reservations';
import { useSimulatorPair } from '../../support/simulator-pair';
import { GatewayError } from '../../../src/errors/gateway-error';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { GatewayRequest } from '../../../src/gateways/gateway-adapter';

/**
 * Failover between two real PSP simulators (two gateways, two PSP accounts): the route's next candidate
 * takes an authorization only when the first provably did nothing, and never while an attempt there may
 * be live (commit-then-timeout: the first PSP charged, then went silent). An attempt after a failover
 * carries its own idempotency key, `<id>.failover<n>` (see src/delivery/attempt-key.ts).
 */
const KEY_A = 'sim-failover-a-key-0123456789';
const KEY_B = 'sim-failover-b-key-0123456789';

const sims = useSimulatorPair(KEY_A, KEY_B);
let simA: PspSimulator;
let simB: PspSimulator;
beforeAll(() => ({ a: simA, b: simB } = sims));
const stacks = useDeliveryStacks();

afterEach(() => {
  for (const sim of [simA, simB]) {
    sim.setDown(false);
    sim.setFaults({});
  }
});

function setup(overrides: Record<string, unknown> = {}, logger?: Logger, router?: (real: GatewayRouter) => GatewayRouter, now?: () => number): DeliveryStack {
  const config = testConfig({
    'delivery.breaker_failure_threshold': 3,
    'delivery.breaker_open_ms': 60_000,
    'routing.rules': [
      { name: 'dead-first', when: { currencies: ['USD'] }, gateways: ['dead', 'simb'] },
      { name: 'a-then-b', when: { commands: ['authorize', 'sale'] }, gateways: ['sima', 'simb'] },
    ],
    'routing.failover.enabled': true,
    'routing.failover.decline_codes': ['insufficient_funds'],
    ...overrides,
    gateways: {
      sima: { type: 'simulator', base_url: simA.url, api_key: KEY_A, webhook_secret: 'whsec-failover-a-0123456789', timeout_ms: 800 },
      simb: { type: 'simulator', base_url: simB.url, api_key: KEY_B, webhook_secret: 'whsec-failover-b-0123456789', timeout_ms: 800 },
      // Nothing listens on port 9: every request is provably not sent.
      dead: {
        type: 'simulator',
        base_url: 'http://127.0.0.1:9',
        api_key: 'sim-failover-dead-0123456789',
        webhook_secret: 'whsec-failover-d-0123456789',
        timeout_ms: 800,
      },
    },
  });
  return stacks.build(config, { logger, router, now });
}

/** `real`, with the route to `gateway` changed by `change` (its transformer or client replaced). */
function changing(gateway: string, change: (route: GatewayRoute) => GatewayRoute): (real: GatewayRouter) => GatewayRouter {
  return (real) => ({
    route: (op) => {
      const route = real.route(op);
      return 'refused' in route || route.gateway.name !== gateway ? route : change(route);
    },
  });
}

/** `real`, with `gateway`'s payment requests refused with `next()`'s error; its status inquiries (GETs) go through. */
function failing(gateway: string, next: () => GatewayError): (real: GatewayRouter) => GatewayRouter {
  return changing(gateway, (route) => ({
    ...route,
    client: Object.assign(Object.create(route.client) as typeof route.client, {
      send: (request: GatewayRequest) => (request.method === 'GET' ? route.client.send(request) : Promise.reject(next())),
    }),
  }));
}

async function record(ledger: Ledger, command: PaymentCommand): Promise<string> {
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  return id;
}

const authorize = (payment: Record<string, unknown> = {}) =>
  channelCommand('authorize', {}, { gateway: 'sima', gateway_key: 'pm_card_visa', currency: 'EUR', ...payment });

/** Effects at a simulator under any of the operation's keys (its id, or an attempt's after a failover: `<id>.failover<n>`). */
function effectsOf(sim: PspSimulator, id: string): number {
  return Object.entries(sim.counters().effects)
    .filter(([key]) => key === id || key.startsWith(`${id}.failover`))
    .reduce((sum, [, n]) => sum + n, 0);
}

async function eventsOf(ledger: Ledger, id: string): Promise<string[]> {
  return (await ledger.interactions(id)).map((h) => h.event);
}

describe('routing and failover (authorize, sale)', () => {
  it('routes by rule: records the decision in the history, on the record and on the event', async () => {
    const { service, ledger, events } = setup({ 'routing.rules': [{ name: 'eur-to-b', when: { currencies: ['EUR'] }, gateways: ['simb'] }] });
    const id = await record(ledger, authorize());
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simB.counters().effects[id]).toBe(1);
    expect(simA.counters().effects[id]).toBeUndefined();
    const op = await ledger.get(id);
    expect(op?.routing).toMatchObject({ gateway: 'simb', requested: 'sima', rule: 'eur-to-b', candidates: ['simb'] });
    const attempt = (await ledger.interactions(id)).find((h) => h.event === 'attempt');
    expect(attempt).toMatchObject({ gateway: 'simb', orchestration: [{ stage: 'route', outcome: 'routed', reasons: ['rule:eur-to-b'] }] });
    const event = await events.load(`${id}.SUCCEEDED`);
    expect(JSON.stringify(event)).toContain('"requested_gateway":"sima"');
  });

  it('moves to the next candidate when the first request is provably not sent, in the same delivery', async () => {
    const { service, ledger } = setup();
    const before = (await metricValue('pb_routing_failovers_total', { from: 'dead', to: 'simb', trigger: 'not_sent' })) ?? 0;
    const id = await record(ledger, authorize({ currency: 'USD' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simB.counters().effects[`${id}.failover1`]).toBe(1);
    const op = await ledger.get(id);
    expect(op).toMatchObject({ attempts: 2, routing: { gateway: 'simb', index: 1, failovers: [{ from: 'dead', to: 'simb', trigger: 'not_sent' }] } });
    expect(await eventsOf(ledger, id)).toEqual(['received', 'attempt', 'failover', 'attempt', 'outcome']);
    // The attempt after the failover is numbered after the first, as the record counts them.
    const numbers = (await ledger.interactions(id)).filter((h) => h.event === 'attempt').map((h) => (h as { attempt?: unknown }).attempt);
    expect(numbers).toEqual([1, 2]);
    expect(await metricValue('pb_routing_failovers_total', { from: 'dead', to: 'simb', trigger: 'not_sent' })).toBe(before + 1);
  });

  it('a not-sent attempt whose failover finds no usable candidate counts once against its breaker: a black-holed PSP opens it at the threshold', async () => {
    // simb's route is refused (as a gateway our configuration lost): every failover from dead finds nothing.
    const { service, ledger } = setup({}, undefined, (real) => ({
      route: (op) => (op.routing?.gateway === 'simb' || op.payment.gateway === 'simb' ? { refused: 'UNKNOWN_GATEWAY' } : real.route(op)),
    }));
    const breaker = service.breaker('dead');
    for (let i = 1; i <= 3; i += 1) {
      const id = await record(ledger, authorize({ currency: 'USD' }));
      expect((await service.deliver(id)).kind).toBe('retry');
      expect(breaker.state).toBe(i < 3 ? 'closed' : 'open');
    }
  });

  it('a plan moved to another candidate before any attempt (an open breaker) counts and logs its risk and FX decisions once, for the attempt that goes', async () => {
    const logs = captureLogger('info');
    const stack = setup(
      {
        'risk.rules': [{ name: 'big-usd-failover', when: ['high_amount'], action: 'psp_review' }],
        'risk.amount_thresholds': { USD: 10000 },
        'fx.settlement_currencies': { simb: ['EUR'] },
        'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
      },
      logs.logger,
    );
    const { service, ledger } = stack;
    const reviewed = () => metricValue('pb_risk_decisions_total', { action: 'psp_review', rule: 'big-usd-failover' });
    const fx = (gateway: string, result: string, source: string) => metricValue('pb_fx_decisions_total', { gateway, result, source });
    const before = [await reviewed(), await fx('dead', 'native', 'none'), await fx('simb', 'converted', 'configured')];
    openBreaker(stack, 'dead');
    const id = await record(ledger, authorize({ currency: 'USD', amount: 12345 }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await ledger.get(id)).toMatchObject({
      attempts: 1,
      routing: { gateway: 'simb', failovers: [{ from: 'dead', to: 'simb', trigger: 'breaker_open' }] },
    });
    // The plan for dead never went out: nothing of it counted. The one for simb went: counted once.
    expect([await reviewed(), await fx('dead', 'native', 'none'), await fx('simb', 'converted', 'configured')]).toEqual([
      before[0] + 1,
      before[1],
      before[2] + 1,
    ]);
    expect(logs.lines.filter((l) => l.includes('risk rules ask the PSP risk engine') && l.includes(id))).toHaveLength(1);
    expect(logs.lines.filter((l) => l.includes('payment converted at a locked rate') && l.includes(id))).toHaveLength(1);
  });

  it("a cap fallback to the route's next candidate counts and logs once, when its attempt goes out: not for each delivery behind that candidate's open breaker", async () => {
    const logs = captureLogger('info');
    const stack = setup({ 'caps.rules': [{ scope: 'gateway', name: 'sima', currency: 'EUR', max_amount: 5000 }] }, logs.logger);
    const { service, ledger } = stack;
    const fallbacks = () => metricValue('pb_caps_decisions_total', { gateway: 'sima', result: 'fallback', limit: 'max_amount' });
    const before = await fallbacks();
    const id = await record(ledger, authorize({ amount: 12345 }));
    const lines = () => logs.lines.filter((l) => l.includes('transaction cap exceeded; falling back to the next route') && l.includes(id));
    openBreaker(stack, 'simb');
    // Over sima's cap, to simb, whose breaker is open (no candidate after it): a wait on each delivery, nothing counted.
    for (let i = 0; i < 3; i++) expect((await service.deliver(id)).kind).toBe('wait');
    expect([await fallbacks(), lines().length]).toEqual([before, 0]);
    service.breaker('simb').success();
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await ledger.get(id)).toMatchObject({ attempts: 1, routing: { gateway: 'simb' } });
    expect([await fallbacks(), lines().length]).toEqual([before + 1, 1]);
  });

  it("a failover refused by the next candidate's stages never fails a command another worker sent again meanwhile: left as it is, no FAIL event", async () => {
    const logs = captureLogger();
    // simB settles in EUR and no rate is configured: the failover to it is refused (FX_RATE_UNAVAILABLE), unsent.
    const { service, ledger, events } = setup({ 'fx.settlement_currencies': { simb: ['EUR'] } }, logs.logger);
    const id = await record(ledger, authorize({ currency: 'USD' }));
    const fx = (result: string) => metricValue('pb_fx_decisions_total', { gateway: 'simb', result, source: 'none' });
    const [refused, lost] = [await fx('refused'), await fx('refusal_lost')];
    // Between the failover's refusal and its FAIL, another worker (a stalled job run again) sends the command once more
    // (SENT to SENT, a second attempt, which may be at the PSP): the state this one read is still the state on record.
    const write = ledger.transitionAndRecord.bind(ledger);
    let raced = false;
    const race = jest.spyOn(ledger, 'transitionAndRecord').mockImplementation(async (...args) => {
      if (!raced && args[1] === 'FAILED') {
        raced = true;
        expect((await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true })).applied).toBe(true);
      }
      return write(...args);
    });
    try {
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SENT' });
    } finally {
      race.mockRestore();
    }
    expect(raced).toBe(true);
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, reason: undefined });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    const line = logs.lines.find((l) => l.includes('refusal not recorded: another worker moved the operation meanwhile') && l.includes(id));
    expect(line).toContain('"reason":"FX_RATE_UNAVAILABLE"');
    expect(line).toContain('"read_state":"SENT"');
    // The FX stage's own counter: a refusal that lost, never one that applied.
    expect(await fx('refused')).toBe(refused);
    expect(await fx('refusal_lost')).toBe(lost + 1);
  });

  it("a failover refused by the next candidate's stages after this worker's own attempt FAILs unsent: the attempt it counted is the one it read", async () => {
    const logs = captureLogger();
    // The first candidate (dead) is provably not sent; simB settles in EUR with no rate: the failover is refused.
    const { service, ledger, events } = setup({ 'fx.settlement_currencies': { simb: ['EUR'] } }, logs.logger);
    const id = await record(ledger, authorize({ currency: 'USD' }));
    const refused = await metricValue('pb_fx_decisions_total', { gateway: 'simb', result: 'refused', source: 'none' });
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', attempts: 1, reason: 'FX_RATE_UNAVAILABLE' });
    expect(await events.load(`${id}.FAILED`)).not.toBeNull();
    expect(logs.lines.some((l) => l.includes('refusal not recorded') && l.includes(id))).toBe(false);
    expect(await metricValue('pb_fx_decisions_total', { gateway: 'simb', result: 'refused', source: 'none' })).toBe(refused + 1);
  });

  it("a failover chain ending in a stage's refusal: the FAIL record and its event list every failover of the chain, the one into the refusing gateway too", async () => {
    // dead is provably not sent, simb's breaker is open, sima's cap refuses the amount: nothing went out anywhere.
    const stack = setup({
      'routing.rules': [{ name: 'three', when: { currencies: ['USD'] }, gateways: ['dead', 'simb', 'sima'] }],
      'caps.rules': [{ scope: 'gateway', name: 'sima', currency: 'USD', max_amount: 100 }],
    });
    const { service, ledger, events } = stack;
    openBreaker(stack, 'simb');
    const id = await record(ledger, authorize({ currency: 'USD', amount: 12345 }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    const failovers = [
      { from: 'dead', to: 'simb', trigger: 'not_sent' },
      { from: 'simb', to: 'sima', trigger: 'breaker_open' },
    ];
    expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', reason: 'CAP_EXCEEDED', routing: { gateway: 'sima', failovers } });
    expect((await events.load(`${id}.FAILED`))?.params.payment).toMatchObject({ status: 'FAIL', reason: 'CAP_EXCEEDED', routing: { failovers } });
  });

  /** Whether `gateway`'s one authorization a day in `currency` is taken (its cap counts one), as a checkout would see it. */
  async function capTaken(stack: DeliveryStack, gateway: string, currency: string): Promise<boolean> {
    const caps = new CapReservations(stack.redis, stack.config.redis.keyPrefix, stack.config.limits.caps.rules);
    const [refusal] = await caps.peek([{ gateway, account: 'default', amount: 100, currency }]);
    return refusal !== null;
  }

  it('a failover the next gateway refuses (its route refused) leaves no reservation there, in its own currency either: the cap counts where the record says', async () => {
    const logs = captureLogger('info');
    // simb settles in EUR: its reservation is in another currency than dead's. Its route is refused, as a gateway our configuration lost.
    const stack = setup(
      {
        'caps.rules': [{ scope: 'gateway', name: 'simb', currency: 'EUR', daily_count: 1 }],
        'fx.settlement_currencies': { simb: ['EUR'] },
        'fx.rates': [{ from: 'USD', to: 'EUR', rate: '0.9137', as_of: new Date().toISOString() }],
      },
      logs.logger,
      (real) => ({ route: (op) => (op.routing?.gateway === 'simb' ? { refused: 'UNKNOWN_GATEWAY' } : real.route(op)) }),
    );
    const aborted = () => metricValue('pb_caps_releases_total', { gateway: 'simb', why: 'abandoned' });
    const before = await aborted();
    const id = await record(stack.ledger, authorize({ currency: 'USD', amount: 12345 }));
    expect((await stack.service.deliver(id)).kind).toBe('retry');
    expect(await stack.ledger.get(id)).toMatchObject({ state: 'SENT', routing: { gateway: 'dead', index: 0 } });
    // Nothing went to simb: its one EUR authorization of the day is still free.
    expect(await capTaken(stack, 'simb', 'EUR')).toBe(false);
    expect(await aborted()).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('cap reservation released') && l.includes(id) && l.includes('"why":"abandoned"'))).toBe(true);
  });

  it("a worker killed between the next candidate's reservation and the move: the gateway on record keeps its reservation; the next run moves and gives it back once", async () => {
    const logs = captureLogger('info');
    const stack = setup(
      {
        'caps.rules': [
          { scope: 'gateway', name: 'dead', currency: 'USD', daily_count: 1 },
          { scope: 'gateway', name: 'simb', currency: 'USD', daily_count: 1 },
        ],
      },
      logs.logger,
    );
    const { service, ledger } = stack;
    const id = await record(ledger, authorize({ currency: 'USD' }));
    // dead's attempt is not sent and its failover waits behind simb's open breaker: that attempt's end is on record.
    openBreaker(stack, 'simb');
    expect((await service.deliver(id)).kind).toBe('wait');
    // Later, simb is back and dead's breaker open: the failover's attempt at simb is never recorded, the worker dies as
    // it writes it. (Killed in a failover from an attempt whose end is not on record, that attempt would stay maybe at
    // the PSP: no later pass would fail over from it.)
    service.breaker('simb').success();
    openBreaker(stack, 'dead');
    const write = ledger.transition.bind(ledger);
    let killed = false;
    const kill = jest.spyOn(ledger, 'transition').mockImplementation(async (...args) => {
      if (!killed && args[0] === id && args[1] === 'SENT' && (args[2] as { attempt?: number }).attempt === 2) {
        killed = true;
        throw new Error('worker killed');
      }
      return write(...args);
    });
    try {
      await expect(service.deliver(id)).rejects.toThrow('worker killed');
    } finally {
      kill.mockRestore();
    }
    // On record: dead, one attempt. Its reservation stands there; simb's waits for the move.
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1, routing: { gateway: 'dead', index: 0 } });
    expect(await capTaken(stack, 'dead', 'USD')).toBe(true);
    // The job runs again: dead's breaker is still open, the move to simb applies (its reservation found, not made
    // twice), and dead's is given back.
    const released = () => metricValue('pb_caps_releases_total', { gateway: 'dead', why: 'failover' });
    const before = await released();
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await ledger.get(id)).toMatchObject({ routing: { gateway: 'simb', index: 1 } });
    expect([await capTaken(stack, 'dead', 'USD'), await capTaken(stack, 'simb', 'USD')]).toEqual([false, true]);
    expect(await released()).toBe(before + 1);
  });

  it('delivered as the consumer delivers the record it just created: the failover in that pass gives back the gateway it left once the move is on record', async () => {
    const stack = setup({
      'caps.rules': [
        { scope: 'gateway', name: 'dead', currency: 'USD', daily_count: 1 },
        { scope: 'gateway', name: 'simb', currency: 'USD', daily_count: 1 },
      ],
    });
    const command = authorize({ currency: 'USD' });
    const id = command.payment.operation_reference!;
    const { record: created } = await stack.ledger.create(id, command);
    expect(created).toBeDefined();
    expect(await stack.service.deliver(created!)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(await stack.ledger.get(id)).toMatchObject({ routing: { gateway: 'simb', index: 1 } });
    expect([await capTaken(stack, 'dead', 'USD'), await capTaken(stack, 'simb', 'USD')]).toEqual([false, true]);
    // simb's reservation is under the operation's mark, naming its candidate, where a worker of the release before looks.
    expect(await stack.redis.get(`${stack.config.redis.keyPrefix}{caps:USD}:res:${id}`)).toMatch(/^1,.*=1=simb(,|$)/);
    expect(await stack.redis.exists(`${stack.config.redis.keyPrefix}{caps:USD}:res:${id}@simb`)).toBe(0);
  });

  it("a worker killed after the move, before the release of the gateway it left: the job's next run gives that one back", async () => {
    const stack = setup({
      'caps.rules': [
        { scope: 'gateway', name: 'dead', currency: 'USD', daily_count: 1 },
        { scope: 'gateway', name: 'simb', currency: 'USD', daily_count: 1 },
      ],
    });
    const { service, ledger } = stack;
    const id = await record(ledger, authorize({ currency: 'USD' }));
    // The move to simb and its attempt are on record; the worker dies before anything else (the PSP call included).
    const write = ledger.transition.bind(ledger);
    let killed = false;
    const kill = jest.spyOn(ledger, 'transition').mockImplementation(async (...args) => {
      const result = await write(...args);
      if (!killed && args[0] === id && args[1] === 'SENT' && (args[2] as { attempt?: number }).attempt === 2) {
        killed = true;
        throw new Error('worker killed');
      }
      return result;
    });
    try {
      await expect(service.deliver(id)).rejects.toThrow('worker killed');
    } finally {
      kill.mockRestore();
    }
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, routing: { gateway: 'simb', index: 1 } });
    // The job runs again (the recovery sweep, a stalled job): dead's reservation is given back before anything else.
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect([await capTaken(stack, 'dead', 'USD'), await capTaken(stack, 'simb', 'USD')]).toEqual([false, true]);
  });

  it('a failover whose request at the next gateway is refused while being built (nothing sent anywhere) ends FAILED, never UNRESOLVED, with its failover on record', async () => {
    const logs = captureLogger('info');
    const { service, ledger, events } = setup(
      {},
      logs.logger,
      changing('simb', (route) => ({
        ...route,
        transformer: Object.assign(Object.create(route.transformer) as typeof route.transformer, {
          buildRequest: () => {
            throw new RangeError('amount not representable at simb');
          },
        }),
      })),
    );
    const failovers = () => metricValue('pb_routing_failovers_total', { from: 'dead', to: 'simb', trigger: 'not_sent' });
    const before = (await failovers()) ?? 0;
    const id = await record(ledger, authorize({ currency: 'USD' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', attempts: 1, reason: 'COMMAND_REFUSED' });
    expect(await events.load(`${id}.FAILED`)).not.toBeNull();
    expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
    const history = await eventsOf(ledger, id);
    expect(history.slice(0, 3)).toEqual(['received', 'attempt', 'failover']);
    expect(history.filter((e) => e === 'failover')).toHaveLength(1);
    expect(await failovers()).toBe(before + 1);
    // Its warn line says simb refused it, nothing sent there: never that the operation was sent to simb.
    const lines = logs.lines.filter((l) => l.includes(id) && l.includes('"message":"failover: '));
    expect(lines).toEqual([expect.stringContaining('failover: the next candidate gateway refused the operation; nothing sent there')]);
    expect(lines[0]).toContain('"to":"simb"');
  });

  it('a failover whose request at the next gateway is refused while being built: the FAILED record, its history and its FAIL event all name that gateway (simb), not the one it left', async () => {
    const { service, ledger, events } = setup(
      {},
      undefined,
      changing('simb', (route) => ({
        ...route,
        transformer: Object.assign(Object.create(route.transformer) as typeof route.transformer, {
          buildRequest: () => {
            throw new RangeError('amount not representable at simb');
          },
        }),
      })),
    );
    const id = await record(ledger, authorize({ currency: 'USD' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    const op = await ledger.get(id);
    expect(op?.routing).toMatchObject({ gateway: 'simb', index: 1, failovers: [{ from: 'dead', to: 'simb', trigger: 'not_sent' }] });
    const failover = (await ledger.interactions(id)).find((h) => h.event === 'failover');
    expect(failover).toMatchObject({ from: 'dead', to: 'simb' });
    const payment = (await events.load(`${id}.FAILED`))!.params.payment as Record<string, unknown>;
    expect(payment).toMatchObject({ status: 'FAIL', reason: 'COMMAND_REFUSED', routing: { gateway: 'simb', failovers: [{ from: 'dead', to: 'simb' }] } });
  });

  it('a failover whose request at the next gateway is refused while being built, after another worker sent again meanwhile: no FAIL, no failover on record or counted', async () => {
    const stack = setup(
      {},
      undefined,
      changing('simb', (route) => ({
        ...route,
        transformer: Object.assign(Object.create(route.transformer) as typeof route.transformer, {
          buildRequest: () => {
            throw new RangeError('amount not representable at simb');
          },
        }),
      })),
    );
    const { service, ledger, events, pipeline } = stack;
    const failovers = () => metricValue('pb_routing_failovers_total', { from: 'dead', to: 'simb', trigger: 'not_sent' });
    const before = (await failovers()) ?? 0;
    const id = await record(ledger, authorize({ currency: 'USD' }));
    // As the failover to simb is decided, another worker (a stalled job run again) sends the operation once more.
    const decide = pipeline.failover.bind(pipeline);
    let raced = false;
    const race = jest.spyOn(pipeline, 'failover').mockImplementation(async (op, plan, now) => {
      const next = await decide(op, plan, now);
      if (!raced && op.id === id) {
        raced = true;
        expect((await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2, gateway: 'dead' }, { countAttempt: true })).applied).toBe(true);
      }
      return next;
    });
    try {
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SENT' });
    } finally {
      race.mockRestore();
    }
    expect(raced).toBe(true);
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, reason: undefined });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(await eventsOf(ledger, id)).toEqual(['received', 'attempt', 'attempt']);
    expect(await failovers()).toBe(before);
  });

  it('a failover whose request at the next gateway is refused while being built, after another worker sent again meanwhile: what its plan reserved there is given back', async () => {
    const stack = setup(
      { 'caps.rules': [{ scope: 'gateway', name: 'simb', currency: 'USD', daily_count: 1 }] },
      undefined,
      changing('simb', (route) => ({
        ...route,
        transformer: Object.assign(Object.create(route.transformer) as typeof route.transformer, {
          buildRequest: () => {
            throw new RangeError('amount not representable at simb');
          },
        }),
      })),
    );
    const { service, ledger, pipeline } = stack;
    const abandoned = async () => (await metricValue('pb_caps_releases_total', { gateway: 'simb', why: 'abandoned' })) ?? 0;
    const before = await abandoned();
    const id = await record(ledger, authorize({ currency: 'USD' }));
    // Once the failover to simb is decided (reserved there), another worker sends the operation once more at dead.
    const decide = pipeline.failover.bind(pipeline);
    let raced = false;
    const race = jest.spyOn(pipeline, 'failover').mockImplementation(async (op, plan, now) => {
      const next = await decide(op, plan, now);
      if (!raced && op.id === id) {
        raced = true;
        expect(await capTaken(stack, 'simb', 'USD')).toBe(true);
        expect((await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2, gateway: 'dead' }, { countAttempt: true })).applied).toBe(true);
      }
      return next;
    });
    try {
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SENT' });
    } finally {
      race.mockRestore();
    }
    expect(raced).toBe(true);
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, routing: { gateway: 'dead', index: 0 } });
    // Nothing of the refused failover is on record: simb's cap counts nothing for it.
    expect(await capTaken(stack, 'simb', 'USD')).toBe(false);
    expect(await abandoned()).toBe(before + 1);
  });

  it('a first plan whose request is refused while being built, after another worker sent the operation meanwhile: no FAIL, and what the plan reserved is given back', async () => {
    const stack = setup(
      { 'caps.rules': [{ scope: 'gateway', name: 'sima', currency: 'EUR', daily_count: 1 }] },
      undefined,
      changing('sima', (route) => ({
        ...route,
        transformer: Object.assign(Object.create(route.transformer) as typeof route.transformer, {
          buildRequest: () => {
            throw new RangeError('amount not representable at sima');
          },
        }),
      })),
    );
    const { service, ledger, pipeline, events } = stack;
    const id = await record(ledger, authorize());
    // Once this pass has planned sima (reserved there), another worker (a release routing it elsewhere) sends it at simb.
    const plan = pipeline.plan.bind(pipeline);
    let raced = false;
    const race = jest.spyOn(pipeline, 'plan').mockImplementation(async (op, now, pinned) => {
      const planned = await plan(op, now, pinned);
      if (!raced && op.id === id) {
        raced = true;
        expect(await capTaken(stack, 'sima', 'EUR')).toBe(true);
        expect((await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1, gateway: 'simb' }, { countAttempt: true })).applied).toBe(true);
      }
      return planned;
    });
    try {
      expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SENT' });
    } finally {
      race.mockRestore();
    }
    expect(raced).toBe(true);
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1 });
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(await capTaken(stack, 'sima', 'EUR')).toBe(false);
  });

  it("a failover that waits behind the next gateway's open breaker is made on a later pass (the attempt it left proven harmless), once that breaker closes", async () => {
    const stack = setup();
    const { service, ledger } = stack;
    openBreaker(stack, 'simb');
    const id = await record(ledger, authorize({ currency: 'USD' }));
    // dead is provably not sent; simb's breaker is open and no candidate follows it: the operation waits, at dead.
    expect((await service.deliver(id)).kind).toBe('wait');
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1, routing: { gateway: 'dead', index: 0 } });
    expect(effectsOf(simB, id)).toBe(0);
    // Later: simb is back, and dead's own breaker is open now. The attempt at dead is known to have done nothing: the
    // operation fails over to simb instead of waiting for dead.
    service.breaker('simb').success();
    openBreaker(stack, 'dead');
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simB.counters().effects[`${id}.failover1`]).toBe(1);
    expect(await ledger.get(id)).toMatchObject({ attempts: 2, routing: { gateway: 'simb', index: 1 } });
  });

  it('a failover chain through an open breaker to a third candidate records, counts and logs each step once its attempt is on record', async () => {
    const logs = captureLogger('info');
    const stack = setup({ 'routing.rules': [{ name: 'three', when: { currencies: ['USD'] }, gateways: ['dead', 'simb', 'sima'] }] }, logs.logger);
    const { service, ledger } = stack;
    openBreaker(stack, 'simb');
    const steps = () =>
      Promise.all([
        metricValue('pb_routing_failovers_total', { from: 'dead', to: 'simb', trigger: 'not_sent' }),
        metricValue('pb_routing_failovers_total', { from: 'simb', to: 'sima', trigger: 'breaker_open' }),
      ]);
    const before = (await steps()).map((n) => n ?? 0);
    const id = await record(ledger, authorize({ currency: 'USD' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simA.counters().effects[`${id}.failover2`]).toBe(1);
    expect(await eventsOf(ledger, id)).toEqual(['received', 'attempt', 'failover', 'failover', 'attempt', 'outcome']);
    expect(await ledger.get(id)).toMatchObject({
      attempts: 2,
      routing: {
        gateway: 'sima',
        index: 2,
        failovers: [
          { from: 'dead', to: 'simb' },
          { from: 'simb', to: 'sima' },
        ],
      },
    });
    expect(await steps()).toEqual([before[0] + 1, before[1] + 1]);
    expect(logs.lines.filter((l) => l.includes('failover: sending the operation to its next candidate gateway') && l.includes(id))).toHaveLength(2);
  });

  it("a failover whose attempt at the next gateway is declined and waits there records that attempt's end only, never a stale end of the attempt before it (no 'moved meanwhile' line)", async () => {
    const logs = captureLogger('info');
    const stack = setup({ 'routing.rules': [{ name: 'three', when: { currencies: ['USD'] }, gateways: ['dead', 'simb', 'sima'] }] }, logs.logger);
    const { service, ledger } = stack;
    // dead: provably not sent; simb declines "try elsewhere"; sima's breaker is open, nothing follows it: a wait at simb.
    openBreaker(stack, 'sima');
    const id = await record(ledger, authorize({ currency: 'USD', gateway_key: 'pm_insufficient_funds' }));
    expect((await service.deliver(id)).kind).toBe('wait');
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, routing: { gateway: 'simb', index: 1 } });
    const history = await ledger.interactions(id);
    expect(history.map((h) => h.event)).toEqual(['received', 'attempt', 'failover', 'attempt', 'attempt_ended']);
    expect(history[4]).toMatchObject({ trigger: 'declined', gateway: 'simb' });
    // Nothing raced: no line says the operation moved meanwhile.
    expect(logs.lines.filter((l) => l.includes(id) && l.includes('moved meanwhile'))).toEqual([]);
  });

  it('an attempt declined (a send_error) and failed over behind an open breaker is not read later as maybe at the PSP: past delivery.max_age_ms it FAILs, never UNRESOLVED', async () => {
    let shift = 0;
    const stack = setup(
      { 'delivery.max_age_ms': 60_000 },
      undefined,
      changing('sima', (route) => ({
        ...route,
        client: Object.assign(Object.create(route.client) as typeof route.client, {
          send: () => Promise.reject(new GatewayError('declined', 'sima', 'card declined', { httpStatus: 402, gatewayCode: 'insufficient_funds' })),
        }),
      })),
      () => Date.now() + shift,
    );
    const { service, ledger, events } = stack;
    openBreaker(stack, 'simb');
    const id = await record(ledger, authorize());
    // Declined at sima as "try elsewhere"; simb's breaker is open and nothing follows it: the operation waits.
    expect((await service.deliver(id)).kind).toBe('wait');
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 1, routing: { gateway: 'sima' } });
    // Two minutes on, past delivery.max_age_ms: its one attempt was declined, so it never reached the money.
    shift = 120_000;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', reason: 'UNRESPONSIVE' });
    expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
    expect(effectsOf(simB, id)).toBe(0);
  });

  it('two attempts under one key (a 5xx retried, then a timeout) that the status inquiry then missed are not read later as maybe at the PSP: past delivery.max_age_ms at the next gateway it FAILs, never UNRESOLVED', async () => {
    let shift = 0;
    const answers = [
      new GatewayError('server_error', 'sima', 'internal error', { httpStatus: 500 }),
      new GatewayError('outcome_unknown', 'sima', 'timed out', {}),
    ];
    // The payment request refused as `next` says; the status inquiry (a GET) goes to the simulator, which has no trace.
    const atSima = failing('sima', () => answers.shift() ?? new GatewayError('not_sent', 'sima', 'unexpected send', {}));
    const atSimb = failing('simb', () => new GatewayError('rate_limited', 'simb', 'too many requests', { httpStatus: 429 }));
    const { service, ledger, events } = setup(
      { 'delivery.max_age_ms': 60_000 },
      undefined,
      (real) => atSimb(atSima(real)),
      () => Date.now() + shift,
    );
    const id = await record(ledger, authorize());
    // A 5xx (retried under the same key), then a timeout: UNKNOWN.
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    // sima's status inquiry finds no trace of the key: both attempts proven absent, failed over to simb, refused there (429).
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(await eventsOf(ledger, id)).toEqual(['received', 'attempt', 'send_error', 'attempt', 'send_error', 'inquiry', 'failover', 'attempt', 'send_error']);
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 3, routing: { gateway: 'simb', index: 1 } });
    // Two minutes on, past delivery.max_age_ms: no attempt can have moved money.
    shift = 120_000;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(await ledger.get(id)).toMatchObject({ state: 'FAILED', reason: 'UNRESPONSIVE' });
    expect(await events.load(`${id}.UNRESOLVED`)).toBeNull();
  });

  it('a 5xx retried under one key whose retry was then declined "try elsewhere" fails over, but the 5xx attempt may still be at the first gateway: past delivery.max_age_ms UNRESOLVED, never FAILED', async () => {
    let shift = 0;
    const answers = [
      new GatewayError('server_error', 'sima', 'internal error', { httpStatus: 500 }),
      new GatewayError('declined', 'sima', 'card declined', { httpStatus: 402, gatewayCode: 'insufficient_funds' }),
    ];
    const atSima = failing('sima', () => answers.shift() ?? new GatewayError('not_sent', 'sima', 'unexpected send', {}));
    const atSimb = failing('simb', () => new GatewayError('rate_limited', 'simb', 'too many requests', { httpStatus: 429 }));
    const { service, ledger, events } = setup(
      { 'delivery.max_age_ms': 60_000 },
      undefined,
      (real) => atSimb(atSima(real)),
      () => Date.now() + shift,
    );
    const id = await record(ledger, authorize());
    // A 5xx (retried under the same key: the PSP may still act on it), then the retry is declined "try elsewhere":
    // failed over to simb on that decline, refused there (429).
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(await eventsOf(ledger, id)).toEqual(['received', 'attempt', 'send_error', 'attempt', 'failover', 'attempt', 'send_error']);
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 3, routing: { gateway: 'simb', index: 1 } });
    // Past delivery.max_age_ms: the failover proved the declined retry absent, never the 5xx before it.
    shift = 120_000;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(await ledger.get(id)).toMatchObject({ state: 'UNRESOLVED' });
    expect(await events.load(`${id}.UNRESOLVED`)).not.toBeNull();
  });

  it('a 5xx then a decline "try elsewhere" at a gateway whose resend is a new request (Cybersource-shaped: no idempotency key) is held: UNRESOLVED, never FAILED, never sent to simb', async () => {
    const logs = captureLogger('info');
    const answers = [
      new GatewayError('server_error', 'sima', 'internal error', { httpStatus: 500 }),
      new GatewayError('declined', 'sima', 'card declined', { httpStatus: 402, gatewayCode: 'insufficient_funds' }),
    ];
    const atSima = failing('sima', () => answers.shift() ?? new GatewayError('not_sent', 'sima', 'unexpected send', {}));
    // sima as a PSP that takes no idempotency key: a resend is a new request, its decline says nothing of the 5xx.
    const noKey = changing('sima', (route) => ({ ...route, transformer: { ...route.transformer, resendIsNewRequest: () => true } }));
    const { service, ledger, events } = setup({}, logs.logger, (real) => noKey(atSima(real)));
    const held = async () => (await metricValue('pb_routing_failovers_held_total', { gateway: 'sima', reason: 'decline_of_new_request' })) ?? 0;
    const heldBefore = await held();
    const requestsB = simB.counters().requests;
    const id = await record(ledger, authorize());
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(simB.counters().requests).toBe(requestsB);
    expect(await eventsOf(ledger, id)).toEqual(['received', 'attempt', 'send_error', 'attempt', 'attempt_ended', 'unresolved']);
    expect((await ledger.interactions(id))[4]).toMatchObject({ trigger: 'declined', gateway: 'sima', gateway_code: 'insufficient_funds', http_status: 402 });
    expect(await ledger.get(id)).toMatchObject({ state: 'UNRESOLVED', attempts: 2, routing: { gateway: 'sima', index: 0 } });
    expect(await events.load(`${id}.UNRESOLVED`)).not.toBeNull();
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(await held()).toBe(heldBefore + 1);
    const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('failover held back: declined'));
    expect(line).toMatchObject({ level: 'warn', operation_id: id, gateway: 'sima', reason: 'decline_of_new_request' });
  });

  it('a 5xx then a not-sent retry under the same key: never sent to simb (the 5xx may have landed at sima); retried at sima under that key, which resolves it: one authorization, at sima only', async () => {
    const logs = captureLogger('info');
    // sima's first payment request reaches it (and is authorized) but answers 500; the retry never leaves; then as is.
    let posts = 0;
    const { service, ledger } = setup(
      {},
      logs.logger,
      changing('sima', (route) => ({
        ...route,
        client: Object.assign(Object.create(route.client) as typeof route.client, {
          send: async (request: GatewayRequest) => {
            if (request.method === 'GET') return route.client.send(request);
            posts += 1;
            if (posts === 1) {
              await route.client.send(request);
              throw new GatewayError('server_error', 'sima', 'internal error', { httpStatus: 500 });
            }
            if (posts === 2) throw new GatewayError('not_sent', 'sima', 'connection refused', {});
            return route.client.send(request);
          },
        }),
      })),
    );
    const held = async () => (await metricValue('pb_routing_failovers_held_total', { gateway: 'sima', reason: 'earlier_attempt_may_have_landed' })) ?? 0;
    const heldBefore = await held();
    const requestsB = simB.counters().requests;
    const id = await record(ledger, authorize());
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(simA.counters().effects[id]).toBe(1);
    // The retry is not sent: the 5xx before it, under the same key, may be live at sima. It stays there.
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(simB.counters().requests).toBe(requestsB);
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, routing: { gateway: 'sima', index: 0 } });
    expect(await eventsOf(ledger, id)).toEqual(['received', 'attempt', 'send_error', 'attempt', 'send_error']);
    expect(await held()).toBe(heldBefore + 1);
    const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('failover held back'));
    expect(line).toMatchObject({ level: 'warn', operation_id: id, gateway: 'sima', command: 'authorize' });
    // The next retry at sima under the same key: the simulator answers for the 5xx attempt (its replay).
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simA.counters().effects[id]).toBe(1);
    expect(effectsOf(simB, id)).toBe(0);
    expect(simB.counters().requests).toBe(requestsB);
    expect(await eventsOf(ledger, id)).not.toContain('failover');
    expect(await ledger.get(id)).toMatchObject({ state: 'SUCCEEDED', attempts: 3, routing: { gateway: 'sima', index: 0 } });
  });

  it('a 5xx then not-sent retries that never reach sima: held there, past delivery.max_age_ms UNRESOLVED, never FAILED and never sent to simb', async () => {
    let shift = 0;
    let posts = 0;
    const { service, ledger, events } = setup(
      { 'delivery.max_age_ms': 60_000 },
      undefined,
      changing('sima', (route) => ({
        ...route,
        client: Object.assign(Object.create(route.client) as typeof route.client, {
          send: async (request: GatewayRequest) => {
            if (request.method === 'GET') return route.client.send(request);
            posts += 1;
            if (posts === 1) throw new GatewayError('server_error', 'sima', 'internal error', { httpStatus: 500 });
            throw new GatewayError('not_sent', 'sima', 'connection refused', {});
          },
        }),
      })),
      () => Date.now() + shift,
    );
    const requestsB = simB.counters().requests;
    const id = await record(ledger, authorize());
    expect((await service.deliver(id)).kind).toBe('retry');
    // Held: a retry after the backoff (no Retry-After of its own), at sima, never a failover.
    expect(await service.deliver(id)).toMatchObject({ kind: 'retry', reason: 'not_sent', retryAfterMs: undefined });
    expect(await ledger.get(id)).toMatchObject({ state: 'SENT', attempts: 2, routing: { gateway: 'sima', index: 0 } });
    // Past delivery.max_age_ms: the 5xx may be at sima, so the give-up is UNRESOLVED, never FAILED.
    shift = 120_000;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'UNRESOLVED' });
    expect(await events.load(`${id}.UNRESOLVED`)).not.toBeNull();
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(simB.counters().requests).toBe(requestsB);
    expect(await eventsOf(ledger, id)).not.toContain('failover');
    expect(posts).toBe(2);
  });

  it('a first attempt not sent still fails over at once, in the same delivery, with no failover held back', async () => {
    const { service, ledger } = setup(
      {},
      undefined,
      failing('sima', () => new GatewayError('not_sent', 'sima', 'connection refused', {})),
    );
    const held = async () => (await metricValue('pb_routing_failovers_held_total', { gateway: 'sima', reason: 'earlier_attempt_may_have_landed' })) ?? 0;
    const heldBefore = await held();
    const id = await record(ledger, authorize());
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simB.counters().effects[`${id}.failover1`]).toBe(1);
    expect(simA.counters().effects[id]).toBeUndefined();
    expect(await eventsOf(ledger, id)).toEqual(['received', 'attempt', 'failover', 'attempt', 'outcome']);
    expect((await ledger.get(id))?.routing?.failovers).toMatchObject([{ from: 'sima', to: 'simb', trigger: 'not_sent' }]);
    expect(await held()).toBe(heldBefore);
  });

  it('commit-then-timeout: never fails over while the first attempt may be live; its status inquiry finds the charge', async () => {
    const { service, ledger } = setup();
    simA.setFaults({ commitThenTimeoutRate: 1 });
    const id = await record(ledger, authorize());
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(simA.counters().effects[id]).toBe(1);
    simA.setFaults({});
    // Next delivery: ask A first; A did authorize, so that is the outcome. B is never called.
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(effectsOf(simB, id)).toBe(0);
    expect(simA.counters().effects[id]).toBe(1);
    expect((await ledger.get(id))?.routing).toMatchObject({ gateway: 'sima', index: 0 });
    expect(await eventsOf(ledger, id)).not.toContain('failover');
  });

  it('commit-then-timeout while A stays silent: waits (retries the inquiry), never calls B', async () => {
    const { service, ledger } = setup();
    const requestsB = simB.counters().requests;
    simA.setFaults({ commitThenTimeoutRate: 1 });
    const id = await record(ledger, authorize());
    expect((await service.deliver(id)).kind).toBe('retry');
    // A now answers nothing at all: the inquiry times out too.
    simA.setFaults({ timeoutRate: 1 });
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(simB.counters().requests).toBe(requestsB);
  });

  it('a timeout that did nothing: fails over only after A’s status inquiry shows no trace', async () => {
    const { service, ledger } = setup();
    simA.setFaults({ timeoutRate: 1 });
    const id = await record(ledger, authorize());
    expect((await service.deliver(id)).kind).toBe('retry');
    expect((await ledger.get(id))?.state).toBe('UNKNOWN');
    expect(effectsOf(simB, id)).toBe(0);
    simA.setFaults({});
    const inquiriesBefore = simA.counters().inquiries;
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simA.counters().inquiries).toBe(inquiriesBefore + 1);
    expect(simA.counters().effects[id]).toBeUndefined();
    expect(simB.counters().effects[`${id}.failover1`]).toBe(1);
    const history = await eventsOf(ledger, id);
    expect(history.indexOf('inquiry')).toBeLessThan(history.indexOf('failover'));
    expect((await ledger.get(id))?.routing?.failovers).toMatchObject([{ from: 'sima', to: 'simb', trigger: 'inquiry_not_found' }]);
  });

  it('moves on when the first gateway’s breaker is open, without calling it', async () => {
    const stack = setup();
    const { service, ledger } = stack;
    openBreaker(stack, 'sima');
    const requestsA = simA.counters().requests;
    const id = await record(ledger, authorize());
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simA.counters().requests).toBe(requestsA);
    expect(simB.counters().effects[`${id}.failover1`]).toBe(1);
    expect((await ledger.get(id))?.routing?.failovers).toMatchObject([{ from: 'sima', to: 'simb', trigger: 'breaker_open' }]);
  });

  it('moves on after a decline configured as "try elsewhere"; the next gateway’s answer is the outcome', async () => {
    const { service, ledger } = setup();
    const id = await record(ledger, authorize({ gateway_key: 'pm_insufficient_funds' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    // Both were asked (the simulators decline the same magic card), each once.
    expect(simA.counters().effects[id] ?? 0).toBeLessThanOrEqual(1);
    expect((await ledger.get(id))?.routing).toMatchObject({
      gateway: 'simb',
      failovers: [{ from: 'sima', to: 'simb', trigger: 'declined:insufficient_funds' }],
    });
    expect((await eventsOf(ledger, id)).filter((e) => e === 'attempt')).toHaveLength(2);
  });

  it('a decline not configured as "try elsewhere" fails at the first gateway', async () => {
    const { service, ledger } = setup();
    const requestsB = simB.counters().requests;
    const id = await record(ledger, authorize({ gateway_key: 'pm_card_declined' }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(simB.counters().requests).toBe(requestsB);
    expect(await eventsOf(ledger, id)).not.toContain('failover');
  });

  it('failover disabled: a not-sent request is retried at the same gateway', async () => {
    const { service, ledger } = setup({ 'routing.failover.enabled': false });
    const id = await record(ledger, authorize({ currency: 'USD' }));
    expect((await service.deliver(id)).kind).toBe('retry');
    expect(effectsOf(simB, id)).toBe(0);
    expect(await eventsOf(ledger, id)).not.toContain('failover');
  });

  it('a capture goes to the gateway that holds the authorization, whatever the command names', async () => {
    const { service, ledger } = setup({ 'routing.rules': [{ name: 'eur-to-b', when: { commands: ['authorize'], currencies: ['EUR'] }, gateways: ['simb'] }] });
    const authId = await record(ledger, authorize({ order_id: 'ORD-ROUTED' }));
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const captureId = await record(ledger, channelCommand('capture', {}, { gateway: 'sima', gateway_key: authId, currency: 'EUR', order_id: 'ORD-ROUTED' }));
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simB.counters().effects[captureId]).toBe(1);
    expect(simA.counters().effects[captureId]).toBeUndefined();
    expect((await ledger.get(captureId))?.routing).toMatchObject({ gateway: 'simb', requested: 'sima' });
  });
});

describe('follow-up commands by PSP reference of a failed-over authorization', () => {
  /** An authorization named to sima that failed over to simb (breaker open at sima): SUCCEEDED at simb. */
  async function failedOverAuthorization(orderId: string): Promise<{ service: DeliveryService; ledger: Ledger; authId: string; reference: string }> {
    const stack = setup();
    const { service, ledger } = stack;
    openBreaker(stack, 'sima');
    const authId = await record(ledger, authorize({ order_id: orderId }));
    expect(await service.deliver(authId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const auth = await ledger.get(authId);
    expect(auth?.routing).toMatchObject({ gateway: 'simb', requested: 'sima', failovers: [{ from: 'sima', to: 'simb' }] });
    const reference = auth?.gatewayReference;
    expect(reference).toBeDefined();
    // sima is back: a follow-up must still go to simb, where the authorization is.
    service.breaker('sima').success();
    return { service, ledger, authId, reference: reference! };
  }

  it.each(['sima', 'simb'])('a capture naming the PSP reference (payment.gateway %s) goes to simb, which holds it, and closes it', async (named) => {
    const { service, ledger, authId, reference } = await failedOverAuthorization(`ORD-FO-CAP-${named}`);
    const requestsA = simA.counters().requests;
    const captureId = await record(
      ledger,
      channelCommand('capture', {}, { gateway: named, gateway_key: reference, currency: 'EUR', order_id: `ORD-FO-CAP-${named}` }),
    );
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simB.counters().effects[captureId]).toBe(1);
    expect(simA.counters().requests).toBe(requestsA);
    expect((await ledger.get(captureId))?.routing).toMatchObject({ gateway: 'simb', requested: named });
    expect((await ledger.get(authId))?.closedBy).toBe(captureId);
  });

  it('a cancel naming the PSP reference goes to simb', async () => {
    const { service, ledger, authId, reference } = await failedOverAuthorization('ORD-FO-CANCEL');
    const cancelId = await record(
      ledger,
      channelCommand('cancel', {}, { gateway: 'sima', gateway_key: reference, currency: 'EUR', order_id: 'ORD-FO-CANCEL' }),
    );
    expect(await service.deliver(cancelId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simB.counters().effects[cancelId]).toBe(1);
    expect(simA.counters().effects[cancelId]).toBeUndefined();
    expect((await ledger.get(authId))?.closedBy).toBe(cancelId);
  });

  it('a refund naming the PSP reference is checked against the authorization at simb and goes there', async () => {
    const { service, ledger, reference } = await failedOverAuthorization('ORD-FO-REFUND');
    const captureId = await record(
      ledger,
      channelCommand('capture', {}, { gateway: 'sima', gateway_key: reference, currency: 'EUR', order_id: 'ORD-FO-REFUND' }),
    );
    expect(await service.deliver(captureId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    const captured = (await ledger.get(captureId))!.payment.amount;
    // Above what was captured: refused against the authorization found at simb, never sent.
    const over = await record(
      ledger,
      channelCommand('refund', {}, { gateway: 'sima', gateway_key: reference, currency: 'EUR', order_id: 'ORD-FO-REFUND', amount: captured + 1 }),
    );
    expect(await service.deliver(over)).toEqual({ kind: 'done', state: 'FAILED' });
    expect((await ledger.get(over))?.reason).toBe('amount_exceeds_captured');
    const refundId = await record(
      ledger,
      channelCommand('refund', {}, { gateway: 'sima', gateway_key: reference, currency: 'EUR', order_id: 'ORD-FO-REFUND' }),
    );
    expect(await service.deliver(refundId)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simB.counters().effects[refundId]).toBe(1);
    expect(simA.counters().effects[refundId]).toBeUndefined();
  });
});

describe('method data bound to one PSP account: a card token simA issued (tok_…) is never sent to simB', () => {
  /** A card token simA stores in its own process (`POST /v1/tokens`): simB has never heard of it. */
  async function tokenAtA(): Promise<string> {
    const res = await fetch(`${simA.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json', 'idempotency-key': `tok-${Date.now()}-${Math.random()}` },
      body: JSON.stringify({ payment_method: 'pm_card_visa', reference: 'method-binding' }),
    });
    const token = ((await res.json()) as { id?: string }).id;
    expect(token).toMatch(/^tok_/);
    return token!;
  }

  it('the route stage drops simB: with simA down the payment waits for simA, simB is never called', async () => {
    const logs = captureLogger('info');
    const stack = setup({}, logs.logger);
    const { service, ledger } = stack;
    const droppedBefore = (await metricValue('pb_routing_candidates_dropped_total', { step: 'route', reason: 'method_bound', gateway: 'simb' })) ?? 0;
    openBreaker(stack, 'sima');
    const requestsB = simB.counters().requests;
    const id = await record(ledger, authorize({ gateway_key: await tokenAtA() }));
    expect(await service.deliver(id)).toMatchObject({ kind: 'wait', reason: 'circuit open for sima' });
    expect(simB.counters().requests).toBe(requestsB);
    expect(await eventsOf(ledger, id)).not.toContain('failover');
    // Sent once simA is back, with the route that left simB out on record.
    service.breaker('sima').success();
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'SUCCEEDED' });
    expect(simA.counters().effects[id]).toBe(1);
    const op = await ledger.get(id);
    expect(op?.routing).toMatchObject({
      gateway: 'sima',
      candidates: ['sima'],
      decisions: [{ stage: 'route', reasons: ['rule:a-then-b', 'method_bound:simb'] }],
    });
    expect(await metricValue('pb_routing_candidates_dropped_total', { step: 'route', reason: 'method_bound', gateway: 'simb' })).toBe(droppedBefore + 1);
    const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('route: candidates dropped'));
    expect(line).toMatchObject({ level: 'info', operation_id: id, gateway: 'sima', dropped: ['simb'], candidates: ['sima'] });
  });

  it('a rule that leaves only simB: FAILED unsent, the OMS event naming payment.gateway_key', async () => {
    const { service, ledger, events } = setup({ 'routing.rules': [{ name: 'to-b', when: { commands: ['authorize'] }, gateways: ['simb'] }] });
    const token = await tokenAtA();
    const requestsA = simA.counters().requests;
    const requestsB = simB.counters().requests;
    const id = await record(ledger, authorize({ gateway_key: token }));
    expect(await service.deliver(id)).toEqual({ kind: 'done', state: 'FAILED' });
    expect(simA.counters().requests).toBe(requestsA);
    expect(simB.counters().requests).toBe(requestsB);
    expect(await ledger.get(id)).toMatchObject({ reason: 'METHOD_BOUND_TO_GATEWAY', reasonField: 'payment.gateway_key' });
    const event = await events.load(`${id}.FAILED`);
    expect(event?.params.payment).toMatchObject({ status: 'FAIL', reason: 'METHOD_BOUND_TO_GATEWAY', field: 'payment.gateway_key' });
  });

  it('failover on a route recorded before (simB still a candidate) skips simB: no candidate left, it waits as without one', async () => {
    const stack = setup();
    const { service, ledger } = stack;
    const skippedBefore = (await metricValue('pb_routing_candidates_dropped_total', { step: 'failover', reason: 'method_bound', gateway: 'simb' })) ?? 0;
    openBreaker(stack, 'sima');
    const requestsB = simB.counters().requests;
    const command = authorize({ gateway_key: await tokenAtA() });
    const id = command.payment.operation_reference!;
    const candidates = ['sima', 'simb'];
    await ledger.create(id, command, Date.now(), undefined, {
      routing: {
        gateway: 'sima',
        requested: 'sima',
        candidates,
        index: 0,
        rule: 'a-then-b',
        decisions: [{ stage: 'route', outcome: 'routed', reasons: ['rule:a-then-b'], candidates }],
      },
    });
    expect(await service.deliver(id)).toMatchObject({ kind: 'wait', reason: 'circuit open for sima' });
    expect(simB.counters().requests).toBe(requestsB);
    expect(await eventsOf(ledger, id)).not.toContain('failover');
    expect((await ledger.get(id))?.routing).toMatchObject({ gateway: 'sima', index: 0 });
    expect(await metricValue('pb_routing_candidates_dropped_total', { step: 'failover', reason: 'method_bound', gateway: 'simb' })).toBe(skippedBefore + 1);
  });
});
