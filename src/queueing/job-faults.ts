import { Job } from 'bullmq';

/** Job data that counts the faults its job met (see {@link countJobFault}). */
export interface FaultCount {
  /** Faults this job has met so far; absent: none. */
  faults?: number;
}

/**
 * Counts one more fault of `job` and says whether it was the last one allowed (`tries` in all). Until then
 * the count is written to the job's data, so it survives the job's retries and a restart of its worker; the
 * caller rethrows for a retry. On the last one nothing is written: the caller ends the job (sets its item
 * aside). One mechanism for every queue whose items a deterministic fault must not retry for ever.
 */
export async function countJobFault<T extends FaultCount>(job: Job<T>, tries: number): Promise<{ faults: number; last: boolean }> {
  const faults = (job.data.faults ?? 0) + 1;
  if (faults >= tries) return { faults, last: true };
  await job.updateData({ ...job.data, faults });
  return { faults, last: false };
}
