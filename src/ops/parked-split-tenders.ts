import type { AuditLog } from '../audit/audit-log';
import type { Config } from '../config/config';
import type { RedisClient } from '../redis/redis-connection';
import { OpenMember, SplitTenderStore } from '../split-tender/split-tender-store';

/** A split tender (or one of its refunds) parked after its advance kept faulting, with its last fault. */
export interface ParkedSplitTender {
  split: string;
  /** The refund of the split that is parked; absent: the split itself. */
  refund?: string;
  faults: number;
  error_class: string | null;
  parked_at: string | null;
}

/**
 * The splits and split refunds parked after their advance kept faulting (left out of the sweep), at most
 * `limit`, with their last fault (`ops split-tenders-parked`, the console).
 */
export async function parkedSplitTenders(deps: { config: Config; redis: RedisClient }, limit: number): Promise<ParkedSplitTender[]> {
  const store = new SplitTenderStore(deps.redis, deps.config.redis.keyPrefix);
  const members = await store.parked(limit);
  return Promise.all(
    members.map(async (m) => {
      const f = await store.faultsOf(m);
      return {
        split: m.kind === 'split' ? m.id : m.splitId,
        ...(m.kind === 'refund' ? { refund: m.refundId } : {}),
        faults: f.faults,
        error_class: f.faultClass,
        parked_at: f.parkedAt === null ? null : new Date(f.parkedAt).toISOString(),
      };
    }),
  );
}

/**
 * Puts a parked split (or, with `refund`, its refund) back on the sweep once the fault is fixed, its faults
 * forgotten; audit-logged as `split_tender.resume` with `actor`. `not_open`: nothing of that name is open
 * (left alone). The `ops` CLI and the console resume through here.
 */
export async function resumeParkedSplitTender(
  deps: { config: Config; redis: RedisClient; audit: AuditLog },
  split: string,
  refund: string | undefined,
  actor: string,
): Promise<'resumed' | 'not_open'> {
  const member: OpenMember = refund ? { kind: 'refund', splitId: split, refundId: refund } : { kind: 'split', id: split };
  const resumed = await new SplitTenderStore(deps.redis, deps.config.redis.keyPrefix).resume(member);
  const result = resumed ? 'resumed' : 'not_open';
  await deps.audit.record({
    action: 'split_tender.resume',
    actor,
    outcome: resumed ? 'ok' : 'refused',
    target: split,
    detail: { result, ...(refund ? { refund } : {}) },
  });
  return result;
}
