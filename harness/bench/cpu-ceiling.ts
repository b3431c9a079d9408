/** The per-process CPU figures of a measured window that the machine's whole cost is the sum of, µs per command. */
export interface MachineCpuParts {
  workerCpuMicrosPerCommand?: number | null;
  webCpuMicrosPerCommand?: number | null;
  rabbitmqCpuMicrosPerCommand?: number | null;
  redisCpuMicrosPerCommand?: number | null;
  standInCpuMicrosPerCommand?: number | null;
}

/** All processes' CPU per command, µs, and the rate it allows on the machine's cores, commands/s. */
export interface CpuCeiling {
  cpuMicrosPerCommand: number;
  perS: number;
}

/**
 * What a window's commands cost the whole machine: every process's CPU per command (workers, web, RabbitMQ,
 * Redis, stand-ins), µs, and the rate that CPU allows on `cores` (1 000 000 × cores ÷ that), commands/s.
 * When the measured rate is near the ceiling the run was CPU-bound; well below it, something else (in-flight
 * limits, latency, a stall) held it back. Null when a process's CPU was unreadable or missing.
 */
export function cpuCeiling(cost: MachineCpuParts, cores: number): CpuCeiling | null {
  const parts = [
    cost.workerCpuMicrosPerCommand,
    cost.webCpuMicrosPerCommand,
    cost.rabbitmqCpuMicrosPerCommand,
    cost.redisCpuMicrosPerCommand,
    cost.standInCpuMicrosPerCommand,
  ];
  const known = parts.filter((p): p is number => typeof p === 'number');
  if (known.length < parts.length || !(cores > 0)) return null;
  const cpuMicrosPerCommand = known.reduce((a, b) => a + b, 0);
  return cpuMicrosPerCommand > 0 ? { cpuMicrosPerCommand, perS: (1_000_000 * cores) / cpuMicrosPerCommand } : null;
}

/**
 * The same ceiling for the bridge and its servers alone (workers, web, RabbitMQ, Redis), the stand-ins' CPU
 * left out: what the machine would allow if the bus and the PSPs were remote, as they are in a deployment.
 * Null as {@link cpuCeiling} is.
 */
export function bridgeCpuCeiling(cost: MachineCpuParts, cores: number): CpuCeiling | null {
  if (typeof cost.standInCpuMicrosPerCommand !== 'number') return null;
  return cpuCeiling({ ...cost, standInCpuMicrosPerCommand: 0 }, cores);
}
