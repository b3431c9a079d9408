import { hostname } from 'node:os';
import { gauge } from '../metrics/metrics-registry';
import { ReleaseIdentity, releaseIdentity } from './release-identity';

const buildInfo = gauge(
  'pb_build_info',
  'Always 1: the release this process runs (package version and source revision) and its role; count the distinct revisions to see a fleet on two releases',
  ['role', 'version', 'revision'],
);

/**
 * What a running process says of itself in its heartbeat (`LeaseHolder`, `<prefix>holder:<id>`, refreshed every
 * quarter of `leases.holder_ttl_ms`): which role, which release, where. The heartbeats of the live processes are
 * the fleet as Redis sees it (`runningProcesses`).
 */
export interface ProcessPresence extends ReleaseIdentity {
  role: string;
  pid: number;
  host: string;
  /** When the process started, epoch ms. */
  started_at: number;
}

/** This process's presence as `role`, with its release ({@link releaseIdentity}). */
export function presenceOf(role: string, startedAt = Date.now()): ProcessPresence {
  const { version, revision } = releaseIdentity();
  return { role, version, revision, pid: process.pid, host: hostname(), started_at: startedAt };
}

/**
 * Sets `pb_build_info{role,version,revision}` to 1 for this process and returns the fields its first log line
 * carries (`version`, `revision`, `node`).
 */
export function announceRelease(role: string): { version: string; revision: string; node: string } {
  const { version, revision } = releaseIdentity();
  buildInfo.set({ role, version, revision }, 1);
  return { version, revision, node: process.version };
}

/**
 * A heartbeat's value read back: the presence it carries, or null for one that carries none (a release before
 * presence wrote `1`) or that does not parse.
 */
export function decodePresence(value: string): ProcessPresence | null {
  if (!value.startsWith('{')) return null;
  try {
    const p = JSON.parse(value) as Partial<ProcessPresence>;
    const text = (v: unknown): v is string => typeof v === 'string' && v !== '';
    const int = (v: unknown): v is number => Number.isSafeInteger(v);
    if (!text(p.role) || !text(p.version) || !text(p.revision) || !int(p.pid) || !text(p.host) || !int(p.started_at)) return null;
    return { role: p.role, version: p.version, revision: p.revision, pid: p.pid, host: p.host, started_at: p.started_at };
  } catch {
    return null;
  }
}
