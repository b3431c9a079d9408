import { InflightGate } from '../../../src/admission/inflight-gate';

/** A task that runs until `release()` is called. */
function held(): { task: () => Promise<void>; release: () => void; started: () => boolean } {
  let release = () => undefined as void;
  let started = false;
  const done = new Promise<void>((resolve) => (release = resolve));
  return {
    task: () => {
      started = true;
      return done;
    },
    release: () => release(),
    started: () => started,
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('InflightGate', () => {
  it('rejects the run of a waiting task that threw, as for one that started at once, frees its slot and starts the next one', async () => {
    const gate = new InflightGate(1);
    const first = held();
    const next = held();
    const firstRun = gate.run(first.task, () => undefined);
    const failing = gate.run(
      () => Promise.reject(new Error('task failed')),
      () => undefined,
    );
    const nextRun = gate.run(next.task, () => undefined);
    first.release();
    await firstRun;
    await expect(failing).rejects.toThrow('task failed');
    await tick();
    expect(next.started()).toBe(true);
    expect(gate.inFlight).toBe(1);
    next.release();
    await nextRun;
    expect(gate.inFlight).toBe(0);
    await expect(
      gate.run(
        () => Promise.reject(new Error('at once')),
        () => undefined,
      ),
    ).rejects.toThrow('at once');
  });

  it('runs at most limit tasks at once and starts waiting ones in arrival order as slots free', async () => {
    const gate = new InflightGate(2);
    const tasks = [held(), held(), held(), held()];
    const runs = tasks.map((t) => gate.run(t.task, () => undefined));
    expect(tasks.map((t) => t.started())).toEqual([true, true, false, false]);
    expect(gate.inFlight).toBe(2);
    expect(gate.waiting).toBe(2);
    tasks[1].release();
    await tick();
    expect(tasks.map((t) => t.started())).toEqual([true, true, true, false]);
    for (const t of tasks) t.release();
    await Promise.all(runs);
    expect(tasks.every((t) => t.started())).toBe(true);
  });

  it('starts a waiting priority task at the next free slot, ahead of tasks that waited longer, priority ones in arrival order', async () => {
    const gate = new InflightGate(1);
    const [running, normal, firstPriority, secondPriority] = [held(), held(), held(), held()];
    const runs = [gate.run(running.task, () => undefined), gate.run(normal.task, () => undefined)];
    runs.push(
      gate.run(firstPriority.task, () => undefined, true),
      gate.run(secondPriority.task, () => undefined, true),
    );
    expect(gate.waiting).toBe(3);
    running.release();
    await tick();
    expect([normal.started(), firstPriority.started(), secondPriority.started()]).toEqual([false, true, false]);
    firstPriority.release();
    await tick();
    expect([normal.started(), secondPriority.started()]).toEqual([false, true]);
    secondPriority.release();
    await tick();
    expect(normal.started()).toBe(true);
    normal.release();
    await Promise.all(runs);
  });

  it('cancels waiting priority tasks on shutdown too', async () => {
    const gate = new InflightGate(1);
    const running = held();
    const cancelled: string[] = [];
    const runs = [
      gate.run(running.task, () => undefined),
      gate.run(held().task, () => cancelled.push('normal')),
      gate.run(held().task, () => cancelled.push('priority'), true),
    ];
    gate.cancelWaiting();
    expect(cancelled).toEqual(['priority', 'normal']);
    expect(gate.waiting).toBe(0);
    running.release();
    await Promise.all(runs);
  });

  it('starts waiting tasks at once when the limit is raised, and lets running ones finish when it is lowered', async () => {
    const gate = new InflightGate(1);
    const tasks = [held(), held(), held()];
    const runs = tasks.map((t) => gate.run(t.task, () => undefined));
    gate.setLimit(3);
    expect(tasks.map((t) => t.started())).toEqual([true, true, true]);
    gate.setLimit(1);
    expect(gate.inFlight).toBe(3); // none interrupted
    const late = held();
    const lateRun = gate.run(late.task, () => undefined);
    tasks[0].release();
    tasks[1].release();
    await tick();
    expect(late.started()).toBe(false); // still 1 running, limit 1
    tasks[2].release();
    await tick();
    expect(late.started()).toBe(true);
    late.release();
    await Promise.all([...runs, lateRun]);
  });

  it('cancels waiting tasks on shutdown instead of starting them', async () => {
    const gate = new InflightGate(1);
    const first = held();
    const second = held();
    const cancelled: string[] = [];
    const runs = [gate.run(first.task, () => cancelled.push('first')), gate.run(second.task, () => cancelled.push('second'))];
    gate.cancelWaiting();
    first.release();
    await Promise.all(runs);
    expect(cancelled).toEqual(['second']);
    expect(second.started()).toBe(false);
  });

  it('reports each interval: completions, their mean time, the peak in flight and what waits', async () => {
    const gate = new InflightGate(2);
    const tasks = [held(), held(), held()];
    const runs = tasks.map((t) => gate.run(t.task, () => undefined));
    tasks[0].release();
    await tick();
    const figures = gate.takeInterval();
    expect(figures.completed).toBe(1);
    expect(figures.peakInFlight).toBe(2);
    expect(figures.waiting).toBe(0);
    expect(figures.meanLatencyMs).toBeGreaterThanOrEqual(0);
    const next = gate.takeInterval();
    expect(next).toMatchObject({ completed: 0, peakInFlight: 2, waiting: 0 });
    expect(next.meanLatencyMs).toBeNaN();
    for (const t of tasks) t.release();
    await Promise.all(runs);
  });
});
