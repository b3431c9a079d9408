/**
 * The money-truth drill at test size (harness/drills/money-truth-drill.ts): 40 seeded payments of random,
 * adversarial lifecycles (over-captures, refunds racing captures, cancels racing both, duplicates, declines,
 * async and 3-D Secure methods, partial approvals) on a fresh local stack in its own namespace, once on a
 * well-behaved PSP and once with faults, then 150 payments with a worker or the web SIGKILLed every 1-1.5 s and
 * restarted; every event the OMS received must match the PSP simulator's books.
 * The full-size drill is `npm run drill:money`.
 */
import { MoneyDrillResult, formatMoneyTruthReport, runMoneyTruthDrill } from '../../../harness/drills/money-truth-drill';
import { MONEY_INVARIANTS } from '../../../harness/drills/money-truth-checks';
import { testNamespace } from '../../support/test-config';

// Well past a quiet host's 16-19 s a drill: a slow CI host must not turn a passing drill into a jest timeout, and a
// drill whose command never reports ends on its own (reportTimeoutMs, 120 s) with the report saying which.
jest.setTimeout(240_000);

/** Broken invariants as readable lines, with the report when any broke. */
function broken(result: MoneyDrillResult): string[] {
  const lines = result.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  return lines.length === 0 ? [] : [...lines, formatMoneyTruthReport(result)];
}

test.each([
  { seed: 7, faults: 0 },
  { seed: 8, faults: 0.2 },
])('40 payments, seed $seed, faults $faults: what the OMS was told is what the PSP holds', async ({ seed, faults }) => {
  const result = await runMoneyTruthDrill({ seed, payments: 40, faults, namespace: testNamespace() });
  expect(broken(result)).toEqual([]);
  // Every money invariant was checked, and the plan's commands were all accepted.
  for (const name of Object.values(MONEY_INVARIANTS)) expect(result.checks.some((c) => c.name === name && c.ok)).toBe(true);
  expect(result.commands).toBeGreaterThan(100);
});

test('150 payments, seed 9, faults 0.05, a worker or the web SIGKILLed every 1-1.5 s: the money truth holds across the crashes', async () => {
  const result = await runMoneyTruthDrill({ seed: 9, payments: 150, faults: 0.05, killEveryMs: 1000, killWeb: true, namespace: testNamespace() });
  expect(broken(result)).toEqual([]);
  expect(result.kills.workers).toBeGreaterThan(0);
  expect(result.commands).toBeGreaterThan(400);
});
