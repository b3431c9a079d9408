import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { Payment } from '../contracts/payment-command';
import { counter, histogram } from '../metrics/metrics-registry';
import { RedisConfig } from '../redis/redis-config';
import type { Ledger } from './ledger';

/**
 * Which write waited for its replicas: a new operation's record, an outcome (its move and its event), a
 * webhook's queued outcome jobs (before the PSP is answered 2xx), an event recorded outside an outcome's move
 * (`OutcomeRecorder.emit`: a settled operation's event, with its record; adjustments, risk reviews… before they
 * are sent or queued), or a queued event the `oms-events` sender is about to send without that confirmation
 * behind it (`queued_event`: revived by the recovery sweep, resent by an operator), or an issued-token index entry
 * (`issued_token`, `ledger/issued-tokens.ts`) before the record gets its token.
 */
export type ReplicatedWrite = 'record' | 'outcome' | 'webhook' | 'event' | 'queued_event' | 'issued_token';

/**
 * `pb_ledger_writes_unreplicated_total{write,outcome}`: ledger writes not confirmed by `redis.replica_acks`
 * replicas before they were acted on, `unacknowledged` (too few replicas in time) or `lost` (the record is no
 * longer on the primary); the write is then made again (the message held, the job retried, the webhook
 * answered 503 so the PSP sends it again), or a queued event held unsent until its job's backed-off retry.
 */
function unreplicatedWrites() {
  return counter(
    'pb_ledger_writes_unreplicated_total',
    'Ledger writes (record, outcome, webhook, event, queued_event, issued_token) not acknowledged by redis.replica_acks replicas before they were acted on (unacknowledged, lost); made again or held',
    ['write', 'outcome'] as const,
  );
}

/**
 * `pb_redis_replica_wait_seconds{write}`: how long a write's confirmation took (`replicaShortfall`: the probe,
 * `EXISTS` and `WAIT` on the confirmation connection, with any batch of the same node ahead of it), confirmed or
 * not: well under a millisecond to a healthy replica on the same network; up to twice `redis.replica_ack_timeout_ms`
 * (its batch and the one ahead) when a replica lags or is gone.
 */
function replicaWaitSeconds() {
  return histogram(
    'pb_redis_replica_wait_seconds',
    'How long confirming a ledger write (record, outcome, webhook, event, queued_event, issued_token) on redis.replica_acks replicas took (probe, EXISTS, WAIT), confirmed or not',
    ['write'] as const,
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
}

/** A write `redis.replica_acks` did not confirm: whether it is still on its primary, and the acks against the ask. */
export interface ReplicaShortfall {
  present: boolean;
  acks: number;
  replicas: number;
  timeoutMs: number;
}

/**
 * With `redis.replica_acks` (see `RedisConfig.replicaAcks`): asks `check` (a probe write, an `EXISTS` and a `WAIT` on
 * the written keys' node, `replicaAcknowledgedKeys`) whether a write is on its primary and acknowledged by that many
 * replicas; its time observed in `pb_redis_replica_wait_seconds{write}`.
 * Redis replicates asynchronously: a primary frozen or cut off while its replica took over acknowledges what its
 * clients sent meanwhile, then drops it on rejoining as a replica.
 * @returns null when confirmed, or at once without the setting; else the shortfall, counted in
 *   `pb_ledger_writes_unreplicated_total`: the caller makes the write again rather than act on it.
 */
export async function replicaShortfall(
  redis: RedisConfig,
  write: ReplicatedWrite,
  check: (replicas: number, timeoutMs: number) => Promise<{ present: boolean; acks: number }>,
): Promise<ReplicaShortfall | null> {
  const wait = redis.replicaAcks;
  if (!wait) return null;
  const done = replicaWaitSeconds().startTimer({ write });
  const { present, acks } = await check(wait.replicas, wait.timeoutMs).finally(() => done());
  if (present && acks >= wait.replicas) return null;
  unreplicatedWrites().inc({ write, outcome: present ? 'unacknowledged' : 'lost' });
  return { present, acks, replicas: wait.replicas, timeoutMs: wait.timeoutMs };
}

/**
 * `replicaShortfall` for operation `id`'s record (`Ledger.replicaAcknowledged`), after it was created or moved:
 * resolves once it is confirmed (or at once without the setting); throws a dependency outage otherwise, so the
 * caller makes the write again (holds the message, retries the job).
 */
export async function confirmReplicated(ledger: Ledger, redis: RedisConfig, id: string, payment: Payment, write: ReplicatedWrite): Promise<void> {
  const short = await replicaShortfall(redis, write, (replicas, timeoutMs) => ledger.replicaAcknowledged(id, payment, replicas, timeoutMs));
  if (short) throw unreplicatedError(write, id, short);
}

/**
 * The dependency outage a shortfall is thrown as, so the caller makes the write again (the message held, the job
 * retried): `<write> of <what> acknowledged by <acks> of <replicas> replica(s) in <timeout> ms`, or `<write> of
 * <what>: the record is no longer on its primary`.
 */
export function unreplicatedError(write: ReplicatedWrite, what: string, short: ReplicaShortfall): DependencyUnavailableError {
  return new DependencyUnavailableError('redis', unreplicatedMessage(write, what, short));
}

/** The message of {@link unreplicatedError}, for an error class of its own (a held event's). */
export function unreplicatedMessage(write: ReplicatedWrite, what: string, short: ReplicaShortfall): string {
  return short.present
    ? `${write} of ${what} acknowledged by ${short.acks} of ${short.replicas} replica(s) in ${short.timeoutMs} ms`
    : `${write} of ${what}: the record is no longer on its primary`;
}
