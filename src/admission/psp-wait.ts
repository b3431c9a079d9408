/**
 * The time this process's commands spend waiting on their PSP, summed per in-flight interval: the
 * in-flight controller subtracts it from the command time to see the worker's own share (CPU, Redis,
 * the bus call), which is what grows when commands queue in the worker rather than at the PSP.
 * Process-wide (one worker role per process); cheap enough for every gateway call.
 */
let sumMs = 0;
let calls = 0;

/** Notes one PSP call's duration, milliseconds (the delivery's send, answered or not). */
export function notePspWait(ms: number): void {
  sumMs += ms;
  calls += 1;
}

/** The mean PSP call time since the previous call, milliseconds (NaN when none finished), then starts over. */
export function takePspWaits(): { calls: number; meanMs: number } {
  const taken = { calls, meanMs: calls > 0 ? sumMs / calls : Number.NaN };
  sumMs = 0;
  calls = 0;
  return taken;
}
