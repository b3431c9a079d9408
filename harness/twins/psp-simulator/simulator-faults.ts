/**
 * Fault injection for the PSP simulator. Faults live only here, never in bridge code. Rates are
 * probabilities in [0, 1]; every rate defaults to 0 (no fault).
 */
export interface SimulatorFaults {
  /** Uniform extra latency before any answer, in milliseconds. Default none. */
  latencyMs?: { min: number; max: number };
  /** 503 `service_unavailable` before any effect. */
  error5xxRate?: number;
  /** 429 `rate_limited` with `Retry-After: 1` before any effect. */
  rateLimitRate?: number;
  /** The socket is destroyed before any effect. */
  resetRate?: number;
  /** The request is held and never answered; no effect. */
  timeoutRate?: number;
  /** The money effect is applied and stored, then the request is never answered. */
  commitThenTimeoutRate?: number;
  /** A webhook is delivered twice. */
  duplicateWebhookRate?: number;
  /** Webhooks go out in swapped pairs: each event waits for the next one, which is delivered first. */
  outOfOrderWebhooks?: boolean;
}

/** What happens to one API request, decided before it runs. */
export type RequestFault = 'none' | '503' | '429' | 'reset' | 'timeout' | 'commit_then_timeout';

const RATE_KEYS = ['error5xxRate', 'rateLimitRate', 'resetRate', 'timeoutRate', 'commitThenTimeoutRate', 'duplicateWebhookRate'] as const;
const KNOWN_KEYS: ReadonlySet<string> = new Set<string>([...RATE_KEYS, 'latencyMs', 'outOfOrderWebhooks']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates fault settings from JSON (control API, env); throws an Error naming the bad key. */
export function parseFaults(value: unknown): SimulatorFaults {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw new Error('faults must be a JSON object');
  for (const key of Object.keys(value)) if (!KNOWN_KEYS.has(key)) throw new Error(`unknown fault "${key}"`);
  const faults: SimulatorFaults = {};
  for (const key of RATE_KEYS) {
    const rate = value[key];
    if (rate === undefined) continue;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) throw new Error(`${key} must be a number in [0, 1]`);
    faults[key] = rate;
  }
  const latency = value.latencyMs;
  if (latency !== undefined) {
    if (!isRecord(latency) || !Number.isFinite(latency.min) || !Number.isFinite(latency.max)) throw new Error('latencyMs must be {min, max}');
    const min = latency.min as number;
    const max = latency.max as number;
    if (min < 0 || max < min) throw new Error('latencyMs needs 0 <= min <= max');
    faults.latencyMs = { min, max };
  }
  const outOfOrder = value.outOfOrderWebhooks;
  if (outOfOrder !== undefined) {
    if (typeof outOfOrder !== 'boolean') throw new Error('outOfOrderWebhooks must be a boolean');
    faults.outOfOrderWebhooks = outOfOrder;
  }
  return faults;
}

/**
 * Picks the fault for one request from a single draw, so a seed replays the same sequence: the rates
 * stack in the order 503, 429, reset, timeout, commit-then-timeout (their sum above 1 starves the last).
 */
export function pickRequestFault(faults: SimulatorFaults, draw: number): RequestFault {
  let edge = faults.error5xxRate ?? 0;
  if (draw < edge) return '503';
  edge += faults.rateLimitRate ?? 0;
  if (draw < edge) return '429';
  edge += faults.resetRate ?? 0;
  if (draw < edge) return 'reset';
  edge += faults.timeoutRate ?? 0;
  if (draw < edge) return 'timeout';
  edge += faults.commitThenTimeoutRate ?? 0;
  if (draw < edge) return 'commit_then_timeout';
  return 'none';
}

/** Whether any per-request fault is set (lets the hot path skip the draw). */
export function hasRequestFaults(faults: SimulatorFaults): boolean {
  return (
    (faults.error5xxRate ?? 0) > 0 ||
    (faults.rateLimitRate ?? 0) > 0 ||
    (faults.resetRate ?? 0) > 0 ||
    (faults.timeoutRate ?? 0) > 0 ||
    (faults.commitThenTimeoutRate ?? 0) > 0
  );
}

/** A latency in [min, max] ms from a draw in [0, 1); 0 without a latency fault. */
export function pickLatencyMs(faults: SimulatorFaults, draw: number): number {
  const latency = faults.latencyMs;
  if (!latency) return 0;
  return Math.round(latency.min + (latency.max - latency.min) * draw);
}
