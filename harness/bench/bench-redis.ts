import { Redis } from 'ioredis';
import { clusterNodes } from '../drills/redis-failover-drill';
import { ensureLocalRedisCluster, localRedisClusterNodes, localRedisClusterParameters } from '../twins/local-stack/local-redis';
import { pidListeningOn } from './process-cpu';

/**
 * Which Redis the bench's bridge processes run on: the single local Redis (`PB_BENCH_REDIS=single`, default),
 * or the local Redis Cluster of scripts/redis-cluster.sh (`cluster`) with `redis.replica_acks` =
 * `PB_BENCH_REPLICA_ACKS` (default 0, the configuration's default).
 */
export type BenchRedisChoice = { kind: 'single' } | { kind: 'cluster'; replicaAcks: number };

/**
 * The phases that read the single Redis themselves (INFO commandstats, MONITOR, the ledger's PSP times with one
 * connection): on the cluster they would measure a server the bridge does not use.
 */
const SINGLE_REDIS_PHASES = ['saturation', 'paced', 'redis', 'backlog'];

/**
 * `PB_BENCH_REDIS` and `PB_BENCH_REPLICA_ACKS` for the phases chosen; throws a message saying what to set when
 * they do not fit together (replica acks on the single Redis, which has no replica: every command would be held).
 */
export function benchRedisChoice(env: NodeJS.ProcessEnv, phases: readonly string[]): BenchRedisChoice {
  const kind = env.PB_BENCH_REDIS ?? 'single';
  if (kind !== 'single' && kind !== 'cluster') throw new Error(`PB_BENCH_REDIS: "${kind}" is neither single nor cluster`);
  const acksText = env.PB_BENCH_REPLICA_ACKS?.trim() ?? '';
  if (kind === 'single') {
    if (acksText !== '')
      throw new Error(
        'PB_BENCH_REPLICA_ACKS needs PB_BENCH_REDIS=cluster: the single Redis has no replica to acknowledge a write, so with redis.replica_acks every command would be held (docs/OPERATIONS.md, "Redis Cluster")',
      );
    // The local stack reads PB_REDIS_CLUSTER itself: the bridge would run on the cluster while the bench measured the single Redis.
    if (env.PB_REDIS_CLUSTER === '1')
      throw new Error('PB_REDIS_CLUSTER=1: the bench chooses its Redis with PB_BENCH_REDIS=cluster (and unset PB_REDIS_CLUSTER)');
    return { kind };
  }
  const replicaAcks = acksText === '' ? 0 : Number(acksText);
  if (!Number.isSafeInteger(replicaAcks) || replicaAcks < 0)
    throw new Error(`PB_BENCH_REPLICA_ACKS: "${acksText}" is not a whole number of replicas (0 or more)`);
  const single = phases.filter((p) => SINGLE_REDIS_PHASES.includes(p));
  if (single.length > 0)
    throw new Error(
      `PB_BENCH_REDIS=cluster runs the raw, psp and scaling phases only: ${single.join(', ')} read the single Redis themselves (INFO commandstats, MONITOR, the ledger's PSP times); set PB_BENCH_PHASES, e.g. psp`,
    );
  return { kind, replicaAcks };
}

/**
 * `parameters:` keys for a bench stack on the chosen Redis: none on the single Redis (the local stack's own), the
 * local cluster's nodes and `redis.replica_acks` on the cluster (the drills' helper, `localRedisClusterParameters`).
 */
export function benchRedisParameters(choice: BenchRedisChoice): Record<string, unknown> {
  return choice.kind === 'single' ? {} : localRedisClusterParameters({ replicaAcks: choice.replicaAcks });
}

/** What the run's header says of its Redis, and whose CPU it reports. */
export interface BenchRedisServers {
  /** One line for the header: single or cluster, its nodes, `redis.replica_acks`, the processes in the CPU column. */
  label: string;
  /** Every redis-server process the bridge uses (a cluster's six), for the Redis CPU column; empty when one was not found. */
  pids: number[];
  version: string;
}

const serverVersion = async (redis: Redis): Promise<string> => /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';

/**
 * The chosen Redis's processes and version. On the cluster: starts it only when no node answers (a running
 * cluster is left alone: a node another user's drill stopped is theirs to bring back), reads its nodes (CLUSTER
 * NODES: primaries and replicas, failing ones included, whose process is then not found and the Redis CPU not
 * reported) and refuses more replica acks than a primary has healthy replicas (every command would be held).
 * `single` is the bench's client of the single Redis.
 */
export async function benchRedisServers(choice: BenchRedisChoice, single: { client: Redis; url: string }): Promise<BenchRedisServers> {
  if (choice.kind === 'single') {
    const pid = pidListeningOn(Number(new URL(single.url).port || 6379));
    const address = new URL(single.url).host;
    return {
      label: `single Redis ${address} (redis.replica_acks 0; Redis CPU: its redis-server process${pid === null ? ', not found: not reported' : ''})`,
      pids: pid === null ? [] : [pid],
      version: await serverVersion(single.client),
    };
  }
  const seeds = localRedisClusterNodes();
  const nodes = await clusterNodes(seeds).catch(() => {
    ensureLocalRedisCluster({ ...process.env, PB_REDIS_CLUSTER: '1' });
    return clusterNodes(seeds);
  });
  const healthy = nodes.filter((n) => !n.failing);
  const primaries = healthy.filter((n) => n.primary && n.slots.length > 0);
  const fewestReplicas = Math.min(...primaries.map((p) => healthy.filter((n) => n.primaryId === p.id).length));
  if (choice.replicaAcks > fewestReplicas)
    throw new Error(
      `PB_BENCH_REPLICA_ACKS=${choice.replicaAcks}: a primary of the cluster has ${fewestReplicas} healthy replica(s); every command would be held`,
    );
  const pids = nodes.map((n) => pidListeningOn(Number(n.address.split(':').pop())));
  const found = pids.filter((p): p is number => p !== null);
  const probe = new Redis(`redis://${primaries[0]?.address ?? seeds[0]}`, { lazyConnect: true, maxRetriesPerRequest: 1 });
  probe.on('error', () => undefined);
  const version = await serverVersion(probe).finally(() => probe.disconnect());
  const addresses = nodes.map((n) => n.address).sort();
  const missing = nodes.length - found.length;
  return {
    label: `Redis Cluster ${addresses.join(', ')} (${primaries.length} primaries, ${healthy.length - primaries.length} replicas${healthy.length < nodes.length ? `, ${nodes.length - healthy.length} failing` : ''}), redis.replica_acks ${choice.replicaAcks}${choice.replicaAcks === 0 ? ' (the default)' : ''}; Redis CPU: the sum of its ${nodes.length} redis-server processes${missing > 0 ? `, ${missing} not found: not reported` : ''}; only the run's key prefix touched, deleted at the end`,
    pids: missing === 0 ? found : [],
    version,
  };
}
