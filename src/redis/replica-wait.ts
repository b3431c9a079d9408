import { hashSlot } from './hash-slot';
import { RedisClient, duplicateRedis, isCluster } from './redis-connection';

/**
 * A write of the caller's own to make before `WAIT` (`replicaAcknowledgedKeys`): `SET key 1 PX ttlMs`, in the
 * keys' slot. `WAIT` counts only what its own connection wrote, and confirmations run on a connection of their
 * own: the probe makes the wait cover the writes other connections (the ledger's, BullMQ's, another worker's)
 * made on that primary before it, since a primary replicates one ordered stream.
 */
export interface ReplicaProbe {
  key: string;
  /** How long the probe key lives, ms: it only has to exist long enough to be replicated. */
  ttlMs: number;
}

/** How long a probe key lives (`ReplicaProbe.ttlMs` of the ledger's, the event store's and the web's probes): 1 minute. */
export const REPLICA_PROBE_TTL_MS = 60_000;

/** What a confirmation found: whether every key is on its primary, and how many replicas acknowledged them. */
export interface ReplicaAcknowledgement {
  present: boolean;
  acks: number;
}

/**
 * Whether `keys` (all in `probe`'s hash slot) are on their primary and how many replicas acknowledged them:
 * the probe write, `EXISTS` of each key, then `WAIT replicas timeoutMs` (ms), pipelined to the keys' node on the
 * confirmation connection of `redis` ({@link ReplicaWaits}), never on `redis` itself: a `WAIT` blocks its
 * connection until the replicas answer or the timeout passes, and on `redis` every other command of the process
 * to that node would queue behind it. The probe write makes the count cover everything the primary held then,
 * whoever wrote it (a re-recording that changed nothing propagates nothing). `present: false`: some key is no
 * longer on the primary (one that had been cut off acknowledged it, then rejoined as a replica and dropped it).
 */
export function replicaAcknowledgedKeys(
  redis: RedisClient,
  keys: readonly string[],
  replicas: number,
  timeoutMs: number,
  probe: ReplicaProbe,
): Promise<ReplicaAcknowledgement> {
  return replicaWaitsOf(redis).acknowledged(keys, replicas, timeoutMs, probe);
}

interface Check {
  keys: readonly string[];
  probe: ReplicaProbe;
  resolve: (result: ReplicaAcknowledgement) => void;
  reject: (err: unknown) => void;
}

/** The checks of one node and wait: the batch on the wire, and those queued behind it. */
interface Group {
  replicas: number;
  timeoutMs: number;
  queued: Check[];
}

/**
 * The replica confirmations of one main connection, on a connection of their own (`duplicateRedis`: the same
 * server or cluster, reconnecting and following failovers as the main one does, errors logged under
 * `replica-wait`), opened at the first confirmation and closed when the main connection ends.
 *
 * Coalesced: while a `WAIT` is out on a node (the one server of a single Redis; on a cluster, the primary serving
 * the probe's slot in the connection's slot map), the checks that come for that node queue, and go next as one
 * pipeline: one probe write (the first check's), every check's `EXISTS`, one `WAIT`. A primary replicates one
 * ordered stream and a `WAIT` counts the replicas holding every write its connection sent before it, so the one
 * probe written after all their writes covers them all, whatever their slots. A check thus waits for at most the
 * batch ahead of it and its own, not for every `WAIT` queued before it on the connection, and each batch costs
 * the node one acknowledgement round from its replicas. Should the slot map change between a check's queuing
 * and its batch (a failover, a slot move), ioredis refuses a pipeline whose keys are no longer on one node: the
 * batch's checks fail as a Redis error, as any command then may, and their writes are made again.
 */
export class ReplicaWaits {
  private connection: RedisClient | null = null;
  private closed = false;
  /** Groups with a batch on the wire, by node (`host:port`, '' on a single Redis), replicas and timeout. */
  private readonly groups = new Map<string, Group>();

  constructor(private readonly main: RedisClient) {
    // Made at a process's first confirmation, which may come after its main connection ended (a shutdown): that
    // 'end' will not come again, and a connection opened now would never be closed, holding the process open.
    if (main.status === 'end') this.closed = true;
    else main.once('end', () => this.close());
  }

