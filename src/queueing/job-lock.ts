/**
 * Lock settings of every BullMQ worker of ours. A worker renews its job locks every `lockDuration / 2`;
 * when a worker dies (SIGKILL, OOM, a lost host) its locks lapse and the stalled-job check of any live
 * worker puts the jobs back within about `lockDuration + stalledInterval` (≈ 4.5 s), instead of BullMQ's
 * default 30 s + 30 s. Stalling is never a reason to give up on a job (`maxStalledCount` unbounded): every
 * handler is safe to run again.
 */
export const JOB_LOCK = {
  /** ms a job lock lasts unless renewed. */
  lockDuration: 3000,
  /** ms between stalled-job checks. */
  stalledInterval: 1500,
  maxStalledCount: Number.MAX_SAFE_INTEGER,
} as const;
