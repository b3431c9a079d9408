/**
 * BullMQ key prefix of one queue, for a bridge key prefix: `pb:` and `gateway-delivery` →
 * `pb:{bull:gateway-delivery}`. BullMQ's Lua scripts touch several keys of a queue at once, so on a Redis
 * Cluster every key of a queue must hash to one slot: the braces make `bull:<queue>` the hash tag. Each queue
 * gets its own tag (not one for all), so the queues spread over the cluster's primaries. Keys still start with
 * the bridge's prefix, so a namespace's keys are found by `<prefix>*`. Every queue and worker of ours uses it.
 */
export function bullPrefix(keyPrefix: string, queueName: string): string {
  return `${keyPrefix}{bull:${queueName}}`;
}

/**
 * The replica probe of one queue (`ReplicaProbe`, with `redis.replica_acks`): a key in the queue's hash slot,
 * outside BullMQ's own (theirs are `<bullPrefix>:<queue>:…`), written before a `WAIT` that confirms its jobs.
 */
export function bullReplicaProbeKey(keyPrefix: string, queueName: string): string {
  return `${bullPrefix(keyPrefix, queueName)}:replica-probe`;
}
