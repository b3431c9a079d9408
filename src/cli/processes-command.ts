import { Command } from 'commander';
import { OpsContext } from '../ops/ops-context';
import { RunningProcess, UNNAMED_RELEASE, UPGRADE_TOGETHER, describeRelease, runningProcesses, runningReleases } from '../fleet/running-processes';
import { releaseName } from '../fleet/release-identity';
import { formatDuration } from './duration';
import { OpsWriter, WithOpsContext, jsonOption } from './ops-output';

function line({ holder, presence }: RunningProcess, now: number): string {
  if (!presence) return `unknown  ${UNNAMED_RELEASE}  holder ${holder}\n`;
  const started = `started ${new Date(presence.started_at).toISOString()} (${formatDuration(now - presence.started_at)} ago)`;
  return `${presence.role}  ${releaseName(presence)}  ${presence.host}:${presence.pid}  ${started}  holder ${holder}\n`;
}

/**
 * `ops processes`: the live web, worker and poller processes (their heartbeats) with the release each runs, and
 * the releases among them; audit-logged. More than one release outside a rolling deploy is a process left behind.
 */
export async function opsProcesses(ctx: OpsContext, io: OpsWriter, opts: { json?: boolean }, now = Date.now()): Promise<number> {
  const processes = await runningProcesses(ctx.redis, ctx.config.redis.keyPrefix, now);
  const releases = runningReleases(processes);
  await ctx.audit.record({ action: 'ops.processes', actor: io.actor, outcome: 'ok', detail: { processes: processes.length, releases: releases.length } });
  if (opts.json) {
    io.out.write(`${JSON.stringify({ releases, processes })}\n`);
    return 0;
  }
  if (processes.length === 0) {
    io.out.write('no running process has a heartbeat under this prefix\n');
    return 0;
  }
  const summary = releases.map(describeRelease).join('; ');
  io.out.write(`${releases.length === 1 ? '1 release' : `${releases.length} releases`} running: ${summary}\n`);
  if (releases.length > 1) io.out.write(`${UPGRADE_TOGETHER}: a process of another release is still running\n`);
  io.out.write(processes.map((p) => line(p, now)).join(''));
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
