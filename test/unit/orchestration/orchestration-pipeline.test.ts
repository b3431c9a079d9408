import { Config } from '../../../src/config/config';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { draftRecord } from '../../../src/ledger/record-fields';
import { OperationRecord } from '../../../src/ledger/ledger';
import { OrchestrationStage, StageInput, StageResult } from '../../../src/orchestration/orchestration-stage';
import { buildOrchestrationPipeline } from '../../../src/orchestration/orchestration-stages';
import { routingRecordOf } from '../../../src/orchestration/orchestration-pipeline';
import { gatewayOf, routedPayment, routingEventField } from '../../../src/ledger/routing-record';
import { outcomeEvent } from '../../../src/events/payment-event';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const GATEWAYS = {
  a: { type: 'simulator', base_url: 'http://127.0.0.1:9', api_key: 'sim-a-key-0123456789', webhook_secret: 'whsec-a-test-0123456789' },
  b: { type: 'simulator', base_url: 'http://127.0.0.1:9', api_key: 'sim-b-key-0123456789', webhook_secret: 'whsec-b-test-0123456789' },
  // The same simulator process and key as `a`: one vault (a token `a` issued is usable here).
  a2: { type: 'simulator', base_url: 'http://127.0.0.1:9', api_key: 'sim-a-key-0123456789', webhook_secret: 'whsec-a2-test-0123456789' },
};

function config(overrides: Record<string, unknown> = {}): Config {
  return testConfig({ gateways: GATEWAYS, ...overrides });
}

function op(command: PaymentCommand = channelCommand('authorize', {}, { gateway: 'a', operation_reference: 'op-1' })): OperationRecord {
  return draftRecord('op-1', command, NOW);
}

/** A stage the way the limits stages plug in: async only, records one decision, counts releases. */
class CountingStage implements OrchestrationStage {
  released: string[] = [];
  constructor(
    readonly name: 'risk' | 'fx' | 'caps',
    private readonly answer: (input: StageInput) => StageResult,
    private readonly on = true,
  ) {}
  active(): boolean {
    return this.on;
  }
  decide(input: StageInput): Promise<StageResult> {
    return Promise.resolve(this.answer(input));
  }
  release(_op: OperationRecord, plan: { candidates: string[]; index: number }, why: string): Promise<void> {
    this.released.push(`${plan.candidates[plan.index]}:${why}`);
    return Promise.resolve();
  }
  settled(_op: OperationRecord, plan: { candidates: string[]; index: number }): Promise<void> {
    this.released.push(`${plan.candidates[plan.index]}:settled`);
    return Promise.resolve();
  }
}

const allow =
  (name: 'risk' | 'fx' | 'caps') =>
  (input: StageInput): StageResult => ({
    verdict: 'continue',
    decision: { stage: name, outcome: 'allowed', reasons: [`${name}:ok:${input.plan.candidates[input.plan.index]}`] },
    plan: input.plan,
  });