  /** See {@link replicaAcknowledgedKeys}. */
  acknowledged(keys: readonly string[], replicas: number, timeoutMs: number, probe: ReplicaProbe): Promise<ReplicaAcknowledgement> {
    return new Promise((resolve, reject) => {
      const check: Check = { keys, probe, resolve, reject };
      const id = `${this.nodeOf(probe.key, timeoutMs)}\n${replicas}\n${timeoutMs}`;
      const group = this.groups.get(id);
      if (group) {
        group.queued.push(check);
        return;
      }
      const fresh: Group = { replicas, timeoutMs, queued: [check] };
      this.groups.set(id, fresh);
      void this.send(id, fresh);
    });
  }

  /**
   * The node `key` is on: '' on a single Redis; on a cluster its slot's primary in the confirmation connection's
   * slot map, or the main connection's while that one is still being read, or the slot itself.
   */
  private nodeOf(key: string, timeoutMs: number): string {
    let connection: RedisClient;
    try {
      connection = this.open(timeoutMs);
    } catch {
      return ''; // closed: the check fails when its batch is sent
    }
    if (!isCluster(connection)) return '';
    const slot = hashSlot(key);
    return connection.slots[slot]?.[0] ?? (isCluster(this.main) ? this.main.slots[slot]?.[0] : undefined) ?? `slot ${slot}`;
  }

  /** Closes the confirmation connection (at once: a `WAIT` out is abandoned, its checks rejected). */
  close(): void {
    this.closed = true;
    this.connection?.disconnect();
    this.connection = null;
  }

  private open(timeoutMs: number): RedisClient {
    if (this.closed) throw new Error('replica confirmations closed: their Redis connection ended');
    // Its command timeout is the main one's plus a WAIT's: a WAIT is meant to block that long.
    this.connection ??= duplicateRedis(this.main, 'replica-wait', timeoutMs);
    return this.connection;
  }

  /** Sends the group's queued checks as one batch, then the ones queued meanwhile, until none is left. */
  private async send(id: string, group: Group): Promise<void> {
    while (group.queued.length > 0) {
      const batch = group.queued.splice(0);
      try {
        const replies = await this.exec(batch, group.replicas, group.timeoutMs);
        for (const [check, reply] of batch.map((c, i) => [c, replies[i]] as const)) {
          if (reply instanceof Error) check.reject(reply);
          else check.resolve(reply);
        }
      } catch (err) {
        for (const check of batch) check.reject(err);
      }
    }
    this.groups.delete(id);
  }

  /** One pipeline for `batch`: the first check's probe (all its keys on that probe's node), every EXISTS, the WAIT. */
  private async exec(batch: readonly Check[], replicas: number, timeoutMs: number): Promise<(ReplicaAcknowledgement | Error)[]> {
    const probe = batch[0].probe;
    const pipeline = this.open(timeoutMs).pipeline().set(probe.key, '1', 'PX', probe.ttlMs);
    for (const check of batch) for (const key of check.keys) pipeline.exists(key);
    const replies = (await pipeline.call('WAIT', replicas, timeoutMs).exec()) ?? [];
    const [probeError] = replies[0] ?? [new Error('no reply to the replica probe')];
    const [waitError, waited] = replies[replies.length - 1] ?? [new Error('no reply to WAIT')];
    if (probeError) throw probeError;
    if (waitError) throw waitError;
    const acks = Number(waited ?? 0);
    let at = 1;
    return batch.map((check) => {
      const exists = replies.slice(at, (at += check.keys.length));
      const failed = exists.find(([err]) => err)?.[0];
      return failed ?? { present: exists.length === check.keys.length && exists.every(([, found]) => Number(found) === 1), acks };
    });
  }
}

const waits = new WeakMap<RedisClient, ReplicaWaits>();

/** The confirmations of main connection `redis`: one {@link ReplicaWaits} (one connection) for each, made on first use. */
export function replicaWaitsOf(redis: RedisClient): ReplicaWaits {
  let found = waits.get(redis);
  if (!found) {
    found = new ReplicaWaits(redis);
    waits.set(redis, found);
  }
  return found;
}
