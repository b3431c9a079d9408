import { SHUTDOWN_MARGIN_MS, SPENT_STEP_MS, ShutdownBudget } from '../../../src/amqp/shutdown-budget';

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

  it('bounds a step by the smaller of its own bound and what is left, and once the budget is spent by a floor of 250 ms', () => {
    const budget = ShutdownBudget.of(30_000, clock);
    expect(budget.bound(5000)).toBe(5000);
    now += 25_000;
    expect(budget.bound(5000)).toBe(3000);
    now += 10_000;
    expect(budget.bound(5000)).toBe(SPENT_STEP_MS);
    expect(budget.bound(100)).toBe(100);
    expect(budget.cut).toEqual([]);
  });

  it('takes the spent floor from the margin of a short deadline: a quarter of it, at least 1 ms', () => {
    const short = ShutdownBudget.of(400, clock);
    now += 1000;
    expect(short.bound(5000)).toBe(25);
    expect(ShutdownBudget.of(8, clock).bound(5000)).toBeGreaterThanOrEqual(1);
  });

  it('names a step cut short only when it did not end within a bound the budget made smaller than its own', async () => {
    const budget = ShutdownBudget.of(30_000, clock);
    const bounds: number[] = [];
    const step = (what: string, inTime: boolean) =>
      budget.step(5000, what, async (ms) => {
        bounds.push(ms);
        return inTime;
      });
    // Its own bound, given up: the broker's silence, not the budget.
    expect(await step('consumer_cancel', false)).toBe(false);
    now += 25_000;
    // Less than its own bound, yet answered in time: nothing was cut.
    expect(await step('confirm_publisher', true)).toBe(true);
    // Less than its own bound, and given up at it: cut short, named once.
    expect(await step('amqp_connection', false)).toBe(false);
    expect(await step('amqp_connection', false)).toBe(false);
    expect(bounds).toEqual([5000, 3000, 3000, 3000]);
    expect(budget.cut).toEqual(['amqp_connection']);
  });

  it('without a budget every step keeps its own bound', () => {
    const budget = ShutdownBudget.unbounded();
    expect(budget.bound(5000)).toBe(5000);
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
