import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { Payment } from '../contracts/payment-command';
import { counter } from '../metrics/metrics-registry';
import { RedisConfig } from '../redis/redis-config';
import type { Ledger } from './ledger';

/**
 * Which write waited for its replicas: a new operation's record, an outcome (its move and its event), or a
 * webhook's queued outcome jobs (before the PSP is answered 2xx).
 */
export type ReplicatedWrite = 'record' | 'outcome' | 'webhook';

/**
 * `pb_ledger_writes_unreplicated_total{write,outcome}`: ledger writes not confirmed by `redis.replica_acks`
 * replicas before they were acted on, `unacknowledged` (too few replicas in time) or `lost` (the record is no
 * longer on the primary); the write is then made again (the message held, the job retried, the webhook
 * answered 503 so the PSP sends it again).
 */
function unreplicatedWrites() {
  return counter(
    'pb_ledger_writes_unreplicated_total',
    'Ledger writes (record, outcome, webhook) not acknowledged by redis.replica_acks replicas before they were acted on (unacknowledged, lost); made again',
    ['write', 'outcome'] as const,
  );
}

/** Counts one write `redis.replica_acks` did not confirm: `lost` when it is no longer on its primary. */
export function countUnreplicated(write: ReplicatedWrite, present: boolean): void {
  unreplicatedWrites().inc({ write, outcome: present ? 'unacknowledged' : 'lost' });
}

/**
 * With `redis.replica_acks` (see `RedisConfig.replicaAcks`): resolves once operation `id`'s record is on its
 * primary and that many replicas acknowledged every write sent to that node before (`Ledger.replicaAcknowledged`).
 * Redis replicates asynchronously: a primary frozen or cut off while its replica took over acknowledges what its
 * clients sent meanwhile, then drops it on rejoining as a replica. Throws a dependency outage otherwise, so the
 * caller makes the write again (holds the message, retries the job) rather than act on a write that may vanish.
 * Without the setting: resolves at once.
 */
export async function confirmReplicated(ledger: Ledger, redis: RedisConfig, id: string, payment: Payment, write: ReplicatedWrite): Promise<void> {
  const wait = redis.replicaAcks;
  if (!wait) return;
  const { present, acks } = await ledger.replicaAcknowledged(id, payment, wait.replicas, wait.timeoutMs);
  if (present && acks >= wait.replicas) return;
  countUnreplicated(write, present);
  throw new DependencyUnavailableError(
    'redis',
    present
      ? `${write} of ${id} acknowledged by ${acks} of ${wait.replicas} replica(s) in ${wait.timeoutMs} ms`
      : `${write} of ${id}: the record is no longer on its primary`,
  );
}
