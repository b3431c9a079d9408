import { readFileSync } from 'node:fs';

/**
 * Peak resident set size of a process in MiB: `VmHWM` ("high water mark") from `/proc/<pid>/status`,
 * which the kernel keeps for the process's whole life. Linux only; `null` when the process is gone or
 * the file has no such line (read it before the process exits).
 */
export function peakRssMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return match ? Math.round((Number(match[1]) / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}
