import { RedisClient } from './redis-connection';

/**
 * A write of the caller's own to make before `WAIT` (`replicaAcknowledgedKeys`): `SET key 1 PX ttlMs`, in the
 * keys' slot. `WAIT` counts only what its own connection wrote; a probe makes it confirm writes other connections
 * (another worker, another client) made on that primary before it too, since a primary replicates one ordered stream.
 */
export interface ReplicaProbe {
  key: string;
  /** How long the probe key lives, ms: it only has to exist long enough to be replicated. */
  ttlMs: number;
}

/**
 * Whether `keys` (all in one hash slot) are on their primary and how many replicas acknowledged them: `EXISTS`
 * of each, then `WAIT replicas timeoutMs`, pipelined to the keys' node, where `WAIT` counts the replicas holding
 * every write this connection sent there before it. With a `probe` (a key of the same slot) that write is made
 * first, so the count covers everything the primary held then, whoever wrote it (a re-recording that changed
 * nothing propagates nothing, and would leave `WAIT` nothing to wait for). `present: false`: some key is no
 * longer on the primary (one that had been cut off acknowledged it, then rejoined as a replica and dropped it).
 * Blocks that node's connection up to `timeoutMs` when too few replicas answer.
 */
export async function replicaAcknowledgedKeys(
  redis: RedisClient,
  keys: readonly string[],
  replicas: number,
  timeoutMs: number,
  probe?: ReplicaProbe,
): Promise<{ present: boolean; acks: number }> {
  const pipeline = redis.pipeline();
  if (probe) pipeline.set(probe.key, '1', 'PX', probe.ttlMs);
  for (const key of keys) pipeline.exists(key);
  const replies = (await pipeline.call('WAIT', replicas, timeoutMs).exec()) ?? [];
  const values = replies.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
  const acks = Number(values.pop() ?? 0);
  const exists = (probe ? values.slice(1) : values).map(Number);
  return { present: exists.length === keys.length && exists.every((found) => found === 1), acks };
}
