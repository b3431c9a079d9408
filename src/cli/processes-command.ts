import { Command } from 'commander';
import { OpsContext } from '../ops/ops-context';
import { RunningProcess, UNNAMED_RELEASE, UPGRADE_TOGETHER, describeRelease, runningProcesses, runningReleases } from '../fleet/running-processes';
import { releaseName } from '../fleet/release-identity';
import { FleetLockHolders, fleetLockHolders } from '../leases/fleet-locks';
import { formatDuration } from './duration';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';

/** What a process holds of the fleet-wide locks, as the end of its line: `  holds periodic pass lock`, or ''. */
function holds(holder: string, locks: FleetLockHolders): string {
  const held = [locks.periodic_pass === holder ? 'periodic pass lock' : null, locks.recovery_sweep === holder ? 'recovery sweep lock' : null];
  const names = held.filter((n): n is string => n !== null);
  return names.length > 0 ? `  holds ${names.join(', ')}` : '';
}

function line({ holder, presence }: RunningProcess, now: number, locks: FleetLockHolders): string {
  if (!presence) return `unknown  ${UNNAMED_RELEASE}  holder ${holder}${holds(holder, locks)}\n`;
  const started = `started ${new Date(presence.started_at).toISOString()} (${formatDuration(now - presence.started_at)} ago)`;
  return `${presence.role}  ${releaseName(presence)}  ${presence.host}:${presence.pid}  ${started}  holder ${holder}${holds(holder, locks)}\n`;
}

/**
 * `ops processes`: the live web, worker and poller processes (their heartbeats) with the release each runs, and
 * the releases among them, and which of them holds the periodic pass lock and the recovery sweep lock; audit-logged. More than one release outside a rolling deploy is a process left behind.
 */
export async function opsProcesses(ctx: OpsContext, io: OpsWriter, opts: { json?: boolean }, now = Date.now()): Promise<number> {
  const processes = await runningProcesses(ctx.redis, ctx.config.redis.keyPrefix, now);
  const releases = runningReleases(processes);
  const locks = await fleetLockHolders(ctx.redis, ctx.config.redis.keyPrefix);
  await ctx.audit.record({ action: 'ops.processes', actor: io.actor, outcome: 'ok', detail: { processes: processes.length, releases: releases.length } });
  if (opts.json) {
    io.out.write(`${JSON.stringify({ releases, processes, locks })}\n`);
    return 0;
  }
  if (processes.length === 0) {
    io.out.write('no running process has a heartbeat under this prefix\n');
    return 0;
  }
  const summary = releases.map(describeRelease).join('; ');
  io.out.write(`${releases.length === 1 ? '1 release' : `${releases.length} releases`} running: ${summary}\n`);
  if (releases.length > 1) io.out.write(`${UPGRADE_TOGETHER}: a process of another release is still running\n`);
  io.out.write(processes.map((p) => line(p, now, locks)).join(''));
  // A lock whose holder is not listed: a process of a release before the registry, or one whose heartbeat just lapsed.
  for (const [name, holder] of [
    ['periodic pass lock', locks.periodic_pass],
    ['recovery sweep lock', locks.recovery_sweep],
  ] as const) {
    if (holder !== null && !processes.some((p) => p.holder === holder)) io.out.write(`${name} held by ${holder}, no live process listed\n`);
  }
  return 0;
}

/** Adds `ops processes` to the `ops` command. */
export function addProcessesCommand(ops: Command, withContext: WithOpsContext): void {
  ops
    .command('processes')
    .description(
      'the running web, worker and poller processes, from their heartbeats, with the release each runs (more than one release: a process left behind by a deploy)',
    )
    .addOption(jsonOption())
    .action((opts: { json?: boolean }) => withContext((ctx, io) => opsProcesses(ctx, io, opts)));
}
