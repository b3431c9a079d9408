import { FxStage } from '../../../src/orchestration/fx-stage';
import { RiskStage } from '../../../src/orchestration/risk-stage';
import { OrchestrationPipeline } from '../../../src/orchestration/orchestration-pipeline';
import { OperationRecord } from '../../../src/ledger/ledger';
import { OrchestrationPlan, StageInput, StageResult } from '../../../src/orchestration/orchestration-stage';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { GatewayError } from '../../../src/errors/gateway-error';
import { testConfig } from '../../support/test-config';
import { captureLogger } from '../../support/capture-logger';

/**
 * A stage's own counter counts a refusal once its caller knows its fate (`tally`): on record as refused, lost to another
 * worker's move as `refusal_lost`; never when the stage decides it (a stale read's refusal, or the fast path's that the
 * plain path decides again).
 */
const NOW = Date.parse('2026-03-01T12:00:00Z');
const config = testConfig({
  'fx.settlement_currencies': { sim: ['EUR'] },
  'risk.rules': [{ name: 'big-decline', when: ['high_amount'], action: 'decline' }],
  'risk.amount_thresholds': { CHF: 100000 },
  gateways: { sim: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'k-0123456789', webhook_secret: 'whsec-0123456789abcdef' } },
});

function input(amount: number, currency: string): StageInput {
  const payment = { gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_1', amount, currency };
  const op = {
    id: 'op-1',
    command: 'authorize',
    channel: 'web',
    state: 'RECEIVED',
    payment,
    receivedAt: NOW,
    createdAt: NOW,
    updatedAt: NOW,
    attempts: 0,
  } as OperationRecord;
  const plan: OrchestrationPlan = { candidates: ['sim'], index: 0, payment, decisions: [] };
  return { op, plan, now: NOW };
}

function tallyOf(r: StageResult | undefined): (recorded: boolean) => void {
  if (r?.verdict !== 'refuse' || !r.tally) throw new Error(`no refusal to tally: ${JSON.stringify(r)}`);
  return r.tally;
}

test('a risk decline counts in pb_risk_decisions_total only once on record; one that lost counts as action refusal_lost', async () => {
  const stage = new RiskStage(config, undefined);
  const declined = () => metricValue('pb_risk_decisions_total', { action: 'decline', rule: 'big-decline' });
  const lost = () => metricValue('pb_risk_decisions_total', { action: 'refusal_lost', rule: 'big-decline' });
  const [before, lostBefore] = [await declined(), await lost()];
  const onRecord = tallyOf(await stage.decide(input(150000, 'CHF')));
  const stale = tallyOf(stage.decideNow(input(150000, 'CHF')));
  expect(await declined()).toBe(before);
  onRecord(true);
  stale(false);
  expect(await declined()).toBe(before + 1);
  expect(await lost()).toBe(lostBefore + 1);
  // What goes on is counted once its plan is used (its `count`), never as decided.
  const allowed = () => metricValue('pb_risk_decisions_total', { action: 'allow', rule: 'none' });
  const allowedBefore = await allowed();
  const goesOn = await stage.decide(input(1000, 'CHF'));
  if (goesOn.verdict !== 'continue' || !goesOn.count) throw new Error(`no decision to count: ${JSON.stringify(goesOn)}`);
  expect(await allowed()).toBe(allowedBefore);
  goesOn.count();
  expect(await allowed()).toBe(allowedBefore + 1);
});

test('a conversion refused counts in pb_fx_decisions_total only once on record; one that lost counts as result refusal_lost', async () => {
  const logs = captureLogger('info');
  const stage = new FxStage(config, new Map(), logs.logger, () => NOW);
  const refusedLines = () => logs.lines.filter((l) => l.includes('currency conversion refused'));
  const labels = { gateway: 'sim', source: 'none' };
  const refused = () => metricValue('pb_fx_decisions_total', { ...labels, result: 'refused' });
  const lost = () => metricValue('pb_fx_decisions_total', { ...labels, result: 'refusal_lost' });
  const [before, lostBefore] = [await refused(), await lost()];
  // No rate configured for USD into EUR: FX_RATE_UNAVAILABLE.
  const result = await stage.decide(input(12345, 'USD'));
  expect(result).toMatchObject({ verdict: 'refuse', reason: 'FX_RATE_UNAVAILABLE' });
  expect(await refused()).toBe(before);
  // Its line too, once on record: nothing for a refusal as decided, nor for one that lost.
  expect(refusedLines()).toEqual([]);
  tallyOf(await stage.decide(input(12345, 'USD')))(false);
  expect(refusedLines()).toEqual([]);
  tallyOf(result)(true);
  tallyOf(stage.decideNow(input(12345, 'USD')))(false);
  expect(await refused()).toBe(before + 1);
  expect(await lost()).toBe(lostBefore + 2);
  expect(refusedLines()).toHaveLength(1);
  expect(JSON.parse(refusedLines()[0])).toMatchObject({ level: 'warn', operation_id: 'op-1', reason: 'FX_RATE_UNAVAILABLE' });
});

test('a decision to go on counts only once its plan is used (count), on the fast path (planNow) and the plain path (plan) alike', async () => {
  const pipeline = new OrchestrationPipeline([new RiskStage(config, undefined), new FxStage(config, new Map(), undefined, () => NOW)]);
  const allowed = () => metricValue('pb_risk_decisions_total', { action: 'allow', rule: 'none' });
  const native = () => metricValue('pb_fx_decisions_total', { gateway: 'sim', result: 'native', source: 'none' });
  const [allowedBefore, nativeBefore] = [await allowed(), await native()];
  // The fast path plans it, then drops the plan (an open breaker, no route, a duplicate command): nothing counted.
  const fast = pipeline.planNow(input(1000, 'EUR').op, NOW);
  expect(fast?.kind).toBe('send');
  expect([await allowed(), await native()]).toEqual([allowedBefore, nativeBefore]);
  // The plain path plans it again, twice (a wait after each, behind an open breaker): nothing counted until one is used.
  expect((await pipeline.plan(input(1000, 'EUR').op, NOW)).kind).toBe('send');
  const plain = await pipeline.plan(input(1000, 'EUR').op, NOW);
  expect([await allowed(), await native()]).toEqual([allowedBefore, nativeBefore]);
  if (plain.kind !== 'send') throw new Error('not a plan to send');
  plain.count?.();
  expect([await allowed(), await native()]).toEqual([allowedBefore + 1, nativeBefore + 1]);
  // A fast path plan used: counted when its caller sends it.
  if (fast?.kind !== 'send') throw new Error('not a plan to send');
  fast.count?.();
  expect([await allowed(), await native()]).toEqual([allowedBefore + 2, nativeBefore + 2]);
});

test("a plan that waits (the gateway's rates out of reach) counts nothing of what the stages before it decided: it is decided again", async () => {
  const stripeConfig = testConfig({
    'fx.settlement_currencies': { stripe: ['EUR'] },
    'risk.rules': [{ name: 'never-waits', when: ['high_amount'], action: 'decline' }],
    'risk.amount_thresholds': { USD: 10_000_000 },
    gateways: { stripe: { type: 'stripe', base_url: 'http://127.0.0.1:1', api_key: 'sk_test_0123456789', webhook_secret: 'whsec_0123456789abcdefghij' } },
  });
  const client = {
    send: async (): Promise<never> => {
      throw new GatewayError('not_sent', 'stripe', 'connect ECONNREFUSED');
    },
  };
  const pipeline = new OrchestrationPipeline([
    new RiskStage(stripeConfig, undefined),
    new FxStage(stripeConfig, new Map([['stripe', { type: 'stripe', client }]]), undefined, () => NOW),
  ]);
  const allowed = () => metricValue('pb_risk_decisions_total', { action: 'allow', rule: 'none' });
  const before = await allowed();
  const base = input(12345, 'USD');
  const payment = { ...base.op.payment, gateway: 'stripe' };
  for (let i = 0; i < 3; i++) expect(await pipeline.plan({ ...base.op, payment }, NOW)).toMatchObject({ kind: 'wait' });
  expect(await allowed()).toBe(before);
});
