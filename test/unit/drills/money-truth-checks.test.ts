import { MONEY_INVARIANTS, checkMoneyTruth } from '../../../harness/drills/money-truth-checks';
import { PlannedPayment, operationIdOf, planPayments } from '../../../harness/drills/money-truth-plan';
import { AuthorizationRecord, ResultBody, SimulatorSnapshot } from '../../../harness/twins/psp-simulator/simulator-state';
import { ObservedNotification, StepRecord } from '../../../harness/workload/workload-driver';

/** An authorization of 1000 EUR cents, captured 600 then 300 (the second one over what is left: refused), refunded 200, and a cancel after. */
const payment: PlannedPayment = {
  index: 0,
  orderId: 'ORD-x-1',
  currency: 'EUR',
  gatewayAccount: 'acme-eu',
  paymentMethod: 'pm_card_visa',
  commands: [
    { command: 'authorize', channel: 'web', amount: 1000, key: 'operation', lead: 'accepted', delayMs: 0 },
    { command: 'capture', channel: 'bus', amount: 600, key: 'operation', lead: 'recorded', delayMs: 0 },
    { command: 'capture', channel: 'bus', amount: 500, key: 'operation', lead: 'recorded', delayMs: 0 },
    { command: 'refund', channel: 'bus', amount: 200, key: 'reference', lead: 'reported', after: 1, delayMs: 0 },
    { command: 'cancel', channel: 'bus', amount: 1000, key: 'operation', lead: 'reported', delayMs: 0 },
  ],
};
const id = (i: number) => operationIdOf(payment, i);

const records: StepRecord[] = payment.commands.map((c, i) => ({
  scenario: 0,
  step: i,
  operationId: id(i),
  orderId: payment.orderId,
  channel: c.channel,
  command: c.command,
  sentAt: 1,
  acceptedAt: 2,
  intakeRetries: 0,
}));

const event = (i: number, status: 'SUCCESS' | 'FAIL', amount: number, reason: string | null = status === 'FAIL' ? 'refused' : null): ObservedNotification => ({
  method: 'm',
  receivedAt: 0,
  params: {
    payment: {
      operation_reference: id(i),
      event_id: `${id(i)}.${status === 'SUCCESS' ? 'SUCCEEDED' : 'FAILED'}`,
      status,
      amount,
      currency: 'EUR',
      reason,
    },
  },
});

const told = (): ObservedNotification[] => [
  event(0, 'SUCCESS', 1000),
  event(1, 'SUCCESS', 600),
  event(2, 'FAIL', 500, 'amount_exceeds_authorized'),
  event(3, 'SUCCESS', 200),
  event(4, 'FAIL', 1000, 'authorization_captured'),
];

const auth = (overrides: Partial<AuthorizationRecord> = {}): AuthorizationRecord => ({
  id: 'auth_1',
  object: 'authorization',
  status: 'captured',
  amount: 1000,
  amount_captured: 600,
  amount_refunded: 200,
  currency: 'EUR',
  reference: id(0),
  created: 1,
  approved: true,
  ...overrides,
});

const movement = (i: number, object: 'capture' | 'refund' | 'cancellation', amount: number): ResultBody => ({
  id: `m_${i}`,
  object,
  status: object === 'capture' ? 'captured' : object === 'refund' ? 'refunded' : 'cancelled',
  amount,
  currency: 'EUR',
  reference: id(i),
  authorization: 'auth_1',
  created: 1,
});

const books = (overrides: { auth?: Partial<AuthorizationRecord>; operations?: [string, ResultBody][] } = {}): SimulatorSnapshot => ({
  authorizations: [auth(overrides.auth)],
  operations: new Map<string, ResultBody>([
    [id(0), auth(overrides.auth)],
    [id(1), movement(1, 'capture', 600)],
    [id(2), { error: { code: 'amount_exceeds_authorized', message: 'no' } }],
    [id(3), movement(3, 'refund', 200)],
    [id(4), { error: { code: 'authorization_captured', message: 'no' } }],
    ...(overrides.operations ?? []),
  ]),
});

const broken = (notifications: ObservedNotification[], snapshot: SimulatorSnapshot) =>
  checkMoneyTruth({ payments: [payment], records, notifications, snapshot })
    .checks.filter((c) => !c.ok)
    .map((c) => c.name);

describe('money-truth checks', () => {
  it('hold when every event matches the PSP books', () => {
    expect(broken(told(), books())).toEqual([]);
  });

  it('catch a capture reported SUCCESS that the PSP never made', () => {
    const notifications = told();
    notifications[2] = event(2, 'SUCCESS', 500);
    expect(broken(notifications, books())).toEqual([MONEY_INVARIANTS.captures, MONEY_INVARIANTS.eventBounds, MONEY_INVARIANTS.noFalseSuccess]);
  });

  it('catch money the PSP moved under an operation reported FAIL', () => {
    const notifications = told();
    notifications[3] = event(3, 'FAIL', 200, 'timeout');
    expect(broken(notifications, books())).toEqual([MONEY_INVARIANTS.refunds, MONEY_INVARIANTS.noSilentMoney]);
  });

  it('catch an authorization reported with the amount asked when the PSP approved less (partial approval)', () => {
    expect(broken(told(), books({ auth: { amount: 700 } }))).toEqual([MONEY_INVARIANTS.authorization]);
  });

  it('catch a cancel reported FAIL that the PSP made, and the PSP holding more captured than authorized', () => {
    const snapshot = books({ auth: { status: 'cancelled', amount_captured: 1200 }, operations: [[id(4), movement(4, 'cancellation', 1000)]] });
    expect(broken(told(), snapshot)).toEqual([MONEY_INVARIANTS.captures, MONEY_INVARIANTS.cancels, MONEY_INVARIANTS.pspBounds, MONEY_INVARIANTS.noSilentMoney]);
  });

  it('catch a FAILED event without a reason, and PSP money under a reference of no operation', () => {
    const notifications = told();
    notifications[2] = event(2, 'FAIL', 500, null);
    const snapshot = books({ operations: [['_elsewhere.void', { ...movement(3, 'refund', 5), reference: '_elsewhere.void' }]] });
    expect(broken(notifications, snapshot)).toEqual([MONEY_INVARIANTS.reasons, MONEY_INVARIANTS.noSilentMoney]);
  });
});

describe('money-truth plan', () => {
  it('is the same for the same seed, with whole positive amounts and follow-ups that wait only for earlier commands', () => {
    const a = planPayments(200, { seed: 3, runId: 'r' });
    expect(planPayments(200, { seed: 3, runId: 'r' })).toEqual(a);
    expect(planPayments(200, { seed: 4, runId: 'r' })).not.toEqual(a);
    for (const p of a) {
      expect(['authorize', 'sale']).toContain(p.commands[0].command);
      p.commands.forEach((c, i) => {
        expect(Number.isSafeInteger(c.amount) && c.amount > 0).toBe(true);
        if (c.after !== undefined) expect(c.after).toBeLessThan(i);
        if (c.key === 'reference') expect(c.lead).toBe('reported');
      });
    }
    const follows = a.flatMap((p) => p.commands.slice(1));
    // Every kind of adversity is in a plan of this size.
    expect(new Set(follows.map((c) => c.command))).toEqual(new Set(['capture', 'refund', 'cancel']));
    expect(follows.some((c) => c.duplicate === 'together') && follows.some((c) => c.duplicate === 'late')).toBe(true);
    expect(new Set(a.map((p) => p.paymentMethod)).size).toBeGreaterThanOrEqual(6);
  });
});
