/**
 * The whole flow on real processes: the bus twin and the PSP simulator in this process, the bridge's
 * `web` and `worker` roles as child processes of the built CLI, on the real RabbitMQ and Redis. Each test
 * plays a small workload under one kind of trouble and checks the flow invariants (every accepted command
 * reported as planned, in order per payment, nothing charged twice).
 */
import { sendSignedCommand } from '../../harness/twins/bus-twin/signed-command-sender';
import { LocalStack, startLocalStack } from '../../harness/twins/local-stack/local-stack';
import { ChannelPublisher } from '../../harness/workload/channel-publisher';
import { FlowCheck, checkFlow } from '../../harness/workload/flow-checks';
import { PaymentScenario, SCENARIO_KINDS, buildScenarios } from '../../harness/workload/payment-scenarios';
import { StepRecord, runWorkload } from '../../harness/workload/workload-driver';
import { eventually } from '../support/tcp-proxy';
import { testNamespace } from '../support/test-config';
import { RedisClient } from '../../src/redis/redis-connection';
import { Interaction, Ledger } from '../../src/ledger/ledger';
import { testRedis } from '../support/test-redis';
import { networkTransactionIdOf as simulatorNetworkTransactionId } from '../../harness/twins/psp-simulator/simulator-state';

jest.setTimeout(120_000);

let stack: LocalStack;
let publisher: ChannelPublisher;
let round = 0;
let redis: RedisClient;
/** The bridge's ledger, read to see what happened to each operation (its history). */
let ledger: Ledger;

beforeAll(async () => {
  stack = await startLocalStack({
    namespace: testNamespace(),
    workers: 2,
    simulator: { seed: 7 },
    parameters: {
      'log.level': 'info',
      'delivery.backoff_base_ms': 100,
      'delivery.backoff_max_ms': 1000,
      'delivery.breaker_open_ms': 300,
      'events.backoff_base_ms': 100,
      'events.backoff_max_ms': 1000,
      'poller.schedule_ms': [500, 1000, 2000, 4000, 8000],
      'poller.in_process_interval_ms': 500,
    },
  });
  publisher = await ChannelPublisher.open(stack.config);
  redis = testRedis(stack.config);
  ledger = new Ledger(redis, stack.config.redis.keyPrefix);
});

afterAll(async () => {
  redis?.disconnect();
  await publisher?.close();
  await stack?.stop({ purge: true });
});

afterEach(() => {
  stack.simulator.setFaults({});
  stack.simulator.setDown(false);
  stack.busTwin.setDelegateDown(false);
});

/** One scenario of each kind (or `count` seeded ones), with order ids unique to this round. */
function workload(count: number = SCENARIO_KINDS.length): PaymentScenario[] {
  round += 1;
  if (count === SCENARIO_KINDS.length) {
    return SCENARIO_KINDS.map((kind, i) => ({ ...buildScenarios(1, { seed: i, runId: `r${round}k${i}`, mix: only(kind) })[0] }));
  }
  return buildScenarios(count, { seed: round, runId: `r${round}` });
}

function only(kind: (typeof SCENARIO_KINDS)[number]): Record<(typeof SCENARIO_KINDS)[number], number> {
  return Object.fromEntries(SCENARIO_KINDS.map((k) => [k, k === kind ? 1 : 0])) as Record<(typeof SCENARIO_KINDS)[number], number>;
}

async function play(scenarios: PaymentScenario[], onStep?: (r: StepRecord) => void): Promise<{ records: StepRecord[]; checks: FlowCheck[] }> {
  const records = await runWorkload(
    scenarios,
    {
      config: stack.config,
      sendBus: (method, params, id) => sendSignedCommand({ url: stack.intakeUrl, secret: stack.busSecret, method, params, id }),
      publisher,
      notifications: () => stack.busTwin.notifications,
    },
    { concurrency: 50, stepTimeoutMs: 60_000, onStep },
  );
  const counters = await stack.simulator.counters();
  return { records, checks: checkFlow({ records, notifications: stack.busTwin.notifications, maxEffectsPerKey: counters.maxEffectsPerKey }) };
}

