import type { Payment, PaymentLine } from '../../../src/contracts/payment-command';
import { convertLines } from '../../../src/fx/converted-lines';
import { parseRate } from '../../../src/fx/exact-rate';
import { FxLock, lockDetails } from '../../../src/fx/fx-lock';
import { atAuthorizationRate } from '../../../src/fx/locked-rate';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { cybersourceTransformer } from '../../../src/gateways/cybersource';
import type { OperationRecord } from '../../../src/ledger/ledger';
import { parseRoutingRecord, routedPayment } from '../../../src/ledger/routing-record';
import { routingRecordOf } from '../../../src/orchestration/orchestration-pipeline';
import { FxStage } from '../../../src/orchestration/fx-stage';
import type { OrchestrationPlan } from '../../../src/orchestration/orchestration-stage';
import { testConfig } from '../../support/test-config';
import { body as adyenBody, ctxFor as adyenCtx, gateway as adyenGateway } from '../gateways/adyen/adyen-test-support';
import { ctx as csCtx, gateway as csGateway } from '../gateways/cybersource/cybersource-test-fixtures';

/** ¥ → $ at 0.0067: the audit's case (¥10,000 is $67.00). */
const JPY_USD: FxLock = {
  rate: '0.0067',
  source: 'configured',
  at: '2026-03-01T11:30:00.000Z',
  from: { amount: 10000, currency: 'JPY' },
  to: { amount: 6700, currency: 'USD' },
};
const authorization = (lock: FxLock) =>
  ({
    routing: {
      gateway: 'gw',
      requested: 'gw',
      candidates: ['gw'],
      index: 0,
      decisions: [{ stage: 'fx', outcome: 'changed', reasons: [], details: lockDetails(lock) }],
    },
  }) as Pick<OperationRecord, 'routing'>;
const sum = (lines: readonly PaymentLine[] | undefined, f: (l: PaymentLine) => number) => (lines ?? []).reduce((a, l) => a + f(l), 0);

describe('convertLines', () => {
  test('refund lines are shared out by largest remainder to add up to exactly the converted amount (¥3333+3333+3334 → $22.33+22.33+22.34)', () => {
    const lines = [{ refund_amount: 3333 }, { refund_amount: 3333 }, { refund_amount: 3334 }];
    const out = convertLines(lines, { amount: 10000, currency: 'JPY' }, { amount: 6700, currency: 'USD' }, parseRate('0.0067'))!;
    expect(out.map((l) => l.refund_amount)).toEqual([2233, 2233, 2234]);
  });

  test('price lines keep adding up to the amount: totals shared out, then divided by their quantity again', () => {
    const lines = [
      { unit_price_gross: 2500, quantity: 2, tax_amount: 868 },
      { unit_price_gross: 5000, quantity: 1 },
    ];
    const out = convertLines(lines, { amount: 10000, currency: 'JPY' }, { amount: 6700, currency: 'USD' }, parseRate('0.0067'))!;
    expect(out).toEqual([
      { unit_price_gross: 1675, quantity: 2, tax_amount: 582 },
      { unit_price_gross: 3350, quantity: 1 },
    ]);
    expect(sum(out, (l) => (l.unit_price_gross ?? 0) * (l.quantity ?? 1))).toBe(6700);
  });

  test('every line a multiple of the gateway step (whole rupiah at Adyen), still adding up', () => {
    const lines = [{ refund_amount: 1000 }, { refund_amount: 999 }];
    const out = convertLines(lines, { amount: 1999, currency: 'EUR' }, { amount: 34229800, currency: 'IDR' }, parseRate('17123.45'), 100)!;
    expect(out.map((l) => l.refund_amount)).toEqual([17123500, 17106300]);
    expect(sum(out, (l) => l.refund_amount ?? 0)).toBe(34229800);
  });

  test('null when the price lines cannot add up once converted (a unit price would need a fraction of a cent)', () => {
    const lines = [{ unit_price_gross: 3332, quantity: 3 }, { unit_price_gross: 4 }];
    expect(convertLines(lines, { amount: 10000, currency: 'JPY' }, { amount: 6700, currency: 'USD' }, parseRate('0.0067'))).toBeNull();
  });
});