describe('orchestration pipeline', () => {
  test('nothing configured: inactive, the plan is payment.gateway with no decision (the fast path records nothing)', () => {
    const pipeline = buildOrchestrationPipeline({ config: config() });
    expect(pipeline.active).toBe(false);
    expect(pipeline.stageNames).toEqual(['route']);
    const result = pipeline.planNow(op(), NOW);
    expect(result).toMatchObject({ kind: 'send', plan: { candidates: ['a'], index: 0, decisions: [] } });
  });

  test('a routing rule decides on the fast path, recorded with its evaluated rules', () => {
    const pipeline = buildOrchestrationPipeline({
      config: config({ 'routing.rules': [{ name: 'to-b', when: { currencies: ['EUR'] }, gateways: ['b', 'a'] }] }),
    });
    const result = pipeline.planNow(op(), NOW);
    expect(result?.kind).toBe('send');
    if (result?.kind !== 'send') return;
    expect(result.plan.candidates).toEqual(['b', 'a']);
    expect(result.plan.payment.gateway).toBe('b');
    expect(result.plan.decisions).toEqual([
      { stage: 'route', outcome: 'routed', reasons: ['rule:to-b'], rules: [{ rule: 'to-b', matched: true }], candidates: ['b', 'a'] },
    ]);
  });

  test('an active stage with no decideNow sends the command to the plain path (planNow undefined)', async () => {
    const caps = new CountingStage('caps', allow('caps'));
    const pipeline = buildOrchestrationPipeline({ config: config() }, [caps]);
    expect(pipeline.active).toBe(true);
    expect(pipeline.planNow(op(), NOW)).toBeUndefined();
    const result = await pipeline.plan(op(), NOW);
    expect(result).toMatchObject({ kind: 'send', plan: { decisions: [{ stage: 'caps', outcome: 'allowed' }] } });
  });

  test('stages run in route ▸ risk ▸ fx ▸ caps order whatever order they are given in', async () => {
    const pipeline = buildOrchestrationPipeline({ config: config({ 'routing.rules': [{ name: 'r', gateways: ['a'] }] }) }, [
      new CountingStage('caps', allow('caps')),
      new CountingStage('fx', allow('fx')),
      new CountingStage('risk', allow('risk')),
    ]);
    const result = await pipeline.plan(op(), NOW);
    expect(result.kind === 'send' && result.plan.decisions.map((d) => d.stage)).toEqual(['route', 'risk', 'fx', 'caps']);
  });

  test('an inactive stage is skipped: no decision, no release', async () => {
    const risk = new CountingStage('risk', allow('risk'), false);
    const pipeline = buildOrchestrationPipeline({ config: config() }, [risk]);
    expect(pipeline.active).toBe(false);
    expect(pipeline.planNow(op(), NOW)).toMatchObject({ kind: 'send', plan: { decisions: [] } });
  });

  test('a refusal by a later stage carries every decision and releases nothing until its caller has it on record (releaseRefused)', async () => {
    const risk = new CountingStage('risk', allow('risk'));
    const caps = new CountingStage('caps', () => ({
      verdict: 'refuse',
      reason: 'CAP_EXCEEDED',
      decision: { stage: 'caps', outcome: 'refused', reasons: ['cap_exceeded:daily_volume'] },
    }));
    const pipeline = buildOrchestrationPipeline({ config: config() }, [risk, caps]);
    const result = await pipeline.plan(op(), NOW);
    expect(result).toMatchObject({ kind: 'refuse', reason: 'CAP_EXCEEDED' });
    expect(result.kind === 'refuse' && result.decisions.map((d) => `${d.stage}:${d.outcome}`)).toEqual(['risk:allowed', 'caps:refused']);
    // The refusal may lose to another worker's send on the same reservations (idempotent by operation id).
    expect(risk.released).toEqual([]);
    if (result.kind === 'refuse') await pipeline.releaseRefused(op(), result.plan);
    expect(risk.released).toEqual(['a:refused']);
  });

  test('a hold releases nothing a later stage holds for the operation: it did not run, and its reservation may be the one another worker sent on', async () => {
    const fx = new CountingStage('fx', () => ({
      verdict: 'wait',
      delayMs: 1000,
      decision: { stage: 'fx', outcome: 'held', reasons: ['fx_rates_unreachable'] },
    }));
    const caps = new CountingStage('caps', allow('caps'));
    const pipeline = buildOrchestrationPipeline({ config: config() }, [fx, caps]);
    expect(await pipeline.plan(op(), NOW)).toMatchObject({ kind: 'wait', delayMs: 1000 });
    expect(caps.released).toEqual([]);
    expect(fx.released).toEqual([]);
  });

  test('failover: next candidate, later stages run again for it; the previous reservation stands until the move is on record (settled), an abandoned plan gives back its own', async () => {
    const caps = new CountingStage('caps', allow('caps'));
    const pipeline = buildOrchestrationPipeline({ config: config({ 'routing.rules': [{ name: 'ab', gateways: ['a', 'b'] }] }) }, [caps]);
    const first = await pipeline.plan(op(), NOW);
    if (first.kind !== 'send') throw new Error('expected a plan');
    const second = await pipeline.failover(op(), first.plan, NOW);
    // Still on record at a: nothing given back before the caller records the move.
    expect(caps.released).toEqual([]);
    if (second?.kind === 'send') {
      await pipeline.settled(op(), second.plan);
      await pipeline.releaseAbandoned(op(), second.plan);
    }
    expect(caps.released).toEqual(['b:settled', 'b:abandoned']);
    expect(second).toMatchObject({ kind: 'send', plan: { index: 1, payment: { gateway: 'b' } } });
    expect(second?.kind === 'send' && second.plan.decisions.map((d) => d.reasons[0])).toEqual(['rule:ab', 'caps:ok:b']);
    if (second?.kind !== 'send') return;
    expect(await pipeline.failover(op(), second.plan, NOW)).toBeNull();
  });

  describe('failover skips candidates that cannot use the method data (a route recorded before, or before the configuration changed)', () => {
    /** The plan a route on record stands for: decided when `b` was still a candidate for this payment. */
    const recorded = (record: OperationRecord, candidates: string[]) => ({
      candidates,
      index: 0,
      rule: 'old',
      payment: record.payment,
      decisions: [{ stage: 'route' as const, outcome: 'routed' as const, reasons: ['rule:old'], candidates }],
    });
    const withKey = (gatewayKey: string) => op(channelCommand('authorize', {}, { gateway: 'a', gateway_key: gatewayKey, operation_reference: 'op-1' }));
    const skippedB = () => metricValue('pb_routing_candidates_dropped_total', { step: 'failover', reason: 'method_bound', gateway: 'b' });

    test('a token `a` issued passes over `b` (another simulator process) to `a2`, counted and logged', async () => {
      const logs = captureLogger();
      const caps = new CountingStage('caps', allow('caps'));
      const pipeline = buildOrchestrationPipeline({ config: config(), logger: logs.logger }, [caps]);
      const record = withKey('tok_issued_by_a');
      const before = (await skippedB()) ?? 0;
      const next = await pipeline.failover(record, recorded(record, ['a', 'b', 'a2']), NOW);
      expect(next).toMatchObject({ kind: 'send', plan: { index: 2, payment: { gateway: 'a2' } } });
      expect(await skippedB()).toBe(before + 1);
      const line = logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('failover: candidates skipped'));
      expect(line).toMatchObject({ level: 'warn', operation_id: 'op-1', gateway: 'a', from: 'a', skipped: ['b (payment.gateway_key)'] });
      // Nothing past a2.
      if (next?.kind !== 'send') return;
      expect(await pipeline.failover(record, next.plan, NOW)).toBeNull();
    });

    test('no usable candidate left: null, as when there is none (nothing released, nothing tried)', async () => {
      const caps = new CountingStage('caps', allow('caps'));
      const pipeline = buildOrchestrationPipeline({ config: config() }, [caps]);
      const record = withKey('tok_issued_by_a');
      expect(await pipeline.failover(record, recorded(record, ['a', 'b']), NOW)).toBeNull();
      expect(caps.released).toEqual([]);
    });

    test("a test payment method of the simulator is every simulator's: `b` is taken as before", async () => {
      const pipeline = buildOrchestrationPipeline({ config: config() });
      const record = withKey('pm_card_visa');
      expect(await pipeline.failover(record, recorded(record, ['a', 'b']), NOW)).toMatchObject({ kind: 'send', plan: { index: 1, payment: { gateway: 'b' } } });
    });
  });

  test('every candidate dropped by agreements: refused NO_ROUTE, naming why', () => {
    const pipeline = buildOrchestrationPipeline({ config: config({ 'routing.agreements': [{ merchant: '*', gateway: 'a', status: 'suspended' }] }) });
    expect(pipeline.planNow(op(), NOW)).toMatchObject({
      kind: 'refuse',
      reason: 'NO_ROUTE',
      decisions: [{ stage: 'route', outcome: 'refused', reasons: ['NO_ROUTE', 'default:payment.gateway', 'agreement_suspended:a'] }],
    });
  });

  test('captures follow their authorization, never the rules', () => {
    const pipeline = buildOrchestrationPipeline({ config: config({ 'routing.rules': [{ name: 'to-b', gateways: ['b'] }] }) });
    const capture = op(channelCommand('capture', {}, { gateway: 'a', operation_reference: 'op-1' }));
    expect(pipeline.planNow(capture, NOW)).toMatchObject({ kind: 'send', plan: { candidates: ['a'], decisions: [{ reasons: ['follows_authorization'] }] } });
  });
});

