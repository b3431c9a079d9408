import { LuaScript, luaInputs } from '../redis/lua-script';
import { RedisClient } from '../redis/redis-connection';
import { holderNamedBy } from './lease-holder';

/** The periodic pass's lock (one pass of inquiries and sweeps across the fleet at a time): src/processes/periodic-jobs.ts. */
export function passLockKey(prefix: string): string {
  return `${prefix}poller:lock`;
}

/** The recovery sweep's lock (one worker sweeps at a time): src/processes/worker-process.ts. */
export function sweepLockKey(prefix: string): string {
  return `${prefix}sweep:lock`;
}

/** Who holds each fleet-wide lock: the holder id its token names, null when free (or held by a token naming none). */
export interface FleetLockHolders {
  periodic_pass: string | null;
  recovery_sweep: string | null;
}

/** Reads the holders of the fleet-wide locks (each key alone: they live in any slot). For operators, not the hot path. */
export async function fleetLockHolders(redis: RedisClient, prefix: string): Promise<FleetLockHolders> {
  const [pass, sweep] = await Promise.all([redis.get(passLockKey(prefix)), redis.get(sweepLockKey(prefix))]);
  return { periodic_pass: holderNamedBy(pass), recovery_sweep: holderNamedBy(sweep) };
}

/**
 * Sets a fleet lock's lifetime to `lock_ms` (ms) only while it still holds `token`, in one step: a lock that expired,
 * was taken over or was lost in a failover is never extended by the process that had it. `lock_ms` '0': only asks.
 * Answers {1} still ours, else {0, what it holds now ('' for nothing)}. The periodic pass keeps its lock with it; the
 * recovery sweep shortens its own to one interval at its end.
 */
export const EXTEND_OWN_LOCK = new LuaScript(
  luaInputs(['lock'], ['token', 'lock_ms']),
  `
local now = redis.call('GET', K.lock)
if now ~= A.token then return {0, now or ''} end
if A.lock_ms ~= '0' then redis.call('PEXPIRE', K.lock, A.lock_ms) end
return {1}
`,
);
