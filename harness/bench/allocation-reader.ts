import { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { AllocationAnswer } from './allocation-probe';

/**
 * The Node options that load the allocation probe into a role process (`--require` of the compiled
 * probe under `<projectRoot>/dist`), for `startLocalStack({ roleNodeArgs })`.
 */
export function allocationProbeArgs(projectRoot: string): string[] {
  return ['--require', join(projectRoot, 'dist', 'harness', 'bench', 'allocation-probe.js')];
}

/**
 * Asks a role process started with the allocation probe how many bytes it has allocated on the V8 heap
 * so far; `null` without the probe, without an IPC channel, or with no answer within `timeoutMs`
 * (default 5 000 ms). Take the difference of two readings for a window.
 */
export function allocatedBytes(child: ChildProcess, timeoutMs = 5000): Promise<number | null> {
  if (!child.connected || child.exitCode !== null || child.signalCode !== null) return Promise.resolve(null);
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      if (typeof message !== 'object' || message === null || (message as Partial<AllocationAnswer>).type !== 'pb-bench-allocation') return;
      done((message as AllocationAnswer).bytes);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    const done = (value: number | null) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(value);
    };
    child.on('message', onMessage);
    try {
      child.send({ type: 'pb-bench-allocation?' });
    } catch {
      done(null);
    }
  });
}
