/**
 * The worker stop's `queue_workers` step (closeQueueWorkers in src/processes/worker-process.ts): the whole step, the
 * watchdog's check under way included, ends within the shutdown budget.
 */
import type { Worker } from 'bullmq';
import { ShutdownBudget } from '../../../src/amqp/shutdown-budget';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { closeQueueWorkers } from '../../../src/processes/worker-process';
import { captureLogger } from '../../support/capture-logger';

/** A BullMQ worker stand-in running `jobs` jobs whose close waits for `closed`. */
function fakeWorker(name: string, closed: Promise<void>, jobs = 1): Worker & { closeCalls: number } {
  const worker = {
    name,
    closeCalls: 0,
    lockManager: { getActiveJobCount: () => jobs },
    close() {
      worker.closeCalls += 1;
      return closed;
    },
  };
  return worker as unknown as Worker & { closeCalls: number };
}

describe('closeQueueWorkers: the BullMQ workers closed within the shutdown budget', () => {
  it('ends within the budget when the watchdog check under way never ends (a Redis read that hangs), the workers still told to close', async () => {
    const never = new Promise<void>(() => undefined);
    const worker = fakeWorker('gateway-delivery', never);
    const watchdog = { stop: () => never, workers: () => [worker] };
    const logs = captureLogger('info');
    const before = await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'worker', work: 'queue_job' });
    // 1 s deadline: 250 ms of margin, 62 ms a step once spent.
    const budget = ShutdownBudget.of(1000);
    const started = Date.now();
    const outcome = await Promise.race([
      closeQueueWorkers(watchdog, budget, logs.logger).then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('hung'), 3000).unref()),
    ]);
    expect(outcome).toBe('closed');
    expect(Date.now() - started).toBeLessThan(1000);
    // Told to close (it takes no new job), its job under way abandoned: counted and logged.
    expect(worker.closeCalls).toBe(1);
    expect(await metricValue('pb_shutdown_inflight_abandoned_total', { role: 'worker', work: 'queue_job' })).toBe(before + 1);
    expect(logs.lines.some((l) => l.includes('worker stop: queue jobs abandoned at shutdown.deadline_ms'))).toBe(true);
    expect(budget.cut).toContain('queue_workers');
  });

  it('waits for the workers whose close ends in time: nothing abandoned', async () => {
    const worker = fakeWorker('payment-events', Promise.resolve(), 0);
    const logs = captureLogger('info');
    await closeQueueWorkers({ stop: () => Promise.resolve(), workers: () => [worker] }, ShutdownBudget.of(1000), logs.logger);
    expect(worker.closeCalls).toBe(1);
    expect(logs.lines.some((l) => l.includes('abandoned'))).toBe(false);
  });
});
