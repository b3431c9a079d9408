import { holderHeartbeatKey, holderRegistryKey } from '../leases/lease-holder';
import { RedisClient } from '../redis/redis-connection';
import { ProcessPresence, decodePresence } from './process-presence';
import { releaseName } from './release-identity';

/** A live process, as its heartbeat shows it. */
export interface RunningProcess {
  /** Its holder id (`h-…`): new at every start. */
  holder: string;
  /** What it says of itself; null for a heartbeat that names nothing (`1`, a holder without a presence) or does not parse. */
  presence: ProcessPresence | null;
}

/** What an operator is told when the processes run more than one release. */
export const UPGRADE_TOGETHER = 'upgrade every web, worker and poller together';

/** The release of processes whose heartbeat carries no presence (`1`: written by a build without it). */
export const UNNAMED_RELEASE = 'earlier release (unnamed)';

/** One release among the running processes. */
export interface RunningRelease {
  /** `<version>+<revision>`, or {@link UNNAMED_RELEASE}. */
  release: string;
  processes: number;
  /** Its processes by role, e.g. `{ worker: 2, poller: 1 }`. */
  roles: Record<string, number>;
}

/** How long a holder stays in the registry after its last heartbeat, ms: long past any `leases.holder_ttl_ms`. */
const REGISTRY_KEEP_MS = 3_600_000;

/**
 * Every process whose heartbeat is live under `prefix` (web, worker and poller roles keep one while they run;
 * `leases.holder_ttl_ms` after a process dies its heartbeat is gone), found through the holder registry
 * (`holderRegistryKey`), which this prunes of holders not seen for an hour. A process of a release before the
 * registry is not listed. For operators and the poller's release check, not the hot path.
 */
export async function runningProcesses(redis: RedisClient, prefix: string, now = Date.now()): Promise<RunningProcess[]> {
  const registry = holderRegistryKey(prefix);
  await redis.zremrangebyscore(registry, '-inf', String(now - REGISTRY_KEEP_MS));
  const holders = await redis.zrange(registry, 0, -1);
  const values = await Promise.all(holders.map((holder) => redis.get(holderHeartbeatKey(prefix, holder))));
  const found: RunningProcess[] = [];
  // A holder whose heartbeat is gone died (or stopped) since it was last seen.
  holders.forEach((holder, i) => {
    const value = values[i];
    if (value !== null) found.push({ holder, presence: decodePresence(value) });
  });
  const order = (p: RunningProcess): string => `${p.presence?.role ?? '~'} ${p.presence?.host ?? ''} ${String(p.presence?.pid ?? 0).padStart(10, '0')}`;
  return found.sort((a, b) => order(a).localeCompare(order(b)));
}

/** The releases `processes` run, the one with most processes first. */
export function runningReleases(processes: readonly RunningProcess[]): RunningRelease[] {
  const byRelease = new Map<string, RunningRelease>();
  for (const { presence } of processes) {
    const release = presence ? releaseName(presence) : UNNAMED_RELEASE;
    const entry = byRelease.get(release) ?? { release, processes: 0, roles: {} };
    const role = presence?.role ?? 'unknown';
    entry.processes += 1;
    entry.roles[role] = (entry.roles[role] ?? 0) + 1;
    byRelease.set(release, entry);
  }
  return [...byRelease.values()].sort((a, b) => b.processes - a.processes || a.release.localeCompare(b.release));
}

/** A release as one line: `0.1.0+226a909f21a6 (worker 2, poller 1)`. */
export function describeRelease(release: RunningRelease): string {
  const roles = Object.entries(release.roles)
    .map(([role, n]) => `${role} ${n}`)
    .join(', ');
  return `${release.release} (${roles})`;
}
