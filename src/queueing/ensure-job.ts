import { JobState, Queue } from 'bullmq';

/** What `ensureJob` found and did. */
export interface EnsureJobResult {
  /**
   * `live`: a waiting, active or delayed job already holds the id and was left to run; `promoted`: a
   * delayed one was made to run now; `revived`: none was live (gone, or finished: completed/failed), so
   * one was added again.
   */
  action: 'live' | 'promoted' | 'revived';
  /**
   * The state the job with that id was found in, `missing` when there was none, `unreadable` when its record
   * did not decode (it was replaced).
   */
  found: JobState | 'unknown' | 'missing' | 'unreadable';
}

/** States in which a job will still run its handler (or is running it) without anyone's help. */
const LIVE: ReadonlySet<string> = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Makes sure a job with id `jobId` will run: a live one is left alone (or, with `promote`, a delayed one
 * is made to run now); a finished one (its id would make a plain `add` a no-op: completed jobs are kept a
 * while to dedupe) is removed and added again; a missing one is added. Still one job id per item: never
 * two jobs of it at once. Rare path: it costs two or three Redis calls.
 *
 * A job whose record does not decode (data or options that are not JSON) is replaced too: a job only names
 * its item, whose own record (the ledger, the outbox) is the truth. Throws a dependency outage, and a fault
 * the replacement meets (a key of another type).
 */
export async function ensureJob<T>(
  queue: Queue<T>,
  name: string,
  data: T,
  jobId: string,
  opts: { promote?: boolean; delay?: number } = {},
): Promise<EnsureJobResult> {
  const add = () =>
    queue.add(name as Parameters<Queue<T>['add']>[0], data as Parameters<Queue<T>['add']>[1], { jobId, ...(opts.delay ? { delay: opts.delay } : {}) });
  const job = await queue.getJob(jobId).catch((err: unknown) => {
    if (err instanceof SyntaxError) return 'unreadable' as const;
    throw err;
  });
  if (job === 'unreadable') {
    await queue.remove(jobId);
    await add();
    return { action: 'revived', found: 'unreadable' };
  }
  let found: EnsureJobResult['found'] = 'missing';
  if (job) {
    found = await job.getState();
    if (found === 'delayed' && opts.promote) {
      await job.promote().catch(() => undefined); // it may have started meanwhile: then it runs anyway
      return { action: 'promoted', found };
    }
    if (LIVE.has(found)) return { action: 'live', found };
    // A locked (active again) job refuses removal; the add below is then a no-op on the live job.
    await job.remove().catch(() => undefined);
  }
  await add();
  return { action: 'revived', found };
}
