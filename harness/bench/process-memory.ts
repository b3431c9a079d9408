import { readFileSync, writeFileSync } from 'node:fs';

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

/** Resident set size of a process now, MiB (`VmRSS` of `/proc/<pid>/status`); `null` as {@link peakRssMiB}. */
export function rssMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round((Number(match[1]) / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

/**
 * Resets a process's peak RSS (`VmHWM`) to its current RSS by writing `5` to `/proc/<pid>/clear_refs`
 * (Linux ≥ 4.0, our own child processes), so the next {@link peakRssMiB} is the peak of one phase rather
 * than of the process's whole life. Returns false when the kernel refused (the peak then stays lifelong).
 */
export function resetPeakRss(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