function expectAllHeld(checks: FlowCheck[]): void {
  expect(checks.filter((c) => !c.ok)).toEqual([]);
}

/** The ledger history of every operation the workload sent, by operation id. */
async function histories(records: StepRecord[]): Promise<Map<string, Interaction[]>> {
  const ids = [...new Set(records.map((r) => r.operationId))];
  return new Map(await Promise.all(ids.map(async (id) => [id, await ledger.interactions(id)] as const)));
}

describe('the payment flow end to end', () => {
  it('carries every command type from its channel to the PSP and reports each outcome to the bus', async () => {
    const { records, checks } = await play(workload());
    expectAllHeld(checks);
    expect(new Set(records.map((r) => r.command))).toEqual(new Set(['authorize', 'capture', 'refund', 'cancel', 'sale', 'validate', 'revalidate', 'tokenize']));
    expect(new Set(records.map((r) => r.channel))).toEqual(new Set(['web', 'pos', 'marketplace', 'bus']));
    expect(
      records
        .filter((r) => r.status === 'FAIL')
        .map((r) => r.command)
        .sort(),
    ).toEqual(['authorize', 'capture']);
  });

  it("reports the network transaction id of a successful authorization or sale whole, as the PSP's answer named it", async () => {
    const { records, checks } = await play(workload());
    expectAllHeld(checks);
    const paid = records.filter((r) => (r.command === 'authorize' || r.command === 'sale') && r.status === 'SUCCESS');
    const outcomes = await histories(paid);
    let answered = 0;
    for (const record of paid) {
      const event = stack.busTwin.notifications
        .map((n) => (n.params as { payment?: Record<string, unknown> }).payment ?? {})
        .find((p) => p.operation_reference === record.operationId && p.status === 'SUCCESS');
      const reference = (event?.gateway_response as { reference?: string } | undefined)?.reference ?? '?';
      const settled = outcomes.get(record.operationId)?.find((e) => e.event === 'outcome' && e.to === 'SUCCEEDED');
      // The simulator's id (15 digits, about one in ten Luhn-valid: what a card scan would take for a card number),
      // unmasked, on the event and in the history (whose redaction masks card-like digits under any other name). A
      // success its webhook settled (an async or 3-D Secure one) has none: the webhook's outcome does not carry it,
      // and none is invented.
      const expected = settled?.source === 'webhook' ? undefined : simulatorNetworkTransactionId(reference);
      if (expected !== undefined) answered += 1;
      expect({ id: record.operationId, event: event?.network_transaction_id, history: settled?.network_transaction_id }).toEqual({
        id: record.operationId,
        event: expected,
        history: expected,
      });
    }
    expect(answered).toBeGreaterThan(0);
  });

  it('sends the refund PENDINGRELEASE notice before the refund outcome', async () => {
    const { records } = await play(workload());
    const refund = records.find((r) => r.command === 'refund');
    expect(refund?.status).toBe('SUCCESS');
    const forRefund = stack.busTwin.notifications.filter((n) => JSON.stringify(n.params).includes(refund?.operationId ?? '?'));
    expect(forRefund.map((n) => n.method)).toEqual([
      stack.config.serviceBus.methods.notifications.refund_updated,
      stack.config.serviceBus.methods.notifications.refunded,
    ]);
  });

  it('delivers everything exactly once through 5xx, 429 and connection resets', async () => {
    stack.simulator.setFaults({ error5xxRate: 0.3, rateLimitRate: 0.15, resetRate: 0.1 });
    expectAllHeld((await play(workload(30))).checks);
  });

  it('resolves commit-then-timeout by a status inquiry, never by a second charge', async () => {
    stack.simulator.setFaults({ commitThenTimeoutRate: 0.4 });
    const before = await stack.simulator.counters();
    const { records, checks } = await play(workload(20));
    expectAllHeld(checks);
    const after = await stack.simulator.counters();
    expect(after.maxEffectsPerKey).toBe(1);
    // The fault struck: operations ran at the PSP whose answers never came, and the bridge asked about them.
    expect(after.unansweredCommits).toBeGreaterThan(before.unansweredCommits);
    expect(after.inquiries).toBeGreaterThan(before.inquiries);
    // Every operation left without an answer was settled by what the PSP said about it (inquiry, poll or
    // webhook), or sent again only after an inquiry found no trace of it (a read such as validate leaves
    // none); at least one was settled by a status inquiry. A validate the fault struck on every resend until
    // its poll schedule ran out is reported UNRESOLVED instead (the flow checks allow that for validate only).
    const unanswered = [...(await histories(records.filter((r) => r.status !== 'UNRESOLVED')))].filter(([, h]) =>
      h.some((e) => e.event === 'send_error' && e.kind === 'outcome_unknown'),
    );
    expect(unanswered.length).toBeGreaterThan(0);
    for (const [id, history] of unanswered) {
      const after = history.slice(history.findIndex((e) => e.event === 'send_error' && e.kind === 'outcome_unknown'));
      const settledAt = after.findIndex((e) => e.event === 'outcome');
      const source = after[settledAt]?.source;
      const askedFirst = after.slice(0, settledAt).some((e) => e.event === 'inquiry' && e.found === false);
      expect({ id, source, askedFirst: source === 'response' ? askedFirst : true }).toEqual({
        id,
        source: expect.stringMatching(/^(inquiry|poller|webhook|response)$/),
        askedFirst: true,
      });
    }
    expect(unanswered.some(([, h]) => h.some((e) => e.event === 'outcome' && (e.source === 'inquiry' || e.source === 'poller')))).toBe(true);
  });

  it('survives timeouts with no effect, and duplicate and out-of-order webhooks', async () => {
    stack.simulator.setFaults({ timeoutRate: 0.1, duplicateWebhookRate: 1, outOfOrderWebhooks: true });
    expectAllHeld((await play(workload(20))).checks);
  });

  it('rides out a PSP outage and delivers everything once it is back', async () => {
    const before = await stack.simulator.counters();
    stack.simulator.setDown('503');
    const playing = play(workload(20));
    await new Promise((r) => setTimeout(r, 2000));
    // Down until it has refused a call of this workload (the only traffic now): on a loaded machine its first
    // calls can come after the 2 s, and the outage then happened to nothing the test asserts about.
    await eventually(async () => (await stack.simulator.counters()).outageRefusals > before.outageRefusals, 30_000, 100);
    stack.simulator.setDown(false);
    const { records, checks } = await playing;
    expectAllHeld(checks);
    // The outage happened to this workload: the PSP refused its calls, and operations of it recorded the
    // 503 as a retryable error, then still reached the PSP's answer.
    expect((await stack.simulator.counters()).outageRefusals).toBeGreaterThan(before.outageRefusals);
    const refused = [...(await histories(records))].filter(([, h]) =>
      h.some((e) => e.event === 'send_error' && e.http_status === 503 && e.kind === 'server_error'),
    );
    expect(refused.length).toBeGreaterThan(0);
    for (const [id, history] of refused) {
      const last503 = history.map((e) => e.event === 'send_error' && e.http_status === 503).lastIndexOf(true);
      expect({ id, answered: history.slice(last503).some((e) => e.event === 'outcome') }).toEqual({ id, answered: true });
    }
  });

  it('holds events while the bus delegate is down and delivers them in order when it is back', async () => {
    stack.busTwin.setDelegateDown(true);
    const playing = play(workload(15));
    await new Promise((r) => setTimeout(r, 2000));
    stack.busTwin.setDelegateDown(false);
    expectAllHeld((await playing).checks);
  });

  it('loses nothing when a worker is killed with SIGKILL mid-batch', async () => {
    let replacement: Promise<unknown> | undefined;
    const playing = play(workload(40), () => {
      replacement ??= stack.workers[0].kill('SIGKILL').then(() => stack.startWorker());
    });
    expectAllHeld((await playing).checks);
    expect(replacement).toBeDefined();
    // The replacement must come up too, even if the survivor already finished the work.
    await replacement;
  });

  it('runs a poll pass from the CLI and reports what it did', async () => {
    const result = await stack.runCli(['poll', '--once']);
    expect(result.code).toBe(0);
    expect(result.output).toMatch(/"due":\d+|another poll run is in progress/);
  });
});