describe('the routing record', () => {
  test('routes the operation, reaches the transformer payment and the event', () => {
    const c = config({ 'routing.rules': [{ name: 'to-b', gateways: ['b', 'a'] }] });
    const pipeline = buildOrchestrationPipeline({ config: c });
    const draft = op();
    const planned = pipeline.planNow(draft, NOW);
    if (planned?.kind !== 'send') throw new Error('expected a plan');
    const routed: OperationRecord = { ...draft, state: 'SUCCEEDED', routing: routingRecordOf(draft, planned.plan) };
    expect(gatewayOf(routed)).toBe('b');
    expect(routedPayment(routed)).toEqual({ ...draft.payment, gateway: 'b' });
    const event = outcomeEvent(routed, c);
    expect((event?.params.payment as Record<string, unknown>).routing).toEqual(routingEventField(routed.routing!));
    expect((event?.params.payment as Record<string, unknown>).routing).toMatchObject({
      gateway: 'b',
      requested_gateway: 'a',
      rule: 'to-b',
      candidates: ['b', 'a'],
    });
    // The OMS's own payment stays as it sent it.
    expect((event?.params.payment as Record<string, unknown>).gateway).toBe('a');
  });

  test('an operation never orchestrated has no routing on its event', () => {
    const event = outcomeEvent({ ...op(), state: 'SUCCEEDED' }, config());
    expect(event?.params.payment).not.toHaveProperty('routing');
  });
});
