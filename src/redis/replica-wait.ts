import { RedisClient } from './redis-connection';

/**
 * Whether `keys` (all in one hash slot) are on their primary and how many replicas acknowledged them: `EXISTS`
 * of each, then `WAIT replicas timeoutMs`, pipelined to the keys' node, where `WAIT` counts the replicas holding
 * every write this connection sent there before it. `present: false`: some key is no longer on the primary (one
 * that had been cut off acknowledged it, then rejoined as a replica and dropped it). Blocks that node's
 * connection up to `timeoutMs` when too few replicas answer.
 */
export async function replicaAcknowledgedKeys(
  redis: RedisClient,
  keys: readonly string[],
  replicas: number,
  timeoutMs: number,
): Promise<{ present: boolean; acks: number }> {
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.exists(key);
  const replies = (await pipeline.call('WAIT', replicas, timeoutMs).exec()) ?? [];
  const values = replies.map(([err, value]) => {
    if (err) throw err;
    return Number(value);
  });
  const acks = values.pop() ?? 0;
  return { present: values.length === keys.length && values.every((exists) => exists === 1), acks };
}
