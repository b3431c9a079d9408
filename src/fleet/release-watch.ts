import { Logger } from '../logging/logger';
import { gauge } from '../metrics/metrics-registry';
import { RedisClient } from '../redis/redis-connection';
import { RunningRelease, UPGRADE_TOGETHER, runningProcesses, runningReleases } from './running-processes';

const releasesRunning = gauge(
  'pb_releases_running',
  "Distinct releases among the live processes' heartbeats (web, worker, poller), as the poller last counted them: 1 when the fleet runs one release; more during a rolling deploy, and after one that left a process behind",
);

/**
 * The poller's look at the fleet, about once a minute: how many releases the live processes run (`pb_releases_running`).
 * A fleet on two releases is normal for the minutes of a rolling deploy, so it logs a warn line when a second
 * release appears and an info line when the fleet is back on one, not at every pass; the alert
 * `PaymentBridgeMixedReleases` waits 30 minutes. A worker of an earlier release creates operations without what
 * a later one added (id claims, split claims): upgrade every worker together.
 */
export class ReleaseWatch {
  private last = 1;

  constructor(private readonly deps: { redis: RedisClient; prefix: string; logger: Logger }) {}

  /** Counts the releases running now, sets the gauge and logs a change. A Redis failure is left to the caller. */
  async check(): Promise<RunningRelease[]> {
    const releases = runningReleases(await runningProcesses(this.deps.redis, this.deps.prefix));
    const count = releases.length;
    releasesRunning.set(count);
    if (count > 1 && this.last <= 1) {
      this.deps.logger.warn(`processes of more than one release are running: ${UPGRADE_TOGETHER}`, { releases });
    } else if (count === 1 && this.last > 1) {
      this.deps.logger.info('every running process is on one release again', { release: releases[0].release });
    }
    this.last = Math.max(count, 1);
    return releases;
  }
}