describe('a capture or refund of a converted authorization sends its lines in the converted currency', () => {
  test('Cybersource refund by lines of ¥10,000 at 0.0067 asks for $67.00, not 100.00', () => {
    const command: Payment = {
      ...csCtx('refund').payment,
      amount: 10000,
      currency: 'JPY',
      lines: [{ refund_amount: 4000 }, { refund_amount: 6000 }],
    };
    const payment = atAuthorizationRate(authorization(JPY_USD), command);
    const req = cybersourceTransformer.buildRequest({ ...csCtx('refund'), payment }, csGateway);
    expect((JSON.parse(req.body ?? '{}') as { orderInformation: unknown }).orderInformation).toEqual({
      amountDetails: { totalAmount: '67.00', currency: 'USD' },
    });
  });

  test('Adyen capture with lines: lineItems in USD adding up to the 6700 captured, not ¥10000', () => {
    const command: Payment = {
      ...adyenCtx('capture').payment,
      amount: 10000,
      currency: 'JPY',
      lines: [{ item_sku: 'A', unit_price_gross: 10000, quantity: 1 }],
    };
    const payment = atAuthorizationRate(authorization(JPY_USD), command);
    const b = adyenBody(adyenTransformer.buildRequest({ ...adyenCtx('capture'), payment }, adyenGateway));
    expect(b.amount).toEqual({ value: 6700, currency: 'USD' });
    expect(b.lineItems).toMatchObject([{ id: 'A', amountIncludingTax: 6700, quantity: 1 }]);
  });

  test('lines that cannot be converted to add up are left out rather than sent in the order currency', () => {
    const command: Payment = {
      ...adyenCtx('capture').payment,
      amount: 10000,
      currency: 'JPY',
      lines: [{ unit_price_gross: 3332, quantity: 3 }, { unit_price_gross: 4 }],
    };
    const payment = atAuthorizationRate(authorization(JPY_USD), command);
    expect(payment.lines).toBeUndefined();
    expect(adyenBody(adyenTransformer.buildRequest({ ...adyenCtx('capture'), payment }, adyenGateway)).lineItems).toBeUndefined();
  });
});

describe('an authorization converted by the FX stage', () => {
  const NOW = Date.parse('2026-03-01T12:00:00Z');
  const config = testConfig({
    'fx.settlement_currencies': { sim: ['USD'] },
    'fx.rates': [{ from: 'JPY', to: 'USD', rate: '0.0067', as_of: '2026-03-01T11:30:00Z' }],
    'fx.max_rate_age_ms': 3600000,
    gateways: { sim: { type: 'simulator', base_url: 'http://127.0.0.1:1', api_key: 'k-0123456789', webhook_secret: 'whsec-0123456789abcdef' } },
  });
  const stage = new FxStage(config, new Map(), undefined, () => NOW);
  function decide(lines: PaymentLine[]) {
    const payment = { gateway: 'sim', gateway_account: 'acme', gateway_key: 'pm_1', amount: 10000, currency: 'JPY', lines };
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
    const r = stage.decideNow({ op, plan, now: NOW });
    if (r?.verdict !== 'continue') throw new Error('not converted');
    const routed = { ...op, routing: routingRecordOf(op, { ...r.plan, decisions: [r.decision] }) };
    return { decision: r.decision, sent: routedPayment(routed), op: routed };
  }

  test('the payment its gateway is sent (first attempt, retries, inquiries) carries converted lines adding up to the converted amount', () => {
    const { sent, op } = decide([
      { item_sku: 'A', unit_price_gross: 2500, quantity: 2 },
      { item_sku: 'B', unit_price_gross: 5000, quantity: 1 },
    ]);
    expect(sent).toMatchObject({ amount: 6700, currency: 'USD' });
    expect(sent.lines?.map((l) => l.unit_price_gross)).toEqual([1675, 3350]);
    // Retries and inquiries read the routing record back from the ledger: the converted lines with it.
    expect(parseRoutingRecord(JSON.parse(JSON.stringify(op.routing)))?.lines).toEqual(sent.lines);
    // The command (what the OMS's events echo) keeps its own lines, in yen.
    expect(op.payment.lines?.map((l) => l.unit_price_gross)).toEqual([2500, 5000]);
  });

  test('lines that cannot be converted: none sent, and the decision says so', () => {
    const { sent, decision } = decide([{ unit_price_gross: 3332, quantity: 3 }, { unit_price_gross: 4 }]);
    expect(sent.lines).toBeUndefined();
    expect(decision.reasons).toEqual(['converted:JPY->USD', 'lines_not_convertible']);
  });
});
