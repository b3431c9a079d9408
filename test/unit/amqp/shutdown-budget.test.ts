import { SHUTDOWN_MARGIN_MS, ShutdownBudget } from '../../../src/amqp/shutdown-budget';

describe('ShutdownBudget', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it('keeps back a margin for the final steps: 2 s of a 30 s deadline, a quarter of a short one', () => {
    expect(ShutdownBudget.of(30_000, clock).leftMs()).toBe(30_000 - SHUTDOWN_MARGIN_MS);
    expect(ShutdownBudget.of(4000, clock).leftMs()).toBe(3000);
  });

  it('bounds a step by the smaller of its own bound and what is left, at least 1 ms, and names the steps it cut', () => {
    const budget = ShutdownBudget.of(30_000, clock);
    expect(budget.bound(5000, 'consumer_cancel')).toBe(5000);
    now += 25_000;
    expect(budget.bound(5000, 'command_consumer')).toBe(3000);
    now += 10_000;
    expect(budget.bound(5000, 'amqp_connection')).toBe(1);
    expect(budget.bound(5000, 'amqp_connection')).toBe(1);
    expect(budget.cut).toEqual(['command_consumer', 'amqp_connection']);
  });

  it('without a budget every step keeps its own bound', () => {
    const budget = ShutdownBudget.unbounded();
    expect(budget.bound(5000, 'consumer_cancel')).toBe(5000);
    expect(budget.leftMs()).toBe(Infinity);
    expect(budget.cut).toEqual([]);
  });

  describe('wait', () => {
    it('waits for work that settles in time, a rejection included', async () => {
      const budget = ShutdownBudget.of(1000);
      expect(await budget.wait(Promise.resolve(), Infinity, 'setup')).toBe(true);
      expect(await budget.wait(Promise.reject(new Error('failed')), Infinity, 'setup')).toBe(true);
      expect(await budget.wait(null, Infinity, 'setup')).toBe(true);
      expect(budget.cut).toEqual([]);
    });

    it('stops waiting once what is left runs out, and names the step', async () => {
      const budget = ShutdownBudget.of(40);
      const started = Date.now();
      expect(await budget.wait(new Promise(() => undefined), Infinity, 'consumer_setup')).toBe(false);
      expect(Date.now() - started).toBeLessThan(500);
      expect(budget.cut).toEqual(['consumer_setup']);
    });

    it('stops waiting at its own bound, not counted as cut by the budget', async () => {
      const budget = ShutdownBudget.of(60_000);
      expect(await budget.wait(new Promise(() => undefined), 20, 'archiver')).toBe(false);
      expect(budget.cut).toEqual([]);
    });

    it('without a budget and without a bound of its own, waits until the work settles', async () => {
      let settle!: () => void;
      const waiting = ShutdownBudget.unbounded().wait(new Promise<void>((r) => (settle = r)), Infinity, 'setup');
      setTimeout(settle, 30);
      expect(await waiting).toBe(true);
    });
  });
});
