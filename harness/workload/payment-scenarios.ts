import { Channel, CommandType } from '../../src/contracts/payment-command';
import { createSeededRandom } from '../twins/psp-simulator/seeded-random';

/** Outcome the OMS should hear for a step. */
export type ExpectedStatus = 'SUCCESS' | 'FAIL';

/** One command of a payment's life, sent once the step before it has been reported. */
export interface ScenarioStep {
  channel: Channel;
  command: CommandType;
  /** Minor units. */
  amount: number;
  expect: ExpectedStatus;
  /**
   * Where the step's `gateway_key` comes from: a fixed payment method (first steps), or the reference the
   * bus reported for the step at this index (later steps act on that authorization).
   */
  gatewayKey: { paymentMethod: string } | { fromStep: number };
}

/** The life of one payment: an order, its currency and account, and its commands in order. */
export interface PaymentScenario {
  kind: ScenarioKind;
  orderId: string;
  currency: string;
  gatewayAccount: string;
  steps: ScenarioStep[];
}

export const SCENARIO_KINDS = ['capture', 'capture-refund', 'cancel', 'sale-refund', 'declined', 'validate-revalidate', 'tokenize', 'async-capture'] as const;
export type ScenarioKind = (typeof SCENARIO_KINDS)[number];

/** How often each kind appears (weights, not percentages). */
export const DEFAULT_MIX: Readonly<Record<ScenarioKind, number>> = {
  capture: 25,
  'capture-refund': 20,
  cancel: 10,
  'sale-refund': 12,
  declined: 8,
  'validate-revalidate': 10,
  tokenize: 5,
  'async-capture': 10,
};

/** The simulator's magic payment methods (see harness/twins/psp-simulator). */
export const PAYMENT_METHODS = { ok: 'pm_card_visa', declined: 'pm_card_declined', insufficientFunds: 'pm_insufficient_funds', async: 'pm_async' } as const;

/** The same seeded PRNG as the simulator's faults (mulberry32): the same seed gives the same workload. */
export { createSeededRandom as seededRandom } from '../twins/psp-simulator/seeded-random';

const CURRENCIES = ['EUR', 'USD', 'GBP', 'JPY', 'KWD'] as const;
const ACCOUNTS = ['acme-eu', 'acme-us', 'acme-marketplace'] as const;

/**
 * Builds `count` payment scenarios (the demo's and benchmarks' workload): web checkouts captured, partly
 * refunded or cancelled through the bus, POS sales refunded, marketplace declines whose capture must fail,
 * validations and re-authorizations, tokenizations, and asynchronous authorizations settled by webhook.
 * Amounts are whole minor units; partial captures and refunds never exceed what the PSP holds.
 */
export function buildScenarios(
  count: number,
  options: { seed?: number; mix?: Readonly<Record<ScenarioKind, number>>; runId?: string } = {},
): PaymentScenario[] {
  const random = createSeededRandom(options.seed ?? 42);
  const mix = options.mix ?? DEFAULT_MIX;
  const total = SCENARIO_KINDS.reduce((sum, k) => sum + mix[k], 0);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const runId = options.runId ?? 'run';
  const scenarios: PaymentScenario[] = [];
  for (let i = 0; i < count; i += 1) {
    let r = random() * total;
    let kind: ScenarioKind = SCENARIO_KINDS[0];
    for (const k of SCENARIO_KINDS) {
      r -= mix[k];
      if (r < 0) {
        kind = k;
        break;
      }
    }
    const amount = 500 + Math.floor(random() * 99_500); // 5.00 to 999.99 in two-decimal currencies
    const part = (fraction: number) => Math.max(1, Math.floor(amount * fraction));
    scenarios.push({
      kind,
      orderId: `ORD-${runId}-${i + 1}`,
      currency: pick(CURRENCIES),
      gatewayAccount: pick(ACCOUNTS),
      steps: stepsFor(kind, amount, part(0.4 + random() * 0.6), random),
    });
  }
  return scenarios;
}

function stepsFor(kind: ScenarioKind, amount: number, captured: number, random: () => number): ScenarioStep[] {
  const ok = { paymentMethod: PAYMENT_METHODS.ok };
  const refund = Math.max(1, Math.floor(captured * (0.1 + random() * 0.9)));
  switch (kind) {
    case 'capture':
      return [
        { channel: 'web', command: 'authorize', amount, expect: 'SUCCESS', gatewayKey: ok },
        { channel: 'bus', command: 'capture', amount: captured, expect: 'SUCCESS', gatewayKey: { fromStep: 0 } },
      ];
    case 'capture-refund':
      return [
        { channel: 'web', command: 'authorize', amount, expect: 'SUCCESS', gatewayKey: ok },
        { channel: 'bus', command: 'capture', amount: captured, expect: 'SUCCESS', gatewayKey: { fromStep: 0 } },
        { channel: 'bus', command: 'refund', amount: refund, expect: 'SUCCESS', gatewayKey: { fromStep: 0 } },
      ];
    case 'cancel':
      return [
        { channel: 'web', command: 'authorize', amount, expect: 'SUCCESS', gatewayKey: ok },
        { channel: 'bus', command: 'cancel', amount, expect: 'SUCCESS', gatewayKey: { fromStep: 0 } },
      ];
    case 'sale-refund':
      return [
        { channel: 'pos', command: 'sale', amount, expect: 'SUCCESS', gatewayKey: ok },
        { channel: 'bus', command: 'refund', amount: Math.max(1, Math.floor(amount * 0.5)), expect: 'SUCCESS', gatewayKey: { fromStep: 0 } },
      ];
    case 'declined':
      return [
        {
          channel: 'marketplace',
          command: 'authorize',
          amount,
          expect: 'FAIL',
          gatewayKey: { paymentMethod: random() < 0.5 ? PAYMENT_METHODS.declined : PAYMENT_METHODS.insufficientFunds },
        },
        // The OMS tries to capture anyway: the PSP refuses a capture of a declined authorization.
        { channel: 'bus', command: 'capture', amount, expect: 'FAIL', gatewayKey: { fromStep: 0 } },
      ];
    case 'validate-revalidate':
      return [
        { channel: 'web', command: 'authorize', amount, expect: 'SUCCESS', gatewayKey: ok },
        { channel: 'bus', command: 'validate', amount, expect: 'SUCCESS', gatewayKey: { fromStep: 0 } },
        { channel: 'bus', command: 'revalidate', amount, expect: 'SUCCESS', gatewayKey: { fromStep: 0 } },
        // The capture acts on the new authorization the revalidation returned.
        { channel: 'bus', command: 'capture', amount: captured, expect: 'SUCCESS', gatewayKey: { fromStep: 2 } },
      ];
    case 'tokenize':
      return [{ channel: 'web', command: 'tokenize', amount: 0, expect: 'SUCCESS', gatewayKey: ok }];
    case 'async-capture':
      return [
        { channel: 'web', command: 'authorize', amount, expect: 'SUCCESS', gatewayKey: { paymentMethod: PAYMENT_METHODS.async } },
        { channel: 'bus', command: 'capture', amount: captured, expect: 'SUCCESS', gatewayKey: { fromStep: 0 } },
      ];
  }
}

/** Commands in a workload. */
export function commandCount(scenarios: readonly PaymentScenario[]): number {
  return scenarios.reduce((sum, s) => sum + s.steps.length, 0);
}
